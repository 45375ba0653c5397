/*
 * test_h2_session.c - an HTTP/2 session over a socketpair, driven by an nghttp2 client
 * in the test: concurrent streams of memory, file and generated bodies (steps that
 * make nothing included) arrive byte for byte through small windows; a generated body
 * that fails resets its stream only; requests without :path get 400; and freeing a
 * session with streams in flight logs them once, with no callback after.
 */
#include "h2_session.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <nghttp2/nghttp2.h>

#include "err.h"
#include "http_response.h"

#define REC_MAX   16384u
#define GEN_SIZE  100000u
#define FILE_LEN  200000u
#define N_STREAMS 3

/* Identity transport: what send.c's passthrough transports do, with a wire buffer. */
struct plain_t {
	struct transport base;
	struct kw_buf wire;
};

static int
plain_protect(struct transport *t, uint8_t *rec, size_t len)
{
	return 0;
}

static struct kw_buf *
plain_wire(struct transport *t)
{
	return &((struct plain_t *)t)->wire;
}

static const struct transport_ops plain_ops = {
    .name = "test-plain",
    .passthrough = true,
    .wire = plain_wire,
    .record_max = REC_MAX,
    .protect_in_place = plain_protect,
};

/* A generated body: GEN_SIZE bytes of a pattern, in steps, every other step empty. */
struct gen {
	size_t made;
	unsigned calls;
	bool fail;
};

static uint8_t
pattern(size_t i)
{
	return (uint8_t)(i * 31 + i / 977);
}

static int
gen_produce(void *ctx, uint8_t *buf, size_t cap, struct body_step *step)
{
	struct gen *g = ctx;
	if (g->fail && g->made > 0)
		return KW_ERR_INTERNAL;
	step->len = 0;
	if (g->calls++ % 2 == 0) {
		size_t n = GEN_SIZE - g->made < cap / 3 ? GEN_SIZE - g->made : cap / 3;
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(g->made + i);
		g->made += n;
		step->len = n;
	}
	step->end = g->made == GEN_SIZE;
	return 0;
}

static unsigned gen_disposed;

static void
gen_dispose(void *ctx)
{
	gen_disposed++;
	free(ctx);
}

static int file_fd = -1;
static unsigned responded, logged;
static int logged_status[16];

static void
host_respond(struct h2_host *h, const struct http_request *req, struct http_response *resp)
{
	responded++;
	if (strcmp(req->path, "/gen") == 0 || strcmp(req->path, "/genfail") == 0) {
		struct gen *g = calloc(1, sizeof(*g));
		g->fail = strcmp(req->path, "/genfail") == 0;
		struct body_producer p = {.produce = gen_produce, .dispose = gen_dispose, .ctx = g};
		cr_assert_eq(http_response_begin(resp, 200, 0), 0);
		http_response_stream(resp, req, &p);
		cr_assert_eq(http_response_end(resp, req), 0);
	} else if (strcmp(req->path, "/file") == 0) {
		cr_assert_eq(http_response_begin(resp, 200, 0), 0);
		cr_assert_eq(http_response_header_u64(resp, "Content-Length", FILE_LEN), 0);
		cr_assert_eq(http_response_end(resp, req), 0);
		resp->fd = dup(file_fd);
		resp->segments[0] =
		    (struct http_segment){.from_file = true, .off = 0, .len = FILE_LEN};
		resp->n_segments = 1;
	} else {
		http_error_response(404, req, 0, resp);
	}
}

static void
host_done(struct h2_host *h, const struct http_request *req, int status, uint64_t bytes)
{
	logged_status[logged++ % 16] = status;
}

static void
host_wake(struct h2_host *h)
{
}

static struct h2_host host = {.respond = host_respond, .done = host_done, .wake = host_wake};
static struct loop loop;
static struct kw_timer_queue q_settings;
static struct kw_config cfg;
static struct plain_t tp;
static uint8_t *sbuf;
static int sv[2];
static struct h2_session *srv;

/* What the client received, per stream. */
struct got {
	int status;
	struct kw_buf body;
	bool closed;
	uint32_t error;
};
static struct got got[64];

static ssize_t
client_send(nghttp2_session *ng, const uint8_t *data, size_t len, int flags, void *arg)
{
	ssize_t n = send(sv[1], data, len, MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return NGHTTP2_ERR_WOULDBLOCK;
	return n < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : n;
}

static int
client_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
              const uint8_t *value, size_t vlen, uint8_t flags, void *arg)
{
	if (nlen == 7 && memcmp(name, ":status", 7) == 0)
		got[f->hd.stream_id].status = atoi((const char *)value);
	cr_assert(nlen != 10 || memcmp(name, "connection", 10) != 0);
	return 0;
}

static int
client_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
            void *arg)
{
	cr_assert_eq(kw_buf_append(&got[id].body, data, len), 0);
	return 0;
}

static int
client_close(nghttp2_session *ng, int32_t id, uint32_t code, void *arg)
{
	got[id].closed = true;
	got[id].error = code;
	return 0;
}

static nghttp2_session *
client_new(int32_t window)
{
	nghttp2_session_callbacks *cb;
	nghttp2_session *c;
	cr_assert_eq(nghttp2_session_callbacks_new(&cb), 0);
	nghttp2_session_callbacks_set_send_callback(cb, client_send);
	nghttp2_session_callbacks_set_on_header_callback(cb, client_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, client_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, client_close);
	cr_assert_eq(nghttp2_session_client_new(&c, cb, NULL), 0);
	nghttp2_session_callbacks_del(cb);
	nghttp2_settings_entry s = {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, (uint32_t)window};
	cr_assert_eq(nghttp2_submit_settings(c, NGHTTP2_FLAG_NONE, &s, 1), 0);
	return c;
}

static int32_t
request(nghttp2_session *c, const char *path)
{
	const nghttp2_nv nv[] = {
	    {(uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0},
	    {(uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0},
	    {(uint8_t *)":authority", (uint8_t *)"t", 10, 1, 0},
	    {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), 0},
	};
	int32_t id = nghttp2_submit_request(c, NULL, nv, path[0] ? 4 : 3, NULL, NULL);
	cr_assert_gt(id, 0);
	return id;
}

/* Moves bytes both ways until every stream in ids is closed (bounded). */
static void
pump(nghttp2_session *c, const int32_t *ids, size_t n)
{
	uint8_t buf[65536];
	for (int turn = 0; turn < 20000; turn++) {
		cr_assert_eq(nghttp2_session_send(c), 0);
		ssize_t r = recv(sv[0], buf, sizeof(buf), MSG_DONTWAIT);
		if (r > 0)
			cr_assert_eq(h2_session_recv(srv, buf, (size_t)r), 0);
		struct sender s = {.fd = sv[0], .t = &tp.base, .buf = sbuf};
		if (kw_buf_size(&tp.wire) > 0)
			cr_assert_neq(send_wire(&s), SEND_ERROR);
		if (kw_buf_size(&tp.wire) == 0)
			cr_assert_neq(h2_session_send(srv, &s), SEND_ERROR);
		r = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT);
		if (r > 0)
			cr_assert_eq(nghttp2_session_mem_recv(c, buf, (size_t)r), r);
		size_t closed = 0;
		for (size_t i = 0; i < n; i++)
			closed += got[ids[i]].closed;
		if (closed == n)
			return;
	}
	cr_assert_fail("the streams did not complete");
}

static void
setup(void)
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	int sz = 8192;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	cr_assert_eq(loop_init(&loop), 0);
	loop_timer_queue(&loop, &q_settings, 10000);
	cfg.http2.max_concurrent_streams = 128;
	cfg.http2.max_header_list_size = 32768;
	cfg.http2.max_frame_size = 16384;
	cfg.http2.initial_window_size = 65535;
	cfg.http2.settings_timeout_ms = 10000;
	cfg.http2.max_resets = 200;
	cfg.http2.reset_interval_ms = 1000;
	cfg.http2.max_control_frames = 1000;
	cfg.http2.max_continuations = 8;
	tp = (struct plain_t){.base.ops = &plain_ops};
	sbuf = malloc(send_buffer_size(REC_MAX));
	char path[] = "/tmp/kw-h2-XXXXXX";
	file_fd = mkstemp(path);
	cr_assert_geq(file_fd, 0);
	unlink(path);
	for (size_t i = 0; i < FILE_LEN; i++)
		cr_assert_eq(write(file_fd, &(uint8_t){pattern(i * 3)}, 1), 1);
	srv = h2_session_new(&cfg, &loop, &q_settings, &host);
	cr_assert_not_null(srv);
	memset(got, 0, sizeof(got));
	responded = logged = gen_disposed = 0;
}

static void
teardown(void)
{
	h2_session_free(srv);
	for (size_t i = 0; i < sizeof(got) / sizeof(got[0]); i++)
		kw_buf_free(&got[i].body);
	kw_buf_free(&tp.wire);
	free(sbuf);
	close(file_fd);
	close(sv[0]);
	close(sv[1]);
	loop_dispose(&loop);
}

TestSuite(h2_session, .init = setup, .fini = teardown);

Test(h2_session, concurrent_bodies_through_small_windows)
{
	nghttp2_session *c = client_new(4096);
	int32_t ids[N_STREAMS * 3];
	for (int i = 0; i < N_STREAMS; i++) {
		ids[3 * i] = request(c, "/gen");
		ids[3 * i + 1] = request(c, "/file");
		ids[3 * i + 2] = request(c, "/missing");
	}
	pump(c, ids, N_STREAMS * 3);
	for (int i = 0; i < N_STREAMS * 3; i++) {
		struct got *g = &got[ids[i]];
		cr_assert_eq(g->error, 0, "stream %d", ids[i]);
		if (i % 3 == 0) {
			cr_assert_eq(g->status, 200);
			cr_assert_eq(kw_buf_size(&g->body), GEN_SIZE);
			for (size_t k = 0; k < GEN_SIZE; k++)
				cr_assert_eq(kw_buf_head(&g->body)[k], pattern(k), "byte %zu", k);
		} else if (i % 3 == 1) {
			cr_assert_eq(g->status, 200);
			cr_assert_eq(kw_buf_size(&g->body), FILE_LEN);
			for (size_t k = 0; k < FILE_LEN; k++)
				cr_assert_eq(kw_buf_head(&g->body)[k], pattern(k * 3), "byte %zu",
				             k);
		} else {
			cr_assert_eq(g->status, 404);
			cr_assert_not_null(memmem(kw_buf_head(&g->body), kw_buf_size(&g->body),
			                          "404 Not Found", 13));
		}
	}
	cr_assert_eq(responded, N_STREAMS * 3);
	cr_assert_eq(logged, N_STREAMS * 3);
	cr_assert_eq(gen_disposed, N_STREAMS);
	cr_assert_not(h2_session_busy(srv));
	nghttp2_session_del(c);
}

Test(h2_session, failing_generated_body_resets_its_stream_only)
{
	nghttp2_session *c = client_new(65535);
	int32_t ids[] = {request(c, "/genfail"), request(c, "/file")};
	pump(c, ids, 2);
	cr_assert_neq(got[ids[0]].error, 0);
	cr_assert_eq(got[ids[1]].error, 0);
	cr_assert_eq(kw_buf_size(&got[ids[1]].body), FILE_LEN);
	cr_assert_not(h2_session_finished(srv));
	nghttp2_session_del(c);
}

Test(h2_session, request_without_path_is_refused)
{
	nghttp2_session *c = client_new(65535);
	/* nghttp2 checks the pseudo-header fields itself: the stream is reset, not served */
	int32_t ids[] = {request(c, "")};
	pump(c, ids, 1);
	cr_assert_neq(got[ids[0]].error, 0);
	cr_assert_eq(responded, 0);
	nghttp2_session_del(c);
}

Test(h2_session, freed_with_streams_in_flight_logs_them_once)
{
	nghttp2_session *c = client_new(16);
	request(c, "/file");
	request(c, "/gen");
	uint8_t buf[65536];
	for (int i = 0; i < 50 && responded < 2; i++) {
		cr_assert_eq(nghttp2_session_send(c), 0);
		ssize_t r = recv(sv[0], buf, sizeof(buf), MSG_DONTWAIT);
		if (r > 0)
			cr_assert_eq(h2_session_recv(srv, buf, (size_t)r), 0);
	}
	cr_assert_eq(responded, 2);
	cr_assert(h2_session_busy(srv));
	h2_session_free(srv);
	srv = NULL;
	cr_assert_eq(logged, 2);
	cr_assert_eq(gen_disposed, 1);
	nghttp2_session_del(c);
}

/*
 * test_send.c - the sending engine over a socketpair: a whole response in one call,
 * partial writes into a tiny send buffer (WAIT, then DONE once drained, every byte in
 * order), EAGAIN with nothing taken, a peer gone (ERROR with the reason, nothing
 * closed), a file that shrank (both the inline read and sendfile paths), records laid
 * out and protected in place with what the socket refuses queued in the wire buffer,
 * a transport that fails to protect, and generated bodies: chunked and raw, on both
 * kinds of transport, byte for byte, with a slow reader holding at most one send
 * buffer, steps that make nothing, and a producer that fails.
 */
#include "send.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "err.h"
#include "http.h"

#define REC_PREFIX 3u
#define REC_SUFFIX 2u
#define REC_MAX    100u
#define GEN_MAX    1000u /* record_max of the transports a generated body is tested on */

/* A transport under test: identity (passthrough) or toy records "[len]payload]". */
struct fake_transport {
	struct transport base;
	struct kw_buf wire;
	int protect_err; /* returned by protect_in_place when set */
	unsigned protected;
};

static int
fake_protect(struct transport *t, uint8_t *rec, size_t len)
{
	struct fake_transport *f = (struct fake_transport *)t;
	if (f->protect_err)
		return f->protect_err;
	rec[0] = '[';
	rec[1] = (uint8_t)(len >> 8);
	rec[2] = (uint8_t)len;
	rec[REC_PREFIX + len] = ']';
	rec[REC_PREFIX + len + 1] = '\n';
	f->protected ++;
	return 0;
}

static struct kw_buf *
fake_wire(struct transport *t)
{
	return &((struct fake_transport *)t)->wire;
}

static const struct transport_ops passthrough_ops = {
    .name = "fake-plain",
    .passthrough = true,
    .wire = fake_wire,
    .record_max = REC_MAX,
    .protect_in_place = fake_protect,
};

static const struct transport_ops gen_passthrough_ops = {
    .name = "fake-plain-1000",
    .passthrough = true,
    .wire = fake_wire,
    .record_max = GEN_MAX,
    .protect_in_place = fake_protect,
};

static const struct transport_ops gen_records_ops = {
    .name = "fake-records-1000",
    .passthrough = false,
    .wire = fake_wire,
    .record_prefix = REC_PREFIX,
    .record_suffix = REC_SUFFIX,
    .record_max = GEN_MAX,
    .protect_in_place = fake_protect,
};

static const struct transport_ops records_ops = {
    .name = "fake-records",
    .passthrough = false,
    .wire = fake_wire,
    .record_prefix = REC_PREFIX,
    .record_suffix = REC_SUFFIX,
    .record_max = REC_MAX,
    .protect_in_place = fake_protect,
};

static int sv[2];
static struct fake_transport ft;
static uint8_t *sbuf;
static struct http_response resp;
static char file_path[64];

static void
setup(void)
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	memset(&ft, 0, sizeof(ft));
	sbuf = malloc(send_buffer_size(REC_PREFIX + GEN_MAX + REC_SUFFIX));
	cr_assert_not_null(sbuf);
	http_response_init(&resp);
	file_path[0] = '\0';
}

static void
teardown(void)
{
	http_response_dispose(&resp);
	kw_buf_free(&ft.wire);
	free(sbuf);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	if (file_path[0])
		unlink(file_path);
}

static void
small_sndbuf(void)
{
	int size = 4096; /* the kernel doubles it, and has a floor of its own */
	cr_assert_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)), 0);
}

/* The response: head "HEAD\r\n\r\n", then the given segments over mem and a file. */
static void
add_mem(const char *text)
{
	size_t off = kw_buf_size(&resp.mem);
	cr_assert_eq(kw_buf_append(&resp.mem, text, strlen(text)), 0);
	resp.segments[resp.n_segments++] =
	    (struct http_segment){.from_file = false, .off = off, .len = strlen(text)};
}

/* A file of len bytes, byte i being 'a' + i % 26; a segment of seg_len bytes of it. */
static void
add_file(size_t len, uint64_t seg_len)
{
	snprintf(file_path, sizeof(file_path), "/tmp/test_send.XXXXXX");
	int fd = mkstemp(file_path);
	cr_assert_geq(fd, 0);
	uint8_t *data = malloc(len ? len : 1);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)('a' + i % 26);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	free(data);
	resp.fd = fd;
	resp.segments[resp.n_segments++] =
	    (struct http_segment){.from_file = true, .off = 0, .len = seg_len};
}

static void
set_head(const char *head)
{
	cr_assert_eq(kw_buf_append(&resp.head, head, strlen(head)), 0);
}

static struct sender
sender(const struct transport_ops *ops)
{
	ft.base.ops = ops;
	return (struct sender){.fd = sv[0], .t = &ft.base, .buf = sbuf};
}

/* Reads what the peer has (non-blocking) and appends it to out. */
static void
drain(struct kw_buf *out)
{
	uint8_t buf[65536];
	ssize_t n;
	while ((n = recv(sv[1], buf, sizeof(buf), 0)) > 0)
		cr_assert_eq(kw_buf_append(out, buf, (size_t)n), 0);
	cr_assert(n < 0 && errno == EAGAIN);
}

/* What a passthrough transport sends for the response built: head then segment bytes. */
static void
expected_plain(struct kw_buf *out)
{
	kw_buf_append(out, kw_buf_head(&resp.head), kw_buf_size(&resp.head));
	for (size_t i = 0; i < resp.n_segments; i++) {
		const struct http_segment *s = &resp.segments[i];
		if (!s->from_file) {
			kw_buf_append(out, resp.mem.data + s->off, s->len);
			continue;
		}
		for (uint64_t k = 0; k < s->len; k++) {
			uint8_t c = (uint8_t)('a' + (s->off + k) % 26);
			kw_buf_append(out, &c, 1);
		}
	}
}

/* got holds exactly what expected() says the peer must receive; frees got. */
static void
assert_received(struct kw_buf *got, void (*expected)(struct kw_buf *out))
{
	struct kw_buf want = {0};
	expected(&want);
	cr_assert_eq(kw_buf_size(got), kw_buf_size(&want));
	cr_assert_arr_eq(kw_buf_head(got), kw_buf_head(&want), kw_buf_size(&want));
	kw_buf_free(got);
	kw_buf_free(&want);
}

/* Sends until DONE, draining the peer whenever the engine waits; returns the calls. */
static unsigned
send_all(struct sender *s, struct send_cursor *cur, struct kw_buf *got, unsigned *waits)
{
	unsigned calls = 0;
	*waits = 0;
	for (;;) {
		cr_assert_lt(calls, 100000u);
		calls++;
		enum send_status st = send_response(s, &resp, cur);
		cr_assert_neq(st, SEND_ERROR, "%s: %s", s->err.what ? s->err.what : "",
		              s->err.why ? s->err.why : "");
		if (st == SEND_DONE)
			break;
		(*waits)++;
		drain(got);
		if (!s->t->ops->passthrough)
			while (send_wire(s) == SEND_WAIT)
				drain(got);
	}
	drain(got);
	return calls;
}

TestSuite(send, .init = setup, .fini = teardown);

Test(send, plain_head_and_memory_leave_in_one_call)
{
	set_head("HTTP/1.1 200 OK\r\n\r\n");
	add_mem("hello, ");
	add_mem("world\n");
	struct sender s = sender(&passthrough_ops);
	struct send_cursor cur = {0};
	send_cursor_start(&cur, &resp);
	cr_assert_eq(send_response(&s, &resp, &cur), SEND_DONE);
	cr_assert_eq(s.sent, 19u + 13u);
	cr_assert_eq(cur.body_sent, 13u);
	struct kw_buf got = {0};
	drain(&got);
	assert_received(&got, expected_plain);
}

Test(send, empty_pieces_are_skipped_and_an_empty_response_is_done)
{
	struct send_cursor cur = {0};
	send_cursor_start(&cur, &resp);
	struct sender s = sender(&passthrough_ops);
	cr_assert_eq(send_response(&s, &resp, &cur), SEND_DONE);
	cr_assert_eq(s.sent, 0u);
}

Test(send, plain_small_file_is_read_inline_at_the_limit)
{
	set_head("H\r\n\r\n");
	add_file(REC_MAX, REC_MAX); /* exactly record_max: read and sent with the head */
	struct sender s = sender(&passthrough_ops);
	struct send_cursor cur = {0};
	send_cursor_start(&cur, &resp);
	cr_assert_eq(send_response(&s, &resp, &cur), SEND_DONE);
	cr_assert_eq(cur.body_sent, REC_MAX);
	struct kw_buf got = {0};
	drain(&got);
	assert_received(&got, expected_plain);
}

Test(send, plain_large_file_partial_writes_wait_then_finish_in_order)
{
	small_sndbuf();
	set_head("HTTP/1.1 200 OK\r\n\r\n");
	add_file(3 * 1024 * 1024 + 7, 3 * 1024 * 1024 + 7);
	add_mem("trailer");
	struct sender s = sender(&passthrough_ops);
	struct send_cursor cur = {0};
	send_cursor_start(&cur, &resp);
	struct kw_buf got = {0};
	unsigned waits;
	send_all(&s, &cur, &got, &waits);
	cr_assert_gt(waits, 0u, "a tiny send buffer must make the engine wait");
	assert_received(&got, expected_plain);
	cr_assert_eq(cur.body_sent, 3 * 1024 * 1024 + 7 + 7);
}

Test(send, a_full_socket_is_wait_with_nothing_taken)
{
	small_sndbuf();
	uint8_t fill[4096];
	memset(fill, 'x', sizeof(fill));
	while (send(sv[0], fill, sizeof(fill), MSG_DONTWAIT) > 0)
		;
	set_head("H\r\n\r\n");
	add_mem("body");
	struct sender s = sender(&passthrough_ops);
	struct send_cursor cur = {0};
	send_cursor_start(&cur, &resp);
	cr_assert_eq(send_response(&s, &resp, &cur), SEND_WAIT);
	cr_assert_eq(s.sent, 0u);
	cr_assert_eq(cur.piece, 0u);
	cr_assert_eq(cur.piece_off, 0u);
}

Test(send, a_peer_gone_is_an_error_and_the_socket_stays_open)
{
	close(sv[1]);
	sv[1] = -1;
	set_head("H\r\n\r\n");
	struct sender s = sender(&passthrough_ops);
	struct send_cursor cur = {0};
	send_cursor_start(&cur, &resp);
	cr_assert_eq(send_response(&s, &resp, &cur), SEND_ERROR);
	cr_assert_str_eq(s.err.what, "write");
	cr_assert_str_eq(s.err.why, strerror(EPIPE));
	cr_assert_eq(s.err.level, KW_LOG_INFO);
	cr_assert_eq(s.err.transport_err, 0);
	cr_assert_geq(fcntl(sv[0], F_GETFD), 0, "the engine never closes");
}

Test(send, a_small_file_that_shrank_is_a_read_error)
{
	set_head("H\r\n\r\n");
	add_file(10, 20);
	struct sender s = sender(&passthrough_ops);
	struct send_cursor cur = {0};
	send_cursor_start(&cur, &resp);
	cr_assert_eq(send_response(&s, &resp, &cur), SEND_ERROR);
	cr_assert_str_eq(s.err.what, "reading the file");
	cr_assert_str_eq(s.err.why, "it shrank while being sent");
	cr_assert_eq(s.err.level, KW_LOG_ERR);
}

Test(send, a_large_file_that_shrank_is_a_sendfile_error)
{
	set_head("H\r\n\r\n");
	add_file(REC_MAX, 2 * REC_MAX + 1); /* what is missing is past the inline limit */
	struct sender s = sender(&passthrough_ops);
	struct send_cursor cur = {0};
	send_cursor_start(&cur, &resp);
	enum send_status st;
	unsigned calls = 0;
	while ((st = send_response(&s, &resp, &cur)) == SEND_WAIT && calls++ < 10)
		;
	cr_assert_eq(st, SEND_ERROR);
	cr_assert_str_eq(s.err.what, "sendfile");
	cr_assert_str_eq(s.err.why, "the file shrank while being sent");
	cr_assert_eq(s.err.level, KW_LOG_ERR);
}

/* What the records transport sends: the response's bytes cut in REC_MAX records. */
static void
expected_records(struct kw_buf *out)
{
	struct kw_buf plain = {0};
	expected_plain(&plain);
	const uint8_t *p = kw_buf_head(&plain);
	size_t left = kw_buf_size(&plain);
	while (left > 0) {
		size_t n = left < REC_MAX ? left : REC_MAX;
		uint8_t hdr[3] = {'[', (uint8_t)(n >> 8), (uint8_t)n};
		kw_buf_append(out, hdr, 3);
		kw_buf_append(out, p, n);
		kw_buf_append(out, "]\n", 2);
		p += n;
		left -= n;
	}
	kw_buf_free(&plain);
}

Test(send, records_are_laid_out_protected_and_sent)
{
	set_head("HTTP/1.1 200 OK\r\n\r\n");
	add_mem("0123456789");
	add_file(250, 250);
	struct sender s = sender(&records_ops);
	struct send_cursor cur = {0};
	send_cursor_start(&cur, &resp);
	cr_assert_eq(send_response(&s, &resp, &cur), SEND_DONE);
	cr_assert_eq(ft.protected, 3u); /* 19 + 10 + 250 bytes in records of 100 */
	struct kw_buf got = {0};
	drain(&got);
	assert_received(&got, expected_records);
}

Test(send, records_the_socket_refuses_wait_in_the_wire_buffer)
{
	small_sndbuf();
	set_head("HTTP/1.1 200 OK\r\n\r\n");
	add_file(1024 * 1024, 1024 * 1024);
	struct sender s = sender(&records_ops);
	struct send_cursor cur = {0};
	send_cursor_start(&cur, &resp);
	cr_assert_eq(send_response(&s, &resp, &cur), SEND_WAIT);
	cr_assert_gt(kw_buf_size(&ft.wire), 0u, "the rest of the batch is queued");
	struct kw_buf got = {0};
	unsigned waits;
	send_all(&s, &cur, &got, &waits);
	cr_assert_eq(kw_buf_size(&ft.wire), 0u);
	assert_received(&got, expected_records);
}

Test(send, a_transport_that_cannot_protect_fails_the_call)
{
	set_head("H\r\n\r\n");
	ft.protect_err = KW_ERR_INTERNAL;
	struct sender s = sender(&records_ops);
	struct send_cursor cur = {0};
	send_cursor_start(&cur, &resp);
	cr_assert_eq(send_response(&s, &resp, &cur), SEND_ERROR);
	cr_assert_eq(s.err.transport_err, KW_ERR_INTERNAL);
	struct kw_buf got = {0};
	drain(&got);
	cr_assert_eq(kw_buf_size(&got), 0u, "nothing unprotected leaves");
}

Test(send, wire_bytes_flush_wait_and_fail)
{
	struct sender s = sender(&records_ops);
	cr_assert_eq(send_wire(&s), SEND_DONE, "nothing queued");
	kw_buf_append(&ft.wire, "abc", 3);
	cr_assert_eq(send_wire(&s), SEND_DONE);
	cr_assert_eq(s.sent, 3u);
	cr_assert_eq(kw_buf_size(&ft.wire), 0u);

	small_sndbuf();
	uint8_t big[1 << 20];
	memset(big, 'y', sizeof(big));
	kw_buf_append(&ft.wire, big, sizeof(big));
	cr_assert_eq(send_wire(&s), SEND_WAIT);
	cr_assert_gt(kw_buf_size(&ft.wire), 0u);
	cr_assert_lt(kw_buf_size(&ft.wire), sizeof(big));

	close(sv[1]);
	sv[1] = -1;
	cr_assert_eq(send_wire(&s), SEND_ERROR);
	cr_assert_str_eq(s.err.what, "write");
}

/* A generated body: total bytes 'A' + i % 26, at most step bytes per call; idle steps first. */
struct gen {
	uint64_t total, made;
	size_t step;
	unsigned idle;    /* steps that make nothing before the first byte */
	uint64_t fail_at; /* fail once made reaches this (0: never) */
	unsigned calls, disposed;
};

static struct gen gen;

static int
gen_produce(void *ctx, uint8_t *buf, size_t cap, struct body_step *st)
{
	struct gen *g = ctx;
	cr_assert_geq(cap, BODY_PRODUCER_MIN_CAP);
	cr_assert_lt(g->made, g->total + 1, "called after the end");
	g->calls++;
	if (g->fail_at != 0 && g->made >= g->fail_at)
		return KW_ERR_INTERNAL;
	if (g->idle > 0) {
		g->idle--;
		st->len = 0;
		st->end = false;
		return 0;
	}
	size_t n = g->step < cap ? g->step : cap;
	if (n > g->total - g->made)
		n = (size_t)(g->total - g->made);
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)('A' + (g->made + i) % 26);
	g->made += n;
	st->len = n;
	st->end = g->made == g->total;
	return 0;
}

static void
gen_dispose(void *ctx)
{
	((struct gen *)ctx)->disposed++;
}

static void
add_gen(uint64_t total, size_t step, bool chunked)
{
	gen = (struct gen){.total = total, .step = step};
	resp.producer = (struct body_producer){gen_produce, gen_dispose, &gen};
	resp.streamed = true;
	resp.chunked = chunked;
}

/* The generated body as a passthrough transport sends it: chunks of the steps the producer made. */
static void
expected_gen_plain(struct kw_buf *out)
{
	expected_plain(out);
	for (uint64_t off = 0; off < gen.total;) {
		size_t n = gen.total - off < gen.step ? (size_t)(gen.total - off) : gen.step;
		char line[16];
		if (resp.chunked)
			kw_buf_append(out, line,
			              (size_t)snprintf(line, sizeof(line), "%zx\r\n", n));
		for (size_t i = 0; i < n; i++) {
			uint8_t c = (uint8_t)('A' + (off + i) % 26);
			kw_buf_append(out, &c, 1);
		}
		if (resp.chunked)
			kw_buf_append(out, "\r\n", 2);
		off += n;
	}
	if (resp.chunked)
		kw_buf_append(out, "0\r\n\r\n", 5);
}

Test(send, a_generated_body_is_chunked_byte_for_byte_after_the_segments)
{
	set_head("HTTP/1.1 200 OK\r\n\r\n");
	add_mem("seg");
	add_gen(2500, 700, true);
	struct sender s = sender(&gen_passthrough_ops);
	struct send_cursor cur = {0};
	send_cursor_start(&cur, &resp);
	cr_assert_eq(send_response(&s, &resp, &cur), SEND_DONE);
	cr_assert_eq(cur.body_sent, 3u + 2500u, "body bytes without the framing");
	struct kw_buf got = {0};
	drain(&got);
	assert_received(&got, expected_gen_plain);
	cr_assert_eq(gen.calls, 4u);
	http_response_dispose(&resp);
	cr_assert_eq(gen.disposed, 1u);
}

Test(send, a_generated_body_that_ends_on_an_empty_step_gets_the_last_chunk)
{
	set_head("H\r\n\r\n");
	add_gen(0, 10, true);
	struct sender s = sender(&gen_passthrough_ops);
	struct send_cursor cur = {0};
	send_cursor_start(&cur, &resp);
	cr_assert_eq(send_response(&s, &resp, &cur), SEND_DONE);
	struct kw_buf got = {0};
	drain(&got);
	cr_assert_eq(kw_buf_size(&got), 10u);
	cr_assert_arr_eq(kw_buf_head(&got), "H\r\n\r\n0\r\n\r\n", 10);
	kw_buf_free(&got);
}

Test(send, a_raw_generated_body_is_sent_unframed)
{
	set_head("HTTP/1.0 200 OK\r\n\r\n");
	add_gen(5000, 999, false);
	struct sender s = sender(&gen_passthrough_ops);
	struct send_cursor cur = {0};
	send_cursor_start(&cur, &resp);
	cr_assert_eq(send_response(&s, &resp, &cur), SEND_DONE);
	struct kw_buf got = {0};
	drain(&got);
	assert_received(&got, expected_gen_plain);
}

/*
 * A slow reader: after every call the wire buffer holds at most one send buffer, and
 * the producer has made at most that much more than the reader took.
 */
static void
slow_reader(const struct transport_ops *ops, bool chunked, size_t step,
            void (*expected)(struct kw_buf *))
{
	small_sndbuf();
	set_head("HTTP/1.1 200 OK\r\n\r\n");
	add_gen(2 * 1024 * 1024 + 3, step, chunked);
	struct sender s = sender(ops);
	struct send_cursor cur = {0};
	send_cursor_start(&cur, &resp);
	struct kw_buf got = {0};
	const size_t bound = send_buffer_size(REC_PREFIX + GEN_MAX + REC_SUFFIX);
	unsigned waits = 0, calls = 0;
	enum send_status st;
	while ((st = send_response(&s, &resp, &cur)) == SEND_WAIT) {
		cr_assert_lt(calls++, 100000u);
		waits++;
		cr_assert_leq(kw_buf_size(&ft.wire), bound);
		cr_assert_leq(gen.made, kw_buf_size(&got) + bound + 1024 * 1024,
		              "production runs ahead of the reader");
		drain(&got);
	}
	cr_assert_eq(st, SEND_DONE);
	drain(&got);
	cr_assert_gt(waits, 0u);
	assert_received(&got, expected);
}

Test(send, a_slow_reader_of_a_chunked_body_holds_one_send_buffer_at_most)
{
	slow_reader(&gen_passthrough_ops, true, 800, expected_gen_plain);
}

/* The records transport's view of a raw generated body made in steps of GEN_MAX: one record each.
 */
static void
expected_gen_records(struct kw_buf *out)
{
	struct kw_buf head = {0};
	expected_plain(&head);
	struct kw_buf body = {0};
	struct kw_buf all = {0};
	expected_gen_plain(&all);
	kw_buf_append(&body, kw_buf_head(&all) + kw_buf_size(&head),
	              kw_buf_size(&all) - kw_buf_size(&head));
	const uint8_t *p = kw_buf_head(&head);
	size_t left = kw_buf_size(&head);
	while (left > 0) {
		size_t n = left < GEN_MAX ? left : GEN_MAX;
		uint8_t hdr[3] = {'[', (uint8_t)(n >> 8), (uint8_t)n};
		kw_buf_append(out, hdr, 3);
		kw_buf_append(out, p, n);
		kw_buf_append(out, "]\n", 2);
		p += n;
		left -= n;
	}
	p = kw_buf_head(&body);
	left = kw_buf_size(&body);
	while (left > 0) {
		size_t n = left < GEN_MAX ? left : GEN_MAX;
		uint8_t hdr[3] = {'[', (uint8_t)(n >> 8), (uint8_t)n};
		kw_buf_append(out, hdr, 3);
		kw_buf_append(out, p, n);
		kw_buf_append(out, "]\n", 2);
		p += n;
		left -= n;
	}
	kw_buf_free(&head);
	kw_buf_free(&body);
	kw_buf_free(&all);
}

Test(send, a_slow_reader_of_a_protected_raw_body_holds_one_send_buffer_at_most)
{
	slow_reader(&gen_records_ops, false, GEN_MAX, expected_gen_records);
}

Test(send, a_call_makes_one_send_buffer_of_steps_then_yields)
{
	set_head("H\r\n\r\n");
	add_gen(10, 10, true);
	gen.idle = 1000;
	struct sender s = sender(&gen_passthrough_ops);
	struct send_cursor cur = {0};
	send_cursor_start(&cur, &resp);
	cr_assert_eq(send_response(&s, &resp, &cur), SEND_WAIT, "the call yields");
	cr_assert_eq(gen.calls, SEND_RECORDS);
	unsigned calls = 1;
	while (send_response(&s, &resp, &cur) == SEND_WAIT)
		cr_assert_lt(calls++, 1000u);
	struct kw_buf got = {0};
	drain(&got);
	assert_received(&got, expected_gen_plain);
}

Test(send, a_producer_that_fails_fails_the_call)
{
	set_head("H\r\n\r\n");
	add_gen(5000, 100, true);
	gen.fail_at = 300;
	struct sender s = sender(&gen_records_ops);
	struct send_cursor cur = {0};
	send_cursor_start(&cur, &resp);
	cr_assert_eq(send_response(&s, &resp, &cur), SEND_ERROR);
	cr_assert_str_eq(s.err.what, "making the body");
	cr_assert_eq(s.err.level, KW_LOG_ERR);
	http_response_dispose(&resp);
	cr_assert_eq(gen.disposed, 1u);
}

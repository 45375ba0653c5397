/*
 * test_conn.c - the connection state machine fed by a fake transport over a
 * socketpair, on the loop core: requests answered in order with keep-alive and
 * pipelining, Connection: close and a refused head (an answer, then close, lingering
 * while the peer may still send), the keep-alive and header timeouts (408), a
 * handshake that parks (no socket event watched) until its transport wakes the
 * connection, a transport that fails while parked or on input, a handshake timeout,
 * the end of input mid-request, and the set's hooks and idle bookkeeping (oldest idle
 * closed to make room, a handshake waiting for its signature never evicted, shutdown).
 */
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "err.h"
#include "proc.h"
#include "transport.h"

#define WAIT_MS 5000 /* bound on any wait for something that must happen */

/* The fake transport: plaintext is the wire once "established"; before, input is a
 * handshake that parks until the test wakes the connection. */
struct fake {
	struct transport base;
	struct transport_host *host;
	struct kw_buf in, out;
	bool established;
	bool parked;
	int error;       /* what error() reports */
	int feed_err;    /* what feed() returns */
	size_t fed;      /* bytes fed */
	unsigned shrunk; /* shrink() calls */
};

static struct fake *last; /* the transport of the last connection accepted */
static size_t fed_total;  /* bytes fed to every transport, freed or not */
static bool start_established;
static unsigned destroyed;

static struct fake *
fake(const struct transport *t)
{
	return (struct fake *)(void *)t;
}

static int
fake_feed(struct transport *t, const uint8_t *wire, size_t len)
{
	struct fake *f = fake(t);
	f->fed += len;
	fed_total += len;
	if (f->feed_err)
		return f->feed_err;
	if (!f->established) {
		f->parked = true; /* a ClientHello: the answer needs a signature */
		return 0;
	}
	return kw_buf_append(&f->in, wire, len);
}

static struct kw_buf *
fake_wire(struct transport *t)
{
	return &fake(t)->out;
}

static struct kw_buf *
fake_plaintext(struct transport *t)
{
	return &fake(t)->in;
}

static bool
fake_input_pending(const struct transport *t)
{
	return kw_buf_size(&fake(t)->in) > 0;
}

static int
fake_protect(struct transport *t, uint8_t *rec, size_t len)
{
	return 0;
}

static bool
fake_established(const struct transport *t)
{
	return fake(t)->established;
}

static bool
fake_parked(const struct transport *t)
{
	return fake(t)->parked;
}

static void
fake_shrink(struct transport *t)
{
	fake(t)->shrunk++;
}

static int
fake_error(const struct transport *t, const char **detail)
{
	*detail = NULL;
	return fake(t)->error;
}

static void
fake_destroy(struct transport *t)
{
	struct fake *f = fake(t);
	kw_buf_free(&f->in);
	kw_buf_free(&f->out);
	if (f == last)
		last = NULL;
	free(f);
	destroyed++;
}

static const struct transport_ops fake_ops = {
    .name = "fake",
    .passthrough = true,
    .feed = fake_feed,
    .wire = fake_wire,
    .plaintext = fake_plaintext,
    .input_pending = fake_input_pending,
    .record_max = 16384,
    .protect_in_place = fake_protect,
    .established = fake_established,
    .parked = fake_parked,
    .shrink = fake_shrink,
    .error = fake_error,
    .destroy = fake_destroy,
};

static struct transport *
fake_open(void *state, struct transport_host *host)
{
	struct fake *f = calloc(1, sizeof(*f));
	cr_assert_not_null(f);
	f->base.ops = &fake_ops;
	f->host = host;
	f->established = start_established;
	last = f;
	return &f->base;
}

static const struct transport_class fake_class = {
    .name = "fake",
    .open = fake_open,
    .record_size = 16384,
};

static unsigned n_closed, n_idle;

static void
hook_closed(struct conns *cs)
{
	n_closed++;
}

static void
hook_idle(struct conns *cs)
{
	n_idle++;
}

static void
hook_short_of_descriptors(struct conns *cs, int err)
{
	cr_assert_fail("no descriptor shortage expected (%d)", err);
}

static const struct conn_hooks hooks = {
    .closed = hook_closed, .idle = hook_idle, .short_of_descriptors = hook_short_of_descriptors};

static struct loop loop;
static struct kw_config cfg;
static struct kw_location loc;
static size_t srv_listeners[1];
static struct kw_server srv;
static struct kw_listener lc;
static struct listener l;
static struct mime_table *mime;
static struct access_logs al;
static struct conns cs;
static char root[64];
static char file[96];

static void
setup(void)
{
	last = NULL;
	fed_total = 0;
	start_established = true;
	destroyed = n_closed = n_idle = 0;
	snprintf(root, sizeof(root), "/tmp/test_conn.XXXXXX");
	cr_assert_not_null(mkdtemp(root));
	snprintf(file, sizeof(file), "%s/hello.txt", root);
	FILE *fp = fopen(file, "w");
	cr_assert_not_null(fp);
	fputs("hello\n", fp);
	fclose(fp);

	memset(&cfg, 0, sizeof(cfg));
	loc = (struct kw_location){.prefix = "/", .root = root, .follow_symlinks = true};
	srv = (struct kw_server){.listeners = srv_listeners,
	                         .n_listeners = 1,
	                         .is_default = true,
	                         .locations = &loc,
	                         .n_locations = 1};
	lc = (struct kw_listener){.address = "127.0.0.1", .tls = KW_TLS_NONE};
	cfg.servers = &srv;
	cfg.n_servers = 1;
	cfg.listeners = &lc;
	cfg.n_listeners = 1;
	cfg.http.handshake_timeout_ms = 10000;
	cfg.http.client_header_timeout_ms = 10000;
	cfg.http.client_body_timeout_ms = 10000;
	cfg.http.send_timeout_ms = 10000;
	cfg.http.keepalive_timeout_ms = 10000;
	cfg.http.max_request_line = 8192;
	cfg.http.max_header_size = 16384;
	cfg.http.max_header_count = 100;
	cfg.http.max_body_size = 1 << 20;
	l = (struct listener){.cfg = &lc, .index = 0, .server = &srv, .transport = &fake_class};
	char err[256];
	cr_assert_eq(mime_table_load(NULL, &mime, err, sizeof(err)), 0);
	cr_assert_eq(access_logs_init(&al, &cfg, NULL), 0);
	cr_assert_eq(loop_init(&loop), 0);
}

static void
teardown(void)
{
	conns_dispose(&cs, "test over");
	loop_dispose(&loop);
	access_logs_dispose(&al);
	mime_table_free(mime);
	unlink(file);
	rmdir(root);
}

TestSuite(conn, .init = setup, .fini = teardown);

static void
init_conns(void)
{
	cr_assert_eq(conns_init(&cs, &loop, &cfg, mime, &al, &hooks, fake_class.record_size), 0);
}

/* A connection from a socketpair; returns the client's end (non-blocking). */
static int
connect_one(void)
{
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	struct sockaddr_storage peer = {.ss_family = AF_UNIX};
	cr_assert_eq(conn_accept(&cs, &l, sv[0], (struct sockaddr *)&peer, sizeof(sa_family_t)), 0);
	return sv[1];
}

static void
client_send(int fd, const char *text)
{
	cr_assert_eq(send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
}

/* Occurrences of needle in b. */
static unsigned
count(const struct kw_buf *b, const char *needle)
{
	unsigned n = 0;
	if (kw_buf_size(b) == 0)
		return 0;
	const uint8_t *p = kw_buf_head(b), *end = p + kw_buf_size(b);
	while ((p = memmem(p, (size_t)(end - p), needle, strlen(needle))) != NULL) {
		n++;
		p++;
	}
	return n;
}

/* Runs the loop until the client has received want (or EOF when want is NULL). */
static void
client_expect(int fd, struct kw_buf *got, const char *want)
{
	unsigned long long end = kw_now_ms() + WAIT_MS;
	for (;;) {
		uint8_t buf[4096];
		ssize_t n;
		while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
			kw_buf_append(got, buf, (size_t)n);
		const int err = n < 0 ? errno : 0;
		if (want == NULL && n == 0)
			return;
		if (want != NULL && count(got, want) > 0)
			return;
		cr_assert(n < 0 && err == EAGAIN, "unexpected %s", n == 0 ? "EOF" : "error");
		cr_assert_lt(kw_now_ms(), end, "waiting for %s", want ? want : "EOF");
		cr_assert_eq(loop_turn(&loop, 20), 0);
	}
}

/* Runs the loop until cond holds (bounded). */
#define TURN_UNTIL(cond)                                                                           \
	do {                                                                                       \
		unsigned long long end_ = kw_now_ms() + WAIT_MS;                                   \
		while (!(cond) && kw_now_ms() < end_)                                              \
			cr_assert_eq(loop_turn(&loop, 20), 0);                                     \
		cr_assert(cond);                                                                   \
	} while (0)

#define GET "GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n"

Test(conn, keep_alive_answers_pipelined_requests_in_order_then_idles)
{
	init_conns();
	int fd = connect_one();
	struct kw_buf got = {0};
	client_send(fd, GET);
	client_expect(fd, &got, "hello\n");
	cr_assert(count(&got, "HTTP/1.1 200") > 0);
	TURN_UNTIL(n_idle == 1);
	cr_assert(conns_can_evict(&cs));
	cr_assert_eq(cs.n_open, 1u);

	kw_buf_reset(&got);
	client_send(fd, GET "GET /missing HTTP/1.1\r\nHost: a\r\n\r\n" GET);
	client_expect(fd, &got, "HTTP/1.1 404");
	client_expect(fd, &got, "hello\nHTTP/1.1 404");
	TURN_UNTIL(count(&got, "hello\n") == 2);
	const char *first404 = memmem(kw_buf_head(&got), kw_buf_size(&got), "404", 3);
	const char *first200 = memmem(kw_buf_head(&got), kw_buf_size(&got), "200", 3);
	cr_assert_lt(first200, first404, "answers leave in request order");
	cr_assert_eq(n_closed, 0u);
	kw_buf_free(&got);
	close(fd);
	TURN_UNTIL(n_closed == 1);
	cr_assert_eq(cs.n_open, 0u);
	cr_assert_eq(destroyed, 1u);
}

Test(conn, connection_close_answers_then_closes)
{
	init_conns();
	int fd = connect_one();
	struct kw_buf got = {0};
	client_send(fd, "GET /hello.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
	client_expect(fd, &got, NULL);
	cr_assert(count(&got, "hello\n") > 0);
	cr_assert_eq(n_closed, 1u);
	cr_assert_eq(n_idle, 0u);
	kw_buf_free(&got);
	close(fd);
}

Test(conn, a_refused_head_is_answered_then_closed)
{
	init_conns();
	int fd = connect_one();
	struct kw_buf got = {0};
	client_send(fd, "BROKEN\r\n\r\n");
	client_expect(fd, &got, NULL);
	cr_assert(count(&got, "HTTP/1.1 400") > 0);
	cr_assert_eq(n_closed, 0u, "input was left unread: lingering until the peer's EOF");
	shutdown(fd, SHUT_WR);
	TURN_UNTIL(n_closed == 1);
	kw_buf_free(&got);
	close(fd);
}

Test(conn, keep_alive_timeout_closes_an_idle_connection)
{
	cfg.http.keepalive_timeout_ms = 30;
	init_conns();
	int fd = connect_one();
	struct kw_buf got = {0};
	client_send(fd, GET);
	client_expect(fd, &got, "hello\n");
	client_expect(fd, &got, NULL);
	cr_assert_eq(n_idle, 1u);
	cr_assert_eq(n_closed, 1u);
	kw_buf_free(&got);
	close(fd);
}

Test(conn, an_incomplete_head_times_out_with_408)
{
	cfg.http.client_header_timeout_ms = 30;
	init_conns();
	int fd = connect_one();
	struct kw_buf got = {0};
	client_send(fd, "GET /hello.txt HTTP/1.1\r\n");
	client_expect(fd, &got, NULL);
	cr_assert(count(&got, "HTTP/1.1 408") > 0);
	kw_buf_free(&got);
	close(fd);
}

Test(conn, end_of_input_mid_request_closes)
{
	init_conns();
	int fd = connect_one();
	client_send(fd, "GET /hello.txt HTTP/1.1\r\n");
	shutdown(fd, SHUT_WR);
	TURN_UNTIL(n_closed == 1);
	close(fd);
}

Test(conn, a_parked_handshake_reads_nothing_until_woken)
{
	start_established = false;
	init_conns();
	int fd = connect_one();
	struct fake *f = last;
	client_send(fd, "HELLO");
	TURN_UNTIL(f->parked);
	size_t fed = f->fed;
	client_send(fd, GET); /* arrives while parked */
	for (int i = 0; i < 5; i++)
		cr_assert_eq(loop_turn(&loop, 10), 0);
	cr_assert_eq(f->fed, fed, "a parked connection watches no socket event");

	f->parked = false; /* the signer answered: the handshake completes */
	f->established = true;
	kw_buf_append(&f->out, "WELCOME", 7);
	f->host->wake(f->host);
	struct kw_buf got = {0};
	client_expect(fd, &got, "WELCOME");
	client_expect(fd, &got, "hello\n");
	cr_assert_eq(n_closed, 0u);
	kw_buf_free(&got);
	close(fd);
}

Test(conn, a_handshake_lets_go_of_its_buffers_once_its_flight_is_out_never_while_parked)
{
	start_established = false;
	init_conns();
	int fd = connect_one();
	struct fake *f = last;
	client_send(fd, "HELLO");
	TURN_UNTIL(f->parked);
	unsigned shrunk = f->shrunk;
	for (int i = 0; i < 3; i++)
		cr_assert_eq(loop_turn(&loop, 10), 0);
	f->host->wake(f->host);
	cr_assert_eq(f->shrunk, shrunk, "a parked handshake is left alone");

	f->parked = false; /* signed: the flight goes out, then the client's turn */
	kw_buf_append(&f->out, "FLIGHT", 6);
	f->host->wake(f->host);
	struct kw_buf got = {0};
	client_expect(fd, &got, "FLIGHT");
	cr_assert_gt(f->shrunk, shrunk, "what the flight took is let go once it is out");
	cr_assert_eq(n_closed, 0u);
	kw_buf_free(&got);
	close(fd);
}

Test(conn, a_transport_that_fails_while_parked_closes_when_it_wakes)
{
	start_established = false;
	init_conns();
	int fd = connect_one();
	struct fake *f = last;
	client_send(fd, "HELLO");
	TURN_UNTIL(f->parked);
	f->error = KW_ERR_SIGN_TIMEOUT;
	f->host->wake(f->host);
	cr_assert_eq(n_closed, 1u, "closed from inside the wake-up");
	cr_assert_eq(destroyed, 1u);
	struct kw_buf got = {0};
	client_expect(fd, &got, NULL);
	cr_assert_eq(kw_buf_size(&got), 0u);
	kw_buf_free(&got);
	close(fd);
}

/* Whether the server's end of the client's fd is closed (EOF, nothing unread). */
static bool
server_closed(int fd)
{
	char b;
	return recv(fd, &b, 1, MSG_PEEK) == 0;
}

Test(conn, a_handshake_waiting_for_its_signature_is_not_evicted_and_is_the_newest_after)
{
	start_established = false;
	init_conns();
	int parked = connect_one();
	struct fake *f = last;
	client_send(parked, "HELLO");
	TURN_UNTIL(f->parked);
	int silent = connect_one();
	cr_assert(conns_evict(&cs));
	cr_assert(server_closed(silent), "the silent one goes, though it came later");
	cr_assert_not(server_closed(parked));
	cr_assert_not(conns_can_evict(&cs), "none to evict while the one left waits on the signer");

	int later = connect_one();
	unsigned idle = n_idle;
	f->parked = false; /* signed: the flight goes out, then the client's turn */
	kw_buf_append(&f->out, "FLIGHT", 6);
	f->host->wake(f->host);
	cr_assert_eq(n_idle, idle + 1, "the owner hears there is one to evict again");
	struct kw_buf got = {0};
	client_expect(parked, &got, "FLIGHT");
	cr_assert(conns_evict(&cs));
	cr_assert(server_closed(later), "the one that came while it waited is the older now");
	cr_assert(conns_evict(&cs));
	client_expect(parked, &got, NULL);
	cr_assert_eq(cs.n_open, 0u);
	kw_buf_free(&got);
	close(parked);
	close(silent);
	close(later);
}

Test(conn, a_feed_error_closes)
{
	init_conns();
	int fd = connect_one();
	last->feed_err = KW_ERR_UNEXPECTED_MESSAGE;
	client_send(fd, "x");
	TURN_UNTIL(n_closed == 1);
	close(fd);
}

Test(conn, a_handshake_that_does_not_finish_times_out)
{
	start_established = false;
	cfg.http.handshake_timeout_ms = 30;
	init_conns();
	int fd = connect_one();
	TURN_UNTIL(n_closed == 1);
	close(fd);
}

Test(conn, oldest_idle_closes_first_and_shutdown_closes_the_idle)
{
	init_conns();
	int a = connect_one(), b = connect_one(), busy = connect_one();
	struct kw_buf got = {0};
	client_send(a, GET);
	client_expect(a, &got, "hello\n");
	client_send(b, GET);
	client_expect(b, &got, "hello\nHTTP");
	TURN_UNTIL(n_idle == 2);
	client_send(busy, "GET /hello.txt HTTP/1.1\r\n"); /* a head under way: not idle */
	TURN_UNTIL(cs.n_open == 3 && last->fed > 0);

	cr_assert(conns_evict(&cs));
	kw_buf_reset(&got);
	client_expect(a, &got, NULL); /* a went idle first */
	cr_assert_eq(cs.n_open, 2u);

	conns_shutdown(&cs);
	kw_buf_reset(&got);
	client_expect(b, &got, NULL);
	cr_assert_eq(cs.n_open, 1u, "the busy connection stays until its answer");
	cr_assert(conns_can_evict(&cs), "a connection in its first head may be evicted");
	client_send(busy, "Host: a\r\n\r\n");
	kw_buf_reset(&got);
	client_expect(busy, &got, NULL);
	cr_assert(count(&got, "Connection: close") > 0, "no keep-alive while shutting down");
	cr_assert_eq(cs.n_open, 0u);
	kw_buf_free(&got);
	close(a);
	close(b);
	close(busy);
}

#define PROXY_V1 "PROXY TCP4 192.0.2.44 10.0.0.1 5000 80\r\n"

Test(conn, a_proxy_header_comes_first_and_its_followers_reach_the_transport)
{
	lc.proxy_protocol = true;
	init_conns();
	int fd = connect_one();
	struct kw_buf got = {0};
	client_send(fd, PROXY_V1 GET);
	client_expect(fd, &got, "hello\n");
	cr_assert(count(&got, "HTTP/1.1 200") > 0);
	cr_assert_eq(last->fed, strlen(GET));
	kw_buf_free(&got);
	close(fd);
}

Test(conn, a_proxy_header_in_pieces_reaches_no_transport)
{
	lc.proxy_protocol = true;
	init_conns();
	int fd = connect_one();
	struct kw_buf got = {0};
	client_send(fd, "PROXY TCP4 192.0.2.44 ");
	for (int i = 0; i < 3; i++)
		cr_assert_eq(loop_turn(&loop, 10), 0);
	cr_assert_eq(fed_total, 0);
	cr_assert_eq(n_closed, 0);
	client_send(fd, "10.0.0.1 5000 80\r\n" GET);
	client_expect(fd, &got, "hello\n");
	cr_assert_eq(last->fed, strlen(GET));
	kw_buf_free(&got);
	close(fd);
}

Test(conn, a_missing_proxy_header_closes_without_an_answer)
{
	lc.proxy_protocol = true;
	init_conns();
	int fd = connect_one();
	struct kw_buf got = {0};
	client_send(fd, GET);
	client_expect(fd, &got, NULL);
	cr_assert_eq(kw_buf_size(&got), 0);
	cr_assert_eq(fed_total, 0);
	cr_assert_eq(n_closed, 1);
	close(fd);
}

Test(conn, a_proxy_header_that_does_not_come_times_out)
{
	lc.proxy_protocol = true;
	cfg.http.handshake_timeout_ms = 30;
	init_conns();
	int fd = connect_one();
	client_send(fd, "PROXY TCP4 ");
	TURN_UNTIL(n_closed == 1);
	cr_assert_eq(fed_total, 0);
	close(fd);
}

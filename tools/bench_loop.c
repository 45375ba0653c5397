#include "bench_loop.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "bench_http.h"
#include "buf.h"
#include "err.h"

#define RECV_BUF_SIZE  (256u * 1024u)
#define TLS_FEED_SLICE (32u * 1024u) /* bounds each connection's plaintext buffer */
#define MAX_EVENTS     256
#define TICK_MS        50

enum phase {
	PH_CLOSED,  /* waiting in the reopen queue */
	PH_BACKOFF, /* connect failed: reopened at the next tick */
	PH_DONE,    /* finished for good */
	PH_CONNECTING,
	PH_HANDSHAKE,
	PH_SENDING,
	PH_READING,
	PH_IDLE, /* hold: established, no request */
};

struct conn {
	int fd;
	enum phase phase;
	bool claimed;       /* holds one unit of the run's request budget */
	bool up;            /* hold, paced: counted in run->established */
	uint64_t next_slot; /* paced: the number of this connection's next request */
	struct tt_conn *tls;
	struct tls13_client *tls13;
	size_t sent;
	uint64_t start_us;
	uint64_t deadline_us;
	struct bench_resp resp;
};

struct loop {
	struct bench_run *run;
	const struct bench_target *t;
	struct bench_stats *stats;
	int ep;
	struct conn *conns;
	size_t n_conns;
	size_t live; /* not PH_DONE */
	size_t *reopen;
	size_t n_reopen;
	uint8_t *rbuf;
	struct tt_client_params tls; /* the target's, with this thread's reused contexts */
	struct tt_kex kex;
	struct tt_leaf_cache leaf_cache;
	SSL_SESSION *session; /* --resume: the last TLS 1.3 session this thread can resume */
	uint64_t t0;          /* paced: run->start_us once known; 0 before */
	double slot_us;       /* paced: time between two of this thread's requests */
	uint64_t cursor;      /* paced: the thread's next request slot (slot_time()) */
};

static const char *const err_names[BENCH_ERR_KINDS] = {
    "connect", "handshake", "read", "write", "status", "length", "timeout",
};

const char *
bench_err_name(enum bench_err_kind kind)
{
	return err_names[kind];
}

uint64_t
bench_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static bool
run_over(const struct loop *l, uint64_t now)
{
	return atomic_load_explicit(&l->run->stop, memory_order_relaxed) ||
	       now >= atomic_load_explicit(&l->run->end_us, memory_order_relaxed);
}

static bool
budget_spent(const struct loop *l)
{
	const struct bench_run *r = l->run;
	return r->max_requests != 0 &&
	       atomic_load_explicit(&r->claimed, memory_order_relaxed) >= r->max_requests;
}

/* Takes one unit of the request budget; false when the run is over. */
static bool
claim(struct loop *l, uint64_t now)
{
	if (run_over(l, now))
		return false;
	if (l->run->max_requests == 0)
		return true;
	return atomic_fetch_add(&l->run->claimed, 1) < l->run->max_requests;
}

static void
conn_close(struct loop *l, struct conn *c, enum phase next)
{
	if (c->up)
		atomic_fetch_sub(&l->run->established, 1);
	c->up = false;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	tt_conn_free(c->tls);
	c->tls = NULL;
	if (c->tls13 != NULL && l->t->resume) {
		SSL_SESSION *sess = tls13_client_session(c->tls13);
		if (sess != NULL) {
			SSL_SESSION_free(l->session);
			l->session = sess;
		}
	}
	tls13_client_free(c->tls13);
	c->tls13 = NULL;
	c->phase = next;
	if (next == PH_DONE)
		l->live--;
	else if (next == PH_CLOSED)
		l->reopen[l->n_reopen++] = (size_t)(c - l->conns);
}

static void __attribute__((format(printf, 4, 5)))
conn_fail(struct loop *l, struct conn *c, enum bench_err_kind kind, const char *fmt, ...)
{
	struct bench_stats *s = l->stats;
	if (s->errors[kind]++ == 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(s->first_error[kind], sizeof(s->first_error[kind]), fmt, ap);
		va_end(ap);
	}
	if (!c->claimed && l->run->max_requests != 0)
		atomic_fetch_add(&l->run->claimed, 1);
	c->claimed = false;
	conn_close(l, c, kind == BENCH_ERR_CONNECT ? PH_BACKOFF : PH_CLOSED);
}

static enum bench_err_kind
transport_err_kind(const struct conn *c)
{
	return c->phase == PH_HANDSHAKE ? BENCH_ERR_HANDSHAKE : BENCH_ERR_READ;
}

/* Sends what is pending; -1 when the connection failed. */
static int
conn_flush(struct loop *l, struct conn *c)
{
	struct kw_buf *wire = c->tls     ? tt_conn_wire(c->tls)
	                      : c->tls13 ? tls13_client_wire(c->tls13)
	                                 : NULL;
	for (;;) {
		const uint8_t *p;
		size_t n;
		if (wire != NULL) {
			p = kw_buf_head(wire);
			n = kw_buf_size(wire);
		} else if (c->phase == PH_SENDING) {
			p = l->t->request + c->sent;
			n = l->t->request_len - c->sent;
		} else {
			n = 0;
		}
		if (n == 0)
			break;
		ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EAGAIN)
				return 0;
			if (errno == EINTR)
				continue;
			conn_fail(l, c,
			          c->phase == PH_HANDSHAKE ? BENCH_ERR_HANDSHAKE : BENCH_ERR_WRITE,
			          "send: %s", strerror(errno));
			return -1;
		}
		if (wire != NULL)
			kw_buf_consume(wire, (size_t)k);
		else
			c->sent += (size_t)k;
	}
	if (c->phase == PH_SENDING)
		c->phase = PH_READING;
	return 0;
}

/* Sends the request; its latency runs from since (now, or the intended time when paced). */
static int
start_request(struct loop *l, struct conn *c, uint64_t now, uint64_t since)
{
	if (!c->claimed) {
		if (!claim(l, now)) {
			conn_close(l, c, PH_DONE);
			return -1;
		}
		c->claimed = true;
	}
	if (!l->t->new_connection)
		c->start_us = since;
	c->deadline_us = now + l->t->timeout_us;
	bench_resp_reset(&c->resp);
	c->phase = PH_SENDING;
	c->sent = 0;
	if (c->tls != NULL) {
		int rc = tt_conn_protect(c->tls, l->t->request, l->t->request_len);
		if (rc < 0) {
			conn_fail(l, c, BENCH_ERR_WRITE, "toy-TLS protect: %s", kw_strerror(rc));
			return -1;
		}
	}
	if (c->tls13 != NULL &&
	    tls13_client_protect(c->tls13, l->t->request, l->t->request_len) < 0) {
		conn_fail(l, c, BENCH_ERR_WRITE, "%s", tls13_client_error(c->tls13));
		return -1;
	}
	return conn_flush(l, c);
}

/* When paced request slot seq of this thread is due: its slot_us apart from t0. */
static uint64_t
slot_time(const struct loop *l, uint64_t seq)
{
	return l->t0 + (uint64_t)((double)seq * l->slot_us);
}

/* The slot of c's next paced request. */
static uint64_t
conn_slot(const struct loop *l, const struct conn *c)
{
	return c->next_slot * l->n_conns + (uint64_t)(c - l->conns);
}

/* Paced: sends c's next request if its time has come, with latency from that time. */
static int
send_if_due(struct loop *l, struct conn *c, uint64_t now)
{
	if (l->t0 == 0 || c->phase != PH_IDLE)
		return 0;
	uint64_t due = slot_time(l, conn_slot(l, c));
	if (due > now)
		return 0;
	c->next_slot++;
	return start_request(l, c, now, due);
}

/*
 * The transport is ready for HTTP: send the first request, or idle in a hold, or
 * until the paced requests reach this connection. An idle connection still sends
 * what its handshake left to send (TLS 1.3: the client's Finished), without which
 * the server's handshake never ends.
 */
static int
on_ready(struct loop *l, struct conn *c, uint64_t now)
{
	if (!l->t->hold && l->t->rate == 0)
		return start_request(l, c, now, now);
	c->phase = PH_IDLE;
	c->up = true;
	atomic_fetch_add(&l->run->established, 1);
	if (conn_flush(l, c) < 0)
		return -1;
	return send_if_due(l, c, now);
}

static int
on_connected(struct loop *l, struct conn *c, uint64_t now)
{
	l->stats->connections++;
	if (l->t->tls13 != NULL) {
		struct tls13_client_params p = {.ctx = l->t->tls13,
		                                .dns_name = l->t->tls.dns_name,
		                                .send_server_name = l->t->tls.send_server_name,
		                                .session = l->t->resume ? l->session : NULL};
		c->tls13 = tls13_client_new(&p);
		if (c->tls13 == NULL) {
			conn_fail(l, c, BENCH_ERR_HANDSHAKE, "cannot start a TLS 1.3 client");
			return -1;
		}
		c->phase = PH_HANDSHAKE;
		return conn_flush(l, c);
	}
	if (!l->t->toytls)
		return on_ready(l, c, now);
	c->tls = tt_conn_new_client(&l->tls);
	if (c->tls == NULL) {
		conn_fail(l, c, BENCH_ERR_HANDSHAKE, "cannot start a toy-TLS client");
		return -1;
	}
	c->phase = PH_HANDSHAKE;
	return conn_flush(l, c);
}

static void
conn_open(struct loop *l, struct conn *c)
{
	uint64_t now = bench_now_us();
	if (l->t->new_connection && !l->t->hold) {
		if (!claim(l, now)) {
			conn_close(l, c, PH_DONE);
			return;
		}
		c->claimed = true;
	} else if (run_over(l, now) || budget_spent(l)) {
		conn_close(l, c, PH_DONE);
		return;
	}
	c->start_us = now;
	c->deadline_us = now + l->t->timeout_us;
	c->phase = PH_CONNECTING;
	c->fd = socket(l->t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		conn_fail(l, c, BENCH_ERR_CONNECT, "socket: %s", strerror(errno));
		return;
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct epoll_event ev = {
	    .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
	    .data.ptr = c,
	};
	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		conn_fail(l, c, BENCH_ERR_CONNECT, "epoll_ctl: %s", strerror(errno));
		return;
	}
	if (connect(c->fd, (const struct sockaddr *)&l->t->addr, l->t->addr_len) == 0)
		on_connected(l, c, now);
	else if (errno != EINPROGRESS)
		conn_fail(l, c, BENCH_ERR_CONNECT, "connect: %s", strerror(errno));
}

static int
on_response(struct loop *l, struct conn *c)
{
	uint64_t now = bench_now_us();
	struct bench_stats *s = l->stats;
	const struct bench_resp *r = &c->resp;
	bench_hist_record(&s->latency, now - c->start_us);
	s->responses++;
	s->body_bytes += r->body_len;
	c->claimed = false;
	if (r->status != l->t->expect_status && s->errors[BENCH_ERR_STATUS]++ == 0)
		snprintf(s->first_error[BENCH_ERR_STATUS], sizeof(s->first_error[0]),
		         "status %d, expected %d", r->status, l->t->expect_status);
	int_fast64_t want = -1;
	if (!atomic_compare_exchange_strong(&l->run->expect_length, &want,
	                                    (int_fast64_t)r->body_len) &&
	    (uint64_t)want != r->body_len && s->errors[BENCH_ERR_LENGTH]++ == 0)
		snprintf(s->first_error[BENCH_ERR_LENGTH], sizeof(s->first_error[0]),
		         "body of %llu bytes, expected %lld", (unsigned long long)r->body_len,
		         (long long)want);
	if (r->close || l->t->new_connection) {
		conn_close(l, c, PH_CLOSED);
		return -1;
	}
	if (l->t->rate > 0) {
		c->phase = PH_IDLE;
		return send_if_due(l, c, now);
	}
	return start_request(l, c, now, now);
}

/* HTTP bytes of the response; -1 when the connection is gone. */
static int
on_http(struct loop *l, struct conn *c, const uint8_t *p, size_t n)
{
	if (c->phase != PH_READING && c->phase != PH_SENDING) {
		conn_fail(l, c, BENCH_ERR_READ, "%zu bytes while no request was pending", n);
		return -1;
	}
	size_t used;
	int rc = bench_resp_feed(&c->resp, p, n, &used);
	if (rc < 0) {
		if (rc == BENCH_RESP_UNFRAMED)
			conn_fail(l, c, BENCH_ERR_LENGTH,
			          "response without Content-Length framing");
		else
			conn_fail(l, c, BENCH_ERR_READ, "bad response head");
		return -1;
	}
	if (rc == 0)
		return 0;
	if (used < n) {
		conn_fail(l, c, BENCH_ERR_READ, "%zu bytes after the response", n - used);
		return -1;
	}
	return on_response(l, c);
}

/* Feeds k bytes to the connection's TLS; 0, or -1 with the failure counted. */
static int
tls_feed(struct loop *l, struct conn *c, const uint8_t *p, size_t k)
{
	if (c->tls13 != NULL) {
		if (tls13_client_feed(c->tls13, p, k) == 0)
			return 0;
		conn_fail(l, c, transport_err_kind(c), "%s", tls13_client_error(c->tls13));
		return -1;
	}
	int rc = tt_conn_feed(c->tls, p, k);
	if (rc == 0)
		return 0;
	const char *detail = tt_conn_error_detail(c->tls);
	conn_fail(l, c, transport_err_kind(c), "toy-TLS: %s%s%s", kw_strerror(rc),
	          detail ? ": " : "", detail ? detail : "");
	return -1;
}

static bool
tls_established(const struct conn *c)
{
	return c->tls13 != NULL ? tls13_client_established(c->tls13)
	                        : tt_conn_state(c->tls) == TT_ESTABLISHED;
}

static int
on_tls_bytes(struct loop *l, struct conn *c, const uint8_t *p, size_t n)
{
	while (n > 0) {
		size_t k = n < TLS_FEED_SLICE ? n : TLS_FEED_SLICE;
		if (tls_feed(l, c, p, k) < 0)
			return -1;
		p += k;
		n -= k;
		if (c->phase == PH_HANDSHAKE) {
			if (!tls_established(c))
				continue;
			l->stats->handshakes++;
			if (c->tls13 != NULL && tls13_client_resumed(c->tls13))
				l->stats->resumed++;
			if (on_ready(l, c, bench_now_us()) < 0)
				return -1;
		}
		struct kw_buf *pt =
		    c->tls13 ? tls13_client_plaintext(c->tls13) : tt_conn_plaintext(c->tls);
		if (kw_buf_size(pt) == 0)
			continue;
		int rc = on_http(l, c, kw_buf_head(pt), kw_buf_size(pt));
		if (rc < 0)
			return -1;
		kw_buf_reset(pt);
	}
	return 0;
}

static void
on_eof(struct loop *l, struct conn *c)
{
	if (c->phase == PH_HANDSHAKE) {
		conn_fail(l, c, BENCH_ERR_HANDSHAKE, "connection closed during the handshake");
	} else if (c->phase == PH_READING && bench_resp_eof(&c->resp) == 1) {
		c->resp.close = true;
		on_response(l, c);
	} else if (c->phase == PH_IDLE) {
		conn_fail(l, c, BENCH_ERR_READ, "idle connection closed by the server");
	} else {
		conn_fail(l, c, BENCH_ERR_READ,
		          "connection closed before the response was complete");
	}
}

static void
conn_read(struct loop *l, struct conn *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, l->rbuf, RECV_BUF_SIZE, 0);
		if (n < 0) {
			if (errno == EAGAIN)
				return;
			if (errno == EINTR)
				continue;
			conn_fail(l, c, transport_err_kind(c), "recv: %s", strerror(errno));
			return;
		}
		if (n == 0) {
			on_eof(l, c);
			return;
		}
		int rc = c->tls || c->tls13 ? on_tls_bytes(l, c, l->rbuf, (size_t)n)
		                            : on_http(l, c, l->rbuf, (size_t)n);
		if (rc < 0 || (size_t)n < RECV_BUF_SIZE)
			return;
	}
}

static void
on_event(struct loop *l, struct conn *c, uint32_t ev)
{
	if (c->phase == PH_CLOSED || c->phase == PH_DONE)
		return;
	if (c->phase == PH_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err != 0) {
			conn_fail(l, c, BENCH_ERR_CONNECT, "connect: %s", strerror(err));
			return;
		}
		if (on_connected(l, c, bench_now_us()) < 0)
			return;
	} else if (ev & (EPOLLOUT | EPOLLERR)) {
		if (conn_flush(l, c) < 0)
			return;
	}
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
		conn_read(l, c);
}

/* Fails the connections past their deadline and retries those that could not connect. */
static void
on_tick(struct loop *l, uint64_t now)
{
	for (size_t i = 0; i < l->n_conns; i++) {
		struct conn *c = &l->conns[i];
		if (c->phase == PH_BACKOFF)
			conn_open(l, c);
		else if (c->phase >= PH_CONNECTING && c->phase != PH_IDLE && now > c->deadline_us)
			conn_fail(l, c, BENCH_ERR_TIMEOUT, "no %s within the timeout",
			          c->phase == PH_CONNECTING  ? "connection"
			          : c->phase == PH_HANDSHAKE ? "handshake"
			                                     : "response");
	}
}

static void
reopen_closed(struct loop *l)
{
	size_t n = l->n_reopen;
	l->n_reopen = 0;
	for (size_t i = 0; i < n; i++)
		conn_open(l, &l->conns[l->reopen[i]]);
}

/* Paced: sends every request whose slot has come, in slot order. */
static void
pace(struct loop *l, uint64_t now)
{
	if (l->t0 == 0) {
		l->t0 = atomic_load(&l->run->start_us);
		if (l->t0 == 0)
			return;
	}
	while (slot_time(l, l->cursor) <= now) {
		struct conn *c = &l->conns[l->cursor % l->n_conns];
		l->cursor++;
		send_if_due(l, c, now);
	}
}

/* How long epoll may wait: until the next tick, or the next paced request. */
static int
wait_ms(const struct loop *l, uint64_t now)
{
	if (l->n_reopen > 0)
		return 0;
	if (l->t0 == 0)
		return TICK_MS;
	uint64_t next = slot_time(l, l->cursor);
	if (next <= now)
		return 0;
	uint64_t ms = (next - now + 999) / 1000;
	return ms < TICK_MS ? (int)ms : TICK_MS;
}

static void
loop_run(struct loop *l)
{
	struct epoll_event events[MAX_EVENTS];
	uint64_t next_tick = bench_now_us() + TICK_MS * 1000u;
	for (size_t i = 0; i < l->n_conns; i++)
		conn_open(l, &l->conns[i]);
	while (l->live > 0) {
		int n = epoll_wait(l->ep, events, MAX_EVENTS, wait_ms(l, bench_now_us()));
		for (int i = 0; i < n; i++)
			on_event(l, events[i].data.ptr, events[i].events);
		uint64_t now = bench_now_us();
		if (run_over(l, now))
			break;
		if (l->t->rate > 0)
			pace(l, now);
		if (now >= next_tick) {
			on_tick(l, now);
			next_tick = now + TICK_MS * 1000u;
		}
		reopen_closed(l);
	}
}

int
bench_worker_run(struct bench_worker *w)
{
	struct loop l = {
	    .run = w->run,
	    .t = w->run->target,
	    .stats = &w->stats,
	    .n_conns = w->n_conns,
	    .live = w->n_conns,
	    .tls = w->run->target->tls,
	};
	if (l.t->rate > 0)
		l.slot_us = 1e6 * (double)l.t->n_total / (l.t->rate * (double)l.n_conns);
	w->result = KW_ERR_NOMEM;
	l.conns = calloc(l.n_conns, sizeof(*l.conns));
	l.reopen = calloc(l.n_conns, sizeof(*l.reopen));
	l.rbuf = malloc(RECV_BUF_SIZE);
	l.ep = epoll_create1(EPOLL_CLOEXEC);
	if (l.conns == NULL || l.reopen == NULL || l.rbuf == NULL)
		goto out;
	w->result = KW_ERR_INTERNAL;
	if (l.ep < 0 || (l.t->toytls && tt_kex_init(&l.kex) != 0))
		goto out;
	/* a thread's handshakes reuse its contexts and, with insecure, its leaf key */
	l.tls.kex = l.t->toytls ? &l.kex : NULL;
	l.tls.leaf_cache = &l.leaf_cache;
	for (size_t i = 0; i < l.n_conns; i++)
		l.conns[i].fd = -1;
	loop_run(&l);
	for (size_t i = 0; i < l.n_conns; i++)
		if (l.conns[i].phase != PH_DONE)
			conn_close(&l, &l.conns[i], PH_DONE);
	w->result = 0;
out:
	if (l.ep >= 0)
		close(l.ep);
	tt_kex_dispose(&l.kex);
	tt_leaf_cache_dispose(&l.leaf_cache);
	SSL_SESSION_free(l.session);
	free(l.rbuf);
	free(l.reopen);
	free(l.conns);
	atomic_fetch_add(&w->run->finished, 1);
	return w->result;
}

/*
 * conn.c - the connection state machine: reading, the transport, HTTP exchanges in
 * order, timeouts, lingering close. Sending is send.c's, the choice of server block
 * route.c's; this file decides what happens after each.
 */
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "err.h"
#include "h2_session.h"
#include "log.h"
#include "proxy_protocol.h"
#include "route.h"
#include "send.h"
#include "transport.h"

#define CONN_LINGER_TIMEOUT_MS 5000u /* wait for the peer's EOF after a final response */

enum conn_state {
	CONN_PROXY,     /* reading the PROXY protocol header, before any transport byte */
	CONN_HANDSHAKE, /* the transport's handshake, maybe waiting for the signer */
	CONN_REQUEST,   /* reading a request head; idle keep-alive when none of it came yet */
	CONN_RESPONSE,  /* sending a response while discarding the request body */
	CONN_BODY,      /* response sent, discarding the rest of the request body */
	CONN_LINGER,    /* final response sent and write side shut: draining until EOF */
	CONN_H2,        /* an HTTP/2 session (h2_session.h) */
	CONN_CLOSED,    /* waiting to be freed */
};

/* Outcome of one state step. */
enum step { STEP_WAIT, STEP_NEXT };

/* One request and its response, from the parsed head to the last byte sent. */
struct exchange {
	struct http_request req;
	bool have_req; /* false: the head was refused, req is empty */
	struct http_response resp;
	struct send_cursor cur;
	const struct kw_server *server; /* the block that answers: its access log */
	struct timespec start;          /* CLOCK_MONOTONIC when the head was taken */
};

struct conn {
	struct loop_io io;
	struct conns *cs;
	struct listener *listener;
	const struct kw_server *bound; /* chosen by the handshake's server_name; NULL: none */
	TAILQ_ENTRY(conn) link;
	TAILQ_ENTRY(conn) fresh_link; /* in cs->fresh[] while conn_evictable_fresh() */
	bool fresh;                   /* in cs->fresh[] */
	bool proven;                  /* a whole request head came */
	enum conn_state state;
	struct transport *t;
	struct transport_host host;
	struct proxy_reader proxy; /* the PROXY header so far, while in CONN_PROXY */
	struct http_parser parser;
	struct exchange *x;    /* while a response is being sent */
	struct http_body body; /* the current request's body framing */
	bool body_done;        /* the current request's body is consumed */
	bool head_bytes;       /* bytes of the next request head arrived */
	bool head_timer;       /* the header timer runs for the next request head */
	bool eof;              /* the peer shut its side, or the transport's input ended */
	bool input_ended;  /* the transport refused a record: no more input, answer then close */
	bool close_after;  /* no keep-alive after the current response */
	bool parked_input; /* input came while the handshake waited: unwatched until it goes on */
	unsigned requests;
	enum kw_tls transport;            /* the listener's, for the counters */
	enum kw_conn_phase phase;         /* as counted in the connection gauges */
	enum kw_handshake_failure hs_why; /* counted if the connection closes in its handshake */
	struct kw_timer timer;
	struct h2_session *h2;  /* in CONN_H2 */
	struct h2_host h2_host; /* what h2 calls */
	bool h2_more;           /* the session has more to send once the socket is writable */
	bool h2_goaway;         /* the graceful GOAWAY is queued */
	/*
	 * The client: the socket's peer, or the address of the PROXY header when the
	 * listener requires one. The access log prints addr; nothing else stands for it.
	 */
	uint16_t port;
	char addr[INET6_ADDRSTRLEN];
};

static void conn_advance(struct conn *c);
static void conn_handle(struct conn *c, const struct http_request *req, struct http_response *resp);

/* What the connection gauges count c as, from its state. */
static enum kw_conn_phase
conn_phase(const struct conn *c)
{
	switch (c->state) {
	case CONN_HANDSHAKE:
		return KW_PHASE_HANDSHAKING;
	case CONN_REQUEST:
		return c->head_bytes ? KW_PHASE_READING : KW_PHASE_IDLE;
	case CONN_PROXY:
	case CONN_BODY:
		return KW_PHASE_READING;
	case CONN_RESPONSE:
	case CONN_LINGER:
		return KW_PHASE_WRITING;
	case CONN_H2:
		return h2_session_busy(c->h2) ? KW_PHASE_WRITING : KW_PHASE_IDLE;
	case CONN_CLOSED:
		break;
	}
	return KW_PHASE_NONE;
}

/* Moves c between the connection gauges when its phase changed. */
static void
conn_account(struct conn *c)
{
	enum kw_conn_phase phase = conn_phase(c);
	uint64_t *gauges = c->cs->metrics->conns[c->transport];

	if (phase == c->phase)
		return;
	if (c->phase != KW_PHASE_NONE)
		kw_metric_add(&gauges[c->phase], (uint64_t)-1);
	if (phase != KW_PHASE_NONE)
		kw_metric_add(&gauges[phase], 1);
	c->phase = phase;
}

/*
 * A response to req (NULL: its head was refused) is over, sent or cut short, over
 * HTTP/1.x or as an HTTP/2 stream: the counters.
 */
static void
conn_count(struct conn *c, const struct http_request *req, int status, uint64_t body_bytes)
{
	struct kw_metrics_worker *m = c->cs->metrics;
	const int status_class = kw_metrics_status_class(status);
	const enum kw_metrics_protocol proto =
	    req != NULL ? kw_metrics_protocol(req->http2 ? 2 : 1, req->version_minor)
	                : KW_PROTO_HTTP11;

	if (status_class >= 0)
		kw_metric_add(&m->requests[c->transport][proto][status_class], 1);
	kw_metric_add(&m->body_bytes[c->transport], body_bytes);
}

/* true while the handshake waits for a signature or an async job, not for the socket. */
static bool
conn_parked(const struct conn *c)
{
	return c->state == CONN_HANDSHAKE && c->t->ops->parked != NULL && c->t->ops->parked(c->t);
}

/*
 * Whether eviction may pick c as one without a request: no whole request head came, and
 * the server waits on the client. A handshake parked on the signer waits on the server
 * (the client sends nothing before the flight): under a flood the oldest fresh one goes
 * within max_connections accepts, a fraction of a second, and a slow signer must not
 * make a well-behaved client that.
 */
static bool
conn_evictable_fresh(const struct conn *c)
{
	return !c->proven && c->state != CONN_CLOSED && !conn_parked(c);
}

/* Keeps c in cs->fresh[] as conn_evictable_fresh() says, at the tail when it comes in
 * (the newest): true when it came in. */
static bool
conn_list_fresh(struct conn *c)
{
	const bool fresh = conn_evictable_fresh(c);
	struct conn_list *list = &c->cs->fresh[c->listener->index];

	if (fresh == c->fresh)
		return false;
	c->fresh = fresh;
	if (fresh)
		TAILQ_INSERT_TAIL(list, c, fresh_link);
	else
		TAILQ_REMOVE(list, c, fresh_link);
	return fresh;
}

/* The connection sent a whole request head: it is no longer evicted as one that did not. */
static void
conn_proven(struct conn *c)
{
	c->proven = true;
	conn_list_fresh(c);
}

/*
 * The access log's line for a request (NULL: its head was refused) answered by
 * server, with what the transport says of itself; start: when the head was taken
 * (NULL: not known). The counters too: every response passes here.
 */
static void
conn_log(struct conn *c, const struct http_request *req, const struct kw_server *server, int status,
         uint64_t body_bytes, const struct timespec *start)
{
	struct transport_desc d = {0};
	const bool secure = c->t->ops->describe != NULL && c->t->ops->established(c->t);
	struct timespec end;
	long long us = -1;

	if (secure)
		c->t->ops->describe(c->t, &d);
	if (start != NULL) {
		clock_gettime(CLOCK_MONOTONIC, &end);
		us = (long long)(end.tv_sec - start->tv_sec) * 1000000 +
		     (end.tv_nsec - start->tv_nsec) / 1000;
		us = us < 0 ? 0 : us;
	}
	const struct access_entry e = {
	    .addr = c->addr,
	    .req = req,
	    .server = server,
	    .status = status,
	    .body_bytes = body_bytes,
	    .duration_us = us,
	    .transport = c->t->ops->name,
	    .tls_version = d.version,
	    .tls_cipher = d.cipher,
	    .tls_resumed = secure ? d.resumed : -1,
	    .now = c->cs->loop->wall,
	};
	access_log_write(c->cs->access_log, &e);
	conn_count(c, req, status, body_bytes);
}

static void
conn_log_exchange(struct conn *c, const struct exchange *x)
{
	conn_log(c, x->have_req ? &x->req : NULL, x->server, x->resp.status, x->cur.body_sent,
	         &x->start);
}

static void
conn_drop(struct conn *c)
{
	struct conns *cs = c->cs;
	if (c->state == CONN_CLOSED)
		return;
	if (c->state == CONN_HANDSHAKE)
		kw_metric_add(&cs->metrics->handshake_failures[c->transport][c->hs_why], 1);
	if (c->x != NULL) {
		conn_log_exchange(c, c->x);
		http_response_dispose(&c->x->resp);
		free(c->x);
		c->x = NULL;
	}
	h2_session_free(c->h2);
	c->h2 = NULL;
	kw_timer_disarm(&c->timer);
	loop_io_forget(&c->io);
	close(c->io.fd);
	c->io.fd = -1;
	c->t->ops->destroy(c->t);
	c->t = NULL;
	proxy_reader_dispose(&c->proxy);
	http_parser_dispose(&c->parser);
	c->state = CONN_CLOSED;
	conn_account(c);
	conn_list_fresh(c);
	cs->n_by_listener[c->listener->index]--;
	TAILQ_REMOVE(&cs->open, c, link);
	TAILQ_INSERT_TAIL(&cs->dead, c, link);
	cs->n_open--;
	loop_defer(cs->loop, &cs->reap);
	cs->hooks->closed(cs);
}

static void conn_close(struct conn *c, enum kw_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
conn_log_close(const struct conn *c, enum kw_log_level level, const char *reason)
{
	const bool v6 = strchr(c->addr, ':') != NULL;
	kw_log(level, "closing connection from %s%s%s:%u: %s", v6 ? "[" : "", c->addr,
	       v6 ? "]" : "", c->port, reason);
}

static void
conn_close(struct conn *c, enum kw_log_level level, const char *fmt, ...)
{
	if (kw_log_enabled(level)) {
		char reason[256];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(reason, sizeof(reason), fmt, ap);
		va_end(ap);
		conn_log_close(c, level, reason);
	}
	conn_drop(c);
}

/*
 * Sends what the transport queued before the connection closes (an alert, a TLS
 * close_notify) once, without waiting: a peer that does not read it loses nothing more.
 * more (MSG_MORE or 0): whether the bytes may wait for the FIN that follows at once.
 */
static void
conn_send_last_words(struct conn *c, int more)
{
	struct kw_buf *wire = c->t->ops->wire(c->t);
	ssize_t n = kw_buf_size(wire) == 0 ? 0
	                                   : send(c->io.fd, kw_buf_head(wire), kw_buf_size(wire),
	                                          MSG_DONTWAIT | MSG_NOSIGNAL | more);
	if (n > 0)
		kw_buf_consume(wire, (size_t)n);
}

static void
conn_close_transport(struct conn *c, int err)
{
	const char *detail = NULL;
	int terr = c->t->ops->error(c->t, &detail);
	if (terr == 0)
		terr = err;
	c->hs_why = terr == KW_ERR_SIGN_FAILED || terr == KW_ERR_SIGN_TIMEOUT ? KW_HSF_SIGNER
	            : terr == KW_ERR_NOMEM || terr == KW_ERR_INTERNAL         ? KW_HSF_INTERNAL
	                                                                      : KW_HSF_PROTOCOL;
	conn_send_last_words(c, 0); /* what the transport queued as it failed: an alert */
	conn_close(c, terr == KW_ERR_NOMEM || terr == KW_ERR_INTERNAL ? KW_LOG_ERR : KW_LOG_INFO,
	           "%s: %s%s%s%s", c->t->ops->name, kw_strerror(terr), detail ? " (" : "",
	           detail ? detail : "", detail ? ")" : "");
}

/* The sending engine failed: close, saying why. */
static void
conn_send_failed(struct conn *c, const struct send_error *e)
{
	if (e->transport_err)
		conn_close_transport(c, e->transport_err);
	else
		conn_close(c, e->level, "%s%s%s", e->what ? e->what : "", e->what ? ": " : "",
		           e->why);
}

static void
conn_update_events(struct conn *c)
{
	if (c->state == CONN_CLOSED)
		return;
	uint32_t events = 0;
	const bool wire_full = kw_buf_size(c->t->ops->wire(c->t)) > 0;
	switch (c->state) {
	case CONN_PROXY:
		events = EPOLLIN;
		break;
	case CONN_HANDSHAKE:
		if (conn_parked(c)) {
			/* the client sends nothing before the server's flight: the socket stays
			 * watched for input (no system call), until input does come */
			events = c->parked_input ? 0 : EPOLLIN;
			break;
		}
		c->parked_input = false;
		/* fall through */
	case CONN_REQUEST:
		events = EPOLLIN | (wire_full ? EPOLLOUT : 0);
		break;
	case CONN_RESPONSE:
		events = EPOLLOUT | (!c->body_done && !c->eof ? EPOLLIN : 0);
		break;
	case CONN_BODY:
	case CONN_LINGER:
		events = EPOLLIN;
		break;
	case CONN_H2:
		events = EPOLLIN | (wire_full || c->h2_more ? EPOLLOUT : 0);
		break;
	case CONN_CLOSED:
		return;
	}
	if (loop_io_set(c->cs->loop, &c->io, events) != 0)
		conn_close(c, KW_LOG_ERR, "cannot watch the socket");
}

static struct sender
conn_sender(struct conn *c)
{
	return (struct sender){
	    .fd = c->io.fd, .t = c->t, .buf = c->cs->sbuf, .close_after = c->close_after};
}

/* Writes queued wire bytes. Returns SEND_DONE, SEND_WAIT, or SEND_ERROR (closed). */
static enum send_status
conn_flush(struct conn *c)
{
	struct sender s = conn_sender(c);
	enum send_status st = send_wire(&s);
	if (st == SEND_ERROR)
		conn_send_failed(c, &s.err);
	return st;
}

/* The request body bytes waiting in plaintext are consumed; the framing decides. */
static void
conn_discard_body(struct conn *c)
{
	struct kw_buf *in = c->t->ops->plaintext(c->t);
	if (c->body_done || kw_buf_size(in) == 0)
		return;
	size_t used = 0;
	int rc = http_body_discard(&c->body, kw_buf_head(in), kw_buf_size(in), &used);
	kw_buf_consume(in, used);
	if (rc == 0)
		return;
	c->body_done = true;
	if (rc < 0)
		c->close_after = true;
}

/* Releases what an idle connection does not need. */
static void
conn_shrink(struct conn *c)
{
	c->t->ops->shrink(c->t);
	http_parser_dispose(&c->parser);
	http_parser_init(&c->parser, &c->cs->limits);
}

static void
conn_go_idle(struct conn *c)
{
	struct conns *cs = c->cs;
	if (cs->shutting_down) {
		conn_close(c, KW_LOG_INFO, "shutting down");
		return;
	}
	loop_timer_arm(cs->loop, &c->timer, &cs->q_keepalive);
	c->head_timer = false;
	cs->hooks->idle(cs);
}

/* The header timer starts with the first byte of a head and is not extended after. */
static void
conn_head_started(struct conn *c)
{
	c->head_bytes = true;
	if (!c->head_timer) {
		loop_timer_arm(c->cs->loop, &c->timer, &c->cs->q_header);
		c->head_timer = true;
	}
}

static void format_peer(struct conn *c, const struct sockaddr *peer, socklen_t len);
static void conn_transport_start(struct conn *c, bool arm_handshake);

/*
 * Bytes that came while the PROXY header is read: once it is complete its address
 * becomes the client's and the transport starts, with *wire and *len left pointing
 * at the bytes after the header (a ClientHello often shares the segment). false: the
 * header is incomplete (all taken) or refused (the connection closed).
 */
static bool
conn_proxy_header(struct conn *c, const uint8_t **wire, size_t *len)
{
	struct proxy_header hdr;
	const char *why = NULL;
	size_t used = 0;
	int rc = proxy_reader_feed(&c->proxy, *wire, *len, &hdr, &used, &why);

	if (rc < 0)
		conn_close(c, rc == KW_ERR_NOMEM ? KW_LOG_ERR : KW_LOG_INFO, "%s: %s",
		           kw_strerror(rc), why);
	if (rc <= 0)
		return false;
	if (hdr.has_addr)
		format_peer(c, (const struct sockaddr *)&hdr.src, hdr.src_len);
	conn_transport_start(c, false);
	*wire += used;
	*len -= used;
	return true;
}

static void
conn_read(struct conn *c)
{
	struct conns *cs = c->cs;
	ssize_t n = recv(c->io.fd, cs->rbuf, sizeof(cs->rbuf), 0);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			c->hs_why = KW_HSF_CLIENT_CLOSED;
			conn_close(c, KW_LOG_INFO, "read: %s", strerror(errno));
		}
		return;
	}
	if (n == 0) {
		c->eof = true;
		return;
	}
	if (c->state == CONN_LINGER || c->input_ended)
		return;
	const uint8_t *wire = cs->rbuf;
	size_t len = (size_t)n;
	if (c->state == CONN_PROXY && (!conn_proxy_header(c, &wire, &len) || len == 0))
		return;
	struct kw_buf *in = c->t->ops->plaintext(c->t);
	int err = c->t->ops->feed(c->t, wire, len);
	if (err && c->t->ops->input_ended != NULL && c->t->ops->input_ended(c->t) &&
	    (kw_buf_size(in) > 0 || c->state == CONN_RESPONSE)) {
		/* what came before the refused record is answered, then the connection closes */
		c->input_ended = true;
		c->eof = true;
		err = 0;
	}
	if (err) {
		conn_close_transport(c, err);
		return;
	}
	if (c->state == CONN_REQUEST && kw_buf_size(in) > 0)
		conn_head_started(c);
	else if (c->state == CONN_BODY)
		loop_timer_arm(cs->loop, &c->timer, &cs->q_body);
}

static void
conn_on_event(struct loop_io *io, uint32_t events)
{
	struct conn *c = container_of(io, struct conn, io);
	if (c->state == CONN_CLOSED)
		return;
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && (c->io.events & EPOLLIN)) {
		if (conn_parked(c)) {
			/* what came waits in the socket until the handshake goes on */
			c->parked_input = true;
			conn_update_events(c);
			return;
		}
		conn_read(c);
		if (c->state == CONN_CLOSED)
			return;
	}
	conn_advance(c);
}

/* The transport moved on by itself (a signer reply came, or failed). */
static void
conn_wake(struct transport_host *h)
{
	struct conn *c = container_of(h, struct conn, host);
	if (c->state != CONN_CLOSED)
		conn_advance(c);
}

static const struct kw_server *
conn_select_server(struct transport_host *h, const char *server_name)
{
	struct conn *c = container_of(h, struct conn, host);
	c->bound = route_server_name(c->cs->cfg, c->listener->index, server_name);
	return c->bound;
}

/* HTTP/2: the handler answers its streams as conn_serve() answers requests. */
static void
conn_h2_respond(struct h2_host *h, const struct http_request *req, struct http_response *resp)
{
	struct conn *c = container_of(h, struct conn, h2_host);
	c->requests++;
	conn_proven(c);
	conn_handle(c, req, resp);
}

static void
conn_h2_done(struct h2_host *h, const struct http_request *req, int status, uint64_t body_bytes)
{
	struct conn *c = container_of(h, struct conn, h2_host);
	const struct kw_server *srv =
	    route_request(c->cs->cfg, c->listener->index, c->listener->server, c->bound, req);
	conn_log(c, req, srv != NULL ? srv : c->listener->server, status, body_bytes, NULL);
}

static void
conn_h2_wake(struct h2_host *h)
{
	struct conn *c = container_of(h, struct conn, h2_host);
	if (c->state != CONN_CLOSED)
		conn_advance(c);
}

/* The connection speaks HTTP/2 from now on. */
static void
conn_start_h2(struct conn *c)
{
	struct conns *cs = c->cs;
	c->h2_host = (struct h2_host){
	    .respond = conn_h2_respond, .done = conn_h2_done, .wake = conn_h2_wake};
	c->h2 = h2_session_new(cs->cfg, cs->loop, &cs->q_h2_settings, &c->h2_host);
	if (c->h2 == NULL) {
		conn_close(c, KW_LOG_ERR, "out of memory");
		return;
	}
	c->state = CONN_H2;
	if (cs->shutting_down)
		h2_session_shutdown(c->h2);
}

/* Whether ALPN chose "h2". */
static bool
conn_alpn_h2(const struct conn *c)
{
	size_t len = 0;
	const uint8_t *p = c->t->ops->protocol != NULL ? c->t->ops->protocol(c->t, &len) : NULL;
	return p != NULL && len == 2 && memcmp(p, "h2", 2) == 0;
}

static enum step
step_proxy(struct conn *c)
{
	if (c->eof)
		conn_close(c, KW_LOG_INFO, "client closed the connection before the PROXY header");
	return STEP_WAIT;
}

static enum step
step_handshake(struct conn *c)
{
	const char *detail;
	if (c->t->ops->error(c->t, &detail) != 0) {
		conn_close_transport(c, 0);
		return STEP_WAIT;
	}
	if (c->t->ops->established(c->t)) {
		struct kw_metrics_worker *m = c->cs->metrics;
		kw_metric_add(&m->handshakes[c->transport], 1);
		if (c->t->ops->resumed != NULL && c->t->ops->resumed(c->t))
			kw_metric_add(&m->resumed[c->transport], 1);
		c->state = CONN_REQUEST; /* the handshake timer runs until the first request byte */
		if (conn_alpn_h2(c))
			conn_start_h2(c);
		return STEP_NEXT;
	}
	if (c->eof) {
		c->hs_why = KW_HSF_CLIENT_CLOSED;
		conn_close(c, KW_LOG_INFO, "client closed the connection during the handshake");
		return STEP_WAIT;
	}
	/*
	 * The flight is out and the client's answer is a round trip away: what the flight
	 * took is let go now, not once the handshake ends, so that many handshakes at once
	 * do not each hold it (the heap keeps what they all held at once).
	 */
	if (conn_flush(c) == SEND_DONE && !conn_parked(c))
		c->t->ops->shrink(c->t);
	return STEP_WAIT;
}

/* Whether the peer may still be sending: a body to drain, bytes received or on their way. */
static bool
conn_peer_sending(struct conn *c)
{
	uint8_t byte;
	if (c->eof)
		return false;
	if (!c->body_done || c->t->ops->input_pending(c->t))
		return true;
	return recv(c->io.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

/*
 * The last response is out. When the peer is done sending, close at once; else shut
 * the write side and drain input until the peer's EOF, so that what it still sends
 * does not make the kernel reset the connection under the response.
 */
static void
conn_linger(struct conn *c, int status)
{
	if (kw_log_enabled(KW_LOG_INFO)) {
		char reason[64];
		snprintf(reason, sizeof(reason), "closed after a %d response", status);
		conn_log_close(c, KW_LOG_INFO, reason);
	}
	bool sending = conn_peer_sending(c);
	if (c->t->ops->close_notify != NULL) {
		c->t->ops->close_notify(c->t);
		/* closing at once: the alert waits for the FIN, with the response's end */
		conn_send_last_words(c, sending ? 0 : MSG_MORE);
	}
	if (!sending || shutdown(c->io.fd, SHUT_WR) < 0) {
		conn_drop(c);
		return;
	}
	c->state = CONN_LINGER;
	loop_timer_arm(c->cs->loop, &c->timer, &c->cs->q_linger);
}

/* Starts sending x's response; the request body (if any) is discarded meanwhile. */
static void
conn_respond(struct conn *c, struct exchange *x)
{
	c->x = x;
	c->state = CONN_RESPONSE;
	c->head_bytes = false;
	c->head_timer = false;
	if (x->resp.close)
		c->close_after = true;
	send_cursor_start(&x->cur, &x->resp);
	loop_timer_arm(c->cs->loop, &c->timer, &c->cs->q_send);
}

static struct exchange *
exchange_new(struct conn *c)
{
	struct exchange *x = malloc(sizeof(*x));
	if (x == NULL) {
		conn_close(c, KW_LOG_ERR, "out of memory");
		return NULL;
	}
	x->have_req = false;
	x->cur.body_sent = 0;
	x->server = c->bound != NULL ? c->bound : c->listener->server;
	clock_gettime(CLOCK_MONOTONIC, &x->start);
	http_response_init(&x->resp);
	return x;
}

/* The request head could not be accepted, or timed out: an error response, then close. */
static void
conn_refuse(struct conn *c, int status)
{
	struct exchange *x = exchange_new(c);
	if (x == NULL)
		return;
	c->body_done = true;
	c->close_after = true;
	http_error_response(status, NULL, c->cs->loop->wall, &x->resp);
	conn_respond(c, x);
}

/* The files the turn's requests opened are closed once the turn is over. */
static void
files_done(struct loop_task *task)
{
	struct conns *cs = container_of(task, struct conns, files_done);
	static_cache_clear(&cs->files);
}

/* The one request handler, whichever framing the request came in. */
static void
conn_handle(struct conn *c, const struct http_request *req, struct http_response *resp)
{
	struct conns *cs = c->cs;
	const struct route_ctx rc = {.cfg = cs->cfg,
	                             .mime = cs->mime,
	                             .files = &cs->files,
	                             .metrics = cs->region,
	                             .client = c->addr};
	struct http_request r = *req;
	r.tls = cs->cfg->listeners[c->listener->index].tls != KW_TLS_NONE;
	route_respond(&rc, c->listener->index, c->listener->server, c->bound, &r, cs->loop->wall,
	              resp);
	if (resp->status == 503 && resp->sys_errno != 0)
		cs->hooks->short_of_descriptors(cs, resp->sys_errno);
	loop_defer(cs->loop, &cs->files_done);
}

static void
conn_serve(struct conn *c, const struct http_request *req)
{
	struct conns *cs = c->cs;
	const struct kw_config *cfg = cs->cfg;
	struct exchange *x = exchange_new(c);
	if (x == NULL)
		return;
	x->req = *req;
	x->have_req = true;
	c->requests++;
	conn_proven(c);
	if (cs->shutting_down || cfg->http.keepalive_timeout_ms == 0 ||
	    (cfg->http.keepalive_requests != 0 && c->requests >= cfg->http.keepalive_requests))
		x->req.keep_alive = false;
	if (!x->req.keep_alive)
		c->close_after = true;
	http_body_init(&c->body, &x->req, cfg->http.max_body_size);
	c->body_done = !x->req.body_chunked && x->req.content_length == 0;
	x->server = route_request(cfg, c->listener->index, c->listener->server, c->bound, &x->req);
	if (x->server == NULL)
		x->server = c->bound;
	conn_handle(c, &x->req, &x->resp);
	conn_respond(c, x);
}

/* Waiting for a request head with nothing of it received (and nothing left to send). */
static void
conn_waiting(struct conn *c, enum send_status flushed)
{
	if (c->input_ended && flushed != SEND_WAIT)
		conn_close_transport(c, 0);
	else if (c->input_ended)
		return;
	else if (c->eof)
		conn_close(c, KW_LOG_INFO,
		           c->head_bytes ? "client closed mid-request"
		                         : "client closed the connection");
	else if (flushed == SEND_DONE && !c->head_bytes)
		conn_shrink(c);
}

/*
 * On a plain listener with http2, a connection whose first bytes are HTTP/2's client
 * preface speaks HTTP/2 (prior knowledge). 1: it does; 0: too few bytes to tell; -1:
 * HTTP/1.1.
 */
static int
conn_h2c_preface(struct conn *c, const struct kw_buf *in)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	const struct kw_listener *lc = &c->cs->cfg->listeners[c->listener->index];
	size_t n = kw_buf_size(in) < sizeof(preface) - 1 ? kw_buf_size(in) : sizeof(preface) - 1;
	if (!lc->http2 || lc->tls != KW_TLS_NONE || c->requests > 0 ||
	    memcmp(kw_buf_head(in), preface, n) != 0)
		return -1;
	if (n == sizeof(preface) - 1)
		return 1;
	conn_head_started(c);
	return c->eof ? -1 : 0;
}

static enum step
step_request(struct conn *c)
{
	enum send_status flushed = conn_flush(c);
	if (flushed == SEND_ERROR)
		return STEP_WAIT;
	struct kw_buf *in = c->t->ops->plaintext(c->t);
	if (kw_buf_size(in) == 0) {
		conn_waiting(c, flushed);
		return STEP_WAIT;
	}
	switch (conn_h2c_preface(c, in)) {
	case 1:
		conn_start_h2(c);
		return STEP_NEXT;
	case 0:
		return STEP_WAIT;
	default:
		break;
	}
	conn_head_started(c);
	struct http_request req;
	size_t used = 0;
	int rc = http_parse_request(&c->parser, kw_buf_head(in), kw_buf_size(in), &used, &req);
	if (rc == 0) {
		if (c->eof)
			conn_close(c, KW_LOG_INFO, "client closed mid-request");
		return STEP_WAIT;
	}
	if (rc < 0) {
		conn_refuse(c, -rc);
		return STEP_NEXT;
	}
	kw_buf_consume(in, used);
	conn_serve(c, &req);
	return STEP_NEXT;
}

/* The response went out: log it, then keep-alive, the rest of the body, or close. */
static enum step
conn_exchange_done(struct conn *c)
{
	struct conns *cs = c->cs;
	struct exchange *x = c->x;
	const int status = x->resp.status;
	conn_log_exchange(c, x);
	http_response_dispose(&x->resp);
	free(x);
	c->x = NULL;
	if (c->close_after) {
		conn_linger(c, status);
		return STEP_WAIT;
	}
	if (!c->body_done) {
		c->state = CONN_BODY;
		loop_timer_arm(cs->loop, &c->timer, &cs->q_body);
		return STEP_NEXT;
	}
	c->state = CONN_REQUEST;
	if (kw_buf_size(c->t->ops->plaintext(c->t)) == 0)
		conn_go_idle(c);
	return STEP_NEXT;
}

static enum step
step_response(struct conn *c)
{
	conn_discard_body(c);
	struct sender s = conn_sender(c);
	enum send_status st = send_response(&s, &c->x->resp, &c->x->cur);
	if (s.sent > 0)
		loop_timer_arm(c->cs->loop, &c->timer, &c->cs->q_send);
	if (st == SEND_ERROR)
		conn_send_failed(c, &s.err);
	if (st != SEND_DONE)
		return STEP_WAIT;
	return conn_exchange_done(c);
}

static enum step
step_body(struct conn *c)
{
	conn_discard_body(c);
	if (c->close_after) {
		conn_close(c, KW_LOG_INFO, "malformed or oversized request body");
		return STEP_WAIT;
	}
	if (c->body_done) {
		c->state = CONN_REQUEST;
		if (kw_buf_size(c->t->ops->plaintext(c->t)) == 0)
			conn_go_idle(c);
		return STEP_NEXT;
	}
	if (c->eof)
		conn_close(c, KW_LOG_INFO, "client closed mid-body");
	return STEP_WAIT;
}

/* Sends the session's last frames (its GOAWAY) if the socket takes them, then closes. */
static void
conn_h2_close(struct conn *c, const char *why)
{
	struct sender s = conn_sender(c);
	if (kw_buf_size(c->t->ops->wire(c->t)) == 0)
		h2_session_send(c->h2, &s);
	conn_close(c, KW_LOG_INFO, "%s", why);
}

/* Ends the session now with GOAWAY code. */
static void
conn_h2_end(struct conn *c, uint32_t code, const char *why)
{
	h2_session_terminate(c->h2, code, why);
	conn_h2_close(c, why);
}

/*
 * While a response is out, the send timer runs (from the last progress); before the
 * first request, the header timer (as for HTTP/1.1); else keep-alive.
 */
static void
conn_h2_timer(struct conn *c, size_t sent)
{
	struct conns *cs = c->cs;
	if (h2_session_busy(c->h2)) {
		if (sent > 0 || !kw_timer_armed_in(&c->timer, &cs->q_send))
			loop_timer_arm(cs->loop, &c->timer, &cs->q_send);
	} else if (c->requests == 0) {
		if (!kw_timer_armed_in(&c->timer, &cs->q_header))
			loop_timer_arm(cs->loop, &c->timer, &cs->q_header);
	} else if (!kw_timer_armed_in(&c->timer, &cs->q_keepalive)) {
		loop_timer_arm(cs->loop, &c->timer, &cs->q_keepalive);
		cs->hooks->idle(cs);
	}
}

static enum step
step_h2(struct conn *c)
{
	struct kw_buf *in = c->t->ops->plaintext(c->t);
	if (kw_buf_size(in) > 0) {
		int err = h2_session_recv(c->h2, kw_buf_head(in), kw_buf_size(in));
		kw_buf_consume(in, kw_buf_size(in));
		if (err) {
			conn_h2_close(c, h2_session_why(c->h2));
			return STEP_WAIT;
		}
	}
	enum send_status st = conn_flush(c);
	if (st == SEND_ERROR)
		return STEP_WAIT;
	struct sender s = conn_sender(c);
	if (st == SEND_DONE)
		st = h2_session_send(c->h2, &s);
	if (st == SEND_ERROR) {
		conn_send_failed(c, &s.err);
		return STEP_WAIT;
	}
	c->h2_more = st == SEND_WAIT;
	if (h2_session_finished(c->h2) && kw_buf_size(c->t->ops->wire(c->t)) == 0) {
		const char *why = h2_session_why(c->h2);
		conn_close(c, KW_LOG_INFO, "%s", why != NULL ? why : "HTTP/2 session ended");
	} else if (c->eof) {
		conn_close(c, KW_LOG_INFO, "client closed the connection");
	} else {
		conn_h2_timer(c, s.sent);
	}
	return STEP_WAIT;
}

static void
conn_advance(struct conn *c)
{
	for (;;) {
		enum step s = STEP_WAIT;
		switch (c->state) {
		case CONN_PROXY:
			s = step_proxy(c);
			break;
		case CONN_HANDSHAKE:
			s = step_handshake(c);
			break;
		case CONN_REQUEST:
			s = step_request(c);
			break;
		case CONN_RESPONSE:
			s = step_response(c);
			break;
		case CONN_BODY:
			s = step_body(c);
			break;
		case CONN_LINGER:
			if (c->eof)
				conn_drop(c);
			break;
		case CONN_H2:
			s = step_h2(c);
			break;
		case CONN_CLOSED:
			return;
		}
		if (s == STEP_WAIT)
			break;
	}
	conn_account(c);
	/* a handshake that went on after its signature can be evicted again */
	if (conn_list_fresh(c))
		c->cs->hooks->idle(c->cs);
	conn_update_events(c);
}

static void
conn_timeout(struct kw_timer *t)
{
	struct conn *c = container_of(t, struct conn, timer);
	switch (c->state) {
	case CONN_PROXY:
		conn_close(c, KW_LOG_INFO, "no PROXY protocol header in time");
		return;
	case CONN_HANDSHAKE:
		c->hs_why = KW_HSF_TIMEOUT;
		conn_close(c, KW_LOG_INFO, "handshake timed out");
		return;
	case CONN_REQUEST:
		if (!c->head_bytes) {
			conn_close(c, KW_LOG_INFO,
			           c->requests ? "keep-alive timeout" : "no request in time");
			return;
		}
		kw_log_info("conn_timeout: request head from %s not complete in time", c->addr);
		conn_refuse(c, 408);
		conn_advance(c);
		return;
	case CONN_RESPONSE:
		conn_close(c, KW_LOG_INFO, "send timed out");
		return;
	case CONN_BODY:
		conn_close(c, KW_LOG_INFO, "request body timed out");
		return;
	case CONN_LINGER:
		conn_drop(c);
		return;
	case CONN_H2:
		if (h2_session_busy(c->h2))
			conn_h2_end(c, H2_ENHANCE_YOUR_CALM, "send timed out");
		else
			conn_h2_end(c, H2_NO_ERROR,
			            c->requests ? "keep-alive timeout" : "no request in time");
		return;
	case CONN_CLOSED:
		return;
	}
}

static void
format_peer(struct conn *c, const struct sockaddr *peer, socklen_t len)
{
	strcpy(c->addr, "-");
	if (peer->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)peer;
		inet_ntop(AF_INET, &in->sin_addr, c->addr, sizeof(c->addr));
		c->port = ntohs(in->sin_port);
	} else if (peer->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)peer;
		inet_ntop(AF_INET6, &in6->sin6_addr, c->addr, sizeof(c->addr));
		c->port = ntohs(in6->sin6_port);
	}
}

/*
 * The transport takes the connection: its handshake (under the handshake deadline,
 * armed here when arm_handshake, else still running since the accept), or at once
 * the first request head.
 */
static void
conn_transport_start(struct conn *c, bool arm_handshake)
{
	struct conns *cs = c->cs;
	if (!c->t->ops->established(c->t)) {
		c->state = CONN_HANDSHAKE;
		if (arm_handshake)
			loop_timer_arm(cs->loop, &c->timer, &cs->q_handshake);
	} else {
		c->state = CONN_REQUEST;
		c->head_timer = true;
		loop_timer_arm(cs->loop, &c->timer, &cs->q_header);
	}
}

int
conn_accept(struct conns *cs, struct listener *l, int fd, const struct sockaddr *peer,
            socklen_t peer_len)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		kw_log_err("conn_accept: out of memory");
		close(fd);
		return KW_ERR_NOMEM;
	}
	static const uint8_t alpn[] = "\x02h2\x08http/1.1";
	const bool h2 = cs->cfg->listeners[l->index].http2;
	c->host = (struct transport_host){.wake = conn_wake,
	                                  .select_server = conn_select_server,
	                                  .alpn = h2 ? alpn : alpn + 3,
	                                  .alpn_len = h2 ? sizeof(alpn) - 1 : sizeof(alpn) - 4};
	c->cs = cs;
	c->listener = l;
	c->transport = l->cfg->tls;
	c->phase = KW_PHASE_NONE;
	c->hs_why = KW_HSF_ABORTED;
	c->t = l->transport->open(l->transport_state, &c->host);
	if (c->t == NULL) {
		kw_log_err("conn_accept: out of memory");
		close(fd);
		free(c);
		return KW_ERR_NOMEM;
	}
	c->io = (struct loop_io){.fd = fd, .on_event = conn_on_event};
	format_peer(c, peer, peer_len);
	http_parser_init(&c->parser, &cs->limits);
	kw_timer_init(&c->timer, conn_timeout);
	c->body_done = true;
	TAILQ_INSERT_TAIL(&cs->open, c, link);
	cs->n_open++;
	cs->n_by_listener[l->index]++;
	conn_list_fresh(c);
	if (l->cfg->proxy_protocol) {
		c->state = CONN_PROXY; /* the handshake deadline covers the header too */
		loop_timer_arm(cs->loop, &c->timer, &cs->q_handshake);
	} else {
		conn_transport_start(c, true);
	}
	kw_metric_add(&cs->metrics->accepted[c->transport], 1);
	conn_account(c);
	if (loop_io_add(cs->loop, &c->io, EPOLLIN) != 0) {
		c->hs_why = KW_HSF_INTERNAL;
		conn_close(c, KW_LOG_ERR, "cannot watch the socket");
		return KW_ERR_INTERNAL;
	}
	conn_on_event(&c->io, EPOLLIN); /* the first bytes often came with the connection */
	return 0;
}

bool
conns_can_evict(const struct conns *cs)
{
	if (kw_timer_queue_first(&cs->q_keepalive) != NULL)
		return true;
	for (size_t i = 0; i < cs->n_listeners; i++)
		if (!TAILQ_EMPTY(&cs->fresh[i]))
			return true;
	return false;
}

bool
conns_evict(struct conns *cs)
{
	struct kw_timer *t = kw_timer_queue_first(&cs->q_keepalive);
	struct conn *victim = NULL;
	size_t most = 0;

	if (t != NULL) {
		conn_close(container_of(t, struct conn, timer), KW_LOG_INFO,
		           "idle connection closed to make room");
		return true;
	}
	for (size_t i = 0; i < cs->n_listeners; i++) {
		if (!TAILQ_EMPTY(&cs->fresh[i]) && cs->n_by_listener[i] > most) {
			most = cs->n_by_listener[i];
			victim = TAILQ_FIRST(&cs->fresh[i]);
		}
	}
	if (victim == NULL)
		return false;
	conn_close(victim, KW_LOG_INFO, "closed to make room: no request yet");
	return true;
}

void
conns_shutdown(struct conns *cs)
{
	struct kw_timer *t;
	struct conn *c = TAILQ_FIRST(&cs->open);
	cs->shutting_down = true;
	/* from the start again after each: stepping one may close others (hooks) */
	while (c != NULL) {
		if (c->state != CONN_H2 || c->h2_goaway) {
			c = TAILQ_NEXT(c, link);
			continue;
		}
		c->h2_goaway = true;
		h2_session_shutdown(c->h2);
		conn_advance(c);
		c = TAILQ_FIRST(&cs->open);
	}
	while ((t = kw_timer_queue_first(&cs->q_keepalive)) != NULL)
		conn_close(container_of(t, struct conn, timer), KW_LOG_INFO, "shutting down");
}

void
conns_close_all(struct conns *cs, const char *reason)
{
	struct conn *c;
	while ((c = TAILQ_FIRST(&cs->open)) != NULL)
		conn_close(c, KW_LOG_INFO, "%s", reason);
}

static void
reap(struct loop_task *task)
{
	struct conns *cs = container_of(task, struct conns, reap);
	struct conn *c;
	while ((c = TAILQ_FIRST(&cs->dead)) != NULL) {
		TAILQ_REMOVE(&cs->dead, c, link);
		free(c);
	}
}

int
conns_init(struct conns *cs, struct loop *loop, const struct kw_config *cfg,
           const struct mime_table *mime, struct access_logs *access_log,
           const struct conn_hooks *hooks, size_t record_size)
{
	memset(cs, 0, sizeof(*cs));
	cs->loop = loop;
	cs->cfg = cfg;
	cs->mime = mime;
	cs->access_log = access_log;
	cs->hooks = hooks;
	cs->limits = (struct http_limits){
	    .max_request_line = cfg->http.max_request_line,
	    .max_header_size = cfg->http.max_header_size,
	    .max_header_count = cfg->http.max_header_count,
	    .max_body_size = cfg->http.max_body_size,
	};
	loop_timer_queue(loop, &cs->q_handshake, cfg->http.handshake_timeout_ms);
	loop_timer_queue(loop, &cs->q_header, cfg->http.client_header_timeout_ms);
	loop_timer_queue(loop, &cs->q_body, cfg->http.client_body_timeout_ms);
	loop_timer_queue(loop, &cs->q_send, cfg->http.send_timeout_ms);
	loop_timer_queue(loop, &cs->q_keepalive, cfg->http.keepalive_timeout_ms);
	loop_timer_queue(loop, &cs->q_linger, CONN_LINGER_TIMEOUT_MS);
	loop_timer_queue(loop, &cs->q_h2_settings, cfg->http2.settings_timeout_ms);
	TAILQ_INIT(&cs->open);
	TAILQ_INIT(&cs->dead);
	cs->n_listeners = cfg->n_listeners;
	cs->n_by_listener = calloc(cs->n_listeners + 1, sizeof(*cs->n_by_listener));
	cs->fresh = calloc(cs->n_listeners + 1, sizeof(*cs->fresh));
	if (cs->n_by_listener == NULL || cs->fresh == NULL)
		return KW_ERR_NOMEM;
	for (size_t i = 0; i < cs->n_listeners; i++)
		TAILQ_INIT(&cs->fresh[i]);
	loop_task_init(&cs->reap, reap);
	loop_task_init(&cs->files_done, files_done);
	static_cache_init(&cs->files);
	cs->metrics = &cs->own_metrics;
	cs->sbuf = malloc(send_buffer_size(record_size));
	return cs->sbuf == NULL ? KW_ERR_NOMEM : 0;
}

void
conns_set_metrics(struct conns *cs, const struct kw_metrics_region *region,
                  struct kw_metrics_worker *slot)
{
	cs->region = region;
	cs->metrics = slot;
}

void
conns_dispose(struct conns *cs, const char *reason)
{
	conns_close_all(cs, reason);
	loop_task_cancel(cs->loop, &cs->reap);
	reap(&cs->reap);
	loop_task_cancel(cs->loop, &cs->files_done);
	static_cache_clear(&cs->files);
	free(cs->sbuf);
	cs->sbuf = NULL;
	free(cs->n_by_listener);
	free(cs->fresh);
	cs->n_by_listener = NULL;
	cs->fresh = NULL;
}

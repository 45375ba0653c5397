/*
 * conn.c - one client connection: reading, the transport, HTTP exchanges in order,
 * response sending (sendfile(2) on plain, bounded record production on toy-TLS),
 * timeouts, lingering close.
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
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "access_log.h"
#include "err.h"
#include "log.h"
#include "signer_client.h"
#include "transport.h"
#include "vhost.h"

#define SEND_BUDGET     (512u * 1024u)   /* bytes sent per connection per event before yielding */
#define SENDFILE_CHUNK  (512u * 1024u)   /* largest sendfile(2) */
#define SEND_IOV        8u               /* pieces per sendmsg(2) */
#define INLINE_FILE_MAX TT_MAX_PLAINTEXT /* plain: file bodies read and sent with the head */

enum conn_state {
	CONN_HANDSHAKE, /* toy-TLS handshake, maybe waiting for the signer */
	CONN_REQUEST,   /* reading a request head; idle keep-alive when none of it came yet */
	CONN_RESPONSE,  /* sending a response while discarding the request body */
	CONN_BODY,      /* response sent, discarding the rest of the request body */
	CONN_LINGER,    /* final response sent and write side shut: draining until EOF */
	CONN_CLOSED,    /* waiting to be freed */
};

/* Outcome of one state step. */
enum step { STEP_WAIT, STEP_NEXT };

/* One request and its response, from the parsed head to the last byte sent. */
struct exchange {
	struct http_request req;
	bool have_req; /* false: the head was refused, req is empty */
	struct http_response resp;
	size_t piece;       /* 0: resp.head, 1 + i: resp.segments[i] */
	uint64_t piece_off; /* bytes of the piece already queued or sent */
	uint64_t body_sent; /* body bytes queued or sent, for the access log */
};

struct conn {
	struct worker_io io;
	struct worker *w;
	struct worker_listener *listener;
	const struct kw_server *server; /* toy-TLS: chosen by server_name; plain: the default */
	TAILQ_ENTRY(conn) link;
	enum conn_state state;
	struct transport *t;
	struct http_parser parser;
	struct exchange *x;    /* while a response is being sent */
	struct http_body body; /* the current request's body framing */
	bool body_done;        /* the current request's body is consumed */
	bool head_bytes;       /* bytes of the next request head arrived */
	bool head_timer;       /* the header timer runs for the next request head */
	bool eof;              /* the peer shut its side */
	bool close_after;      /* no keep-alive after the current response */
	bool signing;          /* waiter is pending */
	unsigned requests;
	struct kw_timer timer;
	struct sign_waiter waiter;
	uint16_t port;
	char addr[INET6_ADDRSTRLEN];
};

static void conn_advance(struct conn *c);

static void
conn_drop(struct conn *c)
{
	struct worker *w = c->w;
	if (c->state == CONN_CLOSED)
		return;
	if (c->x != NULL) {
		access_log_write(w->access_log, c->addr, c->x->have_req ? &c->x->req : NULL,
		                 c->x->resp.status, c->x->body_sent, w->wall);
		http_response_dispose(&c->x->resp);
		free(c->x);
		c->x = NULL;
	}
	if (c->signing)
		sign_proxy_cancel(w->signer, &c->waiter);
	c->signing = false;
	kw_timer_disarm(&c->timer);
	worker_io_forget(&c->io);
	close(c->io.fd);
	c->io.fd = -1;
	c->t->ops->destroy(c->t);
	c->t = NULL;
	http_parser_dispose(&c->parser);
	c->state = CONN_CLOSED;
	TAILQ_REMOVE(&w->conns, c, link);
	TAILQ_INSERT_TAIL(&w->dead, c, link);
	w->n_conns--;
	worker_conn_closed(w);
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

static void
conn_close_transport(struct conn *c, int err)
{
	const char *detail = NULL;
	int terr = c->t->ops->error(c->t, &detail);
	if (terr == 0)
		terr = err;
	conn_close(c, terr == KW_ERR_NOMEM || terr == KW_ERR_INTERNAL ? KW_LOG_ERR : KW_LOG_INFO,
	           "%s: %s%s%s%s", c->t->ops->name, kw_strerror(terr), detail ? " (" : "",
	           detail ? detail : "", detail ? ")" : "");
}

static void
conn_update_events(struct conn *c)
{
	if (c->state == CONN_CLOSED)
		return;
	uint32_t events = 0;
	const bool wire_full = kw_buf_size(c->t->ops->wire(c->t)) > 0;
	switch (c->state) {
	case CONN_HANDSHAKE:
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
	case CONN_CLOSED:
		return;
	}
	if (worker_io_set(c->w, &c->io, events) != 0)
		conn_close(c, KW_LOG_ERR, "cannot watch the socket");
}

/* Writes queued wire bytes. Returns 1 when all went, 0 when the socket is full, -1 closed. */
static int
conn_flush(struct conn *c)
{
	struct kw_buf *wire = c->t->ops->wire(c->t);
	while (kw_buf_size(wire) > 0) {
		ssize_t n = send(c->io.fd, kw_buf_head(wire), kw_buf_size(wire), MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			conn_close(c, KW_LOG_INFO, "write: %s", strerror(errno));
			return -1;
		}
		kw_buf_consume(wire, (size_t)n);
		if (c->state == CONN_RESPONSE)
			kw_timer_arm(&c->timer, &c->w->q_send, c->w->now);
	}
	return 1;
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
	http_parser_init(&c->parser, &c->w->limits);
}

static void
conn_go_idle(struct conn *c)
{
	struct worker *w = c->w;
	if (w->shutting_down) {
		conn_close(c, KW_LOG_INFO, "shutting down");
		return;
	}
	kw_timer_arm(&c->timer, &w->q_keepalive, w->now);
	c->head_timer = false;
	worker_conn_idle(w);
}

/* The header timer starts with the first byte of a head and is not extended after. */
static void
conn_head_started(struct conn *c)
{
	c->head_bytes = true;
	if (!c->head_timer) {
		kw_timer_arm(&c->timer, &c->w->q_header, c->w->now);
		c->head_timer = true;
	}
}

static void
conn_read(struct conn *c)
{
	struct worker *w = c->w;
	ssize_t n = recv(c->io.fd, w->rbuf, sizeof(w->rbuf), 0);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			conn_close(c, KW_LOG_INFO, "read: %s", strerror(errno));
		return;
	}
	if (n == 0) {
		c->eof = true;
		return;
	}
	if (c->state == CONN_LINGER)
		return;
	int err = c->t->ops->feed(c->t, w->rbuf, (size_t)n);
	if (err) {
		conn_close_transport(c, err);
		return;
	}
	if (c->state == CONN_REQUEST)
		conn_head_started(c);
	else if (c->state == CONN_BODY)
		kw_timer_arm(&c->timer, &w->q_body, w->now);
}

static void
conn_on_event(struct worker_io *io, uint32_t events)
{
	struct conn *c = container_of(io, struct conn, io);
	if (c->state == CONN_CLOSED)
		return;
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && (c->io.events & EPOLLIN)) {
		conn_read(c);
		if (c->state == CONN_CLOSED)
			return;
	}
	conn_advance(c);
}

static void
conn_signed(struct sign_waiter *wt, int err, const uint8_t *sig, size_t len)
{
	struct conn *c = container_of(wt, struct conn, waiter);
	c->signing = false;
	if (err) {
		c->t->ops->signature_failed(c->t, err);
		conn_close_transport(c, err);
		return;
	}
	err = c->t->ops->supply_signature(c->t, sig, len);
	if (err) {
		conn_close_transport(c, err);
		return;
	}
	conn_advance(c);
}

static enum step
step_handshake(struct conn *c)
{
	struct worker *w = c->w;
	if (c->t->ops->established(c->t)) {
		c->state = CONN_REQUEST; /* the handshake timer runs until the first request byte */
		return STEP_NEXT;
	}
	if (c->eof) {
		conn_close(c, KW_LOG_INFO, "client closed the connection during the handshake");
		return STEP_WAIT;
	}
	struct tt_sign_request req;
	if (!c->signing && c->t->ops->sign_request(c->t, &req)) {
		sign_proxy_submit(w->signer, &c->waiter, &req);
		c->signing = true;
	}
	conn_flush(c);
	return STEP_WAIT;
}

/* Response pieces: the head, then the segments. */
static size_t
piece_count(const struct exchange *x)
{
	return 1 + x->resp.n_segments;
}

static uint64_t
piece_len(const struct exchange *x, size_t i)
{
	return i == 0 ? kw_buf_size(&x->resp.head) : x->resp.segments[i - 1].len;
}

static bool
piece_in_file(const struct exchange *x, size_t i)
{
	return i > 0 && x->resp.segments[i - 1].from_file;
}

/* Memory of (non-file) piece i from offset off. */
static const uint8_t *
piece_mem_at(const struct exchange *x, size_t i, uint64_t off)
{
	if (i == 0)
		return kw_buf_head(&x->resp.head) + off;
	return x->resp.mem.data + x->resp.segments[i - 1].off + off;
}

/* Memory of the current (non-file) piece from its current offset. */
static const uint8_t *
piece_mem(const struct exchange *x)
{
	return piece_mem_at(x, x->piece, x->piece_off);
}

static bool
piece_is_file(const struct exchange *x)
{
	return piece_in_file(x, x->piece);
}

static bool
cursor_done(const struct exchange *x)
{
	return x->piece >= piece_count(x);
}

/* Moves the cursor n bytes on, across pieces, past any piece that is then complete. */
static void
cursor_advance(struct exchange *x, uint64_t n)
{
	for (;;) {
		while (!cursor_done(x) && x->piece_off == piece_len(x, x->piece)) {
			x->piece++;
			x->piece_off = 0;
		}
		if (n == 0 || cursor_done(x))
			return;
		uint64_t left = piece_len(x, x->piece) - x->piece_off;
		uint64_t take = n < left ? n : left;
		x->piece_off += take;
		if (x->piece > 0)
			x->body_sent += take;
		n -= take;
	}
}

/* File bytes to read into the send buffer: one stretch of the file, spread over records. */
struct file_reads {
	struct iovec iov[SEND_RECORDS];
	size_t n;
	uint64_t off; /* file offset of iov[0] */
	uint64_t end; /* file offset after the last iov */
};

/* Reads the stretch gathered in fr with preadv(2). Returns 0, or -1 (closed). */
static int
file_reads_flush(struct conn *c, struct file_reads *fr)
{
	struct iovec *iov = fr->iov;
	size_t n = fr->n;
	uint64_t off = fr->off;
	fr->n = 0;
	while (n > 0) {
		ssize_t r = preadv(c->x->resp.fd, iov, (int)n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			conn_close(c, KW_LOG_ERR, "reading the file: %s",
			           r < 0 ? strerror(errno) : "it shrank while being sent");
			return -1;
		}
		off += (uint64_t)r;
		for (; n > 0 && (size_t)r >= iov->iov_len; iov++, n--)
			r -= (ssize_t)iov->iov_len;
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

/* Reads len bytes of file piece i from offset off into buf. Returns 0, or -1 (closed). */
static int
read_piece(struct conn *c, size_t i, uint64_t off, uint8_t *buf, size_t len)
{
	struct file_reads fr = {.n = 1, .off = c->x->resp.segments[i - 1].off + off};
	fr.iov[0] = (struct iovec){.iov_base = buf, .iov_len = len};
	return file_reads_flush(c, &fr);
}

/* Plans reading take bytes of the current file piece into p, after what fr already holds. */
static int
file_reads_add(struct conn *c, struct file_reads *fr, uint8_t *p, size_t take)
{
	const struct exchange *x = c->x;
	uint64_t off = x->resp.segments[x->piece - 1].off + x->piece_off;
	if (fr->n > 0 && (fr->end != off || fr->n == SEND_RECORDS) && file_reads_flush(c, fr) < 0)
		return -1;
	if (fr->n == 0)
		fr->off = off;
	fr->iov[fr->n++] = (struct iovec){.iov_base = p, .iov_len = take};
	fr->end = off + take;
	return 0;
}

/*
 * Lays the next records of the response out in the worker's send buffer, each
 * record's plaintext copied or read (preadv) where the record carries it and then
 * protected in place. *len receives the bytes to send. Returns 0, or -1 (closed).
 */
static int
fill_records(struct conn *c, size_t *len)
{
	struct exchange *x = c->x;
	const struct transport_ops *ops = c->t->ops;
	const size_t overhead = ops->record_prefix + ops->record_suffix;
	uint8_t *buf = c->w->sbuf;
	size_t rec_off[SEND_RECORDS], rec_len[SEND_RECORDS];
	size_t n_rec = 0, used = 0;
	struct file_reads fr = {.n = 0};
	for (; !cursor_done(x) && n_rec < SEND_RECORDS; n_rec++) {
		uint8_t *p = buf + used + ops->record_prefix;
		size_t n = 0;
		while (n < TT_MAX_PLAINTEXT && !cursor_done(x)) {
			uint64_t left = piece_len(x, x->piece) - x->piece_off;
			size_t take =
			    left < TT_MAX_PLAINTEXT - n ? (size_t)left : TT_MAX_PLAINTEXT - n;
			if (!piece_is_file(x))
				memcpy(p + n, piece_mem(x), take);
			else if (file_reads_add(c, &fr, p + n, take) < 0)
				return -1;
			cursor_advance(x, take);
			n += take;
		}
		rec_off[n_rec] = used;
		rec_len[n_rec] = n;
		used += overhead + n;
	}
	if (fr.n > 0 && file_reads_flush(c, &fr) < 0)
		return -1;
	for (size_t i = 0; i < n_rec; i++) {
		int err = ops->protect_in_place(c->t, buf + rec_off[i], rec_len[i]);
		if (err) {
			conn_close_transport(c, err);
			return -1;
		}
	}
	*len = used;
	return 0;
}

/* Bytes sent on the socket: the send timer restarts, the budget shrinks. */
static void
conn_sent(struct conn *c, size_t n, size_t *budget)
{
	kw_timer_arm(&c->timer, &c->w->q_send, c->w->now);
	*budget = n < *budget ? *budget - n : 0;
}

/*
 * MSG_MORE when more of the response follows, and also on the end of a response the
 * connection closes after: the kernel then holds its last segment until close(2) or
 * shutdown(2), which conn_linger() calls in the same turn, and sends the FIN in it
 * (one segment and one acknowledgement fewer per connection; a large file sent with
 * sendfile(2) on plain keeps its FIN apart). Data held this way and never followed
 * would wait for the kernel's probe timer (200 ms or more), so a keep-alive
 * response always ends without the flag.
 */
static int
more_flag(const struct conn *c, bool more_follows)
{
	return more_follows || c->close_after ? MSG_MORE : 0;
}

/*
 * Passthrough: the memory pieces from the cursor on, and a file piece small enough
 * for the worker's buffer (read into it), leave in one sendmsg(2); a larger file
 * piece ends the batch and goes with sendfile(2). Returns 1 on progress, 0 when the
 * socket is full, -1 when the connection closed.
 */
static int
send_pieces(struct conn *c, size_t *budget)
{
	struct exchange *x = c->x;
	struct iovec iov[SEND_IOV];
	size_t n_iov = 0;
	bool inlined = false, file_next = false;
	uint64_t off = x->piece_off;
	size_t i = x->piece;
	for (; i < piece_count(x) && n_iov < SEND_IOV; i++, off = 0) {
		size_t left = (size_t)(piece_len(x, i) - off);
		if (piece_in_file(x, i)) {
			file_next = inlined || piece_len(x, i) - off > INLINE_FILE_MAX;
			if (file_next)
				break;
			if (read_piece(c, i, off, c->w->sbuf, left) < 0)
				return -1;
			iov[n_iov++] = (struct iovec){.iov_base = c->w->sbuf, .iov_len = left};
			inlined = true;
		} else {
			iov[n_iov++] = (struct iovec){.iov_base = (void *)piece_mem_at(x, i, off),
			                              .iov_len = left};
		}
	}
	const bool last = !file_next && i == piece_count(x);
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = n_iov};
	ssize_t n = sendmsg(c->io.fd, &msg, MSG_NOSIGNAL | more_flag(c, !last));
	if (n < 0) {
		if (errno == EINTR)
			return 1;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		conn_close(c, KW_LOG_INFO, "write: %s", strerror(errno));
		return -1;
	}
	cursor_advance(x, (uint64_t)n);
	conn_sent(c, (size_t)n, budget);
	return 1;
}

/* Passthrough: sends part of the current file piece. Returns 1 on progress, 0 full, -1 closed. */
static int
send_file(struct conn *c, size_t *budget)
{
	struct exchange *x = c->x;
	const struct http_segment *seg = &x->resp.segments[x->piece - 1];
	uint64_t left = seg->len - x->piece_off;
	size_t want = left < SENDFILE_CHUNK ? (size_t)left : SENDFILE_CHUNK;
	off_t off = (off_t)(seg->off + x->piece_off);
	ssize_t n = sendfile(c->io.fd, x->resp.fd, &off, want);
	if (n < 0) {
		if (errno == EINTR)
			return 1;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		conn_close(c, KW_LOG_INFO, "sendfile: %s", strerror(errno));
		return -1;
	}
	if (n == 0) {
		conn_close(c, KW_LOG_ERR, "sendfile: the file shrank while being sent");
		return -1;
	}
	cursor_advance(x, (uint64_t)n);
	conn_sent(c, (size_t)n, budget);
	return 1;
}

/*
 * Passthrough: memory and small files by sendmsg(2), large files by sendfile(2).
 * Returns 1 when all of the response is sent, 0 when waiting for the socket (or
 * yielding to other connections), -1 when the connection closed.
 */
static int
send_plain(struct conn *c)
{
	struct exchange *x = c->x;
	size_t budget = SEND_BUDGET;
	while (!cursor_done(x)) {
		const bool big_file =
		    piece_is_file(x) && piece_len(x, x->piece) - x->piece_off > INLINE_FILE_MAX;
		int rc = big_file ? send_file(c, &budget) : send_pieces(c, &budget);
		if (rc <= 0)
			return rc;
		if (budget == 0 && !cursor_done(x))
			return 0;
	}
	return 1;
}

/*
 * Sends buf[0, len) (records laid out in the send buffer); what the socket does not
 * take now waits in the transport's wire buffer. Returns 1 when all went, 0 when the
 * socket is full, -1 when the connection closed.
 */
static int
send_chunk(struct conn *c, const uint8_t *buf, size_t len, size_t *budget)
{
	const int more = more_flag(c, !cursor_done(c->x));
	ssize_t n;
	do
		n = send(c->io.fd, buf, len, MSG_NOSIGNAL | more);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
		conn_close(c, KW_LOG_INFO, "write: %s", strerror(errno));
		return -1;
	}
	size_t sent = n > 0 ? (size_t)n : 0;
	if (sent > 0)
		conn_sent(c, sent, budget);
	if (sent == len)
		return 1;
	if (kw_buf_append(c->t->ops->wire(c->t), buf + sent, len - sent) != 0) {
		conn_close(c, KW_LOG_ERR, "out of memory");
		return -1;
	}
	return 0;
}

/*
 * Protected transports: records made in the worker's send buffer, sent from there.
 * Returns 1 when all of the response is sent, 0 when waiting for the socket (or
 * yielding to other connections), -1 when the connection closed.
 */
static int
send_records(struct conn *c)
{
	struct exchange *x = c->x;
	struct kw_buf *wire = c->t->ops->wire(c->t);
	size_t budget = SEND_BUDGET;

	for (;;) {
		size_t queued = kw_buf_size(wire);
		if (queued > 0) {
			int rc = conn_flush(c);
			if (rc <= 0)
				return rc;
			budget = queued < budget ? budget - queued : 0;
		}
		if (cursor_done(x))
			return 1;
		if (budget == 0)
			return 0;
		size_t len;
		if (fill_records(c, &len) < 0)
			return -1;
		int rc = send_chunk(c, c->w->sbuf, len, &budget);
		if (rc <= 0)
			return rc;
	}
}

static int
send_response(struct conn *c)
{
	return c->t->ops->passthrough ? send_plain(c) : send_records(c);
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
	struct worker *w = c->w;
	if (kw_log_enabled(KW_LOG_INFO)) {
		char reason[64];
		snprintf(reason, sizeof(reason), "closed after a %d response", status);
		conn_log_close(c, KW_LOG_INFO, reason);
	}
	if (!conn_peer_sending(c) || shutdown(c->io.fd, SHUT_WR) < 0) {
		conn_drop(c);
		return;
	}
	c->state = CONN_LINGER;
	kw_timer_arm(&c->timer, &w->q_linger, w->now);
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
	x->piece = 0;
	x->piece_off = 0;
	cursor_advance(x, 0);
	kw_timer_arm(&c->timer, &c->w->q_send, c->w->now);
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
	x->body_sent = 0;
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
	http_error_response(status, NULL, c->w->wall, &x->resp);
	conn_respond(c, x);
}

/*
 * The server block that answers req: the one its Host names among the listener's,
 * else the default. On toy-TLS it must be the block whose certificate the handshake
 * sent (chosen by server_name, or the default without one): NULL otherwise (421).
 */
static const struct kw_server *
conn_route(const struct conn *c, const struct http_request *req)
{
	if (req->host == NULL)
		return c->server;
	const struct kw_server *srv =
	    vhost_select(c->w->cfg, c->listener->index, req->host, vhost_host_len(req->host));
	return srv == c->server || !c->listener->cfg->tls ? srv : NULL;
}

static void
conn_serve(struct conn *c, const struct http_request *req)
{
	struct worker *w = c->w;
	const struct kw_config *cfg = w->cfg;
	struct exchange *x = exchange_new(c);
	if (x == NULL)
		return;
	x->req = *req;
	x->have_req = true;
	c->requests++;
	if (w->shutting_down || cfg->http.keepalive_timeout_ms == 0 ||
	    (cfg->http.keepalive_requests != 0 && c->requests >= cfg->http.keepalive_requests))
		x->req.keep_alive = false;
	if (!x->req.keep_alive)
		c->close_after = true;
	http_body_init(&c->body, &x->req, cfg->http.max_body_size);
	c->body_done = !x->req.body_chunked && x->req.content_length == 0;
	const struct kw_server *srv = conn_route(c, &x->req);
	if (srv != NULL)
		static_respond_cached(cfg, srv, w->mime, &x->req, w->wall, &w->files, &x->resp);
	else
		http_error_response(421, &x->req, w->wall, &x->resp);
	conn_respond(c, x);
}

/* Waiting for a request head with nothing of it received (and nothing left to send). */
static void
conn_waiting(struct conn *c, int flushed)
{
	if (c->eof)
		conn_close(c, KW_LOG_INFO,
		           c->head_bytes ? "client closed mid-request"
		                         : "client closed the connection");
	else if (flushed == 1 && !c->head_bytes)
		conn_shrink(c);
}

static enum step
step_request(struct conn *c)
{
	int flushed = conn_flush(c);
	if (flushed < 0)
		return STEP_WAIT;
	struct kw_buf *in = c->t->ops->plaintext(c->t);
	if (kw_buf_size(in) == 0) {
		conn_waiting(c, flushed);
		return STEP_WAIT;
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
	struct worker *w = c->w;
	struct exchange *x = c->x;
	const int status = x->resp.status;
	access_log_write(w->access_log, c->addr, x->have_req ? &x->req : NULL, status, x->body_sent,
	                 w->wall);
	http_response_dispose(&x->resp);
	free(x);
	c->x = NULL;
	if (c->close_after) {
		conn_linger(c, status);
		return STEP_WAIT;
	}
	if (!c->body_done) {
		c->state = CONN_BODY;
		kw_timer_arm(&c->timer, &w->q_body, w->now);
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
	int rc = send_response(c);
	if (rc <= 0)
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

static void
conn_advance(struct conn *c)
{
	for (;;) {
		enum step s = STEP_WAIT;
		switch (c->state) {
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
		case CONN_CLOSED:
			return;
		}
		if (s == STEP_WAIT)
			break;
	}
	conn_update_events(c);
}

static void
conn_timeout(struct kw_timer *t)
{
	struct conn *c = container_of(t, struct conn, timer);
	switch (c->state) {
	case CONN_HANDSHAKE:
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

/* toy-TLS: the server_name (NULL: none sent) picks the block and so its identity. */
static const struct tt_identity *
conn_select_identity(void *arg, const char *server_name)
{
	struct conn *c = arg;
	const struct kw_config *cfg = c->w->cfg;
	c->server = vhost_select(cfg, c->listener->index, server_name,
	                         server_name != NULL ? strlen(server_name) : 0);
	kw_log_debug("conn_select_identity: server_name %s%s%s: server at line %d",
	             server_name ? "\"" : "", server_name ? server_name : "none",
	             server_name ? "\"" : "", c->server->line);
	return &c->w->identities[c->server - cfg->servers].id;
}

int
conn_accept(struct worker *w, struct worker_listener *l, int fd, const struct sockaddr *peer,
            socklen_t peer_len)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		kw_log_err("conn_accept: out of memory");
		close(fd);
		return KW_ERR_NOMEM;
	}
	struct tt_server_params tls = {.select_identity = conn_select_identity,
	                               .select_arg = c,
	                               .nonce_fn = tt_nonce_pool_take,
	                               .nonce_arg = &w->nonces,
	                               .kex = &w->kex};
	c->t = l->cfg->tls ? transport_toytls_new(&tls) : transport_plain_new();
	if (c->t == NULL) {
		kw_log_err("conn_accept: out of memory");
		close(fd);
		free(c);
		return KW_ERR_NOMEM;
	}
	c->w = w;
	c->listener = l;
	c->server = l->server;
	c->io = (struct worker_io){.fd = fd, .on_event = conn_on_event};
	format_peer(c, peer, peer_len);
	http_parser_init(&c->parser, &w->limits);
	sign_waiter_init(&c->waiter, conn_signed);
	kw_timer_init(&c->timer, conn_timeout);
	c->body_done = true;
	TAILQ_INSERT_TAIL(&w->conns, c, link);
	w->n_conns++;
	if (l->cfg->tls) {
		c->state = CONN_HANDSHAKE;
		kw_timer_arm(&c->timer, &w->q_handshake, w->now);
	} else {
		c->state = CONN_REQUEST;
		c->head_timer = true;
		kw_timer_arm(&c->timer, &w->q_header, w->now);
	}
	if (worker_io_add(w, &c->io, EPOLLIN) != 0) {
		conn_close(c, KW_LOG_ERR, "cannot watch the socket");
		return KW_ERR_INTERNAL;
	}
	conn_on_event(&c->io, EPOLLIN); /* the first bytes often came with the connection */
	return 0;
}

bool
conn_close_oldest_idle(struct worker *w)
{
	struct kw_timer *t = kw_timer_queue_first(&w->q_keepalive);
	if (t == NULL)
		return false;
	conn_close(container_of(t, struct conn, timer), KW_LOG_INFO,
	           "idle connection closed to make room");
	return true;
}

void
conn_shutdown_idle(struct worker *w)
{
	struct kw_timer *t;
	while ((t = kw_timer_queue_first(&w->q_keepalive)) != NULL)
		conn_close(container_of(t, struct conn, timer), KW_LOG_INFO, "shutting down");
}

void
conn_close_all(struct worker *w, const char *reason)
{
	struct conn *c;
	while ((c = TAILQ_FIRST(&w->conns)) != NULL)
		conn_close(c, KW_LOG_INFO, "%s", reason);
}

void
conn_free_dead(struct worker *w)
{
	struct conn *c;
	while ((c = TAILQ_FIRST(&w->dead)) != NULL) {
		TAILQ_REMOVE(&w->dead, c, link);
		free(c);
	}
}

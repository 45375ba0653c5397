/*
 * send.c - the sending engine (see send.h).
 */
#include "send.h"

#include <errno.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "err.h"

#define SENDFILE_CHUNK (512u * 1024u) /* largest sendfile(2) */
#define SEND_IOV       8u             /* pieces per sendmsg(2) */

/* Fails the call: the caller logs why at level and closes. Returns SEND_ERROR. */
static enum send_status
send_fail(struct sender *s, enum kw_log_level level, const char *what, const char *why)
{
	s->err = (struct send_error){.level = level, .what = what, .why = why};
	return SEND_ERROR;
}

/* Response pieces: the head, then the segments, then the generated body if any. */
static size_t
piece_count(const struct http_response *r)
{
	return 1 + r->n_segments + (body_producer_present(&r->producer) ? 1 : 0);
}

static bool
piece_generated(const struct http_response *r, size_t i)
{
	return i == 1 + r->n_segments && body_producer_present(&r->producer);
}

static uint64_t
piece_len(const struct http_response *r, size_t i)
{
	return i == 0 ? kw_buf_size(&r->head) : r->segments[i - 1].len;
}

static bool
piece_in_file(const struct http_response *r, size_t i)
{
	return i > 0 && r->segments[i - 1].from_file;
}

/* Memory of (non-file) piece i from offset off. */
static const uint8_t *
piece_mem_at(const struct http_response *r, size_t i, uint64_t off)
{
	if (i == 0)
		return kw_buf_head(&r->head) + off;
	return r->mem.data + r->segments[i - 1].off + off;
}

static bool
cursor_done(const struct http_response *r, const struct send_cursor *cur)
{
	return cur->piece >= piece_count(r);
}

static bool
piece_complete(const struct http_response *r, const struct send_cursor *cur)
{
	if (piece_generated(r, cur->piece))
		return cur->gen_ended;
	return cur->piece_off == piece_len(r, cur->piece);
}

/*
 * Moves the cursor n bytes on, across pieces, past any piece that is then complete.
 * The bytes of a generated body are never counted here: n stops short of it.
 */
static void
cursor_advance(const struct http_response *r, struct send_cursor *cur, uint64_t n)
{
	for (;;) {
		while (!cursor_done(r, cur) && piece_complete(r, cur)) {
			cur->piece++;
			cur->piece_off = 0;
		}
		if (n == 0 || cursor_done(r, cur))
			return;
		uint64_t left = piece_len(r, cur->piece) - cur->piece_off;
		uint64_t take = n < left ? n : left;
		cur->piece_off += take;
		if (cur->piece > 0)
			cur->body_sent += take;
		n -= take;
	}
}

void
send_cursor_start(struct send_cursor *cur, const struct http_response *resp)
{
	cur->piece = 0;
	cur->piece_off = 0;
	cur->gen_ended = false;
	cursor_advance(resp, cur, 0);
}

/* Bytes the socket took: counted, and the budget shrinks. */
static void
sent(struct sender *s, size_t n, size_t *budget)
{
	s->sent += n;
	*budget = n < *budget ? *budget - n : 0;
}

enum send_status
send_wire(struct sender *s)
{
	struct kw_buf *wire = s->t->ops->wire(s->t);
	while (kw_buf_size(wire) > 0) {
		ssize_t n = send(s->fd, kw_buf_head(wire), kw_buf_size(wire), MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return SEND_WAIT;
			return send_fail(s, KW_LOG_INFO, "write", strerror(errno));
		}
		kw_buf_consume(wire, (size_t)n);
		s->sent += (size_t)n;
	}
	return SEND_DONE;
}

/* File bytes to read into the send buffer: one stretch of the file, spread over records. */
struct file_reads {
	struct iovec iov[SEND_RECORDS];
	size_t n;
	uint64_t off; /* file offset of iov[0] */
	uint64_t end; /* file offset after the last iov */
};

/* Reads the stretch gathered in fr with preadv(2). */
static enum send_status
file_reads_flush(struct sender *s, int fd, struct file_reads *fr)
{
	struct iovec *iov = fr->iov;
	size_t n = fr->n;
	uint64_t off = fr->off;
	fr->n = 0;
	while (n > 0) {
		ssize_t r = preadv(fd, iov, (int)n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return send_fail(s, KW_LOG_ERR, "reading the file",
			                 r < 0 ? strerror(errno) : "it shrank while being sent");
		off += (uint64_t)r;
		for (; n > 0 && (size_t)r >= iov->iov_len; iov++, n--)
			r -= (ssize_t)iov->iov_len;
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return SEND_DONE;
}

/* Reads len bytes of file piece i from offset off into buf. */
static enum send_status
read_piece(struct sender *s, const struct http_response *r, size_t i, uint64_t off, uint8_t *buf,
           size_t len)
{
	struct file_reads fr = {.n = 1, .off = r->segments[i - 1].off + off};
	fr.iov[0] = (struct iovec){.iov_base = buf, .iov_len = len};
	return file_reads_flush(s, r->fd, &fr);
}

/* Plans reading take bytes of the current file piece into p, after what fr already holds. */
static enum send_status
file_reads_add(struct sender *s, const struct http_response *r, const struct send_cursor *cur,
               struct file_reads *fr, uint8_t *p, size_t take)
{
	uint64_t off = r->segments[cur->piece - 1].off + cur->piece_off;
	if (fr->n > 0 && (fr->end != off || fr->n == SEND_RECORDS) &&
	    file_reads_flush(s, r->fd, fr) != SEND_DONE)
		return SEND_ERROR;
	if (fr->n == 0)
		fr->off = off;
	fr->iov[fr->n++] = (struct iovec){.iov_base = p, .iov_len = take};
	fr->end = off + take;
	return SEND_DONE;
}

/* Protects the records laid out at off[i] with len[i] bytes of plaintext each (passthrough: as
 * they are). */
static enum send_status
protect_records(struct sender *s, const size_t *off, const size_t *len, size_t n)
{
	for (size_t i = 0; i < n && !s->t->ops->passthrough; i++) {
		int err = s->t->ops->protect_in_place(s->t, s->buf + off[i], len[i]);
		if (err) {
			s->err = (struct send_error){.level = KW_LOG_INFO, .transport_err = err};
			return SEND_ERROR;
		}
	}
	return SEND_DONE;
}

/*
 * Lays the next records of the response out in the send buffer, each record's
 * plaintext copied or read (preadv) where the record carries it and then protected in
 * place. *len receives the bytes to send.
 */
static enum send_status
fill_records(struct sender *s, const struct http_response *r, struct send_cursor *cur, size_t *len)
{
	const struct transport_ops *ops = s->t->ops;
	const size_t overhead = ops->record_prefix + ops->record_suffix;
	const size_t max = ops->record_max;
	size_t rec_off[SEND_RECORDS], rec_len[SEND_RECORDS];
	size_t n_rec = 0, used = 0;
	struct file_reads fr = {.n = 0};
	for (; !cursor_done(r, cur) && !piece_generated(r, cur->piece) && n_rec < SEND_RECORDS;
	     n_rec++) {
		uint8_t *p = s->buf + used + ops->record_prefix;
		size_t n = 0;
		while (n < max && !cursor_done(r, cur) && !piece_generated(r, cur->piece)) {
			uint64_t left = piece_len(r, cur->piece) - cur->piece_off;
			size_t take = left < max - n ? (size_t)left : max - n;
			if (!piece_in_file(r, cur->piece))
				memcpy(p + n, piece_mem_at(r, cur->piece, cur->piece_off), take);
			else if (file_reads_add(s, r, cur, &fr, p + n, take) != SEND_DONE)
				return SEND_ERROR;
			cursor_advance(r, cur, take);
			n += take;
		}
		rec_off[n_rec] = used;
		rec_len[n_rec] = n;
		used += overhead + n;
	}
	if (fr.n > 0 && file_reads_flush(s, r->fd, &fr) != SEND_DONE)
		return SEND_ERROR;
	*len = used;
	return protect_records(s, rec_off, rec_len, n_rec);
}

/*
 * Lays the next steps of the generated body out in the send buffer, one record each
 * (a step that made no byte takes none), framed as chunks when r->chunked, then
 * protected in place. *len receives the bytes to send (0: no step made any).
 */
static enum send_status
fill_generated(struct sender *s, const struct http_response *r, struct send_cursor *cur,
               size_t *len)
{
	const struct transport_ops *ops = s->t->ops;
	struct body_producer *p = (struct body_producer *)&r->producer;
	size_t rec_off[SEND_RECORDS], rec_len[SEND_RECORDS];
	size_t n_rec = 0, used = 0;
	for (size_t step = 0; step < SEND_RECORDS && !cur->gen_ended; step++) {
		uint8_t *at = s->buf + used + ops->record_prefix;
		size_t n, data;
		int err = r->chunked
		              ? body_producer_fill_chunked(p, at, ops->record_max, &n, &data,
		                                           &cur->gen_ended)
		              : body_producer_fill_raw(p, at, ops->record_max, &n, &cur->gen_ended);
		if (err)
			return send_fail(s, KW_LOG_ERR, "making the body",
			                 err == KW_ERR_NOMEM ? "out of memory"
			                                     : "the producer failed");
		cur->body_sent += r->chunked ? data : n;
		if (n == 0)
			continue;
		rec_off[n_rec] = used;
		rec_len[n_rec++] = n;
		used += ops->record_prefix + n + ops->record_suffix;
	}
	cursor_advance(r, cur, 0);
	*len = used;
	return protect_records(s, rec_off, rec_len, n_rec);
}

/*
 * MSG_MORE when more of the response follows, and also on the end of a response the
 * connection closes after: the kernel then holds its last segment until close(2) or
 * shutdown(2), which the connection's lingering close calls in the same turn, and
 * sends the FIN in it (one segment and one acknowledgement fewer per connection; a
 * large file sent with sendfile(2) on plain keeps its FIN apart). Data held this way
 * and never followed would wait for the kernel's probe timer (200 ms or more), so a
 * keep-alive response always ends without the flag.
 */
static int
more_flag(const struct sender *s, bool more_follows)
{
	return more_follows || s->close_after ? MSG_MORE : 0;
}

/*
 * Passthrough: the memory pieces from the cursor on, and a file piece small enough
 * for the send buffer (read into it), leave in one sendmsg(2); a larger file piece
 * ends the batch and goes with sendfile(2).
 */
static enum send_status
send_pieces(struct sender *s, const struct http_response *r, struct send_cursor *cur,
            size_t *budget)
{
	struct iovec iov[SEND_IOV];
	size_t n_iov = 0;
	bool inlined = false, file_next = false;
	uint64_t off = cur->piece_off;
	size_t i = cur->piece;
	for (; i < piece_count(r) && !piece_generated(r, i) && n_iov < SEND_IOV; i++, off = 0) {
		size_t left = (size_t)(piece_len(r, i) - off);
		if (piece_in_file(r, i)) {
			file_next = inlined || piece_len(r, i) - off > s->t->ops->record_max;
			if (file_next)
				break;
			if (read_piece(s, r, i, off, s->buf, left) != SEND_DONE)
				return SEND_ERROR;
			iov[n_iov++] = (struct iovec){.iov_base = s->buf, .iov_len = left};
			inlined = true;
		} else {
			iov[n_iov++] = (struct iovec){.iov_base = (void *)piece_mem_at(r, i, off),
			                              .iov_len = left};
		}
	}
	const bool last = !file_next && i == piece_count(r);
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = n_iov};
	ssize_t n = sendmsg(s->fd, &msg, MSG_NOSIGNAL | more_flag(s, !last));
	if (n < 0) {
		if (errno == EINTR)
			return SEND_DONE;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return SEND_WAIT;
		return send_fail(s, KW_LOG_INFO, "write", strerror(errno));
	}
	cursor_advance(r, cur, (uint64_t)n);
	sent(s, (size_t)n, budget);
	return SEND_DONE;
}

/* Passthrough: sends part of the current file piece. */
static enum send_status
send_file(struct sender *s, const struct http_response *r, struct send_cursor *cur, size_t *budget)
{
	const struct http_segment *seg = &r->segments[cur->piece - 1];
	uint64_t left = seg->len - cur->piece_off;
	size_t want = left < SENDFILE_CHUNK ? (size_t)left : SENDFILE_CHUNK;
	off_t off = (off_t)(seg->off + cur->piece_off);
	ssize_t n = sendfile(s->fd, r->fd, &off, want);
	if (n < 0) {
		if (errno == EINTR)
			return SEND_DONE;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return SEND_WAIT;
		return send_fail(s, KW_LOG_INFO, "sendfile", strerror(errno));
	}
	if (n == 0)
		return send_fail(s, KW_LOG_ERR, "sendfile", "the file shrank while being sent");
	cursor_advance(r, cur, (uint64_t)n);
	sent(s, (size_t)n, budget);
	return SEND_DONE;
}

/*
 * Sends buf[0, len) (records laid out in the send buffer); what the socket does not
 * take now waits in the transport's wire buffer (SEND_WAIT).
 */
static enum send_status
send_chunk(struct sender *s, const uint8_t *buf, size_t len, bool more, size_t *budget)
{
	ssize_t n;
	do
		n = send(s->fd, buf, len, MSG_NOSIGNAL | more_flag(s, more));
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
		return send_fail(s, KW_LOG_INFO, "write", strerror(errno));
	size_t done = n > 0 ? (size_t)n : 0;
	if (done > 0)
		sent(s, done, budget);
	if (done == len)
		return SEND_DONE;
	if (kw_buf_append(s->t->ops->wire(s->t), buf + done, len - done) != 0)
		return send_fail(s, KW_LOG_ERR, NULL, "out of memory");
	return SEND_WAIT;
}

/* Protected transports: the next records of the response, made in the send buffer and sent. */
static enum send_status
send_records(struct sender *s, const struct http_response *r, struct send_cursor *cur,
             size_t *budget)
{
	size_t len;
	if (fill_records(s, r, cur, &len) != SEND_DONE)
		return SEND_ERROR;
	return send_chunk(s, s->buf, len, !cursor_done(r, cur), budget);
}

/*
 * The next steps of the generated body, made in the send buffer and sent; then the
 * call yields (SEND_WAIT) until the body has ended: the work of one call is bounded by
 * SEND_RECORDS steps, each bounded by its producer.
 */
static enum send_status
send_generated(struct sender *s, const struct http_response *r, struct send_cursor *cur,
               size_t *budget)
{
	size_t len;
	if (fill_generated(s, r, cur, &len) != SEND_DONE)
		return SEND_ERROR;
	enum send_status st = SEND_DONE;
	if (len > 0)
		st = send_chunk(s, s->buf, len, !cursor_done(r, cur), budget);
	return st == SEND_DONE && !cursor_done(r, cur) ? SEND_WAIT : st;
}

/*
 * Until the response is out or the budget spent: first what waits in the wire
 * buffer, then the next pieces. Passthrough transports send memory and small files
 * by sendmsg(2) and large files by sendfile(2); the others make records.
 */
enum send_status
send_response(struct sender *s, const struct http_response *r, struct send_cursor *cur)
{
	struct kw_buf *wire = s->t->ops->wire(s->t);
	size_t budget = SEND_BUDGET;

	for (;;) {
		size_t queued = kw_buf_size(wire);
		if (queued > 0) {
			enum send_status st = send_wire(s);
			if (st != SEND_DONE)
				return st;
			budget = queued < budget ? budget - queued : 0;
		}
		if (cursor_done(r, cur))
			return SEND_DONE;
		if (budget == 0)
			return SEND_WAIT;
		enum send_status st;
		if (piece_generated(r, cur->piece))
			st = send_generated(s, r, cur, &budget);
		else if (!s->t->ops->passthrough)
			st = send_records(s, r, cur, &budget);
		else if (piece_in_file(r, cur->piece) &&
		         piece_len(r, cur->piece) - cur->piece_off > s->t->ops->record_max)
			st = send_file(s, r, cur, &budget);
		else
			st = send_pieces(s, r, cur, &budget);
		if (st != SEND_DONE)
			return st;
	}
}

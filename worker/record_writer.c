/*
 * record_writer.c - plaintext written as a stream into records (see record_writer.h).
 */
#include "record_writer.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "err.h"

static size_t
record_span(const struct transport_ops *ops)
{
	return ops->record_prefix + ops->record_max + ops->record_suffix;
}

static int
writer_fail(struct record_writer *w, enum kw_log_level level, const char *what, const char *why,
            int transport_err)
{
	w->s->err = (struct send_error){
	    .level = level, .what = what, .why = why, .transport_err = transport_err};
	w->failed = SEND_ERROR;
	return SEND_ERROR;
}

void
record_writer_start(struct record_writer *w, struct sender *s)
{
	*w = (struct record_writer){.s = s, .budget = SEND_BUDGET, .failed = SEND_DONE};
	w->blocked = kw_buf_size(s->t->ops->wire(s->t)) > 0;
}

bool
record_writer_can_write(const struct record_writer *w)
{
	return !w->blocked && w->budget > 0 && w->failed != SEND_ERROR;
}

/* Protects the open record in place; it then counts as laid out. */
static int
close_record(struct record_writer *w)
{
	const struct transport_ops *ops = w->s->t->ops;
	if (w->fill == 0)
		return 0;
	int err = ops->protect_in_place(w->s->t, w->s->buf + w->used, w->fill);
	if (err)
		return writer_fail(w, KW_LOG_INFO, NULL, NULL, err);
	w->used += ops->record_prefix + w->fill + ops->record_suffix;
	w->fill = 0;
	return 0;
}

enum send_status
record_writer_flush(struct record_writer *w)
{
	if (w->failed == SEND_ERROR || close_record(w) != 0)
		return SEND_ERROR;
	struct kw_buf *wire = w->s->t->ops->wire(w->s->t);
	size_t done = 0;
	if (w->used > 0 && !w->blocked) {
		ssize_t n;
		do
			n = send(w->s->fd, w->s->buf, w->used, MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return (enum send_status)writer_fail(w, KW_LOG_INFO, "write",
			                                     strerror(errno), 0);
		done = n > 0 ? (size_t)n : 0;
		w->s->sent += done;
		w->budget = done < w->budget ? w->budget - done : 0;
	}
	if (done < w->used) {
		if (kw_buf_append(wire, w->s->buf + done, w->used - done) != 0)
			return (enum send_status)writer_fail(w, KW_LOG_ERR, NULL, "out of memory",
			                                     0);
		w->blocked = true;
	}
	w->used = 0;
	return w->blocked ? SEND_WAIT : SEND_DONE;
}

/* Room in the open record, opening one (and flushing a full buffer) as needed. */
static uint8_t *
space(struct record_writer *w, size_t *room)
{
	const struct transport_ops *ops = w->s->t->ops;
	if (w->fill == ops->record_max && close_record(w) != 0)
		return NULL;
	if (w->fill == 0 && w->used + record_span(ops) > SEND_RECORDS * record_span(ops) &&
	    record_writer_flush(w) == SEND_ERROR)
		return NULL;
	*room = ops->record_max - w->fill;
	return w->s->buf + w->used + ops->record_prefix + w->fill;
}

int
record_writer_put(struct record_writer *w, const void *p, size_t len)
{
	const uint8_t *src = p;
	while (len > 0) {
		size_t room;
		uint8_t *dst = space(w, &room);
		if (dst == NULL)
			return SEND_ERROR;
		size_t take = len < room ? len : room;
		memcpy(dst, src, take);
		w->fill += take;
		src += take;
		len -= take;
	}
	return 0;
}

/* Plaintext bytes the buffer still takes without a flush. */
static size_t
capacity(const struct record_writer *w)
{
	const struct transport_ops *ops = w->s->t->ops;
	size_t records = SEND_RECORDS - w->used / record_span(ops);
	return records * ops->record_max - w->fill;
}

/* Reads len bytes (at most capacity()) into the records, one preadv(2). */
static int
read_in_place(struct record_writer *w, int fd, uint64_t off, size_t len)
{
	const struct transport_ops *ops = w->s->t->ops;
	struct iovec iov[SEND_RECORDS];
	size_t n_iov = 0, pos = w->used + ops->record_prefix + w->fill,
	       room = ops->record_max - w->fill;
	for (size_t left = len; left > 0; n_iov++) {
		if (room == 0) {
			pos += ops->record_suffix + ops->record_prefix;
			room = ops->record_max;
		}
		size_t take = left < room ? left : room;
		iov[n_iov] = (struct iovec){.iov_base = w->s->buf + pos, .iov_len = take};
		pos += take;
		room -= take;
		left -= take;
	}
	struct iovec *v = iov;
	for (size_t got = 0; got < len;) {
		ssize_t r = preadv(fd, v, (int)n_iov, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return writer_fail(w, KW_LOG_ERR, "reading the file",
			                   r < 0 ? strerror(errno) : "it shrank while being sent",
			                   0);
		got += (size_t)r;
		for (; n_iov > 0 && (size_t)r >= v->iov_len; v++, n_iov--)
			r -= (ssize_t)v->iov_len;
		if (n_iov > 0) {
			v->iov_base = (uint8_t *)v->iov_base + r;
			v->iov_len -= (size_t)r;
		}
	}
	/* the bytes now lie where put() would have copied them: account for them alike */
	for (size_t left = len; left > 0;) {
		size_t room2;
		if (space(w, &room2) == NULL)
			return SEND_ERROR;
		size_t take = left < room2 ? left : room2;
		w->fill += take;
		left -= take;
	}
	return 0;
}

int
record_writer_read(struct record_writer *w, int fd, uint64_t off, size_t len)
{
	while (len > 0) {
		if (capacity(w) == 0 && record_writer_flush(w) == SEND_ERROR)
			return SEND_ERROR;
		size_t take = len < capacity(w) ? len : capacity(w);
		if (read_in_place(w, fd, off, take) != 0)
			return SEND_ERROR;
		off += take;
		len -= take;
	}
	return 0;
}

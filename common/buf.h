/*
 * buf.h - a growable byte buffer with a read position.
 *
 * Bytes live in data[off, len). Appending grows the allocation; consuming moves
 * off, and the buffer compacts itself when that pays. A buffer that may have held
 * secrets is released with kw_buf_dispose(), which cleanses it first.
 */
#ifndef KW_BUF_H
#define KW_BUF_H

#include <stddef.h>
#include <stdint.h>

struct kw_buf {
	uint8_t *data;
	size_t off; /* first unread byte */
	size_t len; /* one past the last byte */
	size_t cap; /* allocated size */
};

/** Number of unread bytes. */
static inline size_t
kw_buf_size(const struct kw_buf *b)
{
	return b->len - b->off;
}

/** Pointer to the first unread byte (may be NULL when the buffer is empty). */
static inline uint8_t *
kw_buf_head(const struct kw_buf *b)
{
	return b->data ? b->data + b->off : NULL;
}

/** Makes room for at least n more bytes at the tail. Returns 0 or KW_ERR_NOMEM. */
int kw_buf_reserve(struct kw_buf *b, size_t n);

/** Appends n bytes. Returns 0 or KW_ERR_NOMEM (the buffer is unchanged then). */
int kw_buf_append(struct kw_buf *b, const void *p, size_t n);

/** Pointer to the writable tail after kw_buf_reserve(); commit with kw_buf_commit(). */
static inline uint8_t *
kw_buf_tail(const struct kw_buf *b)
{
	return b->data + b->len;
}

/** Marks n bytes written at the tail as part of the buffer. */
static inline void
kw_buf_commit(struct kw_buf *b, size_t n)
{
	b->len += n;
}

/** Drops n unread bytes from the head (n <= kw_buf_size()). */
void kw_buf_consume(struct kw_buf *b, size_t n);

/** Forgets the contents but keeps the allocation. */
void kw_buf_reset(struct kw_buf *b);

/** Frees the allocation; the buffer is empty and reusable afterwards. */
void kw_buf_free(struct kw_buf *b);

/** Cleanses the whole allocation, then frees it, for buffers that held secrets. */
void kw_buf_dispose(struct kw_buf *b);

#endif

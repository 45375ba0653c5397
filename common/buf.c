#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "err.h"

int
kw_buf_reserve(struct kw_buf *b, size_t n)
{
	if (b->cap - b->len >= n)
		return 0;
	if (b->off > 0 && b->cap - kw_buf_size(b) >= n) {
		memmove(b->data, b->data + b->off, kw_buf_size(b));
		b->len -= b->off;
		b->off = 0;
		return 0;
	}
	size_t need = kw_buf_size(b) + n;
	if (need < n)
		return KW_ERR_NOMEM;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need) {
		if (cap > SIZE_MAX / 2)
			return KW_ERR_NOMEM;
		cap *= 2;
	}
	uint8_t *p = malloc(cap);
	if (p == NULL)
		return KW_ERR_NOMEM;
	if (b->data != NULL) {
		memcpy(p, b->data + b->off, kw_buf_size(b));
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	}
	b->len -= b->off;
	b->off = 0;
	b->data = p;
	b->cap = cap;
	return 0;
}

int
kw_buf_append(struct kw_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	int err = kw_buf_reserve(b, n);
	if (err)
		return err;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void
kw_buf_consume(struct kw_buf *b, size_t n)
{
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
}

void
kw_buf_reset(struct kw_buf *b)
{
	b->off = b->len = 0;
}

void
kw_buf_free(struct kw_buf *b)
{
	free(b->data);
	*b = (struct kw_buf){0};
}

void
kw_buf_dispose(struct kw_buf *b)
{
	if (b->data != NULL)
		OPENSSL_cleanse(b->data, b->cap);
	kw_buf_free(b);
}

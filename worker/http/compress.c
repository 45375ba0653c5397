/*
 * compress.c - gzip (zlib) and brotli (libbrotli) body producers over a file. Each
 * step reads at most one COMPRESS_INPUT stretch of the file, compresses it into the
 * caller's buffer, and returns: output the encoder holds back stays in its state
 * for the next step. The encoders allocate through hooks that count their bytes.
 */
#include "compress.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <brotli/encode.h>
#include <zlib.h>

#include "err.h"

#define GZIP_WINDOW_BITS 15 /* 32 KiB window; +16 asks zlib for the gzip wrapper */
#define GZIP_MEM_LEVEL   8
#define BROTLI_LGWIN     16 /* 64 KiB window */

struct compressor {
	enum compress_coding coding;
	int fd;
	uint64_t size, off; /* the file's length, and how much of it was read */
	struct compress_limit *lim;
	size_t mem, peak; /* bytes the encoder holds now, and at most */
	size_t in_pos, in_len;
	z_stream z; /* gzip */
	BrotliEncoderState *br;
	uint8_t in[COMPRESS_INPUT];
};

/* Each allocation carries its size in front, aligned for any type. */
#define ALLOC_HEADER 16u

static void *
counted_alloc(struct compressor *c, size_t n)
{
	uint8_t *p = malloc(ALLOC_HEADER + n);
	if (p == NULL)
		return NULL;
	memcpy(p, &n, sizeof(n));
	c->mem += n;
	if (c->mem > c->peak)
		c->peak = c->mem;
	return p + ALLOC_HEADER;
}

static void
counted_free(struct compressor *c, void *q)
{
	if (q == NULL)
		return;
	uint8_t *p = (uint8_t *)q - ALLOC_HEADER;
	size_t n;
	memcpy(&n, p, sizeof(n));
	c->mem -= n;
	free(p);
}

static voidpf
z_alloc(voidpf opaque, uInt items, uInt size)
{
	if (size != 0 && items > SIZE_MAX / size)
		return NULL;
	return counted_alloc(opaque, (size_t)items * size);
}

static void
z_free(voidpf opaque, voidpf address)
{
	counted_free(opaque, address);
}

static void *
br_alloc(void *opaque, size_t size)
{
	return counted_alloc(opaque, size);
}

static void
br_free(void *opaque, void *address)
{
	counted_free(opaque, address);
}

static bool
type_matches(const char *pattern, const char *type, size_t type_len)
{
	size_t n = strlen(pattern);
	if (n >= 2 && pattern[n - 1] == '*' && pattern[n - 2] == '/')
		return type_len >= n - 1 && strncasecmp(pattern, type, n - 1) == 0;
	return n == type_len && strncasecmp(pattern, type, n) == 0;
}

bool
compress_applies(const struct kw_location *loc, const char *type, uint64_t size)
{
	if (!loc->compress || size < loc->compress_min_size)
		return false;
	size_t type_len = strcspn(type, "; \t");
	for (size_t i = 0; i < loc->n_compress_types; i++)
		if (type_matches(loc->compress_types[i], type, type_len))
			return true;
	return false;
}

/* Reads the next stretch of the file into the input buffer. */
static int
read_input(struct compressor *c)
{
	uint64_t left = c->size - c->off;
	size_t want = left < sizeof(c->in) ? (size_t)left : sizeof(c->in);
	ssize_t n;
	do
		n = pread(c->fd, c->in, want, (off_t)c->off);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return KW_ERR_INTERNAL; /* a read error, or the file shrank */
	c->off += (uint64_t)n;
	c->in_pos = 0;
	c->in_len = (size_t)n;
	return 0;
}

/*
 * Runs the encoder over the input left into out[0, cap); finish: the file is all
 * read. *made receives the output, *done whether the stream is complete.
 */
static int
encode(struct compressor *c, uint8_t *out, size_t cap, bool finish, size_t *made, bool *done)
{
	if (c->coding == COMPRESS_GZIP) {
		c->z.next_in = c->in + c->in_pos;
		c->z.avail_in = (uInt)(c->in_len - c->in_pos);
		c->z.next_out = out;
		c->z.avail_out = (uInt)cap;
		int rc = deflate(&c->z, finish ? Z_FINISH : Z_NO_FLUSH);
		if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
			return KW_ERR_INTERNAL;
		c->in_pos = c->in_len - c->z.avail_in;
		*made = cap - c->z.avail_out;
		*done = rc == Z_STREAM_END;
		return 0;
	}
	size_t avail_in = c->in_len - c->in_pos, avail_out = cap;
	const uint8_t *next_in = c->in + c->in_pos;
	uint8_t *next_out = out;
	if (!BrotliEncoderCompressStream(
	        c->br, finish ? BROTLI_OPERATION_FINISH : BROTLI_OPERATION_PROCESS, &avail_in,
	        &next_in, &avail_out, &next_out, NULL))
		return KW_ERR_INTERNAL;
	c->in_pos = c->in_len - avail_in;
	*made = cap - avail_out;
	*done = BrotliEncoderIsFinished(c->br);
	return 0;
}

/* One step: at most one read of the file, compressed into buf until it is full. */
static int
compress_produce(void *ctx, uint8_t *buf, size_t cap, struct body_step *st)
{
	struct compressor *c = ctx;
	bool read = false;
	st->len = 0;
	st->end = false;
	while (st->len < cap) {
		if (c->in_pos == c->in_len && c->off < c->size) {
			if (read)
				break;
			int err = read_input(c);
			if (err)
				return err;
			read = true;
		}
		const bool finish = c->off == c->size && c->in_pos == c->in_len;
		const size_t pos = c->in_pos;
		size_t made;
		int err = encode(c, buf + st->len, cap - st->len, finish, &made, &st->end);
		if (err)
			return err;
		st->len += made;
		if (st->end || (made == 0 && c->in_pos == pos))
			break;
	}
	return 0;
}

static void
compress_dispose(void *ctx)
{
	struct compressor *c = ctx;
	if (c->coding == COMPRESS_GZIP)
		deflateEnd(&c->z);
	else if (c->br != NULL)
		BrotliEncoderDestroyInstance(c->br);
	c->lim->active--;
	free(c);
}

bool
compress_limit_full(const struct compress_limit *lim)
{
	return lim->active >= lim->max;
}

int
compress_producer_new(enum compress_coding coding, const struct kw_location *loc, int fd,
                      uint64_t size, struct compress_limit *lim, struct body_producer *out)
{
	if (compress_limit_full(lim))
		return KW_ERR_STATE;
	struct compressor *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return KW_ERR_NOMEM;
	*c = (struct compressor){.coding = coding, .fd = fd, .size = size, .lim = lim};
	bool ok;
	if (coding == COMPRESS_GZIP) {
		c->z.zalloc = z_alloc;
		c->z.zfree = z_free;
		c->z.opaque = c;
		ok = deflateInit2(&c->z, (int)loc->gzip_level, Z_DEFLATED, GZIP_WINDOW_BITS + 16,
		                  GZIP_MEM_LEVEL, Z_DEFAULT_STRATEGY) == Z_OK;
	} else {
		c->br = BrotliEncoderCreateInstance(br_alloc, br_free, c);
		ok = c->br != NULL &&
		     BrotliEncoderSetParameter(c->br, BROTLI_PARAM_QUALITY, loc->brotli_quality) &&
		     BrotliEncoderSetParameter(c->br, BROTLI_PARAM_LGWIN, BROTLI_LGWIN) &&
		     BrotliEncoderSetParameter(c->br, BROTLI_PARAM_SIZE_HINT,
		                               size > UINT32_MAX ? UINT32_MAX : (uint32_t)size);
	}
	lim->active++;
	*out = (struct body_producer){compress_produce, compress_dispose, c};
	if (!ok) {
		body_producer_dispose(out);
		return KW_ERR_NOMEM;
	}
	return 0;
}

size_t
compress_producer_peak(const struct body_producer *p)
{
	const struct compressor *c = p->ctx;
	return c->peak + sizeof(*c);
}

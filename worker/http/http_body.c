#include "http.h"

#include <openssl/crypto.h>

/* Longest chunk-size line (extensions included) and trailer section, CRLFs not counted. */
#define CHUNK_LINE_MAX    4096
#define CHUNK_SIZE_DIGITS 16
/*
 * Bytes of chunked framing (size lines, extensions, CRLFs, trailers) a body may carry
 * in all: as many as max_size allows for data, and at least this many.
 */
#define CHUNK_FRAMING_MIN (64u * 1024u)

enum chunk_state {
	CS_SIZE,
	CS_EXT,
	CS_SIZE_LF,
	CS_DATA,
	CS_DATA_CR,
	CS_DATA_LF,
	CS_TRAILER_START,
	CS_TRAILER_LINE,
	CS_TRAILER_LF,
	CS_END_LF,
	CS_DONE,
};

void
http_body_init(struct http_body *b, const struct http_request *req, uint64_t max_size)
{
	*b = (struct http_body){
	    .chunked = req->body_chunked,
	    .remaining = req->body_chunked ? 0 : req->content_length,
	    .chunk_state = CS_SIZE,
	    .max_size = max_size,
	};
}

static bool
is_ctl(uint8_t c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* Moves the chunked state machine over one byte outside chunk data: 1 at the end. */
static int
chunk_step(struct http_body *b, uint8_t c)
{
	int d;
	switch (b->chunk_state) {
	case CS_SIZE:
		d = OPENSSL_hexchar2int(c);
		if (d >= 0 && b->line_len < CHUNK_SIZE_DIGITS) {
			b->remaining = b->remaining << 4 | (uint64_t)d;
			b->line_len++;
			return 0;
		}
		if (b->line_len == 0 || (c != ';' && c != '\r'))
			return -400;
		b->line_len++;
		b->chunk_state = c == ';' ? CS_EXT : CS_SIZE_LF;
		return 0;
	case CS_EXT:
		if (c == '\r')
			b->chunk_state = CS_SIZE_LF;
		else if (++b->line_len > CHUNK_LINE_MAX || is_ctl(c))
			return -400;
		return 0;
	case CS_SIZE_LF:
		if (c != '\n')
			return -400;
		if (b->remaining > b->max_size - b->total)
			return -413;
		b->line_len = 0;
		b->chunk_state = b->remaining == 0 ? CS_TRAILER_START : CS_DATA;
		return 0;
	case CS_DATA_CR:
		b->chunk_state = CS_DATA_LF;
		return c == '\r' ? 0 : -400;
	case CS_DATA_LF:
		b->chunk_state = CS_SIZE;
		return c == '\n' ? 0 : -400;
	case CS_TRAILER_START:
	case CS_TRAILER_LINE:
		if (c == '\r')
			b->chunk_state =
			    b->chunk_state == CS_TRAILER_START ? CS_END_LF : CS_TRAILER_LF;
		else if (++b->line_len > CHUNK_LINE_MAX || is_ctl(c))
			return -400;
		else
			b->chunk_state = CS_TRAILER_LINE;
		return 0;
	case CS_TRAILER_LF:
		b->chunk_state = CS_TRAILER_START;
		return c == '\n' ? 0 : -400;
	case CS_END_LF:
		b->chunk_state = CS_DONE;
		return c == '\n' ? 1 : -400;
	default:
		return -400;
	}
}

static int
discard_length(struct http_body *b, size_t len, size_t *consumed)
{
	if (b->remaining > b->max_size - b->total)
		return -413;
	size_t n = b->remaining < len ? (size_t)b->remaining : len;
	b->remaining -= n;
	b->total += n;
	*consumed = n;
	return b->remaining == 0;
}

int
http_body_discard(struct http_body *b, const uint8_t *in, size_t len, size_t *consumed)
{
	*consumed = 0;
	if (!b->chunked)
		return discard_length(b, len, consumed);
	if (b->chunk_state == CS_DONE)
		return 1;
	size_t i = 0;
	int rc = 0;
	while (rc == 0 && i < len) {
		if (b->chunk_state != CS_DATA) {
			if (++b->framing > CHUNK_FRAMING_MIN && b->framing > b->max_size)
				rc = -413;
			else
				rc = chunk_step(b, in[i++]);
			continue;
		}
		size_t n = b->remaining < len - i ? (size_t)b->remaining : len - i;
		b->remaining -= n;
		b->total += n;
		i += n;
		if (b->remaining == 0)
			b->chunk_state = CS_DATA_CR;
	}
	*consumed = i;
	return rc;
}

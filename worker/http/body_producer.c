/*
 * body_producer.c - disposing of a producer, and HTTP/1.1 chunk framing of its steps.
 * The chunk's size line is written once the step's length is known: the data is made
 * after room for the longest size line, which then moves up to the shorter line's end.
 */
#include "body_producer.h"

#include <string.h>

void
body_producer_dispose(struct body_producer *p)
{
	if (p->dispose != NULL)
		p->dispose(p->ctx);
	*p = (struct body_producer){0};
}

int
body_producer_fill_raw(struct body_producer *p, uint8_t *buf, size_t cap, size_t *len, bool *end)
{
	struct body_step step = {0};
	int err = p->produce(p->ctx, buf, cap, &step);
	*len = err ? 0 : step.len;
	*end = err == 0 && step.end;
	return err;
}

/* Writes the size line of a chunk of n bytes (0 < n <= BODY_CHUNK_MAX) into out; its length. */
static size_t
chunk_size_line(size_t n, char out[BODY_CHUNK_HEAD])
{
	static const char hex[] = "0123456789abcdef";
	char digits[6];
	size_t k = 0;
	do
		digits[sizeof(digits) - ++k] = hex[n & 0xf];
	while ((n >>= 4) != 0);
	memcpy(out, digits + sizeof(digits) - k, k);
	memcpy(out + k, "\r\n", 2);
	return k + 2;
}

int
body_producer_fill_chunked(struct body_producer *p, uint8_t *buf, size_t cap, size_t *len,
                           size_t *data, bool *end)
{
	const size_t framing = BODY_CHUNK_HEAD + BODY_CHUNK_TAIL + BODY_CHUNK_LAST;
	size_t room = cap - framing;
	if (room > BODY_CHUNK_MAX)
		room = BODY_CHUNK_MAX;
	size_t n;
	int err = body_producer_fill_raw(p, buf + BODY_CHUNK_HEAD, room, &n, end);
	*len = 0;
	*data = n;
	if (err)
		return err;
	if (n > 0) {
		char line[BODY_CHUNK_HEAD];
		size_t k = chunk_size_line(n, line);
		memcpy(buf, line, k);
		memmove(buf + k, buf + BODY_CHUNK_HEAD, n);
		memcpy(buf + k + n, "\r\n", 2);
		*len = k + n + 2;
	}
	if (*end) {
		memcpy(buf + *len, "0\r\n\r\n", BODY_CHUNK_LAST);
		*len += BODY_CHUNK_LAST;
	}
	return 0;
}

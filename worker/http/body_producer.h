/*
 * body_producer.h - a generated response body: bytes whose total length is not
 * known in advance (a compressed file, a directory listing), made in bounded steps
 * by a callback that fills a buffer the sender owns. The producer knows nothing of
 * framing: HTTP/1.1 sends its steps as chunks (body_producer_fill_chunked() below),
 * HTTP/1.0 until the connection closes, HTTP/2 as DATA frames.
 *
 * A step does a bounded amount of work (it may read a bounded amount of a file or a
 * directory, and may yield no byte at all) and never blocks; the sender calls it
 * only when what the previous step made has left, so a slow reader holds at most one
 * step's worth of bytes in the server, plus what the producer keeps itself.
 */
#ifndef KW_BODY_PRODUCER_H
#define KW_BODY_PRODUCER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** What a step did. */
struct body_step {
	size_t len; /* bytes written to the buffer, 0..cap (0: none this step) */
	bool end;   /* the body is complete after these bytes: no further call */
};

struct body_producer {
	/**
	 * Writes the next at most cap bytes (cap >= BODY_PRODUCER_MIN_CAP) of the body into
	 * buf and says how many, and whether the body ends there. Returns 0, or a negative
	 * code (KW_ERR_*): the body cannot be completed, the connection must be closed.
	 * Never called again after end or an error.
	 */
	int (*produce)(void *ctx, uint8_t *buf, size_t cap, struct body_step *step);
	/** Releases ctx (also when the body was not sent to the end). NULL: nothing to do. */
	void (*dispose)(void *ctx);
	void *ctx;
};

/** The smallest buffer a producer is given. */
#define BODY_PRODUCER_MIN_CAP 256u

/** Room chunk framing takes around a step of up to BODY_CHUNK_MAX bytes: "hhhhhh\r\n...\r\n". */
#define BODY_CHUNK_HEAD 8u
#define BODY_CHUNK_TAIL 2u
/** The last chunk and the empty trailer section, "0\r\n\r\n". */
#define BODY_CHUNK_LAST 5u
/** The largest chunk this framing makes (six hex digits). */
#define BODY_CHUNK_MAX 0xffffffu

/** true when p has a producer. */
static inline bool
body_producer_present(const struct body_producer *p)
{
	return p->produce != NULL;
}

/** Disposes of p's context, once; p is left empty. */
void body_producer_dispose(struct body_producer *p);

/**
 * One step of p framed for HTTP/1.1: the step's bytes as one chunk (none when the
 * step made none), followed by the last chunk when the body ends. buf holds cap
 * bytes, at least BODY_CHUNK_HEAD + BODY_CHUNK_TAIL + BODY_CHUNK_LAST +
 * BODY_PRODUCER_MIN_CAP. *len receives the framed bytes in buf[0, *len), *data the
 * body bytes among them. Returns what produce() returned.
 */
int body_producer_fill_chunked(struct body_producer *p, uint8_t *buf, size_t cap, size_t *len,
                               size_t *data, bool *end);

/**
 * One step of p unframed (HTTP/1.0: the body ends when the connection closes). Same
 * contract as body_producer_fill_chunked() with *len == *data.
 */
int body_producer_fill_raw(struct body_producer *p, uint8_t *buf, size_t cap, size_t *len,
                           bool *end);

#endif

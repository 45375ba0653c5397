/*
 * bench_http.h - an incremental HTTP/1.x response reader for keyward-bench. It
 * parses the status line and the headers that frame the body (Content-Length,
 * Connection, Transfer-Encoding) and counts body bytes without copying them.
 */
#ifndef KW_BENCH_HTTP_H
#define KW_BENCH_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_HEAD_MAX 4096u /* a larger response head is an error */

enum bench_resp_state {
	BENCH_RESP_HEAD,        /* reading the head */
	BENCH_RESP_BODY,        /* counting Content-Length body bytes */
	BENCH_RESP_BODY_TO_EOF, /* no Content-Length and the server closes: body runs to EOF */
	BENCH_RESP_DONE,        /* complete */
};

enum bench_resp_err {
	BENCH_RESP_BAD_HEAD = -1,  /* no valid status line, head too large or malformed header */
	BENCH_RESP_UNFRAMED = -2,  /* keep-alive response without Content-Length, or chunked */
	BENCH_RESP_TRUNCATED = -3, /* EOF before the body was complete */
};

/** One response being read. Owns no memory; reset it before each response. */
struct bench_resp {
	enum bench_resp_state state;
	int status;
	bool close;              /* the server closes the connection after this response */
	bool has_length;         /* Content-Length was given */
	uint64_t content_length; /* when has_length */
	uint64_t body_len;       /* body bytes counted so far */
	size_t head_len;         /* head bytes buffered in head[] while the head is split */
	uint8_t head[BENCH_HEAD_MAX];
};

/** Prepares r for the next response. */
void bench_resp_reset(struct bench_resp *r);

/**
 * Feeds n received bytes. *used receives how many belong to this response (the
 * rest would be a next response, which a client without pipelining never
 * expects). Returns 1 when the response is complete, 0 when it needs more bytes,
 * or a negative enum bench_resp_err.
 */
int bench_resp_feed(struct bench_resp *r, const uint8_t *p, size_t n, size_t *used);

/**
 * The peer closed the connection: completes a body that runs to EOF. Returns 1
 * when the response is complete, BENCH_RESP_TRUNCATED otherwise (also when
 * nothing at all arrived).
 */
int bench_resp_eof(struct bench_resp *r);

/** True when some byte of this response has arrived. */
bool bench_resp_started(const struct bench_resp *r);

#endif

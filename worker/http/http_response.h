/*
 * http_response.h - building response heads piece by piece: the status line with
 * Server and Date, header lines, the small HTML error body, and the Connection
 * decision that ends the head. http_error_response() and the static responder are
 * written with these.
 */
#ifndef KW_HTTP_RESPONSE_H
#define KW_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "http.h"

/** Length of an IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT", without its NUL. */
#define HTTP_DATE_LEN 29

/** The reason phrase of a status ("Not Found"); "Unknown" for statuses without one. */
const char *http_reason(int status);

/** Writes t (UTC) as an IMF-fixdate into out, NUL-terminated. */
void http_date_format(time_t t, char out[HTTP_DATE_LEN + 1]);

/**
 * Starts resp's head (resp freshly initialised): "HTTP/1.1 <status> <reason>",
 * Server: keyward and Date: now. Sets resp->status. Returns 0 or KW_ERR_NOMEM.
 */
int http_response_begin(struct http_response *resp, int status, time_t now);

/** Appends "name: value" with value formatted by fmt. Returns 0 or KW_ERR_NOMEM. */
int http_response_header(struct http_response *resp, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Appends "name: value" (value as is). Returns 0 or KW_ERR_NOMEM. */
int http_response_header_str(struct http_response *resp, const char *name, const char *value);

/** Appends "name: value" with value in decimal. Returns 0 or KW_ERR_NOMEM. */
int http_response_header_u64(struct http_response *resp, const char *name, uint64_t value);

/**
 * Adds the HTML error body for resp->status: its Content-Type and Content-Length
 * headers, the page in resp->mem and, unless req is a HEAD request, one memory
 * segment for it. Returns 0 or KW_ERR_NOMEM.
 */
int http_response_error_body(struct http_response *resp, const struct http_request *req);

/**
 * Makes the bytes of resp->mem from off to its end the body: its Content-Type (type)
 * and Content-Length headers and, unless req is a HEAD request, one memory segment.
 * Returns 0 or KW_ERR_NOMEM.
 */
int http_response_mem_body(struct http_response *resp, const struct http_request *req,
                           const char *type, size_t off);

/**
 * Gives resp a generated body whose length is not known in advance: resp owns
 * *producer from then on and disposes of it (at once for a HEAD request, whose head
 * says the same as GET's). Call before http_response_end(), without Content-Length.
 */
void http_response_stream(struct http_response *resp, const struct http_request *req,
                          const struct body_producer *producer);

/**
 * Begins the head of the error response for status, without a body: the status
 * line, Allow for 405, and close set for statuses that end the connection. Returns
 * 0 or KW_ERR_NOMEM.
 */
int http_error_head(int status, time_t now, struct http_response *resp);

/**
 * Begins the error response for status without ending it (so that the caller may
 * add headers): the status line, Allow for 405, the HTML error body; close is set
 * for statuses that end the connection, as http_error_response() does. Returns 0
 * or KW_ERR_NOMEM.
 */
int http_error_begin(int status, const struct http_request *req, time_t now,
                     struct http_response *resp);

/**
 * Ends the head. A streamed response gets "Transfer-Encoding: chunked" on HTTP/1.1
 * (HEAD too, as GET would) and closes the connection after it on HTTP/1.0. resp->close is also set
 * when req is NULL or not keep-alive; then "Connection: close" is sent, and "Connection:
 * keep-alive" when an HTTP/1.0 connection stays open. Returns 0 or KW_ERR_NOMEM.
 */
int http_response_end(struct http_response *resp, const struct http_request *req);

/** One header field of a response: name and value as built, not NUL-terminated. */
struct http_field {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/**
 * The header fields of a response whose head is ended, one per call from *pos (0 for
 * the first), without the status line and the fields of HTTP/1.1's connection
 * management that http_response_end() adds. Returns false after the last.
 */
bool http_response_next_field(const struct http_response *resp, size_t *pos,
                              struct http_field *f);

/**
 * Last resort after a failed build: drops whatever resp holds (its file included)
 * and builds the 500 error page; should even that fail, the head stays empty and
 * close is set, so that the connection is simply closed.
 */
void http_response_fail(struct http_response *resp, const struct http_request *req, time_t now);

#endif

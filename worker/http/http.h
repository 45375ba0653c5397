/*
 * http.h - HTTP/1.1 requests and responses as plain data. Nothing here reads a
 * socket or knows about transports: the connection layer feeds plaintext bytes in
 * and writes the response head and body segments out.
 */
#ifndef KW_HTTP_H
#define KW_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "body_producer.h"
#include "buf.h"

enum http_method { HTTP_GET, HTTP_HEAD, HTTP_OTHER };

/** Limits the parser enforces (from the configuration). */
struct http_limits {
	size_t max_request_line;  /* 414 beyond */
	size_t max_header_size;   /* 431 beyond (whole head, request line included) */
	size_t max_header_count;  /* 431 beyond */
	uint64_t max_body_size;   /* 413 beyond */
};

/** A parsed request head. Strings point into the parser's copy, valid until the next request. */
struct http_request {
	enum http_method method;
	char method_name[16];
	int version_minor;        /* 0 or 1 (HTTP/1.x); 0 with http2 */
	bool http2;               /* the request came as an HTTP/2 stream */
	char *target;             /* raw request target */
	char *path;               /* percent-decoded, normalised, starts with '/' */
	char *query;              /* raw query or NULL */
	char *host;               /* Host header (or authority of an absolute-form target), or NULL */
	bool keep_alive;          /* after Connection headers and version defaults */
	bool body_chunked;
	uint64_t content_length;  /* when not chunked */
	/* conditional and range headers, NULL when absent */
	char *if_none_match;
	char *if_modified_since;
	char *if_match;
	char *if_unmodified_since;
	char *range;
	char *if_range;
	char *user_agent;
	char *referer;
	char *accept_encoding;    /* the first Accept-Encoding line (later ones are ignored) */
	bool tls;                 /* came over a TLS transport; set by the connection layer */
};

/** Incremental request-head parser; one per connection. */
struct http_parser {
	struct http_limits limits;
	size_t scanned;           /* bytes of the current head already scanned for its end */
	struct kw_buf head;       /* private copy of the head being returned */
	size_t line_start;        /* private: start of the request line, after empty lines */
	size_t line_end;          /* private: end of the request line once seen, else 0 */
};

/** Sets the limits. The parser holds no other resources until used. */
void http_parser_init(struct http_parser *p, const struct http_limits *limits);

/** Frees the parser's buffer. */
void http_parser_dispose(struct http_parser *p);

/**
 * Looks for one complete request head at the start of in[0, len).
 * Returns 1 and fills *req, setting *consumed to the head's length;
 * returns 0 when more bytes are needed (and none over the limits yet): call again
 * with the same bytes and more appended, only the new ones are scanned;
 * returns a negative HTTP status (-400, -414, -431, -501, -505, -413, or -500 when
 * out of memory) for a head that must be refused. After an error the connection
 * must close. Empty lines before the request line are skipped (counted in *consumed
 * and in the head size); a bare LF ends a head line as CRLF does.
 */
int http_parse_request(struct http_parser *p, const uint8_t *in, size_t len, size_t *consumed,
                       struct http_request *req);

/** Request body framing, to read (and discard) a body so that pipelining stays in step. */
struct http_body {
	bool chunked;
	uint64_t remaining;       /* bytes left of a Content-Length body or of the current chunk */
	int chunk_state;          /* private */
	size_t line_len;          /* private: bytes of the current chunk-size line */
	uint64_t total;           /* body bytes (chunk data) so far */
	uint64_t framing;         /* private: chunk-size lines, extensions, CRLFs, trailers */
	uint64_t max_size;
};

/** Prepares body framing for a request. */
void http_body_init(struct http_body *b, const struct http_request *req, uint64_t max_size);

/**
 * Consumes body bytes from in[0, len); *consumed receives how many.
 * Returns 1 when the body is complete, 0 when more is needed, or -400 / -413.
 */
int http_body_discard(struct http_body *b, const uint8_t *in, size_t len, size_t *consumed);

/** One piece of a response body: a range of the response's mem buffer, or of its file. */
struct http_segment {
	bool from_file;           /* false: bytes mem.data[off, off + len) */
	uint64_t off;
	uint64_t len;
};

#define HTTP_MAX_SEGMENTS 64

struct shared_fd;

/** A response ready to be sent. Owned by the caller; release with http_response_dispose(). */
struct http_response {
	int status;
	/*
	 * HTTP/1.1's head: status line, header fields, the connection's own field
	 * (Connection), CRLF. head[fields_start, fields_end) holds the "Name: value\r\n"
	 * lines of the fields proper, which HTTP/2 sends (http_response_next_field()).
	 */
	struct kw_buf head;
	size_t fields_start, fields_end;
	struct kw_buf mem;        /* storage for in-memory segments (error pages, multipart parts) */
	int fd;                   /* file for file segments, or -1 */
	/* holds fd when the file cache shares it, else NULL (then fd is the response's) */
	struct shared_fd *fd_shared;
	struct http_segment segments[HTTP_MAX_SEGMENTS];
	size_t n_segments;        /* 0 for HEAD and bodiless statuses */
	uint64_t body_len;        /* Content-Length sent (also for HEAD); unused when streamed */
	/*
	 * The body's length is not known in advance: no Content-Length; HTTP/1.1 sends it
	 * chunked, HTTP/1.0 until the connection closes (see http_response_stream()).
	 */
	bool streamed;
	bool chunked;             /* HTTP/1.1 chunked framing of the producer's steps */
	/* the generated body, sent after the segments; empty for HEAD and fixed bodies */
	struct body_producer producer;
	bool close;               /* close the connection after sending */
	int sys_errno;            /* a 503 for want of descriptors: EMFILE or ENFILE, else 0 */
};

/** Sets up an empty response (fd = -1, fd_shared = NULL). */
void http_response_init(struct http_response *resp);

/**
 * Releases the response's buffers and file (closed, or its shared reference dropped);
 * the response can be initialised again.
 */
void http_response_dispose(struct http_response *resp);

/**
 * Builds a complete error response (small HTML body) for status. req may be NULL
 * (the head could not be parsed); a HEAD request gets no body. Statuses that end
 * the connection (400, 408, 413, 414, 431, 501, 505, ...) set close.
 */
void http_error_response(int status, const struct http_request *req, time_t now,
                         struct http_response *resp);

#endif

/*
 * access_log.h - the access log in the combined format, one write(2) per request:
 *   ADDR - - [TIME] "REQUEST LINE" STATUS BYTES "REFERER" "USER AGENT"
 * Fields from the client are escaped (", \, and bytes outside 0x20..0x7e as \xHH).
 */
#ifndef KW_ACCESS_LOG_H
#define KW_ACCESS_LOG_H

#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "http.h"

struct access_log {
	int fd;             /* O_APPEND file; owned by the caller */
	struct kw_buf line; /* the line being built, kept for reuse */
	time_t stamp_time;  /* second formatted in stamp */
	char stamp[32];     /* "22/Nov/2026:05:10:00 +0000" */
};

/** Sets up a log writing to fd (-1: logging off). */
void access_log_init(struct access_log *al, int fd);

/** Frees the line buffer; the fd is the caller's. */
void access_log_dispose(struct access_log *al);

/**
 * Writes one line for a request from addr answered with status and body_bytes
 * bytes of body. req is NULL when the head could not be parsed. A failed write
 * is logged at error level and otherwise ignored.
 */
void access_log_write(struct access_log *al, const char *addr, const struct http_request *req,
                      int status, uint64_t body_bytes, time_t now);

#endif

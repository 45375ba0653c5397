/*
 * access_log.h - the access logs: one line per request, one write(2) per line, to
 * the file and in the format of the server block that answered (access_log and
 * access_log_format, per block or inherited from the top level; "off": no line).
 *
 *   combined: ADDR - - [TIME] "REQUEST LINE" STATUS BYTES "REFERER" "USER AGENT"
 *             Fields from the client are escaped (", \, and bytes outside
 *             0x20..0x7e as \xHH).
 *   json:     one object per line: time (RFC 3339, UTC, milliseconds), server, addr,
 *             method, target, protocol, status, bytes, duration_ms (null for
 *             HTTP/2 streams), referer, user_agent, transport, tls_version, tls_cipher,
 * tls_resumed; null where unknown. Strings are escaped as JSON requires: ", \ and control
 *             characters, and each byte that is not part of valid UTF-8 as \u00XX.
 *
 * The files are the master's (opened before the workers start, reopened on SIGUSR1);
 * the worker finds file i on kw_fd_access_log() and writes to whatever is there.
 */
#ifndef KW_ACCESS_LOG_H
#define KW_ACCESS_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "config.h"
#include "http.h"

/** One access log file. */
struct access_log {
	int fd;             /* O_APPEND file, owned by the master; -1: not passed */
	struct kw_buf line; /* the line being built, kept for reuse */
	time_t stamp_time;  /* second formatted in stamp */
	char stamp[32];     /* "22/Nov/2026:05:10:00 +0000" */
};

/** The worker's access log files, in kw_config.access_files order. */
struct access_logs {
	const struct kw_config *cfg;
	struct access_log *files;
	size_t n;
};

/** What one line tells about a request and its response. */
struct access_entry {
	const char *addr;               /* the client address */
	const struct http_request *req; /* NULL when the head could not be parsed */
	const struct kw_server *server; /* the block that answered: its file and format */
	int status;
	uint64_t body_bytes;
	int64_t duration_us;     /* from the request head to the last byte sent; -1: unknown */
	const char *transport;   /* "plain", "toy-TLS", "TLS 1.3" */
	const char *tls_version; /* NULL: none or unknown */
	const char *tls_cipher;  /* NULL: none or unknown */
	int tls_resumed;         /* 1 or 0; -1: no TLS or unknown */
	time_t now;              /* the loop's wall clock, for the combined format */
};

/**
 * Sets up the files of cfg, file i writing to fds[i] (-1: that file is off); fds has
 * cfg->n_access_files entries. cfg and fds' files outlive the set. Returns 0 or
 * KW_ERR_NOMEM.
 */
int access_logs_init(struct access_logs *logs, const struct kw_config *cfg, const int *fds);

/** Frees the line buffers; the descriptors are not closed. */
void access_logs_dispose(struct access_logs *logs);

/**
 * Writes e's line to its server's file in its server's format; nothing when the
 * server logs to "off". A failed write is logged at error level and otherwise ignored.
 */
void access_log_write(struct access_logs *logs, const struct access_entry *e);

#endif

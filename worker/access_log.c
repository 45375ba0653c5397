/*
 * access_log.c - combined-format access log lines.
 */
#include "access_log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

void
access_log_init(struct access_log *al, int fd)
{
	memset(al, 0, sizeof(*al));
	al->fd = fd;
	al->stamp_time = (time_t)-1;
}

void
access_log_dispose(struct access_log *al)
{
	kw_buf_free(&al->line);
}

static void
put(struct access_log *al, const char *s, size_t n)
{
	memcpy(kw_buf_tail(&al->line), s, n);
	kw_buf_commit(&al->line, n);
}

/* Appends s escaped, or "-" when s is NULL; the line has room reserved for it. */
static void
put_escaped(struct access_log *al, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	if (s == NULL) {
		put(al, "-", 1);
		return;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\' || *p < 0x20 || *p > 0x7e) {
			char esc[4] = {'\\', 'x', hex[*p >> 4], hex[*p & 0xf]};
			put(al, esc, sizeof(esc));
		} else {
			put(al, (const char *)p, 1);
		}
	}
}

static size_t
escaped_max(const char *s)
{
	return s == NULL ? 1 : 4 * strlen(s);
}

static const char *
stamp(struct access_log *al, time_t now)
{
	if (now != al->stamp_time) {
		struct tm tm;
		localtime_r(&now, &tm);
		if (strftime(al->stamp, sizeof(al->stamp), "%d/%b/%Y:%H:%M:%S %z", &tm) == 0)
			al->stamp[0] = '\0';
		al->stamp_time = now;
	}
	return al->stamp;
}

void
access_log_write(struct access_log *al, const char *addr, const struct http_request *req,
                 int status, uint64_t body_bytes, time_t now)
{
	if (al->fd < 0)
		return;
	const char *method = req ? req->method_name : NULL;
	const char *target = req ? req->target : NULL;
	const char *referer = req ? req->referer : NULL;
	const char *agent = req ? req->user_agent : NULL;
	char fixed[160];
	int n = snprintf(fixed, sizeof(fixed), "%s - - [%s] \"", addr, stamp(al, now));
	char tail[64];
	int m = snprintf(tail, sizeof(tail), "\" %d %" PRIu64 " \"", status, body_bytes);
	size_t need = (size_t)n + (size_t)m + escaped_max(method) + escaped_max(target) +
	              escaped_max(referer) + escaped_max(agent) + 32;
	kw_buf_reset(&al->line);
	if (n < 0 || m < 0 || (size_t)n >= sizeof(fixed) || kw_buf_reserve(&al->line, need) != 0) {
		kw_log_err("access_log_write: line for %s dropped", addr);
		return;
	}
	put(al, fixed, (size_t)n);
	if (req != NULL) {
		char version[24];
		int v = snprintf(version, sizeof(version), " HTTP/%d.%d", req->http2 ? 2 : 1,
		                 req->version_minor);
		put_escaped(al, method);
		put(al, " ", 1);
		put_escaped(al, target);
		put(al, version, (size_t)v);
	} else {
		put(al, "-", 1);
	}
	put(al, tail, (size_t)m);
	put_escaped(al, referer);
	put(al, "\" \"", 3);
	put_escaped(al, agent);
	put(al, "\"\n", 2);
	ssize_t w = write(al->fd, kw_buf_head(&al->line), kw_buf_size(&al->line));
	if (w < 0)
		kw_log_err("access_log_write: %s", strerror(errno));
}

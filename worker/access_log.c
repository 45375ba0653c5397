/*
 * access_log.c - access log lines in the combined and JSON formats.
 */
#include "access_log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "json_escape.h"
#include "log.h"

int
access_logs_init(struct access_logs *logs, const struct kw_config *cfg, const int *fds)
{
	memset(logs, 0, sizeof(*logs));
	logs->cfg = cfg;
	if (cfg->n_access_files == 0)
		return 0;
	logs->files = calloc(cfg->n_access_files, sizeof(*logs->files));
	if (logs->files == NULL)
		return KW_ERR_NOMEM;
	logs->n = cfg->n_access_files;
	for (size_t i = 0; i < logs->n; i++) {
		logs->files[i].fd = fds[i];
		logs->files[i].stamp_time = (time_t)-1;
	}
	return 0;
}

void
access_logs_dispose(struct access_logs *logs)
{
	for (size_t i = 0; i < logs->n; i++)
		kw_buf_free(&logs->files[i].line);
	free(logs->files);
	logs->files = NULL;
	logs->n = 0;
}

static void
put(struct access_log *al, const char *s, size_t n)
{
	memcpy(kw_buf_tail(&al->line), s, n);
	kw_buf_commit(&al->line, n);
}

static void
put_str(struct access_log *al, const char *s)
{
	put(al, s, strlen(s));
}

/* Appends s escaped for the combined format, or "-" when s is NULL. */
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

/* Room a field may take escaped (JSON's bound covers the combined format's). */
static size_t
escaped_max(const char *s)
{
	return s == NULL ? 4 : JSON_ESCAPE_MAX * strlen(s) + 2;
}

/* Appends s as a JSON string, or null when s is NULL. */
static void
put_json_string(struct access_log *al, const char *s)
{
	if (s == NULL) {
		put(al, "null", 4);
		return;
	}
	put(al, "\"", 1);
	kw_buf_commit(&al->line, json_escape((char *)kw_buf_tail(&al->line), s, strlen(s)));
	put(al, "\"", 1);
}

static void
put_json_key(struct access_log *al, const char *key)
{
	put(al, ",\"", 2);
	put_str(al, key);
	put(al, "\":", 2);
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

static const char *
server_name(const struct kw_server *srv)
{
	return srv->n_names > 0 ? srv->names[0] : NULL;
}

/* "HTTP/1.1", "HTTP/2.0", ... into buf. */
static const char *
protocol(const struct http_request *req, char *buf, size_t len)
{
	snprintf(buf, len, "HTTP/%d.%d", req->http2 ? 2 : 1, req->version_minor);
	return buf;
}

static void
format_combined(struct access_log *al, const struct access_entry *e)
{
	const struct http_request *req = e->req;
	char num[64];

	put_str(al, e->addr);
	put(al, " - - [", 6);
	put_str(al, stamp(al, e->now));
	put(al, "] \"", 3);
	if (req != NULL) {
		put_escaped(al, req->method_name);
		put(al, " ", 1);
		put_escaped(al, req->target);
		put(al, " ", 1);
		put_str(al, protocol(req, num, sizeof(num)));
	} else {
		put(al, "-", 1);
	}
	int n = snprintf(num, sizeof(num), "\" %d %" PRIu64 " \"", e->status, e->body_bytes);
	put(al, num, (size_t)n);
	put_escaped(al, req ? req->referer : NULL);
	put(al, "\" \"", 3);
	put_escaped(al, req ? req->user_agent : NULL);
	put(al, "\"\n", 2);
}

static void
format_json(struct access_log *al, const struct access_entry *e)
{
	const struct http_request *req = e->req;
	struct timespec ts;
	struct tm tm;
	char num[64];
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(num, sizeof(num), "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\"",
	             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	             ts.tv_nsec / 1000000);
	put(al, num, (size_t)n);
	put_json_key(al, "server");
	put_json_string(al, server_name(e->server));
	put_json_key(al, "addr");
	put_json_string(al, e->addr);
	put_json_key(al, "method");
	put_json_string(al, req ? req->method_name : NULL);
	put_json_key(al, "target");
	put_json_string(al, req ? req->target : NULL);
	put_json_key(al, "protocol");
	put_json_string(al, req ? protocol(req, num, sizeof(num)) : NULL);
	n = snprintf(num, sizeof(num), ",\"status\":%d,\"bytes\":%" PRIu64, e->status,
	             e->body_bytes);
	put(al, num, (size_t)n);
	if (e->duration_us < 0)
		n = snprintf(num, sizeof(num), ",\"duration_ms\":null");
	else
		n = snprintf(num, sizeof(num), ",\"duration_ms\":%" PRId64 ".%03" PRId64,
		             e->duration_us / 1000, e->duration_us % 1000);
	put(al, num, (size_t)n);
	put_json_key(al, "referer");
	put_json_string(al, req ? req->referer : NULL);
	put_json_key(al, "user_agent");
	put_json_string(al, req ? req->user_agent : NULL);
	put_json_key(al, "transport");
	put_json_string(al, e->transport);
	put_json_key(al, "tls_version");
	put_json_string(al, e->tls_version);
	put_json_key(al, "tls_cipher");
	put_json_string(al, e->tls_cipher);
	put_json_key(al, "tls_resumed");
	put_str(al, e->tls_resumed < 0 ? "null" : e->tls_resumed ? "true" : "false");
	put(al, "}\n", 2);
}

/* Room for every field of a line, escaped at the worst. */
static size_t
line_max(const struct access_entry *e)
{
	const struct http_request *req = e->req;
	const char *srv = server_name(e->server);
	return 512 + escaped_max(e->addr) + escaped_max(srv) + escaped_max(e->transport) +
	       escaped_max(e->tls_version) + escaped_max(e->tls_cipher) +
	       (req == NULL ? 0
	                    : escaped_max(req->method_name) + escaped_max(req->target) +
	                          escaped_max(req->referer) + escaped_max(req->user_agent));
}

void
access_log_write(struct access_logs *logs, const struct access_entry *e)
{
	if (e->server->access_file < 0 || (size_t)e->server->access_file >= logs->n)
		return;
	struct access_log *al = &logs->files[e->server->access_file];
	if (al->fd < 0)
		return;
	kw_buf_reset(&al->line);
	if (kw_buf_reserve(&al->line, line_max(e)) != 0) {
		kw_log_err("access_log_write: line for %s dropped", e->addr);
		return;
	}
	if (e->server->log_format == KW_LOG_JSON)
		format_json(al, e);
	else
		format_combined(al, e);
	ssize_t w = write(al->fd, kw_buf_head(&al->line), kw_buf_size(&al->line));
	if (w < 0)
		kw_log_err("access_log_write: %s", strerror(errno));
}

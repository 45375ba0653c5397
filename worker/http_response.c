#include "http_response.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "err.h"

static const struct {
	int status;
	const char *reason;
} reasons[] = {
    {200, "OK"},
    {206, "Partial Content"},
    {301, "Moved Permanently"},
    {304, "Not Modified"},
    {400, "Bad Request"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {416, "Range Not Satisfiable"},
    {421, "Misdirected Request"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {503, "Service Unavailable"},
    {505, "HTTP Version Not Supported"},
};

const char *
http_reason(int status)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].status == status)
			return reasons[i].reason;
	return "Unknown";
}

void
http_date_format(time_t t, char out[HTTP_DATE_LEN + 1])
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL) {
		t = 0;
		gmtime_r(&t, &tm);
	}
	int year = tm.tm_year + 1900;
	char buf[64];
	snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
	         tm.tm_mday, months[tm.tm_mon],
	         year < 0      ? 0
	         : year > 9999 ? 9999
	                       : year,
	         tm.tm_hour, tm.tm_min, tm.tm_sec);
	memcpy(out, buf, HTTP_DATE_LEN);
	out[HTTP_DATE_LEN] = '\0';
}

static int
append_str(struct kw_buf *b, const char *s)
{
	return kw_buf_append(b, s, strlen(s));
}

__attribute__((format(printf, 2, 0))) static int
vappend(struct kw_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return KW_ERR_INTERNAL;
	int err = kw_buf_reserve(b, (size_t)n + 1);
	if (err)
		return err;
	vsnprintf((char *)kw_buf_tail(b), (size_t)n + 1, fmt, ap);
	kw_buf_commit(b, (size_t)n);
	return 0;
}

__attribute__((format(printf, 2, 3))) static int
append_fmt(struct kw_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int err = vappend(b, fmt, ap);
	va_end(ap);
	return err;
}

int
http_response_begin(struct http_response *resp, int status, time_t now)
{
	char date[HTTP_DATE_LEN + 1];
	http_date_format(now, date);
	resp->status = status;
	return append_fmt(&resp->head, "HTTP/1.1 %d %s\r\nServer: keyward\r\nDate: %s\r\n", status,
	                  http_reason(status), date);
}

int
http_response_header(struct http_response *resp, const char *name, const char *fmt, ...)
{
	va_list ap;
	int err = append_fmt(&resp->head, "%s: ", name);
	if (err)
		return err;
	va_start(ap, fmt);
	err = vappend(&resp->head, fmt, ap);
	va_end(ap);
	return err ? err : append_str(&resp->head, "\r\n");
}

int
http_response_error_body(struct http_response *resp, const struct http_request *req)
{
	size_t off = kw_buf_size(&resp->mem);
	int err = append_fmt(&resp->mem,
	                     "<html><head><title>%d %s</title></head><body><h1>%d %s</h1><hr>"
	                     "<center>keyward</center></body></html>",
	                     resp->status, http_reason(resp->status), resp->status,
	                     http_reason(resp->status));
	if (err)
		return err;
	size_t len = kw_buf_size(&resp->mem) - off;
	resp->body_len = len;
	if (req == NULL || req->method != HTTP_HEAD)
		resp->segments[resp->n_segments++] =
		    (struct http_segment){.from_file = false, .off = off, .len = len};
	err = http_response_header(resp, "Content-Type", "text/html");
	return err ? err : http_response_header(resp, "Content-Length", "%zu", len);
}

int
http_response_end(struct http_response *resp, const struct http_request *req)
{
	int err = 0;
	if (req == NULL || !req->keep_alive)
		resp->close = true;
	if (resp->close)
		err = http_response_header(resp, "Connection", "close");
	else if (req->version_minor == 0)
		err = http_response_header(resp, "Connection", "keep-alive");
	return err ? err : append_str(&resp->head, "\r\n");
}

void
http_response_init(struct http_response *resp)
{
	*resp = (struct http_response){.fd = -1};
}

void
http_response_dispose(struct http_response *resp)
{
	kw_buf_free(&resp->head);
	kw_buf_free(&resp->mem);
	if (resp->fd >= 0)
		close(resp->fd);
	http_response_init(resp);
}

static bool
status_closes(int status)
{
	switch (status) {
	case 400:
	case 408:
	case 413:
	case 414:
	case 431:
	case 500:
	case 501:
	case 505:
		return true;
	default:
		return false;
	}
}

static int
build_error(int status, const struct http_request *req, time_t now, struct http_response *resp)
{
	resp->close = status_closes(status);
	int err = http_response_begin(resp, status, now);
	if (!err && status == 405)
		err = http_response_header(resp, "Allow", "GET, HEAD");
	if (!err)
		err = http_response_error_body(resp, req);
	return err ? err : http_response_end(resp, req);
}

void
http_error_response(int status, const struct http_request *req, time_t now,
                    struct http_response *resp)
{
	if (build_error(status, req, now, resp))
		http_response_fail(resp, req, now);
}

void
http_response_fail(struct http_response *resp, const struct http_request *req, time_t now)
{
	http_response_dispose(resp);
	if (build_error(500, req, now, resp)) {
		http_response_dispose(resp);
		resp->status = 500;
		resp->close = true;
	}
}

#include "http_response.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "shared_fd.h"

static const struct {
	int status;
	const char *reason;
} reasons[] = {
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {206, "Partial Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {401, "Unauthorized"},
    {400, "Bad Request"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {416, "Range Not Satisfiable"},
    {421, "Misdirected Request"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {451, "Unavailable For Legal Reasons"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
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

/* Writes v as exactly width decimal digits (v < 10^width). */
static char *
put_digits(char *p, unsigned v, int width)
{
	for (int i = width - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + width;
}

/* The proleptic Gregorian date of a day count since 1970-01-01 (Hinnant's civil_from_days). */
static void
civil_from_days(long long days, long long *year, unsigned *month, unsigned *mday)
{
	days += 719468;
	const long long era = (days >= 0 ? days : days - 146096) / 146097;
	const unsigned doe = (unsigned)(days - era * 146097);
	const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	const unsigned mp = (5 * doy + 2) / 153;
	*mday = doy - (153 * mp + 2) / 5 + 1;
	*month = mp < 10 ? mp + 3 : mp - 9;
	*year = (long long)yoe + era * 400 + (*month <= 2);
}

void
http_date_format(time_t t, char out[HTTP_DATE_LEN + 1])
{
	static const char days[7][4] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	long long secs = (long long)t;
	long long day = secs / 86400 - (secs % 86400 < 0);
	unsigned sod = (unsigned)(secs - day * 86400);
	long long year;
	unsigned month, mday;
	civil_from_days(day, &year, &month, &mday);
	char *p = out;
	memcpy(p, days[((day % 7) + 7) % 7], 3);
	p[3] = ',';
	p[4] = ' ';
	p = put_digits(p + 5, mday, 2);
	*p++ = ' ';
	memcpy(p, months[month - 1], 3);
	p[3] = ' ';
	p = put_digits(p + 4, year < 0 ? 0 : year > 9999 ? 9999 : (unsigned)year, 4);
	*p++ = ' ';
	p = put_digits(p, sod / 3600, 2);
	*p++ = ':';
	p = put_digits(p, sod / 60 % 60, 2);
	*p++ = ':';
	p = put_digits(p, sod % 60, 2);
	memcpy(p, " GMT", 5);
}

static int
append_str(struct kw_buf *b, const char *s)
{
	return kw_buf_append(b, s, strlen(s));
}

/* Room first, then one vsnprintf; a second only when the first did not fit. */
#define APPEND_GUESS 128u

__attribute__((format(printf, 2, 0))) static int
vappend(struct kw_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int err = kw_buf_reserve(b, APPEND_GUESS);
	if (err)
		return err;
	va_copy(ap2, ap);
	int n = vsnprintf((char *)kw_buf_tail(b), b->cap - b->len, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return KW_ERR_INTERNAL;
	if ((size_t)n >= b->cap - b->len) {
		err = kw_buf_reserve(b, (size_t)n + 1);
		if (err)
			return err;
		vsnprintf((char *)kw_buf_tail(b), (size_t)n + 1, fmt, ap);
	}
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

/* Appends the pieces one after the other, after making room for all of them. */
static int
append_pieces(struct kw_buf *b, const char *const *pieces, const size_t *lens, size_t n)
{
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += lens[i];
	int err = kw_buf_reserve(b, total);
	if (err)
		return err;
	for (size_t i = 0; i < n; i++) {
		memcpy(kw_buf_tail(b), pieces[i], lens[i]);
		kw_buf_commit(b, lens[i]);
	}
	return 0;
}

/* A status line and the fixed headers of a typical response fit at once. */
#define HEAD_RESERVE 512u

int
http_response_begin(struct http_response *resp, int status, time_t now)
{
	char line[sizeof("HTTP/1.1 000 ")];
	char date[HTTP_DATE_LEN + 1];
	const char *reason = http_reason(status);
	http_date_format(now, date);
	resp->status = status;
	memcpy(line, "HTTP/1.1 ", 9);
	put_digits(line + 9, status >= 100 && status <= 999 ? (unsigned)status : 0, 3);
	line[12] = ' ';
	static const char server[] = "\r\nServer: keyward\r\nDate: ";
	const char *pieces[] = {line, reason, server, date, "\r\n"};
	const size_t lens[] = {13, strlen(reason), sizeof(server) - 1, HTTP_DATE_LEN, 2};
	int err = kw_buf_reserve(&resp->head, HEAD_RESERVE);
	if (!err)
		err = append_pieces(&resp->head, pieces, lens, 5);
	resp->fields_start = 13 + lens[1] + 2;
	return err;
}

int
http_response_header_str(struct http_response *resp, const char *name, const char *value)
{
	const char *pieces[] = {name, ": ", value, "\r\n"};
	const size_t lens[] = {strlen(name), 2, strlen(value), 2};
	return append_pieces(&resp->head, pieces, lens, 4);
}

int
http_response_header_u64(struct http_response *resp, const char *name, uint64_t value)
{
	char digits[20];
	size_t n = 0;
	do
		digits[sizeof(digits) - ++n] = (char)('0' + value % 10);
	while ((value /= 10) != 0);
	const char *pieces[] = {name, ": ", digits + sizeof(digits) - n, "\r\n"};
	const size_t lens[] = {strlen(name), 2, n, 2};
	return append_pieces(&resp->head, pieces, lens, 4);
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
	return err ? err : http_response_mem_body(resp, req, "text/html", off);
}

int
http_response_mem_body(struct http_response *resp, const struct http_request *req, const char *type,
                       size_t off)
{
	size_t len = kw_buf_size(&resp->mem) - off;
	resp->body_len = len;
	if (req == NULL || req->method != HTTP_HEAD)
		resp->segments[resp->n_segments++] =
		    (struct http_segment){.from_file = false, .off = off, .len = len};
	int err = http_response_header_str(resp, "Content-Type", type);
	return err ? err : http_response_header_u64(resp, "Content-Length", len);
}

int
http_response_end(struct http_response *resp, const struct http_request *req)
{
	int err = 0;
	resp->fields_end = kw_buf_size(&resp->head);
	if (req == NULL || !req->keep_alive || (resp->streamed && req->version_minor == 0))
		resp->close = true;
	const bool chunked = resp->streamed && req != NULL && req->version_minor > 0;
	if (chunked)
		err = http_response_header_str(resp, "Transfer-Encoding", "chunked");
	resp->chunked = chunked && body_producer_present(&resp->producer);
	if (err)
		return err;
	if (resp->close)
		err = http_response_header_str(resp, "Connection", "close");
	else if (req->version_minor == 0)
		err = http_response_header_str(resp, "Connection", "keep-alive");
	return err ? err : append_str(&resp->head, "\r\n");
}

bool
http_response_next_field(const struct http_response *resp, size_t *pos, struct http_field *f)
{
	const char *head = (const char *)kw_buf_head(&resp->head);
	size_t at = *pos > resp->fields_start ? *pos : resp->fields_start;
	if (head == NULL || at >= resp->fields_end)
		return false;
	const char *line = head + at;
	const char *eol = memchr(line, '\r', resp->fields_end - at);
	const char *colon = memchr(line, ':', resp->fields_end - at);
	if (eol == NULL || colon == NULL || colon > eol)
		return false;
	f->name = line;
	f->name_len = (size_t)(colon - line);
	f->value = colon + 2 <= eol ? colon + 2 : eol;
	f->value_len = (size_t)(eol - f->value);
	*pos = (size_t)(eol - head) + 2;
	return true;
}

void
http_response_stream(struct http_response *resp, const struct http_request *req,
                     const struct body_producer *producer)
{
	resp->streamed = true;
	resp->producer = *producer;
	if (req != NULL && req->method == HTTP_HEAD)
		body_producer_dispose(&resp->producer);
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
	body_producer_dispose(&resp->producer);
	if (resp->fd_shared != NULL)
		shared_fd_release(resp->fd_shared);
	else if (resp->fd >= 0)
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

int
http_error_head(int status, time_t now, struct http_response *resp)
{
	resp->close = status_closes(status);
	int err = http_response_begin(resp, status, now);
	if (!err && status == 405)
		err = http_response_header(resp, "Allow", "GET, HEAD");
	return err;
}

int
http_error_begin(int status, const struct http_request *req, time_t now, struct http_response *resp)
{
	int err = http_error_head(status, now, resp);
	return err ? err : http_response_error_body(resp, req);
}

static int
build_error(int status, const struct http_request *req, time_t now, struct http_response *resp)
{
	int err = http_error_begin(status, req, now, resp);
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

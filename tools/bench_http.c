#include "bench_http.h"

#include <string.h>
#include <strings.h>

static const uint8_t head_end[] = "\r\n\r\n";

void
bench_resp_reset(struct bench_resp *r)
{
	r->state = BENCH_RESP_HEAD;
	r->status = 0;
	r->close = false;
	r->has_length = false;
	r->content_length = 0;
	r->body_len = 0;
	r->head_len = 0;
}

bool
bench_resp_started(const struct bench_resp *r)
{
	return r->state != BENCH_RESP_HEAD || r->head_len > 0;
}

static bool
header_is(const char *line, size_t len, const char *name, const char **value, size_t *value_len)
{
	size_t name_len = strlen(name);
	if (len <= name_len || line[name_len] != ':' || strncasecmp(line, name, name_len) != 0)
		return false;
	const char *v = line + name_len + 1, *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*value = v;
	*value_len = (size_t)(end - v);
	return true;
}

static bool
token_in(const char *v, size_t len, const char *token)
{
	size_t t = strlen(token);
	for (size_t i = 0; i + t <= len; i++) {
		bool start = i == 0 || v[i - 1] == ',' || v[i - 1] == ' ';
		bool stop = i + t == len || v[i + t] == ',' || v[i + t] == ' ';
		if (start && stop && strncasecmp(v + i, token, t) == 0)
			return true;
	}
	return false;
}

static int
parse_length(const char *v, size_t len, uint64_t *out)
{
	uint64_t n = 0;
	if (len == 0 || len > 18)
		return BENCH_RESP_BAD_HEAD;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return BENCH_RESP_BAD_HEAD;
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	*out = n;
	return 0;
}

/* Parses a complete head of len bytes (ending with CRLF CRLF) and picks the body's framing. */
static int
parse_head(struct bench_resp *r, const char *head, size_t len)
{
	if (len < 16 || memcmp(head, "HTTP/1.", 7) != 0 || (head[7] != '0' && head[7] != '1') ||
	    head[8] != ' ')
		return BENCH_RESP_BAD_HEAD;
	bool http10 = head[7] == '0', keep_alive = false, chunked = false;
	int status = 0;
	for (int i = 9; i < 12; i++) {
		if (head[i] < '0' || head[i] > '9')
			return BENCH_RESP_BAD_HEAD;
		status = status * 10 + (head[i] - '0');
	}
	r->status = status;
	const char *line = (const char *)memchr(head, '\n', len) + 1, *end = head + len - 2;
	while (line < end) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		if (eol == NULL || eol == line || eol[-1] != '\r')
			return BENCH_RESP_BAD_HEAD;
		size_t line_len = (size_t)(eol - 1 - line), vlen;
		const char *v;
		if (header_is(line, line_len, "Content-Length", &v, &vlen)) {
			if (r->has_length || parse_length(v, vlen, &r->content_length) < 0)
				return BENCH_RESP_BAD_HEAD;
			r->has_length = true;
		} else if (header_is(line, line_len, "Connection", &v, &vlen)) {
			r->close |= token_in(v, vlen, "close");
			keep_alive |= token_in(v, vlen, "keep-alive");
		} else if (header_is(line, line_len, "Transfer-Encoding", &v, &vlen)) {
			chunked = true;
		}
		line = eol + 1;
	}
	if (http10 && !keep_alive)
		r->close = true;
	if (chunked)
		return BENCH_RESP_UNFRAMED;
	if (status / 100 == 1 || status == 204 || status == 304) {
		r->has_length = true;
		r->content_length = 0;
	}
	if (r->has_length) {
		r->state = r->content_length == 0 ? BENCH_RESP_DONE : BENCH_RESP_BODY;
		return 0;
	}
	if (!r->close)
		return BENCH_RESP_UNFRAMED;
	r->state = BENCH_RESP_BODY_TO_EOF;
	return 0;
}

/* Takes head bytes from p; returns how many, or a negative code. */
static int
feed_head(struct bench_resp *r, const uint8_t *p, size_t n, size_t *used)
{
	if (r->head_len == 0) {
		const uint8_t *end = memmem(p, n, head_end, 4);
		if (end != NULL) {
			*used = (size_t)(end - p) + 4;
			if (*used > BENCH_HEAD_MAX)
				return BENCH_RESP_BAD_HEAD;
			return parse_head(r, (const char *)p, *used);
		}
	}
	size_t from = r->head_len > 3 ? r->head_len - 3 : 0;
	size_t take = n < BENCH_HEAD_MAX - r->head_len ? n : BENCH_HEAD_MAX - r->head_len;
	memcpy(r->head + r->head_len, p, take);
	r->head_len += take;
	const uint8_t *end = memmem(r->head + from, r->head_len - from, head_end, 4);
	if (end == NULL) {
		*used = take;
		return r->head_len == BENCH_HEAD_MAX ? BENCH_RESP_BAD_HEAD : 0;
	}
	size_t head_len = (size_t)(end - r->head) + 4;
	*used = take - (r->head_len - head_len);
	return parse_head(r, (const char *)r->head, head_len);
}

int
bench_resp_feed(struct bench_resp *r, const uint8_t *p, size_t n, size_t *used)
{
	size_t pos = 0;
	if (r->state == BENCH_RESP_HEAD) {
		int rc = feed_head(r, p, n, &pos);
		if (rc < 0)
			return rc;
	}
	if (r->state == BENCH_RESP_BODY) {
		uint64_t want = r->content_length - r->body_len;
		size_t take = n - pos < want ? n - pos : (size_t)want;
		r->body_len += take;
		pos += take;
		if (r->body_len == r->content_length)
			r->state = BENCH_RESP_DONE;
	} else if (r->state == BENCH_RESP_BODY_TO_EOF) {
		r->body_len += n - pos;
		pos = n;
	}
	*used = pos;
	return r->state == BENCH_RESP_DONE;
}

int
bench_resp_eof(struct bench_resp *r)
{
	if (r->state == BENCH_RESP_BODY_TO_EOF)
		r->state = BENCH_RESP_DONE;
	return r->state == BENCH_RESP_DONE ? 1 : BENCH_RESP_TRUNCATED;
}

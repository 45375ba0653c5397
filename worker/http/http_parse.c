#include "http.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "http_path.h"

static bool
is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool
is_token(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!is_tchar((unsigned char)s[i]))
			return false;
	return len > 0;
}

static bool
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Host header values and absolute-form authorities: reg-name or IP literal, optional port. */
static bool
is_authority(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      (c != '\0' && strchr("-._~!$&'()*+,;=:[]%", c) != NULL)))
			return false;
	}
	return len > 0;
}

void
http_parser_init(struct http_parser *p, const struct http_limits *limits)
{
	*p = (struct http_parser){.limits = *limits};
}

void
http_parser_dispose(struct http_parser *p)
{
	kw_buf_free(&p->head);
	p->scanned = p->line_start = p->line_end = 0;
}

static size_t
line_length(const uint8_t *in, size_t start, size_t end)
{
	return end - start - (end > start && in[end - 1] == '\r');
}

/* Scans in[p->scanned, len) for the blank line ending the head; *end is one past it. */
static int
find_head_end(struct http_parser *p, const uint8_t *in, size_t len, size_t *end)
{
	for (size_t i = p->scanned; i < len; i++) {
		if (i == p->line_start && (in[i] == '\r' || in[i] == '\n')) {
			p->line_start++;
			continue;
		}
		if (in[i] != '\n')
			continue;
		if (p->line_end == 0) {
			p->line_end = i + 1;
			if (line_length(in, p->line_start, i) > p->limits.max_request_line)
				return -414;
		} else if (in[i - 1] == '\n' || (in[i - 1] == '\r' && in[i - 2] == '\n')) {
			*end = i + 1;
			return *end > p->limits.max_header_size ? -431 : 1;
		}
	}
	p->scanned = len;
	if (p->line_end == 0 && line_length(in, p->line_start, len) > p->limits.max_request_line)
		return -414;
	return len >= p->limits.max_header_size ? -431 : 0;
}

struct head_state {
	char *te;
	bool has_length;
	bool conn_close;
	bool conn_keep_alive;
	size_t count;
};

static const struct {
	const char *name;
	size_t offset;
	bool unique;
} string_fields[] = {
    {"host", offsetof(struct http_request, host), true},
    {"if-none-match", offsetof(struct http_request, if_none_match), true},
    {"if-modified-since", offsetof(struct http_request, if_modified_since), true},
    {"if-match", offsetof(struct http_request, if_match), true},
    {"if-unmodified-since", offsetof(struct http_request, if_unmodified_since), true},
    {"range", offsetof(struct http_request, range), true},
    {"if-range", offsetof(struct http_request, if_range), true},
    {"user-agent", offsetof(struct http_request, user_agent), false},
    {"referer", offsetof(struct http_request, referer), false},
    {"accept-encoding", offsetof(struct http_request, accept_encoding), false},
};

static int
parse_content_length(const char *v, struct head_state *st, struct http_request *req)
{
	uint64_t n = 0;
	if (*v == '\0')
		return -400;
	for (; *v; v++) {
		if (*v < '0' || *v > '9' || n > (INT64_MAX - (uint64_t)(*v - '0')) / 10)
			return -400;
		n = n * 10 + (uint64_t)(*v - '0');
	}
	if (st->has_length && n != req->content_length)
		return -400;
	st->has_length = true;
	req->content_length = n;
	return 0;
}

static void
parse_connection(const char *v, struct head_state *st)
{
	while (*v) {
		while (is_ows(*v) || *v == ',')
			v++;
		size_t n = strcspn(v, ", \t");
		if (n == 5 && strncasecmp(v, "close", 5) == 0)
			st->conn_close = true;
		else if (n == 10 && strncasecmp(v, "keep-alive", 10) == 0)
			st->conn_keep_alive = true;
		v += n;
	}
}

static int
parse_field(char *line, size_t len, struct head_state *st, struct http_request *req)
{
	if (is_ows(line[0]))
		return -400;
	char *colon = memchr(line, ':', len);
	if (colon == NULL || !is_token(line, (size_t)(colon - line)))
		return -400;
	*colon = '\0';
	char *v = colon + 1;
	char *end = line + len;
	for (char *c = v; c < end; c++)
		if ((unsigned char)*c < 0x20 ? *c != '\t' : *c == 0x7f)
			return -400;
	while (v < end && is_ows(*v))
		v++;
	while (end > v && is_ows(end[-1]))
		end--;
	*end = '\0';

	if (strcasecmp(line, "content-length") == 0)
		return parse_content_length(v, st, req);
	if (strcasecmp(line, "transfer-encoding") == 0) {
		if (st->te != NULL)
			return -400;
		st->te = v;
		return 0;
	}
	if (strcasecmp(line, "connection") == 0) {
		parse_connection(v, st);
		return 0;
	}
	for (size_t i = 0; i < sizeof(string_fields) / sizeof(string_fields[0]); i++) {
		if (strcasecmp(line, string_fields[i].name) != 0)
			continue;
		char **field = (char **)((char *)req + string_fields[i].offset);
		if (*field != NULL && string_fields[i].unique)
			return -400;
		if (*field == NULL)
			*field = v;
		return 0;
	}
	return 0;
}

static int
parse_method(const char *s, size_t len, struct http_request *req)
{
	if (!is_token(s, len))
		return -400;
	if (len >= sizeof(req->method_name))
		return -501;
	memcpy(req->method_name, s, len);
	req->method_name[len] = '\0';
	if (strcmp(req->method_name, "GET") == 0)
		req->method = HTTP_GET;
	else if (strcmp(req->method_name, "HEAD") == 0)
		req->method = HTTP_HEAD;
	else
		req->method = HTTP_OTHER;
	return 0;
}

static int
parse_version(const char *s, size_t len, struct http_request *req)
{
	if (len != 8 || memcmp(s, "HTTP/", 5) != 0 || s[5] < '0' || s[5] > '9' || s[6] != '.' ||
	    s[7] < '0' || s[7] > '9')
		return -400;
	if (s[5] != '1' || (s[7] != '0' && s[7] != '1'))
		return -505;
	req->version_minor = s[7] - '0';
	return 0;
}

/*
 * Splits the request target into path, query and (absolute-form) authority. The
 * decoded path and the authority are written to scratch, which holds 2 * strlen +
 * 4 bytes.
 */
static int
parse_target(char *target, char *scratch, struct http_request *req)
{
	size_t len = strlen(target);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)target[i];
		if (c <= 0x20 || c >= 0x7f || c == '#')
			return -400;
	}
	const char *path = target;
	if (target[0] != '/') {
		size_t scheme = strncasecmp(target, "http://", 7) == 0    ? 7
		                : strncasecmp(target, "https://", 8) == 0 ? 8
		                                                          : 0;
		if (scheme == 0)
			return -400;
		const char *auth = target + scheme;
		size_t auth_len = strcspn(auth, "/?");
		if (!is_authority(auth, auth_len))
			return -400;
		memcpy(scratch, auth, auth_len);
		scratch[auth_len] = '\0';
		req->host = scratch;
		scratch += auth_len + 1;
		path = auth + auth_len;
	}
	const char *q = strchr(path, '?');
	size_t path_len = q ? (size_t)(q - path) : strlen(path);
	req->query = q ? (char *)q + 1 : NULL;
	req->path = scratch;
	size_t out_len;
	if (path_len == 0)
		return http_path_normalise("/", 1, scratch, &out_len);
	return http_path_normalise(path, path_len, scratch, &out_len);
}

static int
parse_request_line(char *line, size_t len, struct http_request *req)
{
	char *sp1 = memchr(line, ' ', len);
	if (sp1 == NULL)
		return -400;
	char *target = sp1 + 1;
	char *sp2 = memchr(target, ' ', len - (size_t)(target - line));
	if (sp2 == NULL || sp2 == target)
		return -400;
	char *version = sp2 + 1;
	size_t version_len = len - (size_t)(version - line);
	int err = parse_method(line, (size_t)(sp1 - line), req);
	if (err == 0)
		err = parse_version(version, version_len, req);
	*sp2 = '\0';
	req->target = target;
	return err;
}

/* Checks what only the whole head can tell; req->host is still the Host field here. */
static int
check_head(const struct http_parser *p, const struct head_state *st, struct http_request *req)
{
	if (req->host == NULL ? req->version_minor == 1
	                      : !is_authority(req->host, strlen(req->host)))
		return -400;
	if (st->te != NULL) {
		if (req->version_minor == 0 || st->has_length)
			return -400;
		if (strcasecmp(st->te, "chunked") != 0)
			return -501;
		req->body_chunked = true;
	}
	if (st->has_length && req->content_length > p->limits.max_body_size)
		return -413;
	req->keep_alive = !st->conn_close && (req->version_minor == 1 || st->conn_keep_alive);
	return 0;
}

/* Parses the head in[0, len), copied into p->head with room for the decoded path. */
static int
parse_head(struct http_parser *p, const uint8_t *in, size_t len, struct http_request *req)
{
	size_t line_len = p->line_end - p->line_start;
	if (memchr(in, '\0', len) != NULL)
		return -400;
	kw_buf_reset(&p->head);
	if (kw_buf_reserve(&p->head, len + 1 + 2 * line_len + 4))
		return -500;
	char *head = (char *)kw_buf_tail(&p->head);
	memcpy(head, in, len);
	head[len] = '\0';
	kw_buf_commit(&p->head, len + 1);
	char *scratch = head + len + 1;

	*req = (struct http_request){.method = HTTP_OTHER};
	struct head_state st = {0};
	char *line = head;
	char *end = head + len;
	int err = 0;
	while (err == 0) {
		char *lf = memchr(line, '\n', (size_t)(end - line));
		char *eol = lf > line && lf[-1] == '\r' ? lf - 1 : lf;
		*eol = '\0';
		if (memchr(line, '\r', (size_t)(eol - line)) != NULL)
			return -400;
		if (line == head)
			err = parse_request_line(line, (size_t)(eol - line), req);
		else if (eol == line)
			break;
		else if (++st.count > p->limits.max_header_count)
			err = -431;
		else
			err = parse_field(line, (size_t)(eol - line), &st, req);
		line = lf + 1;
	}
	if (err == 0)
		err = check_head(p, &st, req);
	return err ? err : parse_target(req->target, scratch, req);
}

int
http_parse_request(struct http_parser *p, const uint8_t *in, size_t len, size_t *consumed,
                   struct http_request *req)
{
	size_t end = 0;
	int rc = find_head_end(p, in, len, &end);
	if (rc == 0)
		return 0;
	if (rc == 1)
		rc = parse_head(p, in + p->line_start, end - p->line_start, req);
	p->scanned = p->line_start = p->line_end = 0;
	if (rc < 0)
		return rc;
	*consumed = end;
	return 1;
}

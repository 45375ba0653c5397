#include "header_check.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/*
 * Names a configuration may not add: framing and hop-by-hop fields (they belong to
 * HTTP/1.1's connection, and HTTP/2 forbids them), and the fields keyward sets
 * itself for each response (a second copy would contradict the first). Expires
 * and Strict-Transport-Security have their own keys (expires, hsts).
 */
static const char *const forbidden[] = {
    "Accept-Ranges",
    "Connection",
    "Content-Encoding",
    "Content-Length",
    "Content-Range",
    "Content-Type",
    "Date",
    "ETag",
    "Expires",
    "Keep-Alive",
    "Last-Modified",
    "Location",
    "Proxy-Connection",
    "Server",
    "Strict-Transport-Security",
    "TE",
    "Trailer",
    "Transfer-Encoding",
    "Upgrade",
    "Vary",
};

static bool
is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static size_t
token_len(const char *s)
{
	size_t n = 0;
	while (is_tchar((unsigned char)s[n]))
		n++;
	return n;
}

size_t
kw_header_name_len(const char *line)
{
	return token_len(line);
}

const char *
kw_header_value(const char *line)
{
	const char *v = line + token_len(line) + 1;
	return v + strspn(v, " \t");
}

const char *
kw_header_line_check(const char *line)
{
	size_t n = token_len(line);
	if (strlen(line) > KW_HEADER_LINE_MAX)
		return "is longer than 4096 bytes";
	if (n == 0 || line[n] != ':')
		return "must be \"Name: value\" with a name of letters, digits and !#$%&'*+-.^_`|~";
	if (n > KW_HEADER_NAME_MAX)
		return "has a name longer than 64 characters";
	for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++)
		if (strlen(forbidden[i]) == n && strncasecmp(line, forbidden[i], n) == 0)
			return "names a header that keyward sets itself or that belongs to the "
			       "connection (see keyward.conf(5); Expires and "
			       "Strict-Transport-Security have the keys expires and hsts)";
	const char *v = kw_header_value(line);
	if (*v == '\0')
		return "has an empty value";
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if ((*p < 0x20 && *p != '\t') || *p > 0x7e)
			return "has a control or non-ASCII byte in its value";
	char last = v[strlen(v) - 1];
	if (last == ' ' || last == '\t')
		return "has whitespace at the end of its value";
	return NULL;
}

const char *
kw_hsts_check(const char *value)
{
	static const char why[] =
	    "must be directives separated by ';' with exactly one max-age=SECONDS, e.g. "
	    "\"max-age=31536000; includeSubDomains\"";
	const char *names[8];
	size_t lens[8], count = 0;
	int max_age = 0;
	const char *p = value;
	for (;;) {
		p += strspn(p, " \t");
		size_t n = token_len(p);
		if (n == 0 || count == sizeof(names) / sizeof(names[0]))
			return why;
		for (size_t i = 0; i < count; i++)
			if (lens[i] == n && strncasecmp(names[i], p, n) == 0)
				return "repeats a directive";
		names[count] = p;
		lens[count++] = n;
		bool is_max_age = n == 7 && strncasecmp(p, "max-age", 7) == 0;
		p += n;
		if (*p == '=') {
			p++;
			size_t vn = token_len(p);
			size_t digits = strspn(p, "0123456789");
			if (vn == 0 || (is_max_age && (digits != vn || digits > 10)))
				return why;
			p += vn;
			max_age += is_max_age;
		} else if (is_max_age) {
			return why;
		}
		p += strspn(p, " \t");
		if (*p == '\0')
			break;
		if (*p++ != ';')
			return why;
	}
	return max_age == 1 ? NULL : why;
}

#include "accept_encoding.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

static bool
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Parses a qvalue at s[0, len): 0 to HTTP_Q_MAX, or -1 when malformed. */
static int
parse_qvalue(const char *s, size_t len)
{
	if (len == 0 || (s[0] != '0' && s[0] != '1') || len > 5 || (len > 1 && s[1] != '.'))
		return -1;
	int q = (s[0] - '0') * HTTP_Q_MAX;
	int scale = 100;
	for (size_t i = 2; i < len; i++, scale /= 10) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		q += (s[i] - '0') * scale;
	}
	return q <= HTTP_Q_MAX ? q : -1;
}

/*
 * The q of one element e[0, len) ("coding *( OWS ; OWS q=value )"), with its coding
 * name in *name, *name_len; -1 when the element is to be skipped.
 */
static int
element_q(const char *e, size_t len, const char **name, size_t *name_len)
{
	size_t n = strcspn(e, "; \t,");
	if (n == 0 || n > len)
		return -1;
	*name = e;
	*name_len = n;
	const char *p = e + n;
	const char *end = e + len;
	while (p < end && is_ows(*p))
		p++;
	if (p == end)
		return HTTP_Q_MAX;
	if (*p++ != ';')
		return -1;
	while (p < end && is_ows(*p))
		p++;
	if (end - p < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=')
		return -1;
	p += 2;
	const char *v = p;
	while (p < end && !is_ows(*p))
		p++;
	size_t vlen = (size_t)(p - v);
	while (p < end && is_ows(*p))
		p++;
	return p == end ? parse_qvalue(v, vlen) : -1;
}

static bool
names(const char *name, size_t len, const char *coding)
{
	if (len == strlen(coding) && strncasecmp(name, coding, len) == 0)
		return true;
	return strcmp(coding, "gzip") == 0 && len == 6 && strncasecmp(name, "x-gzip", 6) == 0;
}

/* The q accept gives coding by name or by "*", or -1 when it names neither. */
static int
listed_q(const char *accept, const char *coding)
{
	int star = -1;
	const char *p = accept;
	while (*p != '\0') {
		while (is_ows(*p) || *p == ',')
			p++;
		size_t len = strcspn(p, ",");
		while (len > 0 && is_ows(p[len - 1]))
			len--;
		const char *name;
		size_t name_len;
		int q = len > 0 ? element_q(p, len, &name, &name_len) : -1;
		if (q >= 0 && names(name, name_len, coding))
			return q;
		if (q >= 0 && star < 0 && name_len == 1 && name[0] == '*')
			star = q;
		p += strcspn(p, ",");
	}
	return star;
}

int
http_accept_q(const char *accept, const char *coding)
{
	bool identity = strcmp(coding, "identity") == 0;
	int q = accept != NULL ? listed_q(accept, coding) : -1;
	if (q >= 0)
		return q;
	return identity ? HTTP_Q_MAX : 0;
}

#define MAX_CODINGS 8

size_t
http_accept_order(const char *accept, const char *const *codings, size_t n, size_t *order)
{
	int q[MAX_CODINGS];
	int identity = accept != NULL ? listed_q(accept, "identity") : -1;
	size_t count = 0;
	for (size_t i = 0; i < n && i < MAX_CODINGS; i++) {
		q[i] = http_accept_q(accept, codings[i]);
		if (q[i] == 0 || q[i] < identity)
			continue;
		size_t j = count++;
		for (; j > 0 && q[order[j - 1]] < q[i]; j--)
			order[j] = order[j - 1];
		order[j] = i;
	}
	return count;
}

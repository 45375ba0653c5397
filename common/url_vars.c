#include "url_vars.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "err.h"

static const char *const names[KW_N_VARS] = {
    [KW_VAR_HOST] = "host",
    [KW_VAR_URI] = "uri",
    [KW_VAR_ARGS] = "args",
    [KW_VAR_SCHEME] = "scheme",
    [KW_VAR_REQUEST_URI] = "request_uri",
};

/* The variable at p (just after '$'); its length with braces in *len, or -1. */
static int
parse_var(const char *p, size_t *len)
{
	bool braced = *p == '{';
	const char *name = p + braced;
	size_t n = 0;
	while (islower((unsigned char)name[n]) || name[n] == '_')
		n++;
	if (braced && name[n] != '}')
		return -1;
	for (int i = 0; i < KW_N_VARS; i++) {
		if (strlen(names[i]) == n && strncmp(names[i], name, n) == 0) {
			*len = n + 2 * braced;
			return i;
		}
	}
	return -1;
}

const char *
kw_vars_check(const char *text)
{
	size_t len = 0;
	for (const char *p = strchr(text, '$'); p != NULL; p = strchr(p + 1 + len, '$'))
		if (parse_var(p + 1, &len) < 0)
			return "has a '$' that starts no known variable ($host, $uri, $args, "
			       "$scheme, "
			       "$request_uri, or ${name})";
	return NULL;
}

static bool
needs_encoding(enum kw_var var, unsigned char c)
{
	if (var == KW_VAR_HOST)
		return !isalnum(c) && strchr(".-:[]", c) == NULL;
	if (c <= 0x20 || c >= 0x7f || strchr("\"<>\\^`{|}", c) != NULL)
		return true;
	return var == KW_VAR_URI && strchr("%?#", c) != NULL;
}

int
kw_vars_encode(enum kw_var var, const char *s, struct kw_buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	int err = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p && err == 0; p++) {
		char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
		err =
		    needs_encoding(var, *p) ? kw_buf_append(out, esc, 3) : kw_buf_append(out, p, 1);
	}
	return err;
}

int
kw_vars_expand(const char *text, const char *const values[KW_N_VARS], struct kw_buf *out)
{
	int err = 0;
	const char *p = text;
	while (err == 0 && *p != '\0') {
		const char *dollar = strchr(p, '$');
		size_t lit = dollar != NULL ? (size_t)(dollar - p) : strlen(p);
		err = kw_buf_append(out, p, lit);
		p += lit;
		if (err != 0 || dollar == NULL)
			break;
		size_t len;
		int var = parse_var(p + 1, &len);
		if (var < 0)
			return KW_ERR_INTERNAL;
		if (values[var] != NULL)
			err = kw_vars_encode((enum kw_var)var, values[var], out);
		p += 1 + len;
	}
	return err;
}

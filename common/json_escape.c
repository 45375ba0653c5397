/*
 * json_escape.c - the inside of a JSON string from arbitrary bytes.
 */
#include "json_escape.h"

#include <string.h>

/*
 * The length of the valid UTF-8 sequence at p[0, n) (RFC 3629: no overlong forms,
 * no surrogates, nothing past U+10FFFF), 0 when there is none.
 */
static size_t
utf8_sequence(const unsigned char *p, size_t n)
{
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

size_t
json_escape(char *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	for (size_t i = 0; i < len;) {
		const unsigned char b = p[i];
		const char *short_form = b == '"'    ? "\\\""
		                         : b == '\\' ? "\\\\"
		                         : b == '\n' ? "\\n"
		                         : b == '\r' ? "\\r"
		                         : b == '\t' ? "\\t"
		                         : b == '\b' ? "\\b"
		                         : b == '\f' ? "\\f"
		                                     : NULL;
		size_t seq;
		if (short_form != NULL) {
			memcpy(out + o, short_form, 2);
			o += 2;
			i++;
		} else if (b >= 0x20 && b < 0x7f) {
			out[o++] = (char)b;
			i++;
		} else if (b >= 0x80 && (seq = utf8_sequence(p + i, len - i)) > 0) {
			memcpy(out + o, p + i, seq);
			o += seq;
			i += seq;
		} else {
			char esc[JSON_ESCAPE_MAX] = {'\\', 'u',         '0',
			                             '0',  hex[b >> 4], hex[b & 0xf]};
			memcpy(out + o, esc, sizeof(esc));
			o += sizeof(esc);
			i++;
		}
	}
	return o;
}

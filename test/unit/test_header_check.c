/*
 * The checks on configured response header lines and on the HSTS value.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "header_check.h"

#define OK(line)            cr_expect_null(kw_header_line_check(line), "%s", line)
#define REFUSED(line, word) expect_refused(kw_header_line_check(line), line, word)

static void
expect_refused(const char *why, const char *line, const char *word)
{
	cr_assert_not_null(why, "accepted: %s", line);
	cr_expect_not_null(strstr(why, word), "%s: %s", line, why);
}

Test(header_line, accepted)
{
	OK("Cache-Control: max-age=3600");
	OK("X-Frame-Options:DENY");
	OK("Link: </style.css>; rel=preload; as=style");
	OK("Content-Security-Policy: default-src 'self'\t; img-src *");
	OK("x!#$%&'*+-.^_`|~: v");
	OK("Permissions-Policy: a=()");
}

Test(header_line, names_must_be_tokens)
{
	REFUSED("Bad Name: x", "Name: value");
	REFUSED(": x", "Name: value");
	REFUSED("NoColon", "Name: value");
	REFUSED("X-A : x", "Name: value");
	REFUSED("X(a): x", "Name: value");
	REFUSED("X\"a: x", "Name: value");
	REFUSED("Ä: x", "Name: value");
}

Test(header_line, name_length_boundary)
{
	char line[128];
	memset(line, 'n', 64);
	strcpy(line + 64, ": v");
	OK(line);
	memset(line, 'n', 65);
	strcpy(line + 65, ": v");
	REFUSED(line, "longer than 64");
}

Test(header_line, line_length_boundary)
{
	static char line[KW_HEADER_LINE_MAX + 2];
	memcpy(line, "X: ", 3);
	memset(line + 3, 'v', KW_HEADER_LINE_MAX - 3);
	line[KW_HEADER_LINE_MAX] = '\0';
	OK(line);
	line[KW_HEADER_LINE_MAX] = 'v';
	line[KW_HEADER_LINE_MAX + 1] = '\0';
	REFUSED(line, "longer than 4096");
}

Test(header_line, values_without_control_bytes)
{
	REFUSED("X-A: a\r\nSet-Cookie: x", "control");
	REFUSED("X-A: a\nb", "control");
	REFUSED("X-A: a\rb", "control");
	REFUSED("X-A: a\x7f", "control");
	REFUSED("X-A: caf\xc3\xa9", "non-ASCII");
	REFUSED("X-A: \x01", "control");
	REFUSED("X-A:", "empty value");
	REFUSED("X-A:   ", "empty value");
	REFUSED("X-A: a ", "whitespace at the end");
	REFUSED("X-A: a\t", "whitespace at the end");
}

Test(header_line, framing_and_own_headers_refused_in_any_case)
{
	static const char *const names[] = {"Content-Length",
	                                    "content-length",
	                                    "TRANSFER-ENCODING",
	                                    "Connection",
	                                    "Keep-Alive",
	                                    "Upgrade",
	                                    "TE",
	                                    "Trailer",
	                                    "Date",
	                                    "Server",
	                                    "Content-Type",
	                                    "Content-Range",
	                                    "Content-Encoding",
	                                    "ETag",
	                                    "Last-Modified",
	                                    "Accept-Ranges",
	                                    "Location",
	                                    "Vary",
	                                    "Expires",
	                                    "Strict-Transport-Security",
	                                    "Proxy-Connection"};
	char line[128];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(line, sizeof(line), "%s: x", names[i]);
		REFUSED(line, "sets itself");
	}
	OK("Content-Language: en");
	OK("Dates: x");
	OK("X-Server: x");
	OK("Content: x");
	OK("Ex: y");
}

Test(header_line, name_and_value_split)
{
	const char *line = "Cache-Control: \t max-age=1";
	cr_assert_eq(kw_header_name_len(line), 13);
	cr_assert_str_eq(kw_header_value(line), "max-age=1");
	cr_assert_str_eq(kw_header_value("A:b"), "b");
}

#define HSTS_OK(v)      cr_expect_null(kw_hsts_check(v), "%s", v)
#define HSTS_REFUSED(v) cr_expect_not_null(kw_hsts_check(v), "%s", v)

Test(hsts, values)
{
	HSTS_OK("max-age=31536000");
	HSTS_OK("max-age=0");
	HSTS_OK("max-age=31536000; includeSubDomains");
	HSTS_OK("max-age=63072000; includeSubDomains; preload");
	HSTS_OK("includeSubDomains;max-age=1");
	HSTS_OK("max-age=9999999999");
	HSTS_REFUSED("max-age=99999999999");
	HSTS_REFUSED("includeSubDomains");
	HSTS_REFUSED("max-age");
	HSTS_REFUSED("max-age=");
	HSTS_REFUSED("max-age=1y");
	HSTS_REFUSED("max-age=-1");
	HSTS_REFUSED("max-age=1; max-age=2");
	HSTS_REFUSED("max-age=1; preload; PRELOAD");
	HSTS_REFUSED("max-age=1;");
	HSTS_REFUSED("max-age=1;; preload");
	HSTS_REFUSED("max-age=1, preload");
	HSTS_REFUSED("max-age=1\r\nX: y");
	HSTS_REFUSED("");
}

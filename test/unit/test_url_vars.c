/*
 * The variables of a location's return: the check at load, the expansion and its
 * percent-encoding of request values.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "err.h"
#include "url_vars.h"

static char out[1024];

static const char *
expand(const char *text, const char *host, const char *uri, const char *args)
{
	const char *values[KW_N_VARS] = {[KW_VAR_HOST] = host,
	                                 [KW_VAR_URI] = uri,
	                                 [KW_VAR_ARGS] = args,
	                                 [KW_VAR_SCHEME] = "https",
	                                 [KW_VAR_REQUEST_URI] = "/a%20b?x=1"};
	struct kw_buf b = {0};
	cr_assert_null(kw_vars_check(text), "%s", text);
	cr_assert_eq(kw_vars_expand(text, values, &b), 0);
	cr_assert_lt(kw_buf_size(&b), sizeof(out));
	memcpy(out, kw_buf_head(&b), kw_buf_size(&b));
	out[kw_buf_size(&b)] = '\0';
	kw_buf_free(&b);
	return out;
}

Test(url_vars, check)
{
	cr_expect_null(kw_vars_check("no variables"));
	cr_expect_null(kw_vars_check("$host$uri?$args"));
	cr_expect_null(kw_vars_check("${scheme}://${host}${request_uri}"));
	cr_expect_not_null(kw_vars_check("$"));
	cr_expect_not_null(kw_vars_check("price: 5$"));
	cr_expect_not_null(kw_vars_check("$hostname"));
	cr_expect_not_null(kw_vars_check("$HOST"));
	cr_expect_not_null(kw_vars_check("${host"));
	cr_expect_not_null(kw_vars_check("${nope}"));
	cr_expect_not_null(kw_vars_check("$uri$"));
	cr_expect_not_null(kw_vars_check("$$host"));
}

Test(url_vars, expansion)
{
	cr_assert_str_eq(expand("https://$host$uri", "example.com:8443", "/a/b", NULL),
	                 "https://example.com:8443/a/b");
	cr_assert_str_eq(expand("${scheme}://${host}x$uri?$args", "h", "/p", "a=1&b=%20"),
	                 "https://hx/p?a=1&b=%20");
	cr_assert_str_eq(expand("$request_uri", "h", "/", NULL), "/a%20b?x=1");
	cr_assert_str_eq(expand("[$args][$host]", NULL, "/", NULL), "[][]");
	cr_assert_str_eq(expand("plain", "h", "/", NULL), "plain");
}

Test(url_vars, request_values_cannot_break_a_header)
{
	cr_assert_str_eq(expand("$uri", "h", "/a\r\nSet-Cookie: x=1", NULL),
	                 "/a%0D%0ASet-Cookie:%20x=1");
	cr_assert_str_eq(expand("$args", "h", "/", "x=\r\n\t\"<>\\^`{|}\x7f\xc3\xa9"),
	                 "x=%0D%0A%09%22%3C%3E%5C%5E%60%7B%7C%7D%7F%C3%A9");
	cr_assert_str_eq(expand("$uri", "h", "/100%?#", NULL), "/100%25%3F%23");
	cr_assert_str_eq(expand("$args", "h", "/", "a%2Fb?c#"), "a%2Fb?c#");
	cr_assert_str_eq(expand("$host", "evil.com/x?y@z\\ \r\n", "/", NULL),
	                 "evil.com%2Fx%3Fy%40z%5C%20%0D%0A");
	cr_assert_str_eq(expand("$host", "[::1]:80", "/", NULL), "[::1]:80");
}

Test(url_vars, encode_alone)
{
	struct kw_buf b = {0};
	cr_assert_eq(kw_vars_encode(KW_VAR_URI, "/a b", &b), 0);
	cr_assert_eq(kw_buf_size(&b), 6);
	cr_assert_eq(memcmp(kw_buf_head(&b), "/a%20b", 6), 0);
	kw_buf_free(&b);
}

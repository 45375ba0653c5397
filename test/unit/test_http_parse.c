/*
 * The HTTP/1.1 request-head parser, request body framing and error responses.
 */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "http_response.h"

static struct http_limits limits = {
    .max_request_line = 64,
    .max_header_size = 256,
    .max_header_count = 4,
    .max_body_size = 1000,
};
static struct http_parser parser;
static struct http_request req;
static size_t consumed;

static void
setup(void)
{
	http_parser_init(&parser, &limits);
}

static void
teardown(void)
{
	http_parser_dispose(&parser);
}

static int
parse_n(const char *text, size_t len)
{
	consumed = 0;
	return http_parse_request(&parser, (const uint8_t *)text, len, &consumed, &req);
}

static int
parse(const char *text)
{
	return parse_n(text, strlen(text));
}

/* A request line plus "Host: h" and the given extra header lines. */
static int parse_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
parse_fmt(const char *fmt, ...)
{
	static char buf[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return parse(buf);
}

#define ASSERT_PARSE(status, text) cr_assert_eq(parse(text), status, "%s", text)

TestSuite(parse, .init = setup, .fini = teardown);

Test(parse, simple_get)
{
	const char *t = "GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n";
	cr_assert_eq(parse(t), 1);
	cr_assert_eq(consumed, strlen(t));
	cr_assert_eq(req.method, HTTP_GET);
	cr_assert_str_eq(req.method_name, "GET");
	cr_assert_eq(req.version_minor, 1);
	cr_assert_str_eq(req.target, "/index.html");
	cr_assert_str_eq(req.path, "/index.html");
	cr_assert_null(req.query);
	cr_assert_str_eq(req.host, "example.com");
	cr_assert(req.keep_alive);
	cr_assert_not(req.body_chunked);
	cr_assert_eq(req.content_length, 0);
	cr_assert_null(req.range);
	cr_assert_null(req.if_none_match);
	cr_assert_null(req.user_agent);
}

Test(parse, head_method)
{
	ASSERT_PARSE(1, "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_assert_eq(req.method, HTTP_HEAD);
}

Test(parse, other_methods)
{
	ASSERT_PARSE(1, "POST / HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_assert_eq(req.method, HTTP_OTHER);
	cr_assert_str_eq(req.method_name, "POST");
	ASSERT_PARSE(1, "get / HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_assert_eq(req.method, HTTP_OTHER);
	ASSERT_PARSE(1, "M-SEARCH / HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_assert_eq(req.method, HTTP_OTHER);
}

Test(parse, method_length)
{
	ASSERT_PARSE(1, "ABCDEFGHIJKLMNO / HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_assert_str_eq(req.method_name, "ABCDEFGHIJKLMNO");
	ASSERT_PARSE(-501, "ABCDEFGHIJKLMNOP / HTTP/1.1\r\nHost: h\r\n\r\n");
}

Test(parse, method_not_a_token)
{
	ASSERT_PARSE(-400, "G(T / HTTP/1.1\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-400, " GET / HTTP/1.1\r\nHost: h\r\n\r\n");
}

Test(parse, request_line_spacing)
{
	ASSERT_PARSE(-400, "GET  / HTTP/1.1\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-400, "GET / HTTP/1.1 \r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-400, "GET /  HTTP/1.1\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-400, "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-400, "GET /\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-400, "GET\r\n\r\n");
}

Test(parse, versions)
{
	ASSERT_PARSE(1, "GET / HTTP/1.0\r\n\r\n");
	cr_assert_eq(req.version_minor, 0);
	ASSERT_PARSE(-505, "GET / HTTP/2.0\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-505, "GET / HTTP/1.2\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-505, "GET / HTTP/0.9\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-505, "GET / HTTP/3.1\r\nHost: h\r\n\r\n");
}

Test(parse, malformed_versions)
{
	ASSERT_PARSE(-400, "GET / HTTP/1.10\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-400, "GET / http/1.1\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-400, "GET / HTTP/1\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-400, "GET / HTTP/1.x\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-400, "GET / HTTP/11\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-400, "GET / FTP/1.1\r\nHost: h\r\n\r\n");
}

Test(parse, origin_form_query)
{
	ASSERT_PARSE(1, "GET /a/b?x=1&y=%20 HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_assert_str_eq(req.target, "/a/b?x=1&y=%20");
	cr_assert_str_eq(req.path, "/a/b");
	cr_assert_str_eq(req.query, "x=1&y=%20");
	ASSERT_PARSE(1, "GET /? HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_assert_str_eq(req.query, "");
}

Test(parse, path_normalised)
{
	ASSERT_PARSE(1, "GET /a/../b HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_assert_str_eq(req.path, "/b");
	ASSERT_PARSE(1, "GET //x/./y/%7e HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_assert_str_eq(req.path, "/x/y/~");
	ASSERT_PARSE(1, "GET /a/..?q=/../ HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_assert_str_eq(req.path, "/");
	cr_assert_str_eq(req.query, "q=/../");
}

Test(parse, bad_paths)
{
	ASSERT_PARSE(-400, "GET /%2e%2e/x HTTP/1.1\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-400, "GET /../x HTTP/1.1\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-400, "GET /a%2fb HTTP/1.1\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-400, "GET /a%00 HTTP/1.1\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-400, "GET /%zz HTTP/1.1\r\nHost: h\r\n\r\n");
}

Test(parse, absolute_form)
{
	ASSERT_PARSE(1, "GET http://example.com:8080/x/y?z=1 HTTP/1.1\r\nHost: other\r\n\r\n");
	cr_assert_str_eq(req.host, "example.com:8080");
	cr_assert_str_eq(req.path, "/x/y");
	cr_assert_str_eq(req.query, "z=1");
	cr_assert_str_eq(req.target, "http://example.com:8080/x/y?z=1");
}

Test(parse, absolute_form_without_path)
{
	ASSERT_PARSE(1, "GET HTTP://Example.COM HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_assert_str_eq(req.host, "Example.COM");
	cr_assert_str_eq(req.path, "/");
	cr_assert_null(req.query);
	ASSERT_PARSE(1, "GET https://h?q HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_assert_str_eq(req.path, "/");
	cr_assert_str_eq(req.query, "q");
}

Test(parse, absolute_form_http10_without_host)
{
	ASSERT_PARSE(1, "GET http://h/a HTTP/1.0\r\n\r\n");
	cr_assert_str_eq(req.host, "h");
}

Test(parse, absolute_form_bad)
{
	ASSERT_PARSE(-400, "GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-400, "GET http://user@h/x HTTP/1.1\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-400, "GET ftp://h/x HTTP/1.1\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-400, "GET http:/h/x HTTP/1.1\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-400, "GET http://h/../x HTTP/1.1\r\nHost: h\r\n\r\n");
}

Test(parse, other_target_forms)
{
	ASSERT_PARSE(-400, "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-400, "CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-400, "GET a/b HTTP/1.1\r\nHost: h\r\n\r\n");
}

Test(parse, target_characters)
{
	ASSERT_PARSE(-400, "GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-400, "GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-400, "GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-400, "GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(1, "GET /a!$&'()*+,;=:@-._~ HTTP/1.1\r\nHost: h\r\n\r\n");
}

Test(parse, nul_anywhere)
{
	static const char t[] = "GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n";
	cr_assert_eq(parse_n(t, sizeof(t) - 1), -400);
	static const char h[] = "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n";
	cr_assert_eq(parse_n(h, sizeof(h) - 1), -400);
}

Test(parse, host_required_in_11)
{
	ASSERT_PARSE(-400, "GET / HTTP/1.1\r\n\r\n");
	ASSERT_PARSE(1, "GET / HTTP/1.0\r\n\r\n");
	cr_assert_null(req.host);
}

Test(parse, duplicate_host)
{
	ASSERT_PARSE(-400, "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n");
	ASSERT_PARSE(-400, "GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n");
}

Test(parse, host_values)
{
	ASSERT_PARSE(-400, "GET / HTTP/1.1\r\nHost:\r\n\r\n");
	ASSERT_PARSE(-400, "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n");
	ASSERT_PARSE(-400, "GET / HTTP/1.1\r\nHost: a b\r\n\r\n");
	ASSERT_PARSE(-400, "GET / HTTP/1.1\r\nHost: u@h\r\n\r\n");
	ASSERT_PARSE(1, "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
	cr_assert_str_eq(req.host, "[::1]:8080");
	ASSERT_PARSE(1, "GET / HTTP/1.1\r\nhOsT:   a.example  \r\n\r\n");
	cr_assert_str_eq(req.host, "a.example");
}

Test(parse, header_names)
{
	ASSERT_PARSE(-400, "GET / HTTP/1.1\r\nHost : h\r\n\r\n");
	ASSERT_PARSE(-400, "GET / HTTP/1.1\r\nHost\t: h\r\n\r\n");
	ASSERT_PARSE(-400, "GET / HTTP/1.1\r\nHost: h\r\n: x\r\n\r\n");
	ASSERT_PARSE(-400, "GET / HTTP/1.1\r\nHost: h\r\nNo colon\r\n\r\n");
	ASSERT_PARSE(-400, "GET / HTTP/1.1\r\nHost: h\r\nX(y): z\r\n\r\n");
}

Test(parse, obsolete_line_folding)
{
	ASSERT_PARSE(-400, "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n");
	ASSERT_PARSE(-400, "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n\tb\r\n\r\n");
	ASSERT_PARSE(-400, "GET / HTTP/1.1\r\n Host: h\r\n\r\n");
}

Test(parse, control_characters_in_values)
{
	ASSERT_PARSE(-400, "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n");
	ASSERT_PARSE(-400, "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01"
	                   "b\r\n\r\n");
	ASSERT_PARSE(-400, "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x7f\r\n\r\n");
	ASSERT_PARSE(-400, "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x1b[0m\r\n\r\n");
	ASSERT_PARSE(1, "GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: a\tb \xc3\xa9\r\n\r\n");
	cr_assert_str_eq(req.user_agent, "a\tb \xc3\xa9");
}

Test(parse, bare_cr_in_request_line)
{
	ASSERT_PARSE(-400, "GET /\r HTTP/1.1\r\nHost: h\r\n\r\n");
	ASSERT_PARSE(-400, "GET / HTTP/1.1\r\r\nHost: h\r\n\r\n");
}

Test(parse, bare_lf_line_endings)
{
	ASSERT_PARSE(1, "GET /lf HTTP/1.1\nHost: h\n\n");
	cr_assert_str_eq(req.path, "/lf");
	cr_assert_str_eq(req.host, "h");
	ASSERT_PARSE(1, "GET / HTTP/1.1\r\nHost: h\n\r\n");
	ASSERT_PARSE(1, "GET / HTTP/1.1\nHost: h\r\n\n");
}

Test(parse, leading_empty_lines_skipped)
{
	const char *t = "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
	cr_assert_eq(parse(t), 1);
	cr_assert_eq(consumed, strlen(t));
	cr_assert_str_eq(req.method_name, "GET");
	cr_assert_eq(parse("\r\n\n"), 0);
}

Test(parse, headers_captured)
{
	ASSERT_PARSE(1, "GET / HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"a\"\r\n"
	                "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
	                "Range: bytes=0-1\r\n\r\n");
	cr_assert_str_eq(req.if_none_match, "\"a\"");
	cr_assert_str_eq(req.if_modified_since, "Sun, 06 Nov 1994 08:49:37 GMT");
	cr_assert_str_eq(req.range, "bytes=0-1");
	ASSERT_PARSE(1, "GET / HTTP/1.1\r\nHost: h\r\nReferer: r\r\n\r\n");
	cr_assert_str_eq(req.referer, "r");
	ASSERT_PARSE(1, "GET / HTTP/1.1\r\nHost: h\r\nIf-Match: *\r\n"
	                "If-Unmodified-Since: x\r\nIf-Range: \"b\"\r\n\r\n");
	cr_assert_str_eq(req.if_match, "*");
	cr_assert_str_eq(req.if_unmodified_since, "x");
	cr_assert_str_eq(req.if_range, "\"b\"");
}

Test(parse, duplicate_single_value_headers)
{
	static const char *names[] = {"If-None-Match", "If-Modified-Since",
	                              "If-Match",      "If-Unmodified-Since",
	                              "Range",         "If-Range"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		cr_assert_eq(parse_fmt("GET / HTTP/1.1\r\nHost: h\r\n%s: a\r\n%s: a\r\n\r\n",
		                       names[i], names[i]),
		             -400, "%s", names[i]);
}

Test(parse, duplicate_informational_headers_keep_first)
{
	ASSERT_PARSE(1, "GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: one\r\nUser-Agent: two\r\n\r\n");
	cr_assert_str_eq(req.user_agent, "one");
}

Test(parse, connection_defaults)
{
	ASSERT_PARSE(1, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_assert(req.keep_alive);
	ASSERT_PARSE(1, "GET / HTTP/1.0\r\n\r\n");
	cr_assert_not(req.keep_alive);
}

Test(parse, connection_tokens)
{
	ASSERT_PARSE(1, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
	cr_assert_not(req.keep_alive);
	ASSERT_PARSE(1, "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n");
	cr_assert_not(req.keep_alive);
	ASSERT_PARSE(1, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
	cr_assert(req.keep_alive);
	ASSERT_PARSE(1, "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n");
	cr_assert_not(req.keep_alive);
	ASSERT_PARSE(
	    1, "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n");
	cr_assert_not(req.keep_alive);
	ASSERT_PARSE(1, "GET / HTTP/1.0\r\nConnection: closed, keep-alives\r\n\r\n");
	cr_assert_not(req.keep_alive);
}

Test(parse, content_length)
{
	ASSERT_PARSE(1, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n");
	cr_assert_eq(req.content_length, 10);
	cr_assert_not(req.body_chunked);
	ASSERT_PARSE(1, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 007\r\n\r\n");
	cr_assert_eq(req.content_length, 7);
}

Test(parse, content_length_malformed)
{
	static const char *bad[] = {"", "abc", "-1", "+1", "1,2", "1, 1", "1 2", "0x10", "1.0"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(
		    parse_fmt("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %s\r\n\r\n", bad[i]),
		    -400, "'%s'", bad[i]);
}

Test(parse, content_length_repeated)
{
	ASSERT_PARSE(
	    1, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
	cr_assert_eq(req.content_length, 5);
	ASSERT_PARSE(
	    -400, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
}

Test(parse, content_length_overflow)
{
	http_parser_dispose(&parser);
	struct http_limits big = limits;
	big.max_body_size = UINT64_MAX;
	http_parser_init(&parser, &big);
	ASSERT_PARSE(1,
	             "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775807\r\n\r\n");
	cr_assert_eq(req.content_length, 9223372036854775807ULL);
	ASSERT_PARSE(-400,
	             "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775808\r\n\r\n");
	ASSERT_PARSE(-400,
	             "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n");
}

Test(parse, body_size_limit)
{
	ASSERT_PARSE(1, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n");
	ASSERT_PARSE(-413, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1001\r\n\r\n");
}

Test(parse, transfer_encoding_chunked)
{
	ASSERT_PARSE(1, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
	cr_assert(req.body_chunked);
	ASSERT_PARSE(1, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:  ChUnKeD \r\n\r\n");
	cr_assert(req.body_chunked);
}

Test(parse, transfer_encoding_other_codings)
{
	ASSERT_PARSE(-501, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n");
	ASSERT_PARSE(-501,
	             "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
	ASSERT_PARSE(-501,
	             "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n");
	ASSERT_PARSE(-501, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n");
}

Test(parse, transfer_encoding_with_content_length)
{
	ASSERT_PARSE(-400, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
	                   "Content-Length: 5\r\n\r\n");
	ASSERT_PARSE(-400, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
	                   "Transfer-Encoding: chunked\r\n\r\n");
	ASSERT_PARSE(-400, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
	                   "Transfer-Encoding: gzip\r\n\r\n");
}

Test(parse, transfer_encoding_in_http10)
{
	ASSERT_PARSE(-400, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
}

Test(parse, transfer_encoding_repeated)
{
	ASSERT_PARSE(-400, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
	                   "Transfer-Encoding: chunked\r\n\r\n");
}

/* "GET /" + n - 14 'a's + " HTTP/1.1": a request line of exactly n bytes. */
static char *
request_line_of(size_t n)
{
	static char buf[512];
	size_t path = n - strlen("GET  HTTP/1.1");
	memcpy(buf, "GET /", 5);
	memset(buf + 5, 'a', path - 1);
	strcpy(buf + 4 + path, " HTTP/1.1");
	cr_assert_eq(strlen(buf), n);
	return buf;
}

Test(parse, request_line_at_limit)
{
	cr_assert_eq(parse_fmt("%s\r\nHost: h\r\n\r\n", request_line_of(64)), 1);
}

Test(parse, request_line_over_limit)
{
	cr_assert_eq(parse_fmt("%s\r\nHost: h\r\n\r\n", request_line_of(65)), -414);
}

Test(parse, request_line_over_limit_before_end)
{
	char *line = request_line_of(65);
	cr_assert_eq(parse_n(line, 64), 0);
	cr_assert_eq(parse_n(line, 65), -414);
}

Test(parse, request_line_at_limit_waiting_for_lf)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s\r", request_line_of(64));
	cr_assert_eq(parse(buf), 0);
	snprintf(buf, sizeof(buf), "%sx", request_line_of(64));
	cr_assert_eq(parse(buf), -414);
}

Test(parse, request_line_limit_with_bare_lf)
{
	cr_assert_eq(parse_fmt("%s\nHost: h\n\n", request_line_of(64)), 1);
	cr_assert_eq(parse_fmt("%s\nHost: h\n\n", request_line_of(65)), -414);
}

/* A head of exactly n bytes: request line, Host, one padding header, blank line. */
static char *
head_of(size_t n)
{
	static char buf[1024];
	const char *start = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
	size_t pad = n - strlen(start) - 4;
	strcpy(buf, start);
	memset(buf + strlen(start), 'p', pad);
	strcpy(buf + strlen(start) + pad, "\r\n\r\n");
	cr_assert_eq(strlen(buf), n);
	return buf;
}

Test(parse, head_at_limit)
{
	cr_assert_eq(parse(head_of(256)), 1);
	cr_assert_eq(consumed, 256);
}

Test(parse, head_over_limit)
{
	cr_assert_eq(parse(head_of(257)), -431);
}

Test(parse, head_over_limit_before_end)
{
	char *head = head_of(300);
	cr_assert_eq(parse_n(head, 255), 0);
	cr_assert_eq(parse_n(head, 256), -431);
}

Test(parse, header_count_at_limit)
{
	ASSERT_PARSE(1, "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
}

Test(parse, header_count_over_limit)
{
	ASSERT_PARSE(-431, "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n");
}

Test(parse, incomplete_returns_zero)
{
	ASSERT_PARSE(0, "");
	ASSERT_PARSE(0, "GET / HTTP/1.1\r\nHost: h\r\n");
	ASSERT_PARSE(0, "GET / HTTP/1.1\r\nHost: h\r\n\r");
}

Test(parse, split_at_every_offset)
{
	const char *t =
	    "GET /split?q=1 HTTP/1.1\r\nHost: split.example\r\nRange: bytes=1-2\r\n\r\n";
	size_t len = strlen(t);
	for (size_t k = 0; k < len; k++) {
		http_parser_dispose(&parser);
		http_parser_init(&parser, &limits);
		cr_assert_eq(parse_n(t, k), 0, "first %zu bytes", k);
		cr_assert_eq(parse_n(t, len), 1, "after %zu bytes", k);
		cr_assert_eq(consumed, len);
		cr_assert_str_eq(req.path, "/split");
		cr_assert_str_eq(req.host, "split.example");
		cr_assert_str_eq(req.range, "bytes=1-2");
	}
}

Test(parse, fed_one_byte_at_a_time)
{
	const char *t = "\r\nGET /bytes HTTP/1.1\nHost: h\r\nX: y\n\r\n";
	size_t len = strlen(t);
	for (size_t k = 1; k < len; k++)
		cr_assert_eq(parse_n(t, k), 0, "at %zu", k);
	cr_assert_eq(parse_n(t, len), 1);
	cr_assert_eq(consumed, len);
	cr_assert_str_eq(req.path, "/bytes");
}

Test(parse, pipelined_heads)
{
	const char *t = "GET /one HTTP/1.1\r\nHost: h\r\n\r\n"
	                "HEAD /two HTTP/1.1\r\nHost: h\r\n\r\n"
	                "GET /thr";
	size_t len = strlen(t);
	cr_assert_eq(parse_n(t, len), 1);
	cr_assert_str_eq(req.path, "/one");
	size_t first = consumed;
	cr_assert_eq(first, strlen("GET /one HTTP/1.1\r\nHost: h\r\n\r\n"));
	cr_assert_eq(parse_n(t + first, len - first), 1);
	cr_assert_eq(req.method, HTTP_HEAD);
	cr_assert_str_eq(req.path, "/two");
	size_t second = consumed;
	cr_assert_eq(parse_n(t + first + second, len - first - second), 0);
}

Test(parse, state_reset_after_error)
{
	ASSERT_PARSE(-400, "GET / HTTP/1.1\r\n\r\n");
	ASSERT_PARSE(1, "GET /again HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_assert_str_eq(req.path, "/again");
}

Test(parse, dispose_is_idempotent)
{
	ASSERT_PARSE(1, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	http_parser_dispose(&parser);
	http_parser_dispose(&parser);
	cr_assert_null(parser.head.data);
}

/* Body framing. */

static struct http_body body;

static void
body_init(bool chunked, uint64_t length, uint64_t max)
{
	struct http_request r = {.body_chunked = chunked, .content_length = length};
	http_body_init(&body, &r, max);
}

static int
feed(const char *text, size_t len)
{
	consumed = 0;
	return http_body_discard(&body, (const uint8_t *)text, len, &consumed);
}

static int
feed_str(const char *text)
{
	return feed(text, strlen(text));
}

Test(body, content_length_in_pieces)
{
	body_init(false, 5, 100);
	cr_assert_eq(feed_str("hel"), 0);
	cr_assert_eq(consumed, 3);
	cr_assert_eq(feed_str("loGET /"), 1);
	cr_assert_eq(consumed, 2);
	cr_assert_eq(body.total, 5);
}

Test(body, empty_body)
{
	body_init(false, 0, 100);
	cr_assert_eq(feed_str("GET"), 1);
	cr_assert_eq(consumed, 0);
}

Test(body, content_length_at_and_over_max)
{
	body_init(false, 100, 100);
	cr_assert_eq(feed_str(""), 0);
	body_init(false, 101, 100);
	cr_assert_eq(feed_str("x"), -413);
}

Test(body, chunked_complete)
{
	const char *b = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
	body_init(true, 0, 100);
	cr_assert_eq(feed_str(b), 1);
	cr_assert_eq(consumed, strlen(b));
	cr_assert_eq(body.total, 11);
}

Test(body, chunked_stops_at_its_end)
{
	const char *b = "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
	body_init(true, 0, 100);
	cr_assert_eq(feed_str(b), 1);
	cr_assert_eq(consumed, strlen("3\r\nabc\r\n0\r\n\r\n"));
	cr_assert_eq(feed_str("more"), 1);
	cr_assert_eq(consumed, 0);
}

Test(body, chunked_split_at_every_offset)
{
	const char *b = "a;ext=1\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\nT: v\r\n\r\n";
	size_t len = strlen(b);
	for (size_t k = 0; k <= len; k++) {
		body_init(true, 0, 100);
		size_t used = 0;
		int rc = feed(b, k);
		cr_assert_eq(rc, k == len ? 1 : 0, "split %zu", k);
		used = consumed;
		if (rc == 0) {
			cr_assert_eq(feed(b + used, len - used), 1, "split %zu", k);
			used += consumed;
		}
		cr_assert_eq(used, len, "split %zu", k);
		cr_assert_eq(body.total, 20);
	}
}

Test(body, chunked_one_byte_at_a_time)
{
	const char *b = "3\r\nabc\r\n0\r\n\r\n";
	size_t len = strlen(b);
	body_init(true, 0, 100);
	for (size_t i = 0; i < len; i++) {
		cr_assert_eq(feed(b + i, 1), i + 1 == len ? 1 : 0, "byte %zu", i);
		cr_assert_eq(consumed, 1);
	}
}

Test(body, chunk_size_digits)
{
	body_init(true, 0, 100);
	cr_assert_eq(feed_str("0000000000000003\r\nabc\r\n0\r\n\r\n"), 1);
	body_init(true, 0, 100);
	cr_assert_eq(feed_str("00000000000000003\r\n"), -400);
	body_init(true, 0, UINT64_MAX);
	cr_assert_eq(feed_str("fffffffffffffffff\r\n"), -400);
	body_init(true, 0, 100);
	cr_assert_eq(feed_str("B\r\nabcdefghijk\r\n0\r\n\r\n"), 1);
}

Test(body, chunk_size_over_max)
{
	body_init(true, 0, 10);
	cr_assert_eq(feed_str("a\r\n0123456789\r\n0\r\n\r\n"), 1);
	body_init(true, 0, 10);
	cr_assert_eq(feed_str("5\r\n01234\r\n6\r\n"), -413);
	body_init(true, 0, 10);
	cr_assert_eq(feed_str("ffffffffffffffff\r\n"), -413);
}

Test(body, chunk_size_malformed)
{
	static const char *bad[] = {"\r\n",   "x\r\n",   "5 \r\n",  " 5\r\n",  "5\n",
	                            "-5\r\n", "5\r\r\n", "0x5\r\n", ";ext\r\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		body_init(true, 0, 100);
		cr_assert_eq(feed_str(bad[i]), -400, "'%s'", bad[i]);
	}
}

Test(body, chunk_data_terminator)
{
	body_init(true, 0, 100);
	cr_assert_eq(feed_str("3\r\nabcX\r\n"), -400);
	body_init(true, 0, 100);
	cr_assert_eq(feed_str("3\r\nabc\n0\r\n\r\n"), -400);
	body_init(true, 0, 100);
	cr_assert_eq(feed_str("3\r\nabc\rX"), -400);
}

Test(body, chunk_extension_bounds)
{
	char line[4200];
	body_init(true, 0, 100);
	memset(line, 'e', sizeof(line));
	line[0] = '1';
	line[1] = ';';
	/* A chunk-size line of 4096 bytes, CRLF not counted. */
	memcpy(line + 4096, "\r\nx\r\n0\r\n\r\n", 11);
	cr_assert_eq(feed(line, 4096 + 10), 1);
	body_init(true, 0, 100);
	memset(line, 'e', sizeof(line));
	line[0] = '1';
	line[1] = ';';
	memcpy(line + 4097, "\r\n", 2);
	cr_assert_eq(feed(line, 4099), -400);
}

Test(body, chunk_framing_bounded_in_all)
{
	/* One-byte chunks with long extensions: framing stops at max(64 KiB, max_size). */
	static char chunk[4100];
	memset(chunk, 'e', sizeof(chunk));
	memcpy(chunk, "1;", 2);
	memcpy(chunk + 4092, "\r\nx\r\n", 6);
	int rc = 0;
	body_init(true, 0, 1000);
	for (int i = 0; i < 100 && rc == 0; i++)
		rc = feed(chunk, 4097);
	cr_assert_eq(rc, -413);
	cr_assert_leq(body.framing, 64 * 1024 + 1);
	cr_assert_lt(body.total, 20);
}

Test(body, chunk_extension_characters)
{
	body_init(true, 0, 100);
	cr_assert_eq(feed_str("1;a=\"b c\"\t;d\r\nx\r\n0\r\n\r\n"), 1);
	body_init(true, 0, 100);
	cr_assert_eq(feed_str("1;a\nx\r\n"), -400);
	body_init(true, 0, 100);
	cr_assert_eq(feed_str("1;a\x01\r\n"), -400);
}

Test(body, trailers_discarded)
{
	const char *b = "1\r\nx\r\n0\r\nExpires: never\r\nX-T: 1\r\n\r\nNEXT";
	body_init(true, 0, 100);
	cr_assert_eq(feed_str(b), 1);
	cr_assert_eq(consumed, strlen(b) - 4);
}

Test(body, trailers_malformed)
{
	body_init(true, 0, 100);
	cr_assert_eq(feed_str("0\r\nX: y\n\r\n"), -400);
	body_init(true, 0, 100);
	cr_assert_eq(feed_str("0\r\n\n"), -400);
	body_init(true, 0, 100);
	cr_assert_eq(feed_str("0\r\nX: \x01\r\n\r\n"), -400);
	body_init(true, 0, 100);
	cr_assert_eq(feed_str("0\r\nX: y\rZ"), -400);
	body_init(true, 0, 100);
	cr_assert_eq(feed_str("0\r\n\rX"), -400);
}

Test(body, trailers_bounded)
{
	char t[5000];
	body_init(true, 0, 100);
	memcpy(t, "0\r\n", 3);
	memset(t + 3, 'a', 4096);
	memcpy(t + 3 + 4096, "\r\n\r\n", 4);
	cr_assert_eq(feed(t, 3 + 4096 + 4), 1);
	body_init(true, 0, 100);
	memset(t + 3, 'a', 4097);
	memcpy(t + 3 + 4097, "\r\n\r\n", 4);
	cr_assert_eq(feed(t, 3 + 4097 + 4), -400);
}

/* Responses. */

static struct http_response resp;

static void
resp_setup(void)
{
	http_response_init(&resp);
}

static void
resp_teardown(void)
{
	http_response_dispose(&resp);
}

static char *
head_text(void)
{
	static char buf[2048];
	size_t n = kw_buf_size(&resp.head);
	cr_assert_lt(n, sizeof(buf));
	memcpy(buf, kw_buf_head(&resp.head), n);
	buf[n] = '\0';
	return buf;
}

static char *
body_text(void)
{
	static char buf[2048];
	size_t n = 0;
	for (size_t i = 0; i < resp.n_segments; i++) {
		cr_assert_not(resp.segments[i].from_file);
		memcpy(buf + n, resp.mem.data + resp.segments[i].off, resp.segments[i].len);
		n += resp.segments[i].len;
	}
	buf[n] = '\0';
	return buf;
}

static struct http_request
request(enum http_method m, int minor, bool keep_alive)
{
	return (struct http_request){.method = m, .version_minor = minor, .keep_alive = keep_alive};
}

#define NOW ((time_t)784111777)

TestSuite(response, .init = resp_setup, .fini = resp_teardown);

Test(response, date_format)
{
	char d[HTTP_DATE_LEN + 1];
	http_date_format(NOW, d);
	cr_assert_str_eq(d, "Sun, 06 Nov 1994 08:49:37 GMT");
	http_date_format(0, d);
	cr_assert_str_eq(d, "Thu, 01 Jan 1970 00:00:00 GMT");
	http_date_format(951782400, d);
	cr_assert_str_eq(d, "Tue, 29 Feb 2000 00:00:00 GMT");
}

Test(response, date_format_across_the_calendar)
{
	static const struct {
		time_t t;
		const char *want;
	} cases[] = {
	    {-1, "Wed, 31 Dec 1969 23:59:59 GMT"},
	    {-31622400, "Tue, 31 Dec 1968 00:00:00 GMT"},
	    {68169600, "Tue, 29 Feb 1972 00:00:00 GMT"},
	    {68256000, "Wed, 01 Mar 1972 00:00:00 GMT"},
	    {946684799, "Fri, 31 Dec 1999 23:59:59 GMT"},
	    {4107456000, "Sun, 28 Feb 2100 00:00:00 GMT"},
	    {4107542400, "Mon, 01 Mar 2100 00:00:00 GMT"},
	    {253402300799, "Fri, 31 Dec 9999 23:59:59 GMT"},
	    {-62167219200, "Sat, 01 Jan 0000 00:00:00 GMT"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char d[HTTP_DATE_LEN + 1];
		http_date_format(cases[i].t, d);
		cr_expect_str_eq(d, cases[i].want, "t = %lld", (long long)cases[i].t);
	}
}

Test(response, date_format_agrees_with_gmtime)
{
	for (time_t t = -400LL * 86400 * 366; t < 600LL * 86400 * 366; t += 86400 * 13 + 3607) {
		char d[HTTP_DATE_LEN + 1], want[64];
		struct tm tm;
		cr_assert_not_null(gmtime_r(&t, &tm));
		strftime(want, sizeof(want), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		http_date_format(t, d);
		cr_assert_str_eq(d, want, "t = %lld", (long long)t);
	}
}

Test(response, header_helpers)
{
	cr_assert_eq(http_response_begin(&resp, 200, NOW), 0);
	cr_assert_eq(http_response_header_str(&resp, "Content-Type", "text/plain"), 0);
	cr_assert_eq(http_response_header_u64(&resp, "Content-Length", 0), 0);
	cr_assert_eq(http_response_header_u64(&resp, "X-Max", UINT64_MAX), 0);
	cr_assert_eq(http_response_header(&resp, "X-Fmt", "%d-%s", 7, "x"), 0);
	cr_assert_str_eq(head_text(), "HTTP/1.1 200 OK\r\nServer: keyward\r\n"
	                              "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
	                              "Content-Type: text/plain\r\nContent-Length: 0\r\n"
	                              "X-Max: 18446744073709551615\r\nX-Fmt: 7-x\r\n");
}

/* The fields as HTTP/2 takes them: no status line, no Connection, values as built. */
Test(response, fields_without_status_line_and_connection)
{
	struct http_request r = request(HTTP_GET, 1, false);
	cr_assert_eq(http_response_begin(&resp, 404, NOW), 0);
	cr_assert_eq(http_response_header_str(&resp, "Content-Type", "text/plain"), 0);
	cr_assert_eq(http_response_header_str(&resp, "X-Empty", ""), 0);
	cr_assert_eq(http_response_header_u64(&resp, "Content-Length", 12), 0);
	cr_assert_eq(http_response_end(&resp, &r), 0);
	cr_assert(resp.close);
	cr_assert_not_null(strstr(head_text(), "\r\nConnection: close\r\n\r\n"));
	static const char *const want[][2] = {
	    {"Server", "keyward"},          {"Date", "Sun, 06 Nov 1994 08:49:37 GMT"},
	    {"Content-Type", "text/plain"}, {"X-Empty", ""},
	    {"Content-Length", "12"},
	};
	struct http_field f;
	size_t pos = 0, n = 0;
	while (http_response_next_field(&resp, &pos, &f)) {
		cr_assert_lt(n, sizeof(want) / sizeof(want[0]));
		cr_assert_eq(f.name_len, strlen(want[n][0]));
		cr_assert_eq(memcmp(f.name, want[n][0], f.name_len), 0);
		cr_assert_eq(f.value_len, strlen(want[n][1]), "field %zu", n);
		cr_assert_eq(memcmp(f.value, want[n][1], f.value_len), 0);
		n++;
	}
	cr_assert_eq(n, sizeof(want) / sizeof(want[0]));
	cr_assert_not(http_response_next_field(&resp, &pos, &f));
}

Test(response, no_fields_before_the_head_ends_or_after_a_failed_build)
{
	struct http_field f;
	size_t pos = 0;
	cr_assert_not(http_response_next_field(&resp, &pos, &f));
	cr_assert_eq(http_response_begin(&resp, 200, NOW), 0);
	cr_assert_not(http_response_next_field(&resp, &pos, &f));
	struct http_request r = request(HTTP_GET, 1, true);
	cr_assert_eq(http_response_end(&resp, &r), 0);
	cr_assert(http_response_next_field(&resp, &pos, &f));
	http_response_dispose(&resp);
	pos = 0;
	cr_assert_not(http_response_next_field(&resp, &pos, &f));
}

Test(response, long_formatted_header)
{
	char value[1000];
	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	cr_assert_eq(http_response_header(&resp, "X-Long", "<%s>", value), 0);
	const char *h = head_text();
	cr_assert_eq(strlen(h), strlen("X-Long: <>\r\n") + strlen(value));
	cr_assert_eq(strncmp(h, "X-Long: <vvv", 12), 0);
	cr_assert_eq(strcmp(h + strlen(h) - 4, "v>\r\n"), 0);
}

Test(response, reasons)
{
	static const struct {
		int status;
		const char *reason;
	} want[] = {
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
	    {299, "Unknown"},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_assert_str_eq(http_reason(want[i].status), want[i].reason);
}

Test(response, not_found_page)
{
	struct http_request r = request(HTTP_GET, 1, true);
	const char *page = "<html><head><title>404 Not Found</title></head><body><h1>404 Not "
	                   "Found</h1><hr><center>keyward</center></body></html>";
	http_error_response(404, &r, NOW, &resp);
	char want[512];
	snprintf(want, sizeof(want),
	         "HTTP/1.1 404 Not Found\r\nServer: keyward\r\nDate: Sun, 06 Nov 1994 08:49:37 "
	         "GMT\r\nContent-Type: text/html\r\nContent-Length: %zu\r\n\r\n",
	         strlen(page));
	cr_assert_str_eq(head_text(), want);
	cr_assert_str_eq(body_text(), page);
	cr_assert_eq(resp.status, 404);
	cr_assert_eq(resp.body_len, strlen(page));
	cr_assert_eq(resp.n_segments, 1);
	cr_assert_eq(resp.fd, -1);
	cr_assert_not(resp.close);
}

Test(response, head_request_has_no_body)
{
	struct http_request r = request(HTTP_HEAD, 1, true);
	http_error_response(404, &r, NOW, &resp);
	cr_assert_eq(resp.n_segments, 0);
	cr_assert_gt(resp.body_len, 0);
	char cl[64];
	snprintf(cl, sizeof(cl), "Content-Length: %llu\r\n", (unsigned long long)resp.body_len);
	cr_assert_not_null(strstr(head_text(), cl));
}

Test(response, without_request)
{
	http_error_response(400, NULL, NOW, &resp);
	cr_assert(resp.close);
	cr_assert_not_null(strstr(head_text(), "HTTP/1.1 400 Bad Request\r\n"));
	cr_assert_not_null(strstr(head_text(), "\r\nConnection: close\r\n\r\n"));
	cr_assert_eq(resp.n_segments, 1);
}

Test(response, method_not_allowed)
{
	struct http_request r = request(HTTP_OTHER, 1, true);
	http_error_response(405, &r, NOW, &resp);
	cr_assert_not_null(strstr(head_text(), "\r\nAllow: GET, HEAD\r\n"));
	cr_assert_not(resp.close);
}

Test(response, closing_statuses)
{
	static const int closing[] = {400, 408, 413, 414, 431, 500, 501, 505};
	struct http_request r = request(HTTP_GET, 1, true);
	for (size_t i = 0; i < sizeof(closing) / sizeof(closing[0]); i++) {
		http_response_dispose(&resp);
		http_error_response(closing[i], &r, NOW, &resp);
		cr_assert(resp.close, "%d", closing[i]);
		cr_assert_not_null(strstr(head_text(), "Connection: close\r\n"), "%d", closing[i]);
	}
}

Test(response, keeping_statuses)
{
	static const int keeping[] = {403, 404, 405, 412, 416, 421, 503};
	struct http_request r = request(HTTP_GET, 1, true);
	for (size_t i = 0; i < sizeof(keeping) / sizeof(keeping[0]); i++) {
		http_response_dispose(&resp);
		http_error_response(keeping[i], &r, NOW, &resp);
		cr_assert_not(resp.close, "%d", keeping[i]);
		cr_assert_null(strstr(head_text(), "Connection:"), "%d", keeping[i]);
	}
}

Test(response, not_keep_alive_request_closes)
{
	struct http_request r = request(HTTP_GET, 1, false);
	http_error_response(404, &r, NOW, &resp);
	cr_assert(resp.close);
	cr_assert_not_null(strstr(head_text(), "Connection: close\r\n"));
}

Test(response, http10_keep_alive)
{
	struct http_request r = request(HTTP_GET, 0, true);
	http_error_response(404, &r, NOW, &resp);
	cr_assert_not(resp.close);
	cr_assert_not_null(strstr(head_text(), "\r\nConnection: keep-alive\r\n\r\n"));
}

Test(response, dispose_closes_file)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	resp.fd = fds[0];
	http_response_dispose(&resp);
	cr_assert_eq(resp.fd, -1);
	cr_assert_eq(fcntl(fds[0], F_GETFD), -1);
	close(fds[1]);
}

Test(response, fail_builds_500)
{
	struct http_request r = request(HTTP_GET, 1, true);
	http_error_response(404, &r, NOW, &resp);
	http_response_fail(&resp, &r, NOW);
	cr_assert_eq(resp.status, 500);
	cr_assert(resp.close);
	cr_assert_not_null(strstr(head_text(), "HTTP/1.1 500 Internal Server Error\r\n"));
}

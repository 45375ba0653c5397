/*
 * HTTP/2 header fields to and from the HTTP library's model: requests gathered from
 * their fields (pseudo-header fields, the limit on the list's size at and one past
 * it), responses listed as HTTP/2 sends them.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "err.h"
#include "h2_fields.h"
#include "http_response.h"

static struct h2_request_fields f;
static struct http_request req;

static void
setup(void)
{
	h2_request_fields_init(&f);
}

static void
teardown(void)
{
	h2_request_fields_dispose(&f);
}

static int
add(const char *name, const char *value, uint64_t max)
{
	return h2_request_fields_add(&f, (const uint8_t *)name, strlen(name),
	                             (const uint8_t *)value, strlen(value), max);
}

TestSuite(h2_request, .init = setup, .fini = teardown);

Test(h2_request, pseudo_and_regular_fields)
{
	cr_assert_eq(add(":method", "GET", 4096), 0);
	cr_assert_eq(add(":scheme", "https", 4096), 0);
	cr_assert_eq(add(":authority", "example.test", 4096), 0);
	cr_assert_eq(add(":path", "/a/./b/../c%20d?x=1", 4096), 0);
	cr_assert_eq(add("if-none-match", "\"e1\"", 4096), 0);
	cr_assert_eq(add("if-none-match", "\"e2\"", 4096), 0);
	cr_assert_eq(add("range", "bytes=0-9", 4096), 0);
	cr_assert_eq(add("user-agent", "ua", 4096), 0);
	cr_assert_eq(add("content-length", "12", 4096), 0);
	cr_assert_eq(h2_request_fields_finish(&f, &req), 0);
	cr_expect_eq(req.method, HTTP_GET);
	cr_expect_str_eq(req.method_name, "GET");
	cr_expect_str_eq(req.target, "/a/./b/../c%20d?x=1");
	cr_expect_str_eq(req.path, "/a/c d");
	cr_expect_str_eq(req.query, "x=1");
	cr_expect_str_eq(req.host, "example.test");
	cr_expect_str_eq(req.if_none_match, "\"e1\"");
	cr_expect_str_eq(req.range, "bytes=0-9");
	cr_expect_str_eq(req.user_agent, "ua");
	cr_expect_null(req.referer);
	cr_expect_null(req.if_modified_since);
	cr_expect_eq(req.content_length, 12);
	cr_expect(req.http2);
	cr_expect(req.keep_alive);
	cr_expect_eq(req.version_minor, 0);
}

Test(h2_request, host_field_when_no_authority)
{
	cr_assert_eq(add(":method", "HEAD", 4096), 0);
	cr_assert_eq(add(":path", "/", 4096), 0);
	cr_assert_eq(add("host", "h.test", 4096), 0);
	cr_assert_eq(h2_request_fields_finish(&f, &req), 0);
	cr_expect_eq(req.method, HTTP_HEAD);
	cr_expect_str_eq(req.host, "h.test");
	cr_expect_null(req.query);
}

Test(h2_request, refused_requests)
{
	cr_assert_eq(add(":method", "GET", 4096), 0);
	cr_expect_eq(h2_request_fields_finish(&f, &req), -400, "no :path");
	h2_request_fields_dispose(&f);
	cr_assert_eq(add(":path", "/", 4096), 0);
	cr_expect_eq(h2_request_fields_finish(&f, &req), -400, "no :method");
	static const char *const bad_paths[] = {"*", "/../x", "/a%2Fb", "/%zz"};
	for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		h2_request_fields_dispose(&f);
		cr_assert_eq(add(":method", "GET", 4096), 0);
		cr_assert_eq(add(":path", bad_paths[i], 4096), 0);
		cr_expect_eq(h2_request_fields_finish(&f, &req), -400, "%s", bad_paths[i]);
	}
	h2_request_fields_dispose(&f);
	cr_assert_eq(add(":method", "GET", 4096), 0);
	cr_assert_eq(add(":path", "/", 4096), 0);
	cr_assert_eq(add("content-length", "1x", 4096), 0);
	cr_expect_eq(h2_request_fields_finish(&f, &req), -400);
	h2_request_fields_dispose(&f);
	cr_assert_eq(add(":method", "AVERYLONGMETHODNAME", 4096), 0);
	cr_assert_eq(add(":path", "/", 4096), 0);
	cr_expect_eq(h2_request_fields_finish(&f, &req), -400);
}

/* RFC 9113 6.5.2: name + value + 32 per field; the limit itself is allowed. */
Test(h2_request, header_list_size_at_and_past_the_limit)
{
	const uint64_t one = strlen(":path") + strlen("/") + 32;
	cr_assert_eq(add(":path", "/", 2 * one), 0);
	cr_assert_eq(add(":path", "/", 2 * one), 0);
	cr_expect_eq(f.list_size, 2 * one);
	cr_assert_eq(add("x", "", 2 * one + 33), 0);
	cr_assert_eq(add("x", "y", 2 * one + 33 + 34), 0);
	cr_assert_eq(add("x", "y", 2 * one + 33 + 34 + 33), 1);
}

TestSuite(h2_response);

Test(h2_response, lower_case_names_status_first_no_connection_fields)
{
	struct http_response resp;
	struct h2_response_fields out = {.n = 0};
	http_response_init(&resp);
	struct http_request r = {.method = HTTP_GET, .version_minor = 1, .keep_alive = false};
	cr_assert_eq(http_response_begin(&resp, 206, 0), 0);
	cr_assert_eq(http_response_header_str(&resp, "Content-Type", "text/plain"), 0);
	cr_assert_eq(http_response_header_str(&resp, "Transfer-Encoding", "chunked"), 0);
	cr_assert_eq(http_response_header_str(&resp, "Keep-Alive", "timeout=5"), 0);
	cr_assert_eq(http_response_header_str(&resp, "X-MiXed", "Value Kept"), 0);
	cr_assert_eq(http_response_end(&resp, &r), 0);
	cr_assert_eq(h2_response_fields_make(&out, &resp), 0);
	static const char *const want[][2] = {
	    {":status", "206"},
	    {"server", "keyward"},
	    {"date", "Thu, 01 Jan 1970 00:00:00 GMT"},
	    {"content-type", "text/plain"},
	    {"x-mixed", "Value Kept"},
	};
	cr_assert_eq(out.n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < out.n; i++) {
		cr_expect_eq(out.nv[i].namelen, strlen(want[i][0]));
		cr_expect_eq(memcmp(out.nv[i].name, want[i][0], out.nv[i].namelen), 0, "%zu", i);
		cr_expect_eq(out.nv[i].valuelen, strlen(want[i][1]));
		cr_expect_eq(memcmp(out.nv[i].value, want[i][1], out.nv[i].valuelen), 0, "%zu", i);
	}
	http_response_dispose(&resp);
	kw_buf_free(&out.scratch);
}

Test(h2_response, more_fields_than_the_list_holds)
{
	struct http_response resp;
	struct h2_response_fields out = {.n = 0};
	http_response_init(&resp);
	cr_assert_eq(http_response_begin(&resp, 200, 0), 0);
	const size_t room = sizeof(out.nv) / sizeof(out.nv[0]);
	/* :status, Server and Date take three entries */
	for (size_t i = 0; i + 3 < room; i++)
		cr_assert_eq(http_response_header_u64(&resp, "X-N", i), 0);
	struct http_request r = {.method = HTTP_GET, .version_minor = 1, .keep_alive = true};
	cr_assert_eq(http_response_end(&resp, &r), 0);
	cr_expect_eq(h2_response_fields_make(&out, &resp), 0);
	cr_expect_eq(out.n, room);
	http_response_dispose(&resp);
	http_response_init(&resp);
	cr_assert_eq(http_response_begin(&resp, 200, 0), 0);
	for (size_t i = 0; i + 2 < room; i++)
		cr_assert_eq(http_response_header_u64(&resp, "X-N", i), 0);
	cr_assert_eq(http_response_end(&resp, &r), 0);
	cr_expect_eq(h2_response_fields_make(&out, &resp), KW_ERR_ARGUMENT);
	http_response_dispose(&resp);
	kw_buf_free(&out.scratch);
}

Test(h2_response, connection_specific_names_any_case)
{
	cr_expect(h2_field_connection_specific("Connection", 10));
	cr_expect(h2_field_connection_specific("TE", 2));
	cr_expect(h2_field_connection_specific("upgrade", 7));
	cr_expect_not(h2_field_connection_specific("te-x", 4));
	cr_expect_not(h2_field_connection_specific("content-type", 12));
}

/*
 * test_access_log.c - the access log: the JSON escaper (quotes, backslashes, every
 * control character, valid UTF-8 kept at the edges of each range, invalid bytes,
 * overlong forms, surrogates and truncated sequences as \u00XX), the combined and
 * JSON lines, a server whose log is off, and servers sharing or not sharing a file.
 */
#include "access_log.h"
#include "json_escape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

static char out[1024];

static const char *
esc(const char *s, size_t len)
{
	size_t n = json_escape(out, s, len);
	cr_assert_leq(n, 6 * len);
	out[n] = '\0';
	return out;
}

#define ESC(lit) esc(lit, sizeof(lit) - 1)

Test(json_escape, quotes_backslashes_and_short_forms)
{
	cr_assert_str_eq(ESC("a\"b\\c/d"), "a\\\"b\\\\c/d");
	cr_assert_str_eq(ESC("\n\r\t\b\f"), "\\n\\r\\t\\b\\f");
	cr_assert_str_eq(ESC(""), "");
}

Test(json_escape, every_other_control_character_and_del)
{
	char in[1] = {0};
	char want[8];
	for (unsigned c = 0; c < 0x20; c++) {
		if (c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f')
			continue;
		in[0] = (char)c;
		snprintf(want, sizeof(want), "\\u%04x", c);
		cr_assert_str_eq(esc(in, 1), want, "byte %u", c);
	}
	cr_assert_str_eq(ESC("\x7f"), "\\u007f");
	cr_assert_str_eq(ESC(" ~"), " ~");
}

Test(json_escape, valid_utf8_is_kept_at_each_range_edge)
{
	cr_assert_str_eq(ESC("\xc2\x80"), "\xc2\x80");                 /* U+0080 */
	cr_assert_str_eq(ESC("\xdf\xbf"), "\xdf\xbf");                 /* U+07FF */
	cr_assert_str_eq(ESC("\xe0\xa0\x80"), "\xe0\xa0\x80");         /* U+0800 */
	cr_assert_str_eq(ESC("\xed\x9f\xbf"), "\xed\x9f\xbf");         /* U+D7FF */
	cr_assert_str_eq(ESC("\xee\x80\x80"), "\xee\x80\x80");         /* U+E000 */
	cr_assert_str_eq(ESC("\xef\xbf\xbf"), "\xef\xbf\xbf");         /* U+FFFF */
	cr_assert_str_eq(ESC("\xf0\x90\x80\x80"), "\xf0\x90\x80\x80"); /* U+10000 */
	cr_assert_str_eq(ESC("\xf4\x8f\xbf\xbf"), "\xf4\x8f\xbf\xbf"); /* U+10FFFF */
	cr_assert_str_eq(ESC("caf\xc3\xa9"), "caf\xc3\xa9");
}

Test(json_escape, invalid_utf8_becomes_u00xx_per_byte)
{
	cr_assert_str_eq(ESC("\x80"), "\\u0080");                       /* lone continuation */
	cr_assert_str_eq(ESC("\xc0\xaf"), "\\u00c0\\u00af");            /* overlong '/' */
	cr_assert_str_eq(ESC("\xc1\xbf"), "\\u00c1\\u00bf");            /* overlong */
	cr_assert_str_eq(ESC("\xe0\x9f\xbf"), "\\u00e0\\u009f\\u00bf"); /* overlong U+07FF */
	cr_assert_str_eq(ESC("\xed\xa0\x80"), "\\u00ed\\u00a0\\u0080"); /* surrogate U+D800 */
	cr_assert_str_eq(ESC("\xf0\x8f\xbf\xbf"), "\\u00f0\\u008f\\u00bf\\u00bf"); /* overlong */
	cr_assert_str_eq(ESC("\xf4\x90\x80\x80"), "\\u00f4\\u0090\\u0080\\u0080"); /* > U+10FFFF */
	cr_assert_str_eq(ESC("\xf5\x80\x80\x80"), "\\u00f5\\u0080\\u0080\\u0080");
	cr_assert_str_eq(ESC("\xff"), "\\u00ff");
	cr_assert_str_eq(ESC("\xc3"), "\\u00c3");              /* truncated at the end */
	cr_assert_str_eq(ESC("\xe2\x82x"), "\\u00e2\\u0082x"); /* truncated in the middle */
	cr_assert_str_eq(ESC("\xc3\xa9\xc3"), "\xc3\xa9\\u00c3");
}

Test(json_escape, worst_case_fits_six_bytes_per_input_byte)
{
	char in[64];
	memset(in, 0x01, sizeof(in));
	cr_assert_eq(json_escape(out, in, sizeof(in)), 6 * sizeof(in));
}

/* A configuration of three servers: 0 and 1 on file 0 (combined, json), 2 off. */
static struct kw_config cfg;
static struct kw_server srv[3];
static char *names0[] = {"a.example"};
static char *names1[] = {"b.example"};
static struct access_logs logs;
static int pipes[2][2];

static void
setup(void)
{
	memset(&cfg, 0, sizeof(cfg));
	memset(srv, 0, sizeof(srv));
	srv[0] = (struct kw_server){
	    .names = names0, .n_names = 1, .access_file = 0, .log_format = KW_LOG_COMBINED};
	srv[1] = (struct kw_server){
	    .names = names1, .n_names = 1, .access_file = 1, .log_format = KW_LOG_JSON};
	srv[2] = (struct kw_server){.access_file = -1};
	cfg.servers = srv;
	cfg.n_servers = 3;
	cfg.n_access_files = 2;
	cr_assert_eq(pipe(pipes[0]), 0);
	cr_assert_eq(pipe(pipes[1]), 0);
	int fds[2] = {pipes[0][1], pipes[1][1]};
	cr_assert_eq(access_logs_init(&logs, &cfg, fds), 0);
}

static void
teardown(void)
{
	access_logs_dispose(&logs);
	for (int i = 0; i < 2; i++) {
		close(pipes[i][0]);
		close(pipes[i][1]);
	}
}

static const char *
read_line(int file)
{
	static char line[4096];
	ssize_t n = read(pipes[file][0], line, sizeof(line) - 1);
	cr_assert_gt(n, 0);
	line[n] = '\0';
	return line;
}

static struct http_request
request(void)
{
	static char target[] = "/a\"b\x01\xff";
	static char agent[] = "curl/8 \xc3\xa9";
	struct http_request req = {.version_minor = 1, .target = target, .user_agent = agent};
	strcpy(req.method_name, "GET");
	return req;
}

TestSuite(access_log, .init = setup, .fini = teardown);

Test(access_log, combined_line)
{
	struct http_request req = request();
	const struct access_entry e = {.addr = "192.0.2.1",
	                               .req = &req,
	                               .server = &srv[0],
	                               .status = 200,
	                               .body_bytes = 42,
	                               .transport = "plain",
	                               .tls_resumed = -1,
	                               .now = 0};
	access_log_write(&logs, &e);
	const char *line = read_line(0);
	cr_assert(strncmp(line, "192.0.2.1 - - [", 15) == 0, "%s", line);
	cr_assert_not_null(strstr(line, "] \"GET /a\\x22b\\x01\\xFF HTTP/1.1\" 200 42 \"-\" "
	                                "\"curl/8 \\xC3\\xA9\"\n"),
	                   "%s", line);
}

Test(access_log, json_line)
{
	struct http_request req = request();
	const struct access_entry e = {.addr = "2001:db8::1",
	                               .req = &req,
	                               .server = &srv[1],
	                               .status = 404,
	                               .body_bytes = 7,
	                               .duration_us = 1234567,
	                               .transport = "TLS 1.3",
	                               .tls_version = "TLSv1.3",
	                               .tls_cipher = "TLS_AES_128_GCM_SHA256",
	                               .tls_resumed = 1};
	access_log_write(&logs, &e);
	const char *line = read_line(1);
	cr_assert(strncmp(line, "{\"time\":\"", 9) == 0, "%s", line);
	/* 2026-12-06T07:35:28.123Z: RFC 3339, UTC, milliseconds */
	cr_assert_eq(line[13], '-');
	cr_assert_eq(line[19], 'T');
	cr_assert_eq(line[28], '.');
	cr_assert_eq(line[32], 'Z');
	cr_assert_eq(line[33], '"');
	cr_assert_str_eq(line + 34,
	                 ",\"server\":\"b.example\",\"addr\":\"2001:db8::1\",\"method\":\"GET\","
	                 "\"target\":\"/a\\\"b\\u0001\\u00ff\",\"protocol\":\"HTTP/1.1\","
	                 "\"status\":404,\"bytes\":7,\"duration_ms\":1234.567,\"referer\":null,"
	                 "\"user_agent\":\"curl/8 \xc3\xa9\",\"transport\":\"TLS 1.3\","
	                 "\"tls_version\":\"TLSv1.3\",\"tls_cipher\":\"TLS_AES_128_GCM_SHA256\","
	                 "\"tls_resumed\":true}\n");
}

Test(access_log, json_line_without_a_request_or_tls)
{
	const struct access_entry e = {.addr = "192.0.2.1",
	                               .server = &srv[1],
	                               .status = 400,
	                               .transport = "plain",
	                               .tls_resumed = -1};
	access_log_write(&logs, &e);
	const char *line = read_line(1);
	cr_assert_not_null(strstr(line, "\"method\":null,\"target\":null,\"protocol\":null,"
	                                "\"status\":400,\"bytes\":0,\"duration_ms\":0.000,"),
	                   "%s", line);
	cr_assert_not_null(strstr(line, "\"tls_version\":null,\"tls_cipher\":null,"
	                                "\"tls_resumed\":null}\n"),
	                   "%s", line);
	const struct access_entry unknown = {.addr = "192.0.2.1",
	                                     .server = &srv[1],
	                                     .status = 200,
	                                     .duration_us = -1,
	                                     .transport = "TLS 1.3",
	                                     .tls_resumed = 0};
	access_log_write(&logs, &unknown);
	line = read_line(1);
	cr_assert_not_null(strstr(line, ",\"duration_ms\":null,"), "%s", line);
	cr_assert_not_null(strstr(line, ",\"tls_resumed\":false}"), "%s", line);
}

Test(access_log, server_off_writes_nothing)
{
	const struct access_entry e = {.addr = "192.0.2.1",
	                               .server = &srv[2],
	                               .status = 200,
	                               .transport = "plain",
	                               .tls_resumed = -1};
	access_log_write(&logs, &e);
	const struct access_entry e0 = {.addr = "192.0.2.9",
	                                .server = &srv[0],
	                                .status = 204,
	                                .transport = "plain",
	                                .tls_resumed = -1};
	access_log_write(&logs, &e0);
	cr_assert(strncmp(read_line(0), "192.0.2.9 ", 10) == 0);
}

/*
 * test_bench.c - keyward-bench's pure parts: the HTTP response reader (framing by
 * Content-Length, to EOF or not at all, heads split anywhere, every malformed head),
 * the latency histogram (exact small values, bounded error, merge) and the URL parser.
 */
#include "../../tools/bench_hist.h"
#include "../../tools/bench_http.h"
#include "../../tools/url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

static struct bench_resp resp;

static void
reset(void)
{
	bench_resp_reset(&resp);
}

/* Feeds s whole; returns the reader's result and the bytes it took in *used. */
static int
feed(const char *s, size_t *used)
{
	return bench_resp_feed(&resp, (const uint8_t *)s, strlen(s), used);
}

static int
feed_all(const char *s)
{
	size_t used;
	int rc = feed(s, &used);
	if (rc >= 0)
		cr_assert_eq(used, strlen(s));
	return rc;
}

TestSuite(bench_http, .init = reset);

TestSuite(bench_hist);

TestSuite(url);

Test(bench_http, whole_response_in_one_chunk)
{
	cr_assert_not(bench_resp_started(&resp));
	cr_assert_eq(feed_all("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello"), 1);
	cr_assert_eq(resp.status, 200);
	cr_assert_eq(resp.body_len, 5);
	cr_assert_not(resp.close);
	cr_assert(bench_resp_started(&resp));
}

Test(bench_http, byte_by_byte_completes_on_the_last_byte)
{
	const char *s = "HTTP/1.1 404 Not Found\r\ncontent-length:  3 \r\n\r\nabc";
	size_t n = strlen(s);
	for (size_t i = 0; i < n; i++) {
		size_t used;
		int rc = bench_resp_feed(&resp, (const uint8_t *)s + i, 1, &used);
		cr_assert_eq(used, 1, "byte %zu", i);
		cr_assert_eq(rc, i + 1 == n, "byte %zu", i);
	}
	cr_assert_eq(resp.status, 404);
	cr_assert_eq(resp.body_len, 3);
}

Test(bench_http, head_split_inside_its_end)
{
	size_t used;
	cr_assert_eq(feed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r", &used), 0);
	cr_assert_eq(feed("\nhi", &used), 1);
	cr_assert_eq(used, 3);
	cr_assert_eq(resp.body_len, 2);
}

Test(bench_http, bytes_after_the_response_are_left)
{
	size_t used;
	const char *first = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx";
	char both[128];
	snprintf(both, sizeof(both), "%sHTTP/1.1 200 OK\r\n", first);
	cr_assert_eq(feed(both, &used), 1);
	cr_assert_eq(used, strlen(first));
}

Test(bench_http, split_head_with_body_in_the_same_chunk)
{
	size_t used;
	cr_assert_eq(feed("HTTP/1.1 200 OK\r\nConte", &used), 0);
	cr_assert_eq(feed("nt-Length: 4\r\n\r\nabcdEXTRA", &used), 1);
	cr_assert_eq(used, strlen("nt-Length: 4\r\n\r\nabcd"));
}

Test(bench_http, zero_length_body_is_done_at_the_head)
{
	cr_assert_eq(feed_all("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), 1);
	cr_assert_eq(resp.body_len, 0);
}

Test(bench_http, bodiless_statuses_need_no_length)
{
	cr_assert_eq(feed_all("HTTP/1.1 304 Not Modified\r\n\r\n"), 1);
	reset();
	cr_assert_eq(feed_all("HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n"), 1);
	cr_assert_eq(resp.body_len, 0);
}

Test(bench_http, close_without_length_runs_to_eof)
{
	cr_assert_eq(feed_all("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabc"), 0);
	cr_assert_eq(resp.state, BENCH_RESP_BODY_TO_EOF);
	cr_assert_eq(feed_all("defg"), 0);
	cr_assert_eq(bench_resp_eof(&resp), 1);
	cr_assert_eq(resp.body_len, 7);
	cr_assert(resp.close);
}

Test(bench_http, connection_tokens)
{
	cr_assert_eq(feed_all("HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\n"
	                      "Content-Length: 0\r\n\r\n"),
	             1);
	cr_assert(resp.close);
	reset();
	cr_assert_eq(feed_all("HTTP/1.1 200 OK\r\nConnection: closed\r\nContent-Length: 0\r\n\r\n"),
	             1);
	cr_assert_not(resp.close);
}

Test(bench_http, http10_closes_unless_keep_alive)
{
	cr_assert_eq(feed_all("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"), 1);
	cr_assert(resp.close);
	reset();
	cr_assert_eq(
	    feed_all("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n"), 1);
	cr_assert_not(resp.close);
}

Test(bench_http, unframed_bodies)
{
	cr_assert_eq(feed_all("HTTP/1.1 200 OK\r\n\r\nabc"), BENCH_RESP_UNFRAMED);
	reset();
	cr_assert_eq(feed_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
	             BENCH_RESP_UNFRAMED);
}

Test(bench_http, malformed_heads)
{
	static const char *const bad[] = {
	    "HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n",
	    "HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n",
	    "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
	    "HTTP/1.1200 OK\r\nContent-Length: 0\r\n\r\n",
	    "SSH-2.0-OpenSSH\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
	    "HTTP/1.1 200 OK\r\nContent-Length: 1a\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456789\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nBare: lf\n\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		reset();
		size_t used;
		cr_assert_eq(feed(bad[i], &used), BENCH_RESP_BAD_HEAD, "case %zu", i);
	}
}

Test(bench_http, head_over_the_limit)
{
	char *big = malloc(BENCH_HEAD_MAX + 64);
	cr_assert_not_null(big);
	memset(big, 'a', BENCH_HEAD_MAX + 64);
	memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
	memcpy(big + BENCH_HEAD_MAX + 40, "\r\nContent-Length: 0\r\n\r\n", 24);
	size_t used;
	cr_assert_eq(bench_resp_feed(&resp, (const uint8_t *)big, BENCH_HEAD_MAX + 64, &used),
	             BENCH_RESP_BAD_HEAD, "in one chunk");
	reset();
	cr_assert_eq(bench_resp_feed(&resp, (const uint8_t *)big, 100, &used), 0);
	cr_assert_eq(bench_resp_feed(&resp, (const uint8_t *)big + 100, BENCH_HEAD_MAX, &used),
	             BENCH_RESP_BAD_HEAD, "split");
	free(big);
}

Test(bench_http, eof_before_the_end)
{
	cr_assert_eq(bench_resp_eof(&resp), BENCH_RESP_TRUNCATED, "nothing arrived");
	cr_assert_eq(feed_all("HTTP/1.1 200 OK\r\nContent"), 0);
	cr_assert_eq(bench_resp_eof(&resp), BENCH_RESP_TRUNCATED, "in the head");
	reset();
	cr_assert_eq(feed_all("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab"), 0);
	cr_assert_eq(bench_resp_eof(&resp), BENCH_RESP_TRUNCATED, "in the body");
}

Test(bench_http, reset_starts_over)
{
	cr_assert_eq(
	    feed_all("HTTP/1.1 500 Oops\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx"), 1);
	reset();
	cr_assert_not(bench_resp_started(&resp));
	cr_assert_eq(feed_all("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab"), 1);
	cr_assert_eq(resp.status, 200);
	cr_assert_not(resp.close);
	cr_assert_eq(resp.body_len, 2);
}

Test(bench_hist, empty)
{
	static struct bench_hist h;
	cr_assert_eq(bench_hist_percentile(&h, 50), 0);
	cr_assert_eq(bench_hist_percentile(&h, 100), 0);
}

Test(bench_hist, small_values_are_exact)
{
	static struct bench_hist h;
	for (uint64_t v = 1; v <= 100; v++)
		bench_hist_record(&h, v);
	cr_assert_eq(h.total, 100);
	cr_assert_eq(h.sum, 5050);
	cr_assert_eq(bench_hist_percentile(&h, 50), 50);
	cr_assert_eq(bench_hist_percentile(&h, 99), 99);
	cr_assert_eq(bench_hist_percentile(&h, 100), 100);
	cr_assert_eq(bench_hist_percentile(&h, 0.001), 1);
}

Test(bench_hist, large_values_within_two_percent)
{
	static const uint64_t values[] = {129,     1000,      4097,       65535,
	                                  1000003, 123456789, 1ull << 40, UINT64_MAX / 3};
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		static struct bench_hist h;
		memset(&h, 0, sizeof(h));
		uint64_t v = values[i];
		bench_hist_record(&h, v);
		bench_hist_record(&h, v);
		uint64_t got = bench_hist_percentile(&h, 50);
		cr_assert_leq(got, v, "value %llu", (unsigned long long)v);
		cr_assert_geq((double)got, (double)v * 0.98, "value %llu", (unsigned long long)v);
		cr_assert_eq(bench_hist_percentile(&h, 100), v);
	}
}

Test(bench_hist, merge)
{
	static struct bench_hist a, b;
	for (int i = 0; i < 90; i++)
		bench_hist_record(&a, 10);
	for (int i = 0; i < 10; i++)
		bench_hist_record(&b, 5000);
	bench_hist_merge(&a, &b);
	cr_assert_eq(a.total, 100);
	cr_assert_eq(a.max, 5000);
	cr_assert_eq(a.sum, 900 + 50000);
	cr_assert_eq(bench_hist_percentile(&a, 90), 10);
	uint64_t p95 = bench_hist_percentile(&a, 95);
	cr_assert(p95 >= 4900 && p95 <= 5000, "p95 %llu", (unsigned long long)p95);
}

Test(url, forms)
{
	struct kw_url u;
	cr_assert_eq(kw_url_parse("http://127.0.0.1:8080/a/b?c", &u), 0);
	cr_assert_not(u.toytls);
	cr_assert_str_eq(u.host, "127.0.0.1");
	cr_assert_str_eq(u.port, "8080");
	cr_assert_str_eq(u.path, "/a/b?c");
	cr_assert_eq(kw_url_parse("toytls://localhost/", &u), 0);
	cr_assert(u.toytls);
	cr_assert_str_eq(u.port, "443");
	cr_assert_eq(kw_url_parse("http://h", &u), 0);
	cr_assert_str_eq(u.port, "80");
	cr_assert_str_eq(u.path, "/");
	cr_assert_eq(kw_url_parse("toytls://[::1]:8443/x", &u), 0);
	cr_assert_str_eq(u.host, "::1");
	cr_assert_str_eq(u.port, "8443");
	cr_assert_eq(kw_url_parse("http://[::1]/", &u), 0);
	cr_assert_str_eq(u.port, "80");
	cr_assert_eq(kw_url_parse("https://h/a", &u), 0);
	cr_assert(u.https);
	cr_assert_not(u.toytls);
	cr_assert_str_eq(u.port, "443");
	cr_assert_str_eq(u.path, "/a");
}

Test(url, refused)
{
	static const char *const bad[] = {
	    "ftp://h/",        "httpss://h/",  "http://",           "http://:80/",
	    "http://h:/",      "http://h:8x/", "http://h:1234567/", "http://h:0/",
	    "http://h:65536/", "http://[::1/", "http://[::1]x/",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kw_url u;
		cr_assert_eq(kw_url_parse(bad[i], &u), -1, "%s", bad[i]);
	}
}

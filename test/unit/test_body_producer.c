/*
 * test_body_producer.c - HTTP/1.1 chunk framing of a producer's steps, byte for
 * byte: size lines at digit boundaries, an empty step, the last chunk alone and after
 * data, the room cap, errors; and how a streamed response's head is ended on
 * HTTP/1.1, HTTP/1.0 and HEAD.
 */
#include "body_producer.h"

#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "err.h"
#include "http.h"
#include "http_response.h"

/* One step of fixed bytes: len of 'x', then end as told; or the error. */
struct one {
	size_t len;
	bool end;
	int err;
	size_t cap_seen;
	unsigned disposed;
};

static int
one_produce(void *ctx, uint8_t *buf, size_t cap, struct body_step *st)
{
	struct one *o = ctx;
	o->cap_seen = cap;
	if (o->err)
		return o->err;
	size_t n = o->len < cap ? o->len : cap;
	memset(buf, 'x', n);
	st->len = n;
	st->end = o->end;
	return 0;
}

static void
one_dispose(void *ctx)
{
	((struct one *)ctx)->disposed++;
}

static uint8_t buf[1 << 17];

static void
check_chunk(size_t n, const char *line)
{
	struct one o = {.len = n};
	struct body_producer p = {one_produce, one_dispose, &o};
	size_t len, data;
	bool end;
	cr_assert_eq(body_producer_fill_chunked(&p, buf, sizeof(buf), &len, &data, &end), 0);
	cr_assert_eq(data, n);
	cr_assert_not(end);
	size_t k = strlen(line);
	cr_assert_eq(len, k + n + 2, "chunk of %zu", n);
	cr_assert_arr_eq(buf, line, k);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(buf[k + i], 'x');
	cr_assert_arr_eq(buf + k + n, "\r\n", 2);
}

Test(body_producer, size_lines_are_lowercase_hex_without_leading_zeros)
{
	check_chunk(1, "1\r\n");
	check_chunk(15, "f\r\n");
	check_chunk(16, "10\r\n");
	check_chunk(255, "ff\r\n");
	check_chunk(256, "100\r\n");
	check_chunk(0xabcd, "abcd\r\n");
	check_chunk(0x10000, "10000\r\n");
}

Test(body_producer, the_last_step_adds_the_last_chunk)
{
	struct one o = {.len = 3, .end = true};
	struct body_producer p = {one_produce, NULL, &o};
	size_t len, data;
	bool end;
	cr_assert_eq(body_producer_fill_chunked(&p, buf, 300, &len, &data, &end), 0);
	cr_assert(end);
	cr_assert_eq(len, 13u);
	cr_assert_arr_eq(buf, "3\r\nxxx\r\n0\r\n\r\n", 13);

	o = (struct one){.len = 0, .end = true};
	cr_assert_eq(body_producer_fill_chunked(&p, buf, 300, &len, &data, &end), 0);
	cr_assert_eq(len, 5u);
	cr_assert_eq(data, 0u);
	cr_assert_arr_eq(buf, "0\r\n\r\n", 5);
}

Test(body_producer, an_empty_step_frames_nothing)
{
	struct one o = {.len = 0};
	struct body_producer p = {one_produce, NULL, &o};
	size_t len = 99, data = 99;
	bool end = true;
	cr_assert_eq(body_producer_fill_chunked(&p, buf, 300, &len, &data, &end), 0);
	cr_assert_eq(len, 0u);
	cr_assert_eq(data, 0u);
	cr_assert_not(end);
}

Test(body_producer, the_producer_gets_the_room_the_framing_leaves)
{
	const size_t framing = BODY_CHUNK_HEAD + BODY_CHUNK_TAIL + BODY_CHUNK_LAST;
	struct one o = {.len = 100000, .end = true};
	struct body_producer p = {one_produce, NULL, &o};
	size_t len, data;
	bool end;
	const size_t cap = framing + BODY_PRODUCER_MIN_CAP;
	cr_assert_eq(body_producer_fill_chunked(&p, buf, cap, &len, &data, &end), 0);
	cr_assert_eq(o.cap_seen, BODY_PRODUCER_MIN_CAP);
	cr_assert_eq(len, 5 + BODY_PRODUCER_MIN_CAP + 2 + 5,
	             "the whole step and the last chunk fit");
	cr_assert_leq(len, cap);
	cr_assert_eq(body_producer_fill_raw(&p, buf, 777, &len, &end), 0);
	cr_assert_eq(o.cap_seen, 777u);
	cr_assert_eq(len, 777u);
}

Test(body_producer, an_error_makes_nothing_and_dispose_runs_once)
{
	struct one o = {.len = 10, .err = KW_ERR_NOMEM};
	struct body_producer p = {one_produce, one_dispose, &o};
	size_t len = 1, data = 1;
	bool end = true;
	cr_assert_eq(body_producer_fill_chunked(&p, buf, 300, &len, &data, &end), KW_ERR_NOMEM);
	cr_assert_eq(len, 0u);
	cr_assert_not(end);
	cr_assert_eq(body_producer_fill_raw(&p, buf, 300, &len, &end), KW_ERR_NOMEM);
	body_producer_dispose(&p);
	body_producer_dispose(&p);
	cr_assert_eq(o.disposed, 1u);
	cr_assert_not(body_producer_present(&p));
}

/* The head of a streamed 200 for req, as http_response_end() leaves it. */
static void
streamed_head(struct http_request *req, struct http_response *resp, struct one *o)
{
	struct body_producer p = {one_produce, one_dispose, o};
	http_response_init(resp);
	cr_assert_eq(http_response_begin(resp, 200, 0), 0);
	http_response_stream(resp, req, &p);
	cr_assert_eq(http_response_end(resp, req), 0);
	cr_assert_eq(kw_buf_append(&resp->head, "", 1), 0);
}

Test(body_producer, http11_streams_chunked_and_keeps_the_connection)
{
	struct http_request req = {.method = HTTP_GET, .version_minor = 1, .keep_alive = true};
	struct http_response resp;
	struct one o = {0};
	streamed_head(&req, &resp, &o);
	cr_assert(strstr((char *)resp.head.data, "\r\nTransfer-Encoding: chunked\r\n"));
	cr_assert_null(strstr((char *)resp.head.data, "Content-Length"));
	cr_assert(resp.chunked);
	cr_assert_not(resp.close);
	http_response_dispose(&resp);
	cr_assert_eq(o.disposed, 1u);
}

Test(body_producer, http10_streams_until_the_connection_closes)
{
	struct http_request req = {.method = HTTP_GET, .version_minor = 0, .keep_alive = true};
	struct http_response resp;
	struct one o = {0};
	streamed_head(&req, &resp, &o);
	cr_assert_null(strstr((char *)resp.head.data, "Transfer-Encoding"));
	cr_assert(strstr((char *)resp.head.data, "\r\nConnection: close\r\n"));
	cr_assert_not(resp.chunked);
	cr_assert(resp.close);
	http_response_dispose(&resp);
}

Test(body_producer, head_gets_the_same_headers_and_no_producer)
{
	struct http_request req = {.method = HTTP_HEAD, .version_minor = 1, .keep_alive = true};
	struct http_response resp;
	struct one o = {0};
	streamed_head(&req, &resp, &o);
	cr_assert_eq(o.disposed, 1u, "disposed at once");
	cr_assert_not(body_producer_present(&resp.producer));
	cr_assert(strstr((char *)resp.head.data, "\r\nTransfer-Encoding: chunked\r\n"));
	cr_assert_not(resp.chunked);
	cr_assert_not(resp.close);
	http_response_dispose(&resp);
	cr_assert_eq(o.disposed, 1u);
}

/*
 * test_compress.c - the gzip and brotli producers: what they make decompresses (zlib,
 * libbrotlidec) to the file byte for byte, at every level, in steps no larger than
 * the room given, each step reading at most one input stretch; the memory each stream
 * holds stays under COMPRESS_STREAM_MEMORY; the per-worker limit at and one past its
 * cap; a file that shrinks fails the step; which locations, types and sizes compress.
 */
#include "compress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <brotli/decode.h>
#include <criterion/criterion.h>
#include <zlib.h>

#include "err.h"

static char path[64];
static int fd = -1;
static uint8_t *data;
static size_t data_len;

/* A file of len bytes of text-like content (compressible, not trivially). */
static void
make_file(size_t len)
{
	snprintf(path, sizeof(path), "/tmp/test_compress.XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	data = malloc(len + 1);
	uint32_t x = 12345;
	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		data[i] = (x >> 16) % 7 == 0 ? ' ' : (uint8_t)('a' + (x >> 20) % 12);
	}
	data_len = len;
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
}

static void
teardown(void)
{
	if (fd >= 0)
		close(fd);
	fd = -1;
	if (path[0])
		unlink(path);
	path[0] = '\0';
	free(data);
	data = NULL;
}

TestSuite(compress, .fini = teardown);

static struct kw_location
location(unsigned gzip_level, unsigned brotli_quality)
{
	static char *types[] = {"text/html", "text/*"};
	return (struct kw_location){.compress = true,
	                            .compress_types = types,
	                            .n_compress_types = 2,
	                            .compress_min_size = 100,
	                            .gzip_level = gzip_level,
	                            .brotli_quality = brotli_quality};
}

/* Runs p to its end in steps of room bytes; returns the output and its peak memory. */
static uint8_t *
run(struct body_producer *p, size_t room, size_t *len, size_t *peak)
{
	size_t cap = 1 << 16, n = 0;
	uint8_t *out = malloc(cap);
	uint8_t *buf = malloc(room);
	unsigned steps = 0;
	for (;;) {
		struct body_step st = {0};
		cr_assert_eq(p->produce(p->ctx, buf, room, &st), 0);
		cr_assert_leq(st.len, room);
		if (n + st.len > cap)
			out = realloc(out, cap = 2 * (n + st.len));
		memcpy(out + n, buf, st.len);
		n += st.len;
		cr_assert_lt(steps++, 100000u);
		if (st.end)
			break;
	}
	cr_assert_geq(steps, (data_len + COMPRESS_INPUT - 1) / COMPRESS_INPUT,
	              "one input stretch per step at most");
	*peak = compress_producer_peak(p);
	free(buf);
	*len = n;
	return out;
}

static void
check_gzip(const uint8_t *z, size_t len)
{
	uint8_t *plain = malloc(data_len + 1);
	z_stream s = {0};
	cr_assert_eq(inflateInit2(&s, 15 + 16), Z_OK);
	s.next_in = (uint8_t *)z;
	s.avail_in = (uInt)len;
	s.next_out = plain;
	s.avail_out = (uInt)data_len + 1;
	cr_assert_eq(inflate(&s, Z_FINISH), Z_STREAM_END);
	cr_assert_eq(s.total_out, data_len);
	cr_assert_eq(s.avail_in, 0u, "nothing after the gzip member");
	cr_assert_arr_eq(plain, data, data_len);
	inflateEnd(&s);
	free(plain);
}

static void
check_br(const uint8_t *b, size_t len)
{
	uint8_t *plain = malloc(data_len + 1);
	size_t out = data_len + 1;
	cr_assert_eq(BrotliDecoderDecompress(len, b, &out, plain), BROTLI_DECODER_RESULT_SUCCESS);
	cr_assert_eq(out, data_len);
	cr_assert_arr_eq(plain, data, data_len);
	free(plain);
}

static void
round_trip(enum compress_coding coding, unsigned level, size_t room)
{
	struct kw_location loc = location(level, level);
	struct compress_limit lim = {.max = 1};
	struct body_producer p;
	cr_assert_eq(compress_producer_new(coding, &loc, fd, data_len, &lim, &p), 0);
	size_t len, peak;
	uint8_t *out = run(&p, room, &len, &peak);
	cr_assert_lt(len, data_len, "it compresses");
	cr_assert_leq(peak, COMPRESS_STREAM_MEMORY, "level %u: %zu bytes", level, peak);
	if (coding == COMPRESS_GZIP)
		check_gzip(out, len);
	else
		check_br(out, len);
	free(out);
	body_producer_dispose(&p);
	cr_assert_eq(lim.active, 0u);
}

Test(compress, gzip_round_trips_at_every_level)
{
	make_file(300 * 1024 + 17);
	for (unsigned level = 1; level <= 9; level++)
		round_trip(COMPRESS_GZIP, level, 16384);
}

Test(compress, brotli_round_trips_at_every_quality)
{
	make_file(300 * 1024 + 17);
	for (unsigned q = 0; q <= COMPRESS_BROTLI_MAX_QUALITY; q++)
		round_trip(COMPRESS_BR, q, 16384);
}

Test(compress, small_rooms)
{
	make_file(70000);
	round_trip(COMPRESS_GZIP, 6, BODY_PRODUCER_MIN_CAP);
	round_trip(COMPRESS_BR, 4, BODY_PRODUCER_MIN_CAP);
}

Test(compress, the_worker_limit_at_and_past_its_cap)
{
	make_file(1000);
	struct kw_location loc = location(6, 4);
	struct compress_limit lim = {.max = 2};
	struct body_producer a, b, c;
	cr_assert_eq(compress_producer_new(COMPRESS_GZIP, &loc, fd, data_len, &lim, &a), 0);
	cr_assert_eq(compress_producer_new(COMPRESS_BR, &loc, fd, data_len, &lim, &b), 0);
	cr_assert_eq(lim.active, 2u);
	cr_assert(compress_limit_full(&lim));
	cr_assert_eq(compress_producer_new(COMPRESS_GZIP, &loc, fd, data_len, &lim, &c),
	             KW_ERR_STATE);
	cr_assert_eq(lim.active, 2u);
	body_producer_dispose(&a);
	cr_assert_not(compress_limit_full(&lim));
	cr_assert_eq(compress_producer_new(COMPRESS_GZIP, &loc, fd, data_len, &lim, &c), 0);
	body_producer_dispose(&b);
	body_producer_dispose(&c);
	cr_assert_eq(lim.active, 0u);
}

Test(compress, a_file_that_shrank_fails_the_step)
{
	make_file(1000);
	struct kw_location loc = location(6, 4);
	struct compress_limit lim = {.max = 1};
	struct body_producer p;
	cr_assert_eq(compress_producer_new(COMPRESS_GZIP, &loc, fd, 2000, &lim, &p), 0);
	uint8_t buf[4096];
	struct body_step st;
	int err = 0;
	for (int i = 0; i < 10 && err == 0; i++)
		err = p.produce(p.ctx, buf, sizeof(buf), &st);
	cr_assert_eq(err, KW_ERR_INTERNAL);
	body_producer_dispose(&p);
}

Test(compress, which_types_and_sizes_compress)
{
	struct kw_location loc = location(6, 4);
	static char *html[] = {"text/html", "image/svg+xml"};
	cr_assert(compress_applies(&loc, "text/html", 100), "at the minimum size");
	cr_assert_not(compress_applies(&loc, "text/html", 99), "one short");
	cr_assert(compress_applies(&loc, "text/css; charset=utf-8", 1000), "text/* and parameters");
	cr_assert_not(compress_applies(&loc, "texts/css", 1000));
	cr_assert_not(compress_applies(&loc, "image/png", 1000));
	loc.compress_types = html;
	cr_assert(compress_applies(&loc, "IMAGE/SVG+XML", 1000));
	cr_assert_not(compress_applies(&loc, "text/css", 1000));
	cr_assert_not(compress_applies(&loc, "text/htmlx", 1000));
	loc.compress = false;
	cr_assert_not(compress_applies(&loc, "text/html", 1000), "off");
}

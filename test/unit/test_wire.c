/*
 * test_wire.c - toy-TLS framing: the incremental record reader under every split,
 * the early length check, the record writer and the handshake field codec.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "err.h"
#include "toytls.h"
#include "toytls_wire.h"

static void
fill_pattern(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 31);
}

/* Appends one record of len pattern bytes to wire. */
static void
add_record(struct kw_buf *wire, size_t len, uint8_t seed)
{
	uint8_t payload[1024];

	cr_assert_leq(len, sizeof(payload));
	fill_pattern(payload, len, seed);
	cr_assert_eq(tt_record_write(wire, payload, len), 0);
}

static void
expect_payload(const struct tt_record_reader *r, size_t len, uint8_t seed)
{
	uint8_t want[1024];
	size_t got_len;
	const uint8_t *got = tt_record_reader_payload(r, &got_len);

	fill_pattern(want, len, seed);
	cr_assert_eq(got_len, len);
	cr_assert_not_null(got);
	cr_expect_arr_eq(got, want, len);
}

Test(wire, record_write_layout)
{
	struct kw_buf wire = {0};
	const uint8_t payload[] = {0xaa, 0xbb, 0xcc};
	const uint8_t want[] = {0, 0, 0, 3, 0xaa, 0xbb, 0xcc};

	cr_assert_eq(tt_record_write(&wire, payload, sizeof(payload)), 0);
	cr_assert_eq(kw_buf_size(&wire), sizeof(want));
	cr_expect_arr_eq(kw_buf_head(&wire), want, sizeof(want));
	kw_buf_free(&wire);
}

Test(wire, one_byte_at_a_time)
{
	struct kw_buf wire = {0};
	struct tt_record_reader r;

	add_record(&wire, 300, 7);
	tt_record_reader_init(&r, 1000);
	const uint8_t *p = kw_buf_head(&wire);
	size_t total = kw_buf_size(&wire);
	for (size_t i = 0; i < total; i++) {
		size_t consumed = 99;
		int ret = tt_record_reader_feed(&r, p + i, 1, &consumed);
		cr_assert_eq(consumed, 1, "byte %zu", i);
		cr_assert_eq(ret, i + 1 == total ? 1 : 0, "byte %zu", i);
	}
	expect_payload(&r, 300, 7);
	tt_record_reader_dispose(&r);
	kw_buf_free(&wire);
}

Test(wire, every_two_and_three_way_split)
{
	struct kw_buf wire = {0};
	add_record(&wire, 11, 3);
	const uint8_t *p = kw_buf_head(&wire);
	size_t total = kw_buf_size(&wire);

	for (size_t a = 0; a <= total; a++) {
		for (size_t b = a; b <= total; b++) {
			struct tt_record_reader r;
			size_t cuts[] = {0, a, b, total}, consumed;
			int ret = 0;

			tt_record_reader_init(&r, 64);
			for (size_t k = 0; k < 3; k++) {
				ret = tt_record_reader_feed(&r, p + cuts[k], cuts[k + 1] - cuts[k],
				                            &consumed);
				cr_assert_eq(consumed, cuts[k + 1] - cuts[k], "split %zu/%zu", a,
				             b);
				cr_assert_eq(ret, cuts[k + 1] == total ? 1 : 0, "split %zu/%zu", a,
				             b);
			}
			expect_payload(&r, 11, 3);
			tt_record_reader_dispose(&r);
		}
	}
	kw_buf_free(&wire);
}

Test(wire, several_records_in_one_feed)
{
	struct kw_buf wire = {0};
	const size_t lens[] = {5, 0, 200, 1};
	struct tt_record_reader r;

	for (size_t i = 0; i < 4; i++)
		add_record(&wire, lens[i], (uint8_t)i);
	tt_record_reader_init(&r, 256);
	const uint8_t *p = kw_buf_head(&wire);
	size_t left = kw_buf_size(&wire);
	for (size_t i = 0; i < 4; i++) {
		size_t consumed;
		cr_assert_eq(tt_record_reader_feed(&r, p, left, &consumed), 1, "record %zu", i);
		cr_assert_eq(consumed, TT_RECORD_HEADER_LEN + lens[i], "record %zu", i);
		expect_payload(&r, lens[i], (uint8_t)i);
		tt_record_reader_next(&r);
		p += consumed;
		left -= consumed;
	}
	cr_expect_eq(left, 0);
	tt_record_reader_dispose(&r);
	kw_buf_free(&wire);
}

Test(wire, complete_record_takes_no_more_input)
{
	struct kw_buf wire = {0};
	struct tt_record_reader r;
	size_t consumed;

	add_record(&wire, 4, 1);
	add_record(&wire, 4, 2);
	tt_record_reader_init(&r, 16);
	cr_assert_eq(tt_record_reader_feed(&r, kw_buf_head(&wire), kw_buf_size(&wire), &consumed),
	             1);
	cr_assert_eq(consumed, 8);
	cr_assert_eq(tt_record_reader_feed(&r, kw_buf_head(&wire) + 8, 8, &consumed), 1);
	cr_expect_eq(consumed, 0);
	expect_payload(&r, 4, 1);
	tt_record_reader_next(&r);
	cr_assert_eq(tt_record_reader_feed(&r, kw_buf_head(&wire) + 8, 8, &consumed), 1);
	cr_expect_eq(consumed, 8);
	expect_payload(&r, 4, 2);
	tt_record_reader_dispose(&r);
	kw_buf_free(&wire);
}

Test(wire, zero_length_record)
{
	const uint8_t wire[] = {0, 0, 0, 0};
	struct tt_record_reader r;
	size_t consumed, len = 99;

	tt_record_reader_init(&r, 0);
	cr_assert_eq(tt_record_reader_feed(&r, wire, sizeof(wire), &consumed), 1);
	cr_expect_eq(consumed, 4);
	cr_expect_not_null(tt_record_reader_payload(&r, &len));
	cr_expect_eq(len, 0);
	tt_record_reader_dispose(&r);
}

Test(wire, empty_feed_needs_more)
{
	struct tt_record_reader r;
	size_t consumed = 99;

	tt_record_reader_init(&r, 16);
	cr_expect_eq(tt_record_reader_feed(&r, NULL, 0, &consumed), 0);
	cr_expect_eq(consumed, 0);
	tt_record_reader_dispose(&r);
}

Test(wire, max_length_accepted)
{
	struct kw_buf wire = {0};
	struct tt_record_reader r;
	size_t consumed;

	add_record(&wire, 100, 9);
	tt_record_reader_init(&r, 100);
	cr_assert_eq(tt_record_reader_feed(&r, kw_buf_head(&wire), kw_buf_size(&wire), &consumed),
	             1);
	cr_expect_eq(consumed, 104);
	expect_payload(&r, 100, 9);
	tt_record_reader_dispose(&r);
	kw_buf_free(&wire);
}

Test(wire, too_large_rejected_before_body)
{
	struct kw_buf wire = {0};
	struct tt_record_reader r;
	size_t consumed;

	add_record(&wire, 101, 0);
	tt_record_reader_init(&r, 100);
	cr_assert_eq(tt_record_reader_feed(&r, kw_buf_head(&wire), kw_buf_size(&wire), &consumed),
	             KW_ERR_RECORD_TOO_LARGE);
	cr_expect_leq(consumed, 4);
	cr_expect_eq(kw_buf_size(&r.body), 0);
	cr_expect_null(r.body.data, "no body byte may be buffered");
	tt_record_reader_dispose(&r);
	kw_buf_free(&wire);
}

Test(wire, too_large_header_in_pieces)
{
	const uint8_t header[] = {0xff, 0xff, 0xff, 0xff, 0x01};
	struct tt_record_reader r;
	size_t consumed;

	tt_record_reader_init(&r, TT_MAX_HANDSHAKE_RECORD);
	cr_assert_eq(tt_record_reader_feed(&r, header, 3, &consumed), 0);
	cr_expect_eq(consumed, 3);
	cr_assert_eq(tt_record_reader_feed(&r, header + 3, 2, &consumed), KW_ERR_RECORD_TOO_LARGE);
	cr_expect_eq(consumed, 1);
	cr_expect_null(r.body.data);
	cr_expect_eq(tt_record_reader_feed(&r, header + 4, 1, &consumed), KW_ERR_RECORD_TOO_LARGE);
	cr_expect_eq(consumed, 0);
	tt_record_reader_dispose(&r);
}

Test(wire, reader_reuse_after_next)
{
	struct kw_buf wire = {0};
	struct tt_record_reader r;
	size_t consumed;

	add_record(&wire, 50, 4);
	add_record(&wire, 10, 5);
	tt_record_reader_init(&r, 64);
	cr_assert_eq(tt_record_reader_feed(&r, kw_buf_head(&wire), 30, &consumed), 0);
	cr_assert_eq(tt_record_reader_feed(&r, kw_buf_head(&wire) + 30, 24, &consumed), 1);
	cr_assert_eq(consumed, 24);
	expect_payload(&r, 50, 4);
	tt_record_reader_next(&r);
	cr_assert_eq(tt_record_reader_feed(&r, kw_buf_head(&wire) + 54, 14, &consumed), 1);
	expect_payload(&r, 10, 5);
	tt_record_reader_dispose(&r);
	cr_expect_null(r.body.data);
	kw_buf_free(&wire);
}

Test(wire, reader_usable_after_dispose)
{
	struct kw_buf wire = {0};
	struct tt_record_reader r;
	size_t consumed;

	add_record(&wire, 20, 8);
	tt_record_reader_init(&r, 20);
	cr_assert_eq(tt_record_reader_feed(&r, kw_buf_head(&wire), kw_buf_size(&wire), &consumed),
	             1);
	tt_record_reader_next(&r);
	tt_record_reader_dispose(&r);
	cr_assert_eq(tt_record_reader_feed(&r, kw_buf_head(&wire), kw_buf_size(&wire), &consumed),
	             1);
	expect_payload(&r, 20, 8);
	tt_record_reader_dispose(&r);
	tt_store_u32(kw_buf_head(&wire), 21);
	cr_expect_eq(tt_record_reader_feed(&r, kw_buf_head(&wire), kw_buf_size(&wire), &consumed),
	             KW_ERR_RECORD_TOO_LARGE, "the limit survives dispose");
	tt_record_reader_dispose(&r);
	kw_buf_free(&wire);
}

Test(wire, field_round_trip)
{
	struct kw_buf payload = {0};
	uint8_t key[TT_X25519_LEN], cert[700];
	const char name[] = "localhost";
	struct tt_field f;
	size_t pos = 0;

	fill_pattern(key, sizeof(key), 1);
	fill_pattern(cert, sizeof(cert), 2);
	cr_assert_eq(tt_field_write(&payload, TT_TAG_X25519, key, sizeof(key)), 0);
	cr_assert_eq(tt_field_write(&payload, TT_TAG_SERVER_NAME, (const uint8_t *)name, 9), 0);
	cr_assert_eq(tt_field_write(&payload, TT_TAG_CERTIFICATE, cert, sizeof(cert)), 0);
	cr_assert_eq(tt_field_write(&payload, TT_TAG_CERT_VERIFY, NULL, 0), 0);
	cr_assert_eq(kw_buf_size(&payload), 4 * TT_FIELD_HEADER_LEN + 32 + 9 + 700);

	const uint8_t *p = kw_buf_head(&payload);
	size_t len = kw_buf_size(&payload);
	cr_expect_arr_eq(p, ((uint8_t[]){0x00, 0x10, 0, 0, 0, 32}), 6);
	cr_assert_eq(tt_field_next(p, len, &pos, &f), 1);
	cr_expect_eq(f.tag, TT_TAG_X25519);
	cr_expect_eq(f.len, 32);
	cr_expect_arr_eq(f.value, key, 32);
	cr_assert_eq(tt_field_next(p, len, &pos, &f), 1);
	cr_expect_eq(f.tag, TT_TAG_SERVER_NAME);
	cr_expect_eq(f.len, 9);
	cr_expect_arr_eq(f.value, name, 9);
	cr_assert_eq(tt_field_next(p, len, &pos, &f), 1);
	cr_expect_eq(f.tag, TT_TAG_CERTIFICATE);
	cr_expect_eq(f.len, 700);
	cr_expect_arr_eq(f.value, cert, 700);
	cr_assert_eq(tt_field_next(p, len, &pos, &f), 1);
	cr_expect_eq(f.tag, TT_TAG_CERT_VERIFY);
	cr_expect_eq(f.len, 0);
	cr_assert_eq(tt_field_next(p, len, &pos, &f), 0);
	cr_expect_eq(pos, len);
	kw_buf_free(&payload);
}

Test(wire, empty_payload_has_no_field)
{
	struct tt_field f;
	size_t pos = 0;

	cr_expect_eq(tt_field_next(NULL, 0, &pos, &f), 0);
}

Test(wire, truncated_field_header)
{
	const uint8_t payload[] = {0x00, 0x10, 0x00, 0x00, 0x00, 0x00};
	struct tt_field f;

	for (size_t len = 1; len < TT_FIELD_HEADER_LEN; len++) {
		size_t pos = 0;
		cr_expect_eq(tt_field_next(payload, len, &pos, &f), KW_ERR_TLV_TRUNCATED, "len %zu",
		             len);
		cr_expect_eq(pos, 0);
	}
	size_t pos = 0;
	cr_expect_eq(tt_field_next(payload, sizeof(payload), &pos, &f), 1);
}

Test(wire, truncated_value)
{
	uint8_t payload[TT_FIELD_HEADER_LEN + 10] = {0x00, 0x20, 0x00, 0x00, 0x00, 10};
	struct tt_field f;
	size_t pos = 0;

	cr_expect_eq(tt_field_next(payload, sizeof(payload) - 1, &pos, &f), KW_ERR_TLV_TRUNCATED);
	cr_expect_eq(pos, 0);
	cr_expect_eq(tt_field_next(payload, sizeof(payload), &pos, &f), 1);
	cr_expect_eq(pos, sizeof(payload));

	const uint8_t huge[] = {0x00, 0x20, 0xff, 0xff, 0xff, 0xff, 0x00};
	pos = 0;
	cr_expect_eq(tt_field_next(huge, sizeof(huge), &pos, &f), KW_ERR_TLV_TRUNCATED);
}

Test(wire, truncated_second_field)
{
	struct kw_buf payload = {0};
	uint8_t key[TT_X25519_LEN] = {0};
	struct tt_field f;
	size_t pos = 0;

	cr_assert_eq(tt_field_write(&payload, TT_TAG_X25519, key, sizeof(key)), 0);
	cr_assert_eq(tt_field_write(&payload, TT_TAG_CERTIFICATE, key, sizeof(key)), 0);
	size_t len = kw_buf_size(&payload) - 1;
	cr_assert_eq(tt_field_next(kw_buf_head(&payload), len, &pos, &f), 1);
	cr_expect_eq(tt_field_next(kw_buf_head(&payload), len, &pos, &f), KW_ERR_TLV_TRUNCATED);
	kw_buf_free(&payload);
}

Test(wire, position_past_end_is_truncated)
{
	const uint8_t payload[4] = {0};
	struct tt_field f;
	size_t pos = 5;

	cr_expect_eq(tt_field_next(payload, sizeof(payload), &pos, &f), KW_ERR_TLV_TRUNCATED);
}

Test(wire, unknown_tags_skipped)
{
	struct kw_buf payload = {0};
	uint8_t junk[17], key[TT_X25519_LEN];
	struct tt_field f;
	size_t pos = 0;
	int found = 0, unknown = 0, ret;

	fill_pattern(junk, sizeof(junk), 5);
	fill_pattern(key, sizeof(key), 6);
	cr_assert_eq(tt_field_write(&payload, 0x7777, junk, sizeof(junk)), 0);
	cr_assert_eq(tt_field_write(&payload, 0xffff, NULL, 0), 0);
	cr_assert_eq(tt_field_write(&payload, TT_TAG_X25519, key, sizeof(key)), 0);
	cr_assert_eq(tt_field_write(&payload, 0x0001, junk, 3), 0);
	while ((ret = tt_field_next(kw_buf_head(&payload), kw_buf_size(&payload), &pos, &f)) == 1) {
		if (f.tag != TT_TAG_X25519) {
			unknown++;
			continue;
		}
		found++;
		cr_expect_eq(f.len, sizeof(key));
		cr_expect_arr_eq(f.value, key, sizeof(key));
	}
	cr_expect_eq(ret, 0);
	cr_expect_eq(found, 1);
	cr_expect_eq(unknown, 3);
	kw_buf_free(&payload);
}

Test(wire, field_overlong_refused)
{
	struct kw_buf payload = {0};
	const uint8_t byte = 0;

	cr_expect_eq(tt_field_write(&payload, TT_TAG_CERTIFICATE, &byte, (size_t)UINT32_MAX),
	             KW_ERR_TLV_OVERLONG);
	cr_expect_eq(tt_field_write(&payload, TT_TAG_CERTIFICATE, &byte,
	                            (size_t)UINT32_MAX - TT_FIELD_HEADER_LEN + 1),
	             KW_ERR_TLV_OVERLONG);
	cr_expect_eq(kw_buf_size(&payload), 0);
	cr_expect_null(payload.data);
}

Test(wire, record_write_refuses_over_u32)
{
	struct kw_buf wire = {0};
	const uint8_t byte = 0;

	cr_expect_eq(tt_record_write(&wire, &byte, (size_t)UINT32_MAX + 1), KW_ERR_ARGUMENT);
	cr_expect_null(wire.data);
}

/*
 * test_record.c - application record protection: the vectors' records byte for
 * byte, and every way a record is refused (tampering, sequence, length, overflow).
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "err.h"
#include "toytls.h"
#include "toytls_aead.h"
#include "toytls_record.h"
#include "toytls_wire.h"
#include "tt_vectors.h"

/* A nonce source that hands out the 12 bytes it points to. */
static int
fixed_nonce(void *arg, uint8_t nonce[12])
{
	memcpy(nonce, arg, TT_NONCE_LEN);
	return 0;
}

static int
failing_nonce(void *arg, uint8_t nonce[12])
{
	return KW_ERR_INTERNAL;
}

static uint8_t client_key[TT_KEY_LEN], server_key[TT_KEY_LEN];

static void
setup(void)
{
	tt_vector_fixed("client_write_key", client_key, sizeof(client_key));
	tt_vector_fixed("server_write_key", server_key, sizeof(server_key));
}

TestSuite(record, .init = setup);

/* A sender and a receiver sharing one key. */
struct pair {
	struct tt_record_dir tx, rx;
};

static void
pair_init(struct pair *p, const uint8_t *key)
{
	cr_assert_eq(tt_record_dir_init(&p->tx, &tt_aes256gcm, key), 0);
	cr_assert_eq(tt_record_dir_init(&p->rx, &tt_aes256gcm, key), 0);
}

static void
pair_dispose(struct pair *p)
{
	tt_record_dir_dispose(&p->tx);
	tt_record_dir_dispose(&p->rx);
}

/* Seals len bytes of plaintext with a fixed nonce into a fresh buffer (caller frees). */
static struct kw_buf
seal_one(struct tt_record_dir *d, const uint8_t *plaintext, size_t len)
{
	static const uint8_t nonce[TT_NONCE_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
	struct kw_buf wire = {0};

	cr_assert_eq(tt_record_seal(d, fixed_nonce, (void *)nonce, plaintext, len, &wire), 0);
	return wire;
}

/* Opens a whole record (header included) and returns the result code. */
static int
open_wire(struct tt_record_dir *d, const struct kw_buf *wire, struct kw_buf *out)
{
	cr_assert_geq(kw_buf_size(wire), TT_RECORD_HEADER_LEN);
	cr_assert_eq(tt_load_u32(kw_buf_head(wire)), kw_buf_size(wire) - TT_RECORD_HEADER_LEN);
	return tt_record_open(d, kw_buf_head(wire) + TT_RECORD_HEADER_LEN,
	                      kw_buf_size(wire) - TT_RECORD_HEADER_LEN, out);
}

static void
expect_vector_record(const char *side, const uint8_t *key)
{
	char name[64];
	size_t pt_len, wire_len;
	uint8_t nonce[TT_NONCE_LEN];
	struct kw_buf wire = {0}, plain = {0};
	struct pair p;

	snprintf(name, sizeof(name), "%s_record_seq0_plaintext", side);
	uint8_t *pt = tt_vector(name, &pt_len);
	snprintf(name, sizeof(name), "%s_record_seq0_nonce", side);
	tt_vector_fixed(name, nonce, sizeof(nonce));
	snprintf(name, sizeof(name), "%s_record_seq0_wire", side);
	uint8_t *want = tt_vector(name, &wire_len);

	pair_init(&p, key);
	cr_assert_eq(tt_record_seal(&p.tx, fixed_nonce, nonce, pt, pt_len, &wire), 0);
	cr_assert_eq(kw_buf_size(&wire), wire_len);
	cr_expect_arr_eq(kw_buf_head(&wire), want, wire_len);
	cr_expect_eq(p.tx.seq, 1);

	cr_assert_eq(tt_record_open(&p.rx, want + TT_RECORD_HEADER_LEN,
	                            wire_len - TT_RECORD_HEADER_LEN, &plain),
	             0);
	cr_assert_eq(kw_buf_size(&plain), pt_len);
	cr_expect_arr_eq(kw_buf_head(&plain), pt, pt_len);
	cr_expect_eq(p.rx.seq, 1);

	pair_dispose(&p);
	kw_buf_free(&wire);
	kw_buf_free(&plain);
	free(pt);
	free(want);
}

Test(record, client_vector)
{
	expect_vector_record("client", client_key);
}

Test(record, server_vector)
{
	expect_vector_record("server", server_key);
}

Test(record, wrong_key_fails)
{
	struct tt_record_dir tx, rx;
	struct kw_buf plain = {0};

	cr_assert_eq(tt_record_dir_init(&tx, &tt_aes256gcm, client_key), 0);
	cr_assert_eq(tt_record_dir_init(&rx, &tt_aes256gcm, server_key), 0);
	struct kw_buf wire = seal_one(&tx, (const uint8_t *)"hello", 5);
	cr_expect_eq(open_wire(&rx, &wire, &plain), KW_ERR_DECRYPT);
	cr_expect_eq(kw_buf_size(&plain), 0);
	tt_record_dir_dispose(&tx);
	tt_record_dir_dispose(&rx);
	kw_buf_free(&wire);
	kw_buf_free(&plain);
}

/* Flips one bit at offset off of a sealed 5-byte record and expects code from open. */
static void
expect_tampered(size_t off, int code)
{
	struct kw_buf plain = {0};
	struct pair p;

	pair_init(&p, client_key);
	struct kw_buf wire = seal_one(&p.tx, (const uint8_t *)"hello", 5);
	cr_assert_lt(off, kw_buf_size(&wire));
	kw_buf_head(&wire)[off] ^= 0x01;
	cr_expect_eq(open_wire(&p.rx, &wire, &plain), code, "offset %zu", off);
	cr_expect_eq(kw_buf_size(&plain), 0, "nothing appended for offset %zu", off);
	cr_expect_eq(p.rx.seq, 0);
	pair_dispose(&p);
	kw_buf_free(&wire);
	kw_buf_free(&plain);
}

enum {
	OFF_SEQ = TT_RECORD_HEADER_LEN,
	OFF_NONCE = OFF_SEQ + TT_SEQ_LEN,
	OFF_CIPHERTEXT = OFF_NONCE + TT_NONCE_LEN,
	OFF_TAG = OFF_CIPHERTEXT + 5,
};

Test(record, tampered_ciphertext)
{
	expect_tampered(OFF_CIPHERTEXT, KW_ERR_DECRYPT);
	expect_tampered(OFF_CIPHERTEXT + 4, KW_ERR_DECRYPT);
}

Test(record, tampered_tag)
{
	expect_tampered(OFF_TAG, KW_ERR_DECRYPT);
	expect_tampered(OFF_TAG + TT_TAG_LEN - 1, KW_ERR_DECRYPT);
}

Test(record, tampered_nonce)
{
	expect_tampered(OFF_NONCE + 3, KW_ERR_DECRYPT);
}

Test(record, tampered_sequence)
{
	expect_tampered(OFF_SEQ + TT_SEQ_LEN - 1, KW_ERR_BAD_SEQUENCE);
}

Test(record, replayed_sequence)
{
	struct kw_buf plain = {0};
	struct pair p;

	pair_init(&p, client_key);
	struct kw_buf first = seal_one(&p.tx, (const uint8_t *)"one", 3);
	cr_assert_eq(open_wire(&p.rx, &first, &plain), 0);
	cr_expect_eq(open_wire(&p.rx, &first, &plain), KW_ERR_BAD_SEQUENCE);
	cr_expect_eq(kw_buf_size(&plain), 3);
	cr_expect_eq(p.rx.seq, 1);
	pair_dispose(&p);
	kw_buf_free(&first);
	kw_buf_free(&plain);
}

Test(record, skipped_sequence)
{
	struct kw_buf plain = {0};
	struct pair p;

	pair_init(&p, client_key);
	struct kw_buf first = seal_one(&p.tx, (const uint8_t *)"one", 3);
	struct kw_buf second = seal_one(&p.tx, (const uint8_t *)"two", 3);
	cr_expect_eq(tt_load_u64(kw_buf_head(&second) + OFF_SEQ), 1);
	cr_expect_eq(open_wire(&p.rx, &second, &plain), KW_ERR_BAD_SEQUENCE);
	cr_expect_eq(kw_buf_size(&plain), 0);
	cr_assert_eq(open_wire(&p.rx, &first, &plain), 0);
	cr_assert_eq(open_wire(&p.rx, &second, &plain), 0);
	cr_expect_arr_eq(kw_buf_head(&plain), "onetwo", 6);
	pair_dispose(&p);
	kw_buf_free(&first);
	kw_buf_free(&second);
	kw_buf_free(&plain);
}

Test(record, too_short)
{
	uint8_t payload[TT_RECORD_OVERHEAD] = {0};
	struct kw_buf plain = {0};
	struct tt_record_dir rx;

	cr_assert_eq(tt_record_dir_init(&rx, &tt_aes256gcm, client_key), 0);
	cr_expect_eq(tt_record_open(&rx, payload, TT_RECORD_OVERHEAD - 1, &plain),
	             KW_ERR_RECORD_TOO_SHORT);
	cr_expect_eq(tt_record_open(&rx, payload, 0, &plain), KW_ERR_RECORD_TOO_SHORT);
	cr_expect_eq(tt_record_open(&rx, payload, TT_RECORD_OVERHEAD, &plain), KW_ERR_DECRYPT,
	             "36 bytes pass the length check and reach the tag check");
	cr_expect_eq(kw_buf_size(&plain), 0);
	tt_record_dir_dispose(&rx);
	kw_buf_free(&plain);
}

Test(record, empty_plaintext)
{
	struct kw_buf plain = {0};
	struct pair p;

	pair_init(&p, client_key);
	struct kw_buf wire = seal_one(&p.tx, NULL, 0);
	cr_assert_eq(kw_buf_size(&wire), TT_RECORD_HEADER_LEN + TT_RECORD_OVERHEAD);
	cr_expect_eq(tt_load_u32(kw_buf_head(&wire)), TT_RECORD_OVERHEAD);
	cr_expect_eq(open_wire(&p.rx, &wire, &plain), 0);
	cr_expect_eq(kw_buf_size(&plain), 0);
	cr_expect_eq(p.rx.seq, 1);
	pair_dispose(&p);
	kw_buf_free(&wire);
	kw_buf_free(&plain);
}

Test(record, last_sequence_then_overflow)
{
	struct kw_buf plain = {0};
	struct pair p;

	pair_init(&p, client_key);
	p.tx.seq = UINT64_MAX;
	p.rx.seq = UINT64_MAX;
	struct kw_buf wire = seal_one(&p.tx, (const uint8_t *)"last", 4);
	cr_expect_eq(tt_load_u64(kw_buf_head(&wire) + OFF_SEQ), UINT64_MAX);
	cr_expect(p.tx.seq_exhausted);
	cr_assert_eq(open_wire(&p.rx, &wire, &plain), 0);
	cr_expect_arr_eq(kw_buf_head(&plain), "last", 4);
	cr_expect(p.rx.seq_exhausted);

	size_t before = kw_buf_size(&wire);
	cr_expect_eq(
	    tt_record_seal(&p.tx, tt_nonce_random, NULL, (const uint8_t *)"more", 4, &wire),
	    KW_ERR_SEQ_OVERFLOW);
	cr_expect_eq(kw_buf_size(&wire), before);
	cr_expect_eq(open_wire(&p.rx, &wire, &plain), KW_ERR_SEQ_OVERFLOW);
	cr_expect_eq(kw_buf_size(&plain), 4);
	pair_dispose(&p);
	kw_buf_free(&wire);
	kw_buf_free(&plain);
}

Test(record, in_place_matches_the_vectors)
{
	size_t pt_len, wire_len;
	uint8_t nonce[TT_NONCE_LEN];
	uint8_t *pt = tt_vector("server_record_seq0_plaintext", &pt_len);
	uint8_t *want = tt_vector("server_record_seq0_wire", &wire_len);
	struct tt_record_dir d;

	tt_vector_fixed("server_record_seq0_nonce", nonce, sizeof(nonce));
	cr_assert_eq(wire_len, TT_RECORD_PREFIX_LEN + pt_len + TT_RECORD_SUFFIX_LEN);
	uint8_t *rec = malloc(wire_len);
	cr_assert_not_null(rec);
	memcpy(rec + TT_RECORD_PREFIX_LEN, pt, pt_len);
	cr_assert_eq(tt_record_dir_init(&d, &tt_aes256gcm, server_key), 0);
	cr_assert_eq(tt_record_seal_in_place(&d, fixed_nonce, nonce, rec, pt_len), 0);
	cr_expect_arr_eq(rec, want, wire_len);
	cr_expect_eq(d.seq, 1);
	tt_record_dir_dispose(&d);
	free(rec);
	free(pt);
	free(want);
}

Test(record, in_place_limits)
{
	static uint8_t rec[TT_RECORD_PREFIX_LEN + TT_MAX_PLAINTEXT + 1 + TT_RECORD_SUFFIX_LEN];
	struct kw_buf plain = {0}, wire = {0};
	struct pair p;

	pair_init(&p, client_key);
	cr_expect_eq(
	    tt_record_seal_in_place(&p.tx, tt_nonce_random, NULL, rec, TT_MAX_PLAINTEXT + 1),
	    KW_ERR_ARGUMENT);
	cr_expect_eq(p.tx.seq, 0);
	cr_assert_eq(tt_record_seal_in_place(&p.tx, failing_nonce, NULL, rec, 1), KW_ERR_INTERNAL);
	cr_assert_eq(tt_record_seal_in_place(&p.tx, tt_nonce_random, NULL, rec, 0), 0);
	cr_assert_eq(kw_buf_append(&wire, rec, TT_RECORD_PREFIX_LEN + TT_RECORD_SUFFIX_LEN), 0);
	cr_assert_eq(open_wire(&p.rx, &wire, &plain), 0);
	cr_expect_eq(kw_buf_size(&plain), 0);
	p.tx.seq = UINT64_MAX;
	cr_assert_eq(tt_record_seal_in_place(&p.tx, tt_nonce_random, NULL, rec, TT_MAX_PLAINTEXT),
	             0);
	cr_expect(p.tx.seq_exhausted);
	cr_expect_eq(tt_record_seal_in_place(&p.tx, tt_nonce_random, NULL, rec, 1),
	             KW_ERR_SEQ_OVERFLOW);
	pair_dispose(&p);
	kw_buf_free(&wire);
	kw_buf_free(&plain);
}

Test(record, random_nonces_differ)
{
	struct kw_buf wire = {0}, plain = {0};
	struct pair p;

	pair_init(&p, client_key);
	cr_assert_eq(
	    tt_record_seal(&p.tx, tt_nonce_random, NULL, (const uint8_t *)"same", 4, &wire), 0);
	cr_assert_eq(
	    tt_record_seal(&p.tx, tt_nonce_random, NULL, (const uint8_t *)"same", 4, &wire), 0);
	size_t rec = TT_RECORD_HEADER_LEN + TT_RECORD_OVERHEAD + 4;
	cr_assert_eq(kw_buf_size(&wire), 2 * rec);
	const uint8_t *a = kw_buf_head(&wire), *b = a + rec;
	cr_expect_arr_neq(a + OFF_NONCE, b + OFF_NONCE, TT_NONCE_LEN);
	cr_expect_arr_neq(a + OFF_CIPHERTEXT, b + OFF_CIPHERTEXT, 4 + TT_TAG_LEN);
	cr_assert_eq(tt_record_open(&p.rx, a + TT_RECORD_HEADER_LEN, rec - 4, &plain), 0);
	cr_assert_eq(tt_record_open(&p.rx, b + TT_RECORD_HEADER_LEN, rec - 4, &plain), 0);
	cr_expect_arr_eq(kw_buf_head(&plain), "samesame", 8);
	pair_dispose(&p);
	kw_buf_free(&wire);
	kw_buf_free(&plain);
}

Test(record, nonce_pool_hands_out_fresh_nonces)
{
	struct tt_nonce_pool pool;
	tt_nonce_pool_init(&pool);
	enum { N = 2 * TT_NONCE_POOL_LEN / TT_NONCE_LEN + 3 }; /* crosses two refills */
	static uint8_t nonces[N][TT_NONCE_LEN];
	for (size_t i = 0; i < N; i++)
		cr_assert_eq(tt_nonce_pool_take(&pool, nonces[i]), 0);
	for (size_t i = 1; i < N; i++)
		cr_assert_arr_neq(nonces[i - 1], nonces[i], TT_NONCE_LEN, "nonce %zu repeats", i);
	cr_assert_arr_neq(nonces[0], nonces[TT_NONCE_POOL_LEN / TT_NONCE_LEN], TT_NONCE_LEN);
}

Test(record, nonce_pool_seals_records)
{
	struct kw_buf wire = {0}, plain = {0};
	struct tt_nonce_pool pool;
	struct pair p;

	tt_nonce_pool_init(&pool);
	pair_init(&p, client_key);
	cr_assert_eq(
	    tt_record_seal(&p.tx, tt_nonce_pool_take, &pool, (const uint8_t *)"pool", 4, &wire), 0);
	size_t rec = TT_RECORD_HEADER_LEN + TT_RECORD_OVERHEAD + 4;
	cr_assert_eq(kw_buf_size(&wire), rec);
	cr_expect_arr_eq(kw_buf_head(&wire) + OFF_NONCE, pool.bytes, TT_NONCE_LEN);
	cr_assert_eq(
	    tt_record_open(&p.rx, kw_buf_head(&wire) + TT_RECORD_HEADER_LEN, rec - 4, &plain), 0);
	cr_expect_arr_eq(kw_buf_head(&plain), "pool", 4);
	pair_dispose(&p);
	kw_buf_free(&wire);
	kw_buf_free(&plain);
}

Test(record, plaintext_limit)
{
	static uint8_t big[TT_MAX_PLAINTEXT + 1];
	struct kw_buf plain = {0};
	struct pair p;

	memset(big, 'x', sizeof(big));
	pair_init(&p, client_key);
	struct kw_buf wire = {0};
	cr_expect_eq(tt_record_seal(&p.tx, tt_nonce_random, NULL, big, sizeof(big), &wire),
	             KW_ERR_ARGUMENT);
	cr_expect_eq(kw_buf_size(&wire), 0);
	cr_expect_eq(p.tx.seq, 0);
	cr_assert_eq(tt_record_seal(&p.tx, tt_nonce_random, NULL, big, TT_MAX_PLAINTEXT, &wire), 0);
	cr_expect_eq(kw_buf_size(&wire), TT_RECORD_HEADER_LEN + TT_MAX_APP_RECORD);
	cr_assert_eq(open_wire(&p.rx, &wire, &plain), 0);
	cr_expect_arr_eq(kw_buf_head(&plain), big, TT_MAX_PLAINTEXT);
	pair_dispose(&p);
	kw_buf_free(&wire);
	kw_buf_free(&plain);
}

Test(record, nonce_source_failure)
{
	struct kw_buf wire = {0};
	struct tt_record_dir tx;

	cr_assert_eq(tt_record_dir_init(&tx, &tt_aes256gcm, client_key), 0);
	cr_expect_eq(tt_record_seal(&tx, failing_nonce, NULL, (const uint8_t *)"x", 1, &wire),
	             KW_ERR_INTERNAL);
	cr_expect_eq(kw_buf_size(&wire), 0);
	cr_expect_eq(tx.seq, 0);
	tt_record_dir_dispose(&tx);
	kw_buf_free(&wire);
}

Test(record, stream_through_reader)
{
	struct kw_buf wire = {0}, plain = {0};
	struct tt_record_reader reader;
	struct pair p;
	const char *parts[] = {"GET / HTTP/1.1\r\n", "", "Host: localhost\r\n\r\n"};

	pair_init(&p, server_key);
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(tt_record_seal(&p.tx, tt_nonce_random, NULL, (const uint8_t *)parts[i],
		                            strlen(parts[i]), &wire),
		             0);
	tt_record_reader_init(&reader, TT_MAX_APP_RECORD);
	while (kw_buf_size(&wire) > 0) {
		size_t consumed, len;
		int ret = tt_record_reader_feed(&reader, kw_buf_head(&wire), kw_buf_size(&wire),
		                                &consumed);
		kw_buf_consume(&wire, consumed);
		cr_assert_eq(ret, 1);
		const uint8_t *payload = tt_record_reader_payload(&reader, &len);
		cr_assert_eq(tt_record_open(&p.rx, payload, len, &plain), 0);
		tt_record_reader_next(&reader);
	}
	cr_expect_eq(p.rx.seq, 3);
	const char *want = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
	cr_assert_eq(kw_buf_size(&plain), strlen(want));
	cr_expect_arr_eq(kw_buf_head(&plain), want, strlen(want));
	tt_record_reader_dispose(&reader);
	pair_dispose(&p);
	kw_buf_free(&wire);
	kw_buf_free(&plain);
}

Test(record, aead_in_place)
{
	const uint8_t nonce[TT_NONCE_LEN] = {9}, aad[TT_SEQ_LEN] = {0, 0, 0, 0, 0, 0, 0, 7};
	uint8_t buf[40], orig[40], tag[TT_TAG_LEN];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = orig[i] = (uint8_t)i;
	struct tt_aead_ctx *ctx = tt_aes256gcm.new_ctx(client_key);
	cr_assert_not_null(ctx);
	cr_assert_eq(tt_aes256gcm.seal(ctx, nonce, aad, sizeof(aad), buf, sizeof(buf), buf, tag),
	             0);
	cr_expect_arr_neq(buf, orig, sizeof(buf));
	cr_assert_eq(tt_aes256gcm.open(ctx, nonce, aad, sizeof(aad), buf, sizeof(buf), tag, buf),
	             0);
	cr_expect_arr_eq(buf, orig, sizeof(buf));

	cr_assert_eq(tt_aes256gcm.seal(ctx, nonce, aad, sizeof(aad), buf, sizeof(buf), buf, tag),
	             0);
	const uint8_t other_aad[TT_SEQ_LEN] = {0, 0, 0, 0, 0, 0, 0, 8};
	const uint8_t zero[sizeof(buf)] = {0};
	cr_expect_eq(
	    tt_aes256gcm.open(ctx, nonce, other_aad, sizeof(other_aad), buf, sizeof(buf), tag, buf),
	    KW_ERR_DECRYPT);
	cr_expect_arr_eq(buf, zero, sizeof(buf), "unauthenticated plaintext is cleansed");
	tt_aes256gcm.free_ctx(ctx);
}

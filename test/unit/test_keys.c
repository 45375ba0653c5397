/*
 * test_keys.c - X25519 and the key schedule against test/data/v1-vectors.json:
 * the hello records rebuilt from the fixed private keys, the shared secret from
 * both sides, both write keys, and every peer key that must be refused.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/err.h>

#include "err.h"
#include "toytls.h"
#include "toytls_keys.h"
#include "toytls_sign.h"
#include "toytls_wire.h"
#include "tt_vectors.h"

static struct tt_x25519 client, server;

static void
setup(void)
{
	uint8_t priv[TT_X25519_LEN];

	tt_vector_fixed("client_x25519_private", priv, sizeof(priv));
	cr_assert_eq(tt_x25519_from_private(&client, priv), 0);
	tt_vector_fixed("server_x25519_private", priv, sizeof(priv));
	cr_assert_eq(tt_x25519_from_private(&server, priv), 0);
}

static void
teardown(void)
{
	tt_x25519_dispose(&client);
	tt_x25519_dispose(&server);
}

TestSuite(keys, .init = setup, .fini = teardown);

/* Builds record( field(0x0010, pub) ) with the codec and compares it with a vector. */
static void
expect_hello(const char *vector, const uint8_t pub[TT_X25519_LEN])
{
	struct kw_buf payload = {0}, wire = {0};
	size_t want_len;
	uint8_t *want = tt_vector(vector, &want_len);

	cr_assert_eq(tt_field_write(&payload, TT_TAG_X25519, pub, TT_X25519_LEN), 0);
	cr_assert_eq(tt_record_write(&wire, kw_buf_head(&payload), kw_buf_size(&payload)), 0);
	cr_assert_eq(kw_buf_size(&wire), want_len);
	cr_expect_arr_eq(kw_buf_head(&wire), want, want_len);
	free(want);
	kw_buf_free(&payload);
	kw_buf_free(&wire);
}

Test(keys, client_hello_wire)
{
	expect_hello("client_hello_wire", client.pub);
}

Test(keys, server_hello_wire)
{
	expect_hello("server_hello_wire", server.pub);
}

Test(keys, signature_input)
{
	uint8_t want[TT_SIGNATURE_INPUT_LEN], got[TT_SIGNATURE_INPUT_LEN];

	tt_vector_fixed("signature_input", want, sizeof(want));
	tt_signature_input(client.pub, server.pub, got);
	cr_expect_arr_eq(got, want, sizeof(want));
}

Test(keys, shared_secret_both_sides)
{
	uint8_t want[TT_X25519_LEN], c[TT_X25519_LEN], s[TT_X25519_LEN];

	tt_vector_fixed("shared_secret", want, sizeof(want));
	cr_assert_eq(tt_x25519_derive(&client, server.pub, c), 0);
	cr_assert_eq(tt_x25519_derive(&server, client.pub, s), 0);
	cr_expect_arr_eq(c, want, sizeof(want));
	cr_expect_arr_eq(s, want, sizeof(want));
}

Test(keys, write_keys)
{
	uint8_t shared[TT_X25519_LEN], cw[TT_KEY_LEN], sw[TT_KEY_LEN];
	struct tt_keys keys;

	tt_vector_fixed("shared_secret", shared, sizeof(shared));
	tt_vector_fixed("client_write_key", cw, sizeof(cw));
	tt_vector_fixed("server_write_key", sw, sizeof(sw));
	cr_assert_eq(tt_derive_keys(shared, &keys), 0);
	cr_expect_arr_eq(keys.client_write, cw, sizeof(cw));
	cr_expect_arr_eq(keys.server_write, sw, sizeof(sw));
	tt_keys_dispose(&keys);
	const uint8_t zero[sizeof(keys)] = {0};
	cr_expect_arr_eq(&keys, zero, sizeof(keys), "tt_keys_dispose cleanses");
}

Test(keys, generated_pairs_agree)
{
	struct tt_x25519 a, b;
	uint8_t sa[TT_X25519_LEN], sb[TT_X25519_LEN];

	cr_assert_eq(tt_x25519_generate(&a), 0);
	cr_assert_eq(tt_x25519_generate(&b), 0);
	cr_expect_arr_neq(a.pub, b.pub, TT_X25519_LEN);
	cr_assert_eq(tt_x25519_derive(&a, b.pub, sa), 0);
	cr_assert_eq(tt_x25519_derive(&b, a.pub, sb), 0);
	cr_expect_arr_eq(sa, sb, TT_X25519_LEN);
	tt_x25519_dispose(&a);
	tt_x25519_dispose(&b);
	cr_expect_null(a.pkey);
}

/* Small-order points of Curve25519 (and their non-canonical encodings). */
static const char *const bad_peers[] = {
    "0000000000000000000000000000000000000000000000000000000000000000", /* zero */
    "0100000000000000000000000000000000000000000000000000000000000000", /* order 1 */
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800", /* order 8 */
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157", /* order 8 */
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* p - 1, order 2 */
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* p = 0 */
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* p + 1 = 1 */
};

Test(keys, low_order_and_zero_peers_refused)
{
	for (size_t i = 0; i < sizeof(bad_peers) / sizeof(bad_peers[0]); i++) {
		uint8_t peer[TT_X25519_LEN], shared[TT_X25519_LEN];
		const uint8_t zero[TT_X25519_LEN] = {0};

		memset(shared, 0xa5, sizeof(shared));
		tt_hex_decode(bad_peers[i], peer, sizeof(peer));
		cr_expect_eq(tt_x25519_derive(&client, peer, shared), KW_ERR_KEY_SHARE_INVALID,
		             "peer %s", bad_peers[i]);
		cr_expect_eq(tt_x25519_derive(&server, peer, shared), KW_ERR_KEY_SHARE_INVALID,
		             "peer %s", bad_peers[i]);
		cr_expect_arr_eq(shared, zero, sizeof(zero), "output cleansed for %s",
		                 bad_peers[i]);
	}
}

Test(keys, low_order_points_recognised)
{
	for (size_t i = 0; i < sizeof(bad_peers) / sizeof(bad_peers[0]); i++) {
		uint8_t peer[TT_X25519_LEN];

		tt_hex_decode(bad_peers[i], peer, sizeof(peer));
		cr_expect(tt_x25519_is_low_order(peer), "peer %s", bad_peers[i]);
		peer[TT_X25519_LEN - 1] ^= 0x80;
		cr_expect(tt_x25519_is_low_order(peer), "peer %s with the top bit flipped",
		          bad_peers[i]);
	}
	cr_expect_not(tt_x25519_is_low_order(client.pub));
	cr_expect_not(tt_x25519_is_low_order(server.pub));
}

Test(keys, refusal_leaves_no_libcrypto_error)
{
	uint8_t peer[TT_X25519_LEN] = {0}, shared[TT_X25519_LEN];

	cr_assert_eq(tt_x25519_derive(&client, peer, shared), KW_ERR_KEY_SHARE_INVALID);
	cr_expect_eq(ERR_peek_error(), 0);
}

/*
 * Key pairs from a kex's private-key pool: the keys of one DRBG draw and the first of the
 * next are distinct working pairs, and a key taken leaves no trace in the pool.
 */
Test(keys, kex_private_key_pool)
{
	static const uint8_t zero[TT_X25519_LEN];
	struct tt_x25519 kp[TT_KEX_POOL_KEYS + 1];
	struct tt_kex kex;

	cr_assert_eq(tt_kex_init(&kex), 0);
	for (unsigned i = 0; i <= TT_KEX_POOL_KEYS; i++) {
		cr_assert_eq(tt_x25519_generate_kex(&kex, &kp[i]), 0, "key %u", i);
		cr_expect_eq(kex.left, i < TT_KEX_POOL_KEYS ? TT_KEX_POOL_KEYS - 1 - i
		                                            : TT_KEX_POOL_KEYS - 1);
		cr_expect_arr_eq(kex.priv + TT_X25519_LEN * (i % TT_KEX_POOL_KEYS), zero,
		                 TT_X25519_LEN, "key %u cleansed from the pool", i);
		for (unsigned j = 0; j < i; j++)
			cr_expect_arr_neq(kp[i].pub, kp[j].pub, TT_X25519_LEN, "keys %u, %u", j, i);
	}
	for (unsigned i = TT_KEX_POOL_KEYS - 1; i <= TT_KEX_POOL_KEYS; i++) {
		uint8_t sa[TT_X25519_LEN], sb[TT_X25519_LEN];
		cr_assert_eq(tt_x25519_derive_kex(&kex, &kp[i], kp[0].pub, sa), 0);
		cr_assert_eq(tt_x25519_derive(&kp[0], kp[i].pub, sb), 0);
		cr_expect_arr_eq(sa, sb, TT_X25519_LEN, "key %u", i);
	}
	for (unsigned i = 0; i <= TT_KEX_POOL_KEYS; i++)
		tt_x25519_dispose(&kp[i]);
	tt_kex_dispose(&kex);
	cr_expect_eq(kex.left, 0);
	for (unsigned i = 0; i < TT_KEX_POOL_KEYS; i++)
		cr_expect_arr_eq(kex.priv + TT_X25519_LEN * i, zero, TT_X25519_LEN,
		                 "untaken key %u cleansed", i);
}

/* Reused key-exchange contexts give what one-shot calls give, handshake after handshake. */
Test(keys, kex_contexts_reused)
{
	struct tt_kex kex;
	uint8_t shared[TT_X25519_LEN], want[TT_X25519_LEN], cw[TT_KEY_LEN], sw[TT_KEY_LEN];
	struct tt_keys keys;

	cr_assert_eq(tt_kex_init(&kex), 0);
	tt_vector_fixed("shared_secret", want, sizeof(want));
	tt_vector_fixed("client_write_key", cw, sizeof(cw));
	tt_vector_fixed("server_write_key", sw, sizeof(sw));
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(tt_x25519_derive_kex(&kex, &server, client.pub, shared), 0);
		cr_expect_arr_eq(shared, want, sizeof(want));
		cr_assert_eq(tt_x25519_derive_kex(&kex, &client, server.pub, shared), 0);
		cr_expect_arr_eq(shared, want, sizeof(want));
		cr_assert_eq(tt_derive_keys_kex(&kex, shared, &keys), 0);
		cr_expect_arr_eq(keys.client_write, cw, sizeof(cw));
		cr_expect_arr_eq(keys.server_write, sw, sizeof(sw));
		tt_keys_dispose(&keys);
	}
	for (int i = 0; i < 3; i++) {
		struct tt_x25519 a, b;
		uint8_t sa[TT_X25519_LEN], sb[TT_X25519_LEN];
		cr_assert_eq(tt_x25519_generate_kex(&kex, &a), 0);
		cr_assert_eq(tt_x25519_generate_kex(&kex, &b), 0);
		cr_expect_arr_neq(a.pub, b.pub, TT_X25519_LEN);
		cr_assert_eq(tt_x25519_derive_kex(&kex, &a, b.pub, sa), 0);
		cr_assert_eq(tt_x25519_derive(&b, a.pub, sb), 0);
		cr_expect_arr_eq(sa, sb, TT_X25519_LEN);
		tt_x25519_dispose(&a);
		tt_x25519_dispose(&b);
	}
	for (size_t i = 0; i < sizeof(bad_peers) / sizeof(bad_peers[0]); i++) {
		uint8_t peer[TT_X25519_LEN];
		tt_hex_decode(bad_peers[i], peer, sizeof(peer));
		cr_expect_eq(tt_x25519_derive_kex(&kex, &server, peer, shared),
		             KW_ERR_KEY_SHARE_INVALID, "peer %s", bad_peers[i]);
		cr_expect_eq(ERR_peek_error(), 0);
	}
	cr_assert_eq(tt_x25519_derive_kex(&kex, &server, client.pub, shared), 0);
	cr_expect_arr_eq(shared, want, sizeof(want), "a refused peer leaves the contexts usable");
	tt_kex_dispose(&kex);
	cr_expect_null(kex.gen);
	tt_kex_dispose(&kex);
}

/*
 * test_cert.c - what a client checks about a server's chain: the vectors' chains
 * (ours and the reference implementation's) verify for localhost, directly and
 * through a client connection; each failure maps to its own code; the identity
 * chain encoder produces exactly the certificate fields of the vectors.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "err.h"
#include "toytls.h"
#include "toytls_cert.h"
#include "toytls_conn.h"
#include "tt_conn_test.h"

/* The DER of test/data/certs' leaf and intermediate. */
struct der_chain {
	uint8_t *der[2];
	const uint8_t *certs[2];
	size_t lens[2];
};

static void
der_chain_load(struct der_chain *dc, const char *dir)
{
	const char *names[] = {"server_cert.pem", "intermediate_cert.pem"};
	for (size_t i = 0; i < 2; i++) {
		char path[512];
		snprintf(path, sizeof(path), "%s%s", dir, names[i]);
		X509 *x = test_load_cert(path);
		dc->lens[i] = test_cert_der(x, &dc->der[i]);
		dc->certs[i] = dc->der[i];
		X509_free(x);
	}
}

static void
der_chain_free(struct der_chain *dc)
{
	OPENSSL_free(dc->der[0]);
	OPENSSL_free(dc->der[1]);
}

/* Verifies the certs/ chain (n certificates of it) with a root and name, at a time. */
static int
verify_certs(const char *root, const char *name, size_t n, time_t at, const char **detail)
{
	struct tt_trust trust;
	struct der_chain dc;
	EVP_PKEY *key = NULL;

	test_trust(&trust, root, at);
	der_chain_load(&dc, CERTS);
	int err = tt_verify_chain(&trust, name, dc.certs, dc.lens, n, &key, detail);
	cr_assert_eq(key != NULL, err == 0, "a leaf key comes back exactly on success");
	EVP_PKEY_free(key);
	der_chain_free(&dc);
	tt_trust_dispose(&trust);
	return err;
}

Test(cert, vectors_chain_verifies_for_localhost)
{
	const char *detail = "unset";
	cr_assert_eq(verify_certs(CERTS "root_cert.pem", "localhost", 2, T_2027, &detail), 0);
	cr_expect_null(detail);
}

Test(cert, leaf_key_is_the_identity_key)
{
	struct tt_trust trust;
	struct der_chain dc;
	EVP_PKEY *key = NULL;
	EVP_PKEY *priv = test_load_key(CERTS "server_key.pem");

	test_trust(&trust, CERTS "root_cert.pem", T_2027);
	der_chain_load(&dc, CERTS);
	cr_assert_eq(tt_verify_chain(&trust, "localhost", dc.certs, dc.lens, 2, &key, NULL), 0);
	cr_expect_eq(EVP_PKEY_eq(key, priv), 1);
	EVP_PKEY_free(key);
	EVP_PKEY_free(priv);
	der_chain_free(&dc);
	tt_trust_dispose(&trust);
}

Test(cert, reference_chain_verifies_for_localhost)
{
	struct tt_trust trust;
	struct der_chain dc;
	EVP_PKEY *key = NULL;

	test_trust(&trust, REF_CERTS "root_cert.pem", T_2027);
	der_chain_load(&dc, REF_CERTS);
	cr_assert_eq(tt_verify_chain(&trust, "localhost", dc.certs, dc.lens, 2, &key, NULL), 0);
	EVP_PKEY_free(key);
	der_chain_free(&dc);
	tt_trust_dispose(&trust);
}

/* A client pinned to the vectors' key accepts a vector ServerAuth record for localhost. */
static void
client_accepts_server_auth(const char *root, const char *auth_key)
{
	uint8_t priv[TT_X25519_LEN];
	size_t hello_len, auth_len, client_hello_len;
	uint8_t *server_hello = tt_vector("server_hello_wire", &hello_len);
	uint8_t *auth = tt_vector(auth_key, &auth_len);
	uint8_t *client_hello = tt_vector("client_hello_wire", &client_hello_len);
	struct tt_trust trust;

	tt_vector_fixed("client_x25519_private", priv, sizeof(priv));
	test_trust(&trust, root, T_2027);
	struct tt_client_params p = {
	    .trust = &trust, .dns_name = "localhost", .fixed_x25519_private = priv};
	struct tt_conn *c = tt_conn_new_client(&p);
	cr_assert_not_null(c);
	struct kw_buf *wire = tt_conn_wire(c);
	cr_assert_eq(kw_buf_size(wire), client_hello_len);
	cr_assert_arr_eq(kw_buf_head(wire), client_hello, client_hello_len);

	cr_assert_eq(tt_conn_feed(c, server_hello, hello_len), 0);
	cr_assert_eq(tt_conn_state(c), TT_CLIENT_WAIT_SERVER_AUTH);
	cr_assert_eq(tt_conn_feed(c, auth, auth_len), 0, "%s: %s (%s)", auth_key,
	             kw_strerror(tt_conn_error(c)),
	             tt_conn_error_detail(c) ? tt_conn_error_detail(c) : "");
	cr_assert_eq(tt_conn_state(c), TT_ESTABLISHED);
	cr_assert_eq(tt_conn_error(c), 0);

	tt_conn_free(c);
	tt_trust_dispose(&trust);
	free(client_hello);
	free(auth);
	free(server_hello);
}

Test(cert, client_accepts_vector_server_auth)
{
	client_accepts_server_auth(CERTS "root_cert.pem", "server_auth_wire");
}

Test(cert, client_accepts_reference_server_auth)
{
	client_accepts_server_auth(REF_CERTS "root_cert.pem", "reference_server_auth_wire");
}

Test(cert, wrong_dns_name)
{
	const char *detail = NULL;
	cr_assert_eq(verify_certs(CERTS "root_cert.pem", "example.com", 2, T_2027, &detail),
	             KW_ERR_CERT_NAME);
	cr_assert_str_eq(detail, X509_verify_cert_error_string(X509_V_ERR_HOSTNAME_MISMATCH));
}

Test(cert, partial_name_does_not_match)
{
	cr_assert_eq(verify_certs(CERTS "root_cert.pem", "local", 2, T_2027, NULL),
	             KW_ERR_CERT_NAME);
	cr_assert_eq(verify_certs(CERTS "root_cert.pem", "www.localhost", 2, T_2027, NULL),
	             KW_ERR_CERT_NAME);
}

Test(cert, untrusted_root)
{
	const char *detail = NULL;
	cr_assert_eq(verify_certs(REF_CERTS "root_cert.pem", "localhost", 2, T_2027, &detail),
	             KW_ERR_CERT_UNTRUSTED);
	cr_assert_not_null(detail);
}

Test(cert, expired_leaf)
{
	const char *detail = NULL;
	cr_assert_eq(verify_certs(CERTS "root_cert.pem", "localhost", 2, T_2029, &detail),
	             KW_ERR_CERT_EXPIRED);
	cr_assert_str_eq(detail, X509_verify_cert_error_string(X509_V_ERR_CERT_HAS_EXPIRED));
}

Test(cert, not_yet_valid)
{
	const char *detail = NULL;
	cr_assert_eq(verify_certs(CERTS "root_cert.pem", "localhost", 2, T_2026, &detail),
	             KW_ERR_CERT_EXPIRED);
	cr_assert_str_eq(detail, X509_verify_cert_error_string(X509_V_ERR_CERT_NOT_YET_VALID));
}

Test(cert, missing_intermediate)
{
	const char *detail = NULL;
	cr_assert_eq(verify_certs(CERTS "root_cert.pem", "localhost", 1, T_2027, &detail),
	             KW_ERR_CERT_UNTRUSTED);
	cr_assert_str_eq(
	    detail, X509_verify_cert_error_string(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY));
}

Test(cert, garbage_der)
{
	struct tt_trust trust;
	static const uint8_t garbage[] = {0x30, 0x82, 0x01, 0x00, 0xde, 0xad, 0xbe, 0xef};
	const uint8_t *certs[] = {garbage};
	size_t lens[] = {sizeof(garbage)};
	EVP_PKEY *key = NULL;
	const char *detail = NULL;

	test_trust(&trust, CERTS "root_cert.pem", T_2027);
	cr_assert_eq(tt_verify_chain(&trust, "localhost", certs, lens, 1, &key, &detail),
	             KW_ERR_CERT_PARSE);
	cr_assert_null(key);
	cr_assert_not_null(detail);
	tt_trust_dispose(&trust);
}

Test(cert, garbage_intermediate)
{
	struct tt_trust trust;
	struct der_chain dc;
	EVP_PKEY *key = NULL;
	static const uint8_t garbage[] = {0x01, 0x02, 0x03};

	test_trust(&trust, CERTS "root_cert.pem", T_2027);
	der_chain_load(&dc, CERTS);
	dc.certs[1] = garbage;
	dc.lens[1] = sizeof(garbage);
	cr_assert_eq(tt_verify_chain(&trust, "localhost", dc.certs, dc.lens, 2, &key, NULL),
	             KW_ERR_CERT_PARSE);
	cr_assert_null(key);
	der_chain_free(&dc);
	tt_trust_dispose(&trust);
}

Test(cert, trailing_byte_after_der)
{
	struct der_chain dc;
	EVP_PKEY *key = NULL;

	der_chain_load(&dc, CERTS);
	uint8_t *longer = malloc(dc.lens[0] + 1);
	cr_assert_not_null(longer);
	memcpy(longer, dc.certs[0], dc.lens[0]);
	longer[dc.lens[0]] = 0;
	cr_assert_eq(tt_cert_public_key(longer, dc.lens[0] + 1, &key), KW_ERR_CERT_PARSE);
	cr_assert_null(key);
	cr_assert_eq(tt_cert_public_key(dc.certs[0], dc.lens[0] - 1, &key), KW_ERR_CERT_PARSE);
	cr_assert_null(key);
	cr_assert_eq(tt_cert_public_key(dc.certs[0], dc.lens[0], &key), 0);
	cr_assert_not_null(key);
	EVP_PKEY_free(key);
	free(longer);
	der_chain_free(&dc);
}

/* The leaf cache parses a leaf once, answers the same bytes with the same key, and
 * replaces its leaf when another comes; a leaf that does not parse leaves it alone. */
Test(cert, leaf_cache_reuses_the_key_of_the_same_leaf)
{
	struct der_chain dc;
	struct tt_leaf_cache cache = {0};
	EVP_PKEY *first = NULL, *again = NULL, *other = NULL, *bad = NULL;

	der_chain_load(&dc, CERTS);
	cr_assert_eq(tt_leaf_cache_key(&cache, dc.certs[0], dc.lens[0], &first), 0);
	cr_assert_not_null(first);
	cr_assert_eq(cache.key, first);
	cr_assert_eq(tt_leaf_cache_key(&cache, dc.certs[0], dc.lens[0], &again), 0);
	cr_assert_eq(again, first, "the same leaf must give the cached key");

	cr_assert_eq(tt_leaf_cache_key(&cache, dc.certs[0], dc.lens[0] - 1, &bad),
	             KW_ERR_CERT_PARSE);
	cr_assert_null(bad);
	cr_assert_eq(cache.key, first, "a leaf that does not parse must not replace the cache");

	cr_assert_eq(tt_leaf_cache_key(&cache, dc.certs[1], dc.lens[1], &other), 0);
	cr_assert_not_null(other);
	cr_assert_neq(other, first);
	cr_assert_eq(cache.key, other);
	cr_assert_eq(cache.len, dc.lens[1]);
	cr_assert_eq(EVP_PKEY_eq(first, again), 1);

	EVP_PKEY_free(first);
	EVP_PKEY_free(again);
	EVP_PKEY_free(other);
	tt_leaf_cache_dispose(&cache);
	cr_assert_null(cache.key);
	tt_leaf_cache_dispose(&cache); /* twice is fine */
	der_chain_free(&dc);
}

Test(cert, leaf_without_server_auth_purpose_is_invalid)
{
	struct test_cert_spec spec = TEST_LEAF_SPEC("localhost");
	struct test_chain ch;
	struct tt_trust trust;
	EVP_PKEY *key = NULL;
	const char *detail = NULL;

	spec.ext_key_usage = "clientAuth";
	test_chain_make(&ch, TEST_KEY_EC, &spec);
	test_trust_chain(&trust, &ch);
	uint8_t *der[2];
	const uint8_t *certs[2];
	size_t lens[2];
	lens[0] = test_cert_der(ch.leaf, &der[0]);
	lens[1] = test_cert_der(ch.inter, &der[1]);
	certs[0] = der[0];
	certs[1] = der[1];
	cr_assert_eq(tt_verify_chain(&trust, "localhost", certs, lens, 2, &key, &detail),
	             KW_ERR_CERT_INVALID);
	cr_assert_str_eq(detail, X509_verify_cert_error_string(X509_V_ERR_INVALID_PURPOSE));
	cr_assert_null(key);

	/* the same chain with the serverAuth leaf verifies: the purpose made the difference */
	const struct test_cert_spec good = TEST_LEAF_SPEC("localhost");
	X509 *leaf = test_make_cert(&good, ch.leaf_key, ch.inter, ch.inter_key);
	OPENSSL_free(der[0]);
	lens[0] = test_cert_der(leaf, &der[0]);
	certs[0] = der[0];
	cr_assert_eq(tt_verify_chain(&trust, "localhost", certs, lens, 2, &key, NULL), 0);
	EVP_PKEY_free(key);

	X509_free(leaf);
	OPENSSL_free(der[0]);
	OPENSSL_free(der[1]);
	tt_trust_dispose(&trust);
	test_chain_free(&ch);
}

/* Verifies a made chain whose leaf follows spec, for dns_name. */
static int
verify_made_leaf(const struct test_cert_spec *spec, const char *dns_name)
{
	struct test_chain ch;
	struct tt_trust trust;
	EVP_PKEY *key = NULL;
	uint8_t *der[2];
	const uint8_t *certs[2];
	size_t lens[2];

	test_chain_make(&ch, TEST_KEY_EC, spec);
	test_trust_chain(&trust, &ch);
	lens[0] = test_cert_der(ch.leaf, &der[0]);
	lens[1] = test_cert_der(ch.inter, &der[1]);
	certs[0] = der[0];
	certs[1] = der[1];
	int err = tt_verify_chain(&trust, dns_name, certs, lens, 2, &key, NULL);
	cr_assert_eq(key != NULL, err == 0, "a leaf key comes back exactly on success");
	EVP_PKEY_free(key);
	OPENSSL_free(der[0]);
	OPENSSL_free(der[1]);
	tt_trust_dispose(&trust);
	test_chain_free(&ch);
	return err;
}

/* A whole leftmost label "*" matches one label; a partial one ("f*") matches nothing. */
Test(cert, wildcard_whole_label_only)
{
	const struct test_cert_spec whole = TEST_LEAF_SPEC("*.example.com");
	const struct test_cert_spec partial = TEST_LEAF_SPEC("f*.example.com");
	const struct test_cert_spec suffix = TEST_LEAF_SPEC("*o.example.com");

	cr_expect_eq(verify_made_leaf(&whole, "foo.example.com"), 0);
	cr_expect_eq(verify_made_leaf(&whole, "example.com"), KW_ERR_CERT_NAME);
	cr_expect_eq(verify_made_leaf(&whole, "a.foo.example.com"), KW_ERR_CERT_NAME);
	cr_expect_eq(verify_made_leaf(&partial, "foo.example.com"), KW_ERR_CERT_NAME);
	cr_expect_eq(verify_made_leaf(&partial, "f.example.com"), KW_ERR_CERT_NAME);
	cr_expect_eq(verify_made_leaf(&suffix, "foo.example.com"), KW_ERR_CERT_NAME);
}

Test(cert, bad_arguments)
{
	struct tt_trust trust = {0};
	struct der_chain dc;
	EVP_PKEY *key = NULL;

	der_chain_load(&dc, CERTS);
	cr_assert_eq(tt_verify_chain(&trust, "localhost", dc.certs, dc.lens, 2, &key, NULL),
	             KW_ERR_ARGUMENT);
	test_trust(&trust, CERTS "root_cert.pem", T_2027);
	cr_assert_eq(tt_verify_chain(&trust, NULL, dc.certs, dc.lens, 2, &key, NULL),
	             KW_ERR_ARGUMENT);
	cr_assert_eq(tt_verify_chain(&trust, "localhost", dc.certs, dc.lens, 0, &key, NULL),
	             KW_ERR_ARGUMENT);
	cr_assert_null(key);
	der_chain_free(&dc);
	tt_trust_dispose(&trust);
}

Test(cert, trust_load_failures)
{
	struct tt_trust trust;
	cr_assert_eq(tt_trust_load_file(&trust, TEST_DATA_DIR "/no-such-file.pem"),
	             KW_ERR_ARGUMENT);
	cr_assert_null(trust.store);
	cr_assert_eq(tt_trust_load_file(&trust, TEST_DATA_DIR "/v1-vectors.json"), KW_ERR_ARGUMENT);
	cr_assert_null(trust.store);
	tt_trust_dispose(&trust);
}

Test(cert, identity_chain_matches_vector_fields)
{
	const char *chain[] = {CERTS "intermediate_cert.pem"};
	struct kw_buf out = {0};
	size_t auth_len;
	uint8_t *auth = tt_vector("server_auth_wire", &auth_len);

	cr_assert_eq(test_encode_chain_files(CERTS "server_cert.pem", chain, 1, &out), 0);
	/* server_auth_wire = header || certificate fields || signature field */
	size_t sig_field = auth_len - TT_RECORD_HEADER_LEN - kw_buf_size(&out);
	cr_assert_lt(kw_buf_size(&out), auth_len);
	cr_assert_arr_eq(kw_buf_head(&out), auth + TT_RECORD_HEADER_LEN, kw_buf_size(&out));
	uint8_t *sig = auth + TT_RECORD_HEADER_LEN + kw_buf_size(&out);
	cr_assert_eq(sig[0] << 8 | sig[1], TT_TAG_CERT_VERIFY);
	cr_assert_eq(tt_load_u32(sig + 2), sig_field - TT_FIELD_HEADER_LEN);

	kw_buf_free(&out);
	free(auth);
}

Test(cert, identity_chain_failure_leaves_output_alone)
{
	const char *chain[] = {CERTS "intermediate_cert.pem", TEST_DATA_DIR "/v1-vectors.json"};
	const char *missing[] = {TEST_DATA_DIR "/no-such-file.pem"};
	struct kw_buf out = {0};
	static const uint8_t before[] = "kept";

	cr_assert_eq(kw_buf_append(&out, before, sizeof(before)), 0);
	cr_assert_eq(test_encode_chain_files(CERTS "server_cert.pem", chain, 2, &out),
	             KW_ERR_ARGUMENT);
	cr_assert_eq(kw_buf_size(&out), sizeof(before));
	cr_assert_arr_eq(kw_buf_head(&out), before, sizeof(before));
	cr_assert_eq(test_encode_chain_files(CERTS "server_cert.pem", missing, 1, &out),
	             KW_ERR_ARGUMENT);
	cr_assert_eq(test_encode_chain_files(TEST_DATA_DIR "/no-such-file.pem", NULL, 0, &out),
	             KW_ERR_ARGUMENT);
	cr_assert_eq(kw_buf_size(&out), sizeof(before));
	kw_buf_free(&out);
}

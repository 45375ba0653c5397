/*
 * test_sign.c - handshake signatures for every supported key type, the keys that
 * are refused, and the CertificateVerify of the vectors' ServerAuth records.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "err.h"
#include "toytls.h"
#include "toytls_sign.h"
#include "toytls_wire.h"
#include "tt_conn_test.h"
#include "tt_vectors.h"

static uint8_t client_pub[TT_X25519_LEN], server_pub[TT_X25519_LEN];

static void
setup(void)
{
	uint8_t input[TT_SIGNATURE_INPUT_LEN];

	tt_vector_fixed("signature_input", input, sizeof(input));
	memcpy(client_pub, input, TT_X25519_LEN);
	memcpy(server_pub, input + TT_X25519_LEN, TT_X25519_LEN);
}

TestSuite(sign, .init = setup);

/* The public half of a key, as a separate object without private material. */
static EVP_PKEY *
public_only(EVP_PKEY *key)
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(key, &der);
	cr_assert_gt(len, 0);
	const unsigned char *p = der;
	EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, len);
	OPENSSL_free(der);
	cr_assert_not_null(pub);
	return pub;
}

/* Signs, verifies with the public half, and checks that any change is refused. */
static void
expect_sign_verify(EVP_PKEY *key, enum tt_scheme want_scheme, size_t max_len)
{
	uint8_t sig[TT_MAX_SIGNATURE_LEN], other[TT_X25519_LEN];
	size_t len = 0;
	enum tt_scheme scheme;
	EVP_PKEY *pub = public_only(key);

	cr_assert_eq(tt_scheme_for_key(key, &scheme), 0);
	cr_expect_eq(scheme, want_scheme);
	cr_assert_eq(tt_scheme_for_key(pub, &scheme), 0);
	cr_expect_eq(scheme, want_scheme);

	cr_assert_eq(tt_sign(key, client_pub, server_pub, sig, &len), 0);
	cr_assert_gt(len, 0);
	cr_assert_leq(len, max_len);
	cr_expect_eq(tt_verify(pub, client_pub, server_pub, sig, len), 0, "%s",
	             tt_scheme_name(scheme));

	memcpy(other, server_pub, sizeof(other));
	other[0] ^= 0x80;
	cr_expect_eq(tt_verify(pub, client_pub, other, sig, len), KW_ERR_BAD_SIGNATURE);
	cr_expect_eq(tt_verify(pub, server_pub, client_pub, sig, len), KW_ERR_BAD_SIGNATURE,
	             "the order of the two keys matters");

	for (size_t at = 0; at < len; at += len / 4) {
		sig[at] ^= 0x01;
		cr_expect_eq(tt_verify(pub, client_pub, server_pub, sig, len), KW_ERR_BAD_SIGNATURE,
		             "%s: flipped byte %zu", tt_scheme_name(scheme), at);
		sig[at] ^= 0x01;
	}
	sig[len - 1] ^= 0x01;
	cr_expect_eq(tt_verify(pub, client_pub, server_pub, sig, len), KW_ERR_BAD_SIGNATURE);
	sig[len - 1] ^= 0x01;
	cr_expect_eq(tt_verify(pub, client_pub, server_pub, sig, len - 1), KW_ERR_BAD_SIGNATURE);
	cr_expect_eq(tt_verify(pub, client_pub, server_pub, sig, 0), KW_ERR_BAD_SIGNATURE);
	cr_expect_eq(tt_verify(pub, client_pub, server_pub, sig, TT_MAX_SIGNATURE_LEN + 1),
	             KW_ERR_BAD_SIGNATURE);
	cr_expect_eq(tt_verify(pub, client_pub, server_pub, sig, len), 0);

	/* the prepared key signs the same way, signature after signature */
	struct tt_signer signer;
	cr_assert_eq(tt_signer_init(&signer, key), 0);
	for (int i = 0; i < 3; i++) {
		len = 0;
		cr_assert_eq(tt_signer_sign(&signer, client_pub, server_pub, sig, &len), 0);
		cr_assert_gt(len, 0);
		cr_assert_leq(len, max_len);
		cr_expect_eq(tt_verify(pub, client_pub, server_pub, sig, len), 0,
		             "%s: prepared signature %d", tt_scheme_name(scheme), i);
		cr_expect_eq(tt_verify(pub, client_pub, other, sig, len), KW_ERR_BAD_SIGNATURE);
	}
	tt_signer_dispose(&signer);
	cr_expect_null(signer.prepared);
	tt_signer_dispose(&signer); /* twice is fine */
	EVP_PKEY_free(pub);
}

Test(sign, rsa_pss)
{
	EVP_PKEY *key = test_load_key(CERTS "server_key.pem");

	expect_sign_verify(key, TT_SCHEME_RSA_PSS_SHA256, 256);
	EVP_PKEY_free(key);
}

Test(sign, rsa_pss_is_randomized)
{
	EVP_PKEY *key = test_load_key(CERTS "server_key.pem");
	uint8_t a[TT_MAX_SIGNATURE_LEN], b[TT_MAX_SIGNATURE_LEN];
	size_t a_len, b_len;

	cr_assert_eq(tt_sign(key, client_pub, server_pub, a, &a_len), 0);
	cr_assert_eq(tt_sign(key, client_pub, server_pub, b, &b_len), 0);
	cr_assert_eq(a_len, 256);
	cr_assert_eq(b_len, 256);
	cr_expect_arr_neq(a, b, a_len);
	cr_expect_eq(tt_verify(key, client_pub, server_pub, a, a_len), 0);
	cr_expect_eq(tt_verify(key, client_pub, server_pub, b, b_len), 0);
	EVP_PKEY_free(key);
}

/* The reference verifies with salt length = maximum (222 for RSA-2048): check that exact value. */
Test(sign, rsa_pss_uses_max_salt)
{
	EVP_PKEY *key = test_load_key(CERTS "server_key.pem");
	uint8_t sig[TT_MAX_SIGNATURE_LEN], input[TT_SIGNATURE_INPUT_LEN];
	size_t len;
	int salt = 256 - 32 - 2;

	struct tt_signer signer;
	cr_assert_eq(tt_signer_init(&signer, key), 0);
	tt_signature_input(client_pub, server_pub, input);
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, (char *)"pss", 0),
	    OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, (char *)"SHA256", 0),
	    OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, &salt),
	    OSSL_PARAM_construct_end(),
	};
	for (int prepared = 0; prepared < 2; prepared++) {
		cr_assert_eq(prepared ? tt_signer_sign(&signer, client_pub, server_pub, sig, &len)
		                      : tt_sign(key, client_pub, server_pub, sig, &len),
		             0);
		EVP_MD_CTX *mctx = EVP_MD_CTX_new();
		cr_assert_not_null(mctx);
		cr_assert_eq(EVP_DigestVerifyInit_ex(mctx, NULL, "SHA256", NULL, NULL, key, params),
		             1);
		cr_expect_eq(EVP_DigestVerify(mctx, sig, len, input, sizeof(input)), 1,
		             "prepared: %d", prepared);
		EVP_MD_CTX_free(mctx);
	}
	tt_signer_dispose(&signer);
	EVP_PKEY_free(key);
}

Test(sign, ecdsa_p256)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	cr_assert_not_null(key);
	expect_sign_verify(key, TT_SCHEME_ECDSA_P256_SHA256, 72);
	EVP_PKEY_free(key);
}

Test(sign, ed25519)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	uint8_t a[TT_MAX_SIGNATURE_LEN], b[TT_MAX_SIGNATURE_LEN];
	size_t a_len, b_len;

	cr_assert_not_null(key);
	expect_sign_verify(key, TT_SCHEME_ED25519, 64);
	cr_assert_eq(tt_sign(key, client_pub, server_pub, a, &a_len), 0);
	cr_assert_eq(tt_sign(key, client_pub, server_pub, b, &b_len), 0);
	cr_expect_eq(a_len, 64);
	cr_expect_arr_eq(a, b, 64, "pure Ed25519 is deterministic");
	struct tt_signer signer;
	cr_assert_eq(tt_signer_init(&signer, key), 0);
	cr_assert_eq(tt_signer_sign(&signer, client_pub, server_pub, b, &b_len), 0);
	cr_expect_eq(b_len, 64);
	cr_expect_arr_eq(a, b, 64, "prepared or not, the same signature");
	tt_signer_dispose(&signer);
	EVP_PKEY_free(key);
}

Test(sign, signature_of_another_key_refused)
{
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *ec2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	uint8_t sig[TT_MAX_SIGNATURE_LEN];
	size_t len;

	cr_assert(ec && ec2 && ed);
	cr_assert_eq(tt_sign(ec, client_pub, server_pub, sig, &len), 0);
	cr_expect_eq(tt_verify(ec2, client_pub, server_pub, sig, len), KW_ERR_BAD_SIGNATURE);
	cr_assert_eq(tt_sign(ed, client_pub, server_pub, sig, &len), 0);
	cr_expect_eq(tt_verify(ec, client_pub, server_pub, sig, len), KW_ERR_BAD_SIGNATURE);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(ec2);
	EVP_PKEY_free(ed);
}

static void
expect_unsupported(EVP_PKEY *key, const char *what)
{
	uint8_t sig[TT_MAX_SIGNATURE_LEN] = {0};
	size_t len = 0;
	enum tt_scheme scheme;

	cr_assert_not_null(key, "%s", what);
	cr_expect_eq(tt_scheme_for_key(key, &scheme), KW_ERR_UNSUPPORTED_KEY, "%s", what);
	cr_expect_eq(tt_sign(key, client_pub, server_pub, sig, &len), KW_ERR_UNSUPPORTED_KEY, "%s",
	             what);
	cr_expect_eq(tt_verify(key, client_pub, server_pub, sig, 64), KW_ERR_UNSUPPORTED_KEY, "%s",
	             what);
	struct tt_signer signer;
	memset(&signer, 0xaa, sizeof(signer));
	cr_expect_eq(tt_signer_init(&signer, key), KW_ERR_UNSUPPORTED_KEY, "%s", what);
	cr_expect_null(signer.prepared, "%s: nothing kept", what);
	cr_expect_null(signer.work);
	EVP_PKEY_free(key);
}

Test(sign, rsa_1024_unsupported)
{
	expect_unsupported(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024), "RSA-1024");
}

Test(sign, p384_unsupported)
{
	expect_unsupported(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"), "P-384");
}

Test(sign, x25519_unsupported)
{
	expect_unsupported(EVP_PKEY_Q_keygen(NULL, NULL, "X25519"), "X25519");
}

Test(sign, scheme_names)
{
	cr_expect_str_eq(tt_scheme_name(TT_SCHEME_RSA_PSS_SHA256), "rsa-pss-sha256");
	cr_expect_str_eq(tt_scheme_name(TT_SCHEME_ECDSA_P256_SHA256), "ecdsa-p256-sha256");
	cr_expect_str_eq(tt_scheme_name(TT_SCHEME_ED25519), "ed25519");
	cr_expect_str_eq(tt_scheme_name((enum tt_scheme)0), "unknown");
}

/* A ServerAuth record of the vectors, parsed with the wire code. */
struct server_auth {
	uint8_t *wire;
	struct tt_record_reader reader;
	struct tt_field leaf, sig; /* first certificate, CertificateVerify */
	size_t certs;
};

static void
server_auth_read(const char *vector, struct server_auth *sa)
{
	struct tt_field field;
	size_t wire_len, consumed, len, pos = 0;
	int ret;

	*sa = (struct server_auth){.wire = tt_vector(vector, &wire_len)};
	tt_record_reader_init(&sa->reader, TT_MAX_HANDSHAKE_RECORD);
	cr_assert_eq(tt_record_reader_feed(&sa->reader, sa->wire, wire_len, &consumed), 1);
	cr_assert_eq(consumed, wire_len, "%s is one whole record", vector);
	const uint8_t *payload = tt_record_reader_payload(&sa->reader, &len);
	while ((ret = tt_field_next(payload, len, &pos, &field)) == 1) {
		if (field.tag == TT_TAG_CERTIFICATE && sa->certs++ == 0)
			sa->leaf = field;
		else if (field.tag == TT_TAG_CERT_VERIFY)
			sa->sig = field;
	}
	cr_assert_eq(ret, 0, "%s: fields", vector);
	cr_assert_not_null(sa->leaf.value, "%s: no certificate", vector);
	cr_assert_not_null(sa->sig.value, "%s: no CertificateVerify", vector);
}

static void
server_auth_dispose(struct server_auth *sa)
{
	tt_record_reader_dispose(&sa->reader);
	free(sa->wire);
}

/*
 * Checks that the record's leaf is the certificate at leaf_path and that its
 * CertificateVerify verifies with that leaf's key over the vectors' signature_input.
 */
static void
expect_server_auth_verifies(const char *vector, const char *leaf_path)
{
	struct server_auth sa;
	X509 *leaf = test_load_cert(leaf_path);
	unsigned char *leaf_der = NULL;
	int leaf_len = i2d_X509(leaf, &leaf_der);

	server_auth_read(vector, &sa);
	cr_expect_geq(sa.certs, 2, "%s: leaf and intermediate", vector);
	cr_assert_eq(sa.leaf.len, (size_t)leaf_len, "%s: leaf", vector);
	cr_expect_arr_eq(sa.leaf.value, leaf_der, sa.leaf.len, "%s: leaf", vector);
	cr_expect_eq(
	    tt_verify(X509_get0_pubkey(leaf), client_pub, server_pub, sa.sig.value, sa.sig.len), 0,
	    "%s", vector);
	OPENSSL_free(leaf_der);
	X509_free(leaf);
	server_auth_dispose(&sa);
}

Test(sign, server_auth_vector_verifies)
{
	expect_server_auth_verifies("server_auth_wire", CERTS "server_cert.pem");
}

Test(sign, reference_server_auth_vector_verifies)
{
	expect_server_auth_verifies("reference_server_auth_wire",
	                            TEST_DATA_DIR "/reference-certs/server_cert.pem");
}

Test(sign, server_auth_signature_bound_to_leaf_key)
{
	X509 *other = test_load_cert(TEST_DATA_DIR "/reference-certs/server_cert.pem");
	struct server_auth sa;

	server_auth_read("server_auth_wire", &sa);
	cr_expect_eq(
	    tt_verify(X509_get0_pubkey(other), client_pub, server_pub, sa.sig.value, sa.sig.len),
	    KW_ERR_BAD_SIGNATURE);
	sa.sig.len--;
	X509 *own = test_load_cert(CERTS "server_cert.pem");
	cr_expect_eq(
	    tt_verify(X509_get0_pubkey(own), client_pub, server_pub, sa.sig.value, sa.sig.len),
	    KW_ERR_BAD_SIGNATURE, "one byte short");
	X509_free(own);
	X509_free(other);
	server_auth_dispose(&sa);
}

/*
 * test_tls13_provider.c - the keyward provider: keys that hold only a public half and
 * a key id, refuse private export, match their certificate only; a signature is asked
 * for only over TLS 1.3 server CertificateVerify content with a scheme fitting the key.
 */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>

#include "err.h"
#include "provider.h"
#include "tls13_cv.h"
#include "tls13_test.h"

static unsigned calls;
static struct sp_sign_request last;
static EVP_PKEY *signing_key; /* the "signer" of these tests */

static int
test_sign(const struct sp_sign_request *req, uint8_t *sig, size_t *sig_len)
{
	calls++;
	last = *req;
	return tls13_cv_sign(signing_key, req->tls13.scheme, req->tls13.hash, req->tls13.hash_len,
	                     sig, sig_len);
}

static void
setup(void)
{
	cr_assert_eq(tls13_provider_load(test_sign), 0);
}

static void
teardown(void)
{
	tls13_provider_unload();
}

TestSuite(tls13_provider, .init = setup, .fini = teardown);

static size_t
content(uint8_t out[TLS13_CV_MAX_CONTENT_LEN], size_t hash_len)
{
	uint8_t hash[TLS13_CV_MAX_HASH_LEN];
	for (size_t i = 0; i < hash_len; i++)
		hash[i] = (uint8_t)(7 * i);
	return tls13_cv_content(hash, hash_len, out);
}

/*
 * Signs msg with key like libssl: digest md, RSA-PSS with salt "digest" when pss, and
 * the mask digest mgf1 when it is not NULL.
 */
static int
sign_with_mgf1(EVP_PKEY *key, const char *md, bool pss, const char *mgf1, const uint8_t *msg,
               size_t len, uint8_t *sig, size_t *sig_len)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int ok = EVP_DigestSignInit_ex(mctx, &pctx, md, NULL, NULL, key, NULL) == 1;
	if (ok && pss)
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0;
	if (ok && mgf1 != NULL)
		ok = EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, mgf1, NULL) > 0;
	size_t max = 0;
	if (ok)
		ok = EVP_DigestSign(mctx, NULL, &max, msg, len) == 1 && max <= *sig_len;
	if (ok)
		ok = EVP_DigestSign(mctx, sig, sig_len, msg, len) == 1;
	EVP_MD_CTX_free(mctx);
	return ok;
}

/* Signs msg with key like libssl: digest md, RSA-PSS with salt "digest" when pss. */
static int
sign_like_libssl(EVP_PKEY *key, const char *md, bool pss, const uint8_t *msg, size_t len,
                 uint8_t *sig, size_t *sig_len)
{
	return sign_with_mgf1(key, md, pss, NULL, msg, len, sig, sig_len);
}

Test(tls13_provider, signs_only_server_certificate_verify_content)
{
	static const struct {
		const char *type, *md;
		bool pss;
		uint16_t scheme;
	} cases[] = {
	    {"EC", "SHA256", false, 0x0403},  {"RSA", "SHA256", true, 0x0804},
	    {"RSA", "SHA384", true, 0x0805},  {"RSA", "SHA512", true, 0x0806},
	    {"ED25519", NULL, false, 0x0807},
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct test_identity id;
		test_identity_make(&id, cases[c].type, "a.test");
		signing_key = id.key;
		EVP_PKEY *key = tls13_provider_key(id.cert, 3);
		cr_assert_not_null(key, "%s", cases[c].type);
		cr_expect(EVP_PKEY_is_a(key, cases[c].type));
		cr_expect_eq(EVP_PKEY_get_size(key), EVP_PKEY_get_size(id.key));

		for (size_t hash_len = 32; hash_len <= 48; hash_len += 16) {
			uint8_t msg[TLS13_CV_MAX_CONTENT_LEN], sig[TT_MAX_SIGNATURE_LEN];
			size_t len = content(msg, hash_len), sig_len = sizeof(sig);
			unsigned before = calls;

			cr_assert(sign_like_libssl(key, cases[c].md, cases[c].pss, msg, len, sig,
			                           &sig_len),
			          "%s scheme 0x%04x", cases[c].type, cases[c].scheme);
			cr_expect_eq(calls, before + 1);
			cr_expect_eq(last.kind, SP_KIND_TLS13_CV);
			cr_expect_eq(last.key_id, 3);
			cr_expect_eq(last.tls13.scheme, cases[c].scheme);
			cr_expect_eq(last.tls13.hash_len, hash_len);
			cr_expect_arr_eq(last.tls13.hash, msg + TLS13_CV_PREFIX_LEN, hash_len);
			cr_expect_eq(tls13_cv_verify(id.key, cases[c].scheme, last.tls13.hash,
			                             hash_len, sig, sig_len),
			             0);

			/* any other content: refused before anything is asked */
			msg[0] = 'x';
			sig_len = sizeof(sig);
			cr_expect_not(sign_like_libssl(key, cases[c].md, cases[c].pss, msg, len,
			                               sig, &sig_len));
			sig_len = sizeof(sig);
			cr_expect_not(sign_like_libssl(key, cases[c].md, cases[c].pss, msg + 64,
			                               len - 64, sig, &sig_len));
			cr_expect_eq(calls, before + 1, "asked for a signature over other bytes");
		}
		EVP_PKEY_free(key);
		test_identity_free(&id);
	}
	ERR_clear_error();
}

Test(tls13_provider, schemes_that_do_not_fit_are_never_asked)
{
	struct test_identity rsa, ec;
	uint8_t msg[TLS13_CV_MAX_CONTENT_LEN], sig[TT_MAX_SIGNATURE_LEN];
	size_t len = content(msg, 32), sig_len;

	test_identity_make(&rsa, "RSA", "r.test");
	test_identity_make(&ec, "EC", "e.test");
	EVP_PKEY *rkey = tls13_provider_key(rsa.cert, 0), *ekey = tls13_provider_key(ec.cert, 1);
	cr_assert_not_null(rkey);
	cr_assert_not_null(ekey);
	unsigned before = calls;
	/* RSA PKCS#1 v1.5 (no TLS 1.3 scheme), RSA-PSS over SHA-1, ECDSA over SHA-384 */
	sig_len = sizeof(sig);
	cr_expect_not(sign_like_libssl(rkey, "SHA256", false, msg, len, sig, &sig_len));
	sig_len = sizeof(sig);
	cr_expect_not(sign_like_libssl(rkey, "SHA1", true, msg, len, sig, &sig_len));
	sig_len = sizeof(sig);
	cr_expect_not(sign_like_libssl(ekey, "SHA384", false, msg, len, sig, &sig_len));
	cr_expect_eq(calls, before);
	EVP_PKEY_free(rkey);
	EVP_PKEY_free(ekey);
	test_identity_free(&rsa);
	test_identity_free(&ec);
	ERR_clear_error();
}

Test(tls13_provider, digests_are_known_by_any_of_their_names_and_rsa_pss_masks_with_the_same)
{
	static const struct {
		const char *md, *mgf1;
		uint16_t scheme; /* 0: refused before anything is asked */
	} cases[] = {
	    {"SHA2-256", NULL, 0x0804},     {"SHA256", "SHA2-256", 0x0804},
	    {"SHA2-512", "SHA512", 0x0806}, {"SHA256", "SHA384", 0},
	    {"SHA384", "SHA256", 0},        {"SHA512", "SHA1", 0},
	};
	struct test_identity rsa;
	uint8_t msg[TLS13_CV_MAX_CONTENT_LEN], sig[TT_MAX_SIGNATURE_LEN];
	size_t len = content(msg, 48), sig_len;

	test_identity_make(&rsa, "RSA", "r.test");
	signing_key = rsa.key;
	EVP_PKEY *key = tls13_provider_key(rsa.cert, 2);
	cr_assert_not_null(key);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		unsigned before = calls;
		sig_len = sizeof(sig);
		bool ok =
		    sign_with_mgf1(key, cases[c].md, true, cases[c].mgf1, msg, len, sig, &sig_len);
		cr_expect_eq(ok, cases[c].scheme != 0, "%s / MGF1 %s", cases[c].md,
		             cases[c].mgf1 ? cases[c].mgf1 : "(none)");
		cr_expect_eq(calls, before + (cases[c].scheme != 0));
		if (cases[c].scheme != 0)
			cr_expect_eq(last.tls13.scheme, cases[c].scheme);
	}
	/* ECDSA P-256 signs with SHA-256 under any of its names only */
	struct test_identity ec;
	test_identity_make(&ec, "EC", "e.test");
	signing_key = ec.key;
	EVP_PKEY *ekey = tls13_provider_key(ec.cert, 1);
	cr_assert_not_null(ekey);
	sig_len = sizeof(sig);
	cr_expect(sign_like_libssl(ekey, "SHA2-256", false, msg, len, sig, &sig_len));
	cr_expect_eq(last.tls13.scheme, 0x0403);
	unsigned before = calls;
	sig_len = sizeof(sig);
	cr_expect_not(sign_like_libssl(ekey, "SHA512", false, msg, len, sig, &sig_len));
	cr_expect_eq(calls, before);
	EVP_PKEY_free(ekey);
	EVP_PKEY_free(key);
	test_identity_free(&ec);
	test_identity_free(&rsa);
	ERR_clear_error();
}

Test(tls13_provider, keys_export_no_private_part_and_match_only_their_certificate)
{
	struct test_identity a, b;
	OSSL_PARAM *params = NULL;

	test_identity_make(&a, "EC", "a.test");
	test_identity_make(&b, "EC", "b.test");
	EVP_PKEY *key = tls13_provider_key(a.cert, 0);
	cr_assert_not_null(key);
	cr_expect_eq(EVP_PKEY_todata(key, EVP_PKEY_KEYPAIR, &params), 0);
	cr_expect_eq(EVP_PKEY_todata(key, EVP_PKEY_PUBLIC_KEY, &params), 1);
	OSSL_PARAM_free(params);
	cr_expect_eq(EVP_PKEY_eq(key, a.key), 1);
	cr_expect_neq(EVP_PKEY_eq(key, b.key), 1);

	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	cr_assert_not_null(ctx);
	cr_assert_eq(SSL_CTX_use_certificate(ctx, b.cert), 1);
	cr_expect_neq(SSL_CTX_use_PrivateKey(ctx, key), 1, "a key for another certificate");
	cr_assert_eq(SSL_CTX_use_certificate(ctx, a.cert), 1);
	cr_expect_eq(SSL_CTX_use_PrivateKey(ctx, key), 1);
	cr_expect_eq(SSL_CTX_check_private_key(ctx), 1);
	SSL_CTX_free(ctx);
	EVP_PKEY_free(key);
	test_identity_free(&a);
	test_identity_free(&b);
	ERR_clear_error();
}

Test(tls13_provider, unsupported_keys_get_no_provider_key)
{
	struct test_identity p384;

	p384.key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	cr_assert_not_null(p384.key);
	p384.cert = X509_new();
	X509_set_pubkey(p384.cert, p384.key);
	cr_expect_null(tls13_provider_key(p384.cert, 0));
	X509_free(p384.cert);
	EVP_PKEY_free(p384.key);
}

/*
 * test_tls13_cv.c - TLS 1.3 server CertificateVerify content: the shape check refuses
 * every other shape, schemes fit only their key type, and signatures made for each
 * scheme verify over exactly the content built from the hash.
 */
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>

#include "err.h"
#include "tls13_cv.h"

static size_t
sample_content(uint8_t out[TLS13_CV_MAX_CONTENT_LEN + 16], size_t hash_len)
{
	uint8_t hash[TLS13_CV_MAX_HASH_LEN + 16];

	for (size_t i = 0; i < sizeof(hash); i++)
		hash[i] = (uint8_t)(0xa0 + i);
	memset(out, 0x20, 64);
	memcpy(out + 64, "TLS 1.3, server CertificateVerify", 33);
	out[97] = 0;
	memcpy(out + 98, hash, hash_len);
	return 98 + hash_len;
}

static void
expect_refused(const uint8_t *content, size_t len)
{
	const uint8_t *hash = NULL;
	size_t hash_len = 0;

	cr_expect_eq(tls13_cv_parse(content, len, &hash, &hash_len), KW_ERR_UNEXPECTED_MESSAGE,
	             "content of %zu bytes accepted", len);
}

Test(tls13_cv, sha256_and_sha384_contents_parse)
{
	static const size_t lens[] = {32, 48};

	for (size_t i = 0; i < 2; i++) {
		uint8_t content[TLS13_CV_MAX_CONTENT_LEN + 16];
		size_t len = sample_content(content, lens[i]);
		const uint8_t *hash;
		size_t hash_len;

		cr_assert_eq(len, lens[i] == 32 ? 130u : 146u);
		cr_assert_eq(tls13_cv_parse(content, len, &hash, &hash_len), 0);
		cr_expect_eq(hash, content + 98);
		cr_expect_eq(hash_len, lens[i]);

		uint8_t built[TLS13_CV_MAX_CONTENT_LEN];
		cr_assert_eq(tls13_cv_content(hash, hash_len, built), len);
		cr_expect_arr_eq(built, content, len);
	}
}

Test(tls13_cv, every_hash_length_but_32_and_48_refused)
{
	uint8_t content[TLS13_CV_MAX_CONTENT_LEN + 16];

	for (size_t hash_len = 0; hash_len <= TLS13_CV_MAX_HASH_LEN + 16; hash_len++) {
		size_t len = sample_content(content, hash_len);
		if (hash_len != 32 && hash_len != 48)
			expect_refused(content, len);
	}
	for (size_t len = 0; len < 98; len++)
		expect_refused(content, len);
}

Test(tls13_cv, every_byte_of_the_prefix_is_checked)
{
	uint8_t good[TLS13_CV_MAX_CONTENT_LEN + 16];
	size_t len = sample_content(good, 32);

	for (size_t i = 0; i < 98; i++) {
		uint8_t bad[sizeof(good)];
		memcpy(bad, good, len);
		bad[i] ^= 0x01;
		expect_refused(bad, len);
	}
}

Test(tls13_cv, client_context_and_tls12_style_input_refused)
{
	uint8_t content[TLS13_CV_MAX_CONTENT_LEN + 16];
	size_t len = sample_content(content, 48);

	memcpy(content + 64, "TLS 1.3, client CertificateVerify", 33);
	expect_refused(content, len);
	/* a bare hash, as a TLS 1.2 or raw signing request would carry */
	expect_refused(content + 98, 48);
	/* the prefix shifted by one space, same length */
	sample_content(content, 48);
	memmove(content + 1, content, len - 1);
	expect_refused(content, len);
}

Test(tls13_cv, schemes_fit_only_their_key_type)
{
	static const struct {
		uint16_t scheme;
		enum tt_scheme kind;
	} fits[] = {
	    {0x0403, TT_SCHEME_ECDSA_P256_SHA256}, {0x0804, TT_SCHEME_RSA_PSS_SHA256},
	    {0x0805, TT_SCHEME_RSA_PSS_SHA256},    {0x0806, TT_SCHEME_RSA_PSS_SHA256},
	    {0x0807, TT_SCHEME_ED25519},
	};
	static const enum tt_scheme kinds[] = {TT_SCHEME_RSA_PSS_SHA256,
	                                       TT_SCHEME_ECDSA_P256_SHA256, TT_SCHEME_ED25519};

	for (unsigned scheme = 0; scheme <= 0xffff; scheme++) {
		for (size_t k = 0; k < 3; k++) {
			bool want = false;
			for (size_t f = 0; f < sizeof(fits) / sizeof(fits[0]); f++)
				want |= fits[f].scheme == scheme && fits[f].kind == kinds[k];
			cr_expect_eq(tls13_scheme_fits((uint16_t)scheme, kinds[k]), want,
			             "scheme 0x%04x, kind %d", scheme, (int)kinds[k]);
		}
	}
}

static EVP_PKEY *
generate(const char *type, const char *group)
{
	EVP_PKEY *key = group ? EVP_PKEY_Q_keygen(NULL, NULL, type, group)
	                      : EVP_PKEY_Q_keygen(NULL, NULL, type);
	cr_assert_not_null(key);
	return key;
}

Test(tls13_cv, signatures_verify_for_every_scheme_and_hash_length)
{
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *ec = generate("EC", "P-256"), *ed = generate("ED25519", NULL);
	const struct {
		EVP_PKEY *key;
		uint16_t scheme;
	} cases[] = {{ec, 0x0403}, {rsa, 0x0804}, {rsa, 0x0805}, {rsa, 0x0806}, {ed, 0x0807}};
	uint8_t hash[48];

	cr_assert_not_null(rsa);
	for (size_t i = 0; i < sizeof(hash); i++)
		hash[i] = (uint8_t)(i * 3);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		for (size_t hash_len = 32; hash_len <= 48; hash_len += 16) {
			uint8_t sig[2][TT_MAX_SIGNATURE_LEN];
			size_t sig_len[2] = {0};
			struct tt_signer prepared;

			/* signed as is, then with the key prepared for the scheme */
			cr_assert_eq(tls13_cv_sign(cases[c].key, cases[c].scheme, hash, hash_len,
			                           sig[0], &sig_len[0]),
			             0, "scheme 0x%04x", cases[c].scheme);
			cr_assert_eq(tls13_cv_signer_init(&prepared, cases[c].key, cases[c].scheme),
			             0);
			cr_assert_eq(
			    tls13_cv_signer_sign(&prepared, hash, hash_len, sig[1], &sig_len[1]), 0,
			    "scheme 0x%04x", cases[c].scheme);
			tt_signer_dispose(&prepared);
			for (int p = 0; p < 2; p++) {
				cr_expect_eq(tls13_cv_verify(cases[c].key, cases[c].scheme, hash,
				                             hash_len, sig[p], sig_len[p]),
				             0, "scheme 0x%04x", cases[c].scheme);
				hash[0] ^= 1;
				cr_expect_eq(tls13_cv_verify(cases[c].key, cases[c].scheme, hash,
				                             hash_len, sig[p], sig_len[p]),
				             KW_ERR_BAD_SIGNATURE);
				hash[0] ^= 1;
			}
		}
	}
	/* schemes that do not fit the key, and hash lengths of no suite, sign nothing */
	uint8_t sig[TT_MAX_SIGNATURE_LEN];
	size_t sig_len;
	cr_expect_eq(tls13_cv_sign(ec, 0x0804, hash, 32, sig, &sig_len), KW_ERR_ARGUMENT);
	cr_expect_eq(tls13_cv_sign(rsa, 0x0403, hash, 32, sig, &sig_len), KW_ERR_ARGUMENT);
	cr_expect_eq(tls13_cv_sign(rsa, 0x0401, hash, 32, sig, &sig_len), KW_ERR_ARGUMENT);
	cr_expect_eq(tls13_cv_sign(ed, 0x0403, hash, 32, sig, &sig_len), KW_ERR_ARGUMENT);
	cr_expect_eq(tls13_cv_sign(ed, 0x0807, hash, 33, sig, &sig_len), KW_ERR_ARGUMENT);
	cr_expect_eq(tls13_cv_sign(ec, 0x0403, hash, 31, sig, &sig_len), KW_ERR_ARGUMENT);
	struct tt_signer prepared;
	cr_expect_eq(tls13_cv_signer_init(&prepared, ec, 0x0804), KW_ERR_ARGUMENT);
	cr_expect_eq(tls13_cv_signer_init(&prepared, rsa, 0x0403), KW_ERR_ARGUMENT);
	cr_expect_eq(tls13_cv_signer_init(&prepared, ed, 0x0403), KW_ERR_ARGUMENT);
	cr_assert_eq(tls13_cv_signer_init(&prepared, ec, 0x0403), 0);
	cr_expect_eq(tls13_cv_signer_sign(&prepared, hash, 31, sig, &sig_len), KW_ERR_ARGUMENT);
	cr_expect_eq(tls13_cv_signer_sign(&prepared, hash, 49, sig, &sig_len), KW_ERR_ARGUMENT);
	tt_signer_dispose(&prepared);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(ed);
}

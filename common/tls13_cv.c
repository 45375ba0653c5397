/*
 * tls13_cv.c - TLS 1.3 server CertificateVerify content: shape check, building,
 * signing and verifying with the schemes a keyward key may use.
 */
#include "tls13_cv.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>

#include "err.h"

bool
tls13_cv_hash_len_ok(size_t hash_len)
{
	return hash_len == 32 || hash_len == 48;
}

bool
tls13_scheme_fits(uint16_t scheme, enum tt_scheme key_kind)
{
	switch (scheme) {
	case TLS13_ECDSA_SECP256R1_SHA256:
		return key_kind == TT_SCHEME_ECDSA_P256_SHA256;
	case TLS13_RSA_PSS_RSAE_SHA256:
	case TLS13_RSA_PSS_RSAE_SHA384:
	case TLS13_RSA_PSS_RSAE_SHA512:
		return key_kind == TT_SCHEME_RSA_PSS_SHA256;
	case TLS13_ED25519:
		return key_kind == TT_SCHEME_ED25519;
	}
	return false;
}

const char *
tls13_scheme_name(uint16_t scheme)
{
	switch (scheme) {
	case TLS13_ECDSA_SECP256R1_SHA256:
		return "ecdsa_secp256r1_sha256";
	case TLS13_RSA_PSS_RSAE_SHA256:
		return "rsa_pss_rsae_sha256";
	case TLS13_RSA_PSS_RSAE_SHA384:
		return "rsa_pss_rsae_sha384";
	case TLS13_RSA_PSS_RSAE_SHA512:
		return "rsa_pss_rsae_sha512";
	case TLS13_ED25519:
		return "ed25519";
	}
	return "unknown";
}

size_t
tls13_cv_content(const uint8_t *hash, size_t hash_len, uint8_t out[TLS13_CV_MAX_CONTENT_LEN])
{
	memset(out, 0x20, TLS13_CV_PAD_LEN);
	memcpy(out + TLS13_CV_PAD_LEN, TLS13_CV_CONTEXT, TLS13_CV_CONTEXT_LEN);
	out[TLS13_CV_PREFIX_LEN - 1] = 0;
	memcpy(out + TLS13_CV_PREFIX_LEN, hash, hash_len);
	return TLS13_CV_PREFIX_LEN + hash_len;
}

int
tls13_cv_parse(const uint8_t *content, size_t len, const uint8_t **hash, size_t *hash_len)
{
	if (len < TLS13_CV_PREFIX_LEN || !tls13_cv_hash_len_ok(len - TLS13_CV_PREFIX_LEN))
		return KW_ERR_UNEXPECTED_MESSAGE;
	for (size_t i = 0; i < TLS13_CV_PAD_LEN; i++)
		if (content[i] != 0x20)
			return KW_ERR_UNEXPECTED_MESSAGE;
	if (memcmp(content + TLS13_CV_PAD_LEN, TLS13_CV_CONTEXT, TLS13_CV_CONTEXT_LEN) != 0 ||
	    content[TLS13_CV_PREFIX_LEN - 1] != 0)
		return KW_ERR_UNEXPECTED_MESSAGE;
	*hash = content + TLS13_CV_PREFIX_LEN;
	*hash_len = len - TLS13_CV_PREFIX_LEN;
	return 0;
}

/* The digest a scheme hashes the content with (NULL: pure Ed25519). */
static const char *
scheme_digest(uint16_t scheme)
{
	switch (scheme) {
	case TLS13_RSA_PSS_RSAE_SHA384:
		return "SHA384";
	case TLS13_RSA_PSS_RSAE_SHA512:
		return "SHA512";
	case TLS13_ED25519:
		return NULL;
	default:
		return "SHA256";
	}
}

/* Starts signing (sign != 0) or verifying the content with key and scheme. */
static int
scheme_init(EVP_PKEY *key, uint16_t scheme, size_t hash_len, int sign, EVP_MD_CTX **out)
{
	enum tt_scheme kind;
	int err = tt_scheme_for_key(key, &kind);
	if (err)
		return err;
	if (!tls13_scheme_fits(scheme, kind) || !tls13_cv_hash_len_ok(hash_len))
		return KW_ERR_ARGUMENT;

	const char *saltlen =
	    kind == TT_SCHEME_RSA_PSS_SHA256 ? OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST : NULL;
	return tt_digest_init(key, scheme_digest(scheme), saltlen, sign, out);
}

/* Signs the content built from hash with a context ready for EVP_DigestSign. */
static int
content_sign(EVP_MD_CTX *mctx, const uint8_t *hash, size_t hash_len, uint8_t *sig, size_t *sig_len)
{
	uint8_t content[TLS13_CV_MAX_CONTENT_LEN];
	size_t len = TT_MAX_SIGNATURE_LEN;
	size_t content_len = tls13_cv_content(hash, hash_len, content);

	if (EVP_DigestSign(mctx, sig, &len, content, content_len) != 1) {
		ERR_clear_error();
		return KW_ERR_INTERNAL;
	}
	*sig_len = len;
	return 0;
}

int
tls13_cv_sign(EVP_PKEY *key, uint16_t scheme, const uint8_t *hash, size_t hash_len, uint8_t *sig,
              size_t *sig_len)
{
	EVP_MD_CTX *mctx = NULL;
	int err = scheme_init(key, scheme, hash_len, 1, &mctx);
	if (err)
		return err;
	err = content_sign(mctx, hash, hash_len, sig, sig_len);
	EVP_MD_CTX_free(mctx);
	return err;
}

int
tls13_cv_signer_init(struct tt_signer *s, EVP_PKEY *key, uint16_t scheme)
{
	EVP_MD_CTX *prepared = NULL;
	/* the hash length does not change the set-up: any accepted one will do */
	int err = scheme_init(key, scheme, TLS13_CV_MAX_HASH_LEN, 1, &prepared);

	*s = (struct tt_signer){0};
	return err ? err : tt_signer_adopt(s, prepared);
}

int
tls13_cv_signer_sign(struct tt_signer *s, const uint8_t *hash, size_t hash_len, uint8_t *sig,
                     size_t *sig_len)
{
	if (!tls13_cv_hash_len_ok(hash_len))
		return KW_ERR_ARGUMENT;
	if (EVP_MD_CTX_copy_ex(s->work, s->prepared) != 1) {
		ERR_clear_error();
		return KW_ERR_INTERNAL;
	}
	return content_sign(s->work, hash, hash_len, sig, sig_len);
}

int
tls13_cv_verify(EVP_PKEY *key, uint16_t scheme, const uint8_t *hash, size_t hash_len,
                const uint8_t *sig, size_t sig_len)
{
	uint8_t content[TLS13_CV_MAX_CONTENT_LEN];
	EVP_MD_CTX *mctx = NULL;
	int err = scheme_init(key, scheme, hash_len, 0, &mctx);
	if (err)
		return err == KW_ERR_INTERNAL ? KW_ERR_BAD_SIGNATURE : err;
	size_t content_len = tls13_cv_content(hash, hash_len, content);
	if (EVP_DigestVerify(mctx, sig, sig_len, content, content_len) != 1) {
		ERR_clear_error();
		err = KW_ERR_BAD_SIGNATURE;
	}
	EVP_MD_CTX_free(mctx);
	return err;
}

#include "toytls_sign.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include "err.h"

#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS ((int)TT_MAX_SIGNATURE_LEN * 8)

const char *
tt_scheme_name(enum tt_scheme scheme)
{
	switch (scheme) {
	case TT_SCHEME_RSA_PSS_SHA256:
		return "rsa-pss-sha256";
	case TT_SCHEME_ECDSA_P256_SHA256:
		return "ecdsa-p256-sha256";
	case TT_SCHEME_ED25519:
		return "ed25519";
	}
	return "unknown";
}

static int
ec_is_p256(const EVP_PKEY *key)
{
	char group[64];
	size_t len;

	if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
	                                   &len) != 1)
		return 0;
	return OBJ_sn2nid(group) == NID_X9_62_prime256v1;
}

int
tt_scheme_for_key(const EVP_PKEY *key, enum tt_scheme *scheme)
{
	if (EVP_PKEY_is_a(key, "RSA")) {
		int bits = EVP_PKEY_get_bits(key);
		if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS)
			return KW_ERR_UNSUPPORTED_KEY;
		*scheme = TT_SCHEME_RSA_PSS_SHA256;
	} else if (EVP_PKEY_is_a(key, "EC")) {
		if (!ec_is_p256(key))
			return KW_ERR_UNSUPPORTED_KEY;
		*scheme = TT_SCHEME_ECDSA_P256_SHA256;
	} else if (EVP_PKEY_is_a(key, "ED25519")) {
		*scheme = TT_SCHEME_ED25519;
	} else {
		return KW_ERR_UNSUPPORTED_KEY;
	}
	return 0;
}

void
tt_signature_input(const uint8_t client_pub[TT_X25519_LEN], const uint8_t server_pub[TT_X25519_LEN],
                   uint8_t input[TT_SIGNATURE_INPUT_LEN])
{
	memcpy(input, client_pub, TT_X25519_LEN);
	memcpy(input + TT_X25519_LEN, server_pub, TT_X25519_LEN);
}

int
tt_digest_init(EVP_PKEY *key, const char *md, const char *pss_saltlen, int sign, EVP_MD_CTX **out)
{
	OSSL_PARAM pss[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE,
	                                     (char *)OSSL_PKEY_RSA_PAD_MODE_PSS, 0),
	    OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, (char *)md, 0),
	    OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, (char *)pss_saltlen,
	                                     0),
	    OSSL_PARAM_construct_end(),
	};
	const OSSL_PARAM *params = pss_saltlen != NULL ? pss : NULL;

	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	if (mctx == NULL)
		return KW_ERR_INTERNAL;
	int ok = sign ? EVP_DigestSignInit_ex(mctx, NULL, md, NULL, NULL, key, params)
	              : EVP_DigestVerifyInit_ex(mctx, NULL, md, NULL, NULL, key, params);
	if (ok != 1) {
		EVP_MD_CTX_free(mctx);
		ERR_clear_error();
		return KW_ERR_INTERNAL;
	}
	*out = mctx;
	return 0;
}

/*
 * Starts a signing (sign != 0) or verifying operation with the scheme the key's type
 * fixes. Returns a context ready for EVP_DigestSign/EVP_DigestVerify, or an error.
 */
static int
scheme_init(EVP_PKEY *key, int sign, EVP_MD_CTX **out)
{
	enum tt_scheme scheme;
	int err = tt_scheme_for_key(key, &scheme);
	if (err)
		return err;

	const char *saltlen = NULL;
	if (scheme == TT_SCHEME_RSA_PSS_SHA256)
		saltlen = sign ? OSSL_PKEY_RSA_PSS_SALT_LEN_MAX : OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO;
	return tt_digest_init(key, scheme == TT_SCHEME_ED25519 ? NULL : "SHA256", saltlen, sign,
	                      out);
}

/* Signs client_pub || server_pub with a context ready for EVP_DigestSign. */
static int
digest_sign(EVP_MD_CTX *mctx, const uint8_t client_pub[TT_X25519_LEN],
            const uint8_t server_pub[TT_X25519_LEN], uint8_t *sig, size_t *sig_len)
{
	uint8_t input[TT_SIGNATURE_INPUT_LEN];
	size_t len = TT_MAX_SIGNATURE_LEN;

	tt_signature_input(client_pub, server_pub, input);
	if (EVP_DigestSign(mctx, sig, &len, input, sizeof(input)) != 1)
		return KW_ERR_INTERNAL;
	*sig_len = len;
	return 0;
}

int
tt_sign(EVP_PKEY *key, const uint8_t client_pub[TT_X25519_LEN],
        const uint8_t server_pub[TT_X25519_LEN], uint8_t *sig, size_t *sig_len)
{
	EVP_MD_CTX *mctx = NULL;
	int err = scheme_init(key, 1, &mctx);
	if (err)
		return err;
	err = digest_sign(mctx, client_pub, server_pub, sig, sig_len);
	EVP_MD_CTX_free(mctx);
	return err;
}

int
tt_signer_adopt(struct tt_signer *s, EVP_MD_CTX *prepared)
{
	*s = (struct tt_signer){.prepared = prepared, .work = EVP_MD_CTX_new()};
	if (s->work != NULL)
		return 0;
	tt_signer_dispose(s);
	return KW_ERR_INTERNAL;
}

int
tt_signer_init(struct tt_signer *s, EVP_PKEY *key)
{
	EVP_MD_CTX *prepared = NULL;
	int err = scheme_init(key, 1, &prepared);

	*s = (struct tt_signer){0};
	return err ? err : tt_signer_adopt(s, prepared);
}

int
tt_signer_sign(struct tt_signer *s, const uint8_t client_pub[TT_X25519_LEN],
               const uint8_t server_pub[TT_X25519_LEN], uint8_t *sig, size_t *sig_len)
{
	if (EVP_MD_CTX_copy_ex(s->work, s->prepared) != 1)
		return KW_ERR_INTERNAL;
	return digest_sign(s->work, client_pub, server_pub, sig, sig_len);
}

void
tt_signer_dispose(struct tt_signer *s)
{
	EVP_MD_CTX_free(s->prepared);
	EVP_MD_CTX_free(s->work);
	*s = (struct tt_signer){0};
}

int
tt_verify(EVP_PKEY *key, const uint8_t client_pub[TT_X25519_LEN],
          const uint8_t server_pub[TT_X25519_LEN], const uint8_t *sig, size_t sig_len)
{
	uint8_t input[TT_SIGNATURE_INPUT_LEN];
	EVP_MD_CTX *mctx = NULL;

	tt_signature_input(client_pub, server_pub, input);
	int err = scheme_init(key, 0, &mctx);
	if (err)
		return err;
	if (sig_len > TT_MAX_SIGNATURE_LEN ||
	    EVP_DigestVerify(mctx, sig, sig_len, input, sizeof(input)) != 1) {
		ERR_clear_error();
		err = KW_ERR_BAD_SIGNATURE;
	}
	EVP_MD_CTX_free(mctx);
	return err;
}

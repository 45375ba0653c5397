/*
 * toytls_sign.h - the handshake signature schemes, fixed by the identity key type:
 * RSA-PSS/SHA-256/MGF1-SHA-256/max salt (the reference's), ECDSA P-256/SHA-256
 * (DER signature) and pure Ed25519, always over client_pub || server_pub.
 */
#ifndef KW_TOYTLS_SIGN_H
#define KW_TOYTLS_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "toytls.h"

enum tt_scheme {
	TT_SCHEME_RSA_PSS_SHA256 = 1,
	TT_SCHEME_ECDSA_P256_SHA256 = 2,
	TT_SCHEME_ED25519 = 3,
};

/** Name of a scheme for logs ("rsa-pss-sha256", ...). */
const char *tt_scheme_name(enum tt_scheme scheme);

/**
 * The scheme a key signs with: RSA (2048 bits or more), EC on P-256, Ed25519.
 * Returns 0 or KW_ERR_UNSUPPORTED_KEY.
 */
int tt_scheme_for_key(const EVP_PKEY *key, enum tt_scheme *scheme);

/**
 * Starts an EVP signing (sign != 0) or verifying operation on key with digest md (NULL:
 * pure Ed25519). pss_saltlen non-NULL makes it RSA-PSS with MGF1 over md and that salt
 * length (an OSSL_PKEY_RSA_PSS_SALT_LEN_* name). Returns 0 with *out, which the caller
 * frees, or KW_ERR_INTERNAL with nothing allocated and OpenSSL's error queue cleared.
 */
int tt_digest_init(EVP_PKEY *key, const char *md, const char *pss_saltlen, int sign,
                   EVP_MD_CTX **out);

/** Builds the 64-byte signature input client_pub || server_pub. */
void tt_signature_input(const uint8_t client_pub[TT_X25519_LEN],
                        const uint8_t server_pub[TT_X25519_LEN],
                        uint8_t input[TT_SIGNATURE_INPUT_LEN]);

/**
 * Signs client_pub || server_pub with a private key, with the scheme its type
 * fixes. sig must hold TT_MAX_SIGNATURE_LEN bytes; *sig_len receives the length.
 * Returns 0, KW_ERR_UNSUPPORTED_KEY or KW_ERR_INTERNAL.
 */
int tt_sign(EVP_PKEY *key, const uint8_t client_pub[TT_X25519_LEN],
            const uint8_t server_pub[TT_X25519_LEN], uint8_t *sig, size_t *sig_len);

/**
 * A private key prepared for many signatures: its signing context (scheme, digest,
 * RSA-PSS parameters) is set up once and every signature works on a copy of it,
 * instead of setting one up per signature. Not thread-safe: one per thread.
 */
struct tt_signer {
	EVP_MD_CTX *prepared; /* set up once, never signs itself */
	EVP_MD_CTX *work;     /* the copy each signature uses */
};

/**
 * Prepares key, which is borrowed and must outlive the signer. Returns 0,
 * KW_ERR_UNSUPPORTED_KEY or KW_ERR_INTERNAL (with nothing left allocated).
 */
int tt_signer_init(struct tt_signer *s, EVP_PKEY *key);

/**
 * Makes s a signer of prepared, a context set up for signing (tt_digest_init()), which s
 * owns from then on. Returns 0, or KW_ERR_INTERNAL with prepared freed.
 */
int tt_signer_adopt(struct tt_signer *s, EVP_MD_CTX *prepared);

/** tt_sign() with the prepared key: the same signatures, the same errors. */
int tt_signer_sign(struct tt_signer *s, const uint8_t client_pub[TT_X25519_LEN],
                   const uint8_t server_pub[TT_X25519_LEN], uint8_t *sig, size_t *sig_len);

/** Frees the contexts (a zeroed or disposed signer is fine). */
void tt_signer_dispose(struct tt_signer *s);

/**
 * Verifies a signature over client_pub || server_pub with a public key (the
 * leaf's). Returns 0, KW_ERR_BAD_SIGNATURE, KW_ERR_UNSUPPORTED_KEY or KW_ERR_INTERNAL.
 */
int tt_verify(EVP_PKEY *key, const uint8_t client_pub[TT_X25519_LEN],
              const uint8_t server_pub[TT_X25519_LEN], const uint8_t *sig, size_t sig_len);

#endif

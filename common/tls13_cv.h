/*
 * tls13_cv.h - TLS 1.3 server CertificateVerify content (RFC 8446, 4.4.3): its exact
 * shape, the signature schemes a key may sign it with, and the signing itself.
 *
 *   content := 0x20 x 64 || "TLS 1.3, server CertificateVerify" || 0x00 || transcript_hash
 *
 * The transcript hash is as long as the cipher suite's hash: 32 bytes (SHA-256 suites)
 * or 48 (SHA-384). The worker checks the content libssl asks it to sign with
 * tls13_cv_parse() before it asks the signer anything; the signer receives only the
 * scheme and the hash and builds the content itself (tls13_cv_sign()).
 */
#ifndef KW_TLS13_CV_H
#define KW_TLS13_CV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "toytls_sign.h"

/** TLS 1.3 SignatureScheme code points a keyward key signs with. */
enum tls13_scheme {
	TLS13_ECDSA_SECP256R1_SHA256 = 0x0403,
	TLS13_RSA_PSS_RSAE_SHA256 = 0x0804,
	TLS13_RSA_PSS_RSAE_SHA384 = 0x0805,
	TLS13_RSA_PSS_RSAE_SHA512 = 0x0806,
	TLS13_ED25519 = 0x0807,
};

#define TLS13_CV_PAD_LEN         64u /* bytes of 0x20 */
#define TLS13_CV_CONTEXT         "TLS 1.3, server CertificateVerify"
#define TLS13_CV_CONTEXT_LEN     (sizeof(TLS13_CV_CONTEXT) - 1)
#define TLS13_CV_PREFIX_LEN      (TLS13_CV_PAD_LEN + TLS13_CV_CONTEXT_LEN + 1u)
#define TLS13_CV_MAX_HASH_LEN    48u /* SHA-384 */
#define TLS13_CV_MAX_CONTENT_LEN (TLS13_CV_PREFIX_LEN + TLS13_CV_MAX_HASH_LEN)

/** true for 32 and 48: the hash lengths of the TLS 1.3 cipher suites. */
bool tls13_cv_hash_len_ok(size_t hash_len);

/**
 * true when scheme is one a key of the given kind signs with: ECDSA P-256 with
 * 0x0403, RSA with 0x0804..0x0806, Ed25519 with 0x0807; false for anything else.
 */
bool tls13_scheme_fits(uint16_t scheme, enum tt_scheme key_kind);

/** Name of a scheme for logs ("rsa_pss_rsae_sha256", ...; "unknown" otherwise). */
const char *tls13_scheme_name(uint16_t scheme);

/**
 * Writes the content for a transcript hash of hash_len bytes (which must pass
 * tls13_cv_hash_len_ok) to out. Returns its length, TLS13_CV_PREFIX_LEN + hash_len.
 */
size_t tls13_cv_content(const uint8_t *hash, size_t hash_len,
                        uint8_t out[TLS13_CV_MAX_CONTENT_LEN]);

/**
 * Checks that content is exactly a server CertificateVerify content: the 64 spaces,
 * the server context string, the zero byte and a hash of 32 or 48 bytes. On success
 * *hash points into content and *hash_len is its length. Returns 0 or
 * KW_ERR_UNEXPECTED_MESSAGE (any other shape, the client's context string included).
 */
int tls13_cv_parse(const uint8_t *content, size_t len, const uint8_t **hash, size_t *hash_len);

/**
 * Signs the content built from hash with key and scheme, which must fit the key:
 * RSA-PSS with MGF1 of the same digest and a salt as long as the digest, ECDSA as a
 * DER signature, pure Ed25519. sig holds TT_MAX_SIGNATURE_LEN bytes; *sig_len gets the
 * length. Returns 0, KW_ERR_ARGUMENT (scheme or hash length refused),
 * KW_ERR_UNSUPPORTED_KEY or KW_ERR_INTERNAL.
 */
int tls13_cv_sign(EVP_PKEY *key, uint16_t scheme, const uint8_t *hash, size_t hash_len,
                  uint8_t *sig, size_t *sig_len);

/**
 * Prepares key to sign CertificateVerify content with scheme, as tt_signer_init() does for
 * toy-TLS: the signing context (digest, RSA-PSS parameters) is set up once, and each
 * signature works on a copy of it. Dispose with tt_signer_dispose(). Returns 0,
 * KW_ERR_ARGUMENT (a scheme that does not fit the key), KW_ERR_UNSUPPORTED_KEY or
 * KW_ERR_INTERNAL, with nothing left allocated.
 */
int tls13_cv_signer_init(struct tt_signer *s, EVP_PKEY *key, uint16_t scheme);

/** tls13_cv_sign() with a key prepared for its scheme: the same signatures and errors. */
int tls13_cv_signer_sign(struct tt_signer *s, const uint8_t *hash, size_t hash_len, uint8_t *sig,
                         size_t *sig_len);

/**
 * Verifies sig over the content built from hash with a public key and scheme (the
 * check a client makes). Returns 0, KW_ERR_ARGUMENT, KW_ERR_UNSUPPORTED_KEY or
 * KW_ERR_BAD_SIGNATURE.
 */
int tls13_cv_verify(EVP_PKEY *key, uint16_t scheme, const uint8_t *hash, size_t hash_len,
                    const uint8_t *sig, size_t sig_len);

#endif

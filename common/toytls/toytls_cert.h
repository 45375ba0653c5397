/*
 * toytls_cert.h - what a client checks about a server: the chain up to a trusted
 * root with X509_verify_cert (validity, CA constraints, key usage, serverAuth
 * purpose) and the DNS name with X509_VERIFY_PARAM_set1_host.
 */
#ifndef KW_TOYTLS_CERT_H
#define KW_TOYTLS_CERT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "buf.h"

/** Trust settings shared by many client sessions (read-only once built). */
struct tt_trust {
	X509_STORE *store; /* trusted roots */
	time_t at;         /* 0: now; otherwise verify as of this time (tests) */
};

/** Loads trusted roots from a PEM file (one or more certificates). Returns 0, KW_ERR_*. */
int tt_trust_load_file(struct tt_trust *trust, const char *pem_path);

/** Frees the store. */
void tt_trust_dispose(struct tt_trust *trust);

/**
 * Verifies a chain: certs[0] is the leaf, then intermediates, as DER. On success
 * *leaf_key receives the leaf's public key (caller frees). On failure returns the
 * matching KW_ERR_CERT_* code and, when detail is not NULL, points it to the
 * libcrypto reason (static string).
 */
int tt_verify_chain(const struct tt_trust *trust, const char *dns_name,
                    const uint8_t *const *certs, const size_t *cert_lens, size_t n_certs,
                    EVP_PKEY **leaf_key, const char **detail);

/**
 * Parses one DER certificate and returns its public key in *key (caller frees),
 * without any chain or name check (an insecure client still checks the signature
 * with this key). Returns 0, KW_ERR_CERT_PARSE or KW_ERR_NOMEM.
 */
int tt_cert_public_key(const uint8_t *der, size_t len, EVP_PKEY **key);

/**
 * The public key of the last leaf certificate an insecure client parsed, kept while
 * the same leaf (byte for byte) comes again: a load generator then parses each
 * distinct leaf once instead of once per handshake. One per thread; zero-initialise.
 */
struct tt_leaf_cache {
	uint8_t *der;
	size_t len;
	EVP_PKEY *key;
};

/**
 * tt_cert_public_key() through cache: the cached key when der is the cached leaf, else
 * the parsed one, which then replaces the cached leaf. *key is a new reference (caller
 * frees), NULL on failure. Returns what tt_cert_public_key() returns, or
 * KW_ERR_INTERNAL when a reference to the cached key cannot be taken.
 */
int tt_leaf_cache_key(struct tt_leaf_cache *cache, const uint8_t *der, size_t len, EVP_PKEY **key);

/** Frees the cached leaf and key (a zeroed cache is fine). */
void tt_leaf_cache_dispose(struct tt_leaf_cache *cache);

/**
 * Pre-encodes a server identity's certificate fields for struct tt_identity: one
 * 0x0020 field per certificate, the leaf (first certificate of the PEM text
 * cert_pem) first, then the first certificate of each PEM text chain_pems[0, n) in
 * order (the leaf's issuer first). The texts are what the configuration captured,
 * so no file is read. Appends to out, which the caller owns and frees; on failure
 * out is left as it was. Returns 0, KW_ERR_ARGUMENT (a text is NULL or holds no PEM
 * certificate) or KW_ERR_NOMEM.
 */
int tt_identity_encode_chain(const char *cert_pem, const char *const *chain_pems, size_t n,
                             struct kw_buf *out);

#endif

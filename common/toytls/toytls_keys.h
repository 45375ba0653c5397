/*
 * toytls_keys.h - ephemeral X25519 and the toy-TLS key schedule (HKDF-SHA256,
 * no salt, the labels of toytls.h).
 */
#ifndef KW_TOYTLS_KEYS_H
#define KW_TOYTLS_KEYS_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "toytls.h"

/** An X25519 key pair. The private key lives in pkey and dies with tt_x25519_dispose(). */
struct tt_x25519 {
	EVP_PKEY *pkey;
	uint8_t pub[TT_X25519_LEN];
};

/**
 * Contexts that one thread reuses from handshake to handshake: a prepared X25519 key
 * generation context, one peer key object whose public key each derivation replaces,
 * and libcrypto's HKDF context for the key schedule. They hold no secret between calls
 * (the HKDF context is reset after use). Not thread-safe.
 */
struct tt_kex {
	EVP_PKEY_CTX *gen;
	EVP_PKEY *peer;
	EVP_KDF_CTX *hkdf;
};

/** Prepares the contexts. Returns 0 or KW_ERR_INTERNAL (with nothing left allocated). */
int tt_kex_init(struct tt_kex *kex);

/** Frees the contexts (a zeroed or disposed kex is fine). */
void tt_kex_dispose(struct tt_kex *kex);

/** Generates a fresh key pair. Returns 0, KW_ERR_INTERNAL. */
int tt_x25519_generate(struct tt_x25519 *kp);

/** tt_x25519_generate() with kex's context (kex NULL: one made for this call). */
int tt_x25519_generate_kex(struct tt_kex *kex, struct tt_x25519 *kp);

/** Builds a key pair from a fixed 32-byte private key (tests and vectors). */
int tt_x25519_from_private(struct tt_x25519 *kp, const uint8_t priv[TT_X25519_LEN]);

/**
 * Computes the 32-byte shared secret with the peer's public key. Returns
 * KW_ERR_KEY_SHARE_INVALID for an all-zero result (a low-order or zero peer key),
 * a protocol error, never an internal one.
 */
int tt_x25519_derive(const struct tt_x25519 *kp, const uint8_t peer[TT_X25519_LEN],
                     uint8_t shared[TT_X25519_LEN]);

/** tt_x25519_derive() with kex's peer key object (kex NULL: one made for this call). */
int tt_x25519_derive_kex(struct tt_kex *kex, const struct tt_x25519 *kp,
                         const uint8_t peer[TT_X25519_LEN], uint8_t shared[TT_X25519_LEN]);

/**
 * True when pub is one of the X25519 public keys of small order (all-zero, one, the
 * points of order 8, and p - 1, p, p + 1), whatever its unused top bit: a peer
 * that sends one makes the shared secret all-zero or predictable.
 */
bool tt_x25519_is_low_order(const uint8_t pub[TT_X25519_LEN]);

/** Frees the key pair. */
void tt_x25519_dispose(struct tt_x25519 *kp);

/** Both directions' AES-256-GCM keys. Cleanse with tt_keys_dispose(). */
struct tt_keys {
	uint8_t client_write[TT_KEY_LEN];
	uint8_t server_write[TT_KEY_LEN];
};

/** Derives both write keys from the shared secret. Returns 0 or KW_ERR_INTERNAL. */
int tt_derive_keys(const uint8_t shared[TT_X25519_LEN], struct tt_keys *keys);

/** tt_derive_keys() with kex's HKDF context (kex NULL: one made for this call). */
int tt_derive_keys_kex(struct tt_kex *kex, const uint8_t shared[TT_X25519_LEN],
                       struct tt_keys *keys);

/** Cleanses the keys. */
void tt_keys_dispose(struct tt_keys *keys);

#endif

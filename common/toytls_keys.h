/*
 * toytls_keys.h - ephemeral X25519 and the toy-TLS key schedule (HKDF-SHA256,
 * no salt, the labels of toytls.h).
 */
#ifndef KW_TOYTLS_KEYS_H
#define KW_TOYTLS_KEYS_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "toytls.h"

/** An X25519 key pair. The private key lives in pkey and dies with tt_x25519_dispose(). */
struct tt_x25519 {
	EVP_PKEY *pkey;
	uint8_t pub[TT_X25519_LEN];
};

/** Generates a fresh key pair. Returns 0, KW_ERR_INTERNAL. */
int tt_x25519_generate(struct tt_x25519 *kp);

/** Builds a key pair from a fixed 32-byte private key (tests and vectors). */
int tt_x25519_from_private(struct tt_x25519 *kp, const uint8_t priv[TT_X25519_LEN]);

/**
 * Computes the 32-byte shared secret with the peer's public key. Returns
 * KW_ERR_KEY_SHARE_INVALID for an all-zero result (a low-order or zero peer key),
 * a protocol error, never an internal one.
 */
int tt_x25519_derive(const struct tt_x25519 *kp, const uint8_t peer[TT_X25519_LEN],
                     uint8_t shared[TT_X25519_LEN]);

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

/** Cleanses the keys. */
void tt_keys_dispose(struct tt_keys *keys);

#endif

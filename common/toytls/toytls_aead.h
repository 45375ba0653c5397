/*
 * toytls_aead.h - the AEAD behind the record layer, as a small vtable so that a
 * second cipher or backend slots in without touching record code.
 */
#ifndef KW_TOYTLS_AEAD_H
#define KW_TOYTLS_AEAD_H

#include <stddef.h>
#include <stdint.h>

struct tt_aead_ctx;

struct tt_aead {
	const char *name;
	size_t key_len, nonce_len, tag_len;
	/** Makes a context for one key (kept for the connection's life). NULL on failure. */
	struct tt_aead_ctx *(*new_ctx)(const uint8_t *key);
	/**
	 * Encrypts len bytes from in to out (in == out allowed) and writes the tag.
	 * Returns 0, KW_ERR_ARGUMENT (len or aad_len over INT_MAX) or KW_ERR_INTERNAL.
	 */
	int (*seal)(struct tt_aead_ctx *ctx, const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
	            const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag);
	/**
	 * Decrypts and checks the tag (in == out allowed); on KW_ERR_DECRYPT out is
	 * cleansed. Returns 0, KW_ERR_DECRYPT, KW_ERR_ARGUMENT or KW_ERR_INTERNAL.
	 */
	int (*open)(struct tt_aead_ctx *ctx, const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
	            const uint8_t *in, size_t len, const uint8_t *tag, uint8_t *out);
	/** Frees the context and cleanses its key schedule. */
	void (*free_ctx)(struct tt_aead_ctx *ctx);
};

/** AES-256-GCM from libcrypto. */
extern const struct tt_aead tt_aes256gcm;

#endif

/*
 * toytls_record.h - application record protection for one direction:
 * payload = seq:u64 || nonce[12] || ciphertext || tag[16], aad = seq:u64.
 */
#ifndef KW_TOYTLS_RECORD_H
#define KW_TOYTLS_RECORD_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "toytls.h"
#include "toytls_aead.h"

/**
 * Source of record nonces. Production uses RAND_bytes (tt_nonce_random); tests may
 * install a fixed source to reproduce the vectors. Returns 0 or KW_ERR_INTERNAL.
 */
typedef int (*tt_nonce_fn)(void *arg, uint8_t nonce[12]);

/** The production nonce source: 12 fresh random bytes per record. */
int tt_nonce_random(void *arg, uint8_t nonce[12]);

/** Random bytes drawn from RAND_bytes in bulk, handed out 12 at a time as record nonces. */
#define TT_NONCE_POOL_LEN 4080u
struct tt_nonce_pool {
	uint8_t bytes[TT_NONCE_POOL_LEN];
	size_t next; /* first unused byte; TT_NONCE_POOL_LEN when empty */
};

/** Sets up an empty pool (it fills itself on first use). */
void tt_nonce_pool_init(struct tt_nonce_pool *pool);

/**
 * A nonce source (arg: a struct tt_nonce_pool, used by one thread): 12 fresh random
 * bytes per record as tt_nonce_random gives, at a fraction of its cost per record.
 * Returns 0 or KW_ERR_INTERNAL (RAND_bytes failed).
 */
int tt_nonce_pool_take(void *arg, uint8_t nonce[12]);

/** One direction of protected records. */
struct tt_record_dir {
	const struct tt_aead *aead;
	struct tt_aead_ctx *ctx;
	uint64_t seq;       /* next sequence number to send or expect */
	bool seq_exhausted; /* the last sequence number has been used */
};

/** Sets up a direction with a key. Returns 0 or KW_ERR_INTERNAL. */
int tt_record_dir_init(struct tt_record_dir *d, const struct tt_aead *aead, const uint8_t *key);

/** Frees the direction's cipher context. */
void tt_record_dir_dispose(struct tt_record_dir *d);

/**
 * Appends one whole protected record (length header included) carrying
 * plaintext[0, len) to out. Returns 0, KW_ERR_SEQ_OVERFLOW (never wraps),
 * KW_ERR_ARGUMENT (len over TT_MAX_PLAINTEXT), KW_ERR_NOMEM or KW_ERR_INTERNAL.
 */
int tt_record_seal(struct tt_record_dir *d, tt_nonce_fn nonce_fn, void *nonce_arg,
                   const uint8_t *plaintext, size_t len, struct kw_buf *out);

/** Bytes of a whole record before its plaintext (length, seq, nonce) and after it (tag). */
#define TT_RECORD_PREFIX_LEN (TT_RECORD_HEADER_LEN + TT_SEQ_LEN + TT_NONCE_LEN)
#define TT_RECORD_SUFFIX_LEN TT_TAG_LEN

/**
 * Turns rec[TT_RECORD_PREFIX_LEN, TT_RECORD_PREFIX_LEN + len) into one whole protected
 * record in place, rec[0, TT_RECORD_PREFIX_LEN + len + TT_RECORD_SUFFIX_LEN): the caller
 * writes the plaintext where the record carries it, so that it is encrypted where it
 * lies. Returns what tt_record_seal() returns.
 */
int tt_record_seal_in_place(struct tt_record_dir *d, tt_nonce_fn nonce_fn, void *nonce_arg,
                            uint8_t *rec, size_t len);

/**
 * Checks and decrypts one record payload (without the length header), appending
 * the plaintext to out. Returns 0, KW_ERR_RECORD_TOO_SHORT, KW_ERR_BAD_SEQUENCE,
 * KW_ERR_DECRYPT, KW_ERR_SEQ_OVERFLOW, KW_ERR_NOMEM or KW_ERR_INTERNAL.
 */
int tt_record_open(struct tt_record_dir *d, const uint8_t *payload, size_t len,
                   struct kw_buf *out);

#endif

/*
 * keys.h - the signer's key table: every cfg->keys[i] loaded once at start, indexed
 * by key id. Only the signer process ever holds these.
 */
#ifndef KW_SIGNER_KEYS_H
#define KW_SIGNER_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>

#include "config.h"
#include "toytls_sign.h"

/** One private key and the scheme its type fixes. */
struct signer_key {
	EVP_PKEY *pkey;
	enum tt_scheme scheme;
};

/** Key ids are indices into keys; n equals cfg->n_keys. */
struct signer_keys {
	struct signer_key *keys;
	size_t n;
};

/**
 * Loads every cfg->keys[i]: reads the PEM private key file into a buffer that is
 * cleansed afterwards, checks that it matches the certificate's public key and that
 * its type is one toy-TLS signs with, and makes one test signature with it (which
 * also loads every provider and algorithm it will use). On success *out owns the
 * keys (free with signer_keys_free). On failure nothing is kept, err names the file
 * and says what is wrong, and the return is KW_ERR_ARGUMENT (a bad key or
 * certificate), KW_ERR_UNSUPPORTED_KEY, KW_ERR_NOMEM or KW_ERR_INTERNAL.
 */
int signer_keys_load(const struct kw_config *cfg, struct signer_keys *out, char *err,
                     size_t err_len);

/**
 * The check behind `keyward -t`: loads and checks every cfg->keys[i] as
 * signer_keys_load() does, without stopping at the first failure, then frees it.
 * Prints each failure to stderr as "keyward: CONFIG:LINE: key PATH: reason" (LINE of
 * the server block naming the key), and a warning for a key file that other users
 * may read or change. Returns 0 when every key loads, else KW_ERR_ARGUMENT.
 */
int signer_keys_check(const struct kw_config *cfg);

/**
 * True when the key file at path has group or other permission bits (ssh refuses
 * such a key; keyward warns): why then says so, naming path and its mode.
 */
bool signer_key_exposed(const char *path, char *why, size_t why_len);

/** Frees every key (EVP_PKEY_free wipes the key material) and empties keys. */
void signer_keys_free(struct signer_keys *keys);

#endif

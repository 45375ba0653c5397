/*
 * inspect_frag.c - fingerprint windows of private keys' secret integers, and the
 * one-pass matcher that looks for them in a buffer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "err.h"
#include "inspect_frag.h"
#include "keyfile.h"

#define PREFIX_LEN   8

struct frag_window {
	uint8_t bytes[FRAG_WINDOW];
	uint32_t source;
};

struct frag_set {
	struct frag_source *sources;
	size_t n_sources;
	struct frag_window *windows;
	size_t n_windows;
	uint32_t *slots; /* window index + 1; 0 marks an empty slot */
	size_t slot_mask;
};

static const struct {
	const char *param;
	const char *component;
} rsa_secrets[] = {
    {OSSL_PKEY_PARAM_RSA_D, "d"},
    {OSSL_PKEY_PARAM_RSA_FACTOR1, "p"},
    {OSSL_PKEY_PARAM_RSA_FACTOR2, "q"},
    {OSSL_PKEY_PARAM_RSA_EXPONENT1, "dmp1"},
    {OSSL_PKEY_PARAM_RSA_EXPONENT2, "dmq1"},
    {OSSL_PKEY_PARAM_RSA_COEFFICIENT1, "iqmp"},
};

struct frag_set *
frag_set_new(void)
{
	return calloc(1, sizeof(struct frag_set));
}

size_t
frag_set_sources(const struct frag_set *set)
{
	return set->n_sources;
}

const struct frag_source *
frag_set_source(const struct frag_set *set, size_t i)
{
	return &set->sources[i];
}

size_t
frag_set_windows(const struct frag_set *set)
{
	return set->n_windows;
}

static size_t
prefix_slot(const uint8_t *bytes, size_t mask)
{
	uint64_t prefix;

	memcpy(&prefix, bytes, PREFIX_LEN);
	return (size_t)((prefix * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & mask;
}

/* Rebuilds the hash table for every window, at most one quarter full. */
static int
rebuild_index(struct frag_set *set)
{
	size_t n_slots = 64;
	uint32_t *slots;

	while (n_slots < set->n_windows * 4)
		n_slots *= 2;
	slots = calloc(n_slots, sizeof(*slots));
	if (!slots)
		return KW_ERR_NOMEM;
	for (size_t i = 0; i < set->n_windows; i++) {
		size_t s = prefix_slot(set->windows[i].bytes, n_slots - 1);
		while (slots[s])
			s = (s + 1) & (n_slots - 1);
		slots[s] = (uint32_t)(i + 1);
	}
	free(set->slots);
	set->slots = slots;
	set->slot_mask = n_slots - 1;
	return 0;
}

static int
add_source(struct frag_set *set, size_t key, const char *component, const char *order)
{
	struct frag_source *grown =
	    realloc(set->sources, (set->n_sources + 1) * sizeof(*set->sources));

	if (!grown)
		return KW_ERR_NOMEM;
	set->sources = grown;
	set->sources[set->n_sources++] = (struct frag_source){key, component, order};
	return 0;
}

/* Adds windows at offsets 0, n/4, n/2, 3n/4 and n-16 of bytes[0..n), n >= FRAG_WINDOW. */
static int
add_windows(struct frag_set *set, const uint8_t *bytes, size_t n)
{
	const size_t last = n - FRAG_WINDOW;
	const size_t offsets[] = {0, n / 4, n / 2, 3 * n / 4, last};
	struct frag_window *grown;
	size_t count = 0, prev = SIZE_MAX;

	grown = malloc((set->n_windows + 5) * sizeof(*grown));
	if (!grown)
		return KW_ERR_NOMEM;
	if (set->n_windows) {
		memcpy(grown, set->windows, set->n_windows * sizeof(*grown));
		OPENSSL_cleanse(set->windows, set->n_windows * sizeof(*grown));
	}
	free(set->windows);
	set->windows = grown;
	for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		size_t off = offsets[i] < last ? offsets[i] : last;
		struct frag_window *w = &set->windows[set->n_windows + count];
		if (off == prev)
			continue;
		memcpy(w->bytes, bytes + off, FRAG_WINDOW);
		w->source = (uint32_t)(set->n_sources - 1);
		prev = off;
		count++;
	}
	set->n_windows += count;
	return 0;
}

static int
add_bytes(struct frag_set *set, size_t key, const char *component, const char *order,
          const uint8_t *bytes, size_t n)
{
	int rc = add_source(set, key, component, order);

	return rc ? rc : add_windows(set, bytes, n);
}

/* Adds one secret integer both big-endian and little-endian. */
static int
add_bignum(struct frag_set *set, size_t key, const char *component, const BIGNUM *bn,
           const char *path, char *err, size_t err_len)
{
	const int n = BN_num_bytes(bn);
	uint8_t *buf;
	int rc = KW_ERR_INTERNAL;

	if (n < FRAG_WINDOW) {
		snprintf(err, err_len, "key %s: secret %s is shorter than %d bytes", path,
		         component, FRAG_WINDOW);
		return KW_ERR_UNSUPPORTED_KEY;
	}
	buf = malloc((size_t)n);
	if (!buf)
		return KW_ERR_NOMEM;
	if (BN_bn2binpad(bn, buf, n) != n)
		goto out;
	rc = add_bytes(set, key, component, "be", buf, (size_t)n);
	if (rc)
		goto out;
	rc = KW_ERR_INTERNAL;
	if (BN_bn2lebinpad(bn, buf, n) != n)
		goto out;
	rc = add_bytes(set, key, component, "le", buf, (size_t)n);
out:
	if (rc == KW_ERR_INTERNAL)
		snprintf(err, err_len, "key %s: cannot encode %s", path, component);
	OPENSSL_cleanse(buf, (size_t)n);
	free(buf);
	return rc;
}

static int
add_bn_param(struct frag_set *set, size_t key, const EVP_PKEY *pkey, const char *param,
             const char *component, const char *path, char *err, size_t err_len)
{
	BIGNUM *bn = NULL;
	int rc;

	if (!EVP_PKEY_get_bn_param(pkey, param, &bn)) {
		snprintf(err, err_len, "key %s: no private value %s in it", path, component);
		return KW_ERR_UNSUPPORTED_KEY;
	}
	rc = add_bignum(set, key, component, bn, path, err, err_len);
	BN_clear_free(bn);
	return rc;
}

static int
add_raw_private(struct frag_set *set, size_t key, const EVP_PKEY *pkey, const char *path, char *err,
                size_t err_len)
{
	uint8_t raw[128];
	size_t len = sizeof(raw);
	int rc;

	if (!EVP_PKEY_get_raw_private_key(pkey, raw, &len)) {
		snprintf(err, err_len, "key %s: unsupported key type %s", path,
		         EVP_PKEY_get0_type_name(pkey));
		return KW_ERR_UNSUPPORTED_KEY;
	}
	if (len < FRAG_WINDOW) {
		snprintf(err, err_len, "key %s: private key is shorter than %d bytes", path,
		         FRAG_WINDOW);
		rc = KW_ERR_UNSUPPORTED_KEY;
	} else {
		rc = add_bytes(set, key, "raw", "raw", raw, len);
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

int
frag_set_add_key(struct frag_set *set, const char *path, size_t key, char *err, size_t err_len)
{
	EVP_PKEY *pkey = NULL;
	int rc = kw_private_key_load(path, &pkey, err, err_len);

	if (rc)
		return rc;
	if (EVP_PKEY_is_a(pkey, "RSA") || EVP_PKEY_is_a(pkey, "RSA-PSS")) {
		for (size_t i = 0; !rc && i < sizeof(rsa_secrets) / sizeof(rsa_secrets[0]); i++)
			rc = add_bn_param(set, key, pkey, rsa_secrets[i].param,
			                  rsa_secrets[i].component, path, err, err_len);
	} else if (EVP_PKEY_is_a(pkey, "EC")) {
		rc = add_bn_param(set, key, pkey, OSSL_PKEY_PARAM_PRIV_KEY, "priv", path, err,
		                  err_len);
	} else {
		rc = add_raw_private(set, key, pkey, path, err, err_len);
	}
	EVP_PKEY_free(pkey);
	if (!rc)
		rc = rebuild_index(set);
	if (rc == KW_ERR_NOMEM)
		snprintf(err, err_len, "key %s: out of memory", path);
	return rc;
}

size_t
frag_set_match(const struct frag_set *set, const uint8_t *buf, size_t len, size_t *hits)
{
	size_t found = 0;

	if (!set->slots || len < FRAG_WINDOW)
		return 0;
	for (size_t i = 0; i <= len - FRAG_WINDOW; i++) {
		for (size_t s = prefix_slot(buf + i, set->slot_mask); set->slots[s];
		     s = (s + 1) & set->slot_mask) {
			const struct frag_window *w = &set->windows[set->slots[s] - 1];
			if (memcmp(w->bytes, buf + i, FRAG_WINDOW) == 0) {
				hits[w->source]++;
				found++;
			}
		}
	}
	return found;
}

void
frag_set_free(struct frag_set *set)
{
	if (!set)
		return;
	if (set->windows)
		OPENSSL_cleanse(set->windows, set->n_windows * sizeof(*set->windows));
	free(set->windows);
	free(set->slots);
	free(set->sources);
	free(set);
}

/*
 * inspect_frag.h - fingerprints of private keys for keyward-inspect's memory scan.
 *
 * A fragment set holds 16-byte windows taken from the secret integers of private
 * keys only (RSA d, p, q, dP, dQ, qInv; the ECDSA private scalar; the raw
 * Ed25519/Ed448 private key), each big-endian (as in key files) and little-endian
 * (as OpenSSL's BIGNUM limbs lie in memory on a little-endian machine). Public
 * values (modulus, public exponent, public point) never enter the set, so a match
 * means secret key bytes. Windows are indexed by their first 8 bytes in an
 * open-addressing hash table, so one pass over a buffer finds every window in it.
 */
#ifndef KW_INSPECT_FRAG_H
#define KW_INSPECT_FRAG_H

#include <stddef.h>
#include <stdint.h>

/** Length of one fingerprint window, in bytes. */
#define FRAG_WINDOW 16

/** Where windows come from: one (key, component, byte order) triple. */
struct frag_source {
	size_t key;            /* index of the key, in the order keys were added */
	const char *component; /* "d", "p", "q", "dmp1", "dmq1", "iqmp", "priv", "raw" */
	const char *order;     /* "be", "le" or "raw" */
};

struct frag_set;

/** Creates an empty set. Returns NULL when out of memory. */
struct frag_set *frag_set_new(void);

/**
 * Reads the PEM private key at path and adds windows of its secret integers,
 * recording key as the key's index. Returns 0, or a negative code from err.h with
 * "key PATH: reason" in err (unreadable file, not a private key, unsupported type,
 * secret too short). Every copy of key material made here is cleansed.
 */
int frag_set_add_key(struct frag_set *set, const char *path, size_t key, char *err, size_t err_len);

/** Number of sources (key, component, order) in the set; sources are numbered from 0. */
size_t frag_set_sources(const struct frag_set *set);

/** The description of source i (< frag_set_sources()). */
const struct frag_source *frag_set_source(const struct frag_set *set, size_t i);

/** Number of windows in the set. */
size_t frag_set_windows(const struct frag_set *set);

/**
 * Finds every window occurring in buf[0..len) (at any byte offset) and adds one to
 * hits[source] per occurrence; hits has frag_set_sources() entries. Returns the
 * number of occurrences found.
 */
size_t frag_set_match(const struct frag_set *set, const uint8_t *buf, size_t len, size_t *hits);

/** Cleanses and frees the set. NULL is fine. */
void frag_set_free(struct frag_set *set);

#endif

/*
 * tt_conn_test.h - test helpers for toy-TLS connections: certificates and keys from
 * test/data, test chains made with libcrypto (root -> intermediate -> leaf), a
 * server identity with an in-process "signer", and a pump that moves wire bytes
 * between two connections in chunks. Only for unit tests; every failure is a
 * criterion assertion.
 */
#ifndef KW_TEST_TT_CONN_TEST_H
#define KW_TEST_TT_CONN_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "err.h"
#include "test_text.h"
#include "toytls.h"
#include "toytls_cert.h"
#include "toytls_conn.h"
#include "toytls_sign.h"
#include "toytls_wire.h"
#include "tt_vectors.h"

#define T_2026 ((time_t)1767225600) /* 2026-01-01: before the test leaf's notBefore */
#define T_2027 ((time_t)1798761600) /* 2027-01-01: inside every test certificate's validity */
#define T_2029 ((time_t)1861920000) /* 2029-01-01: after the test leaf's notAfter */

#define CERTS     TEST_DATA_DIR "/certs/"
#define REF_CERTS TEST_DATA_DIR "/reference-certs/"

static inline X509 *
test_load_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "cannot open %s", path);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	cr_assert_not_null(x, "no certificate in %s", path);
	return x;
}

static inline EVP_PKEY *
test_load_key(const char *path)
{
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "cannot open %s", path);
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	cr_assert_not_null(k, "no key in %s", path);
	return k;
}

/** DER of a certificate (caller frees with OPENSSL_free). */
static inline size_t
test_cert_der(X509 *x, uint8_t **der)
{
	*der = NULL;
	int n = i2d_X509(x, der);
	cr_assert_gt(n, 0);
	return (size_t)n;
}

/** Trust in the roots of one PEM file, as of `at` (0: now). */
static inline void
test_trust(struct tt_trust *t, const char *root_pem, time_t at)
{
	cr_assert_eq(tt_trust_load_file(t, root_pem), 0, "cannot load %s", root_pem);
	t->at = at;
}

/* ---- test chains made in memory ---- */

enum test_key_type { TEST_KEY_RSA, TEST_KEY_EC, TEST_KEY_ED25519 };

static inline EVP_PKEY *
test_keygen(enum test_key_type type)
{
	EVP_PKEY *k = NULL;
	switch (type) {
	case TEST_KEY_RSA:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		break;
	case TEST_KEY_EC:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case TEST_KEY_ED25519:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	}
	cr_assert_not_null(k);
	return k;
}

static inline void
test_add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	cr_assert_not_null(ext, "extension %d=%s", nid, value);
	cr_assert_eq(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/** What makes a test certificate: NULL extension values are left out. */
struct test_cert_spec {
	const char *cn;
	const char *basic_constraints;
	const char *key_usage;
	const char *ext_key_usage;
	const char *san;
	long not_before; /* seconds from now */
	long not_after;
};

/** Makes a certificate for key, signed by issuer_key (self-signed when issuer is NULL). */
static inline X509 *
test_make_cert(const struct test_cert_spec *spec, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key)
{
	static long serial = 1;
	X509 *x = X509_new();
	cr_assert_not_null(x);
	cr_assert_eq(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_NAME *name = X509_get_subject_name(x);
	cr_assert_eq(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	                                        (const unsigned char *)spec->cn, -1, -1, 0),
	             1);
	cr_assert_eq(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name), 1);
	cr_assert_not_null(X509_gmtime_adj(X509_getm_notBefore(x), spec->not_before));
	cr_assert_not_null(X509_gmtime_adj(X509_getm_notAfter(x), spec->not_after));
	cr_assert_eq(X509_set_pubkey(x, key), 1);
	X509 *ext_issuer = issuer ? issuer : x;
	test_add_ext(x, ext_issuer, NID_subject_key_identifier, "hash");
	test_add_ext(x, ext_issuer, NID_authority_key_identifier, "keyid:always");
	if (spec->basic_constraints)
		test_add_ext(x, ext_issuer, NID_basic_constraints, spec->basic_constraints);
	if (spec->key_usage)
		test_add_ext(x, ext_issuer, NID_key_usage, spec->key_usage);
	if (spec->ext_key_usage)
		test_add_ext(x, ext_issuer, NID_ext_key_usage, spec->ext_key_usage);
	if (spec->san)
		test_add_ext(x, ext_issuer, NID_subject_alt_name, spec->san);
	EVP_PKEY *signer = issuer_key ? issuer_key : key;
	const EVP_MD *md = EVP_PKEY_is_a(signer, "ED25519") ? NULL : EVP_sha256();
	cr_assert_gt(X509_sign(x, signer, md), 0);
	return x;
}

/** root -> intermediate -> leaf; the CAs have P-256 keys, the leaf a key of leaf_type. */
struct test_chain {
	EVP_PKEY *root_key, *inter_key, *leaf_key;
	X509 *root, *inter, *leaf;
};

#define TEST_CA_SPEC(name)                                                                         \
	{                                                                                          \
		.cn = name, .basic_constraints = "critical,CA:TRUE",                               \
		.key_usage = "critical,keyCertSign,cRLSign", .not_before = -3600,                  \
		.not_after = 86400L * 365,                                                         \
	}

#define TEST_LEAF_SPEC(name)                                                                       \
	{                                                                                          \
		.cn = name, .basic_constraints = "critical,CA:FALSE",                              \
		.key_usage = "critical,digitalSignature,keyEncipherment",                          \
		.ext_key_usage = "serverAuth", .san = "DNS:" name, .not_before = -3600,            \
		.not_after = 86400L * 30,                                                          \
	}

/** Makes a chain whose leaf follows leaf_spec. */
static inline void
test_chain_make(struct test_chain *ch, enum test_key_type leaf_type,
                const struct test_cert_spec *leaf_spec)
{
	const struct test_cert_spec root = TEST_CA_SPEC("Test Root");
	const struct test_cert_spec inter = TEST_CA_SPEC("Test Intermediate");
	ch->root_key = test_keygen(TEST_KEY_EC);
	ch->inter_key = test_keygen(TEST_KEY_EC);
	ch->leaf_key = test_keygen(leaf_type);
	ch->root = test_make_cert(&root, ch->root_key, NULL, NULL);
	ch->inter = test_make_cert(&inter, ch->inter_key, ch->root, ch->root_key);
	ch->leaf = test_make_cert(leaf_spec, ch->leaf_key, ch->inter, ch->inter_key);
}

static inline void
test_chain_free(struct test_chain *ch)
{
	X509_free(ch->leaf);
	X509_free(ch->inter);
	X509_free(ch->root);
	EVP_PKEY_free(ch->leaf_key);
	EVP_PKEY_free(ch->inter_key);
	EVP_PKEY_free(ch->root_key);
}

/** Trust in the chain's root only, as of now. */
static inline void
test_trust_chain(struct tt_trust *t, const struct test_chain *ch)
{
	t->store = X509_STORE_new();
	t->at = 0;
	cr_assert_not_null(t->store);
	cr_assert_eq(X509_STORE_add_cert(t->store, ch->root), 1);
}

/* ---- a server identity with its signing key in the test process ---- */

struct test_identity {
	struct tt_identity id;
	struct kw_buf fields; /* 0x0020 fields for id.cert_fields */
	EVP_PKEY *key;
	int selected;                          /* select_identity calls */
	bool saw_name;                         /* the last call had a server_name */
	char name[TT_MAX_SERVER_NAME_LEN + 1]; /* that name */
	bool refuse;                           /* select_identity returns NULL */
};

static inline void
test_identity_finish(struct test_identity *ti)
{
	ti->id.key_id = 7;
	ti->id.cert_fields = kw_buf_head(&ti->fields);
	ti->id.cert_fields_len = kw_buf_size(&ti->fields);
	cr_assert_eq(tt_scheme_for_key(ti->key, &ti->id.scheme), 0);
}

/** tt_identity_encode_chain() with the PEM texts of the files at these paths. */
static inline int
test_encode_chain_files(const char *cert_path, const char *const *chain_paths, size_t n,
                        struct kw_buf *out)
{
	char *texts[8] = {0};
	char *leaf = test_read_text(cert_path);
	int rc;

	cr_assert_leq(n, 8);
	for (size_t i = 0; i < n; i++)
		texts[i] = test_read_text(chain_paths[i]);
	rc = tt_identity_encode_chain(leaf, (const char *const *)texts, n, out);
	for (size_t i = 0; i < n; i++)
		free(texts[i]);
	free(leaf);
	return rc;
}

/** The RSA identity of test/data/certs (leaf for localhost and one intermediate). */
static inline void
test_identity_files(struct test_identity *ti)
{
	const char *chain[] = {CERTS "intermediate_cert.pem"};
	*ti = (struct test_identity){0};
	cr_assert_eq(test_encode_chain_files(CERTS "server_cert.pem", chain, 1, &ti->fields), 0);
	ti->key = test_load_key(CERTS "server_key.pem");
	test_identity_finish(ti);
}

/** An identity for a generated chain (the key is borrowed from ch). */
static inline void
test_identity_chain(struct test_identity *ti, const struct test_chain *ch)
{
	X509 *certs[] = {ch->leaf, ch->inter};
	*ti = (struct test_identity){0};
	for (size_t i = 0; i < 2; i++) {
		uint8_t *der;
		size_t n = test_cert_der(certs[i], &der);
		cr_assert_eq(tt_field_write(&ti->fields, TT_TAG_CERTIFICATE, der, n), 0);
		OPENSSL_free(der);
	}
	ti->key = ch->leaf_key;
	cr_assert_eq(EVP_PKEY_up_ref(ti->key), 1);
	test_identity_finish(ti);
}

static inline void
test_identity_dispose(struct test_identity *ti)
{
	kw_buf_free(&ti->fields);
	EVP_PKEY_free(ti->key);
}

static inline const struct tt_identity *
test_select_identity(void *arg, const char *server_name)
{
	struct test_identity *ti = arg;
	ti->selected++;
	ti->saw_name = server_name != NULL;
	if (server_name != NULL)
		snprintf(ti->name, sizeof(ti->name), "%s", server_name);
	return ti->refuse ? NULL : &ti->id;
}

static inline struct tt_server_params
test_server_params(struct test_identity *ti)
{
	return (struct tt_server_params){
	    .select_identity = test_select_identity,
	    .select_arg = ti,
	};
}

/** Signs the server's pending request with the identity key, as the signer would. */
static inline void
test_sign(struct tt_conn *server, EVP_PKEY *key)
{
	struct tt_sign_request req;
	uint8_t sig[TT_MAX_SIGNATURE_LEN];
	size_t sig_len;
	cr_assert(tt_conn_sign_request(server, &req));
	cr_assert_eq(tt_sign(key, req.client_pub, req.server_pub, sig, &sig_len), 0);
	cr_assert_eq(tt_conn_supply_signature(server, sig, sig_len), 0);
}

/**
 * Moves every wire byte of `from` into `to`, chunk bytes per feed (0: all at once).
 * Returns the first error of a feed, or 0.
 */
static inline int
test_pump(struct tt_conn *from, struct tt_conn *to, size_t chunk)
{
	struct kw_buf *w = tt_conn_wire(from);
	while (kw_buf_size(w) > 0) {
		size_t n = kw_buf_size(w);
		if (chunk != 0 && n > chunk)
			n = chunk;
		int err = tt_conn_feed(to, kw_buf_head(w), n);
		kw_buf_consume(w, n);
		if (err)
			return err;
	}
	return 0;
}

/** Runs a whole handshake between client and server, chunk bytes per feed. */
static inline void
test_handshake(struct tt_conn *client, struct tt_conn *server, EVP_PKEY *key, size_t chunk)
{
	cr_assert_eq(test_pump(client, server, chunk), 0, "ClientHello: %s",
	             kw_strerror(tt_conn_error(server)));
	cr_assert_eq(tt_conn_state(server), TT_WAIT_SIGNATURE);
	test_sign(server, key);
	cr_assert_eq(tt_conn_state(server), TT_ESTABLISHED);
	cr_assert_eq(test_pump(server, client, chunk), 0, "ServerAuth: %s (%s)",
	             kw_strerror(tt_conn_error(client)),
	             tt_conn_error_detail(client) ? tt_conn_error_detail(client) : "");
	cr_assert_eq(tt_conn_state(client), TT_ESTABLISHED);
}

/** A nonce source that always returns the 12 bytes at arg (to reproduce the vectors). */
static inline int
test_fixed_nonce(void *arg, uint8_t nonce[12])
{
	memcpy(nonce, arg, TT_NONCE_LEN);
	return 0;
}

/** Asserts that c failed with err and refuses everything afterwards. */
static inline void
test_assert_dead(struct tt_conn *c, int err)
{
	static const uint8_t byte = 0;
	cr_assert_eq(tt_conn_state(c), TT_FAILED);
	cr_assert_eq(tt_conn_error(c), err, "error %d (%s), expected %d (%s)", tt_conn_error(c),
	             kw_strerror(tt_conn_error(c)), err, kw_strerror(err));
	cr_assert_eq(tt_conn_feed(c, &byte, 1), KW_ERR_STATE);
	cr_assert_eq(tt_conn_protect(c, &byte, 1), KW_ERR_STATE);
	cr_assert_eq(tt_conn_supply_signature(c, &byte, 1), KW_ERR_STATE);
	cr_assert_not(tt_conn_sign_request(c, &(struct tt_sign_request){0}));
	cr_assert_eq(tt_conn_state(c), TT_FAILED);
	cr_assert_eq(tt_conn_error(c), err);
}

#endif

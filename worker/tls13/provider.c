/*
 * provider.c - the keyward provider: public-only keys with a key id, and a signature
 * algorithm that checks what libssl asks and hands the signing to the signer.
 *
 * A key (struct kw_key) keeps a copy of the public key in the default provider, to
 * which it delegates every parameter libssl reads (bits, security bits, maximum
 * signature size, EC group). The provider is a built-in one: its code is this file,
 * registered with OSSL_PROVIDER_add_builtin(), and the signing function it calls is
 * kept in one process-wide variable set once by tls13_provider_load().
 */
#include "provider.h"

#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>

#include "err.h"
#include "log.h"
#include "tls13_cv.h"

#define PROVIDER_NAME  "keyward"
#define PROVIDER_QUERY "provider=keyward"
#define PARAM_KEY_ID   "keyward-key-id"
#define MD_NAME_MAX    32

static tls13_sign_fn sign_fn;
static OSSL_PROVIDER *keyward_prov, *default_prov;

/* The digests of TLS 1.3 signatures, SHA-256 first (ECDSA P-256's), with RSA-PSS's scheme. */
#define DIGESTS 3
static struct {
	const char *name;
	uint16_t pss_scheme;
	EVP_MD *md; /* fetched by tls13_provider_load() */
} digests[DIGESTS] = {
    {"SHA256", TLS13_RSA_PSS_RSAE_SHA256, NULL},
    {"SHA384", TLS13_RSA_PSS_RSAE_SHA384, NULL},
    {"SHA512", TLS13_RSA_PSS_RSAE_SHA512, NULL},
};

struct kw_key {
	const char *type; /* "RSA", "EC", "ED25519" */
	enum tt_scheme kind;
	EVP_PKEY *pub; /* in the default provider */
	uint32_t key_id;
	bool has_id;
};

struct kw_sigctx {
	struct kw_key *key;
	char md[MD_NAME_MAX]; /* "" for pure Ed25519 */
	bool pss;             /* RSA-PSS padding asked for */
	bool salt_is_digest;  /* salt as long as the digest */
	char mgf1[MD_NAME_MAX];
};

/* Key management. */

static void *
key_new(const char *type)
{
	struct kw_key *k = OPENSSL_zalloc(sizeof(*k));
	if (k != NULL)
		k->type = type;
	return k;
}

static void *
rsa_new(void *provctx)
{
	return key_new("RSA");
}

static void *
ec_new(void *provctx)
{
	return key_new("EC");
}

static void *
ed25519_new(void *provctx)
{
	return key_new("ED25519");
}

static void
key_free(void *vkey)
{
	struct kw_key *k = vkey;
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pub);
	OPENSSL_free(k);
}

static int
key_has(const void *vkey, int selection)
{
	const struct kw_key *k = vkey;
	/* the private half exists, in the signer: libssl may sign with this key */
	return k != NULL && k->pub != NULL && k->has_id;
}

static int
key_match(const void *va, const void *vb, int selection)
{
	const struct kw_key *a = va, *b = vb;
	return a->pub != NULL && b->pub != NULL && EVP_PKEY_eq(a->pub, b->pub) == 1;
}

/* Imports the public half of params (private parts are never taken) and the key id. */
static int
key_import(void *vkey, int selection, const OSSL_PARAM params[])
{
	struct kw_key *k = vkey;
	EVP_PKEY *pub = NULL;
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, k->type, "provider=default");
	const OSSL_PARAM *id = OSSL_PARAM_locate_const(params, PARAM_KEY_ID);
	int ok = pctx != NULL && EVP_PKEY_fromdata_init(pctx) == 1 &&
	         EVP_PKEY_fromdata(pctx, &pub, EVP_PKEY_PUBLIC_KEY, (OSSL_PARAM *)params) == 1 &&
	         tt_scheme_for_key(pub, &k->kind) == 0;

	EVP_PKEY_CTX_free(pctx);
	if (!ok) {
		EVP_PKEY_free(pub);
		return 0;
	}
	if (id != NULL) {
		if (OSSL_PARAM_get_uint32(id, &k->key_id) != 1) {
			EVP_PKEY_free(pub);
			return 0;
		}
		k->has_id = true;
	}
	EVP_PKEY_free(k->pub);
	k->pub = pub;
	return 1;
}

static const OSSL_PARAM *
key_import_types(int selection)
{
	static const OSSL_PARAM types[] = {
	    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
	    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
	    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	    OSSL_PARAM_uint32(PARAM_KEY_ID, NULL),
	    OSSL_PARAM_END,
	};
	return types;
}

/* Exports the public half only: a selection asking for a private part is refused. */
static int
key_export(void *vkey, int selection, OSSL_CALLBACK *cb, void *cbarg)
{
	struct kw_key *k = vkey;
	OSSL_PARAM *params = NULL;

	if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 || k->pub == NULL ||
	    EVP_PKEY_todata(k->pub, EVP_PKEY_PUBLIC_KEY, &params) != 1)
		return 0;
	int ok = cb(params, cbarg);
	OSSL_PARAM_free(params);
	return ok;
}

static int
key_get_params(void *vkey, OSSL_PARAM params[])
{
	struct kw_key *k = vkey;
	return k->pub != NULL && EVP_PKEY_get_params(k->pub, params) == 1;
}

static const OSSL_PARAM *
key_gettable_params(void *provctx)
{
	static const OSSL_PARAM gettable[] = {
	    OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
	    OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
	    OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
	    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
	    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
	    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_MANDATORY_DIGEST, NULL, 0),
	    OSSL_PARAM_END,
	};
	return gettable;
}

static const char *
key_query_operation_name(int operation_id)
{
	return operation_id == OSSL_OP_SIGNATURE ? TLS13_PROVIDER_SIGNATURE : NULL;
}

#define KEYMGMT_DISPATCH(prefix)                                                                   \
	static const OSSL_DISPATCH prefix##_keymgmt[] = {                                          \
	    {OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))prefix##_new},                                 \
	    {OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))key_free},                                    \
	    {OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))key_has},                                      \
	    {OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))key_match},                                  \
	    {OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))key_import},                                \
	    {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))key_import_types},                    \
	    {OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))key_export},                                \
	    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))key_import_types},                    \
	    {OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))key_get_params},                        \
	    {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))key_gettable_params},              \
	    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))key_query_operation_name},    \
	    {0, NULL},                                                                             \
	}

KEYMGMT_DISPATCH(rsa);
KEYMGMT_DISPATCH(ec);
KEYMGMT_DISPATCH(ed25519);

/* Signature. */

static void *
sig_newctx(void *provctx, const char *propq)
{
	return OPENSSL_zalloc(sizeof(struct kw_sigctx));
}

static void
sig_freectx(void *vctx)
{
	OPENSSL_free(vctx);
}

static void *
sig_dupctx(void *vctx)
{
	struct kw_sigctx *dup = OPENSSL_malloc(sizeof(*dup));
	if (dup != NULL)
		*dup = *(struct kw_sigctx *)vctx;
	return dup;
}

static int
copy_name(char out[MD_NAME_MAX], const char *name)
{
	if (name == NULL)
		name = "";
	if (strlen(name) >= MD_NAME_MAX)
		return 0;
	strcpy(out, name);
	return 1;
}

static int
sig_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
	struct kw_sigctx *c = vctx;
	const OSSL_PARAM *p;

	if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE)) != NULL) {
		int mode = 0;
		if (p->data_type == OSSL_PARAM_UTF8_STRING)
			c->pss = strcmp(p->data, OSSL_PKEY_RSA_PAD_MODE_PSS) == 0;
		else if (OSSL_PARAM_get_int(p, &mode) == 1)
			c->pss = mode == RSA_PKCS1_PSS_PADDING;
		else
			return 0;
	}
	if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN)) != NULL) {
		int len = 0;
		if (p->data_type == OSSL_PARAM_UTF8_STRING)
			c->salt_is_digest = strcmp(p->data, OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST) == 0;
		else if (OSSL_PARAM_get_int(p, &len) == 1)
			c->salt_is_digest = len == RSA_PSS_SALTLEN_DIGEST;
		else
			return 0;
	}
	if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST)) != NULL &&
	    (p->data_type != OSSL_PARAM_UTF8_STRING || !copy_name(c->mgf1, p->data)))
		return 0;
	return 1;
}

static const OSSL_PARAM *
sig_settable_ctx_params(void *vctx, void *provctx)
{
	static const OSSL_PARAM settable[] = {
	    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
	    OSSL_PARAM_int(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL),
	    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
	    OSSL_PARAM_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL),
	    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
	    OSSL_PARAM_END,
	};
	return settable;
}

/* Starts a signature: no I/O here, libssl also calls it while it chooses algorithms. */
static int
sig_digest_sign_init(void *vctx, const char *mdname, void *vkey, const OSSL_PARAM params[])
{
	struct kw_sigctx *c = vctx;

	*c = (struct kw_sigctx){.key = vkey};
	if (c->key == NULL || !copy_name(c->md, mdname))
		return 0;
	return sig_set_ctx_params(c, params);
}

/*
 * The index in digests[] of the digest called name ("SHA256" and "SHA2-256" alike), or
 * -1 when it is none of them. The digests are fetched once, when the provider loads:
 * a name is looked up, not fetched, for each signature.
 */
static int
digest_index(const char *name)
{
	for (int i = 0; i < DIGESTS; i++)
		if (EVP_MD_is_a(digests[i].md, name))
			return i;
	return -1;
}

/* The TLS 1.3 scheme this signature would be, or 0 when it is none a key signs with. */
static uint16_t
sig_scheme(const struct kw_sigctx *c)
{
	int d;

	switch (c->key->kind) {
	case TT_SCHEME_ED25519:
		return c->md[0] == '\0' ? TLS13_ED25519 : 0;
	case TT_SCHEME_ECDSA_P256_SHA256:
		return c->md[0] != '\0' && digest_index(c->md) == 0 ? TLS13_ECDSA_SECP256R1_SHA256
		                                                    : 0;
	case TT_SCHEME_RSA_PSS_SHA256:
		if (!c->pss || !c->salt_is_digest || c->md[0] == '\0' ||
		    (d = digest_index(c->md)) < 0 ||
		    (c->mgf1[0] != '\0' && digest_index(c->mgf1) != d))
			return 0;
		return digests[d].pss_scheme;
	}
	return 0;
}

static int
sig_digest_sign(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize,
                const unsigned char *tbs, size_t tbslen)
{
	struct kw_sigctx *c = vctx;
	struct sp_sign_request req = {.kind = SP_KIND_TLS13_CV, .key_id = c->key->key_id};
	const uint8_t *hash;
	size_t hash_len, len = 0;
	uint8_t out[TT_MAX_SIGNATURE_LEN];

	if (!c->key->has_id)
		return 0;
	if (sig == NULL) {
		*siglen = (size_t)EVP_PKEY_get_size(c->key->pub);
		return 1;
	}
	req.tls13.scheme = sig_scheme(c);
	if (req.tls13.scheme == 0 || !tls13_scheme_fits(req.tls13.scheme, c->key->kind) ||
	    tls13_cv_parse(tbs, tbslen, &hash, &hash_len) != 0) {
		kw_log_info("tls13 provider: refusing to ask for a signature (key %u, %s%s%s, "
		            "%zu bytes of content)",
		            (unsigned)c->key->key_id, c->key->type, c->md[0] ? "/" : "", c->md,
		            tbslen);
		return 0;
	}
	req.tls13.hash_len = (uint16_t)hash_len;
	memcpy(req.tls13.hash, hash, hash_len);
	if (sign_fn(&req, out, &len) != 0 || len > sigsize)
		return 0;
	memcpy(sig, out, len);
	*siglen = len;
	return 1;
}

static const OSSL_DISPATCH tls13_signature[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))sig_newctx},
    {OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))sig_freectx},
    {OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))sig_dupctx},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, (void (*)(void))sig_digest_sign_init},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN, (void (*)(void))sig_digest_sign},
    {OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*)(void))sig_set_ctx_params},
    {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, (void (*)(void))sig_settable_ctx_params},
    {0, NULL},
};

/* The provider. */

static const OSSL_ALGORITHM keymgmt_algs[] = {
    {"RSA:rsaEncryption:1.2.840.113549.1.1.1", PROVIDER_QUERY, rsa_keymgmt, NULL},
    {"EC:id-ecPublicKey:1.2.840.10045.2.1", PROVIDER_QUERY, ec_keymgmt, NULL},
    {"ED25519:1.3.101.112", PROVIDER_QUERY, ed25519_keymgmt, NULL},
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM signature_algs[] = {
    {TLS13_PROVIDER_SIGNATURE, PROVIDER_QUERY, tls13_signature, NULL},
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM *
prov_query(void *provctx, int operation_id, int *no_cache)
{
	*no_cache = 0;
	switch (operation_id) {
	case OSSL_OP_KEYMGMT:
		return keymgmt_algs;
	case OSSL_OP_SIGNATURE:
		return signature_algs;
	}
	return NULL;
}

static const OSSL_DISPATCH prov_dispatch[] = {
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))prov_query},
    {0, NULL},
};

static int
prov_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in, const OSSL_DISPATCH **out,
          void **provctx)
{
	*out = prov_dispatch;
	*provctx = NULL;
	return 1;
}

int
tls13_provider_load(tls13_sign_fn sign)
{
	sign_fn = sign;
	if (OSSL_PROVIDER_add_builtin(NULL, PROVIDER_NAME, prov_init) != 1 ||
	    (default_prov = OSSL_PROVIDER_load(NULL, "default")) == NULL ||
	    (keyward_prov = OSSL_PROVIDER_load(NULL, PROVIDER_NAME)) == NULL ||
	    EVP_set_default_properties(NULL, "?provider=default") != 1)
		goto fail;
	for (int i = 0; i < DIGESTS; i++)
		if ((digests[i].md = EVP_MD_fetch(NULL, digests[i].name, NULL)) == NULL)
			goto fail;
	return 0;
fail:
	kw_log_err("tls13_provider_load: %s", ERR_reason_error_string(ERR_peek_error()));
	ERR_clear_error();
	tls13_provider_unload();
	return KW_ERR_INTERNAL;
}

void
tls13_provider_unload(void)
{
	for (int i = 0; i < DIGESTS; i++) {
		EVP_MD_free(digests[i].md);
		digests[i].md = NULL;
	}
	if (keyward_prov != NULL)
		OSSL_PROVIDER_unload(keyward_prov);
	if (default_prov != NULL)
		OSSL_PROVIDER_unload(default_prov);
	keyward_prov = default_prov = NULL;
}

EVP_PKEY *
tls13_provider_key(X509 *cert, uint32_t key_id)
{
	EVP_PKEY *pub = X509_get0_pubkey(cert), *key = NULL;
	OSSL_PARAM *pub_params = NULL, *all = NULL;
	OSSL_PARAM id[] = {OSSL_PARAM_uint32(PARAM_KEY_ID, &key_id), OSSL_PARAM_END};
	enum tt_scheme kind;
	EVP_PKEY_CTX *pctx = NULL;

	if (pub == NULL || tt_scheme_for_key(pub, &kind) != 0 ||
	    EVP_PKEY_todata(pub, EVP_PKEY_PUBLIC_KEY, &pub_params) != 1 ||
	    (all = OSSL_PARAM_merge(pub_params, id)) == NULL)
		goto out;
	pctx = EVP_PKEY_CTX_new_from_name(NULL, EVP_PKEY_get0_type_name(pub), PROVIDER_QUERY);
	if (pctx == NULL || EVP_PKEY_fromdata_init(pctx) != 1 ||
	    EVP_PKEY_fromdata(pctx, &key, EVP_PKEY_PUBLIC_KEY, all) != 1)
		key = NULL;
out:
	ERR_clear_error();
	EVP_PKEY_CTX_free(pctx);
	OSSL_PARAM_free(all);
	OSSL_PARAM_free(pub_params);
	return key;
}

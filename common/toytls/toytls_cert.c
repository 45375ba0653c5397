#include "toytls_cert.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "err.h"
#include "toytls.h"
#include "toytls_wire.h"

int
tt_trust_load_file(struct tt_trust *trust, const char *pem_path)
{
	*trust = (struct tt_trust){0};
	X509_STORE *store = X509_STORE_new();
	if (store == NULL)
		return KW_ERR_NOMEM;
	if (X509_STORE_load_file(store, pem_path) != 1) {
		X509_STORE_free(store);
		ERR_clear_error();
		return KW_ERR_ARGUMENT;
	}
	trust->store = store;
	return 0;
}

void
tt_trust_dispose(struct tt_trust *trust)
{
	X509_STORE_free(trust->store);
	trust->store = NULL;
}

static int
cert_error(int x509_err)
{
	switch (x509_err) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_UNTRUSTED:
		return KW_ERR_CERT_UNTRUSTED;
	case X509_V_ERR_CERT_NOT_YET_VALID:
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return KW_ERR_CERT_EXPIRED;
	case X509_V_ERR_HOSTNAME_MISMATCH:
		return KW_ERR_CERT_NAME;
	case X509_V_OK:
		return KW_ERR_INTERNAL;
	default:
		return KW_ERR_CERT_INVALID;
	}
}

static int
parse_cert(const uint8_t *der, size_t len, X509 **out, const char **detail)
{
	const uint8_t *p = der;
	X509 *x = len <= LONG_MAX ? d2i_X509(NULL, &p, (long)len) : NULL;
	if (x != NULL && p == der + len) {
		*out = x;
		return 0;
	}
	X509_free(x);
	if (detail != NULL) {
		const char *reason = ERR_reason_error_string(ERR_peek_last_error());
		*detail = reason != NULL ? reason : "trailing bytes after the certificate";
	}
	ERR_clear_error();
	return KW_ERR_CERT_PARSE;
}

static int
leaf_public_key(X509 *leaf, EVP_PKEY **key)
{
	*key = X509_get_pubkey(leaf);
	if (*key != NULL)
		return 0;
	ERR_clear_error();
	return KW_ERR_UNSUPPORTED_KEY;
}

int
tt_cert_public_key(const uint8_t *der, size_t len, EVP_PKEY **key)
{
	X509 *x = NULL;
	*key = NULL;
	int err = parse_cert(der, len, &x, NULL);
	if (err == 0)
		err = leaf_public_key(x, key);
	X509_free(x);
	return err;
}

int
tt_leaf_cache_key(struct tt_leaf_cache *cache, const uint8_t *der, size_t len, EVP_PKEY **key)
{
	if (cache->key != NULL && cache->len == len && memcmp(cache->der, der, len) == 0) {
		if (EVP_PKEY_up_ref(cache->key) != 1) {
			*key = NULL;
			return KW_ERR_INTERNAL;
		}
		*key = cache->key;
		return 0;
	}
	int err = tt_cert_public_key(der, len, key);
	if (err)
		return err;
	uint8_t *copy = malloc(len);
	if (copy == NULL || EVP_PKEY_up_ref(*key) != 1) {
		free(copy);
		return 0; /* the key is good; only caching it failed */
	}
	memcpy(copy, der, len);
	tt_leaf_cache_dispose(cache);
	*cache = (struct tt_leaf_cache){.der = copy, .len = len, .key = *key};
	return 0;
}

void
tt_leaf_cache_dispose(struct tt_leaf_cache *cache)
{
	EVP_PKEY_free(cache->key);
	free(cache->der);
	*cache = (struct tt_leaf_cache){0};
}

int
tt_verify_chain(const struct tt_trust *trust, const char *dns_name, const uint8_t *const *certs,
                const size_t *cert_lens, size_t n_certs, EVP_PKEY **leaf_key, const char **detail)
{
	X509 *leaf = NULL;
	STACK_OF(X509) *untrusted = NULL;
	X509_STORE_CTX *ctx = NULL;
	int err;

	*leaf_key = NULL;
	if (detail != NULL)
		*detail = NULL;
	if (trust == NULL || trust->store == NULL || dns_name == NULL || n_certs == 0)
		return KW_ERR_ARGUMENT;

	err = parse_cert(certs[0], cert_lens[0], &leaf, detail);
	if (err)
		goto done;
	err = KW_ERR_NOMEM;
	untrusted = sk_X509_new_null();
	if (untrusted == NULL)
		goto done;
	for (size_t i = 1; i < n_certs; i++) {
		X509 *x;
		err = parse_cert(certs[i], cert_lens[i], &x, detail);
		if (err)
			goto done;
		if (sk_X509_push(untrusted, x) <= 0) {
			X509_free(x);
			err = KW_ERR_NOMEM;
			goto done;
		}
	}

	err = KW_ERR_INTERNAL;
	ctx = X509_STORE_CTX_new();
	if (ctx == NULL || X509_STORE_CTX_init(ctx, trust->store, leaf, untrusted) != 1 ||
	    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER) != 1)
		goto done;
	X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (X509_VERIFY_PARAM_set1_host(param, dns_name, 0) != 1)
		goto done;
	if (trust->at != 0)
		X509_VERIFY_PARAM_set_time(param, trust->at);

	if (X509_verify_cert(ctx) != 1) {
		int x509_err = X509_STORE_CTX_get_error(ctx);
		err = cert_error(x509_err);
		if (detail != NULL)
			*detail = X509_verify_cert_error_string(x509_err);
		goto done;
	}
	err = leaf_public_key(leaf, leaf_key);

done:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	sk_X509_pop_free(untrusted, X509_free);
	X509_free(leaf);
	return err;
}

static int
append_pem_cert(struct kw_buf *out, const char *pem)
{
	BIO *bio = pem != NULL ? BIO_new_mem_buf(pem, -1) : NULL;
	X509 *x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	uint8_t *der = NULL;
	int der_len = x != NULL ? i2d_X509(x, &der) : -1;
	int err = der_len > 0 ? tt_field_write(out, TT_TAG_CERTIFICATE, der, (size_t)der_len)
	                      : KW_ERR_ARGUMENT;
	OPENSSL_free(der);
	X509_free(x);
	BIO_free(bio);
	ERR_clear_error();
	return err;
}

int
tt_identity_encode_chain(const char *cert_pem, const char *const *chain_pems, size_t n,
                         struct kw_buf *out)
{
	size_t had = kw_buf_size(out);
	int err = append_pem_cert(out, cert_pem);
	for (size_t i = 0; err == 0 && i < n; i++)
		err = append_pem_cert(out, chain_pems[i]);
	if (err)
		out->len = out->off + had;
	return err;
}

#include "toytls_keys.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "err.h"

#define SHA256_LEN 32u

static CRYPTO_ONCE hkdf_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_KDF *hkdf;

static void
hkdf_fetch(void)
{
	hkdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
}

static int
x25519_fill_pub(struct tt_x25519 *kp)
{
	size_t len = TT_X25519_LEN;
	if (EVP_PKEY_get_raw_public_key(kp->pkey, kp->pub, &len) != 1 || len != TT_X25519_LEN)
		return KW_ERR_INTERNAL;
	return 0;
}

/*
 * An X25519 context prepared by init: EVP_PKEY_keygen_init to generate key pairs,
 * EVP_PKEY_fromdata_init to build them from private keys. NULL on failure.
 */
static EVP_PKEY_CTX *
x25519_ctx(int (*init)(EVP_PKEY_CTX *))
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "X25519", NULL);
	if (ctx != NULL && init(ctx) != 1) {
		EVP_PKEY_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

/* The next private key of kex's pool, refilled by one DRBG call when it is empty. */
static uint8_t *
kex_take_private(struct tt_kex *kex)
{
	if (kex->left == 0) {
		if (RAND_priv_bytes(kex->priv, sizeof(kex->priv)) != 1)
			return NULL;
		kex->left = TT_KEX_POOL_KEYS;
	}
	return kex->priv + TT_X25519_LEN * (TT_KEX_POOL_KEYS - kex->left--);
}

/* A key pair from kex's next private key, which is cleansed from the pool once taken. */
static int
x25519_from_pool(struct tt_kex *kex, struct tt_x25519 *kp)
{
	uint8_t *priv = kex_take_private(kex);
	if (priv == NULL)
		return KW_ERR_INTERNAL;
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, priv, TT_X25519_LEN),
	    OSSL_PARAM_construct_end()};
	int ok = EVP_PKEY_fromdata(kex->gen, &kp->pkey, EVP_PKEY_KEYPAIR, params);
	OPENSSL_cleanse(priv, TT_X25519_LEN);
	return ok == 1 ? x25519_fill_pub(kp) : KW_ERR_INTERNAL;
}

int
tt_x25519_generate_kex(struct tt_kex *kex, struct tt_x25519 *kp)
{
	int err = KW_ERR_INTERNAL;

	*kp = (struct tt_x25519){0};
	if (kex != NULL) {
		err = x25519_from_pool(kex, kp);
	} else {
		EVP_PKEY_CTX *ctx = x25519_ctx(EVP_PKEY_keygen_init);
		if (ctx != NULL && EVP_PKEY_keygen(ctx, &kp->pkey) == 1)
			err = x25519_fill_pub(kp);
		EVP_PKEY_CTX_free(ctx);
	}
	if (err)
		tt_x25519_dispose(kp);
	return err;
}

int
tt_x25519_generate(struct tt_x25519 *kp)
{
	return tt_x25519_generate_kex(NULL, kp);
}

int
tt_x25519_from_private(struct tt_x25519 *kp, const uint8_t priv[TT_X25519_LEN])
{
	*kp = (struct tt_x25519){0};
	kp->pkey = EVP_PKEY_new_raw_private_key_ex(NULL, "X25519", NULL, priv, TT_X25519_LEN);
	if (kp->pkey == NULL)
		return KW_ERR_INTERNAL;
	int err = x25519_fill_pub(kp);
	if (err)
		tt_x25519_dispose(kp);
	return err;
}

static int
all_zero(const uint8_t *p, size_t len)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < len; i++)
		acc |= p[i];
	return acc == 0;
}

/* The peer's public key as a key object: kex's, updated, or a new one (kex NULL). */
static EVP_PKEY *
peer_key(struct tt_kex *kex, const uint8_t peer[TT_X25519_LEN])
{
	if (kex == NULL)
		return EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, peer, TT_X25519_LEN);
	return EVP_PKEY_set1_encoded_public_key(kex->peer, peer, TT_X25519_LEN) == 1 ? kex->peer
	                                                                             : NULL;
}

/*
 * The peer key is not validated by libcrypto (an X25519 public key is any 32 bytes):
 * a low-order key gives an all-zero secret, which the derivation itself refuses.
 */
int
tt_x25519_derive_kex(struct tt_kex *kex, const struct tt_x25519 *kp,
                     const uint8_t peer[TT_X25519_LEN], uint8_t shared[TT_X25519_LEN])
{
	int err = KW_ERR_INTERNAL;
	EVP_PKEY_CTX *ctx = NULL;

	EVP_PKEY *pk = peer_key(kex, peer);
	if (pk == NULL)
		goto out;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, kp->pkey, NULL);
	if (ctx == NULL || EVP_PKEY_derive_init(ctx) != 1)
		goto out;
	size_t len = TT_X25519_LEN;
	if (EVP_PKEY_derive_set_peer_ex(ctx, pk, 0) != 1 ||
	    EVP_PKEY_derive(ctx, shared, &len) != 1 || len != TT_X25519_LEN ||
	    all_zero(shared, TT_X25519_LEN)) {
		ERR_clear_error();
		err = KW_ERR_KEY_SHARE_INVALID;
		goto out;
	}
	err = 0;
out:
	if (err)
		OPENSSL_cleanse(shared, TT_X25519_LEN);
	EVP_PKEY_CTX_free(ctx);
	if (kex == NULL)
		EVP_PKEY_free(pk);
	return err;
}

int
tt_x25519_derive(const struct tt_x25519 *kp, const uint8_t peer[TT_X25519_LEN],
                 uint8_t shared[TT_X25519_LEN])
{
	return tt_x25519_derive_kex(NULL, kp, peer, shared);
}

void
tt_x25519_dispose(struct tt_x25519 *kp)
{
	EVP_PKEY_free(kp->pkey);
	*kp = (struct tt_x25519){0};
}

/* An HKDF context of libcrypto's. NULL on failure. */
static EVP_KDF_CTX *
hkdf_ctx(void)
{
	if (!CRYPTO_THREAD_run_once(&hkdf_once, hkdf_fetch) || hkdf == NULL)
		return NULL;
	return EVP_KDF_CTX_new(hkdf);
}

/*
 * One HKDF-SHA256 step (extract, or expand with info) into out. The digest is named in
 * the extract step only: the context keeps it for the expand steps that follow (one
 * digest fetch per key schedule instead of three). Returns 0 or KW_ERR_INTERNAL.
 */
static int
hkdf_step(EVP_KDF_CTX *k, int mode, const uint8_t *key, size_t key_len, const char *info,
          uint8_t out[SHA256_LEN])
{
	OSSL_PARAM params[5], *p = params;

	if (mode == EVP_KDF_HKDF_MODE_EXTRACT_ONLY)
		*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, key_len);
	if (info != NULL)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info,
		                                         strlen(info));
	*p = OSSL_PARAM_construct_end();
	return EVP_KDF_derive(k, out, SHA256_LEN, params) == 1 ? 0 : KW_ERR_INTERNAL;
}

/*
 * HKDF-SHA256 (RFC 5869) without salt, with libcrypto's HKDF: the PRK is extracted once
 * for both keys, then each key is expanded from it with its label (L = 32).
 */
int
tt_derive_keys_kex(struct tt_kex *kex, const uint8_t shared[TT_X25519_LEN], struct tt_keys *keys)
{
	uint8_t prk[SHA256_LEN];
	int err = KW_ERR_INTERNAL;
	EVP_KDF_CTX *k = kex != NULL ? kex->hkdf : hkdf_ctx();

	if (k == NULL)
		goto out;
	err = hkdf_step(k, EVP_KDF_HKDF_MODE_EXTRACT_ONLY, shared, TT_X25519_LEN, NULL, prk);
	if (err == 0)
		err = hkdf_step(k, EVP_KDF_HKDF_MODE_EXPAND_ONLY, prk, sizeof(prk),
		                TT_LABEL_CLIENT_KEY, keys->client_write);
	if (err == 0)
		err = hkdf_step(k, EVP_KDF_HKDF_MODE_EXPAND_ONLY, prk, sizeof(prk),
		                TT_LABEL_SERVER_KEY, keys->server_write);
out:
	OPENSSL_cleanse(prk, sizeof(prk));
	if (kex != NULL)
		EVP_KDF_CTX_reset(k);
	else
		EVP_KDF_CTX_free(k);
	if (err)
		tt_keys_dispose(keys);
	return err;
}

int
tt_derive_keys(const uint8_t shared[TT_X25519_LEN], struct tt_keys *keys)
{
	return tt_derive_keys_kex(NULL, shared, keys);
}

int
tt_kex_init(struct tt_kex *kex)
{
	static const uint8_t base_point[TT_X25519_LEN] = {9};

	kex->left = 0; /* the pool is filled on first use */
	kex->gen = x25519_ctx(EVP_PKEY_fromdata_init);
	kex->peer =
	    EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, base_point, sizeof(base_point));
	kex->hkdf = hkdf_ctx();
	if (kex->gen == NULL || kex->peer == NULL || kex->hkdf == NULL) {
		tt_kex_dispose(kex);
		return KW_ERR_INTERNAL;
	}
	return 0;
}

void
tt_kex_dispose(struct tt_kex *kex)
{
	EVP_PKEY_CTX_free(kex->gen);
	EVP_PKEY_free(kex->peer);
	EVP_KDF_CTX_free(kex->hkdf);
	OPENSSL_cleanse(kex, sizeof(*kex)); /* the private keys not taken */
}

void
tt_keys_dispose(struct tt_keys *keys)
{
	OPENSSL_cleanse(keys, sizeof(*keys));
}

/* Small-order points of Curve25519 in little-endian u-coordinates, top bit clear. */
static const uint8_t low_order_points[][TT_X25519_LEN] = {
    {0},
    {1},
    {0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3,
     0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32,
     0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00},
    {0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1,
     0x55, 0x9c, 0x83, 0xef, 0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c,
     0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57},
    {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
    {0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
    {0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
};

bool
tt_x25519_is_low_order(const uint8_t pub[TT_X25519_LEN])
{
	for (size_t i = 0; i < sizeof(low_order_points) / sizeof(low_order_points[0]); i++) {
		const uint8_t *q = low_order_points[i];

		if (memcmp(pub, q, TT_X25519_LEN - 1) == 0 &&
		    (pub[TT_X25519_LEN - 1] & 0x7f) == q[TT_X25519_LEN - 1])
			return true;
	}
	return false;
}

#include "toytls_keys.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>

#include "err.h"

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

int
tt_x25519_generate(struct tt_x25519 *kp)
{
	int err = KW_ERR_INTERNAL;

	*kp = (struct tt_x25519){0};
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "X25519", NULL);
	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &kp->pkey) != 1)
		goto out;
	err = x25519_fill_pub(kp);
out:
	EVP_PKEY_CTX_free(ctx);
	if (err)
		tt_x25519_dispose(kp);
	return err;
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

int
tt_x25519_derive(const struct tt_x25519 *kp, const uint8_t peer[TT_X25519_LEN],
                 uint8_t shared[TT_X25519_LEN])
{
	int err = KW_ERR_INTERNAL;
	EVP_PKEY_CTX *ctx = NULL;

	EVP_PKEY *peer_key =
	    EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, peer, TT_X25519_LEN);
	if (peer_key == NULL)
		goto out;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, kp->pkey, NULL);
	if (ctx == NULL || EVP_PKEY_derive_init(ctx) != 1)
		goto out;
	size_t len = TT_X25519_LEN;
	if (EVP_PKEY_derive_set_peer(ctx, peer_key) != 1 ||
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
	EVP_PKEY_free(peer_key);
	return err;
}

void
tt_x25519_dispose(struct tt_x25519 *kp)
{
	EVP_PKEY_free(kp->pkey);
	*kp = (struct tt_x25519){0};
}

static int
hkdf_sha256(EVP_KDF_CTX *kctx, const uint8_t shared[TT_X25519_LEN], const char *label,
            uint8_t out[TT_KEY_LEN])
{
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)shared, TT_X25519_LEN),
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)label, strlen(label)),
	    OSSL_PARAM_construct_end(),
	};
	return EVP_KDF_derive(kctx, out, TT_KEY_LEN, params) == 1 ? 0 : KW_ERR_INTERNAL;
}

int
tt_derive_keys(const uint8_t shared[TT_X25519_LEN], struct tt_keys *keys)
{
	int err = KW_ERR_INTERNAL;
	EVP_KDF_CTX *kctx = NULL;

	if (!CRYPTO_THREAD_run_once(&hkdf_once, hkdf_fetch) || hkdf == NULL)
		goto out;
	kctx = EVP_KDF_CTX_new(hkdf);
	if (kctx == NULL)
		goto out;
	err = hkdf_sha256(kctx, shared, TT_LABEL_CLIENT_KEY, keys->client_write);
	if (err == 0)
		err = hkdf_sha256(kctx, shared, TT_LABEL_SERVER_KEY, keys->server_write);
out:
	EVP_KDF_CTX_free(kctx);
	if (err)
		tt_keys_dispose(keys);
	return err;
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
    {0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
     0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00},
    {0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef, 0x5b,
     0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57},
    {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
    {0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
    {0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
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

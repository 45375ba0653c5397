#include "toytls_aead.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "err.h"
#include "toytls.h"

/* One key's cipher context: the key schedule is set once, each record only sets the IV. */
struct tt_aead_ctx {
	EVP_CIPHER_CTX *evp;
};

static CRYPTO_ONCE gcm_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_CIPHER *gcm;

static void
gcm_fetch(void)
{
	gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

static struct tt_aead_ctx *
gcm_new_ctx(const uint8_t *key)
{
	if (!CRYPTO_THREAD_run_once(&gcm_once, gcm_fetch) || gcm == NULL)
		return NULL;
	struct tt_aead_ctx *ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL)
		return NULL;
	ctx->evp = EVP_CIPHER_CTX_new();
	if (ctx->evp == NULL || EVP_CipherInit_ex2(ctx->evp, gcm, key, NULL, 1, NULL) != 1) {
		EVP_CIPHER_CTX_free(ctx->evp);
		free(ctx);
		return NULL;
	}
	return ctx;
}

/* Starts one record in direction enc (1 seal, 0 open): sets the nonce and feeds the aad. */
static int
gcm_start(struct tt_aead_ctx *ctx, int enc, const uint8_t *nonce, const uint8_t *aad,
          size_t aad_len, size_t len)
{
	int outl;

	if (aad_len > INT_MAX || len > INT_MAX)
		return KW_ERR_ARGUMENT;
	if (EVP_CipherInit_ex2(ctx->evp, NULL, NULL, nonce, enc, NULL) != 1 ||
	    (aad_len > 0 && EVP_CipherUpdate(ctx->evp, NULL, &outl, aad, (int)aad_len) != 1))
		return KW_ERR_INTERNAL;
	return 0;
}

static int
gcm_seal(struct tt_aead_ctx *ctx, const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
         const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
	int outl;
	int err = gcm_start(ctx, 1, nonce, aad, aad_len, len);
	if (err)
		return err;
	if ((len > 0 && EVP_CipherUpdate(ctx->evp, out, &outl, in, (int)len) != 1) ||
	    EVP_CipherFinal_ex(ctx->evp, out, &outl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx->evp, EVP_CTRL_AEAD_GET_TAG, TT_TAG_LEN, tag) != 1)
		return KW_ERR_INTERNAL;
	return 0;
}

static int
gcm_open(struct tt_aead_ctx *ctx, const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
         const uint8_t *in, size_t len, const uint8_t *tag, uint8_t *out)
{
	uint8_t tag_copy[TT_TAG_LEN];
	int outl;
	int err = gcm_start(ctx, 0, nonce, aad, aad_len, len);
	if (err)
		return err;
	memcpy(tag_copy, tag, TT_TAG_LEN);
	if ((len > 0 && EVP_CipherUpdate(ctx->evp, out, &outl, in, (int)len) != 1) ||
	    EVP_CIPHER_CTX_ctrl(ctx->evp, EVP_CTRL_AEAD_SET_TAG, TT_TAG_LEN, tag_copy) != 1)
		return KW_ERR_INTERNAL;
	if (EVP_CipherFinal_ex(ctx->evp, out, &outl) != 1) {
		ERR_clear_error();
		if (len > 0)
			OPENSSL_cleanse(out, len);
		return KW_ERR_DECRYPT;
	}
	return 0;
}

static void
gcm_free_ctx(struct tt_aead_ctx *ctx)
{
	if (ctx == NULL)
		return;
	EVP_CIPHER_CTX_free(ctx->evp);
	free(ctx);
}

const struct tt_aead tt_aes256gcm = {
    .name = "AES-256-GCM",
    .key_len = TT_KEY_LEN,
    .nonce_len = TT_NONCE_LEN,
    .tag_len = TT_TAG_LEN,
    .new_ctx = gcm_new_ctx,
    .seal = gcm_seal,
    .open = gcm_open,
    .free_ctx = gcm_free_ctx,
};

#include "toytls_record.h"

#include <string.h>

#include <openssl/rand.h>

#include "err.h"
#include "toytls.h"
#include "toytls_wire.h"

int
tt_nonce_random(void *arg, uint8_t nonce[12])
{
	return RAND_bytes(nonce, TT_NONCE_LEN) == 1 ? 0 : KW_ERR_INTERNAL;
}

void
tt_nonce_pool_init(struct tt_nonce_pool *pool)
{
	pool->next = TT_NONCE_POOL_LEN;
}

int
tt_nonce_pool_take(void *arg, uint8_t nonce[12])
{
	struct tt_nonce_pool *pool = arg;
	if (TT_NONCE_POOL_LEN - pool->next < TT_NONCE_LEN) {
		if (RAND_bytes(pool->bytes, TT_NONCE_POOL_LEN) != 1)
			return KW_ERR_INTERNAL;
		pool->next = 0;
	}
	memcpy(nonce, pool->bytes + pool->next, TT_NONCE_LEN);
	pool->next += TT_NONCE_LEN;
	return 0;
}

int
tt_record_dir_init(struct tt_record_dir *d, const struct tt_aead *aead, const uint8_t *key)
{
	*d = (struct tt_record_dir){.aead = aead};
	d->ctx = aead->new_ctx(key);
	return d->ctx != NULL ? 0 : KW_ERR_INTERNAL;
}

void
tt_record_dir_dispose(struct tt_record_dir *d)
{
	if (d->aead != NULL)
		d->aead->free_ctx(d->ctx);
	*d = (struct tt_record_dir){0};
}

static void
record_dir_advance(struct tt_record_dir *d)
{
	if (d->seq == UINT64_MAX)
		d->seq_exhausted = true;
	else
		d->seq++;
}

int
tt_record_seal(struct tt_record_dir *d, tt_nonce_fn nonce_fn, void *nonce_arg,
               const uint8_t *plaintext, size_t len, struct kw_buf *out)
{
	if (d->seq_exhausted)
		return KW_ERR_SEQ_OVERFLOW;
	if (len > TT_MAX_PLAINTEXT)
		return KW_ERR_ARGUMENT;
	size_t payload_len = TT_RECORD_OVERHEAD + len;
	int err = kw_buf_reserve(out, TT_RECORD_HEADER_LEN + payload_len);
	if (err)
		return err;
	uint8_t *seq = kw_buf_tail(out) + TT_RECORD_HEADER_LEN;
	uint8_t *nonce = seq + TT_SEQ_LEN;
	uint8_t *ciphertext = nonce + TT_NONCE_LEN;
	tt_store_u32(kw_buf_tail(out), (uint32_t)payload_len);
	tt_store_u64(seq, d->seq);
	err = nonce_fn(nonce_arg, nonce);
	if (err)
		return err;
	err = d->aead->seal(d->ctx, nonce, seq, TT_SEQ_LEN, plaintext, len, ciphertext,
	                    ciphertext + len);
	if (err)
		return err;
	kw_buf_commit(out, TT_RECORD_HEADER_LEN + payload_len);
	record_dir_advance(d);
	return 0;
}

int
tt_record_open(struct tt_record_dir *d, const uint8_t *payload, size_t len, struct kw_buf *out)
{
	int err;

	if (d->seq_exhausted)
		return KW_ERR_SEQ_OVERFLOW;
	if (len < TT_RECORD_OVERHEAD)
		return KW_ERR_RECORD_TOO_SHORT;
	if (tt_load_u64(payload) != d->seq)
		return KW_ERR_BAD_SEQUENCE;
	const uint8_t *nonce = payload + TT_SEQ_LEN;
	const uint8_t *ciphertext = nonce + TT_NONCE_LEN;
	size_t text_len = len - TT_RECORD_OVERHEAD;
	uint8_t *plaintext = NULL;
	if (text_len > 0) {
		err = kw_buf_reserve(out, text_len);
		if (err)
			return err;
		plaintext = kw_buf_tail(out);
	}
	err = d->aead->open(d->ctx, nonce, payload, TT_SEQ_LEN, ciphertext, text_len,
	                    ciphertext + text_len, plaintext);
	if (err)
		return err;
	kw_buf_commit(out, text_len);
	record_dir_advance(d);
	return 0;
}

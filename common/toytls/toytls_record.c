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

static int
seal_check(const struct tt_record_dir *d, size_t len)
{
	if (d->seq_exhausted)
		return KW_ERR_SEQ_OVERFLOW;
	return len > TT_MAX_PLAINTEXT ? KW_ERR_ARGUMENT : 0;
}

/* Seals plaintext in[0, len) into the whole record at rec (in may be rec's plaintext slot). */
static int
seal_record(struct tt_record_dir *d, tt_nonce_fn nonce_fn, void *nonce_arg, const uint8_t *in,
            size_t len, uint8_t *rec)
{
	uint8_t *seq = rec + TT_RECORD_HEADER_LEN;
	uint8_t *nonce = seq + TT_SEQ_LEN;
	uint8_t *ciphertext = nonce + TT_NONCE_LEN;
	tt_store_u32(rec, (uint32_t)(TT_RECORD_OVERHEAD + len));
	tt_store_u64(seq, d->seq);
	int err = nonce_fn(nonce_arg, nonce);
	if (err)
		return err;
	err = d->aead->seal(d->ctx, nonce, seq, TT_SEQ_LEN, in, len, ciphertext, ciphertext + len);
	if (err)
		return err;
	record_dir_advance(d);
	return 0;
}

int
tt_record_seal(struct tt_record_dir *d, tt_nonce_fn nonce_fn, void *nonce_arg,
               const uint8_t *plaintext, size_t len, struct kw_buf *out)
{
	int err = seal_check(d, len);
	if (err)
		return err;
	size_t rec_len = TT_RECORD_HEADER_LEN + TT_RECORD_OVERHEAD + len;
	err = kw_buf_reserve(out, rec_len);
	if (err)
		return err;
	err = seal_record(d, nonce_fn, nonce_arg, plaintext, len, kw_buf_tail(out));
	if (err == 0)
		kw_buf_commit(out, rec_len);
	return err;
}

int
tt_record_seal_in_place(struct tt_record_dir *d, tt_nonce_fn nonce_fn, void *nonce_arg,
                        uint8_t *rec, size_t len)
{
	int err = seal_check(d, len);
	return err ? err : seal_record(d, nonce_fn, nonce_arg, rec + TT_RECORD_PREFIX_LEN, len, rec);
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

#include "toytls_conn.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "err.h"
#include "toytls_conn_impl.h"
#include "toytls_wire.h"

struct tt_conn *
tt_conn_alloc(bool is_server, enum tt_state state, uint32_t max_handshake_record,
              tt_nonce_fn nonce_fn, void *nonce_arg)
{
	struct tt_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->is_server = is_server;
	c->state = state;
	c->nonce_fn = nonce_fn != NULL ? nonce_fn : tt_nonce_random;
	c->nonce_arg = nonce_arg;
	tt_record_reader_init(&c->reader, max_handshake_record != 0 ? max_handshake_record
	                                                            : TT_MAX_HANDSHAKE_RECORD);
	return c;
}

static void
end_handshake(struct tt_conn *c)
{
	if (c->is_server)
		tt_server_hs_dispose(&c->hs.server);
	else
		tt_client_hs_dispose(&c->hs.client);
}

int
tt_conn_fail(struct tt_conn *c, int err)
{
	if (c->state != TT_FAILED) {
		c->error = err;
		c->state = TT_FAILED;
		end_handshake(c);
	}
	return err;
}

int
tt_conn_establish(struct tt_conn *c, struct tt_kex *kex, const uint8_t shared[TT_X25519_LEN])
{
	struct tt_keys keys;
	int err = tt_derive_keys_kex(kex, shared, &keys);
	if (err)
		goto done;
	const uint8_t *own = c->is_server ? keys.server_write : keys.client_write;
	const uint8_t *peer = c->is_server ? keys.client_write : keys.server_write;
	err = tt_record_dir_init(&c->send, &tt_aes256gcm, own);
	if (err)
		goto done;
	err = tt_record_dir_init(&c->recv, &tt_aes256gcm, peer);
	if (err)
		goto done;
	end_handshake(c);
	c->reader.max_len = TT_MAX_APP_RECORD;
	c->state = TT_ESTABLISHED;
done:
	tt_keys_dispose(&keys);
	return err;
}

int
tt_conn_queue_record_header(struct tt_conn *c, size_t payload_len)
{
	if (payload_len > UINT32_MAX)
		return KW_ERR_RECORD_TOO_LARGE;
	int err = kw_buf_reserve(&c->wire, TT_RECORD_HEADER_LEN + payload_len);
	if (err)
		return err;
	tt_store_u32(kw_buf_tail(&c->wire), (uint32_t)payload_len);
	kw_buf_commit(&c->wire, TT_RECORD_HEADER_LEN);
	return 0;
}

int
tt_server_name_check(const uint8_t *name, size_t len)
{
	if (len == 0 || len > TT_MAX_SERVER_NAME_LEN || name[len - 1] == '.')
		return KW_ERR_BAD_SERVER_NAME;
	for (size_t i = 0; i < len; i++) {
		if (name[i] <= 0x20 || name[i] >= 0x7f)
			return KW_ERR_BAD_SERVER_NAME;
	}
	return 0;
}

int
tt_key_share_take(const struct tt_field *f, bool *have, uint8_t pub[TT_X25519_LEN])
{
	if (f->tag != TT_TAG_X25519 || *have)
		return 0;
	if (f->len != TT_X25519_LEN)
		return KW_ERR_KEY_SHARE_LENGTH;
	memcpy(pub, f->value, TT_X25519_LEN);
	*have = true;
	return 0;
}

void
tt_conn_free(struct tt_conn *c)
{
	if (c == NULL)
		return;
	end_handshake(c);
	tt_record_reader_dispose(&c->reader);
	tt_record_dir_dispose(&c->send);
	tt_record_dir_dispose(&c->recv);
	kw_buf_dispose(&c->wire);
	kw_buf_dispose(&c->plain);
	free(c->server_name);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

/* One application record: decrypted onto the plaintext; a long run of empty ones is refused. */
static int
on_app_record(struct tt_conn *c, const uint8_t *payload, size_t len)
{
	size_t had = kw_buf_size(&c->plain);
	int err = tt_record_open(&c->recv, payload, len, &c->plain);

	if (err)
		return err;
	if (kw_buf_size(&c->plain) > had)
		c->empty_run = 0;
	else if (++c->empty_run > TT_MAX_EMPTY_RECORDS)
		return KW_ERR_EMPTY_RECORDS;
	return 0;
}

static int
on_record(struct tt_conn *c, const uint8_t *payload, size_t len)
{
	switch (c->state) {
	case TT_ESTABLISHED:
		return on_app_record(c, payload, len);
	default:
		return c->is_server ? tt_server_on_record(c, payload, len)
		                    : tt_client_on_record(c, payload, len);
	}
}

/*
 * A whole record at the start of wire[0, len), read in place: its payload length, or
 * -1 when the record is incomplete or the reader holds part of an earlier one.
 */
static long
whole_record(const struct tt_conn *c, const uint8_t *wire, size_t len)
{
	if (c->reader.header_have != 0 || len < TT_RECORD_HEADER_LEN)
		return -1;
	uint32_t body_len = tt_load_u32(wire);
	if (body_len > c->reader.max_len || len - TT_RECORD_HEADER_LEN < body_len)
		return -1;
	return (long)body_len;
}

/*
 * A record failed: before the handshake ends that fails the connection; after it,
 * only the input ends, so that what was authenticated before stays readable and can
 * still be answered.
 */
static int
record_failed(struct tt_conn *c, int err)
{
	if (c->state != TT_ESTABLISHED)
		return tt_conn_fail(c, err);
	c->input_error = err;
	tt_record_reader_dispose(&c->reader);
	return err;
}

int
tt_conn_feed(struct tt_conn *c, const uint8_t *wire, size_t len)
{
	if (c->state == TT_FAILED || c->input_error)
		return KW_ERR_STATE;
	while (len > 0) {
		if (c->state == TT_WAIT_SIGNATURE)
			return tt_conn_fail(c, KW_ERR_UNEXPECTED_MESSAGE);
		long whole = whole_record(c, wire, len);
		if (whole >= 0) {
			int err = on_record(c, wire + TT_RECORD_HEADER_LEN, (size_t)whole);
			wire += TT_RECORD_HEADER_LEN + (size_t)whole;
			len -= TT_RECORD_HEADER_LEN + (size_t)whole;
			if (err)
				return record_failed(c, err);
			continue;
		}
		size_t used;
		int ret = tt_record_reader_feed(&c->reader, wire, len, &used);
		wire += used;
		len -= used;
		if (ret < 0)
			return record_failed(c, ret);
		if (ret == 0)
			break;
		size_t payload_len;
		const uint8_t *payload = tt_record_reader_payload(&c->reader, &payload_len);
		int err = on_record(c, payload, payload_len);
		tt_record_reader_next(&c->reader);
		if (err)
			return record_failed(c, err);
	}
	return 0;
}

enum tt_state
tt_conn_state(const struct tt_conn *c)
{
	return c->state;
}

int
tt_conn_error(const struct tt_conn *c)
{
	return c->error ? c->error : c->input_error;
}

bool
tt_conn_input_ended(const struct tt_conn *c)
{
	return c->input_error != 0;
}

const char *
tt_conn_error_detail(const struct tt_conn *c)
{
	return c->error_detail;
}

struct kw_buf *
tt_conn_wire(struct tt_conn *c)
{
	return &c->wire;
}

struct kw_buf *
tt_conn_plaintext(struct tt_conn *c)
{
	return &c->plain;
}

bool
tt_conn_input_pending(const struct tt_conn *c)
{
	return c->reader.header_have > 0 || kw_buf_size(&c->plain) > 0;
}

int
tt_conn_protect(struct tt_conn *c, const uint8_t *plaintext, size_t len)
{
	if (c->state != TT_ESTABLISHED)
		return KW_ERR_STATE;
	while (len > 0) {
		size_t n = len < TT_MAX_PLAINTEXT ? len : TT_MAX_PLAINTEXT;
		int err =
		    tt_record_seal(&c->send, c->nonce_fn, c->nonce_arg, plaintext, n, &c->wire);
		if (err)
			return tt_conn_fail(c, err);
		plaintext += n;
		len -= n;
	}
	return 0;
}

int
tt_conn_protect_in_place(struct tt_conn *c, uint8_t *rec, size_t len)
{
	if (c->state != TT_ESTABLISHED)
		return KW_ERR_STATE;
	int err = tt_record_seal_in_place(&c->send, c->nonce_fn, c->nonce_arg, rec, len);
	return err ? tt_conn_fail(c, err) : 0;
}

void
tt_conn_shrink(struct tt_conn *c)
{
	if (c->reader.header_have == 0)
		tt_record_reader_dispose(&c->reader);
	if (kw_buf_size(&c->wire) == 0)
		kw_buf_free(&c->wire); /* records as sent: nothing secret */
	if (kw_buf_size(&c->plain) == 0)
		kw_buf_dispose(&c->plain);
}

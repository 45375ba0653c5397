#include "toytls_conn.h"

#include <string.h>

#include <openssl/crypto.h>

#include "err.h"
#include "toytls_conn_impl.h"

void
tt_server_hs_dispose(struct tt_server_hs *hs)
{
	OPENSSL_cleanse(hs, sizeof(*hs));
}

struct tt_conn *
tt_conn_new_server(const struct tt_server_params *params)
{
	if (params == NULL || params->select_identity == NULL)
		return NULL;
	struct tt_conn *c = tt_conn_alloc(true, TT_SERVER_WAIT_HELLO, params->max_handshake_record,
	                                  params->nonce_fn, params->nonce_arg);
	if (c == NULL)
		return NULL;
	struct tt_server_hs *hs = &c->hs.server;
	hs->select_identity = params->select_identity;
	hs->select_arg = params->select_arg;
	hs->kex = params->kex;
	if (params->fixed_x25519_private != NULL) {
		hs->has_fixed_private = true;
		memcpy(hs->fixed_private, params->fixed_x25519_private, TT_X25519_LEN);
	}
	return c;
}

/*
 * ClientHello: the first X25519 field (exactly 32 bytes) and the first server_name
 * field (checked); unknown fields are ignored, a truncated one is an error.
 */
static int
parse_client_hello(const uint8_t *payload, size_t len, uint8_t client_pub[TT_X25519_LEN],
                   struct tt_field *name)
{
	struct tt_field f;
	size_t pos = 0;
	bool have_key = false;
	int ret;

	*name = (struct tt_field){0};
	while ((ret = tt_field_next(payload, len, &pos, &f)) == 1) {
		if (f.tag == TT_TAG_SERVER_NAME && name->value == NULL) {
			ret = tt_server_name_check(f.value, f.len);
			*name = f;
		} else {
			ret = tt_key_share_take(&f, &have_key, client_pub);
		}
		if (ret < 0)
			return ret;
	}
	if (ret < 0)
		return ret;
	return have_key ? 0 : KW_ERR_NO_KEY_SHARE;
}

/* Creates the server key pair and the shared secret: a bad client key fails here. */
static int
key_exchange(struct tt_server_hs *hs)
{
	struct tt_x25519 kp;
	int err = hs->has_fixed_private ? tt_x25519_from_private(&kp, hs->fixed_private)
	                                : tt_x25519_generate_kex(hs->kex, &kp);
	if (err)
		return err;
	memcpy(hs->server_pub, kp.pub, TT_X25519_LEN);
	err = tt_x25519_derive_kex(hs->kex, &kp, hs->client_pub, hs->shared);
	tt_x25519_dispose(&kp);
	return err;
}

static int
on_client_hello(struct tt_conn *c, const uint8_t *payload, size_t len)
{
	struct tt_server_hs *hs = &c->hs.server;
	struct tt_field name;

	int err = parse_client_hello(payload, len, hs->client_pub, &name);
	if (err)
		return err;
	err = key_exchange(hs);
	if (err)
		return err;
	if (name.value != NULL &&
	    (c->server_name = strndup((const char *)name.value, name.len)) == NULL)
		return KW_ERR_NOMEM;
	c->identity = hs->select_identity(hs->select_arg, c->server_name);
	if (c->identity == NULL)
		return KW_ERR_BAD_SERVER_NAME;
	c->state = TT_WAIT_SIGNATURE;
	return 0;
}

int
tt_server_on_record(struct tt_conn *c, const uint8_t *payload, size_t len)
{
	if (c->state != TT_SERVER_WAIT_HELLO)
		return KW_ERR_UNEXPECTED_MESSAGE;
	return on_client_hello(c, payload, len);
}

bool
tt_conn_sign_request(const struct tt_conn *c, struct tt_sign_request *req)
{
	if (c->state != TT_WAIT_SIGNATURE)
		return false;
	req->key_id = c->identity->key_id;
	memcpy(req->client_pub, c->hs.server.client_pub, TT_X25519_LEN);
	memcpy(req->server_pub, c->hs.server.server_pub, TT_X25519_LEN);
	return true;
}

static int
queue_server_flight(struct tt_conn *c, const uint8_t *sig, size_t sig_len)
{
	const struct tt_identity *id = c->identity;
	int err = tt_conn_queue_record_header(c, TT_FIELD_HEADER_LEN + TT_X25519_LEN);
	if (err == 0)
		err =
		    tt_field_write(&c->wire, TT_TAG_X25519, c->hs.server.server_pub, TT_X25519_LEN);
	if (err == 0)
		err = tt_conn_queue_record_header(c, id->cert_fields_len + TT_FIELD_HEADER_LEN +
		                                         sig_len);
	if (err == 0)
		err = kw_buf_append(&c->wire, id->cert_fields, id->cert_fields_len);
	if (err == 0)
		err = tt_field_write(&c->wire, TT_TAG_CERT_VERIFY, sig, sig_len);
	return err;
}

int
tt_conn_supply_signature(struct tt_conn *c, const uint8_t *sig, size_t len)
{
	if (c->state != TT_WAIT_SIGNATURE)
		return KW_ERR_STATE;
	if (len == 0 || len > TT_MAX_SIGNATURE_LEN)
		return tt_conn_fail(c, KW_ERR_SIGN_FAILED);
	int err = queue_server_flight(c, sig, len);
	if (err == 0)
		err = tt_conn_establish(c, c->hs.server.kex, c->hs.server.shared);
	return err ? tt_conn_fail(c, err) : 0;
}

void
tt_conn_signature_failed(struct tt_conn *c, int err)
{
	tt_conn_fail(c, err);
}

const char *
tt_conn_server_name(const struct tt_conn *c)
{
	return c->server_name;
}

const struct tt_identity *
tt_conn_identity(const struct tt_conn *c)
{
	return c->identity;
}

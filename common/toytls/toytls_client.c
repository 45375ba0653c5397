#include "toytls_conn.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "err.h"
#include "toytls_conn_impl.h"

void
tt_client_hs_dispose(struct tt_client_hs *hs)
{
	tt_x25519_dispose(&hs->kp);
	free(hs->dns_name);
	OPENSSL_cleanse(hs, sizeof(*hs));
}

static bool
client_params_ok(const struct tt_client_params *p)
{
	if (p->dns_name != NULL &&
	    tt_server_name_check((const uint8_t *)p->dns_name, strlen(p->dns_name)) != 0)
		return false;
	if (p->send_server_name && p->dns_name == NULL)
		return false;
	return p->insecure || (p->trust != NULL && p->trust->store != NULL && p->dns_name != NULL);
}

static int
queue_client_hello(struct tt_conn *c, const char *server_name)
{
	size_t name_len = server_name != NULL ? strlen(server_name) : 0;
	size_t payload_len = TT_FIELD_HEADER_LEN + TT_X25519_LEN;
	if (server_name != NULL)
		payload_len += TT_FIELD_HEADER_LEN + name_len;
	int err = tt_conn_queue_record_header(c, payload_len);
	if (err == 0)
		err = tt_field_write(&c->wire, TT_TAG_X25519, c->hs.client.kp.pub, TT_X25519_LEN);
	if (err == 0 && server_name != NULL)
		err = tt_field_write(&c->wire, TT_TAG_SERVER_NAME, (const uint8_t *)server_name,
		                     name_len);
	return err;
}

struct tt_conn *
tt_conn_new_client(const struct tt_client_params *params)
{
	if (params == NULL || !client_params_ok(params))
		return NULL;
	struct tt_conn *c =
	    tt_conn_alloc(false, TT_CLIENT_WAIT_SERVER_HELLO, params->max_handshake_record,
	                  params->nonce_fn, params->nonce_arg);
	if (c == NULL)
		return NULL;
	struct tt_client_hs *hs = &c->hs.client;
	hs->trust = params->trust;
	hs->insecure = params->insecure;
	hs->kex = params->kex;
	hs->leaf_cache = params->insecure ? params->leaf_cache : NULL;
	int err = params->fixed_x25519_private != NULL
	              ? tt_x25519_from_private(&hs->kp, params->fixed_x25519_private)
	              : tt_x25519_generate_kex(params->kex, &hs->kp);
	if (err == 0 && !params->insecure && (hs->dns_name = strdup(params->dns_name)) == NULL)
		err = KW_ERR_NOMEM;
	if (err == 0)
		err = queue_client_hello(c, params->send_server_name ? params->dns_name : NULL);
	if (err) {
		tt_conn_free(c);
		return NULL;
	}
	return c;
}

/* ServerHello: the first X25519 field, exactly 32 bytes; other fields are ignored. */
static int
on_server_hello(struct tt_conn *c, const uint8_t *payload, size_t len)
{
	struct tt_field f;
	size_t pos = 0;
	bool found = false;
	int ret;

	while ((ret = tt_field_next(payload, len, &pos, &f)) == 1) {
		ret = tt_key_share_take(&f, &found, c->hs.client.server_pub);
		if (ret < 0)
			return ret;
	}
	if (ret < 0)
		return ret;
	if (!found)
		return KW_ERR_NO_KEY_SHARE;
	c->state = TT_CLIENT_WAIT_SERVER_AUTH;
	return 0;
}

/* The leaf's public key: from a verified chain, or only parsed (or cached) with insecure. */
static int
server_key(struct tt_conn *c, const uint8_t *const *certs, const size_t *lens, size_t n,
           EVP_PKEY **key)
{
	const struct tt_client_hs *hs = &c->hs.client;
	if (hs->leaf_cache != NULL) /* set with insecure only */
		return tt_leaf_cache_key(hs->leaf_cache, certs[0], lens[0], key);
	if (hs->insecure)
		return tt_cert_public_key(certs[0], lens[0], key);
	return tt_verify_chain(hs->trust, hs->dns_name, certs, lens, n, key, &c->error_detail);
}

/*
 * ServerAuth: certificate fields (leaf first) and the first CertificateVerify field.
 * Chain and name first, then the signature with the leaf key, and only then keys.
 */
static int
on_server_auth(struct tt_conn *c, const uint8_t *payload, size_t len)
{
	const uint8_t *certs[TT_MAX_CHAIN_CERTS];
	size_t cert_lens[TT_MAX_CHAIN_CERTS];
	size_t n_certs = 0;
	struct tt_field f, sig = {0};
	size_t pos = 0;
	EVP_PKEY *leaf_key = NULL;
	uint8_t shared[TT_X25519_LEN];
	int err;

	while ((err = tt_field_next(payload, len, &pos, &f)) == 1) {
		if (f.tag == TT_TAG_CERTIFICATE) {
			if (n_certs == TT_MAX_CHAIN_CERTS) {
				c->error_detail = "too many certificates";
				return KW_ERR_CERT_INVALID;
			}
			certs[n_certs] = f.value;
			cert_lens[n_certs++] = f.len;
		} else if (f.tag == TT_TAG_CERT_VERIFY && sig.value == NULL) {
			sig = f;
		}
	}
	if (err < 0)
		return err;
	if (n_certs == 0)
		return KW_ERR_NO_CERTIFICATE;
	if (sig.value == NULL)
		return KW_ERR_NO_SIGNATURE;

	struct tt_client_hs *hs = &c->hs.client;
	err = server_key(c, certs, cert_lens, n_certs, &leaf_key);
	if (err == 0)
		err = tt_verify(leaf_key, hs->kp.pub, hs->server_pub, sig.value, sig.len);
	if (err == 0)
		err = tt_x25519_derive_kex(hs->kex, &hs->kp, hs->server_pub, shared);
	if (err == 0)
		err = tt_conn_establish(c, hs->kex, shared);
	EVP_PKEY_free(leaf_key);
	OPENSSL_cleanse(shared, sizeof(shared));
	return err;
}

int
tt_client_on_record(struct tt_conn *c, const uint8_t *payload, size_t len)
{
	switch (c->state) {
	case TT_CLIENT_WAIT_SERVER_HELLO:
		return on_server_hello(c, payload, len);
	case TT_CLIENT_WAIT_SERVER_AUTH:
		return on_server_auth(c, payload, len);
	default:
		return KW_ERR_UNEXPECTED_MESSAGE;
	}
}

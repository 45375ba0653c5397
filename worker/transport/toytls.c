/*
 * toytls.c - the toy-TLS v1 server side behind the transport seam: a tt_conn per
 * connection, whose signing request this transport sends to the signer itself and
 * whose reply (or failure) wakes the connection.
 *
 * Per worker: one identity per toy-TLS server block (its certificate fields
 * pre-encoded once), the record nonce pool and the reusable key-exchange contexts.
 */
#include "transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "signer_client.h"
#include "toytls_cert.h"
#include "toytls_conn.h"
#include "toytls_wire.h"

/* A toy-TLS identity: certificate fields pre-encoded once, for one server block. */
struct identity {
	struct tt_identity id;
	struct kw_buf fields; /* owns id.cert_fields */
};

struct toytls_class {
	const struct kw_config *cfg;
	struct sign_proxy *signer;
	struct identity *identities; /* by server index; unused for plain servers */
	struct tt_nonce_pool nonces; /* record nonces of every connection */
	struct tt_kex kex;           /* key-exchange contexts, reused */
};

struct toytls_transport {
	struct transport base;
	struct toytls_class *cls;
	struct transport_host *host;
	struct tt_conn *conn;
	struct sign_waiter waiter;
	bool signing; /* waiter is pending */
};

static struct toytls_transport *
tls(const struct transport *t)
{
	return (struct toytls_transport *)(void *)t;
}

/* Sends the handshake's signing request, once the handshake exposes one. */
static void
toytls_sign_if_asked(struct toytls_transport *t)
{
	struct tt_sign_request tt;
	struct sp_sign_request req;
	if (!t->signing && tt_conn_sign_request(t->conn, &tt)) {
		sp_sign_request_toytls(&tt, &req);
		sign_proxy_submit(t->cls->signer, &t->waiter, &req);
		t->signing = true;
	}
}

static void
toytls_signed(struct sign_waiter *wt, int err, const uint8_t *sig, size_t len)
{
	struct toytls_transport *t = container_of(wt, struct toytls_transport, waiter);
	t->signing = false;
	if (err)
		tt_conn_signature_failed(t->conn, err);
	else
		tt_conn_supply_signature(t->conn, sig, len);
	t->host->wake(t->host);
}

static int
toytls_feed(struct transport *t, const uint8_t *wire, size_t len)
{
	int err = tt_conn_feed(tls(t)->conn, wire, len);
	if (err == 0)
		toytls_sign_if_asked(tls(t));
	return err;
}

static struct kw_buf *
toytls_wire(struct transport *t)
{
	return tt_conn_wire(tls(t)->conn);
}

static struct kw_buf *
toytls_plaintext(struct transport *t)
{
	return tt_conn_plaintext(tls(t)->conn);
}

static bool
toytls_input_pending(const struct transport *t)
{
	return tt_conn_input_pending(tls(t)->conn);
}

static int
toytls_protect_in_place(struct transport *t, uint8_t *rec, size_t len)
{
	return tt_conn_protect_in_place(tls(t)->conn, rec, len);
}

static bool
toytls_established(const struct transport *t)
{
	return tt_conn_state(tls(t)->conn) == TT_ESTABLISHED;
}

static void
toytls_shrink(struct transport *t)
{
	tt_conn_shrink(tls(t)->conn);
}

static int
toytls_error(const struct transport *t, const char **detail)
{
	*detail = tt_conn_error_detail(tls(t)->conn);
	return tt_conn_error(tls(t)->conn);
}

static void
toytls_destroy(struct transport *t)
{
	struct toytls_transport *tt = tls(t);
	if (tt->signing)
		sign_proxy_cancel(tt->cls->signer, &tt->waiter);
	tt_conn_free(tt->conn);
	free(tt);
}

/* The handshake waits for its signature: the client sends nothing before the flight. */
static bool
toytls_parked(const struct transport *t)
{
	return tls(t)->signing;
}

static bool
toytls_input_ended(const struct transport *t)
{
	return tt_conn_input_ended(tls(t)->conn);
}

/* toy-TLS v1 has one version, one cipher and no resumption. */
static void
toytls_describe(const struct transport *t, struct transport_desc *d)
{
	(void)t;
	d->version = "toy-TLS v1";
	d->cipher = "AES-256-GCM";
	d->resumed = false;
}

static const struct transport_ops toytls_ops = {
    .name = "toy-TLS",
    .passthrough = false,
    .feed = toytls_feed,
    .wire = toytls_wire,
    .plaintext = toytls_plaintext,
    .input_pending = toytls_input_pending,
    .input_ended = toytls_input_ended,
    .record_prefix = TT_RECORD_PREFIX_LEN,
    .record_suffix = TT_RECORD_SUFFIX_LEN,
    .record_max = TT_MAX_PLAINTEXT,
    .protect_in_place = toytls_protect_in_place,
    .established = toytls_established,
    .parked = toytls_parked,
    .describe = toytls_describe,
    .shrink = toytls_shrink,
    .error = toytls_error,
    .destroy = toytls_destroy,
};

/* The server_name (NULL: none sent) picks the block and so its identity. */
static const struct tt_identity *
toytls_select_identity(void *arg, const char *server_name)
{
	struct toytls_transport *t = arg;
	const struct kw_server *srv = t->host->select_server(t->host, server_name);
	kw_log_debug("toytls_select_identity: server_name %s%s%s: server at line %d",
	             server_name ? "\"" : "", server_name ? server_name : "none",
	             server_name ? "\"" : "", srv->line);
	return &t->cls->identities[srv - t->cls->cfg->servers].id;
}

static struct transport *
toytls_open(void *state, struct transport_host *host)
{
	struct toytls_class *cls = state;
	struct toytls_transport *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->base.ops = &toytls_ops;
	t->cls = cls;
	t->host = host;
	sign_waiter_init(&t->waiter, toytls_signed);
	struct tt_server_params params = {.select_identity = toytls_select_identity,
	                                  .select_arg = t,
	                                  .nonce_fn = tt_nonce_pool_take,
	                                  .nonce_arg = &cls->nonces,
	                                  .kex = &cls->kex};
	t->conn = tt_conn_new_server(&params);
	if (t->conn == NULL) {
		free(t);
		return NULL;
	}
	return &t->base;
}

/*
 * Pre-encodes the certificate fields of srv (leaf, then chain) from the texts the
 * configuration snapshot carries (no file is read) and finds its scheme.
 */
static int
identity_load(const struct kw_config *cfg, const struct kw_server *srv, struct identity *id,
              char *err, size_t err_len)
{
	struct tt_field field;
	size_t pos = 0;
	EVP_PKEY *key = NULL;
	const char **chain = calloc(srv->n_chain + 1, sizeof(*chain));
	int rc = chain ? 0 : KW_ERR_NOMEM;

	for (size_t i = 0; chain && i < srv->n_chain; i++)
		chain[i] = kw_config_file_text(cfg, srv->chain[i]);
	if (rc == 0)
		rc = tt_identity_encode_chain(kw_config_file_text(cfg, srv->certificate), chain,
		                              srv->n_chain, &id->fields);
	free(chain);
	if (rc) {
		snprintf(err, err_len, "%s: %s", srv->certificate, kw_strerror(rc));
		return rc;
	}
	rc = tt_field_next(kw_buf_head(&id->fields), kw_buf_size(&id->fields), &pos, &field);
	if (rc != 1) {
		snprintf(err, err_len, "%s: no certificate", srv->certificate);
		return KW_ERR_ARGUMENT;
	}
	rc = tt_cert_public_key(field.value, field.len, &key);
	if (rc == 0)
		rc = tt_scheme_for_key(key, &id->id.scheme);
	EVP_PKEY_free(key);
	if (rc) {
		snprintf(err, err_len, "%s: %s", srv->certificate, kw_strerror(rc));
		return rc;
	}
	id->id.key_id = srv->key_id;
	id->id.cert_fields = kw_buf_head(&id->fields);
	id->id.cert_fields_len = kw_buf_size(&id->fields);
	return 0;
}

static void
toytls_stop(void *state)
{
	struct toytls_class *cls = state;
	if (cls == NULL)
		return;
	if (cls->identities != NULL)
		for (size_t i = 0; i < cls->cfg->n_servers; i++)
			kw_buf_free(&cls->identities[i].fields);
	free(cls->identities);
	tt_kex_dispose(&cls->kex);
	free(cls);
}

static bool
toytls_serves(const struct kw_listener *lc)
{
	return lc->tls == KW_TLS_TOY;
}

static int
toytls_start(const struct transport_env *env, void **state, char *err, size_t err_len)
{
	const struct kw_config *cfg = env->cfg;
	struct toytls_class *cls = calloc(1, sizeof(*cls));
	if (cls == NULL) {
		snprintf(err, err_len, "out of memory");
		return KW_ERR_NOMEM;
	}
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		const struct kw_listener *lc = &cfg->listeners[i];
		if (toytls_serves(lc) && !cfg->servers[lc->default_server].has_tls) {
			snprintf(err, err_len, "listener %s:%u: default server has no certificate",
			         lc->address, lc->port);
			free(cls);
			return KW_ERR_ARGUMENT;
		}
	}
	cls->cfg = cfg;
	cls->signer = env->signer;
	tt_nonce_pool_init(&cls->nonces);
	int rc = tt_kex_init(&cls->kex);
	if (rc) {
		snprintf(err, err_len, "key-exchange contexts: %s", kw_strerror(rc));
		free(cls);
		return rc == KW_ERR_NOMEM ? rc : KW_ERR_INTERNAL;
	}
	cls->identities = calloc(cfg->n_servers ? cfg->n_servers : 1, sizeof(*cls->identities));
	if (cls->identities == NULL) {
		snprintf(err, err_len, "out of memory");
		toytls_stop(cls);
		return KW_ERR_NOMEM;
	}
	for (size_t i = 0; i < cfg->n_servers; i++) {
		if (!cfg->servers[i].has_tls)
			continue;
		char why[448];
		rc = identity_load(cfg, &cfg->servers[i], &cls->identities[i], why, sizeof(why));
		if (rc) {
			snprintf(err, err_len, "certificate: %s", why);
			toytls_stop(cls);
			return rc == KW_ERR_NOMEM ? rc : KW_ERR_ARGUMENT;
		}
	}
	*state = cls;
	return 0;
}

const struct transport_class transport_toytls = {
    .name = "toy-TLS",
    .serves = toytls_serves,
    .start = toytls_start,
    .stop = toytls_stop,
    .open = toytls_open,
    .record_size = TT_RECORD_PREFIX_LEN + TT_MAX_PLAINTEXT + TT_RECORD_SUFFIX_LEN,
};

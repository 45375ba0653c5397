/*
 * tls13.c - TLS 1.3 (libssl) behind the transport seam: a tls13_session per
 * connection (worker/tls13/session.h), whose CertificateVerify signing request this
 * transport sends to the signer itself; the reply (or failure) resumes the parked
 * handshake and wakes the connection.
 *
 * Per worker: one engine, with an SSL_CTX per server block that has a certificate
 * (built from the texts the configuration snapshot carries) and the session ticket
 * keys the master hands out. A handshake that found no free async job waits in the
 * engine's queue; when one is let go, its connection goes on in a loop task, outside
 * whatever call let the job go.
 */
#include "transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "session.h"
#include "signer_client.h"

struct tls13_class {
	const struct kw_config *cfg;
	struct loop *loop;
	struct sign_proxy *signer;
	struct tls13_engine *engine;
};

struct tls13_transport {
	struct transport base;
	struct tls13_class *cls;
	struct transport_host *host;
	struct tls13_session *s;
	struct sign_waiter waiter;
	bool signing;          /* waiter is pending */
	struct loop_task wake; /* a job is free again: go on */
};

static struct tls13_transport *
tls(const struct transport *t)
{
	return (struct tls13_transport *)(void *)t;
}

/* Sends the parked handshake's signing request, once it exposes one. */
static void
tls13_sign_if_asked(struct tls13_transport *t)
{
	struct sp_sign_request req;
	if (!t->signing && tls13_session_sign_request(t->s, &req)) {
		sign_proxy_submit(t->cls->signer, &t->waiter, &req);
		t->signing = true;
	}
}

static void
tls13_signed(struct sign_waiter *wt, int err, const uint8_t *sig, size_t len)
{
	struct tls13_transport *t = container_of(wt, struct tls13_transport, waiter);
	t->signing = false;
	if (err)
		tls13_session_signature_failed(t->s, err);
	else
		tls13_session_supply_signature(t->s, sig, len);
	t->host->wake(t->host);
}

static void
tls13_go_on(struct loop_task *task)
{
	struct tls13_transport *t = container_of(task, struct tls13_transport, wake);
	if (tls13_session_feed(t->s, NULL, 0) == 0)
		tls13_sign_if_asked(t);
	t->host->wake(t->host);
}

/* The session got its turn for an async job: it goes on from the loop. */
static void
tls13_job_free(void *arg)
{
	struct tls13_transport *t = arg;
	loop_defer(t->cls->loop, &t->wake);
}

static int
tls13_feed(struct transport *t, const uint8_t *wire, size_t len)
{
	int err = tls13_session_feed(tls(t)->s, wire, len);
	if (err == 0)
		tls13_sign_if_asked(tls(t));
	return err;
}

static struct kw_buf *
tls13_wire(struct transport *t)
{
	return tls13_session_wire(tls(t)->s);
}

static struct kw_buf *
tls13_plaintext(struct transport *t)
{
	return tls13_session_plaintext(tls(t)->s);
}

static bool
tls13_input_pending(const struct transport *t)
{
	return tls13_session_input_pending(tls(t)->s);
}

static int
tls13_protect_in_place(struct transport *t, uint8_t *rec, size_t len)
{
	return tls13_session_protect(tls(t)->s, rec, len);
}

static bool
tls13_established(const struct transport *t)
{
	return tls13_session_established(tls(t)->s);
}

static bool
tls13_resumed(const struct transport *t)
{
	return tls13_session_resumed(tls(t)->s);
}

static bool
tls13_parked(const struct transport *t)
{
	return tls13_session_waiting(tls(t)->s);
}

static void
tls13_close_notify(struct transport *t)
{
	tls13_session_close_notify(tls(t)->s);
}

static const uint8_t *
tls13_protocol(const struct transport *t, size_t *len)
{
	return tls13_session_protocol(tls(t)->s, len);
}

static void
tls13_shrink(struct transport *t)
{
	tls13_session_shrink(tls(t)->s);
}

static int
tls13_error(const struct transport *t, const char **detail)
{
	return tls13_session_error(tls(t)->s, detail);
}

static void
tls13_destroy(struct transport *t)
{
	struct tls13_transport *tt = tls(t);
	if (tt->signing)
		sign_proxy_cancel(tt->cls->signer, &tt->waiter);
	loop_task_cancel(tt->cls->loop, &tt->wake);
	tls13_session_free(tt->s);
	free(tt);
}

static void
tls13_describe(const struct transport *t, struct transport_desc *d)
{
	const struct tls13_session *s = tls(t)->s;
	tls13_session_names(s, &d->version, &d->cipher);
	d->resumed = tls13_session_resumed(s);
}

static const struct transport_ops tls13_ops = {
    .name = "TLS 1.3",
    .passthrough = false,
    .feed = tls13_feed,
    .wire = tls13_wire,
    .plaintext = tls13_plaintext,
    .input_pending = tls13_input_pending,
    .record_prefix = TLS13_RECORD_PREFIX,
    .record_suffix = TLS13_RECORD_SUFFIX,
    .record_max = TLS13_RECORD_MAX,
    .protect_in_place = tls13_protect_in_place,
    .established = tls13_established,
    .resumed = tls13_resumed,
    .parked = tls13_parked,
    .close_notify = tls13_close_notify,
    .protocol = tls13_protocol,
    .describe = tls13_describe,
    .shrink = tls13_shrink,
    .error = tls13_error,
    .destroy = tls13_destroy,
};

/* The server_name (NULL: none sent) picks the block, whose SSL_CTX answers. */
static size_t
tls13_select(void *arg, const char *server_name)
{
	struct tls13_transport *t = arg;
	const struct kw_server *srv = t->host->select_server(t->host, server_name);
	kw_log_debug("tls13_select: server_name %s%s%s: server at line %d", server_name ? "\"" : "",
	             server_name ? server_name : "none", server_name ? "\"" : "", srv->line);
	return (size_t)(srv - t->cls->cfg->servers);
}

static struct transport *
tls13_open(void *state, struct transport_host *host)
{
	struct tls13_class *cls = state;
	struct tls13_transport *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->base.ops = &tls13_ops;
	t->cls = cls;
	t->host = host;
	sign_waiter_init(&t->waiter, tls13_signed);
	loop_task_init(&t->wake, tls13_go_on);
	const struct kw_server *srv = host->select_server(host, NULL);
	struct tls13_session_params params = {
	    .default_server = (size_t)(srv - cls->cfg->servers),
	    .select = tls13_select,
	    .wake = tls13_job_free,
	    .arg = t,
	    .alpn = host->alpn,
	    .alpn_len = host->alpn_len,
	};
	t->s = tls13_session_new(cls->engine, &params);
	if (t->s == NULL) {
		free(t);
		return NULL;
	}
	return &t->base;
}

static void
tls13_stop(void *state)
{
	struct tls13_class *cls = state;
	if (cls == NULL)
		return;
	tls13_engine_free(cls->engine);
	free(cls);
}

/* Serves server block i with the certificate texts the snapshot carries. */
static int
add_server(struct tls13_class *cls, size_t i, char *err, size_t err_len)
{
	const struct kw_config *cfg = cls->cfg;
	const struct kw_server *srv = &cfg->servers[i];
	const char **texts = calloc(srv->n_chain + 1, sizeof(*texts));
	if (texts == NULL) {
		snprintf(err, err_len, "out of memory");
		return KW_ERR_NOMEM;
	}
	for (size_t k = 0; k < srv->n_chain; k++)
		texts[k] = kw_config_file_text(cfg, srv->chain[k]);
	struct tls13_server_pem pem = {
	    .cert_path = srv->certificate,
	    .cert_text = kw_config_file_text(cfg, srv->certificate),
	    .chain_paths = (const char *const *)srv->chain,
	    .chain_texts = texts,
	    .n_chain = srv->n_chain,
	};
	char why[448];
	int rc = tls13_engine_add_server(cls->engine, i, &pem, srv->key_id, why, sizeof(why));
	free(texts);
	if (rc)
		snprintf(err, err_len, "certificate: %s", why);
	return rc;
}

static int
tls13_start(const struct transport_env *env, void **state, char *err, size_t err_len)
{
	const struct kw_config *cfg = env->cfg;
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		const struct kw_listener *lc = &cfg->listeners[i];
		if (lc->tls == KW_TLS_TLS13 && !cfg->servers[lc->default_server].has_tls) {
			snprintf(err, err_len, "listener %s:%u: default server has no certificate",
			         lc->address, lc->port);
			return KW_ERR_ARGUMENT;
		}
	}
	struct tls13_class *cls = calloc(1, sizeof(*cls));
	if (cls == NULL) {
		snprintf(err, err_len, "out of memory");
		return KW_ERR_NOMEM;
	}
	cls->cfg = cfg;
	cls->loop = env->loop;
	cls->signer = env->signer;
	const struct tls13_settings settings = {
	    .ciphersuites = cfg->tls13.ciphersuites,
	    .groups = cfg->tls13.groups,
	    .session_tickets = cfg->tls13.session_tickets,
	    .max_parked = cfg->tls13.max_parked,
	};
	int rc = tls13_engine_new(&settings, cfg->n_servers, &cls->engine, err, err_len);
	for (size_t i = 0; rc == 0 && i < cfg->n_servers; i++)
		if (cfg->servers[i].has_tls)
			rc = add_server(cls, i, err, err_len);
	if (rc) {
		tls13_stop(cls);
		return rc;
	}
	*state = cls;
	return 0;
}

static void
tls13_set_ticket_keys(void *state, const struct kw_ticket_keys *keys)
{
	struct tls13_class *cls = state;
	tls13_engine_set_ticket_keys(cls->engine, keys);
	const uint8_t *name = keys->current.name;
	kw_log_info("tls13: session ticket keys set: key %02x%02x%02x%02x... (%s previous key)",
	            name[0], name[1], name[2], name[3], keys->has_previous ? "with a" : "no");
}

static bool
tls13_serves(const struct kw_listener *lc)
{
	return lc->tls == KW_TLS_TLS13;
}

const struct transport_class transport_tls13 = {
    .name = "TLS 1.3",
    .serves = tls13_serves,
    .start = tls13_start,
    .stop = tls13_stop,
    .open = tls13_open,
    .set_ticket_keys = tls13_set_ticket_keys,
    .record_size = TLS13_RECORD_PREFIX + TLS13_RECORD_MAX + TLS13_RECORD_SUFFIX,
};

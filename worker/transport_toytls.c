/*
 * transport_toytls.c - the toy-TLS v1 server side behind the transport seam: a thin
 * wrapper around a tt_conn, whose signing request the connection layer routes to
 * the signer.
 */
#include "transport.h"

#include <stdlib.h>

#include "err.h"

struct toytls_transport {
	struct transport base;
	struct tt_conn *conn;
};

static struct tt_conn *
tls(const struct transport *t)
{
	return ((const struct toytls_transport *)t)->conn;
}

static int
toytls_feed(struct transport *t, const uint8_t *wire, size_t len)
{
	return tt_conn_feed(tls(t), wire, len);
}

static struct kw_buf *
toytls_wire(struct transport *t)
{
	return tt_conn_wire(tls(t));
}

static struct kw_buf *
toytls_plaintext(struct transport *t)
{
	return tt_conn_plaintext(tls(t));
}

static bool
toytls_input_pending(const struct transport *t)
{
	return tt_conn_input_pending(tls(t));
}

static int
toytls_protect_in_place(struct transport *t, uint8_t *rec, size_t len)
{
	return tt_conn_protect_in_place(tls(t), rec, len);
}

static bool
toytls_established(const struct transport *t)
{
	return tt_conn_state(tls(t)) == TT_ESTABLISHED;
}

static bool
toytls_sign_request(const struct transport *t, struct tt_sign_request *req)
{
	return tt_conn_sign_request(tls(t), req);
}

static int
toytls_supply_signature(struct transport *t, const uint8_t *sig, size_t len)
{
	return tt_conn_supply_signature(tls(t), sig, len);
}

static void
toytls_signature_failed(struct transport *t, int err)
{
	tt_conn_signature_failed(tls(t), err);
}

static void
toytls_shrink(struct transport *t)
{
	tt_conn_shrink(tls(t));
}

static int
toytls_error(const struct transport *t, const char **detail)
{
	*detail = tt_conn_error_detail(tls(t));
	return tt_conn_error(tls(t));
}

static void
toytls_destroy(struct transport *t)
{
	tt_conn_free(tls(t));
	free(t);
}

static const struct transport_ops toytls_ops = {
    .name = "toy-TLS",
    .passthrough = false,
    .feed = toytls_feed,
    .wire = toytls_wire,
    .plaintext = toytls_plaintext,
    .input_pending = toytls_input_pending,
    .record_prefix = TT_RECORD_PREFIX_LEN,
    .record_suffix = TT_RECORD_SUFFIX_LEN,
    .protect_in_place = toytls_protect_in_place,
    .established = toytls_established,
    .sign_request = toytls_sign_request,
    .supply_signature = toytls_supply_signature,
    .signature_failed = toytls_signature_failed,
    .shrink = toytls_shrink,
    .error = toytls_error,
    .destroy = toytls_destroy,
};

struct transport *
transport_toytls_new(const struct tt_server_params *params)
{
	struct toytls_transport *t = malloc(sizeof(*t));
	if (t == NULL)
		return NULL;
	t->base.ops = &toytls_ops;
	t->conn = tt_conn_new_server(params);
	if (t->conn == NULL) {
		free(t);
		return NULL;
	}
	return &t->base;
}

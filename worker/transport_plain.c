/*
 * transport_plain.c - plain TCP: plaintext is the wire, both ways.
 */
#include "transport.h"

#include <stdlib.h>

#include "err.h"

struct plain_transport {
	struct transport base;
	struct kw_buf in;  /* bytes read, waiting for the parser */
	struct kw_buf out; /* bytes waiting for the socket */
};

static struct plain_transport *
plain(struct transport *t)
{
	return (struct plain_transport *)t;
}

static int
plain_feed(struct transport *t, const uint8_t *wire, size_t len)
{
	return kw_buf_append(&plain(t)->in, wire, len);
}

static struct kw_buf *
plain_wire(struct transport *t)
{
	return &plain(t)->out;
}

static struct kw_buf *
plain_plaintext(struct transport *t)
{
	return &plain(t)->in;
}

static bool
plain_input_pending(const struct transport *t)
{
	return kw_buf_size(&((const struct plain_transport *)t)->in) > 0;
}

static int
plain_protect_in_place(struct transport *t, uint8_t *rec, size_t len)
{
	return 0;
}

static bool
plain_established(const struct transport *t)
{
	return true;
}

static bool
plain_sign_request(const struct transport *t, struct tt_sign_request *req)
{
	return false;
}

static int
plain_supply_signature(struct transport *t, const uint8_t *sig, size_t len)
{
	return KW_ERR_STATE;
}

static void
plain_signature_failed(struct transport *t, int err)
{
}

static void
plain_shrink(struct transport *t)
{
	struct plain_transport *p = plain(t);
	if (kw_buf_size(&p->in) == 0)
		kw_buf_free(&p->in);
	if (kw_buf_size(&p->out) == 0)
		kw_buf_free(&p->out);
}

static int
plain_error(const struct transport *t, const char **detail)
{
	*detail = NULL;
	return 0;
}

static void
plain_destroy(struct transport *t)
{
	struct plain_transport *p = plain(t);
	kw_buf_free(&p->in);
	kw_buf_free(&p->out);
	free(p);
}

static const struct transport_ops plain_ops = {
    .name = "plain",
    .passthrough = true,
    .feed = plain_feed,
    .wire = plain_wire,
    .plaintext = plain_plaintext,
    .input_pending = plain_input_pending,
    .record_prefix = 0,
    .record_suffix = 0,
    .protect_in_place = plain_protect_in_place,
    .established = plain_established,
    .sign_request = plain_sign_request,
    .supply_signature = plain_supply_signature,
    .signature_failed = plain_signature_failed,
    .shrink = plain_shrink,
    .error = plain_error,
    .destroy = plain_destroy,
};

struct transport *
transport_plain_new(void)
{
	struct plain_transport *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->base.ops = &plain_ops;
	return &p->base;
}

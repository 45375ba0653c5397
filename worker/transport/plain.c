/*
 * plain.c - the plain TCP transport: plaintext is the wire, both ways.
 */
#include "transport.h"

#include <stdlib.h>

#define PLAIN_PIECE_MAX 16384u /* a file piece this small leaves with the head, copied */

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
    .record_max = PLAIN_PIECE_MAX,
    .protect_in_place = plain_protect_in_place,
    .established = plain_established,
    .shrink = plain_shrink,
    .error = plain_error,
    .destroy = plain_destroy,
};

static bool
plain_serves(const struct kw_listener *lc)
{
	return lc->tls == KW_TLS_NONE;
}

static int
plain_start(const struct transport_env *env, void **state, char *err, size_t err_len)
{
	*state = NULL;
	return 0;
}

static void
plain_stop(void *state)
{
}

static struct transport *
plain_open(void *state, struct transport_host *host)
{
	struct plain_transport *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->base.ops = &plain_ops;
	return &p->base;
}

const struct transport_class transport_plain = {
    .name = "plain",
    .serves = plain_serves,
    .start = plain_start,
    .stop = plain_stop,
    .open = plain_open,
    .record_size = PLAIN_PIECE_MAX,
};

/*
 * route.h - which server block answers: by server_name during a handshake, by Host
 * per request, among the blocks listening on the connection's listener (vhost.h);
 * then the block's handler: the status page for a status location (status.h), else
 * static files (location and file, static_file.h).
 */
#ifndef KW_ROUTE_H
#define KW_ROUTE_H

#include <stddef.h>
#include <time.h>

#include "config.h"
#include "http.h"
#include "http_response.h"
#include "metrics.h"
#include "static_file.h"

/**
 * What routing reads: the configuration, the HTTP library's per-worker state, the
 * shared counters (for status locations) and the request's client address.
 */
struct route_ctx {
	const struct kw_config *cfg;
	const struct mime_table *mime;
	struct static_cache *files;              /* files opened in this loop turn */
	const struct kw_metrics_region *metrics; /* NULL: no status page */
	const char *client;                      /* the connection's client address */
};

/** The block of listener (an index into cfg->listeners) that answers server_name (NULL: none). */
const struct kw_server *route_server_name(const struct kw_config *cfg, size_t listener,
                                          const char *server_name);

/**
 * The block of listener that answers req: the one its Host names, else dflt; NULL
 * when bound (the block a handshake chose by server_name, NULL: none) is another.
 */
const struct kw_server *route_request(const struct kw_config *cfg, size_t listener,
                                      const struct kw_server *dflt, const struct kw_server *bound,
                                      const struct http_request *req);

/**
 * Fills resp with the answer to req on listener: from the block its Host names, else
 * dflt. bound is the block a handshake chose by server_name (NULL: none chose one):
 * a request for another block is answered 421 (Misdirected Request).
 */
void route_respond(const struct route_ctx *rc, size_t listener, const struct kw_server *dflt,
                   const struct kw_server *bound, const struct http_request *req, time_t now,
                   struct http_response *resp);

#endif

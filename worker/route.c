/*
 * route.c - server block choice and the handler it leads to.
 */
#include "route.h"

#include <string.h>

#include "status.h"
#include "vhost.h"

const struct kw_server *
route_server_name(const struct kw_config *cfg, size_t listener, const char *server_name)
{
	return vhost_select(cfg, listener, server_name,
	                    server_name != NULL ? strlen(server_name) : 0);
}

const struct kw_server *
route_request(const struct kw_config *cfg, size_t listener, const struct kw_server *dflt,
              const struct kw_server *bound, const struct http_request *req)
{
	if (req->host == NULL)
		return bound != NULL ? bound : dflt;
	const struct kw_server *srv =
	    vhost_select(cfg, listener, req->host, vhost_host_len(req->host));
	return bound == NULL || srv == bound ? srv : NULL;
}

void
route_respond(const struct route_ctx *rc, size_t listener, const struct kw_server *dflt,
              const struct kw_server *bound, const struct http_request *req, time_t now,
              struct http_response *resp)
{
	const struct kw_server *srv = route_request(rc->cfg, listener, dflt, bound, req);
	size_t strip = 0;
	const struct kw_location *loc =
	    srv != NULL ? static_location(srv, req->path, &strip) : NULL;
	if (srv == NULL)
		http_error_response(421, req, now, resp);
	else if (loc != NULL && loc->status)
		status_respond(rc->metrics, loc, rc->client, req, now, resp);
	else
		static_respond_cached(rc->cfg, srv, rc->mime, req, now, rc->files, resp);
}

/*
 * fixed_response.h - a location's return: a redirect or a fixed status and body,
 * with the request's values expanded into it (url_vars.h), whatever the method.
 */
#ifndef KW_FIXED_RESPONSE_H
#define KW_FIXED_RESPONSE_H

#include <time.h>

#include "config.h"
#include "http.h"

/**
 * Begins (does not end) the answer r gives to req on server srv: status, then
 * Location with the expanded location for a redirect and the built-in page as its
 * body; else the expanded body as text/plain, or the built-in page without one. A
 * HEAD request gets the headers alone. Returns 0 or KW_ERR_NOMEM.
 */
int fixed_respond(const struct kw_server *srv, const struct kw_return *r,
                  const struct http_request *req, time_t now, struct http_response *resp);

#endif

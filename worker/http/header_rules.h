/*
 * header_rules.h - the header fields a server block or location adds to its
 * responses (headers, expires, hsts in the configuration), added through the
 * response builder so that HTTP/1.1 and HTTP/2 frame them alike.
 */
#ifndef KW_HEADER_RULES_H
#define KW_HEADER_RULES_H

#include <stdbool.h>
#include <time.h>

#include "config.h"
#include "http.h"

/** Whether the configured headers and expires apply to a response with this status. */
bool header_rules_status_applies(int status);

/**
 * Adds to resp (begun, not yet ended) what srv and loc (NULL when no location
 * matched) configure: the location's headers, or its server's when the location
 * sets none, and likewise expires (Expires and Cache-Control from now), for the
 * statuses header_rules_status_applies() names; Strict-Transport-Security on every
 * response of a request that came over TLS (req->tls) when srv has hsts. req may
 * be NULL (no request): then no Strict-Transport-Security. Returns 0 or
 * KW_ERR_NOMEM.
 */
int header_rules_apply(struct http_response *resp, const struct kw_server *srv,
                       const struct kw_location *loc, const struct http_request *req, time_t now);

#endif

/*
 * vhost.h - which server block answers a connection or a request: server_name
 * matching among the server blocks that share a listener, for the toy-TLS
 * server_name (SNI) and for the HTTP Host header alike.
 *
 * A server_name entry is an exact name, compared without regard to ASCII case, or
 * a wildcard "*.example.com", which matches exactly one non-empty label in front of
 * ".example.com" (so neither "example.com" nor "a.b.example.com"). Selection: an
 * exact name first, else the matching wildcard with the longest suffix (on a tie
 * the server block written first), else the listener's default server.
 */
#ifndef KW_VHOST_H
#define KW_VHOST_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/** true when name[0, len) matches the server_name entry pattern (see above). */
bool vhost_name_matches(const char *pattern, const char *name, size_t len);

/**
 * The server block for name[0, len) among those listening on cfg->listeners[listener]:
 * never NULL, the listener's default when name is NULL or nothing matches. listener
 * must be a valid index.
 */
const struct kw_server *vhost_select(const struct kw_config *cfg, size_t listener, const char *name,
                                     size_t len);

/**
 * Length of the host name in a Host header value (or an absolute-form authority):
 * without the ":port" and without one trailing dot. "[v6]:port" keeps "[v6]".
 */
size_t vhost_host_len(const char *host);

#endif

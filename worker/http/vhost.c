/*
 * vhost.c - server_name matching and server block selection.
 */
#include "vhost.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#define RANK_EXACT SIZE_MAX

/*
 * How well pattern matches name[0, len): 0 not at all, RANK_EXACT for the same
 * name, else the wildcard's length (a longer suffix is a closer match).
 */
static size_t
match_rank(const char *pattern, const char *name, size_t len)
{
	size_t plen = strlen(pattern);
	if (len == 0)
		return 0;
	if (strncmp(pattern, "*.", 2) != 0)
		return plen == len && strncasecmp(pattern, name, len) == 0 ? RANK_EXACT : 0;
	const char *suffix = pattern + 1;
	size_t slen = plen - 1;
	if (len <= slen || strncasecmp(name + len - slen, suffix, slen) != 0)
		return 0;
	return memchr(name, '.', len - slen) == NULL ? plen : 0;
}

bool
vhost_name_matches(const char *pattern, const char *name, size_t len)
{
	return match_rank(pattern, name, len) != 0;
}

static bool
listens_on(const struct kw_server *srv, size_t listener)
{
	for (size_t i = 0; i < srv->n_listeners; i++)
		if (srv->listeners[i] == listener)
			return true;
	return false;
}

const struct kw_server *
vhost_select(const struct kw_config *cfg, size_t listener, const char *name, size_t len)
{
	const struct kw_server *best = &cfg->servers[cfg->listeners[listener].default_server];
	size_t best_rank = 0;

	for (size_t i = 0; name != NULL && i < cfg->n_servers && best_rank != RANK_EXACT; i++) {
		const struct kw_server *srv = &cfg->servers[i];
		if (!listens_on(srv, listener))
			continue;
		for (size_t j = 0; j < srv->n_names; j++) {
			size_t rank = match_rank(srv->names[j], name, len);
			if (rank > best_rank) {
				best = srv;
				best_rank = rank;
			}
		}
	}
	return best;
}

size_t
vhost_host_len(const char *host)
{
	size_t len;
	if (host[0] == '[') {
		const char *end = strchr(host, ']');
		return end != NULL ? (size_t)(end - host) + 1 : strlen(host);
	}
	len = strcspn(host, ":");
	if (len > 0 && host[len - 1] == '.')
		len--;
	return len;
}

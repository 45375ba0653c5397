#include "url.h"

#include <stdlib.h>
#include <string.h>

/* Splits the authority into host and port; returns 0 or -1. */
static int
split_authority(const char *a, size_t len, struct kw_url *u)
{
	const char *host = a, *port = NULL;
	size_t host_len = len;
	if (len > 0 && a[0] == '[') {
		const char *close = memchr(a, ']', len);
		if (close == NULL || (close + 1 < a + len && close[1] != ':'))
			return -1;
		host = a + 1;
		host_len = (size_t)(close - host);
		port = close + 1 < a + len ? close + 2 : NULL;
	} else {
		const char *colon = memchr(a, ':', len);
		if (colon != NULL) {
			host_len = (size_t)(colon - a);
			port = colon + 1;
		}
	}
	if (host_len == 0 || host_len >= sizeof(u->host))
		return -1;
	memcpy(u->host, host, host_len);
	u->host[host_len] = '\0';
	if (port == NULL) {
		strcpy(u->port, u->toytls || u->https ? "443" : "80");
		return 0;
	}
	size_t port_len = (size_t)(a + len - port);
	if (port_len == 0 || port_len >= sizeof(u->port) || strspn(port, "0123456789") < port_len)
		return -1;
	memcpy(u->port, port, port_len);
	u->port[port_len] = '\0';
	long n = strtol(u->port, NULL, 10);
	return n >= 1 && n <= 65535 ? 0 : -1;
}

int
kw_url_parse(const char *s, struct kw_url *u)
{
	const char *rest;
	u->toytls = u->https = false;
	if (strncmp(s, "http://", 7) == 0) {
		rest = s + 7;
	} else if (strncmp(s, "https://", 8) == 0) {
		u->https = true;
		rest = s + 8;
	} else if (strncmp(s, "toytls://", 9) == 0) {
		u->toytls = true;
		rest = s + 9;
	} else {
		return -1;
	}
	const char *slash = strchr(rest, '/');
	u->path = slash ? slash : "/";
	return split_authority(rest, slash ? (size_t)(slash - rest) : strlen(rest), u);
}

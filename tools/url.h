/*
 * url.h - the URLs keyward's tools take: http://HOST[:PORT]/PATH,
 * https://HOST[:PORT]/PATH (TLS 1.3) and toytls://HOST[:PORT]/PATH, HOST a name, an
 * IPv4 literal or a bracketed IPv6 one.
 */
#ifndef KW_TOOLS_URL_H
#define KW_TOOLS_URL_H

#include <stdbool.h>

struct kw_url {
	bool toytls;
	bool https;
	char host[256];   /* without brackets */
	char port[8];     /* 1..65535; default 80 (http) or 443 (https, toytls) */
	const char *path; /* points into the parsed string; "/" when it has none */
};

/** Parses s into u. Returns 0, or -1 when s is not such a URL. */
int kw_url_parse(const char *s, struct kw_url *u);

#endif

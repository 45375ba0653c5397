/*
 * addr_prefix.c - IP address prefixes, compared in their IPv6 form.
 */
#include "addr_prefix.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Parses an IPv4 or IPv6 literal into its IPv6 form; *v4 says which it was. */
static bool
parse_addr(const char *text, uint8_t out[16], bool *v4)
{
	struct in_addr a4;

	if (inet_pton(AF_INET, text, &a4) == 1) {
		memcpy(out, v4_mapped, sizeof(v4_mapped));
		memcpy(out + 12, &a4, 4);
		*v4 = true;
		return true;
	}
	*v4 = false;
	return inet_pton(AF_INET6, text, out) == 1;
}

/* true when the first bits bits of a and b agree. */
static bool
same_prefix(const uint8_t a[16], const uint8_t b[16], unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff00u >> rest);
	return ((a[whole] ^ b[whole]) & mask) == 0;
}

const char *
kw_addr_prefix_parse(const char *text, struct kw_addr_prefix *out)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	size_t len = slash != NULL ? (size_t)(slash - text) : strlen(text);
	bool v4;

	if (len == 0 || len >= sizeof(addr))
		return "not an IPv4 or IPv6 address";
	memcpy(addr, text, len);
	addr[len] = '\0';
	if (!parse_addr(addr, out->addr, &v4))
		return "not an IPv4 or IPv6 address";
	unsigned max = v4 ? 32 : 128, bits = max;
	if (slash != NULL) {
		const char *p = slash + 1;
		char *end;
		if (*p < '0' || *p > '9' || strlen(p) > 3)
			return "the prefix length after '/' must be a number";
		unsigned long n = strtoul(p, &end, 10);
		if (*end != '\0' || n > max)
			return v4 ? "an IPv4 prefix length is 0 to 32"
			          : "an IPv6 prefix length is 0 to 128";
		bits = (unsigned)n;
	}
	out->bits = (uint8_t)(bits + (v4 ? 96 : 0));
	for (unsigned i = out->bits; i < 128; i++)
		if (out->addr[i / 8] & (0x80u >> (i % 8)))
			return "the address has bits set past the prefix length";
	return NULL;
}

bool
kw_addr_prefix_match(const struct kw_addr_prefix *prefixes, size_t n, const char *addr)
{
	uint8_t a[16];
	bool v4;

	if (!parse_addr(addr, a, &v4))
		return false;
	for (size_t i = 0; i < n; i++)
		if (same_prefix(a, prefixes[i].addr, prefixes[i].bits))
			return true;
	return false;
}

void
kw_addr_prefix_format(const struct kw_addr_prefix *p, char out[KW_ADDR_PREFIX_TEXT_MAX])
{
	char addr[INET6_ADDRSTRLEN];
	unsigned bits = p->bits;

	if (bits >= 96 && memcmp(p->addr, v4_mapped, sizeof(v4_mapped)) == 0) {
		inet_ntop(AF_INET, p->addr + 12, addr, sizeof(addr));
		bits -= 96;
	} else {
		inet_ntop(AF_INET6, p->addr, addr, sizeof(addr));
	}
	snprintf(out, KW_ADDR_PREFIX_TEXT_MAX, "%s/%u", addr, bits);
}

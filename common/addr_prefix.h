/*
 * addr_prefix.h - IP address prefixes ("127.0.0.0/8", "::1/128") and matching a
 * client address against a list of them.
 *
 * Prefixes and addresses are compared in one form: IPv4 as IPv4-mapped IPv6
 * (::ffff:a.b.c.d), so that "127.0.0.0/8" matches both 127.0.0.1 and
 * ::ffff:127.0.0.1 (a v4 client of a dual-stack listener), and "::ffff:0:0/96"
 * matches every IPv4 client.
 */
#ifndef KW_ADDR_PREFIX_H
#define KW_ADDR_PREFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Longest prefix text: an IPv6 literal, '/', three digits, NUL. */
#define KW_ADDR_PREFIX_TEXT_MAX 50

/** One prefix, in the IPv6 form: addr's first bits bits are significant, the rest zero. */
struct kw_addr_prefix {
	uint8_t addr[16];
	uint8_t bits; /* 0..128 */
};

/**
 * Parses "ADDRESS[/LENGTH]" (IPv4 or IPv6 literal; no length: the whole address)
 * into *out. Address bits past the length must be zero. Returns NULL, or why text is
 * not a prefix (a constant string).
 */
const char *kw_addr_prefix_parse(const char *text, struct kw_addr_prefix *out);

/**
 * true when addr (an IPv4 or IPv6 literal, as inet_ntop writes them) lies in one of
 * the n prefixes; false for anything else, "-" (no address) included.
 */
bool kw_addr_prefix_match(const struct kw_addr_prefix *prefixes, size_t n, const char *addr);

/** Writes p as text ("127.0.0.0/8" for IPv4-mapped prefixes of 96 bits or more) into out. */
void kw_addr_prefix_format(const struct kw_addr_prefix *p, char out[KW_ADDR_PREFIX_TEXT_MAX]);

#endif

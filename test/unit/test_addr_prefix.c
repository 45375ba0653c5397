/*
 * test_addr_prefix.c - address prefixes: parsing (lengths at and past the limit, bits
 * past the length, garbage), matching at the boundary of a prefix and one past it,
 * IPv4, IPv6 and IPv4-mapped IPv6 clients, and the text form -T prints.
 */
#include "addr_prefix.h"

#include <criterion/criterion.h>

static struct kw_addr_prefix
prefix(const char *text)
{
	struct kw_addr_prefix p;
	const char *why = kw_addr_prefix_parse(text, &p);
	cr_assert_null(why, "%s: %s", text, why);
	return p;
}

static bool
match(const char *pfx, const char *addr)
{
	struct kw_addr_prefix p = prefix(pfx);
	return kw_addr_prefix_match(&p, 1, addr);
}

static void
refused(const char *text)
{
	struct kw_addr_prefix p;
	cr_expect_not_null(kw_addr_prefix_parse(text, &p), "%s was accepted", text);
}

Test(addr_prefix, ipv4_boundary)
{
	cr_expect(match("10.1.2.0/24", "10.1.2.0"));
	cr_expect(match("10.1.2.0/24", "10.1.2.255"));
	cr_expect_not(match("10.1.2.0/24", "10.1.3.0"));
	cr_expect_not(match("10.1.2.0/24", "10.1.1.255"));
	/* a length that is not a multiple of 8 */
	cr_expect(match("10.1.2.0/23", "10.1.3.255"));
	cr_expect_not(match("10.1.2.0/23", "10.1.4.0"));
	cr_expect(match("10.1.2.128/25", "10.1.2.128"));
	cr_expect_not(match("10.1.2.128/25", "10.1.2.127"));
}

Test(addr_prefix, ipv4_whole_and_empty)
{
	cr_expect(match("127.0.0.1", "127.0.0.1"));
	cr_expect_not(match("127.0.0.1", "127.0.0.2"));
	cr_expect(match("127.0.0.1/32", "127.0.0.1"));
	cr_expect(match("0.0.0.0/0", "203.0.113.9"));
	cr_expect_not(match("0.0.0.0/0", "2001:db8::1"));
}

Test(addr_prefix, ipv6_boundary)
{
	cr_expect(match("2001:db8::/32", "2001:db8:ffff::1"));
	cr_expect_not(match("2001:db8::/32", "2001:db9::"));
	cr_expect(match("2001:db8::/33", "2001:db8:7fff::1"));
	cr_expect_not(match("2001:db8::/33", "2001:db8:8000::"));
	cr_expect(match("::1/128", "::1"));
	cr_expect_not(match("::1/128", "::2"));
	cr_expect(match("::/0", "fe80::1"));
	cr_expect_not(match("::1/128", "127.0.0.1"));
}

Test(addr_prefix, ipv4_mapped_clients)
{
	cr_expect(match("127.0.0.0/8", "::ffff:127.0.0.1"));
	cr_expect_not(match("127.0.0.0/8", "::ffff:128.0.0.1"));
	cr_expect(match("::ffff:0:0/96", "192.0.2.1"));
	cr_expect(match("::ffff:10.0.0.0/104", "10.200.0.1"));
	cr_expect_not(match("::ffff:10.0.0.0/104", "11.0.0.1"));
	/* an IPv4-compatible or other IPv6 address is not the IPv4 address */
	cr_expect_not(match("127.0.0.0/8", "::127.0.0.1"));
}

Test(addr_prefix, anything_but_an_address_never_matches)
{
	cr_expect_not(match("0.0.0.0/0", "-"));
	cr_expect_not(match("::/0", ""));
	cr_expect_not(match("::/0", "localhost"));
	cr_expect_not(match("0.0.0.0/0", "1.2.3.4 "));
}

Test(addr_prefix, list_matches_any)
{
	struct kw_addr_prefix list[2] = {prefix("127.0.0.0/8"), prefix("::1/128")};
	cr_expect(kw_addr_prefix_match(list, 2, "127.9.9.9"));
	cr_expect(kw_addr_prefix_match(list, 2, "::1"));
	cr_expect_not(kw_addr_prefix_match(list, 2, "10.0.0.1"));
	cr_expect_not(kw_addr_prefix_match(list, 0, "127.0.0.1"));
}

Test(addr_prefix, lengths_at_and_past_the_limit)
{
	prefix("1.2.3.4/32");
	refused("1.2.3.4/33");
	prefix("::1/128");
	refused("::1/129");
	refused("1.2.3.4/");
	refused("1.2.3.4/-1");
	refused("1.2.3.4/ 8");
	refused("1.2.3.4/8x");
	refused("1.2.3.4/0008");
}

Test(addr_prefix, bits_past_the_length_refused)
{
	prefix("10.1.2.0/24");
	refused("10.1.2.1/24");
	prefix("10.1.2.0/23");
	refused("10.1.3.0/23");
	prefix("2001:db8::/32");
	refused("2001:db8::1/32");
}

Test(addr_prefix, not_addresses_refused)
{
	refused("");
	refused("/8");
	refused("localhost");
	refused("1.2.3/8");
	refused("1.2.3.256");
	refused("[::1]/128");
	refused("2001:db8:::1");
}

Test(addr_prefix, text_form_round_trips)
{
	static const char *const texts[] = {"127.0.0.0/8", "0.0.0.0/0", "::1/128", "2001:db8::/32",
	                                    "::/0"};
	char out[KW_ADDR_PREFIX_TEXT_MAX];

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct kw_addr_prefix p = prefix(texts[i]);
		kw_addr_prefix_format(&p, out);
		cr_expect_str_eq(out, texts[i]);
	}
	struct kw_addr_prefix p = prefix("10.0.0.1");
	kw_addr_prefix_format(&p, out);
	cr_expect_str_eq(out, "10.0.0.1/32");
}

/*
 * test_vhost.c - server_name matching (exact names without regard to case, wildcards
 * of exactly one label), server block selection among the blocks sharing a listener
 * (exact before wildcard, longest wildcard, first in the file, the default), and the
 * host name of a Host header.
 */
#include "vhost.h"

#include <string.h>

#include <criterion/criterion.h>

static bool
matches(const char *pattern, const char *name)
{
	return vhost_name_matches(pattern, name, strlen(name));
}

Test(vhost, exact_names_ignore_case)
{
	cr_expect(matches("example.com", "example.com"));
	cr_expect(matches("example.com", "EXAMPLE.com"));
	cr_expect(matches("Example.COM", "example.com"));
	cr_expect(matches("localhost", "LocalHost"));
}

Test(vhost, exact_names_match_whole_names_only)
{
	cr_expect_not(matches("example.com", "example.co"));
	cr_expect_not(matches("example.com", "example.com.au"));
	cr_expect_not(matches("example.com", "www.example.com"));
	cr_expect_not(matches("example.com", "xexample.com"));
	cr_expect_not(matches("example.com", ""));
	cr_expect_not(matches("example.com", "other.org"));
}

Test(vhost, wildcard_matches_exactly_one_label)
{
	cr_expect(matches("*.example.com", "www.example.com"));
	cr_expect(matches("*.example.com", "A.Example.COM"));
	cr_expect(matches("*.example.com", "x.example.com"));
	cr_expect_not(matches("*.example.com", "example.com"));
	cr_expect_not(matches("*.example.com", ".example.com"));
	cr_expect_not(matches("*.example.com", "a.b.example.com"));
	cr_expect_not(matches("*.example.com", "wwwexample.com"));
	cr_expect_not(matches("*.example.com", "www.example.org"));
	cr_expect_not(matches("*.example.com", "www.example.com.evil"));
	cr_expect_not(matches("*.example.com", ""));
}

Test(vhost, length_bounds_the_name)
{
	cr_expect(vhost_name_matches("example.com", "example.com:8080", 11));
	cr_expect(vhost_name_matches("*.example.com", "a.example.com.", 13));
	cr_expect_not(vhost_name_matches("example.com", "example.com", 10));
}

/* Servers 0..3 on listener 0; server 4 only on listener 1; listener 1's default is 4. */
static char *names_a[] = {"a.test", "alias.test"};
static char *names_wild[] = {"*.wild.test"};
static char *names_deep[] = {"*.deep.wild.test", "exact.wild.test"};
static char *names_wild2[] = {"*.wild.test", "a.test"};
static char *names_other[] = {"other.test", "a.test"};
static size_t on_0[] = {0};
static size_t on_0_1[] = {0, 1};
static size_t on_1[] = {1};
static struct kw_server servers[] = {
    {.names = names_a, .n_names = 2, .listeners = on_0_1, .n_listeners = 2, .line = 10},
    {.names = names_wild, .n_names = 1, .listeners = on_0, .n_listeners = 1, .line = 20},
    {.names = names_deep, .n_names = 2, .listeners = on_0, .n_listeners = 1, .line = 30},
    {.names = names_wild2, .n_names = 2, .listeners = on_0, .n_listeners = 1, .line = 40},
    {.names = names_other, .n_names = 2, .listeners = on_1, .n_listeners = 1, .line = 50},
};
static struct kw_listener listeners[] = {
    {.port = 1, .default_server = 2},
    {.port = 2, .default_server = 4},
};
static const struct kw_config cfg = {
    .servers = servers,
    .n_servers = 5,
    .listeners = listeners,
    .n_listeners = 2,
};

static const struct kw_server *
select_name(size_t listener, const char *name)
{
	return vhost_select(&cfg, listener, name, name != NULL ? strlen(name) : 0);
}

Test(vhost, select_exact_before_wildcard_and_first_exact_wins)
{
	cr_expect_eq(select_name(0, "ALIAS.test"), &servers[0]);
	/* server 3 lists a wildcard first and then "a.test", which server 0 listed first */
	cr_expect_eq(select_name(0, "a.test"), &servers[0]);
	/* "exact.wild.test" also matches "*.wild.test" of servers 1 and 3 */
	cr_expect_eq(select_name(0, "Exact.Wild.Test"), &servers[2]);
}

Test(vhost, select_longest_wildcard_then_first_in_file)
{
	cr_expect_eq(select_name(0, "x.deep.wild.test"), &servers[2]);
	cr_expect_eq(select_name(0, "x.wild.test"), &servers[1]);
	cr_expect_eq(select_name(0, "deep.wild.test"), &servers[1]);
}

Test(vhost, select_falls_back_to_the_listener_default)
{
	cr_expect_eq(select_name(0, NULL), &servers[2]);
	cr_expect_eq(select_name(0, "unknown.test"), &servers[2]);
	cr_expect_eq(select_name(0, "x.y.wild.test"), &servers[2]);
	cr_expect_eq(select_name(0, "wild.test"), &servers[2]);
	cr_expect_eq(select_name(0, ""), &servers[2]);
	cr_expect_eq(select_name(1, NULL), &servers[4]);
	cr_expect_eq(select_name(1, "nothing.test"), &servers[4]);
}

Test(vhost, select_only_among_the_listeners_servers)
{
	/* servers 1..3 are not on listener 1: their names fall back to its default */
	cr_expect_eq(select_name(1, "x.wild.test"), &servers[4]);
	cr_expect_eq(select_name(1, "exact.wild.test"), &servers[4]);
	/* server 0 is on both: it wins "a.test" on listener 1 too, being first */
	cr_expect_eq(select_name(1, "a.test"), &servers[0]);
	cr_expect_eq(select_name(1, "Other.Test"), &servers[4]);
	/* server 4 is not on listener 0 */
	cr_expect_eq(select_name(0, "other.test"), &servers[2]);
}

Test(vhost, select_without_names)
{
	static size_t on[] = {0};
	static struct kw_server nameless[] = {
	    {.listeners = on, .n_listeners = 1},
	    {.listeners = on, .n_listeners = 1},
	};
	static struct kw_listener l[] = {{.default_server = 1}};
	const struct kw_config c = {
	    .servers = nameless, .n_servers = 2, .listeners = l, .n_listeners = 1};
	cr_expect_eq(vhost_select(&c, 0, "a.test", 6), &nameless[1]);
	cr_expect_eq(vhost_select(&c, 0, NULL, 0), &nameless[1]);
}

Test(vhost, host_header_name)
{
	cr_expect_eq(vhost_host_len("example.com"), 11);
	cr_expect_eq(vhost_host_len("example.com:8080"), 11);
	cr_expect_eq(vhost_host_len("example.com."), 11);
	cr_expect_eq(vhost_host_len("example.com.:8080"), 11);
	cr_expect_eq(vhost_host_len("127.0.0.1:80"), 9);
	cr_expect_eq(vhost_host_len("[::1]:8443"), 5);
	cr_expect_eq(vhost_host_len("[::1]"), 5);
	cr_expect_eq(vhost_host_len("[::1"), 4);
	cr_expect_eq(vhost_host_len(":80"), 0);
	cr_expect_eq(vhost_host_len(""), 0);
	cr_expect_eq(vhost_host_len("."), 0);
}

Test(vhost, host_header_selects)
{
	const char *host = "A.Test.:443";
	cr_expect_eq(vhost_select(&cfg, 0, host, vhost_host_len(host)), &servers[0]);
	host = "x.wild.test:8080";
	cr_expect_eq(vhost_select(&cfg, 0, host, vhost_host_len(host)), &servers[1]);
	host = "[::1]:8080";
	cr_expect_eq(vhost_select(&cfg, 0, host, vhost_host_len(host)), &servers[2]);
}

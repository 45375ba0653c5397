/*
 * Accept-Encoding: quality values per coding, and the order in which a server
 * may choose among the codings it has.
 */
#include <criterion/criterion.h>

#include "accept_encoding.h"

#define Q(accept, coding) http_accept_q(accept, coding)

Test(accept_q, absent_header_is_identity_only)
{
	cr_assert_eq(Q(NULL, "identity"), 1000);
	cr_assert_eq(Q(NULL, "gzip"), 0);
	cr_assert_eq(Q(NULL, "br"), 0);
}

Test(accept_q, empty_header_lists_nothing)
{
	cr_assert_eq(Q("", "gzip"), 0);
	cr_assert_eq(Q("", "identity"), 1000);
	cr_assert_eq(Q(" , ,", "gzip"), 0);
}

Test(accept_q, plain_list)
{
	cr_assert_eq(Q("gzip, deflate, br", "gzip"), 1000);
	cr_assert_eq(Q("gzip, deflate, br", "br"), 1000);
	cr_assert_eq(Q("gzip, deflate, br", "zstd"), 0);
	cr_assert_eq(Q("gzip,br", "br"), 1000);
	cr_assert_eq(Q("  br  ", "br"), 1000);
}

Test(accept_q, names_are_case_insensitive_and_x_gzip_is_gzip)
{
	cr_assert_eq(Q("GZIP", "gzip"), 1000);
	cr_assert_eq(Q("Br;Q=0.5", "br"), 500);
	cr_assert_eq(Q("x-gzip;q=0.3", "gzip"), 300);
	cr_assert_eq(Q("x-br", "br"), 0);
	cr_assert_eq(Q("gzipx", "gzip"), 0);
	cr_assert_eq(Q("gzi", "gzip"), 0);
}

Test(accept_q, q_values)
{
	cr_assert_eq(Q("gzip;q=0", "gzip"), 0);
	cr_assert_eq(Q("gzip;q=0.", "gzip"), 0);
	cr_assert_eq(Q("gzip;q=0.000", "gzip"), 0);
	cr_assert_eq(Q("gzip;q=0.001", "gzip"), 1);
	cr_assert_eq(Q("gzip;q=0.5", "gzip"), 500);
	cr_assert_eq(Q("gzip;q=0.25", "gzip"), 250);
	cr_assert_eq(Q("gzip;q=0.999", "gzip"), 999);
	cr_assert_eq(Q("gzip;q=1", "gzip"), 1000);
	cr_assert_eq(Q("gzip;q=1.", "gzip"), 1000);
	cr_assert_eq(Q("gzip;q=1.000", "gzip"), 1000);
	cr_assert_eq(Q("gzip ; q=0.7 , br", "gzip"), 700);
	cr_assert_eq(Q("gzip;\tq=0.7", "gzip"), 700);
}

Test(accept_q, malformed_q_skips_the_element)
{
	cr_assert_eq(Q("gzip;q=1.001", "gzip"), 0);
	cr_assert_eq(Q("gzip;q=2", "gzip"), 0);
	cr_assert_eq(Q("gzip;q=0.0001", "gzip"), 0);
	cr_assert_eq(Q("gzip;q=-1", "gzip"), 0);
	cr_assert_eq(Q("gzip;q=", "gzip"), 0);
	cr_assert_eq(Q("gzip;q=.5", "gzip"), 0);
	cr_assert_eq(Q("gzip;q=0.5x", "gzip"), 0);
	cr_assert_eq(Q("gzip;level=1", "gzip"), 0);
	cr_assert_eq(Q("gzip;", "gzip"), 0);
	cr_assert_eq(Q("gzip q=1", "gzip"), 0);
	cr_assert_eq(Q("gzip;q=0.5;x=1", "gzip"), 0);
	/* the next element still counts */
	cr_assert_eq(Q("gzip;q=5, gzip;q=0.2", "gzip"), 200);
	cr_assert_eq(Q("gzip;q=5, br", "br"), 1000);
}

Test(accept_q, first_element_counts)
{
	cr_assert_eq(Q("gzip;q=0, gzip", "gzip"), 0);
	cr_assert_eq(Q("gzip, gzip;q=0", "gzip"), 1000);
}

Test(accept_q, star)
{
	cr_assert_eq(Q("*", "gzip"), 1000);
	cr_assert_eq(Q("*;q=0.4", "br"), 400);
	cr_assert_eq(Q("gzip;q=0, *", "gzip"), 0);
	cr_assert_eq(Q("*, gzip;q=0", "gzip"), 0);
	cr_assert_eq(Q("*;q=0", "gzip"), 0);
	cr_assert_eq(Q("*;q=0", "identity"), 0);
	cr_assert_eq(Q("*;q=0, identity", "identity"), 1000);
	cr_assert_eq(Q("*;q=0.1, *;q=0.9", "br"), 100);
}

Test(accept_q, identity)
{
	cr_assert_eq(Q("gzip", "identity"), 1000);
	cr_assert_eq(Q("identity;q=0", "identity"), 0);
	cr_assert_eq(Q("identity;q=0.5, gzip", "identity"), 500);
	cr_assert_eq(Q("IDENTITY;q=0.2", "identity"), 200);
}

static const char *const codings[] = {"br", "gzip"};

static size_t
order_of(const char *accept, size_t order[2])
{
	order[0] = order[1] = 99;
	return http_accept_order(accept, codings, 2, order);
}

Test(accept_order, server_order_among_equals)
{
	size_t o[2];
	cr_assert_eq(order_of("gzip, br", o), 2);
	cr_assert_eq(o[0], 0);
	cr_assert_eq(o[1], 1);
	cr_assert_eq(order_of("*", o), 2);
	cr_assert_eq(o[0], 0);
}

Test(accept_order, higher_q_first)
{
	size_t o[2];
	cr_assert_eq(order_of("br;q=0.5, gzip", o), 2);
	cr_assert_eq(o[0], 1);
	cr_assert_eq(o[1], 0);
	cr_assert_eq(order_of("br;q=0.501, gzip;q=0.5", o), 2);
	cr_assert_eq(o[0], 0);
}

Test(accept_order, refused_and_unlisted_left_out)
{
	size_t o[2];
	cr_assert_eq(order_of(NULL, o), 0);
	cr_assert_eq(order_of("", o), 0);
	cr_assert_eq(order_of("deflate", o), 0);
	cr_assert_eq(order_of("gzip;q=0, br;q=0", o), 0);
	cr_assert_eq(order_of("gzip;q=0, br", o), 1);
	cr_assert_eq(o[0], 0);
	cr_assert_eq(order_of("*, br;q=0", o), 1);
	cr_assert_eq(o[0], 1);
}

Test(accept_order, identity_preferred_wins)
{
	size_t o[2];
	cr_assert_eq(order_of("gzip;q=0.5, identity", o), 0);
	cr_assert_eq(order_of("gzip;q=0.5, identity;q=0.5", o), 1);
	cr_assert_eq(order_of("gzip;q=0.5, br;q=0.4, identity;q=0.45", o), 1);
	cr_assert_eq(o[0], 1);
	cr_assert_eq(order_of("gzip, identity;q=0", o), 1);
	cr_assert_eq(order_of("gzip;q=0.1", o), 1);
	cr_assert_eq(order_of("gzip;q=0.1, *;q=0.2", o), 1);
	cr_assert_eq(o[0], 0);
	cr_assert_eq(order_of("gzip;q=0.3, *;q=0.2", o), 2);
	cr_assert_eq(o[0], 1);
	cr_assert_eq(o[1], 0);
	cr_assert_eq(order_of("br;q=0.001, *;q=0", o), 1);
}

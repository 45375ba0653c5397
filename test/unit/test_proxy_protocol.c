/*
 * test_proxy_protocol.c - the PROXY protocol parser: v1 and v2 headers as haproxy
 * sends them, every validation rule on both sides of its check, the length limits at
 * and one past the bound, headers in pieces, and the bytes after a header left alone.
 */
#include "proxy_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include <criterion/criterion.h>

#include "err.h"

static const uint8_t sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

static int
parse_text(const char *s, struct proxy_header *hdr, const char **why)
{
	return proxy_parse((const uint8_t *)s, strlen(s), hdr, why);
}

static void
assert_refused(const char *s, const char *rule)
{
	struct proxy_header hdr;
	const char *why = NULL;
	cr_assert_eq(parse_text(s, &hdr, &why), KW_ERR_PROXY_HEADER, "%s", s);
	cr_assert_str_eq(why, rule, "%s", s);
}

static void
assert_v4(const struct proxy_header *hdr, const char *addr, uint16_t port)
{
	char text[INET_ADDRSTRLEN];
	const struct sockaddr_in *in = (const struct sockaddr_in *)&hdr->src;
	cr_assert(hdr->has_addr);
	cr_assert_eq(in->sin_family, AF_INET);
	cr_assert_eq(hdr->src_len, sizeof(*in));
	inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
	cr_assert_str_eq(text, addr);
	cr_assert_eq(ntohs(in->sin_port), port);
}

static void
assert_v6(const struct proxy_header *hdr, const char *addr, uint16_t port)
{
	char text[INET6_ADDRSTRLEN];
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&hdr->src;
	cr_assert(hdr->has_addr);
	cr_assert_eq(in6->sin6_family, AF_INET6);
	inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
	cr_assert_str_eq(text, addr);
	cr_assert_eq(ntohs(in6->sin6_port), port);
}

Test(proxy_v1, tcp4_header_gives_the_source_and_leaves_what_follows)
{
	const char *s = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\nGET / HTTP/1.1\r\n";
	struct proxy_header hdr;
	const char *why = NULL;
	int n = parse_text(s, &hdr, &why);
	cr_assert_eq(n, (int)strlen("PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n"));
	cr_assert_eq(hdr.version, 1);
	assert_v4(&hdr, "192.0.2.7", 56324);
}

Test(proxy_v1, tcp6_header_gives_the_source)
{
	struct proxy_header hdr;
	const char *why = NULL;
	const char *s = "PROXY TCP6 2001:db8::1 2001:db8::2 0 65535\r\n";
	cr_assert_eq(parse_text(s, &hdr, &why), (int)strlen(s));
	assert_v6(&hdr, "2001:db8::1", 0);
}

Test(proxy_v1, unknown_keeps_the_peer)
{
	struct proxy_header hdr;
	const char *why = NULL;
	cr_assert_eq(parse_text("PROXY UNKNOWN\r\n", &hdr, &why), 15);
	cr_assert_not(hdr.has_addr);
	const char *s = "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n";
	cr_assert_eq(parse_text(s, &hdr, &why), (int)strlen(s));
	cr_assert_not(hdr.has_addr);
}

/* "PROXY UNKNOWN " padded with 'x' to a line of exactly total bytes with its CRLF. */
static void
unknown_line(char *line, size_t total)
{
	memset(line, 'x', total);
	memcpy(line, "PROXY UNKNOWN ", 14);
	line[total - 2] = '\r';
	line[total - 1] = '\n';
	line[total] = '\0';
}

Test(proxy_v1, line_of_107_bytes_is_taken_108_refused)
{
	char line[PROXY_V1_MAX + 2];
	struct proxy_header hdr;
	const char *why = NULL;
	unknown_line(line, PROXY_V1_MAX);
	cr_assert_eq(parse_text(line, &hdr, &why), (int)PROXY_V1_MAX);
	unknown_line(line, PROXY_V1_MAX + 1);
	cr_assert_eq(parse_text(line, &hdr, &why), KW_ERR_PROXY_HEADER);
	cr_assert_str_eq(why, "v1: no CRLF within 107 bytes");
}

Test(proxy_v1, incomplete_line_waits_until_107_bytes)
{
	char line[PROXY_V1_MAX + 2];
	struct proxy_header hdr;
	const char *why = NULL;
	unknown_line(line, PROXY_V1_MAX + 1);
	cr_assert_eq(proxy_parse((const uint8_t *)line, PROXY_V1_MAX - 1, &hdr, &why), 0);
	cr_assert_eq(proxy_parse((const uint8_t *)line, PROXY_V1_MAX, &hdr, &why),
	             KW_ERR_PROXY_HEADER);
	cr_assert_eq(parse_text("PROX", &hdr, &why), 0);
	cr_assert_eq(parse_text("PROXY TCP4 1.2.3.4", &hdr, &why), 0);
}

Test(proxy_v1, every_syntax_rule_is_enforced)
{
	assert_refused("GET / HTTP/1.1\r\n", "no PROXY header");
	assert_refused("POST / HTTP/1.1\r\n", "no PROXY header");
	assert_refused("PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n", "no PROXY header");
	assert_refused("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "v1: LF without CR");
	assert_refused("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", "v1: CR not followed by LF");
	assert_refused("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
	               "v1: protocol neither TCP4, TCP6 nor UNKNOWN");
	assert_refused("PROXY \r\n", "v1: protocol neither TCP4, TCP6 nor UNKNOWN");
	assert_refused("PROXY UNKNOWNX\r\n", "v1: protocol neither TCP4, TCP6 nor UNKNOWN");
	assert_refused("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
	               "v1: protocol neither TCP4, TCP6 nor UNKNOWN");
	assert_refused("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
	               "v1: fields not separated by exactly one space");
	assert_refused("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
	               "v1: fields not separated by exactly one space");
	assert_refused("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "v1: fewer than four fields");
	assert_refused("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "v1: more than four fields");
	assert_refused("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
	               "v1: port not a decimal 0..65535 without leading zeros");
	assert_refused("PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
	               "v1: port not a decimal 0..65535 without leading zeros");
	assert_refused("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
	               "v1: port not a decimal 0..65535 without leading zeros");
	assert_refused("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
	               "v1: port not a decimal 0..65535 without leading zeros");
	assert_refused("PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n", "v1: TCP4 address not a dotted quad");
	assert_refused("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", "v1: TCP4 address not a dotted quad");
	assert_refused("PROXY TCP4 1.2.3.4 5.6.7.256 1 2\r\n",
	               "v1: TCP4 address not a dotted quad");
	assert_refused("PROXY TCP4 ::1 ::1 1 2\r\n", "v1: TCP4 address not a dotted quad");
	assert_refused("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
	               "v1: TCP6 address not an IPv6 address");
	assert_refused("PROXY TCP6 ::1 ::g 1 2\r\n", "v1: TCP6 address not an IPv6 address");
	assert_refused("PROXY TCP6 0000:0000:0000:0000:0000:0000:0255.255.255.255 ::1 1 2\r\n",
	               "v1: field too long");
}

Test(proxy_v1, longest_address_is_taken)
{
	struct proxy_header hdr;
	const char *why = NULL;
	const char *s = "PROXY TCP6 0000:0000:0000:0000:0000:ffff:255.255.255.255 ::1 1 2\r\n";
	cr_assert_eq(parse_text(s, &hdr, &why), (int)strlen(s));
	assert_v6(&hdr, "::ffff:255.255.255.255", 1);
}

Test(proxy_v1, ports_at_the_bounds_are_taken)
{
	struct proxy_header hdr;
	const char *why = NULL;
	cr_assert_gt(parse_text("PROXY TCP4 1.2.3.4 5.6.7.8 65535 0\r\n", &hdr, &why), 0);
	assert_v4(&hdr, "1.2.3.4", 65535);
	cr_assert_gt(parse_text("PROXY TCP4 255.255.255.255 0.0.0.0 0 1\r\n", &hdr, &why), 0);
	assert_v4(&hdr, "255.255.255.255", 0);
}

/* A v2 header: version/command byte vc, family/protocol fp, block b of n bytes. */
static size_t
v2(uint8_t *out, uint8_t vc, uint8_t fp, const uint8_t *b, size_t n)
{
	memcpy(out, sig, sizeof(sig));
	out[12] = vc;
	out[13] = fp;
	out[14] = (uint8_t)(n >> 8);
	out[15] = (uint8_t)n;
	if (n > 0)
		memcpy(out + 16, b, n);
	return 16 + n;
}

static const uint8_t tcp4_block[12] = {192, 0, 2, 9, 10, 0, 0, 1, 0xc3, 0x50, 0x01, 0xbb};

Test(proxy_v2, tcp4_proxy_gives_the_source)
{
	uint8_t h[64];
	struct proxy_header hdr;
	const char *why = NULL;
	size_t n = v2(h, 0x21, 0x11, tcp4_block, sizeof(tcp4_block));
	memcpy(h + n, "\x16\x03\x01", 3); /* a ClientHello's first bytes follow */
	cr_assert_eq(proxy_parse(h, n + 3, &hdr, &why), (int)n);
	cr_assert_eq(hdr.version, 2);
	assert_v4(&hdr, "192.0.2.9", 50000);
}

Test(proxy_v2, tcp6_proxy_gives_the_source)
{
	uint8_t b[36] = {0x20,        0x01,     0x0d,        0xb8,        [15] = 0x05, [16] = 0xfe,
	                 [17] = 0x80, [31] = 1, [32] = 0x1f, [33] = 0x90, [34] = 0,    [35] = 80};
	uint8_t h[64];
	struct proxy_header hdr;
	const char *why = NULL;
	size_t n = v2(h, 0x21, 0x21, b, sizeof(b));
	cr_assert_eq(proxy_parse(h, n, &hdr, &why), (int)n);
	assert_v6(&hdr, "2001:db8::5", 8080);
}

Test(proxy_v2, local_unspec_and_unix_keep_the_peer)
{
	uint8_t h[300], unix_block[216] = {0};
	struct proxy_header hdr;
	const char *why = NULL;
	size_t n = v2(h, 0x20, 0x00, NULL, 0); /* haproxy's health checks */
	cr_assert_eq(proxy_parse(h, n, &hdr, &why), 16);
	cr_assert_not(hdr.has_addr);
	n = v2(h, 0x20, 0x11, tcp4_block, sizeof(tcp4_block)); /* LOCAL ignores the block */
	cr_assert_eq(proxy_parse(h, n, &hdr, &why), (int)n);
	cr_assert_not(hdr.has_addr);
	n = v2(h, 0x21, 0x00, tcp4_block, 5);
	cr_assert_eq(proxy_parse(h, n, &hdr, &why), (int)n);
	cr_assert_not(hdr.has_addr);
	n = v2(h, 0x21, 0x31, unix_block, sizeof(unix_block));
	cr_assert_eq(proxy_parse(h, n, &hdr, &why), (int)n);
	cr_assert_not(hdr.has_addr);
}

static void
assert_v2_refused(const uint8_t *h, size_t n, const char *rule)
{
	struct proxy_header hdr;
	const char *why = NULL;
	cr_assert_eq(proxy_parse(h, n, &hdr, &why), KW_ERR_PROXY_HEADER, "%s", rule);
	cr_assert_str_eq(why, rule);
}

Test(proxy_v2, every_field_rule_is_enforced)
{
	uint8_t h[128];
	size_t n = v2(h, 0x21, 0x11, tcp4_block, sizeof(tcp4_block));
	h[11] ^= 1;
	assert_v2_refused(h, n, "no PROXY header");
	h[11] ^= 1;
	n = v2(h, 0x11, 0x11, tcp4_block, sizeof(tcp4_block));
	assert_v2_refused(h, n, "v2: version is not 2");
	n = v2(h, 0x31, 0x11, tcp4_block, sizeof(tcp4_block));
	assert_v2_refused(h, n, "v2: version is not 2");
	n = v2(h, 0x22, 0x11, tcp4_block, sizeof(tcp4_block));
	assert_v2_refused(h, n, "v2: command neither LOCAL nor PROXY");
	for (unsigned fp = 0x12; fp <= 0x42; fp += 0x10) {
		n = v2(h, 0x21, (uint8_t)fp, tcp4_block, sizeof(tcp4_block));
		assert_v2_refused(
		    h, n,
		    "v2: family and protocol not TCP over IPv4 or IPv6, UNIX stream, nor UNSPEC");
	}
	n = v2(h, 0x21, 0x10, tcp4_block, sizeof(tcp4_block));
	assert_v2_refused(
	    h, n, "v2: family and protocol not TCP over IPv4 or IPv6, UNIX stream, nor UNSPEC");
	n = v2(h, 0x21, 0x11, tcp4_block, 11);
	assert_v2_refused(h, n, "v2: address block shorter than its family's addresses");
	n = v2(h, 0x21, 0x21, tcp4_block, 12);
	assert_v2_refused(h, n, "v2: address block shorter than its family's addresses");
}

Test(proxy_v2, a_bad_byte_is_refused_before_the_rest_comes)
{
	uint8_t h[16];
	struct proxy_header hdr;
	const char *why = NULL;
	v2(h, 0x21, 0x11, NULL, 0);
	cr_assert_eq(proxy_parse(h, 1, &hdr, &why), 0);
	cr_assert_eq(proxy_parse(h, 15, &hdr, &why), 0);
	h[3] = 'X';
	cr_assert_eq(proxy_parse(h, 4, &hdr, &why), KW_ERR_PROXY_HEADER);
}

Test(proxy_v2, tlvs_are_skipped_and_checked)
{
	uint8_t b[12 + 3 + 4 + 3], h[64];
	struct proxy_header hdr;
	const char *why = NULL;
	memcpy(b, tcp4_block, 12);
	memcpy(b + 12, "\x01\x00\x04h2\x00\x00", 7); /* ALPN, 4 bytes */
	memcpy(b + 19, "\x04\x00\x00", 3);           /* NOOP, empty */
	size_t n = v2(h, 0x21, 0x11, b, sizeof(b));
	cr_assert_eq(proxy_parse(h, n, &hdr, &why), (int)n);
	assert_v4(&hdr, "192.0.2.9", 50000);
	b[21] = 1; /* the NOOP now claims one byte past the block */
	n = v2(h, 0x21, 0x11, b, sizeof(b));
	assert_v2_refused(h, n, "v2: TLV runs past the address block");
	n = v2(h, 0x21, 0x11, b, sizeof(b) - 1); /* two bytes of a TLV header */
	assert_v2_refused(h, n, "v2: truncated TLV header");
}

Test(proxy_v2, block_of_2048_bytes_is_taken_2049_refused)
{
	static uint8_t b[PROXY_V2_MAX_LEN + 1], h[PROXY_HEADER_MAX + 1];
	struct proxy_header hdr;
	const char *why = NULL;
	memcpy(b, tcp4_block, 12);
	const size_t pad = PROXY_V2_MAX_LEN - 12 - 3; /* one NOOP TLV fills the block */
	b[12] = 0x04;
	b[13] = (uint8_t)(pad >> 8);
	b[14] = (uint8_t)pad;
	size_t n = v2(h, 0x21, 0x11, b, PROXY_V2_MAX_LEN);
	cr_assert_eq(n, PROXY_HEADER_MAX);
	cr_assert_eq(proxy_parse(h, n - 1, &hdr, &why), 0);
	cr_assert_eq(proxy_parse(h, n, &hdr, &why), (int)n);
	b[13] = (uint8_t)((pad + 1) >> 8);
	b[14] = (uint8_t)(pad + 1);
	n = v2(h, 0x21, 0x11, b, PROXY_V2_MAX_LEN + 1);
	assert_v2_refused(h, 16, "v2: address block longer than 2048 bytes");
}

Test(proxy_reader, header_in_pieces_then_the_transport_bytes)
{
	const char *s = "PROXY TCP4 203.0.113.4 10.0.0.1 1234 80\r\nGET /";
	const size_t hlen = strlen("PROXY TCP4 203.0.113.4 10.0.0.1 1234 80\r\n");
	struct proxy_reader r = {0};
	struct proxy_header hdr;
	const char *why = NULL;
	size_t used = 99;
	for (size_t i = 0; i < 20; i++)
		cr_assert_eq(proxy_reader_feed(&r, (const uint8_t *)s + i, 1, &hdr, &used, &why),
		             0);
	cr_assert_not_null(r.buf);
	cr_assert_eq(
	    proxy_reader_feed(&r, (const uint8_t *)s + 20, strlen(s) - 20, &hdr, &used, &why), 1);
	cr_assert_eq(used, hlen - 20);
	cr_assert_str_eq(s + 20 + used, "GET /");
	assert_v4(&hdr, "203.0.113.4", 1234);
	cr_assert_null(r.buf);
	cr_assert_eq(r.len, 0);
}

Test(proxy_reader, whole_header_in_one_read_allocates_nothing)
{
	uint8_t h[64];
	struct proxy_reader r = {0};
	struct proxy_header hdr;
	const char *why = NULL;
	size_t used = 0;
	size_t n = v2(h, 0x21, 0x11, tcp4_block, sizeof(tcp4_block));
	h[n] = 0x16;
	cr_assert_eq(proxy_reader_feed(&r, h, n + 1, &hdr, &used, &why), 1);
	cr_assert_eq(used, n);
	cr_assert_null(r.buf);
}

Test(proxy_reader, v2_in_pieces_and_a_bad_piece)
{
	uint8_t h[64];
	struct proxy_reader r = {0};
	struct proxy_header hdr;
	const char *why = NULL;
	size_t used = 0;
	size_t n = v2(h, 0x21, 0x11, tcp4_block, sizeof(tcp4_block));
	cr_assert_eq(proxy_reader_feed(&r, h, 10, &hdr, &used, &why), 0);
	cr_assert_eq(proxy_reader_feed(&r, h + 10, 10, &hdr, &used, &why), 0);
	cr_assert_eq(proxy_reader_feed(&r, h + 20, n - 20, &hdr, &used, &why), 1);
	cr_assert_eq(used, n - 20);
	assert_v4(&hdr, "192.0.2.9", 50000);

	cr_assert_eq(proxy_reader_feed(&r, h, 13, &hdr, &used, &why), 0);
	const uint8_t fp = 0x11;
	cr_assert_eq(proxy_reader_feed(&r, &fp, 1, &hdr, &used, &why), 0);
	const uint8_t len[2] = {0x09, 0x00}; /* 2304 bytes: over the bound */
	cr_assert_eq(proxy_reader_feed(&r, len, 2, &hdr, &used, &why), KW_ERR_PROXY_HEADER);
	cr_assert_str_eq(why, "v2: address block longer than 2048 bytes");
	cr_assert_null(r.buf);
	proxy_reader_dispose(&r);
}

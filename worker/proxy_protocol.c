/*
 * proxy_protocol.c - PROXY protocol v1 and v2 headers, parsed strictly.
 */
#include "proxy_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define V1_PREFIX     "PROXY "
#define V1_PREFIX_LEN 6u
#define V1_FIELDS     4u  /* source, destination, source port, destination port */
#define V1_FIELD_MAX  46u /* INET6_ADDRSTRLEN: the longest address, with its NUL */

#define V2_SIG_LEN   12u
#define V2_CMD_LOCAL 0x0u
#define V2_CMD_PROXY 0x1u
#define V2_TCP4      0x11u
#define V2_TCP6      0x21u
#define V2_UNIX      0x31u
#define V2_UNSPEC    0x00u
#define V2_TCP4_LEN  12u  /* two IPv4 addresses, two ports */
#define V2_TCP6_LEN  36u  /* two IPv6 addresses, two ports */
#define V2_UNIX_LEN  216u /* two 108-byte socket paths */
#define V2_TLV_HEAD  3u   /* type, 16-bit length */

static const uint8_t v2_sig[V2_SIG_LEN] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                           0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

static int
refuse(const char **why, const char *rule)
{
	*why = rule;
	return KW_ERR_PROXY_HEADER;
}

/* A decimal port: 0..65535, no sign, no leading zero. */
static bool
parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 5 || (s[0] == '0' && n > 1))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

/* Fills hdr->src with an address of family af and port. false: not such an address. */
static bool
v1_address(int af, const char *text, uint16_t port, struct proxy_header *hdr)
{
	memset(&hdr->src, 0, sizeof(hdr->src));
	if (af == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&hdr->src;
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		hdr->src_len = sizeof(*in);
		return inet_pton(AF_INET, text, &in->sin_addr) == 1;
	}
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&hdr->src;
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(port);
	hdr->src_len = sizeof(*in6);
	return inet_pton(AF_INET6, text, &in6->sin6_addr) == 1;
}

/* The fields after "PROXY TCP4 " or "PROXY TCP6 ": p[0, n), the CRLF left out. */
static int
v1_tcp(int af, const uint8_t *p, size_t n, struct proxy_header *hdr, const char **why)
{
	char field[V1_FIELDS][V1_FIELD_MAX];
	size_t k = 0, at = 0;
	uint16_t sport, dport;
	uint8_t dst[sizeof(struct in6_addr)];

	for (size_t i = 0; i <= n; i++) {
		if (i < n && p[i] != ' ') {
			if (k == V1_FIELDS || at + 1 == V1_FIELD_MAX)
				return refuse(why, k == V1_FIELDS ? "v1: more than four fields"
				                                  : "v1: field too long");
			field[k][at++] = (char)p[i];
			continue;
		}
		if (at == 0)
			return refuse(why, "v1: fields not separated by exactly one space");
		field[k++][at] = '\0';
		at = 0;
	}
	if (k != V1_FIELDS)
		return refuse(why, "v1: fewer than four fields");
	if (!parse_port(field[2], &sport) || !parse_port(field[3], &dport))
		return refuse(why, "v1: port not a decimal 0..65535 without leading zeros");
	if (!v1_address(af, field[0], sport, hdr) || inet_pton(af, field[1], dst) != 1)
		return refuse(why, af == AF_INET ? "v1: TCP4 address not a dotted quad"
		                                 : "v1: TCP6 address not an IPv6 address");
	hdr->has_addr = true;
	return 0;
}

static int
parse_v1(const uint8_t *buf, size_t len, struct proxy_header *hdr, const char **why)
{
	size_t end = 0;
	const size_t scan = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;

	if (memcmp(buf, V1_PREFIX, scan < V1_PREFIX_LEN ? scan : V1_PREFIX_LEN) != 0)
		return refuse(why, "no PROXY header");
	for (size_t i = 0; i < scan && end == 0; i++) {
		if (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r'))
			return refuse(why, "v1: LF without CR");
		if (buf[i] == '\r' && i + 1 < len && buf[i + 1] != '\n')
			return refuse(why, "v1: CR not followed by LF");
		if (buf[i] == '\n')
			end = i + 1;
	}
	if (end == 0)
		return len >= PROXY_V1_MAX ? refuse(why, "v1: no CRLF within 107 bytes") : 0;
	const uint8_t *p = buf + V1_PREFIX_LEN;
	const size_t n = end - 2 - V1_PREFIX_LEN;
	int rc;

	memset(hdr, 0, sizeof(*hdr));
	hdr->version = 1;
	if (n >= 7 && memcmp(p, "UNKNOWN", 7) == 0 && (n == 7 || p[7] == ' '))
		return (int)end;
	if (n >= 5 && memcmp(p, "TCP4 ", 5) == 0)
		rc = v1_tcp(AF_INET, p + 5, n - 5, hdr, why);
	else if (n >= 5 && memcmp(p, "TCP6 ", 5) == 0)
		rc = v1_tcp(AF_INET6, p + 5, n - 5, hdr, why);
	else
		rc = refuse(why, "v1: protocol neither TCP4, TCP6 nor UNKNOWN");
	return rc < 0 ? rc : (int)end;
}

/* The source address and port of a TCP4 or TCP6 block. */
static void
v2_address(uint8_t fam, const uint8_t *b, struct proxy_header *hdr)
{
	memset(&hdr->src, 0, sizeof(hdr->src));
	hdr->has_addr = true;
	if (fam == V2_TCP4) {
		struct sockaddr_in *in = (struct sockaddr_in *)&hdr->src;
		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, b, 4);
		memcpy(&in->sin_port, b + 8, 2);
		hdr->src_len = sizeof(*in);
		return;
	}
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&hdr->src;
	in6->sin6_family = AF_INET6;
	memcpy(&in6->sin6_addr, b, 16);
	memcpy(&in6->sin6_port, b + 32, 2);
	hdr->src_len = sizeof(*in6);
}

/* The TLVs in b[0, n): each must lie wholly inside the block. */
static int
v2_tlvs(const uint8_t *b, size_t n, const char **why)
{
	size_t off = 0;

	while (off < n) {
		if (n - off < V2_TLV_HEAD)
			return refuse(why, "v2: truncated TLV header");
		const size_t tl = (size_t)b[off + 1] << 8 | b[off + 2];
		if (tl > n - off - V2_TLV_HEAD)
			return refuse(why, "v2: TLV runs past the address block");
		off += V2_TLV_HEAD + tl;
	}
	return 0;
}

static int
parse_v2(const uint8_t *buf, size_t len, struct proxy_header *hdr, const char **why)
{
	if (memcmp(buf, v2_sig, len < V2_SIG_LEN ? len : V2_SIG_LEN) != 0)
		return refuse(why, "no PROXY header");
	if (len < PROXY_V2_FIXED)
		return 0;
	const unsigned cmd = buf[12] & 0x0fu;
	const uint8_t fam = buf[13];
	const size_t blen = (size_t)buf[14] << 8 | buf[15];
	size_t alen;

	if (buf[12] >> 4 != 2)
		return refuse(why, "v2: version is not 2");
	if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
		return refuse(why, "v2: command neither LOCAL nor PROXY");
	if (blen > PROXY_V2_MAX_LEN)
		return refuse(why, "v2: address block longer than 2048 bytes");
	if (len < PROXY_V2_FIXED + blen)
		return 0;
	memset(hdr, 0, sizeof(*hdr));
	hdr->version = 2;
	if (cmd == V2_CMD_LOCAL || fam == V2_UNSPEC)
		return (int)(PROXY_V2_FIXED + blen);
	switch (fam) {
	case V2_TCP4:
		alen = V2_TCP4_LEN;
		break;
	case V2_TCP6:
		alen = V2_TCP6_LEN;
		break;
	case V2_UNIX:
		alen = V2_UNIX_LEN;
		break;
	default:
		return refuse(why, "v2: family and protocol not TCP over IPv4 or IPv6, UNIX "
		                   "stream, nor UNSPEC");
	}
	if (blen < alen)
		return refuse(why, "v2: address block shorter than its family's addresses");
	const uint8_t *b = buf + PROXY_V2_FIXED;
	int rc = v2_tlvs(b + alen, blen - alen, why);
	if (rc < 0)
		return rc;
	if (fam != V2_UNIX)
		v2_address(fam, b, hdr);
	return (int)(PROXY_V2_FIXED + blen);
}

int
proxy_parse(const uint8_t *buf, size_t len, struct proxy_header *hdr, const char **why)
{
	if (len == 0)
		return 0;
	if (buf[0] == 'P')
		return parse_v1(buf, len, hdr, why);
	if (buf[0] == v2_sig[0])
		return parse_v2(buf, len, hdr, why);
	return refuse(why, "no PROXY header");
}

int
proxy_reader_feed(struct proxy_reader *r, const uint8_t *in, size_t n, struct proxy_header *hdr,
                  size_t *used, const char **why)
{
	const uint8_t *text = in;
	size_t have = n, before = r->len;
	int rc;

	if (r->len > 0) {
		const size_t take = n < PROXY_HEADER_MAX - r->len ? n : PROXY_HEADER_MAX - r->len;
		memcpy(r->buf + r->len, in, take);
		r->len += take;
		text = r->buf;
		have = r->len;
	}
	rc = proxy_parse(text, have, hdr, why);
	if (rc == 0 && r->len == 0 && n > 0) {
		/* incomplete, so shorter than PROXY_HEADER_MAX: kept until the rest comes */
		r->buf = malloc(PROXY_HEADER_MAX);
		if (r->buf == NULL) {
			*why = "out of memory";
			return KW_ERR_NOMEM;
		}
		memcpy(r->buf, in, n);
		r->len = n;
		return 0;
	}
	if (rc == 0)
		return 0;
	proxy_reader_dispose(r);
	if (rc < 0)
		return rc;
	*used = (size_t)rc - before;
	return 1;
}

void
proxy_reader_dispose(struct proxy_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->len = 0;
}

/*
 * proxy_protocol.h - the PROXY protocol header (versions 1 and 2, as haproxy's
 * specification "The PROXY protocol" defines them) that a load balancer sends before
 * anything else on a connection, carrying the address of the client it accepted.
 * A pure parser: bytes in, an address out. It reads no socket and knows no transport;
 * the connection (conn.c) feeds it what arrives before the transport's first byte.
 *
 *   v1: "PROXY TCP4 SRC DST SPORT DPORT\r\n", "PROXY TCP6 ...\r\n" or
 *       "PROXY UNKNOWN[ anything]\r\n"; at most PROXY_V1_MAX bytes with the CRLF.
 *       Exactly one space between fields, addresses as inet_pton(3) reads them
 *       (dotted quad without leading zeros for TCP4), ports decimal 0..65535 without
 *       leading zeros.
 *   v2: the 12-byte signature, version 2 with command LOCAL or PROXY, family and
 *       protocol (TCP over IPv4 or IPv6, UNIX stream, or UNSPEC), a big-endian length
 *       of at most PROXY_V2_MAX_LEN, the addresses, then TLVs: each one's length is
 *       checked against the block and its contents skipped.
 *
 * LOCAL (v2), UNKNOWN (v1), and the families that carry no IP address (UNSPEC, UNIX)
 * leave the connection's own peer as the client (proxy_header.has_addr false).
 */
#ifndef KW_PROXY_PROTOCOL_H
#define KW_PROXY_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/** Longest v1 header, "PROXY" to CRLF included (the specification's bound). */
#define PROXY_V1_MAX 107u
/** The fixed part of a v2 header: signature, version/command, family/protocol, length. */
#define PROXY_V2_FIXED 16u
/** Largest address block (addresses and TLVs) accepted after the fixed part. */
#define PROXY_V2_MAX_LEN 2048u
/** Longest header of either version. */
#define PROXY_HEADER_MAX (PROXY_V2_FIXED + PROXY_V2_MAX_LEN)

/** What a complete header says. */
struct proxy_header {
	unsigned version; /* 1 or 2 */
	/** true: src is the client; false: keep the connection's peer (LOCAL, UNKNOWN). */
	bool has_addr;
	struct sockaddr_storage src; /* AF_INET or AF_INET6 with the port, when has_addr */
	socklen_t src_len;
};

/**
 * Parses a header at the start of buf (len bytes). Returns the header's length in
 * bytes (> 0) with *hdr filled; 0 when buf is a valid beginning of a header that
 * needs more bytes; KW_ERR_PROXY_HEADER when it is not one, with *why (static text)
 * saying which rule it breaks. Bytes after the header are not looked at.
 */
int proxy_parse(const uint8_t *buf, size_t len, struct proxy_header *hdr, const char **why);

/**
 * Gathers a header that arrives in pieces. Zero-initialised it is empty; it holds a
 * buffer only while a header is incomplete.
 */
struct proxy_reader {
	uint8_t *buf; /* PROXY_HEADER_MAX bytes, or NULL */
	size_t len;   /* bytes of the header gathered so far */
};

/**
 * Feeds n bytes received after those fed before. Returns 1 when the header is
 * complete: *hdr is filled and in[*used, n) are the bytes after it (the transport's);
 * 0 when every byte was taken and more are needed; KW_ERR_PROXY_HEADER (*why set) or
 * KW_ERR_NOMEM. After 1 or an error the reader is empty again.
 */
int proxy_reader_feed(struct proxy_reader *r, const uint8_t *in, size_t n, struct proxy_header *hdr,
                      size_t *used, const char **why);

/** Frees what the reader holds. */
void proxy_reader_dispose(struct proxy_reader *r);

#endif

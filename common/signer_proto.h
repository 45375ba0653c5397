/*
 * signer_proto.h - the worker <-> signer channel, the whole wire format in one place.
 *
 * Every message is one SOCK_SEQPACKET datagram: a fixed 12-byte header followed by
 * one fixed-size payload. All integers big-endian; no size_t, no strings.
 *
 *   header := version:u8 || type:u8 || reserved:u16 (0) || request_id:u32 || length:u32
 *
 * The signer builds the bytes it signs itself from typed fields; there is no
 * "sign these bytes" request. Decoders check every length and value exactly.
 */
#ifndef KW_SIGNER_PROTO_H
#define KW_SIGNER_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "tls13_cv.h"
#include "toytls.h"

#define SP_VERSION 1u
#define SP_HEADER_LEN 12u

enum sp_type {
	SP_SIGN_TOYTLS_V1 = 1,   /* worker -> signer */
	SP_SIGN_REPLY = 2,       /* signer -> worker */
	SP_SIGN_TLS13_CV_V1 = 3, /* worker -> signer */
};

enum sp_status {
	SP_STATUS_OK = 0,
	SP_STATUS_BAD_KEY = 1,      /* unknown key id */
	SP_STATUS_BUSY = 2,         /* too many requests in flight on this channel */
	SP_STATUS_RATE_LIMITED = 3, /* channel over its rate limit */
	SP_STATUS_FAILED = 4,       /* signing failed */
};

/** What a signing request asks the signer to sign. */
enum sp_sign_kind {
	SP_KIND_TOYTLS = 0,   /* toy-TLS v1 ServerAuth: client_pub || server_pub */
	SP_KIND_TLS13_CV = 1, /* TLS 1.3 server CertificateVerify content over tls13.hash */
};

/**
 * A signing request, one of two messages:
 *
 *   SP_SIGN_TOYTLS_V1 payload:   key_id:u32 || client_pub[32] || server_pub[32]
 *   SP_SIGN_TLS13_CV_V1 payload: key_id:u32 || scheme:u16 || hash_len:u16 || hash[hash_len]
 *
 * hash_len is 32 or 48 (the TLS 1.3 suites' hashes) and scheme one of enum tls13_scheme;
 * the signer checks that the scheme fits the key and builds the content itself
 * (tls13_cv_content()). A zeroed request is a toy-TLS one.
 */
struct sp_sign_request {
	uint32_t request_id;
	uint32_t key_id;
	enum sp_sign_kind kind;
	uint8_t client_pub[TT_X25519_LEN]; /* SP_KIND_TOYTLS */
	uint8_t server_pub[TT_X25519_LEN];
	struct {
		uint16_t scheme; /* SP_KIND_TLS13_CV */
		uint16_t hash_len;
		uint8_t hash[TLS13_CV_MAX_HASH_LEN];
	} tls13;
};
#define SP_SIGN_REQUEST_PAYLOAD_LEN (4u + 2u * TT_X25519_LEN)
/** The length of an SP_SIGN_TOYTLS_V1 request, also the longest request of any kind. */
#define SP_SIGN_REQUEST_LEN (SP_HEADER_LEN + SP_SIGN_REQUEST_PAYLOAD_LEN)
#define SP_SIGN_TLS13_FIXED_LEN (SP_HEADER_LEN + 8u)

/** SP_SIGN_REPLY payload: status:u16 || sig_len:u16 || sig[sig_len]. */
struct sp_sign_reply {
	uint32_t request_id;
	uint16_t status;
	uint16_t sig_len;
	uint8_t sig[TT_MAX_SIGNATURE_LEN];
};
#define SP_SIGN_REPLY_MAX_LEN (SP_HEADER_LEN + 4u + TT_MAX_SIGNATURE_LEN)

struct tt_sign_request;

/**
 * The signer's request (kind SP_KIND_TOYTLS, request_id 0: the sender numbers it) for
 * the signature a toy-TLS server connection waits for.
 */
void sp_sign_request_toytls(const struct tt_sign_request *tt, struct sp_sign_request *out);

/**
 * Encodes a request of either kind into out (at most SP_SIGN_REQUEST_LEN bytes; a
 * TLS 1.3 request's hash_len must be 32 or 48). Returns the length.
 */
size_t sp_encode_sign_request(const struct sp_sign_request *req, uint8_t out[SP_SIGN_REQUEST_LEN]);

/**
 * Decodes a request of either kind, checking version, type, reserved bits, length
 * fields and the datagram size exactly; refuses X25519 keys of small order (toy-TLS),
 * a hash length other than 32 or 48 and a scheme outside enum tls13_scheme (TLS 1.3).
 * Whether the scheme fits the key is for the signer to check. Returns 0 or
 * KW_ERR_UNEXPECTED_MESSAGE.
 */
int sp_decode_sign_request(const uint8_t *msg, size_t len, struct sp_sign_request *req);

/** Encodes a reply into out (SP_SIGN_REPLY_MAX_LEN bytes). Returns the length. */
size_t sp_encode_sign_reply(const struct sp_sign_reply *rep, uint8_t out[SP_SIGN_REPLY_MAX_LEN]);

/** Decodes a reply, checking every length exactly. Returns 0 or KW_ERR_UNEXPECTED_MESSAGE. */
int sp_decode_sign_reply(const uint8_t *msg, size_t len, struct sp_sign_reply *rep);

/** Name of a status for logs. */
const char *sp_status_name(uint16_t status);

#endif

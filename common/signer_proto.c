/*
 * signer_proto.c - encode and decode the worker <-> signer channel messages.
 *
 * Decoders accept exactly one form per message: the datagram size, the header's
 * length field, version, type and reserved bits, and every length inside the
 * payload must be what the encoder writes. The request decoder also refuses a
 * client or server X25519 key of small order, all-zero included (an invalid point a
 * sane worker never forwards); the signer trusts nothing else about the keys: it
 * only signs them. A TLS 1.3 request carries a scheme code point and a transcript
 * hash of 32 or 48 bytes: the content to sign is built by the signer from them.
 * A reply carries a signature exactly when its status is SP_STATUS_OK.
 */
#include <assert.h>
#include <string.h>

#include "err.h"
#include "signer_proto.h"
#include "toytls_conn.h"
#include "toytls_keys.h"
#include "toytls_wire.h"

#define SP_REPLY_FIXED_LEN 4u /* status:u16 || sig_len:u16 */

static uint16_t
load_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void
store_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
encode_header(uint8_t *out, enum sp_type type, uint32_t request_id, uint32_t payload_len)
{
	out[0] = SP_VERSION;
	out[1] = (uint8_t)type;
	store_u16(out + 2, 0);
	tt_store_u32(out + 4, request_id);
	tt_store_u32(out + 8, payload_len);
}

/* Checks the header of a datagram of len bytes; returns its request id in *request_id. */
static int
decode_header(const uint8_t *msg, size_t len, enum sp_type type, uint32_t *request_id)
{
	if (len < SP_HEADER_LEN || msg[0] != SP_VERSION || msg[1] != type ||
	    load_u16(msg + 2) != 0 || tt_load_u32(msg + 8) != len - SP_HEADER_LEN)
		return KW_ERR_UNEXPECTED_MESSAGE;
	*request_id = tt_load_u32(msg + 4);
	return 0;
}

/* Every scheme a keyward key may sign TLS 1.3 content with, whatever the key. */
static bool
tls13_scheme_known(uint16_t scheme)
{
	return tls13_scheme_fits(scheme, TT_SCHEME_RSA_PSS_SHA256) ||
	       tls13_scheme_fits(scheme, TT_SCHEME_ECDSA_P256_SHA256) ||
	       tls13_scheme_fits(scheme, TT_SCHEME_ED25519);
}

void
sp_sign_request_toytls(const struct tt_sign_request *tt, struct sp_sign_request *out)
{
	*out = (struct sp_sign_request){.kind = SP_KIND_TOYTLS, .key_id = tt->key_id};
	memcpy(out->client_pub, tt->client_pub, sizeof(out->client_pub));
	memcpy(out->server_pub, tt->server_pub, sizeof(out->server_pub));
}

size_t
sp_encode_sign_request(const struct sp_sign_request *req, uint8_t out[SP_SIGN_REQUEST_LEN])
{
	uint8_t *p = out + SP_HEADER_LEN;

	if (req->kind == SP_KIND_TLS13_CV) {
		assert(tls13_cv_hash_len_ok(req->tls13.hash_len));
		encode_header(out, SP_SIGN_TLS13_CV_V1, req->request_id,
		              SP_SIGN_TLS13_FIXED_LEN - SP_HEADER_LEN + req->tls13.hash_len);
		tt_store_u32(p, req->key_id);
		store_u16(p + 4, req->tls13.scheme);
		store_u16(p + 6, req->tls13.hash_len);
		memcpy(p + 8, req->tls13.hash, req->tls13.hash_len);
		return SP_SIGN_TLS13_FIXED_LEN + req->tls13.hash_len;
	}
	encode_header(out, SP_SIGN_TOYTLS_V1, req->request_id, SP_SIGN_REQUEST_PAYLOAD_LEN);
	tt_store_u32(p, req->key_id);
	memcpy(p + 4, req->client_pub, TT_X25519_LEN);
	memcpy(p + 4 + TT_X25519_LEN, req->server_pub, TT_X25519_LEN);
	return SP_SIGN_REQUEST_LEN;
}

static int
decode_toytls_request(const uint8_t *msg, size_t len, struct sp_sign_request *req)
{
	const uint8_t *p = msg + SP_HEADER_LEN;
	uint32_t request_id;

	if (len != SP_SIGN_REQUEST_LEN ||
	    decode_header(msg, len, SP_SIGN_TOYTLS_V1, &request_id) != 0)
		return KW_ERR_UNEXPECTED_MESSAGE;
	if (tt_x25519_is_low_order(p + 4) || tt_x25519_is_low_order(p + 4 + TT_X25519_LEN))
		return KW_ERR_UNEXPECTED_MESSAGE;
	*req = (struct sp_sign_request){.request_id = request_id, .kind = SP_KIND_TOYTLS};
	req->key_id = tt_load_u32(p);
	memcpy(req->client_pub, p + 4, TT_X25519_LEN);
	memcpy(req->server_pub, p + 4 + TT_X25519_LEN, TT_X25519_LEN);
	return 0;
}

static int
decode_tls13_request(const uint8_t *msg, size_t len, struct sp_sign_request *req)
{
	const uint8_t *p = msg + SP_HEADER_LEN;
	uint32_t request_id;

	if (len < SP_SIGN_TLS13_FIXED_LEN ||
	    decode_header(msg, len, SP_SIGN_TLS13_CV_V1, &request_id) != 0)
		return KW_ERR_UNEXPECTED_MESSAGE;
	uint16_t scheme = load_u16(p + 4), hash_len = load_u16(p + 6);
	if (!tls13_scheme_known(scheme) || !tls13_cv_hash_len_ok(hash_len) ||
	    len != SP_SIGN_TLS13_FIXED_LEN + hash_len)
		return KW_ERR_UNEXPECTED_MESSAGE;
	*req = (struct sp_sign_request){.request_id = request_id, .kind = SP_KIND_TLS13_CV};
	req->key_id = tt_load_u32(p);
	req->tls13.scheme = scheme;
	req->tls13.hash_len = hash_len;
	memcpy(req->tls13.hash, p + 8, hash_len);
	return 0;
}

int
sp_decode_sign_request(const uint8_t *msg, size_t len, struct sp_sign_request *req)
{
	if (len < SP_HEADER_LEN)
		return KW_ERR_UNEXPECTED_MESSAGE;
	if (msg[1] == SP_SIGN_TLS13_CV_V1)
		return decode_tls13_request(msg, len, req);
	return decode_toytls_request(msg, len, req);
}

size_t
sp_encode_sign_reply(const struct sp_sign_reply *rep, uint8_t out[SP_SIGN_REPLY_MAX_LEN])
{
	uint8_t *p = out + SP_HEADER_LEN;

	assert(rep->sig_len <= TT_MAX_SIGNATURE_LEN);
	encode_header(out, SP_SIGN_REPLY, rep->request_id, SP_REPLY_FIXED_LEN + rep->sig_len);
	store_u16(p, rep->status);
	store_u16(p + 2, rep->sig_len);
	memcpy(p + SP_REPLY_FIXED_LEN, rep->sig, rep->sig_len);
	return SP_HEADER_LEN + SP_REPLY_FIXED_LEN + rep->sig_len;
}

int
sp_decode_sign_reply(const uint8_t *msg, size_t len, struct sp_sign_reply *rep)
{
	const uint8_t *p = msg + SP_HEADER_LEN;
	uint32_t request_id;
	uint16_t status, sig_len;

	if (len < SP_HEADER_LEN + SP_REPLY_FIXED_LEN || len > SP_SIGN_REPLY_MAX_LEN ||
	    decode_header(msg, len, SP_SIGN_REPLY, &request_id) != 0)
		return KW_ERR_UNEXPECTED_MESSAGE;
	status = load_u16(p);
	sig_len = load_u16(p + 2);
	if (sig_len > TT_MAX_SIGNATURE_LEN || sig_len != len - SP_HEADER_LEN - SP_REPLY_FIXED_LEN ||
	    status > SP_STATUS_FAILED || (status == SP_STATUS_OK) != (sig_len > 0))
		return KW_ERR_UNEXPECTED_MESSAGE;
	rep->request_id = request_id;
	rep->status = status;
	rep->sig_len = sig_len;
	memcpy(rep->sig, p + SP_REPLY_FIXED_LEN, sig_len);
	return 0;
}

const char *
sp_status_name(uint16_t status)
{
	switch (status) {
	case SP_STATUS_OK:
		return "ok";
	case SP_STATUS_BAD_KEY:
		return "bad key";
	case SP_STATUS_BUSY:
		return "busy";
	case SP_STATUS_RATE_LIMITED:
		return "rate limited";
	case SP_STATUS_FAILED:
		return "failed";
	}
	return "unknown status";
}

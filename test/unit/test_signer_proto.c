/*
 * test_signer_proto.c - the signer channel codec: round trips, and every
 * malformed datagram refused.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "err.h"
#include "signer_proto.h"
#include "toytls_conn.h"

static struct sp_sign_request
sample_request(void)
{
	struct sp_sign_request req = {.request_id = 0x01020304u, .key_id = 7};

	for (unsigned i = 0; i < TT_X25519_LEN; i++) {
		req.client_pub[i] = (uint8_t)(i + 1);
		req.server_pub[i] = (uint8_t)(0xff - i);
	}
	return req;
}

static size_t
sample_reply(uint8_t out[SP_SIGN_REPLY_MAX_LEN], uint16_t sig_len)
{
	struct sp_sign_reply rep = {.request_id = 0xdeadbeefu, .status = SP_STATUS_OK};

	rep.sig_len = sig_len;
	for (unsigned i = 0; i < sig_len; i++)
		rep.sig[i] = (uint8_t)(i * 7);
	return sp_encode_sign_reply(&rep, out);
}

static void
expect_bad_request(const uint8_t *msg, size_t len)
{
	struct sp_sign_request req;

	cr_expect_eq(sp_decode_sign_request(msg, len, &req), KW_ERR_UNEXPECTED_MESSAGE);
}

static void
expect_bad_reply(const uint8_t *msg, size_t len)
{
	struct sp_sign_reply rep;

	cr_expect_eq(sp_decode_sign_reply(msg, len, &rep), KW_ERR_UNEXPECTED_MESSAGE);
}

Test(signer_proto, request_round_trip)
{
	struct sp_sign_request req = sample_request(), got;
	uint8_t msg[SP_SIGN_REQUEST_LEN + 1];

	cr_assert_eq(sp_encode_sign_request(&req, msg), SP_SIGN_REQUEST_LEN);
	cr_assert_eq(sp_decode_sign_request(msg, SP_SIGN_REQUEST_LEN, &got), 0);
	cr_expect_eq(got.request_id, req.request_id);
	cr_expect_eq(got.key_id, req.key_id);
	cr_expect_arr_eq(got.client_pub, req.client_pub, TT_X25519_LEN);
	cr_expect_arr_eq(got.server_pub, req.server_pub, TT_X25519_LEN);
}

Test(signer_proto, toytls_request_is_the_connections_request)
{
	struct sp_sign_request want = sample_request(), got;
	struct tt_sign_request tt = {.key_id = want.key_id};
	uint8_t a[SP_SIGN_REQUEST_LEN], b[SP_SIGN_REQUEST_LEN];

	memcpy(tt.client_pub, want.client_pub, TT_X25519_LEN);
	memcpy(tt.server_pub, want.server_pub, TT_X25519_LEN);
	memset(&got, 0xa5, sizeof(got));
	sp_sign_request_toytls(&tt, &got);
	cr_expect_eq(got.kind, SP_KIND_TOYTLS);
	cr_expect_eq(got.request_id, 0);
	/* numbered as the sender numbers it, it encodes to the same bytes */
	got.request_id = want.request_id;
	cr_assert_eq(sp_encode_sign_request(&got, a), SP_SIGN_REQUEST_LEN);
	cr_assert_eq(sp_encode_sign_request(&want, b), SP_SIGN_REQUEST_LEN);
	cr_expect_arr_eq(a, b, SP_SIGN_REQUEST_LEN);
}

Test(signer_proto, request_wire_layout)
{
	struct sp_sign_request req = sample_request();
	uint8_t msg[SP_SIGN_REQUEST_LEN];
	static const uint8_t header[] = {1, 1, 0, 0,  0x01, 0x02, 0x03, 0x04,
	                                 0, 0, 0, 68, 0,    0,    0,    7};

	sp_encode_sign_request(&req, msg);
	cr_expect_arr_eq(msg, header, sizeof(header));
	cr_expect_arr_eq(msg + 16, req.client_pub, TT_X25519_LEN);
	cr_expect_arr_eq(msg + 48, req.server_pub, TT_X25519_LEN);
}

Test(signer_proto, request_size_off_by_one)
{
	struct sp_sign_request req = sample_request();
	uint8_t msg[SP_SIGN_REQUEST_LEN + 1] = {0};

	sp_encode_sign_request(&req, msg);
	expect_bad_request(msg, SP_SIGN_REQUEST_LEN - 1);
	expect_bad_request(msg, SP_SIGN_REQUEST_LEN + 1);
	expect_bad_request(msg, 0);
	expect_bad_request(msg, SP_HEADER_LEN);
}

/*
 * The datagram size and the header's length field are two checks: a request one byte
 * long whose header counts that byte passes the header check, so only the datagram
 * check stops it; one of the right size whose header says a byte more is stopped by
 * the header check alone.
 */
Test(signer_proto, request_datagram_and_header_length_checked_apart)
{
	struct sp_sign_request req = sample_request(), got;
	uint8_t msg[SP_SIGN_REQUEST_LEN + 1] = {0};

	sp_encode_sign_request(&req, msg);
	cr_assert_eq(sp_decode_sign_request(msg, SP_SIGN_REQUEST_LEN, &got), 0, "at the size");

	msg[11] = SP_SIGN_REQUEST_PAYLOAD_LEN + 1; /* the header counts the extra byte */
	expect_bad_request(msg, SP_SIGN_REQUEST_LEN + 1);
	expect_bad_request(msg, SP_SIGN_REQUEST_LEN);

	msg[11] = SP_SIGN_REQUEST_PAYLOAD_LEN - 1; /* and one short, both ways */
	expect_bad_request(msg, SP_SIGN_REQUEST_LEN - 1);
	expect_bad_request(msg, SP_SIGN_REQUEST_LEN);
}

Test(signer_proto, request_bad_header_fields)
{
	struct sp_sign_request req = sample_request();
	uint8_t good[SP_SIGN_REQUEST_LEN], msg[SP_SIGN_REQUEST_LEN];
	static const struct {
		size_t off;
		uint8_t value;
	} edits[] = {
	    {0, 0},    {0, 2},   {1, 0},   {1, SP_SIGN_REPLY}, {1, 3},  {2, 1},
	    {3, 0x80}, {11, 67}, {11, 69}, {8, 0x80},          {10, 1}, {9, 0xff},
	};

	sp_encode_sign_request(&req, good);
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		memcpy(msg, good, sizeof(msg));
		msg[edits[i].off] = edits[i].value;
		expect_bad_request(msg, sizeof(msg));
	}
}

Test(signer_proto, request_low_order_keys_refused)
{
	static const uint8_t order8[TT_X25519_LEN] = {
	    0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3,
	    0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32,
	    0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00};
	struct sp_sign_request req = sample_request();
	uint8_t msg[SP_SIGN_REQUEST_LEN];

	memcpy(req.client_pub, order8, TT_X25519_LEN);
	sp_encode_sign_request(&req, msg);
	expect_bad_request(msg, sizeof(msg));

	req = sample_request();
	memcpy(req.server_pub, order8, TT_X25519_LEN);
	req.server_pub[0] = 1;
	memset(req.server_pub + 1, 0, TT_X25519_LEN - 1);
	sp_encode_sign_request(&req, msg);
	expect_bad_request(msg, sizeof(msg));
}

Test(signer_proto, request_zero_keys_refused)
{
	struct sp_sign_request req = sample_request();
	uint8_t msg[SP_SIGN_REQUEST_LEN];

	memset(req.client_pub, 0, TT_X25519_LEN);
	sp_encode_sign_request(&req, msg);
	expect_bad_request(msg, sizeof(msg));

	req = sample_request();
	memset(req.server_pub, 0, TT_X25519_LEN);
	sp_encode_sign_request(&req, msg);
	expect_bad_request(msg, sizeof(msg));

	req = sample_request();
	memset(req.client_pub, 0, TT_X25519_LEN);
	req.client_pub[TT_X25519_LEN - 1] = 1;
	sp_encode_sign_request(&req, msg);
	cr_expect_eq(sp_decode_sign_request(msg, sizeof(msg), &req), 0);
}

Test(signer_proto, reply_round_trip)
{
	static const uint16_t lens[] = {1, 64, 71, 256, TT_MAX_SIGNATURE_LEN};
	uint8_t msg[SP_SIGN_REPLY_MAX_LEN];
	struct sp_sign_reply got;

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t len = sample_reply(msg, lens[i]);

		cr_assert_eq(len, SP_HEADER_LEN + 4u + lens[i]);
		cr_assert_eq(sp_decode_sign_reply(msg, len, &got), 0);
		cr_expect_eq(got.request_id, 0xdeadbeefu);
		cr_expect_eq(got.status, SP_STATUS_OK);
		cr_expect_eq(got.sig_len, lens[i]);
		for (unsigned j = 0; j < lens[i]; j++)
			cr_assert_eq(got.sig[j], (uint8_t)(j * 7));
	}
}

Test(signer_proto, reply_error_statuses_round_trip)
{
	uint8_t msg[SP_SIGN_REPLY_MAX_LEN];
	struct sp_sign_reply rep = {.request_id = 9}, got;

	for (uint16_t st = SP_STATUS_BAD_KEY; st <= SP_STATUS_FAILED; st++) {
		rep.status = st;
		cr_assert_eq(sp_encode_sign_reply(&rep, msg), SP_HEADER_LEN + 4u);
		cr_assert_eq(sp_decode_sign_reply(msg, SP_HEADER_LEN + 4u, &got), 0);
		cr_expect_eq(got.status, st);
		cr_expect_eq(got.sig_len, 0);
		cr_expect_eq(got.request_id, 9);
	}
}

Test(signer_proto, reply_size_off_by_one)
{
	uint8_t msg[SP_SIGN_REPLY_MAX_LEN + 1] = {0};
	size_t len = sample_reply(msg, 64);

	expect_bad_reply(msg, len - 1);
	expect_bad_reply(msg, len + 1);
	expect_bad_reply(msg, 0);
	expect_bad_reply(msg, SP_HEADER_LEN);
	expect_bad_reply(msg, SP_HEADER_LEN + 3u);

	len = sample_reply(msg, TT_MAX_SIGNATURE_LEN);
	expect_bad_reply(msg, len + 1);
}

Test(signer_proto, reply_bad_header_fields)
{
	uint8_t good[SP_SIGN_REPLY_MAX_LEN], msg[SP_SIGN_REPLY_MAX_LEN];
	size_t len = sample_reply(good, 64);
	static const struct {
		size_t off;
		uint8_t value;
	} edits[] = {
	    {0, 0}, {0, 2}, {1, SP_SIGN_TOYTLS_V1}, {1, 0}, {2, 1}, {3, 1}, {11, 67}, {11, 69},
	};

	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		memcpy(msg, good, len);
		msg[edits[i].off] = edits[i].value;
		expect_bad_reply(msg, len);
	}
}

Test(signer_proto, reply_huge_length_field)
{
	uint8_t msg[SP_SIGN_REPLY_MAX_LEN];
	size_t len = sample_reply(msg, 64);

	memset(msg + 8, 0xff, 4);
	expect_bad_reply(msg, len);

	struct sp_sign_request req = sample_request();
	uint8_t rmsg[SP_SIGN_REQUEST_LEN];

	sp_encode_sign_request(&req, rmsg);
	memset(rmsg + 8, 0xff, 4);
	expect_bad_request(rmsg, sizeof(rmsg));
}

Test(signer_proto, reply_sig_len_checks)
{
	uint8_t msg[SP_SIGN_REPLY_MAX_LEN + 8];
	size_t len = sample_reply(msg, 64);

	/* sig_len disagrees with the datagram, up or down */
	msg[SP_HEADER_LEN + 3] = 63;
	expect_bad_reply(msg, len);
	msg[SP_HEADER_LEN + 3] = 65;
	expect_bad_reply(msg, len);

	/* sig_len over 512 with a datagram and header that agree with it */
	memset(msg, 0, sizeof(msg));
	len = SP_HEADER_LEN + 4u + TT_MAX_SIGNATURE_LEN + 1u;
	msg[0] = SP_VERSION;
	msg[1] = SP_SIGN_REPLY;
	msg[10] = (uint8_t)((len - SP_HEADER_LEN) >> 8);
	msg[11] = (uint8_t)(len - SP_HEADER_LEN);
	msg[SP_HEADER_LEN + 2] = (uint8_t)((TT_MAX_SIGNATURE_LEN + 1u) >> 8);
	msg[SP_HEADER_LEN + 3] = (uint8_t)(TT_MAX_SIGNATURE_LEN + 1u);
	expect_bad_reply(msg, len);

	/* sig_len 0xffff */
	len = sample_reply(msg, 64);
	msg[SP_HEADER_LEN + 2] = 0xff;
	msg[SP_HEADER_LEN + 3] = 0xff;
	expect_bad_reply(msg, len);
}

Test(signer_proto, reply_status_checks)
{
	uint8_t msg[SP_SIGN_REPLY_MAX_LEN];
	size_t len = sample_reply(msg, 64);

	/* unknown status */
	msg[SP_HEADER_LEN + 1] = SP_STATUS_FAILED + 1;
	expect_bad_reply(msg, len);
	msg[SP_HEADER_LEN] = 1;
	msg[SP_HEADER_LEN + 1] = SP_STATUS_OK;
	expect_bad_reply(msg, len);

	/* an error status with a signature */
	msg[SP_HEADER_LEN] = 0;
	msg[SP_HEADER_LEN + 1] = SP_STATUS_BUSY;
	expect_bad_reply(msg, len);

	/* OK without a signature */
	struct sp_sign_reply rep = {.request_id = 1, .status = SP_STATUS_OK, .sig_len = 0};

	len = sp_encode_sign_reply(&rep, msg);
	expect_bad_reply(msg, len);
}

/* The last known status and the first unknown one, in the shape of an error reply. */
Test(signer_proto, reply_unknown_status_without_a_signature)
{
	uint8_t msg[SP_SIGN_REPLY_MAX_LEN];
	struct sp_sign_reply rep = {.request_id = 3, .status = SP_STATUS_FAILED}, got;
	size_t len = sp_encode_sign_reply(&rep, msg);

	cr_assert_eq(sp_decode_sign_reply(msg, len, &got), 0);
	msg[SP_HEADER_LEN + 1] = SP_STATUS_FAILED + 1;
	expect_bad_reply(msg, len);
}

Test(signer_proto, status_names)
{
	cr_expect_str_eq(sp_status_name(SP_STATUS_OK), "ok");
	cr_expect_str_eq(sp_status_name(SP_STATUS_BAD_KEY), "bad key");
	cr_expect_str_eq(sp_status_name(SP_STATUS_BUSY), "busy");
	cr_expect_str_eq(sp_status_name(SP_STATUS_RATE_LIMITED), "rate limited");
	cr_expect_str_eq(sp_status_name(SP_STATUS_FAILED), "failed");
	cr_expect_str_eq(sp_status_name(99), "unknown status");
}

static struct sp_sign_request
sample_tls13_request(uint16_t scheme, uint16_t hash_len)
{
	struct sp_sign_request req = {
	    .request_id = 0x0a0b0c0du, .key_id = 2, .kind = SP_KIND_TLS13_CV};

	req.tls13.scheme = scheme;
	req.tls13.hash_len = hash_len;
	for (unsigned i = 0; i < hash_len; i++)
		req.tls13.hash[i] = (uint8_t)(0x40 + i);
	return req;
}

Test(signer_proto, tls13_request_round_trip_every_scheme_and_hash)
{
	static const uint16_t schemes[] = {0x0403, 0x0804, 0x0805, 0x0806, 0x0807};

	for (size_t s = 0; s < sizeof(schemes) / sizeof(schemes[0]); s++) {
		for (uint16_t hash_len = 32; hash_len <= 48; hash_len += 16) {
			struct sp_sign_request req = sample_tls13_request(schemes[s], hash_len),
			                       got;
			uint8_t msg[SP_SIGN_REQUEST_LEN];
			size_t len = sp_encode_sign_request(&req, msg);

			cr_assert_eq(len, SP_HEADER_LEN + 8u + hash_len);
			cr_assert_eq(sp_decode_sign_request(msg, len, &got), 0);
			cr_expect_eq(got.kind, SP_KIND_TLS13_CV);
			cr_expect_eq(got.request_id, req.request_id);
			cr_expect_eq(got.key_id, 2);
			cr_expect_eq(got.tls13.scheme, schemes[s]);
			cr_expect_eq(got.tls13.hash_len, hash_len);
			cr_expect_arr_eq(got.tls13.hash, req.tls13.hash, hash_len);
		}
	}
}

Test(signer_proto, tls13_request_wire_layout)
{
	struct sp_sign_request req = sample_tls13_request(0x0805, 48);
	uint8_t msg[SP_SIGN_REQUEST_LEN];
	static const uint8_t head[] = {1, 3,  0, 0, 0x0a, 0x0b, 0x0c, 0x0d, 0, 0,
	                               0, 56, 0, 0, 0,    2,    8,    5,    0, 48};

	cr_assert_eq(sp_encode_sign_request(&req, msg), 68u);
	cr_expect_arr_eq(msg, head, sizeof(head));
	cr_expect_arr_eq(msg + 20, req.tls13.hash, 48);
}

Test(signer_proto, tls13_request_every_other_hash_length_refused)
{
	struct sp_sign_request req = sample_tls13_request(0x0807, 48);
	uint8_t msg[SP_SIGN_REQUEST_LEN + 64] = {0};

	sp_encode_sign_request(&req, msg);
	for (unsigned hash_len = 0; hash_len <= 64; hash_len++) {
		if (hash_len == 32 || hash_len == 48)
			continue;
		size_t len = SP_HEADER_LEN + 8u + hash_len;
		msg[11] = (uint8_t)(8u + hash_len);
		msg[SP_HEADER_LEN + 6] = 0;
		msg[SP_HEADER_LEN + 7] = (uint8_t)hash_len;
		expect_bad_request(msg, len);
	}
	/* hash_len and the datagram disagree, by one either way */
	sp_encode_sign_request(&req, msg);
	msg[SP_HEADER_LEN + 7] = 47;
	expect_bad_request(msg, 68);
	msg[SP_HEADER_LEN + 7] = 48;
	expect_bad_request(msg, 67);
	expect_bad_request(msg, 69);
	msg[SP_HEADER_LEN + 6] = 1; /* 0x0130 */
	expect_bad_request(msg, 68);
}

Test(signer_proto, tls13_request_unknown_schemes_refused)
{
	struct sp_sign_request req = sample_tls13_request(0x0403, 32);
	uint8_t msg[SP_SIGN_REQUEST_LEN];
	size_t len = sp_encode_sign_request(&req, msg);
	unsigned accepted = 0;

	for (unsigned scheme = 0; scheme <= 0xffff; scheme++) {
		struct sp_sign_request got;

		msg[SP_HEADER_LEN + 4] = (uint8_t)(scheme >> 8);
		msg[SP_HEADER_LEN + 5] = (uint8_t)scheme;
		if (sp_decode_sign_request(msg, len, &got) == 0) {
			accepted++;
			cr_expect(scheme == 0x0403 || (scheme >= 0x0804 && scheme <= 0x0807),
			          "scheme 0x%04x accepted", scheme);
		}
	}
	cr_expect_eq(accepted, 5);
}

Test(signer_proto, tls13_request_bad_header_fields)
{
	struct sp_sign_request req = sample_tls13_request(0x0804, 32);
	uint8_t good[SP_SIGN_REQUEST_LEN], msg[SP_SIGN_REQUEST_LEN];
	size_t len = sp_encode_sign_request(&req, good);
	static const struct {
		size_t off;
		uint8_t value;
	} edits[] = {{0, 0}, {0, 2},   {1, SP_SIGN_REPLY}, {1, 4}, {2, 1},
	             {3, 1}, {11, 39}, {11, 41},           {8, 1}};

	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		memcpy(msg, good, len);
		msg[edits[i].off] = edits[i].value;
		expect_bad_request(msg, len);
	}
	/* as a toy-TLS request, a TLS 1.3 one is refused by its length */
	memcpy(msg, good, len);
	msg[1] = SP_SIGN_TOYTLS_V1;
	expect_bad_request(msg, len);
}

/*
 * test_signer_stub.c - the signer's admission and signing of one request: in-flight
 * cap, duplicate ids, rate limit, key ids, and signatures that verify.
 */
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>

#include "err.h"
#include "signer/stub.h"

#define T0 1000000u

static struct sp_sign_request
request(uint32_t id, uint32_t key_id)
{
	struct sp_sign_request req = {.request_id = id, .key_id = key_id};

	for (unsigned i = 0; i < TT_X25519_LEN; i++) {
		req.client_pub[i] = (uint8_t)(i + id);
		req.server_pub[i] = (uint8_t)(0x80 + i);
	}
	return req;
}

static struct stub_channel
channel(unsigned max_inflight, unsigned rate_limit)
{
	struct stub_limits limits = {.max_inflight = max_inflight, .rate_limit = rate_limit};
	struct stub_channel ch;

	cr_assert_eq(stub_channel_init(&ch, 3, &limits, T0), 0);
	return ch;
}

/* Admits request id on ch at now with n_keys keys; returns the verdict and the reply. */
static int
admit(struct stub_channel *ch, uint32_t id, uint32_t key_id, uint64_t now,
      struct sp_sign_reply *rep)
{
	struct sp_sign_request req = request(id, key_id);

	memset(rep, 0xaa, sizeof(*rep));
	return stub_admit(ch, 2, &req, now, rep);
}

static void
expect_reply(int verdict, const struct sp_sign_reply *rep, uint32_t id, enum sp_status status)
{
	cr_expect_eq(verdict, STUB_REPLY);
	cr_expect_eq(rep->request_id, id);
	cr_expect_eq(rep->status, status, "status %s, expected %s", sp_status_name(rep->status),
	             sp_status_name(status));
	cr_expect_eq(rep->sig_len, 0);
}

Test(signer_stub, init_refuses_zero_inflight)
{
	struct stub_limits limits = {.max_inflight = 0};
	struct stub_channel ch;

	cr_expect_eq(stub_channel_init(&ch, 0, &limits, T0), KW_ERR_ARGUMENT);
}

Test(signer_stub, admits_and_caps_in_flight)
{
	struct stub_channel ch = channel(2, 0);
	struct sp_sign_reply rep;

	cr_expect_eq(admit(&ch, 1, 0, T0, &rep), STUB_SIGN);
	cr_expect_eq(admit(&ch, 2, 1, T0, &rep), STUB_SIGN);
	expect_reply(admit(&ch, 3, 0, T0, &rep), &rep, 3, SP_STATUS_BUSY);
	expect_reply(admit(&ch, 4, 0, T0, &rep), &rep, 4, SP_STATUS_BUSY);

	stub_finish(&ch, 1);
	cr_expect_eq(admit(&ch, 5, 0, T0, &rep), STUB_SIGN);
	expect_reply(admit(&ch, 6, 0, T0, &rep), &rep, 6, SP_STATUS_BUSY);
	stub_channel_dispose(&ch);
}

Test(signer_stub, finish_of_unknown_id_changes_nothing)
{
	struct stub_channel ch = channel(1, 0);
	struct sp_sign_reply rep;

	cr_expect_eq(admit(&ch, 1, 0, T0, &rep), STUB_SIGN);
	stub_finish(&ch, 99);
	expect_reply(admit(&ch, 2, 0, T0, &rep), &rep, 2, SP_STATUS_BUSY);
	stub_finish(&ch, 1);
	cr_expect_eq(admit(&ch, 3, 0, T0, &rep), STUB_SIGN);
	stub_channel_dispose(&ch);
}

Test(signer_stub, each_id_is_admitted_once_in_order)
{
	struct stub_channel ch = channel(4, 0);
	struct sp_sign_reply rep;

	cr_expect_eq(admit(&ch, 7, 0, T0, &rep), STUB_SIGN);
	cr_expect_eq(admit(&ch, 7, 0, T0, &rep), KW_ERR_UNEXPECTED_MESSAGE);
	cr_expect_eq(admit(&ch, 7, 1, T0, &rep), KW_ERR_UNEXPECTED_MESSAGE);
	cr_expect_eq(admit(&ch, 6, 0, T0, &rep), KW_ERR_UNEXPECTED_MESSAGE, "an older id");
	stub_finish(&ch, 7);
	cr_expect_eq(admit(&ch, 7, 0, T0, &rep), KW_ERR_UNEXPECTED_MESSAGE,
	             "an answered id is never signed again");
	cr_expect_eq(admit(&ch, 9, 0, T0, &rep), STUB_SIGN, "ids may skip");
	stub_channel_dispose(&ch);
}

Test(signer_stub, ids_may_wrap)
{
	struct stub_channel ch = channel(4, 0);
	struct sp_sign_reply rep;

	cr_expect_eq(admit(&ch, UINT32_MAX, 0, T0, &rep), STUB_SIGN);
	cr_expect_eq(admit(&ch, 1, 0, T0, &rep), STUB_SIGN);
	cr_expect_eq(admit(&ch, UINT32_MAX, 0, T0, &rep), KW_ERR_UNEXPECTED_MESSAGE);
	stub_channel_dispose(&ch);
}

Test(signer_stub, duplicate_checked_before_busy)
{
	struct stub_channel ch = channel(1, 0);
	struct sp_sign_reply rep;

	cr_expect_eq(admit(&ch, 7, 0, T0, &rep), STUB_SIGN);
	cr_expect_eq(admit(&ch, 7, 0, T0, &rep), KW_ERR_UNEXPECTED_MESSAGE);
	stub_channel_dispose(&ch);
}

Test(signer_stub, unknown_key_id_is_malformed)
{
	struct stub_channel ch = channel(1, 0);
	struct sp_sign_reply rep;

	cr_expect_eq(admit(&ch, 1, 2, T0, &rep), KW_ERR_UNEXPECTED_MESSAGE);
	cr_expect_eq(admit(&ch, 2, UINT32_MAX, T0, &rep), KW_ERR_UNEXPECTED_MESSAGE);
	cr_expect_eq(admit(&ch, 3, 1, T0, &rep), STUB_SIGN);
	stub_channel_dispose(&ch);
}

Test(signer_stub, rate_limit_token_bucket)
{
	struct stub_channel ch = channel(100, 3);
	struct sp_sign_reply rep;

	for (uint32_t id = 1; id <= 3; id++)
		cr_expect_eq(admit(&ch, id, 0, T0, &rep), STUB_SIGN);
	expect_reply(admit(&ch, 4, 0, T0, &rep), &rep, 4, SP_STATUS_RATE_LIMITED);
	cr_expect_eq(ch.rate_limited_total, 1);

	/* three per second: one token every 333.3 ms */
	expect_reply(admit(&ch, 5, 0, T0 + 333, &rep), &rep, 5, SP_STATUS_RATE_LIMITED);
	cr_expect_eq(admit(&ch, 6, 0, T0 + 334, &rep), STUB_SIGN);
	expect_reply(admit(&ch, 7, 0, T0 + 334, &rep), &rep, 7, SP_STATUS_RATE_LIMITED);
	cr_expect_eq(ch.rate_limited_total, 3);

	/* a long pause refills one second's worth, no more */
	for (uint32_t id = 10; id < 13; id++)
		cr_expect_eq(admit(&ch, id, 0, T0 + 60000, &rep), STUB_SIGN);
	expect_reply(admit(&ch, 13, 0, T0 + 60000, &rep), &rep, 13, SP_STATUS_RATE_LIMITED);
	cr_expect_eq(ch.rate_limited_total, 4);
	stub_channel_dispose(&ch);
}

Test(signer_stub, rate_limited_counts_reset_per_log_line)
{
	struct stub_channel ch = channel(100, 1);
	struct sp_sign_reply rep;

	cr_expect_eq(admit(&ch, 1, 0, T0, &rep), STUB_SIGN);
	for (uint32_t id = 2; id < 12; id++)
		expect_reply(admit(&ch, id, 0, T0 + 10, &rep), &rep, id, SP_STATUS_RATE_LIMITED);
	/* the first refusal was logged at once; nine more wait for the next line */
	cr_expect_eq(ch.rate_limited, 9);
	cr_expect_eq(ch.rate_limited_total, 10);
	cr_expect_eq(admit(&ch, 12, 0, T0 + 1010, &rep), STUB_SIGN);
	expect_reply(admit(&ch, 13, 0, T0 + 1010, &rep), &rep, 13, SP_STATUS_RATE_LIMITED);
	cr_expect_eq(ch.rate_limited, 0, "logged: a second has passed");
	cr_expect_eq(ch.rate_limited_total, 11);
	stub_channel_dispose(&ch);
}

Test(signer_stub, rate_limit_checked_before_busy)
{
	struct stub_channel ch = channel(1, 1);
	struct sp_sign_reply rep;

	cr_expect_eq(admit(&ch, 1, 0, T0, &rep), STUB_SIGN);
	expect_reply(admit(&ch, 2, 0, T0, &rep), &rep, 2, SP_STATUS_RATE_LIMITED);
	expect_reply(admit(&ch, 3, 0, T0 + 1000, &rep), &rep, 3, SP_STATUS_BUSY);
	stub_channel_dispose(&ch);
}

Test(signer_stub, unlimited_rate)
{
	struct stub_channel ch = channel(1, 0);
	struct sp_sign_reply rep;

	for (uint32_t id = 1; id < 1000; id++) {
		cr_assert_eq(admit(&ch, id, 0, T0, &rep), STUB_SIGN);
		stub_finish(&ch, id);
	}
	cr_expect_eq(ch.rate_limited_total, 0);
	stub_channel_dispose(&ch);
}

static EVP_PKEY *
generate(const char *type, const char *arg)
{
	EVP_PKEY *key =
	    arg ? EVP_PKEY_Q_keygen(NULL, NULL, type, arg) : EVP_PKEY_Q_keygen(NULL, NULL, type);

	cr_assert_not_null(key);
	return key;
}

static EVP_PKEY *
generate_rsa(size_t bits)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits);

	cr_assert_not_null(key);
	return key;
}

Test(signer_stub, signatures_verify_for_every_scheme)
{
	struct signer_key table[3] = {
	    {generate_rsa(2048), TT_SCHEME_RSA_PSS_SHA256},
	    {generate("EC", "P-256"), TT_SCHEME_ECDSA_P256_SHA256},
	    {generate("ED25519", NULL), TT_SCHEME_ED25519},
	};
	struct signer_keys keys = {.keys = table, .n = 3};
	static const size_t max_len[] = {256, 72, 64};
	struct stub_signer signers[3];

	for (size_t k = 0; k < 3; k++)
		cr_assert_eq(stub_signer_init(&signers[k], &table[k]), 0);
	/* without prepared keys, then with the calling thread's */
	for (int prepared = 0; prepared < 2; prepared++) {
		for (uint32_t k = 0; k < 3; k++) {
			struct sp_sign_request req = request(40 + k, k);
			struct sp_sign_reply rep;

			memset(&rep, 0xaa, sizeof(rep));
			sign_stub(&keys, prepared ? signers : NULL, &req, &rep);
			cr_assert_eq(rep.status, SP_STATUS_OK, "key %u", (unsigned)k);
			cr_expect_eq(rep.request_id, 40 + k);
			cr_expect(rep.sig_len > 0 && rep.sig_len <= max_len[k]);
			cr_expect_eq(tt_verify(table[k].pkey, req.client_pub, req.server_pub,
			                       rep.sig, rep.sig_len),
			             0, "key %u", (unsigned)k);

			/* the signature covers client_pub || server_pub, not any other bytes */
			req.server_pub[0] ^= 1;
			cr_expect_eq(tt_verify(table[k].pkey, req.client_pub, req.server_pub,
			                       rep.sig, rep.sig_len),
			             KW_ERR_BAD_SIGNATURE);
		}
	}
	for (size_t k = 0; k < 3; k++) {
		stub_signer_dispose(&signers[k]);
		EVP_PKEY_free(table[k].pkey);
	}
}

/* A key its thread could not prepare (a zeroed entry) still signs, unprepared. */
Test(signer_stub, unprepared_entry_signs_without_preparation)
{
	struct signer_key table[2] = {
	    {generate("EC", "P-256"), TT_SCHEME_ECDSA_P256_SHA256},
	    {generate("ED25519", NULL), TT_SCHEME_ED25519},
	};
	struct signer_keys keys = {.keys = table, .n = 2};
	struct stub_signer prepared[2];

	memset(prepared, 0, sizeof(prepared));
	cr_assert_eq(stub_signer_init(&prepared[1], &table[1]), 0);
	for (uint32_t k = 0; k < 2; k++) {
		struct sp_sign_request req = request(60 + k, k);
		struct sp_sign_reply rep;

		sign_stub(&keys, prepared, &req, &rep);
		cr_assert_eq(rep.status, SP_STATUS_OK, "key %u", (unsigned)k);
		cr_expect_eq(
		    tt_verify(table[k].pkey, req.client_pub, req.server_pub, rep.sig, rep.sig_len),
		    0, "key %u", (unsigned)k);
	}
	stub_signer_dispose(&prepared[1]);
	EVP_PKEY_free(table[0].pkey);
	EVP_PKEY_free(table[1].pkey);
}

Test(signer_stub, sign_with_unknown_key_id)
{
	struct signer_keys keys = {.keys = NULL, .n = 0};
	struct sp_sign_request req = request(5, 0);
	struct sp_sign_reply rep;

	memset(&rep, 0xaa, sizeof(rep));
	sign_stub(&keys, NULL, &req, &rep);
	cr_expect_eq(rep.request_id, 5);
	cr_expect_eq(rep.status, SP_STATUS_BAD_KEY);
	cr_expect_eq(rep.sig_len, 0);
}

Test(signer_stub, signing_failure_is_reported)
{
	/* a public-only key cannot sign: the reply says FAILED, not OK */
	EVP_PKEY *priv = generate("ED25519", NULL);
	uint8_t raw[32];
	size_t raw_len = sizeof(raw);

	cr_assert_eq(EVP_PKEY_get_raw_public_key(priv, raw, &raw_len), 1);
	struct signer_key table[1] = {
	    {EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, raw_len), TT_SCHEME_ED25519},
	};
	struct signer_keys keys = {.keys = table, .n = 1};
	struct sp_sign_request req = request(6, 0);
	struct sp_sign_reply rep;

	cr_assert_not_null(table[0].pkey);
	sign_stub(&keys, NULL, &req, &rep);
	cr_expect_eq(rep.request_id, 6);
	cr_expect_eq(rep.status, SP_STATUS_FAILED);
	cr_expect_eq(rep.sig_len, 0);
	EVP_PKEY_free(table[0].pkey);
	EVP_PKEY_free(priv);
}

static struct sp_sign_request
tls13_request(uint32_t id, uint32_t key_id, uint16_t scheme, uint16_t hash_len)
{
	struct sp_sign_request req = {.request_id = id, .key_id = key_id, .kind = SP_KIND_TLS13_CV};

	req.tls13.scheme = scheme;
	req.tls13.hash_len = hash_len;
	for (unsigned i = 0; i < hash_len; i++)
		req.tls13.hash[i] = (uint8_t)(id + i);
	return req;
}

/* Each key signs TLS 1.3 content with the schemes of its type and no other. */
Test(signer_stub, tls13_schemes_checked_against_the_key_and_signed)
{
	struct signer_key table[3] = {
	    {generate_rsa(2048), TT_SCHEME_RSA_PSS_SHA256},
	    {generate("EC", "P-256"), TT_SCHEME_ECDSA_P256_SHA256},
	    {generate("ED25519", NULL), TT_SCHEME_ED25519},
	};
	struct signer_keys keys = {.keys = table, .n = 3};
	static const uint16_t schemes[] = {0x0403, 0x0804, 0x0805, 0x0806, 0x0807};
	unsigned signed_ok = 0;
	struct stub_signer signers[3];

	for (size_t k = 0; k < 3; k++)
		cr_assert_eq(stub_signer_init(&signers[k], &table[k]), 0);
	/* without prepared keys, then with the calling thread's */
	for (uint32_t i = 0; i < 6; i++) {
		uint32_t k = i % 3;
		bool prepared = i >= 3;

		for (size_t s = 0; s < sizeof(schemes) / sizeof(schemes[0]); s++) {
			struct sp_sign_request req = tls13_request(100 + k, k, schemes[s], 48);
			bool fits = tls13_scheme_fits(schemes[s], table[k].scheme);

			cr_expect_eq(stub_check_request(&keys, &req),
			             fits ? 0 : KW_ERR_UNEXPECTED_MESSAGE, "key %u scheme 0x%04x",
			             (unsigned)k, schemes[s]);
			if (!fits)
				continue;
			struct sp_sign_reply rep;
			sign_stub(&keys, prepared ? signers : NULL, &req, &rep);
			cr_assert_eq(rep.status, SP_STATUS_OK);
			cr_expect_eq(tls13_cv_verify(table[k].pkey, schemes[s], req.tls13.hash, 48,
			                             rep.sig, rep.sig_len),
			             0, "key %u scheme 0x%04x prepared %d", (unsigned)k, schemes[s],
			             prepared);
			/* the signature covers this transcript hash, not any other */
			req.tls13.hash[0] ^= 1;
			cr_expect_eq(tls13_cv_verify(table[k].pkey, schemes[s], req.tls13.hash, 48,
			                             rep.sig, rep.sig_len),
			             KW_ERR_BAD_SIGNATURE);
			signed_ok++;
		}
	}
	cr_expect_eq(signed_ok, 10);
	for (size_t k = 0; k < 3; k++)
		stub_signer_dispose(&signers[k]);
	struct sp_sign_request req = tls13_request(200, 3, 0x0807, 32);
	cr_expect_eq(stub_check_request(&keys, &req), KW_ERR_UNEXPECTED_MESSAGE);
	req = request(201, 3);
	cr_expect_eq(stub_check_request(&keys, &req), KW_ERR_UNEXPECTED_MESSAGE);
	req = request(202, 2);
	cr_expect_eq(stub_check_request(&keys, &req), 0);
	for (size_t k = 0; k < 3; k++)
		EVP_PKEY_free(table[k].pkey);
}

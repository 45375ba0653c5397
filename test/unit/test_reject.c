/*
 * test_reject.c - every way a peer can make a toy-TLS connection fail: each case
 * asserts the specific error code and that the connection refuses everything
 * afterwards (TT_FAILED, KW_ERR_STATE on every later call).
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "err.h"
#include "toytls.h"
#include "toytls_conn.h"
#include "tt_conn_test.h"

/* ---- client side: a client pinned to the vectors' key, after the vector ServerHello ---- */

struct vclient {
	struct tt_trust trust;
	struct tt_conn *c;
	uint8_t client_pub[TT_X25519_LEN];
	uint8_t server_pub[TT_X25519_LEN];
	EVP_PKEY *key; /* certs/ identity key */
};

static void
vclient_new(struct vclient *v, const char *root, const char *dns_name, time_t at)
{
	uint8_t priv[TT_X25519_LEN], input[TT_SIGNATURE_INPUT_LEN];

	tt_vector_fixed("client_x25519_private", priv, sizeof(priv));
	tt_vector_fixed("signature_input", input, sizeof(input));
	memcpy(v->client_pub, input, TT_X25519_LEN);
	memcpy(v->server_pub, input + TT_X25519_LEN, TT_X25519_LEN);
	test_trust(&v->trust, root, at);
	struct tt_client_params p = {
	    .trust = &v->trust, .dns_name = dns_name, .fixed_x25519_private = priv};
	v->c = tt_conn_new_client(&p);
	cr_assert_not_null(v->c);
	size_t len;
	uint8_t *hello = tt_vector("server_hello_wire", &len);
	cr_assert_eq(tt_conn_feed(v->c, hello, len), 0);
	cr_assert_eq(tt_conn_state(v->c), TT_CLIENT_WAIT_SERVER_AUTH);
	free(hello);
	v->key = test_load_key(CERTS "server_key.pem");
}

static void
vclient_free(struct vclient *v)
{
	tt_conn_free(v->c);
	tt_trust_dispose(&v->trust);
	EVP_PKEY_free(v->key);
}

/* A ServerAuth record with n_certs of certs/ (leaf first) and a signature over a || b. */
static void
server_auth(struct kw_buf *out, size_t n_certs, EVP_PKEY *key, const uint8_t *a, const uint8_t *b)
{
	const char *chain[] = {CERTS "intermediate_cert.pem"};
	struct kw_buf payload = {0};
	uint8_t sig[TT_MAX_SIGNATURE_LEN];
	size_t sig_len;

	cr_assert_eq(test_encode_chain_files(CERTS "server_cert.pem", chain, n_certs - 1, &payload),
	             0);
	cr_assert_eq(tt_sign(key, a, b, sig, &sig_len), 0);
	cr_assert_eq(tt_field_write(&payload, TT_TAG_CERT_VERIFY, sig, sig_len), 0);
	cr_assert_eq(tt_record_write(out, kw_buf_head(&payload), kw_buf_size(&payload)), 0);
	kw_buf_free(&payload);
}

/* Feeds a ServerAuth to a vector client and expects err, with a libcrypto detail or not. */
static void
client_rejects(struct vclient *v, struct kw_buf *auth, int err, bool has_detail)
{
	cr_assert_eq(tt_conn_feed(v->c, kw_buf_head(auth), kw_buf_size(auth)), err,
	             "got %s, expected %s", kw_strerror(tt_conn_error(v->c)), kw_strerror(err));
	cr_assert_eq(tt_conn_error_detail(v->c) != NULL, has_detail);
	test_assert_dead(v->c, err);
}

static void
chain_rejected(const char *root, const char *name, time_t at, size_t n_certs, int err)
{
	struct vclient v;
	struct kw_buf auth = {0};

	vclient_new(&v, root, name, at);
	server_auth(&auth, n_certs, v.key, v.client_pub, v.server_pub);
	client_rejects(&v, &auth, err, true);
	kw_buf_free(&auth);
	vclient_free(&v);
}

Test(reject, chain_is_accepted_when_nothing_is_wrong)
{
	struct vclient v;
	struct kw_buf auth = {0};

	vclient_new(&v, CERTS "root_cert.pem", "localhost", T_2027);
	server_auth(&auth, 2, v.key, v.client_pub, v.server_pub);
	cr_assert_eq(tt_conn_feed(v.c, kw_buf_head(&auth), kw_buf_size(&auth)), 0);
	cr_assert_eq(tt_conn_state(v.c), TT_ESTABLISHED);
	kw_buf_free(&auth);
	vclient_free(&v);
}

Test(reject, wrong_dns_name)
{
	chain_rejected(CERTS "root_cert.pem", "example.com", T_2027, 2, KW_ERR_CERT_NAME);
}

Test(reject, untrusted_root)
{
	chain_rejected(REF_CERTS "root_cert.pem", "localhost", T_2027, 2, KW_ERR_CERT_UNTRUSTED);
}

Test(reject, expired_leaf)
{
	chain_rejected(CERTS "root_cert.pem", "localhost", T_2029, 2, KW_ERR_CERT_EXPIRED);
}

Test(reject, missing_intermediate)
{
	chain_rejected(CERTS "root_cert.pem", "localhost", T_2027, 1, KW_ERR_CERT_UNTRUSTED);
}

Test(reject, signature_over_other_bytes)
{
	struct vclient v;
	struct kw_buf auth = {0};
	uint8_t other[TT_X25519_LEN];

	vclient_new(&v, CERTS "root_cert.pem", "localhost", T_2027);
	memcpy(other, v.server_pub, sizeof(other));
	other[31] ^= 1;
	server_auth(&auth, 2, v.key, v.client_pub, other);
	client_rejects(&v, &auth, KW_ERR_BAD_SIGNATURE, false);
	kw_buf_free(&auth);
	vclient_free(&v);
}

Test(reject, signature_in_the_other_order)
{
	struct vclient v;
	struct kw_buf auth = {0};

	vclient_new(&v, CERTS "root_cert.pem", "localhost", T_2027);
	server_auth(&auth, 2, v.key, v.server_pub, v.client_pub);
	client_rejects(&v, &auth, KW_ERR_BAD_SIGNATURE, false);
	kw_buf_free(&auth);
	vclient_free(&v);
}

Test(reject, signature_by_another_key)
{
	struct vclient v;
	struct kw_buf auth = {0};
	EVP_PKEY *other = test_load_key(REF_CERTS "server_key.pem");

	vclient_new(&v, CERTS "root_cert.pem", "localhost", T_2027);
	server_auth(&auth, 2, other, v.client_pub, v.server_pub);
	client_rejects(&v, &auth, KW_ERR_BAD_SIGNATURE, false);
	EVP_PKEY_free(other);
	kw_buf_free(&auth);
	vclient_free(&v);
}

Test(reject, insecure_client_still_checks_the_signature)
{
	uint8_t priv[TT_X25519_LEN], input[TT_SIGNATURE_INPUT_LEN];
	struct kw_buf auth = {0};
	size_t len;

	tt_vector_fixed("client_x25519_private", priv, sizeof(priv));
	tt_vector_fixed("signature_input", input, sizeof(input));
	struct tt_client_params p = {.insecure = true, .fixed_x25519_private = priv};
	struct tt_conn *c = tt_conn_new_client(&p);
	cr_assert_not_null(c);
	uint8_t *hello = tt_vector("server_hello_wire", &len);
	cr_assert_eq(tt_conn_feed(c, hello, len), 0);
	EVP_PKEY *key = test_load_key(CERTS "server_key.pem");
	server_auth(&auth, 2, key, input + TT_X25519_LEN, input);
	cr_assert_eq(tt_conn_feed(c, kw_buf_head(&auth), kw_buf_size(&auth)), KW_ERR_BAD_SIGNATURE);
	test_assert_dead(c, KW_ERR_BAD_SIGNATURE);
	EVP_PKEY_free(key);
	free(hello);
	kw_buf_free(&auth);
	tt_conn_free(c);
}

/* A handshake record built field by field: tags and values as given. */
static void
add_field(struct kw_buf *payload, uint16_t tag, const void *value, size_t len)
{
	cr_assert_eq(tt_field_write(payload, tag, value, len), 0);
}

static void
as_record(struct kw_buf *payload, struct kw_buf *out)
{
	cr_assert_eq(tt_record_write(out, kw_buf_head(payload), kw_buf_size(payload)), 0);
	kw_buf_free(payload);
}

Test(reject, server_auth_without_certificate)
{
	struct vclient v;
	struct kw_buf payload = {0}, auth = {0};

	vclient_new(&v, CERTS "root_cert.pem", "localhost", T_2027);
	add_field(&payload, TT_TAG_CERT_VERIFY, "sig", 3);
	as_record(&payload, &auth);
	client_rejects(&v, &auth, KW_ERR_NO_CERTIFICATE, false);
	kw_buf_free(&auth);
	vclient_free(&v);
}

Test(reject, server_auth_without_signature)
{
	const char *chain[] = {CERTS "intermediate_cert.pem"};
	struct vclient v;
	struct kw_buf payload = {0}, auth = {0};

	vclient_new(&v, CERTS "root_cert.pem", "localhost", T_2027);
	cr_assert_eq(test_encode_chain_files(CERTS "server_cert.pem", chain, 1, &payload), 0);
	as_record(&payload, &auth);
	client_rejects(&v, &auth, KW_ERR_NO_SIGNATURE, false);
	kw_buf_free(&auth);
	vclient_free(&v);
}

Test(reject, server_auth_with_truncated_tlv)
{
	struct vclient v;
	struct kw_buf auth = {0};

	vclient_new(&v, CERTS "root_cert.pem", "localhost", T_2027);
	server_auth(&auth, 2, v.key, v.client_pub, v.server_pub);
	uint8_t *head = kw_buf_head(&auth);
	tt_store_u32(head, tt_load_u32(head) - 1);
	auth.len--;
	client_rejects(&v, &auth, KW_ERR_TLV_TRUNCATED, false);
	kw_buf_free(&auth);
	vclient_free(&v);
}

Test(reject, server_auth_with_garbage_certificate)
{
	struct vclient v;
	struct kw_buf payload = {0}, auth = {0};

	vclient_new(&v, CERTS "root_cert.pem", "localhost", T_2027);
	add_field(&payload, TT_TAG_CERTIFICATE, "\x30\x03\x02\x01\x01", 5);
	add_field(&payload, TT_TAG_CERT_VERIFY, "sig", 3);
	as_record(&payload, &auth);
	client_rejects(&v, &auth, KW_ERR_CERT_PARSE, true);
	kw_buf_free(&auth);
	vclient_free(&v);
}

Test(reject, server_auth_with_too_many_certificates)
{
	struct vclient v;
	struct kw_buf payload = {0}, auth = {0};
	const char *chain[8];

	for (size_t i = 0; i < 8; i++)
		chain[i] = CERTS "intermediate_cert.pem";
	vclient_new(&v, CERTS "root_cert.pem", "localhost", T_2027);
	cr_assert_eq(test_encode_chain_files(CERTS "server_cert.pem", chain, 8, &payload), 0);
	add_field(&payload, TT_TAG_CERT_VERIFY, "sig", 3);
	as_record(&payload, &auth);
	client_rejects(&v, &auth, KW_ERR_CERT_INVALID, true);
	kw_buf_free(&auth);
	vclient_free(&v);
}

Test(reject, server_hello_without_key_share)
{
	struct tt_client_params p = {.insecure = true};
	struct kw_buf payload = {0}, rec = {0};
	struct tt_conn *c = tt_conn_new_client(&p);

	cr_assert_not_null(c);
	add_field(&payload, 0x0042, "x", 1);
	as_record(&payload, &rec);
	cr_assert_eq(tt_conn_feed(c, kw_buf_head(&rec), kw_buf_size(&rec)), KW_ERR_NO_KEY_SHARE);
	test_assert_dead(c, KW_ERR_NO_KEY_SHARE);
	kw_buf_free(&rec);
	tt_conn_free(c);
}

Test(reject, server_hello_with_short_key_share)
{
	struct tt_client_params p = {.insecure = true};
	struct kw_buf payload = {0}, rec = {0};
	uint8_t key[31] = {9};
	struct tt_conn *c = tt_conn_new_client(&p);

	cr_assert_not_null(c);
	add_field(&payload, TT_TAG_X25519, key, sizeof(key));
	as_record(&payload, &rec);
	cr_assert_eq(tt_conn_feed(c, kw_buf_head(&rec), kw_buf_size(&rec)),
	             KW_ERR_KEY_SHARE_LENGTH);
	test_assert_dead(c, KW_ERR_KEY_SHARE_LENGTH);
	kw_buf_free(&rec);
	tt_conn_free(c);
}

/* A low-order server key is refused only after ServerAuth verified, when deriving keys. */
Test(reject, server_hello_with_low_order_key)
{
	uint8_t priv[TT_X25519_LEN], input[TT_SIGNATURE_INPUT_LEN], low[TT_X25519_LEN] = {0};
	struct kw_buf payload = {0}, rec = {0};
	EVP_PKEY *key = test_load_key(CERTS "server_key.pem");

	tt_vector_fixed("client_x25519_private", priv, sizeof(priv));
	tt_vector_fixed("signature_input", input, sizeof(input));
	struct tt_client_params p = {.insecure = true, .fixed_x25519_private = priv};
	struct tt_conn *c = tt_conn_new_client(&p);
	cr_assert_not_null(c);
	add_field(&payload, TT_TAG_X25519, low, sizeof(low));
	as_record(&payload, &rec);
	server_auth(&rec, 2, key, input, low);
	cr_assert_eq(tt_conn_feed(c, kw_buf_head(&rec), kw_buf_size(&rec)),
	             KW_ERR_KEY_SHARE_INVALID);
	test_assert_dead(c, KW_ERR_KEY_SHARE_INVALID);
	EVP_PKEY_free(key);
	kw_buf_free(&rec);
	tt_conn_free(c);
}

Test(reject, handshake_record_over_the_limit)
{
	struct tt_client_params p = {.insecure = true, .max_handshake_record = 1000};
	struct tt_conn *c = tt_conn_new_client(&p);
	uint8_t header[4];

	cr_assert_not_null(c);
	tt_store_u32(header, 1001);
	cr_assert_eq(tt_conn_feed(c, header, sizeof(header)), KW_ERR_RECORD_TOO_LARGE);
	test_assert_dead(c, KW_ERR_RECORD_TOO_LARGE);
	tt_conn_free(c);
}

/*
 * A record of body_len bytes (zeros) fed to c whole in one call, or in two pieces split
 * inside its header: the two paths tt_conn_feed reads records on. Returns the result.
 */
static int
feed_record(struct tt_conn *c, size_t body_len, bool whole)
{
	uint8_t *rec = calloc(1, TT_RECORD_HEADER_LEN + body_len);
	size_t len = TT_RECORD_HEADER_LEN + body_len, split = whole ? len : 2;

	cr_assert_not_null(rec);
	tt_store_u32(rec, (uint32_t)body_len);
	int err = tt_conn_feed(c, rec, split);
	if (err == 0 && split < len)
		err = tt_conn_feed(c, rec + split, len - split);
	free(rec);
	return err;
}

/* The handshake record limit, at it and one past, on both read paths. */
Test(reject, handshake_record_limit_whole_and_in_pieces)
{
	struct tt_client_params p = {.insecure = true, .max_handshake_record = 1000};

	for (int whole = 0; whole <= 1; whole++) {
		struct tt_conn *c = tt_conn_new_client(&p);

		cr_assert_not_null(c);
		cr_assert_eq(feed_record(c, 1001, whole), KW_ERR_RECORD_TOO_LARGE, "whole: %d",
		             whole);
		test_assert_dead(c, KW_ERR_RECORD_TOO_LARGE);
		tt_conn_free(c);

		/* at the limit the record is read and parsed (zeros are no ServerHello) */
		c = tt_conn_new_client(&p);
		cr_assert_not_null(c);
		int err = feed_record(c, 1000, whole);
		cr_assert_neq(err, KW_ERR_RECORD_TOO_LARGE, "whole: %d: %s", whole,
		              kw_strerror(err));
		tt_conn_free(c);
	}
}

Test(reject, client_refuses_bad_params)
{
	struct tt_trust trust;
	char long_name[TT_MAX_SERVER_NAME_LEN + 2];

	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	test_trust(&trust, CERTS "root_cert.pem", T_2027);
	const char *bad_names[] = {"", "localhost.", "l\xc3\xa9", "a b", long_name};
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		struct tt_client_params p = {
		    .trust = &trust, .dns_name = bad_names[i], .send_server_name = true};
		cr_assert_null(tt_conn_new_client(&p), "name %zu", i);
	}
	long_name[TT_MAX_SERVER_NAME_LEN] = '\0';
	struct tt_client_params ok = {
	    .trust = &trust, .dns_name = long_name, .send_server_name = true};
	struct tt_conn *c = tt_conn_new_client(&ok);
	cr_assert_not_null(c, "255 bytes is the longest name");
	tt_conn_free(c);

	struct tt_client_params no_trust = {.dns_name = "localhost"};
	cr_assert_null(tt_conn_new_client(&no_trust));
	struct tt_client_params no_name = {.trust = &trust};
	cr_assert_null(tt_conn_new_client(&no_name));
	struct tt_client_params sni_without_name = {.insecure = true, .send_server_name = true};
	cr_assert_null(tt_conn_new_client(&sni_without_name));
	cr_assert_null(tt_conn_new_client(NULL));
	tt_trust_dispose(&trust);
}

/* ---- application records: an established pair ---- */

struct pair {
	struct test_identity ident;
	struct tt_trust trust;
	struct tt_conn *client, *server;
	struct kw_buf rec; /* one protected record from the client, not yet fed */
};

static void
pair_with_record(struct pair *p, size_t n_records)
{
	test_identity_files(&p->ident);
	test_trust(&p->trust, CERTS "root_cert.pem", T_2027);
	struct tt_client_params cp = {.trust = &p->trust, .dns_name = "localhost"};
	struct tt_server_params sp = test_server_params(&p->ident);
	p->client = tt_conn_new_client(&cp);
	p->server = tt_conn_new_server(&sp);
	cr_assert_not_null(p->client);
	cr_assert_not_null(p->server);
	test_handshake(p->client, p->server, p->ident.key, 0);
	p->rec = (struct kw_buf){0};
	for (size_t i = 0; i < n_records; i++)
		cr_assert_eq(tt_conn_protect(p->client, (const uint8_t *)"hello", 5), 0);
	struct kw_buf *w = tt_conn_wire(p->client);
	cr_assert_eq(kw_buf_append(&p->rec, kw_buf_head(w), kw_buf_size(w)), 0);
	kw_buf_consume(w, kw_buf_size(w));
}

static void
pair_free(struct pair *p)
{
	kw_buf_free(&p->rec);
	tt_conn_free(p->client);
	tt_conn_free(p->server);
	tt_trust_dispose(&p->trust);
	test_identity_dispose(&p->ident);
}

/*
 * Asserts that the established server c refused a record with err: its input has
 * ended (every later feed is refused) while it can still answer.
 */
static void
assert_input_ended(struct tt_conn *c, int err)
{
	static const uint8_t byte = 0;

	cr_assert(tt_conn_input_ended(c));
	cr_assert_eq(tt_conn_state(c), TT_ESTABLISHED);
	cr_assert_eq(tt_conn_error(c), err, "error %s, expected %s", kw_strerror(tt_conn_error(c)),
	             kw_strerror(err));
	cr_assert_eq(tt_conn_feed(c, &byte, 1), KW_ERR_STATE);
	cr_assert_eq(tt_conn_protect(c, (const uint8_t *)"answer", 6), 0);
	cr_assert_gt(kw_buf_size(tt_conn_wire(c)), 0);
	cr_assert_eq(tt_conn_error(c), err);
}

static void
server_rejects(struct pair *p, const uint8_t *wire, size_t len, int err)
{
	cr_assert_eq(tt_conn_feed(p->server, wire, len), err, "got %s, expected %s",
	             kw_strerror(tt_conn_error(p->server)), kw_strerror(err));
	cr_assert_eq(kw_buf_size(tt_conn_plaintext(p->server)), 0, "no plaintext released");
	assert_input_ended(p->server, err);
}

/* The client's answer to the server's protected bytes is readable: the response got out. */
static void
client_reads(struct pair *p, const char *text)
{
	struct kw_buf *w = tt_conn_wire(p->server);
	struct kw_buf *plain = tt_conn_plaintext(p->client);

	cr_assert_eq(tt_conn_feed(p->client, kw_buf_head(w), kw_buf_size(w)), 0);
	cr_assert_eq(kw_buf_size(plain), strlen(text));
	cr_assert_arr_eq(kw_buf_head(plain), text, strlen(text));
}

/*
 * A good record then a tampered one, fed in one piece or byte by byte: the good one's
 * plaintext stays readable and the server can answer it.
 */
static void
good_then_bad(bool in_pieces)
{
	struct pair p;
	size_t one, n;
	uint8_t *wire;

	pair_with_record(&p, 2);
	one = kw_buf_size(&p.rec) / 2;
	n = kw_buf_size(&p.rec);
	wire = kw_buf_head(&p.rec);
	wire[one + TT_RECORD_HEADER_LEN + TT_SEQ_LEN + TT_NONCE_LEN] ^= 0x01;
	if (in_pieces) {
		size_t i = 0;

		while (i < n && tt_conn_feed(p.server, wire + i, 1) == 0)
			i++;
		cr_assert_eq(i, n - 1, "the last byte of the bad record is refused");
	} else {
		cr_assert_eq(tt_conn_feed(p.server, wire, n), KW_ERR_DECRYPT);
	}
	cr_assert_eq(kw_buf_size(tt_conn_plaintext(p.server)), 5);
	cr_assert_arr_eq(kw_buf_head(tt_conn_plaintext(p.server)), "hello", 5);
	assert_input_ended(p.server, KW_ERR_DECRYPT);
	client_reads(&p, "answer");
	pair_free(&p);
}

Test(reject, a_good_record_before_a_bad_one_is_kept_in_one_feed)
{
	good_then_bad(false);
}

Test(reject, a_good_record_before_a_bad_one_is_kept_in_pieces)
{
	good_then_bad(true);
}

/* n empty records from the client, sealed as it seals any record. */
static void
empty_records(struct pair *p, size_t n, struct kw_buf *out)
{
	uint8_t rec[TT_RECORD_PREFIX_LEN + TT_RECORD_SUFFIX_LEN];

	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(tt_conn_protect_in_place(p->client, rec, 0), 0);
		cr_assert_eq(kw_buf_append(out, rec, sizeof(rec)), 0);
	}
}

static void
empty_run(bool in_pieces, size_t before, size_t after, int err)
{
	struct kw_buf wire = {0};
	struct pair p;
	int rc = 0;

	pair_with_record(&p, 0);
	empty_records(&p, before, &wire);
	cr_assert_eq(tt_conn_protect(p.client, (const uint8_t *)"hi", 2), 0);
	cr_assert_eq(kw_buf_append(&wire, kw_buf_head(tt_conn_wire(p.client)),
	                           kw_buf_size(tt_conn_wire(p.client))),
	             0);
	kw_buf_consume(tt_conn_wire(p.client), kw_buf_size(tt_conn_wire(p.client)));
	empty_records(&p, after, &wire);
	if (in_pieces) {
		for (size_t i = 0; rc == 0 && i < kw_buf_size(&wire); i += 7) {
			size_t n = kw_buf_size(&wire) - i < 7 ? kw_buf_size(&wire) - i : 7;

			rc = tt_conn_feed(p.server, kw_buf_head(&wire) + i, n);
		}
	} else {
		rc = tt_conn_feed(p.server, kw_buf_head(&wire), kw_buf_size(&wire));
	}
	cr_assert_eq(rc, err, "got %s, expected %s", kw_strerror(rc), kw_strerror(err));
	cr_assert_eq(kw_buf_size(tt_conn_plaintext(p.server)), 2);
	if (err)
		assert_input_ended(p.server, err);
	kw_buf_free(&wire);
	pair_free(&p);
}

Test(reject, empty_records_in_a_row_are_bounded)
{
	for (int pieces = 0; pieces < 2; pieces++) {
		/* at the limit on both sides of a record with data: accepted */
		empty_run(pieces, TT_MAX_EMPTY_RECORDS, TT_MAX_EMPTY_RECORDS, 0);
		/* one past the limit, after data: the input ends, the data stays */
		empty_run(pieces, TT_MAX_EMPTY_RECORDS, TT_MAX_EMPTY_RECORDS + 1,
		          KW_ERR_EMPTY_RECORDS);
	}
}

Test(reject, a_bad_record_during_the_handshake_fails_the_connection)
{
	struct test_identity ident;
	struct tt_server_params sp;
	struct tt_conn *server;
	uint8_t header[TT_RECORD_HEADER_LEN];

	test_identity_files(&ident);
	sp = test_server_params(&ident);
	server = tt_conn_new_server(&sp);
	cr_assert_not_null(server);
	tt_store_u32(header, TT_MAX_HANDSHAKE_RECORD + 1);
	cr_assert_eq(tt_conn_feed(server, header, sizeof(header)), KW_ERR_RECORD_TOO_LARGE);
	cr_assert_not(tt_conn_input_ended(server));
	test_assert_dead(server, KW_ERR_RECORD_TOO_LARGE);
	tt_conn_free(server);
	test_identity_dispose(&ident);
}

static void
tampered_record(size_t offset)
{
	struct pair p;
	pair_with_record(&p, 1);
	cr_assert_lt(offset, kw_buf_size(&p.rec));
	kw_buf_head(&p.rec)[offset] ^= 0x80;
	server_rejects(&p, kw_buf_head(&p.rec), kw_buf_size(&p.rec), KW_ERR_DECRYPT);
	pair_free(&p);
}

Test(reject, tampered_ciphertext)
{
	tampered_record(TT_RECORD_HEADER_LEN + TT_SEQ_LEN + TT_NONCE_LEN);
}

Test(reject, tampered_nonce)
{
	tampered_record(TT_RECORD_HEADER_LEN + TT_SEQ_LEN);
}

Test(reject, tampered_tag)
{
	tampered_record(TT_RECORD_HEADER_LEN + TT_RECORD_OVERHEAD + 5 - 1);
}

Test(reject, replayed_sequence)
{
	struct pair p;
	pair_with_record(&p, 1);
	cr_assert_eq(tt_conn_feed(p.server, kw_buf_head(&p.rec), kw_buf_size(&p.rec)), 0);
	kw_buf_consume(tt_conn_plaintext(p.server), 5);
	server_rejects(&p, kw_buf_head(&p.rec), kw_buf_size(&p.rec), KW_ERR_BAD_SEQUENCE);
	pair_free(&p);
}

Test(reject, skipped_sequence)
{
	struct pair p;
	pair_with_record(&p, 2);
	size_t one = kw_buf_size(&p.rec) / 2;
	server_rejects(&p, kw_buf_head(&p.rec) + one, one, KW_ERR_BAD_SEQUENCE);
	pair_free(&p);
}

Test(reject, record_shorter_than_36_bytes)
{
	struct pair p;
	uint8_t rec[TT_RECORD_HEADER_LEN + TT_RECORD_OVERHEAD - 1] = {0};

	pair_with_record(&p, 0);
	tt_store_u32(rec, TT_RECORD_OVERHEAD - 1);
	server_rejects(&p, rec, sizeof(rec), KW_ERR_RECORD_TOO_SHORT);
	pair_free(&p);
}

Test(reject, empty_record)
{
	struct pair p;
	uint8_t rec[TT_RECORD_HEADER_LEN] = {0};

	pair_with_record(&p, 0);
	server_rejects(&p, rec, sizeof(rec), KW_ERR_RECORD_TOO_SHORT);
	pair_free(&p);
}

Test(reject, length_header_over_the_limit)
{
	struct pair p;
	uint8_t header[TT_RECORD_HEADER_LEN];

	pair_with_record(&p, 0);
	tt_store_u32(header, TT_MAX_APP_RECORD + 1);
	server_rejects(&p, header, sizeof(header), KW_ERR_RECORD_TOO_LARGE);
	pair_free(&p);
}

/* The largest record, read whole and in pieces. */
Test(reject, largest_record_is_accepted)
{
	static const size_t chunks[] = {0, 1000};
	uint8_t *big = calloc(1, TT_MAX_PLAINTEXT);

	cr_assert_not_null(big);
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		struct pair p;

		pair_with_record(&p, 0);
		cr_assert_eq(tt_conn_protect(p.client, big, TT_MAX_PLAINTEXT), 0);
		cr_assert_eq(tt_load_u32(kw_buf_head(tt_conn_wire(p.client))), TT_MAX_APP_RECORD);
		cr_assert_eq(test_pump(p.client, p.server, chunks[i]), 0, "chunk %zu", chunks[i]);
		cr_assert_eq(kw_buf_size(tt_conn_plaintext(p.server)), TT_MAX_PLAINTEXT);
		pair_free(&p);
	}
	free(big);
}

/* The application record limit one past it, read whole or in pieces. */
Test(reject, whole_record_over_the_limit)
{
	for (int whole = 0; whole <= 1; whole++) {
		struct pair p;

		pair_with_record(&p, 0);
		cr_assert_eq(feed_record(p.server, TT_MAX_APP_RECORD + 1, whole),
		             KW_ERR_RECORD_TOO_LARGE, "whole: %d: %s", whole,
		             kw_strerror(tt_conn_error(p.server)));
		cr_assert_eq(kw_buf_size(tt_conn_plaintext(p.server)), 0, "no plaintext released");
		assert_input_ended(p.server, KW_ERR_RECORD_TOO_LARGE);
		pair_free(&p);
	}
}

/* ---- server side: ClientHello checks ---- */

struct vserver {
	struct test_identity ident;
	struct tt_conn *s;
};

static void
vserver_new(struct vserver *v)
{
	test_identity_files(&v->ident);
	struct tt_server_params sp = test_server_params(&v->ident);
	v->s = tt_conn_new_server(&sp);
	cr_assert_not_null(v->s);
}

static void
vserver_free(struct vserver *v)
{
	tt_conn_free(v->s);
	test_identity_dispose(&v->ident);
}

/* Feeds a ClientHello record with the payload's fields; expects err before any signature. */
static void
hello_rejected(struct kw_buf *payload, int err)
{
	struct vserver v;
	struct kw_buf rec = {0};
	struct tt_sign_request req;

	vserver_new(&v);
	as_record(payload, &rec);
	cr_assert_eq(tt_conn_feed(v.s, kw_buf_head(&rec), kw_buf_size(&rec)), err,
	             "got %s, expected %s", kw_strerror(tt_conn_error(v.s)), kw_strerror(err));
	cr_assert_not(tt_conn_sign_request(v.s, &req));
	cr_assert_eq(kw_buf_size(tt_conn_wire(v.s)), 0);
	cr_assert_eq(v.ident.selected, 0, "no identity is picked for a bad ClientHello");
	test_assert_dead(v.s, err);
	kw_buf_free(&rec);
	vserver_free(&v);
}

static void
hello_with_key(const uint8_t *key, size_t len, int err)
{
	struct kw_buf payload = {0};
	add_field(&payload, TT_TAG_X25519, key, len);
	hello_rejected(&payload, err);
}

static const uint8_t client_key[TT_X25519_LEN] = {
    0x07, 0xa3, 0x7c, 0xbc, 0x14, 0x20, 0x93, 0xc8, 0xb7, 0x55, 0xdc, 0x1b, 0x10, 0xe8, 0x6c, 0xb4,
    0x26, 0x37, 0x4a, 0xd1, 0x6a, 0xa8, 0x53, 0xed, 0x0b, 0xdf, 0xc0, 0xb2, 0xb8, 0x6d, 0x1c, 0x7c};

Test(reject, truncated_tlv)
{
	static const uint8_t nine_announced_three_there[] = {0x00, 0x20, 0, 0, 0, 9, 'a', 'b', 'c'};
	struct kw_buf payload = {0};
	add_field(&payload, TT_TAG_X25519, client_key, sizeof(client_key));
	cr_assert_eq(
	    kw_buf_append(&payload, nine_announced_three_there, sizeof(nine_announced_three_there)),
	    0);
	hello_rejected(&payload, KW_ERR_TLV_TRUNCATED);
}

Test(reject, truncated_tlv_header)
{
	struct kw_buf payload = {0};
	add_field(&payload, TT_TAG_X25519, client_key, sizeof(client_key));
	cr_assert_eq(kw_buf_append(&payload, "\x00\x11\x00", 3), 0);
	hello_rejected(&payload, KW_ERR_TLV_TRUNCATED);
}

Test(reject, client_hello_without_key_share)
{
	struct kw_buf payload = {0};
	add_field(&payload, TT_TAG_SERVER_NAME, "localhost", 9);
	add_field(&payload, TT_TAG_CERTIFICATE, client_key, sizeof(client_key));
	hello_rejected(&payload, KW_ERR_NO_KEY_SHARE);
}

Test(reject, empty_client_hello)
{
	struct kw_buf payload = {0};
	hello_rejected(&payload, KW_ERR_NO_KEY_SHARE);
}

Test(reject, key_share_of_31_bytes)
{
	hello_with_key(client_key, 31, KW_ERR_KEY_SHARE_LENGTH);
}

Test(reject, key_share_of_33_bytes)
{
	uint8_t key[33];
	memcpy(key, client_key, 32);
	key[32] = 0;
	hello_with_key(key, sizeof(key), KW_ERR_KEY_SHARE_LENGTH);
}

Test(reject, first_key_share_wins)
{
	struct kw_buf payload = {0};
	add_field(&payload, TT_TAG_X25519, client_key, 31);
	add_field(&payload, TT_TAG_X25519, client_key, sizeof(client_key));
	hello_rejected(&payload, KW_ERR_KEY_SHARE_LENGTH);
}

Test(reject, all_zero_key_share)
{
	static const uint8_t zero[TT_X25519_LEN];
	hello_with_key(zero, sizeof(zero), KW_ERR_KEY_SHARE_INVALID);
}

Test(reject, low_order_key_share)
{
	static const uint8_t low_order[TT_X25519_LEN] = {
	    0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3,
	    0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32,
	    0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00};
	hello_with_key(low_order, sizeof(low_order), KW_ERR_KEY_SHARE_INVALID);
}

static void
hello_with_name(const void *name, size_t len)
{
	struct kw_buf payload = {0};
	add_field(&payload, TT_TAG_X25519, client_key, sizeof(client_key));
	add_field(&payload, TT_TAG_SERVER_NAME, name, len);
	hello_rejected(&payload, KW_ERR_BAD_SERVER_NAME);
}

Test(reject, empty_server_name)
{
	hello_with_name("", 0);
}

Test(reject, server_name_of_256_bytes)
{
	char name[256];
	memset(name, 'a', sizeof(name));
	hello_with_name(name, sizeof(name));
}

Test(reject, non_ascii_server_name)
{
	hello_with_name("caf\xc3\xa9.example", 13);
}

Test(reject, server_name_with_trailing_dot)
{
	hello_with_name("localhost.", 10);
}

Test(reject, server_name_with_nul)
{
	hello_with_name("local\0host", 10);
}

Test(reject, server_name_of_255_bytes_is_accepted)
{
	struct vserver v;
	struct kw_buf payload = {0}, rec = {0};
	char name[255];

	memset(name, 'a', sizeof(name));
	vserver_new(&v);
	add_field(&payload, TT_TAG_X25519, client_key, sizeof(client_key));
	add_field(&payload, TT_TAG_SERVER_NAME, name, sizeof(name));
	add_field(&payload, 0x7777, "ignored", 7);
	as_record(&payload, &rec);
	cr_assert_eq(tt_conn_feed(v.s, kw_buf_head(&rec), kw_buf_size(&rec)), 0);
	cr_assert_eq(tt_conn_state(v.s), TT_WAIT_SIGNATURE);
	cr_assert_eq(strlen(tt_conn_server_name(v.s)), sizeof(name));
	cr_assert_eq(v.ident.selected, 1);
	kw_buf_free(&rec);
	vserver_free(&v);
}

Test(reject, no_identity_for_the_name)
{
	struct vserver v;
	struct kw_buf payload = {0}, rec = {0};

	vserver_new(&v);
	v.ident.refuse = true;
	add_field(&payload, TT_TAG_X25519, client_key, sizeof(client_key));
	add_field(&payload, TT_TAG_SERVER_NAME, "unknown.example", 15);
	as_record(&payload, &rec);
	cr_assert_eq(tt_conn_feed(v.s, kw_buf_head(&rec), kw_buf_size(&rec)),
	             KW_ERR_BAD_SERVER_NAME);
	cr_assert_eq(v.ident.selected, 1);
	cr_assert_str_eq(v.ident.name, "unknown.example");
	test_assert_dead(v.s, KW_ERR_BAD_SERVER_NAME);
	kw_buf_free(&rec);
	vserver_free(&v);
}

/* ---- server side: while waiting for the signature ---- */

static void
vserver_waiting(struct vserver *v, const uint8_t *extra, size_t extra_len)
{
	struct kw_buf payload = {0}, rec = {0};
	vserver_new(v);
	add_field(&payload, TT_TAG_X25519, client_key, sizeof(client_key));
	as_record(&payload, &rec);
	cr_assert_eq(kw_buf_append(&rec, extra, extra_len), 0);
	int err = tt_conn_feed(v->s, kw_buf_head(&rec), kw_buf_size(&rec));
	cr_assert_eq(err, extra_len > 0 ? KW_ERR_UNEXPECTED_MESSAGE : 0);
	kw_buf_free(&rec);
}

Test(reject, data_while_waiting_for_the_signature)
{
	struct vserver v;
	vserver_waiting(&v, NULL, 0);
	cr_assert_eq(tt_conn_state(v.s), TT_WAIT_SIGNATURE);
	cr_assert_eq(tt_conn_feed(v.s, NULL, 0), 0, "no bytes is no message");
	cr_assert_eq(tt_conn_feed(v.s, (const uint8_t *)"\x00", 1), KW_ERR_UNEXPECTED_MESSAGE);
	test_assert_dead(v.s, KW_ERR_UNEXPECTED_MESSAGE);
	vserver_free(&v);
}

Test(reject, data_after_client_hello_in_the_same_feed)
{
	struct vserver v;
	vserver_waiting(&v, (const uint8_t *)"\x00\x00", 2);
	test_assert_dead(v.s, KW_ERR_UNEXPECTED_MESSAGE);
	vserver_free(&v);
}

Test(reject, signature_failure_reported_by_the_caller)
{
	struct vserver v;
	vserver_waiting(&v, NULL, 0);
	tt_conn_signature_failed(v.s, KW_ERR_SIGN_FAILED);
	cr_assert_eq(kw_buf_size(tt_conn_wire(v.s)), 0, "nothing is sent");
	test_assert_dead(v.s, KW_ERR_SIGN_FAILED);
	vserver_free(&v);
}

Test(reject, signature_timeout_reported_by_the_caller)
{
	struct vserver v;
	vserver_waiting(&v, NULL, 0);
	tt_conn_signature_failed(v.s, KW_ERR_SIGN_TIMEOUT);
	test_assert_dead(v.s, KW_ERR_SIGN_TIMEOUT);
	vserver_free(&v);
}

Test(reject, oversized_signature_supplied)
{
	struct vserver v;
	static const uint8_t sig[TT_MAX_SIGNATURE_LEN + 1];
	vserver_waiting(&v, NULL, 0);
	cr_assert_eq(tt_conn_supply_signature(v.s, sig, sizeof(sig)), KW_ERR_SIGN_FAILED);
	cr_assert_eq(kw_buf_size(tt_conn_wire(v.s)), 0, "nothing is sent");
	test_assert_dead(v.s, KW_ERR_SIGN_FAILED);
	vserver_free(&v);
}

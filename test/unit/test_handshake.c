/*
 * test_handshake.c - a client and a server connection talking through buffers,
 * with the signature made in the test process: every split of the handshake and
 * of application records, the three identity key types, and the vectors
 * reproduced byte for byte by a server and a client pinned to their keys and nonces.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "err.h"
#include "toytls.h"
#include "toytls_conn.h"
#include "tt_conn_test.h"

/* A client and a server for test/data/certs, trusted as of 2027. */
struct pair {
	struct test_identity ident;
	struct tt_trust trust;
	struct tt_conn *client, *server;
};

static void
pair_new(struct pair *p, bool send_server_name)
{
	test_identity_files(&p->ident);
	test_trust(&p->trust, CERTS "root_cert.pem", T_2027);
	struct tt_client_params cp = {
	    .trust = &p->trust, .dns_name = "localhost", .send_server_name = send_server_name};
	struct tt_server_params sp = test_server_params(&p->ident);
	p->client = tt_conn_new_client(&cp);
	p->server = tt_conn_new_server(&sp);
	cr_assert_not_null(p->client);
	cr_assert_not_null(p->server);
}

static void
pair_established(struct pair *p)
{
	pair_new(p, true);
	test_handshake(p->client, p->server, p->ident.key, 0);
}

static void
pair_free(struct pair *p)
{
	tt_conn_free(p->client);
	tt_conn_free(p->server);
	tt_trust_dispose(&p->trust);
	test_identity_dispose(&p->ident);
}

/* Asserts that conn's plaintext holds exactly want[0, len), then consumes it. */
static void
expect_plaintext(struct tt_conn *c, const void *want, size_t len)
{
	struct kw_buf *pt = tt_conn_plaintext(c);
	cr_assert_eq(kw_buf_size(pt), len);
	cr_assert_arr_eq(kw_buf_head(pt), want, len);
	kw_buf_consume(pt, len);
}

/* Both directions carry a message after the handshake. */
static void
expect_traffic(struct tt_conn *client, struct tt_conn *server)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	cr_assert_eq(tt_conn_protect(client, (const uint8_t *)req, strlen(req)), 0);
	cr_assert_eq(test_pump(client, server, 0), 0);
	expect_plaintext(server, req, strlen(req));
	cr_assert_eq(tt_conn_protect(server, (const uint8_t *)resp, strlen(resp)), 0);
	cr_assert_eq(test_pump(server, client, 0), 0);
	expect_plaintext(client, resp, strlen(resp));
}

static void
handshake_in_chunks(size_t chunk)
{
	struct pair p;
	pair_new(&p, true);
	cr_assert_eq(p.ident.id.scheme, TT_SCHEME_RSA_PSS_SHA256);
	test_handshake(p.client, p.server, p.ident.key, chunk);
	cr_assert_eq(p.ident.selected, 1);
	cr_assert(p.ident.saw_name);
	cr_assert_str_eq(p.ident.name, "localhost");
	cr_assert_str_eq(tt_conn_server_name(p.server), "localhost");
	cr_assert_eq(tt_conn_identity(p.server), &p.ident.id);
	expect_traffic(p.client, p.server);
	pair_free(&p);
}

Test(handshake, whole_records)
{
	handshake_in_chunks(0);
}

Test(handshake, one_byte_at_a_time)
{
	handshake_in_chunks(1);
}

Test(handshake, three_bytes_at_a_time)
{
	handshake_in_chunks(3);
}

Test(handshake, without_server_name)
{
	struct pair p;
	pair_new(&p, false);
	test_handshake(p.client, p.server, p.ident.key, 0);
	cr_assert_eq(p.ident.selected, 1);
	cr_assert_not(p.ident.saw_name);
	cr_assert_null(tt_conn_server_name(p.server));
	expect_traffic(p.client, p.server);
	pair_free(&p);
}

Test(handshake, server_exposes_the_signing_request)
{
	struct pair p;
	struct tt_sign_request req;

	pair_new(&p, true);
	cr_assert_null(tt_conn_identity(p.server));
	cr_assert_not(tt_conn_sign_request(p.server, &req));
	cr_assert_eq(test_pump(p.client, p.server, 0), 0);
	cr_assert_eq(kw_buf_size(tt_conn_wire(p.server)), 0,
	             "nothing is sent before the signature");
	cr_assert(tt_conn_sign_request(p.server, &req));
	cr_assert_eq(req.key_id, 7);
	cr_assert_eq(tt_conn_supply_signature(p.client, (const uint8_t *)"x", 1), KW_ERR_STATE);
	cr_assert_eq(tt_conn_state(p.client), TT_CLIENT_WAIT_SERVER_HELLO);
	test_sign(p.server, p.ident.key);
	cr_assert_not(tt_conn_sign_request(p.server, &req));
	cr_assert_eq(tt_conn_supply_signature(p.server, (const uint8_t *)"x", 1), KW_ERR_STATE);
	cr_assert_eq(tt_conn_state(p.server), TT_ESTABLISHED);
	cr_assert_eq(test_pump(p.server, p.client, 0), 0);
	cr_assert_eq(tt_conn_state(p.client), TT_ESTABLISHED);
	pair_free(&p);
}

Test(handshake, protect_before_established_is_refused)
{
	struct pair p;
	pair_new(&p, true);
	cr_assert_eq(tt_conn_protect(p.client, (const uint8_t *)"x", 1), KW_ERR_STATE);
	cr_assert_eq(tt_conn_protect(p.server, (const uint8_t *)"x", 1), KW_ERR_STATE);
	uint8_t rec[TT_RECORD_PREFIX_LEN + 1 + TT_RECORD_SUFFIX_LEN] = {0};
	cr_assert_eq(tt_conn_protect_in_place(p.server, rec, 1), KW_ERR_STATE);
	test_handshake(p.client, p.server, p.ident.key, 0);
	expect_traffic(p.client, p.server);
	pair_free(&p);
}

Test(handshake, records_protected_in_place_reach_the_peer)
{
	static const char msg[] = "made where it lies";
	uint8_t rec[2][TT_RECORD_PREFIX_LEN + sizeof(msg) + TT_RECORD_SUFFIX_LEN];
	struct pair p;
	pair_new(&p, true);
	test_handshake(p.client, p.server, p.ident.key, 0);
	for (int i = 0; i < 2; i++) {
		memcpy(rec[i] + TT_RECORD_PREFIX_LEN, msg, sizeof(msg));
		cr_assert_eq(tt_conn_protect_in_place(p.server, rec[i], sizeof(msg)), 0);
	}
	cr_expect_not(tt_conn_input_pending(p.client));
	cr_assert_eq(tt_conn_feed(p.client, rec[0], sizeof(rec[0]) + 1), 0);
	cr_expect(tt_conn_input_pending(p.client), "a record and a byte of the next");
	cr_assert_eq(tt_conn_feed(p.client, rec[1] + 1, sizeof(rec[1]) - 1), 0);
	struct kw_buf *plain = tt_conn_plaintext(p.client);
	cr_assert_eq(kw_buf_size(plain), 2 * sizeof(msg));
	cr_expect_arr_eq(kw_buf_head(plain), msg, sizeof(msg));
	cr_expect_arr_eq(kw_buf_head(plain) + sizeof(msg), msg, sizeof(msg));
	cr_expect(tt_conn_input_pending(p.client), "plaintext not consumed yet");
	kw_buf_consume(plain, kw_buf_size(plain));
	cr_expect_not(tt_conn_input_pending(p.client));
	pair_free(&p);
}

Test(handshake, records_split_at_every_byte)
{
	static const char msg[] = "split me anywhere";
	const size_t record_len = TT_RECORD_HEADER_LEN + TT_RECORD_OVERHEAD + strlen(msg);
	struct pair p;

	pair_established(&p);
	for (size_t split = 0; split <= record_len; split++) {
		cr_assert_eq(tt_conn_protect(p.client, (const uint8_t *)msg, strlen(msg)), 0);
		struct kw_buf *w = tt_conn_wire(p.client);
		cr_assert_eq(kw_buf_size(w), record_len);
		cr_assert_eq(tt_conn_feed(p.server, kw_buf_head(w), split), 0);
		cr_assert_eq(kw_buf_size(tt_conn_plaintext(p.server)),
		             split == record_len ? strlen(msg) : 0, "split %zu", split);
		cr_assert_eq(tt_conn_feed(p.server, kw_buf_head(w) + split, record_len - split), 0);
		kw_buf_consume(w, record_len);
		expect_plaintext(p.server, msg, strlen(msg));
	}
	pair_free(&p);
}

Test(handshake, records_one_byte_at_a_time)
{
	struct pair p;
	pair_established(&p);
	cr_assert_eq(tt_conn_protect(p.server, (const uint8_t *)"abc", 3), 0);
	cr_assert_eq(tt_conn_protect(p.server, (const uint8_t *)"defg", 4), 0);
	cr_assert_eq(test_pump(p.server, p.client, 1), 0);
	expect_plaintext(p.client, "abcdefg", 7);
	pair_free(&p);
}

Test(handshake, one_request_over_several_records)
{
	static const char *parts[] = {"GET /index.html HT", "TP/1.1\r\nHost: loc", "alhost\r\n",
	                              "\r\n"};
	static const char whole[] = "GET /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n";
	struct pair p;

	pair_established(&p);
	for (size_t i = 0; i < 4; i++) {
		cr_assert_eq(tt_conn_protect(p.client, (const uint8_t *)parts[i], strlen(parts[i])),
		             0);
		cr_assert_eq(test_pump(p.client, p.server, 0), 0);
	}
	expect_plaintext(p.server, whole, strlen(whole));
	pair_free(&p);
}

Test(handshake, several_records_in_one_feed)
{
	static const char *parts[] = {"one ", "two ", "three"};
	struct pair p;

	pair_established(&p);
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(tt_conn_protect(p.client, (const uint8_t *)parts[i], strlen(parts[i])),
		             0);
	struct kw_buf *w = tt_conn_wire(p.client);
	cr_assert_eq(kw_buf_size(w), 3 * (TT_RECORD_HEADER_LEN + TT_RECORD_OVERHEAD) + 13);
	cr_assert_eq(tt_conn_feed(p.server, kw_buf_head(w), kw_buf_size(w)), 0);
	kw_buf_consume(w, kw_buf_size(w));
	expect_plaintext(p.server, "one two three", 13);
	pair_free(&p);
}

Test(handshake, first_record_in_the_same_feed_as_server_auth)
{
	struct pair p;
	pair_new(&p, true);
	cr_assert_eq(test_pump(p.client, p.server, 0), 0);
	test_sign(p.server, p.ident.key);
	cr_assert_eq(tt_conn_protect(p.server, (const uint8_t *)"early", 5), 0);
	cr_assert_eq(test_pump(p.server, p.client, 0), 0);
	cr_assert_eq(tt_conn_state(p.client), TT_ESTABLISHED);
	expect_plaintext(p.client, "early", 5);
	pair_free(&p);
}

Test(handshake, large_plaintext_in_16k_records)
{
	const size_t len = 2 * TT_MAX_PLAINTEXT + 1000;
	const size_t sizes[] = {TT_MAX_PLAINTEXT, TT_MAX_PLAINTEXT, 1000};
	uint8_t *big = malloc(len);
	struct pair p;

	cr_assert_not_null(big);
	for (size_t i = 0; i < len; i++)
		big[i] = (uint8_t)(i * 7 + 3);
	pair_established(&p);
	cr_assert_eq(tt_conn_protect(p.server, big, len), 0);
	struct kw_buf *w = tt_conn_wire(p.server);
	size_t off = 0;
	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(tt_load_u32(kw_buf_head(w) + off), sizes[i] + TT_RECORD_OVERHEAD);
		cr_assert_eq(tt_load_u64(kw_buf_head(w) + off + TT_RECORD_HEADER_LEN), i, "seq");
		off += TT_RECORD_HEADER_LEN + sizes[i] + TT_RECORD_OVERHEAD;
	}
	cr_assert_eq(kw_buf_size(w), off);
	cr_assert_eq(test_pump(p.server, p.client, 5000), 0);
	expect_plaintext(p.client, big, len);
	free(big);
	pair_free(&p);
}

Test(handshake, shrink_frees_idle_buffers)
{
	struct pair p;
	pair_established(&p);
	expect_traffic(p.client, p.server);
	tt_conn_shrink(p.server);
	cr_assert_eq(tt_conn_wire(p.server)->cap, 0);
	cr_assert_eq(tt_conn_plaintext(p.server)->cap, 0);

	/* a pending byte keeps its buffer; the connection keeps working after shrinking */
	cr_assert_eq(tt_conn_protect(p.client, (const uint8_t *)"ab", 2), 0);
	cr_assert_eq(test_pump(p.client, p.server, 0), 0);
	kw_buf_consume(tt_conn_plaintext(p.server), 1);
	tt_conn_shrink(p.server);
	expect_plaintext(p.server, "b", 1);
	expect_traffic(p.client, p.server);
	pair_free(&p);
}

/* A handshake with a generated chain whose leaf has a key of the given type. */
static void
handshake_with_key(enum test_key_type type, enum tt_scheme scheme)
{
	const struct test_cert_spec leaf = TEST_LEAF_SPEC("www.example.test");
	struct test_chain ch;
	struct test_identity ident;
	struct tt_trust trust;

	test_chain_make(&ch, type, &leaf);
	test_identity_chain(&ident, &ch);
	cr_assert_eq(ident.id.scheme, scheme);
	test_trust_chain(&trust, &ch);
	struct tt_client_params cp = {
	    .trust = &trust, .dns_name = "www.example.test", .send_server_name = true};
	struct tt_server_params sp = test_server_params(&ident);
	struct tt_conn *client = tt_conn_new_client(&cp);
	struct tt_conn *server = tt_conn_new_server(&sp);
	cr_assert_not_null(client);
	cr_assert_not_null(server);
	test_handshake(client, server, ident.key, 7);
	cr_assert_str_eq(ident.name, "www.example.test");
	expect_traffic(client, server);

	tt_conn_free(client);
	tt_conn_free(server);
	tt_trust_dispose(&trust);
	test_identity_dispose(&ident);
	test_chain_free(&ch);
}

Test(handshake, ecdsa_p256_identity)
{
	handshake_with_key(TEST_KEY_EC, TT_SCHEME_ECDSA_P256_SHA256);
}

Test(handshake, ed25519_identity)
{
	handshake_with_key(TEST_KEY_ED25519, TT_SCHEME_ED25519);
}

/* A client made with cp completes a handshake with a server of ident and carries traffic. */
static void
handshake_and_traffic(const struct tt_client_params *cp, struct test_identity *ident)
{
	struct tt_server_params sp = test_server_params(ident);
	struct tt_conn *client = tt_conn_new_client(cp);
	struct tt_conn *server = tt_conn_new_server(&sp);
	cr_assert_not_null(client);
	cr_assert_not_null(server);
	test_handshake(client, server, ident->key, 0);
	expect_traffic(client, server);
	tt_conn_free(client);
	tt_conn_free(server);
}

Test(handshake, insecure_client_skips_chain_and_name)
{
	struct test_identity ident;
	test_identity_files(&ident);
	struct tt_client_params cp = {.dns_name = "not-the-name", .insecure = true};
	handshake_and_traffic(&cp, &ident);
	test_identity_dispose(&ident);
}

/* An insecure client with reused contexts and a leaf cache: several handshakes in a
 * row each verify the signature with the cached leaf key and carry traffic; a wrong
 * signature is still refused with the cached key. */
Test(handshake, insecure_client_reuses_contexts_and_leaf_key)
{
	struct test_identity ident;
	struct tt_kex kex;
	struct tt_leaf_cache cache = {0};
	EVP_PKEY *cached = NULL;

	test_identity_files(&ident);
	cr_assert_eq(tt_kex_init(&kex), 0);
	struct tt_client_params cp = {.insecure = true, .kex = &kex, .leaf_cache = &cache};
	struct tt_server_params sp = test_server_params(&ident);
	for (int i = 0; i < 3; i++) {
		handshake_and_traffic(&cp, &ident);
		cr_assert_not_null(cache.key);
		if (i == 0)
			cached = cache.key;
		cr_assert_eq(cache.key, cached, "handshake %d parsed the same leaf again", i);
	}

	/* A signature that does not verify fails the handshake even with a cached key. */
	struct tt_conn *client = tt_conn_new_client(&cp);
	struct tt_conn *server = tt_conn_new_server(&sp);
	cr_assert_not_null(client);
	cr_assert_not_null(server);
	struct tt_sign_request req;
	uint8_t sig[TT_MAX_SIGNATURE_LEN];
	size_t sig_len = 0;
	cr_assert_eq(test_pump(client, server, 0), 0);
	cr_assert(tt_conn_sign_request(server, &req));
	cr_assert_eq(tt_sign(ident.key, req.client_pub, req.server_pub, sig, &sig_len), 0);
	sig[sig_len / 2] ^= 0x01;
	cr_assert_eq(tt_conn_supply_signature(server, sig, sig_len), 0);
	cr_assert_eq(test_pump(server, client, 0), KW_ERR_BAD_SIGNATURE);
	test_assert_dead(client, KW_ERR_BAD_SIGNATURE);
	tt_conn_free(client);
	tt_conn_free(server);

	tt_leaf_cache_dispose(&cache);
	tt_kex_dispose(&kex);
	test_identity_dispose(&ident);
}

/* ---- the vectors ---- */

/* A server pinned to the vectors' X25519 key and server nonce. */
static struct tt_conn *
vector_server(struct test_identity *ident, uint8_t priv[TT_X25519_LEN], uint8_t nonce[TT_NONCE_LEN])
{
	tt_vector_fixed("server_x25519_private", priv, TT_X25519_LEN);
	tt_vector_fixed("server_record_seq0_nonce", nonce, TT_NONCE_LEN);
	struct tt_server_params sp = test_server_params(ident);
	sp.fixed_x25519_private = priv;
	sp.nonce_fn = test_fixed_nonce;
	sp.nonce_arg = nonce;
	struct tt_conn *s = tt_conn_new_server(&sp);
	cr_assert_not_null(s);
	return s;
}

static void
expect_wire(struct tt_conn *c, const char *vector)
{
	size_t len;
	uint8_t *want = tt_vector(vector, &len);
	struct kw_buf *w = tt_conn_wire(c);
	cr_assert_geq(kw_buf_size(w), len, "%s", vector);
	cr_assert_arr_eq(kw_buf_head(w), want, len, "%s", vector);
	kw_buf_consume(w, len);
	free(want);
}

static void
feed_vector(struct tt_conn *c, const char *vector)
{
	size_t len;
	uint8_t *wire = tt_vector(vector, &len);
	cr_assert_eq(tt_conn_feed(c, wire, len), 0, "%s: %s", vector,
	             kw_strerror(tt_conn_error(c)));
	free(wire);
}

static void
expect_vector_plaintext(struct tt_conn *c, const char *vector)
{
	size_t len;
	uint8_t *want = tt_vector(vector, &len);
	expect_plaintext(c, want, len);
	free(want);
}

Test(handshake, vector_server_reproduces_server_hello)
{
	struct test_identity ident;
	uint8_t priv[TT_X25519_LEN], nonce[TT_NONCE_LEN], input[TT_SIGNATURE_INPUT_LEN];
	struct tt_sign_request req;

	test_identity_files(&ident);
	struct tt_conn *s = vector_server(&ident, priv, nonce);
	feed_vector(s, "client_hello_wire");
	cr_assert_not(ident.saw_name);
	cr_assert(tt_conn_sign_request(s, &req));
	tt_vector_fixed("signature_input", input, sizeof(input));
	cr_assert_arr_eq(req.client_pub, input, TT_X25519_LEN);
	cr_assert_arr_eq(req.server_pub, input + TT_X25519_LEN, TT_X25519_LEN);
	test_sign(s, ident.key);
	expect_wire(s, "server_hello_wire");

	/* then ServerAuth: the certificate fields, then a 0x0021 field */
	struct kw_buf *w = tt_conn_wire(s);
	size_t auth_len = tt_load_u32(kw_buf_head(w));
	cr_assert_eq(kw_buf_size(w), TT_RECORD_HEADER_LEN + auth_len);
	cr_assert_arr_eq(kw_buf_head(w) + TT_RECORD_HEADER_LEN, ident.id.cert_fields,
	                 ident.id.cert_fields_len);
	tt_conn_free(s);
	test_identity_dispose(&ident);
}

Test(handshake, vector_records_both_ways)
{
	struct test_identity ident;
	struct tt_trust trust;
	uint8_t spriv[TT_X25519_LEN], snonce[TT_NONCE_LEN];
	uint8_t cpriv[TT_X25519_LEN], cnonce[TT_NONCE_LEN];

	test_identity_files(&ident);
	test_trust(&trust, CERTS "root_cert.pem", T_2027);
	tt_vector_fixed("client_x25519_private", cpriv, sizeof(cpriv));
	tt_vector_fixed("client_record_seq0_nonce", cnonce, sizeof(cnonce));
	struct tt_client_params cp = {.trust = &trust,
	                              .dns_name = "localhost",
	                              .fixed_x25519_private = cpriv,
	                              .nonce_fn = test_fixed_nonce,
	                              .nonce_arg = cnonce};
	struct tt_conn *c = tt_conn_new_client(&cp);
	struct tt_conn *s = vector_server(&ident, spriv, snonce);
	cr_assert_not_null(c);
	test_handshake(c, s, ident.key, 0);

	feed_vector(s, "client_record_seq0_wire");
	expect_vector_plaintext(s, "client_record_seq0_plaintext");
	feed_vector(c, "server_record_seq0_wire");
	expect_vector_plaintext(c, "server_record_seq0_plaintext");

	size_t len;
	uint8_t *pt = tt_vector("server_record_seq0_plaintext", &len);
	cr_assert_eq(tt_conn_protect(s, pt, len), 0);
	expect_wire(s, "server_record_seq0_wire");
	free(pt);

	/* the client's seq 0 went unused above: its first record is the vector's too */
	pt = tt_vector("client_record_seq0_plaintext", &len);
	cr_assert_eq(tt_conn_protect(c, pt, len), 0);
	expect_wire(c, "client_record_seq0_wire");
	free(pt);

	tt_conn_free(c);
	tt_conn_free(s);
	tt_trust_dispose(&trust);
	test_identity_dispose(&ident);
}

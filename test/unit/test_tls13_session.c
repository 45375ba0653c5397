/*
 * test_tls13_session.c - TLS 1.3 sessions driven in memory against libssl clients:
 * every key type by SNI with the signature parked until the test (the signer here)
 * answers, TLS 1.2 refused with an alert, resumption from tickets without a signature
 * (across a key rotation, not after the key is gone), the async job cap with
 * handshakes queued in order, sessions freed while parked, and the buffers an idle
 * session lets go of.
 */
#include <malloc.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "err.h"
#include "session.h"
#include "tls13_cv.h"
#include "tls13_test.h"

#define N_SERVERS 3

static const char *const names[N_SERVERS] = {"rsa.test", "ec.test", "ed.test"};
static const char *const types[N_SERVERS] = {"RSA", "EC", "ED25519"};
static struct test_identity ids[N_SERVERS];
static struct tls13_engine *engine;
static unsigned signatures;

struct client {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *rbio, *wbio;
	struct tls13_session *s;
	size_t selected;
	bool woken;
};

static size_t
select_server(void *arg, const char *server_name)
{
	struct client *c = arg;
	c->selected = 0;
	for (size_t i = 0; server_name != NULL && i < N_SERVERS; i++)
		if (strcmp(server_name, names[i]) == 0)
			c->selected = i;
	return c->selected;
}

static void
wake(void *arg)
{
	((struct client *)arg)->woken = true;
}

static void
engine_up(unsigned max_parked, bool tickets)
{
	struct tls13_settings st = {.session_tickets = tickets, .max_parked = max_parked};
	char err[256];

	cr_assert_eq(tls13_engine_new(&st, N_SERVERS, &engine, err, sizeof(err)), 0, "%s", err);
	for (size_t i = 0; i < N_SERVERS; i++) {
		if (ids[i].key == NULL)
			test_identity_make(&ids[i], types[i], names[i]);
		struct tls13_server_pem pem = {.cert_path = ids[i].cert_path,
		                               .cert_text = ids[i].cert_pem};
		cr_assert_eq(
		    tls13_engine_add_server(engine, i, &pem, (uint32_t)i, err, sizeof(err)), 0,
		    "%s", err);
	}
}

static void
teardown(void)
{
	tls13_engine_free(engine);
	engine = NULL;
	for (size_t i = 0; i < N_SERVERS; i++)
		if (ids[i].key != NULL)
			test_identity_free(&ids[i]);
	memset(ids, 0, sizeof(ids));
}

TestSuite(tls13_session, .fini = teardown);

static void
client_new(struct client *c, const char *sni, int max_version)
{
	memset(c, 0, sizeof(*c));
	c->ctx = SSL_CTX_new(TLS_client_method());
	cr_assert_not_null(c->ctx);
	SSL_CTX_set_max_proto_version(c->ctx, max_version);
	c->ssl = SSL_new(c->ctx);
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(c->rbio, -1);
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	SSL_set_connect_state(c->ssl);
	if (sni != NULL)
		SSL_set_tlsext_host_name(c->ssl, sni);
	struct tls13_session_params p = {
	    .default_server = 0, .select = select_server, .wake = wake, .arg = c};
	c->s = tls13_session_new(engine, &p);
	cr_assert_not_null(c->s);
}

static void
client_free(struct client *c)
{
	tls13_session_free(c->s);
	SSL_set_shutdown(c->ssl,
	                 SSL_SENT_SHUTDOWN); /* a clean close: its session stays resumable */
	SSL_free(c->ssl);
	SSL_CTX_free(c->ctx);
}

/* Moves bytes both ways until neither side has more. Returns the session's error. */
static int
pump(struct client *c)
{
	for (int round = 0; round < 20; round++) {
		uint8_t buf[65536];
		int n;
		bool moved = false;

		SSL_do_handshake(c->ssl);
		while ((n = BIO_read(c->wbio, buf, sizeof(buf))) > 0) {
			int err = tls13_session_feed(c->s, buf, (size_t)n);
			if (err)
				return err;
			moved = true;
		}
		struct kw_buf *wire = tls13_session_wire(c->s);
		if (kw_buf_size(wire) > 0) {
			BIO_write(c->rbio, kw_buf_head(wire), (int)kw_buf_size(wire));
			kw_buf_consume(wire, kw_buf_size(wire));
			moved = true;
		}
		if (!moved)
			break;
	}
	return 0;
}

/* Answers a parked handshake as the signer would. */
static int
sign_parked(struct client *c)
{
	struct sp_sign_request req;
	uint8_t sig[TT_MAX_SIGNATURE_LEN];
	size_t len;

	cr_assert(tls13_session_sign_request(c->s, &req));
	cr_assert_eq(req.kind, SP_KIND_TLS13_CV);
	cr_assert(req.key_id < N_SERVERS);
	cr_assert_eq(tls13_cv_sign(ids[req.key_id].key, req.tls13.scheme, req.tls13.hash,
	                           req.tls13.hash_len, sig, &len),
	             0);
	signatures++;
	return tls13_session_supply_signature(c->s, sig, len);
}

/* One request and one response over an established session. */
static void
exchange(struct client *c)
{
	uint8_t rec[TLS13_RECORD_PREFIX + 64 + TLS13_RECORD_SUFFIX], got[64];

	cr_assert_eq(SSL_write(c->ssl, "GET / HTTP/1.1\r\n\r\n", 18), 18);
	cr_assert_eq(pump(c), 0);
	struct kw_buf *plain = tls13_session_plaintext(c->s);
	cr_assert_eq(kw_buf_size(plain), 18);
	cr_expect_arr_eq(kw_buf_head(plain), "GET / HTTP/1.1\r\n\r\n", 18);
	kw_buf_consume(plain, 18);
	memcpy(rec + TLS13_RECORD_PREFIX, "HTTP/1.1 200 OK\r\n", 17);
	cr_assert_eq(tls13_session_protect(c->s, rec, 17), 0);
	BIO_write(c->rbio, rec, TLS13_RECORD_PREFIX + 17 + TLS13_RECORD_SUFFIX);
	cr_assert_eq(SSL_read(c->ssl, got, sizeof(got)), 17);
	cr_expect_arr_eq(got, "HTTP/1.1 200 OK\r\n", 17);
}

static void
full_handshake(struct client *c)
{
	cr_assert_eq(pump(c), 0);
	cr_assert_not(tls13_session_established(c->s));
	int err = sign_parked(c);
	const char *detail = NULL;
	tls13_session_error(c->s, &detail);
	cr_assert_eq(err, 0, "%s (%s)", kw_strerror(err), detail ? detail : "-");
	err = pump(c);
	tls13_session_error(c->s, &detail);
	cr_assert_eq(err, 0, "%s (%s)", kw_strerror(err), detail ? detail : "-");
	cr_assert(tls13_session_established(c->s));
	cr_assert_eq(SSL_is_init_finished(c->ssl), 1);
}

Test(tls13_session, every_key_type_by_sni)
{
	engine_up(4, true);
	for (size_t i = 0; i < N_SERVERS + 1; i++) {
		struct client c;
		client_new(&c, i < N_SERVERS ? names[i] : "other.test", TLS1_3_VERSION);
		full_handshake(&c);
		size_t want = i < N_SERVERS ? i : 0; /* an unknown name: the default block */
		cr_expect_eq(c.selected, want);
		X509 *peer = SSL_get1_peer_certificate(c.ssl);
		cr_assert_not_null(peer);
		cr_expect_eq(X509_cmp(peer, ids[want].cert), 0, "server %zu", i);
		X509_free(peer);
		cr_expect_eq(SSL_version(c.ssl), TLS1_3_VERSION);
		exchange(&c);
		client_free(&c);
	}
}

Test(tls13_session, tls12_refused_with_protocol_version_alert)
{
	engine_up(4, true);
	struct client c;
	client_new(&c, names[1], TLS1_2_VERSION);
	uint8_t buf[4096];
	SSL_do_handshake(c.ssl);
	int n = BIO_read(c.wbio, buf, sizeof(buf));
	cr_assert(n > 0);
	cr_expect_eq(tls13_session_feed(c.s, buf, (size_t)n), KW_ERR_TLS_HANDSHAKE);
	struct kw_buf *wire = tls13_session_wire(c.s);
	static const uint8_t alert[] = {21, 3}; /* an alert record */
	cr_assert_eq(kw_buf_size(wire), 7);
	cr_expect_arr_eq(kw_buf_head(wire), alert, 2);
	cr_expect_eq(kw_buf_head(wire)[6], 70, "protocol_version");
	client_free(&c);
	ERR_clear_error();
}

static SSL_SESSION *
ticket_from(struct client *c)
{
	uint8_t byte;
	SSL_read(c->ssl, &byte, 1); /* takes the NewSessionTicket */
	SSL_SESSION *sess = SSL_get1_session(c->ssl);
	cr_assert_not_null(sess);
	cr_assert_eq(SSL_SESSION_is_resumable(sess), 1);
	return sess;
}

static bool
resume(SSL_SESSION *sess, size_t server)
{
	struct client c;
	client_new(&c, names[server], TLS1_3_VERSION);
	cr_assert_eq(SSL_set_session(c.ssl, sess), 1);
	cr_assert_eq(pump(&c), 0);
	if (!tls13_session_established(c.s))
		cr_assert_eq(sign_parked(&c), 0);
	cr_assert_eq(pump(&c), 0);
	cr_assert(tls13_session_established(c.s));
	bool resumed = tls13_session_resumed(c.s);
	cr_expect_eq(SSL_session_reused(c.ssl), resumed);
	exchange(&c);
	client_free(&c);
	return resumed;
}

Test(tls13_session, tickets_resume_without_signature_across_one_rotation)
{
	struct kw_ticket_keys keys = {.has_previous = false};
	cr_assert_eq(kw_ticket_key_generate(&keys.current), 0);
	struct kw_ticket_keys first = keys;
	engine_up(4, true);
	tls13_engine_set_ticket_keys(engine, &keys);

	for (size_t i = 0; i < N_SERVERS; i++) {
		struct client c;
		client_new(&c, names[i], TLS1_3_VERSION);
		full_handshake(&c);
		exchange(&c);
		SSL_SESSION *sess = ticket_from(&c);
		client_free(&c);

		unsigned before = signatures;
		cr_expect(resume(sess, i), "server %zu", i);
		cr_expect_eq(signatures, before, "a resumed handshake asked for a signature");
		cr_assert_eq(kw_ticket_keys_rotate(&keys), 0); /* the first key still decrypts */
		tls13_engine_set_ticket_keys(engine, &keys);
		cr_expect(resume(sess, i));
		cr_assert_eq(kw_ticket_keys_rotate(&keys), 0); /* the first key is retired */
		tls13_engine_set_ticket_keys(engine, &keys);
		cr_expect_not(resume(sess, i));
		cr_expect_eq(signatures, before + 1);
		keys = first;
		tls13_engine_set_ticket_keys(engine, &keys);
		SSL_SESSION_free(sess);
	}
}

Test(tls13_session, tickets_off_means_full_handshakes)
{
	struct kw_ticket_keys keys = {.has_previous = false};
	cr_assert_eq(kw_ticket_key_generate(&keys.current), 0);
	engine_up(4, false);
	tls13_engine_set_ticket_keys(engine, &keys);
	struct client c;
	client_new(&c, names[0], TLS1_3_VERSION);
	full_handshake(&c);
	exchange(&c);
	uint8_t byte;
	SSL_read(c.ssl, &byte, 1);
	SSL_SESSION *sess = SSL_get1_session(c.ssl);
	cr_expect_eq(SSL_SESSION_is_resumable(sess), 0);
	SSL_SESSION_free(sess);
	client_free(&c);
}

Test(tls13_session, job_cap_queues_handshakes_in_order)
{
	enum { CAP = 2, N = 5 };
	struct client c[N];
	size_t parked, queued;

	engine_up(CAP, true);
	for (size_t i = 0; i < N; i++) {
		client_new(&c[i], names[i % N_SERVERS], TLS1_3_VERSION);
		cr_assert_eq(pump(&c[i]), 0);
	}
	tls13_engine_counts(engine, &parked, &queued);
	cr_expect_eq(parked, CAP);
	cr_expect_eq(queued, N - CAP);
	for (size_t i = 0; i < N; i++) {
		struct sp_sign_request req;
		cr_expect_eq(tls13_session_sign_request(c[i].s, &req), i < CAP);
	}
	/* each answer lets go of one job, which goes to the oldest queued handshake */
	for (size_t i = 0; i < N; i++) {
		cr_assert_eq(sign_parked(&c[i]), 0, "handshake %zu", i);
		if (i + CAP < N) {
			cr_assert(c[i + CAP].woken, "handshake %zu not woken", i + CAP);
			for (size_t j = i + CAP + 1; j < N; j++)
				cr_assert_not(c[j].woken, "handshake %zu woken early", j);
			cr_assert_eq(tls13_session_feed(c[i + CAP].s, NULL, 0), 0);
			struct sp_sign_request req;
			cr_assert(tls13_session_sign_request(c[i + CAP].s, &req));
		}
		cr_assert_eq(pump(&c[i]), 0);
		cr_assert(tls13_session_established(c[i].s));
		exchange(&c[i]);
	}
	tls13_engine_counts(engine, &parked, &queued);
	cr_expect_eq(parked + queued, 0);
	for (size_t i = 0; i < N; i++)
		client_free(&c[i]);
}

Test(tls13_session, freed_while_parked_or_queued)
{
	struct client a, b, d;
	size_t parked, queued;

	engine_up(1, true);
	client_new(&a, names[0], TLS1_3_VERSION);
	client_new(&b, names[1], TLS1_3_VERSION);
	client_new(&d, names[2], TLS1_3_VERSION);
	cr_assert_eq(pump(&a), 0);
	cr_assert_eq(pump(&b), 0);
	cr_assert_eq(pump(&d), 0);
	tls13_engine_counts(engine, &parked, &queued);
	cr_expect_eq(parked, 1);
	cr_expect_eq(queued, 2);
	tls13_session_free(b.s); /* queued: it leaves the queue */
	b.s = NULL;
	tls13_engine_counts(engine, &parked, &queued);
	cr_expect_eq(queued, 1);
	tls13_session_free(a.s); /* parked: resumed once, then freed; d gets the job */
	a.s = NULL;
	cr_expect(d.woken);
	tls13_engine_counts(engine, &parked, &queued);
	cr_expect_eq(parked + queued, 0);
	cr_assert_eq(tls13_session_feed(d.s, NULL, 0), 0);
	tls13_session_signature_failed(d.s, KW_ERR_SIGN_TIMEOUT);
	const char *detail;
	cr_expect_eq(tls13_session_error(d.s, &detail), KW_ERR_SIGN_TIMEOUT);
	tls13_engine_counts(engine, &parked, &queued);
	cr_expect_eq(parked + queued, 0);
	client_free(&a);
	client_free(&b);
	client_free(&d);
	ERR_clear_error();
}

Test(tls13_session, ticket_keys_travel_in_a_memfd_wiped_after_reading)
{
	struct kw_ticket_keys keys = {.has_previous = false}, got;
	uint8_t after[256];

	cr_assert_eq(kw_ticket_key_generate(&keys.current), 0);
	cr_assert_eq(kw_ticket_keys_rotate(&keys), 0);
	int fd = kw_ticket_keys_to_fd(&keys);
	cr_assert(fd >= 0);
	cr_assert_eq(kw_ticket_keys_from_fd(fd, &got), 0);
	cr_expect(got.has_previous);
	cr_expect_arr_eq(&got.current, &keys.current, sizeof(keys.current));
	cr_expect_arr_eq(&got.previous, &keys.previous, sizeof(keys.previous));
	ssize_t n = pread(fd, after, sizeof(after), 0);
	cr_assert_eq(n, 161);
	for (ssize_t i = 0; i < n; i++)
		cr_assert_eq(after[i], 0, "byte %zd not wiped", i);
	cr_expect_eq(kw_ticket_keys_from_fd(fd, &got), 0); /* zeros: no previous, a zero key */
	cr_assert_eq(ftruncate(fd, 160), 0);
	cr_expect_eq(kw_ticket_keys_from_fd(fd, &got), KW_ERR_UNEXPECTED_MESSAGE);
	close(fd);
	kw_ticket_keys_wipe(&keys);
}

/* Bytes of heap in use; 0 where the allocator does not say (under a sanitizer). */
static size_t
heap_in_use(void)
{
	return mallinfo2().uordblks;
}

Test(tls13_session, shrink_lets_go_of_grown_buffers_and_the_session_goes_on)
{
	static uint8_t rec[TLS13_RECORD_PREFIX + TLS13_RECORD_MAX + TLS13_RECORD_SUFFIX];
	static uint8_t got[TLS13_RECORD_MAX];

	engine_up(4, false);
	struct client c;
	client_new(&c, names[1], TLS1_3_VERSION);
	full_handshake(&c);
	exchange(&c);
	/* a full record out: sealed where it lies, nothing of it kept in the session */
	memset(rec + TLS13_RECORD_PREFIX, 'x', TLS13_RECORD_MAX);
	size_t out_before = heap_in_use();
	cr_assert_eq(tls13_session_protect(c.s, rec, TLS13_RECORD_MAX), 0);
	size_t out_after = heap_in_use();
	BIO_write(c.rbio, rec, (int)sizeof(rec));
	size_t n = 0;
	int k;
	while (n < sizeof(got) && (k = SSL_read(c.ssl, got + n, (int)(sizeof(got) - n))) > 0)
		n += (size_t)k;
	cr_assert_eq(n, sizeof(got));
	cr_expect_eq(got[0], 'x');
	cr_expect_eq(got[sizeof(got) - 1], 'x');
	/* a full record in: the plaintext buffer grows to hold it */
	memset(got, 'y', sizeof(got));
	cr_assert_eq(SSL_write(c.ssl, got, (int)sizeof(got)), (int)sizeof(got));
	cr_assert_eq(pump(&c), 0);
	struct kw_buf *plain = tls13_session_plaintext(c.s);
	cr_assert_eq(kw_buf_size(plain), sizeof(got));
	kw_buf_consume(plain, sizeof(got));
	size_t before = heap_in_use();
	tls13_session_shrink(c.s);
	size_t after = heap_in_use();
	exchange(&c); /* the fresh buffers grow again (under a sanitizer too) */
	client_free(&c);
	if (before == 0)
		cr_skip_test("the allocator does not report the heap in use");
	cr_expect_leq(out_after, out_before + 1024, "%zu -> %zu bytes", out_before, out_after);
	cr_expect_geq(before - after, TLS13_RECORD_MAX, "%zu -> %zu bytes", before, after);
}

Test(tls13_session, a_key_update_from_the_client_is_answered_on_the_wire_and_records_go_on)
{
	engine_up(4, false);
	struct client c;
	client_new(&c, names[1], TLS1_3_VERSION);
	full_handshake(&c);
	exchange(&c);
	/* the client updates its keys and asks the server to update its own */
	cr_assert_eq(SSL_key_update(c.ssl, SSL_KEY_UPDATE_REQUESTED), 1);
	cr_assert_eq(SSL_do_handshake(c.ssl), 1);
	cr_assert_eq(pump(&c), 0);
	exchange(&c); /* both directions under the new keys */
	client_free(&c);
}

/*
 * session.c - TLS 1.3 server sessions, with the CertificateVerify signature parked in
 * an async job until the signer answers. libssl reads and writes the wire through a BIO
 * of the session's own (wire_read, wire_write): it reads the bytes where the socket read
 * put them, and writes straight into the wire buffer, or into the record protect() is
 * making.
 *
 * The signing function the provider calls (session_sign) runs on the job's fibre,
 * inside SSL_do_handshake(): the session that called SSL_do_handshake() is the one
 * whose handshake signs, so drive() names it in `signing_session` for the duration of
 * the call and session_sign() takes it from there before it first pauses. The worker
 * is single-threaded; that variable is the only link between libssl's callback and
 * the session, since the provider sees no SSL object.
 *
 * A job is held from the pause until the handshake call that follows the outcome
 * returns; each time one is let go, the oldest session queued for a job is woken.
 */
#include "session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <openssl/async.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "err.h"
#include "log.h"
#include "provider.h"

#define READ_CHUNK 16384u

static const unsigned char session_id_context[] = "keyward";

enum sign_state {
	SIGN_NONE,   /* no signature asked */
	SIGN_WANTED, /* the job is paused on the request */
	SIGN_DONE,   /* the signature is in sig */
	SIGN_FAILED, /* sign_err says why */
};

struct tls13_session {
	struct tls13_engine *e;
	struct tls13_session_params p;
	SSL *ssl;
	BIO *bio; /* owned by ssl: libssl reads and writes the wire through it */
	struct kw_buf wire, plain;
	/* wire bytes libssl has not taken yet: those of the feed() call under way, then
	 * those kept from earlier calls (a parked handshake's) */
	const uint8_t *in_p;
	size_t in_len;
	struct kw_buf in;
	/* while protect() runs: the record being made, where the write BIO puts it */
	uint8_t *out;
	size_t out_len, out_cap;
	bool out_overflow; /* libssl wrote more than the record */
	bool established, parked, queued;
	bool signed_cv; /* the CertificateVerify is made: no job is needed any more */
	int err;
	const char *detail;
	enum sign_state sign_state;
	int sign_err;
	struct sp_sign_request want;
	uint8_t sig[TT_MAX_SIGNATURE_LEN];
	size_t sig_len;
	TAILQ_ENTRY(tls13_session) queue_link;
};

struct tls13_engine {
	SSL_CTX **ctx; /* by server index; NULL: no certificate */
	size_t n_servers;
	struct tls13_settings settings; /* strings owned */
	bool have_keys;
	struct kw_ticket_keys keys;
	EVP_CIPHER *ticket_cipher; /* AES-256-CBC, fetched once when tickets are on */
	size_t n_parked, n_queued;
	TAILQ_HEAD(, tls13_session) queue;
};

static struct tls13_session *signing_session;
static int session_index = -1;
static BIO_METHOD *wire_method;

static int
session_sign(const struct sp_sign_request *req, uint8_t *sig, size_t *sig_len)
{
	struct tls13_session *s = signing_session;

	if (s == NULL || ASYNC_get_current_job() == NULL)
		return KW_ERR_STATE;
	s->want = *req;
	s->sign_state = SIGN_WANTED;
	while (s->sign_state == SIGN_WANTED)
		if (ASYNC_pause_job() != 1)
			return KW_ERR_INTERNAL;
	if (s->sign_state != SIGN_DONE) {
		s->sign_state = SIGN_NONE;
		return s->sign_err;
	}
	memcpy(sig, s->sig, s->sig_len);
	*sig_len = s->sig_len;
	s->signed_cv = true;
	OPENSSL_cleanse(s->sig, sizeof(s->sig));
	s->sign_state = SIGN_NONE;
	return 0;
}

/* Callbacks of every SSL_CTX. */

static struct tls13_session *
session_of(SSL *ssl)
{
	return SSL_get_ex_data(ssl, session_index);
}

static int
on_servername(SSL *ssl, int *alert, void *arg)
{
	struct tls13_session *s = session_of(ssl);
	size_t index = s->p.select(s->p.arg, SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));

	if (index < s->e->n_servers && s->e->ctx[index] != NULL &&
	    SSL_set_SSL_CTX(ssl, s->e->ctx[index]) == NULL) {
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

static int
on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
        unsigned int inlen, void *arg)
{
	struct tls13_session *s = session_of(ssl);
	unsigned char *sel;

	if (s->p.alpn_len == 0 ||
	    SSL_select_next_proto(&sel, outlen, s->p.alpn, (unsigned)s->p.alpn_len, in, inlen) !=
	        OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static int
ticket_mac_init(EVP_MAC_CTX *hctx, const struct kw_ticket_key *k)
{
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac, sizeof(k->hmac)),
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
	    OSSL_PARAM_construct_end(),
	};
	return EVP_MAC_CTX_set_params(hctx, params);
}

/* Encrypts new tickets with the current key; decrypts with the current or previous one. */
static int
on_ticket_key(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
              EVP_MAC_CTX *hctx, int enc)
{
	const struct tls13_engine *e = session_of(ssl)->e;
	const struct kw_ticket_key *k = NULL;

	if (!e->have_keys)
		return 0;
	if (enc) {
		k = &e->keys.current;
		memcpy(name, k->name, sizeof(k->name));
		if (RAND_bytes(iv, 16) != 1 ||
		    EVP_EncryptInit_ex(cctx, e->ticket_cipher, NULL, k->aes, iv) != 1 ||
		    ticket_mac_init(hctx, k) != 1)
			return -1;
		return 1;
	}
	if (memcmp(name, e->keys.current.name, sizeof(k->name)) == 0)
		k = &e->keys.current;
	else if (e->keys.has_previous && memcmp(name, e->keys.previous.name, sizeof(k->name)) == 0)
		k = &e->keys.previous;
	if (k == NULL) {
		kw_log_debug("on_ticket_key: a ticket under an unknown key: full handshake");
		return 0;
	}
	if (ticket_mac_init(hctx, k) != 1 ||
	    EVP_DecryptInit_ex(cctx, e->ticket_cipher, NULL, k->aes, iv) != 1)
		return -1;
	return k == &e->keys.current ? 1 : 2; /* 2: issue a ticket under the current key */
}

static void session_fail(struct tls13_session *s, int err);

/*
 * The wire BIO. Reads take the bytes of the feed() call under way where the socket read
 * put them (after any kept from earlier calls), without a copy into a memory BIO.
 * Writes go where they are wanted without a buffer between: into the record protect()
 * is making (s->out), or else (handshake flights, alerts, close_notify) onto the wire
 * buffer.
 */
static int
wire_read(BIO *b, char *out, int len)
{
	struct tls13_session *s = BIO_get_data(b);
	size_t n = 0;

	BIO_clear_retry_flags(b);
	if (kw_buf_size(&s->in) > 0) {
		n = kw_buf_size(&s->in) < (size_t)len ? kw_buf_size(&s->in) : (size_t)len;
		memcpy(out, kw_buf_head(&s->in), n);
		kw_buf_consume(&s->in, n);
	} else if (s->in_len > 0) {
		n = s->in_len < (size_t)len ? s->in_len : (size_t)len;
		memcpy(out, s->in_p, n);
		s->in_p += n;
		s->in_len -= n;
	}
	if (n == 0) {
		BIO_set_retry_read(b); /* more when the socket has more */
		return -1;
	}
	return (int)n;
}

/* Wire bytes received and not taken by libssl yet. */
static size_t
wire_pending(const struct tls13_session *s)
{
	return kw_buf_size(&s->in) + s->in_len;
}

static int
wire_write(BIO *b, const char *data, int len)
{
	struct tls13_session *s = BIO_get_data(b);
	size_t n = (size_t)len;

	BIO_clear_retry_flags(b);
	if (s->out != NULL) {
		if (n > s->out_cap - s->out_len) {
			s->out_overflow = true;
			return -1;
		}
		memcpy(s->out + s->out_len, data, n);
		s->out_len += n;
		return len;
	}
	if (kw_buf_append(&s->wire, data, n) != 0) {
		session_fail(s, KW_ERR_NOMEM);
		return -1;
	}
	return len;
}

static long
wire_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1; /* nothing is held back */
	case BIO_CTRL_PENDING:
		return (long)wire_pending(BIO_get_data(b));
	default:
		return 0; /* among them: no kernel TLS */
	}
}

static int
wire_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static int
wire_method_new(void)
{
	wire_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "keyward wire");
	if (wire_method == NULL || BIO_meth_set_read(wire_method, wire_read) != 1 ||
	    BIO_meth_set_write(wire_method, wire_write) != 1 ||
	    BIO_meth_set_ctrl(wire_method, wire_ctrl) != 1 ||
	    BIO_meth_set_create(wire_method, wire_create) != 1) {
		BIO_meth_free(wire_method);
		wire_method = NULL;
		return KW_ERR_NOMEM;
	}
	return 0;
}

/* The engine. */

static int
ctx_new(const struct tls13_settings *st, SSL_CTX **out, char *err, size_t err_len)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL) {
		snprintf(err, err_len, "SSL_CTX_new failed");
		return KW_ERR_NOMEM;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ASYNC | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_session_id_context(ctx, session_id_context, sizeof(session_id_context) - 1);
	SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
	SSL_CTX_set_alpn_select_cb(ctx, on_alpn, NULL);
	SSL_CTX_set_max_early_data(ctx, 0);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	if (st->session_tickets) {
		SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket_key);
		SSL_CTX_set_num_tickets(ctx, 1);
	} else {
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx, 0);
	}
	if (st->ciphersuites != NULL && SSL_CTX_set_ciphersuites(ctx, st->ciphersuites) != 1) {
		snprintf(err, err_len, "ciphersuites \"%s\": no suite libssl knows",
		         st->ciphersuites);
		goto fail;
	}
	if (st->groups != NULL && SSL_CTX_set1_groups_list(ctx, st->groups) != 1) {
		snprintf(err, err_len, "groups \"%s\": a group libssl does not know", st->groups);
		goto fail;
	}
	*out = ctx;
	return 0;
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return KW_ERR_ARGUMENT;
}

int
tls13_engine_new(const struct tls13_settings *settings, size_t n_servers, struct tls13_engine **out,
                 char *err, size_t err_len)
{
	static bool provider_loaded;
	struct tls13_engine *e = calloc(1, sizeof(*e));
	SSL_CTX *probe = NULL;

	if (e == NULL || (e->ctx = calloc(n_servers ? n_servers : 1, sizeof(*e->ctx))) == NULL) {
		free(e);
		snprintf(err, err_len, "out of memory");
		return KW_ERR_NOMEM;
	}
	e->n_servers = n_servers;
	TAILQ_INIT(&e->queue);
	e->settings = *settings;
	e->settings.ciphersuites = settings->ciphersuites ? strdup(settings->ciphersuites) : NULL;
	e->settings.groups = settings->groups ? strdup(settings->groups) : NULL;
	if ((settings->ciphersuites && !e->settings.ciphersuites) ||
	    (settings->groups && !e->settings.groups)) {
		snprintf(err, err_len, "out of memory");
		tls13_engine_free(e);
		return KW_ERR_NOMEM;
	}
	if (!provider_loaded && tls13_provider_load(session_sign) != 0) {
		snprintf(err, err_len, "cannot load the keyward provider");
		tls13_engine_free(e);
		return KW_ERR_INTERNAL;
	}
	provider_loaded = true;
	if (wire_method == NULL && wire_method_new() != 0) {
		snprintf(err, err_len, "cannot make the wire BIO");
		tls13_engine_free(e);
		return KW_ERR_NOMEM;
	}
	if (session_index < 0)
		session_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (ASYNC_init_thread(settings->max_parked ? settings->max_parked : 1, 0) != 1) {
		snprintf(err, err_len, "cannot set up the async job pool");
		tls13_engine_free(e);
		return KW_ERR_INTERNAL;
	}
	if (settings->session_tickets &&
	    (e->ticket_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL)) == NULL) {
		ERR_clear_error();
		snprintf(err, err_len, "no AES-256-CBC for session tickets");
		tls13_engine_free(e);
		return KW_ERR_INTERNAL;
	}
	int rc = ctx_new(&e->settings, &probe, err, err_len); /* the settings are checked once */
	SSL_CTX_free(probe);
	if (rc) {
		tls13_engine_free(e);
		return rc;
	}
	*out = e;
	return 0;
}

/* Adds the PEM certificates of text (from the file path) to ctx's chain. */
static int
add_chain_pem(SSL_CTX *ctx, const char *path, const char *text, char *err, size_t err_len)
{
	BIO *bio = text ? BIO_new_mem_buf(text, -1) : NULL;
	X509 *x;
	int n = 0;

	while (bio != NULL && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			X509_free(x);
			break;
		}
		n++;
	}
	BIO_free(bio);
	ERR_clear_error();
	if (n == 0) {
		snprintf(err, err_len, "%s: no PEM certificate", path);
		return KW_ERR_ARGUMENT;
	}
	return 0;
}

int
tls13_engine_add_server(struct tls13_engine *e, size_t index, const struct tls13_server_pem *pem,
                        uint32_t key_id, char *err, size_t err_len)
{
	SSL_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;
	BIO *bio = NULL;
	X509 *leaf = NULL;
	int rc = index < e->n_servers ? ctx_new(&e->settings, &ctx, err, err_len) : KW_ERR_ARGUMENT;

	if (rc)
		return rc;
	rc = KW_ERR_ARGUMENT;
	bio = pem->cert_text ? BIO_new_mem_buf(pem->cert_text, -1) : NULL;
	leaf = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	if (leaf == NULL || SSL_CTX_use_certificate(ctx, leaf) != 1) {
		snprintf(err, err_len, "%s: not a PEM certificate libssl accepts", pem->cert_path);
		goto out;
	}
	for (size_t i = 0; i < pem->n_chain; i++)
		if (add_chain_pem(ctx, pem->chain_paths[i], pem->chain_texts[i], err, err_len) != 0)
			goto out;
	key = tls13_provider_key(SSL_CTX_get0_certificate(ctx), key_id);
	if (key == NULL) {
		snprintf(err, err_len,
		         "%s: the key is none of RSA (2048 bits or more), ECDSA P-256, "
		         "Ed25519",
		         pem->cert_path);
		goto out;
	}
	if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, err_len, "%s: the signer's key does not match the certificate",
		         pem->cert_path);
		goto out;
	}
	SSL_CTX_free(e->ctx[index]);
	e->ctx[index] = ctx;
	ctx = NULL;
	rc = 0;
out:
	ERR_clear_error();
	X509_free(leaf);
	BIO_free(bio);
	EVP_PKEY_free(key);
	SSL_CTX_free(ctx);
	return rc;
}

void
tls13_engine_set_ticket_keys(struct tls13_engine *e, const struct kw_ticket_keys *keys)
{
	kw_ticket_keys_wipe(&e->keys);
	e->have_keys = keys != NULL;
	if (keys != NULL)
		e->keys = *keys;
}

void
tls13_engine_counts(const struct tls13_engine *e, size_t *parked, size_t *queued)
{
	*parked = e->n_parked;
	*queued = e->n_queued;
}

void
tls13_engine_free(struct tls13_engine *e)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < e->n_servers; i++)
		SSL_CTX_free(e->ctx[i]);
	free(e->ctx);
	free((char *)e->settings.ciphersuites);
	free((char *)e->settings.groups);
	tls13_engine_set_ticket_keys(e, NULL);
	EVP_CIPHER_free(e->ticket_cipher);
	ASYNC_cleanup_thread();
	free(e);
}

/* Sessions. */

struct tls13_session *
tls13_session_new(struct tls13_engine *e, const struct tls13_session_params *params)
{
	struct tls13_session *s;

	if (params->default_server >= e->n_servers || e->ctx[params->default_server] == NULL ||
	    (s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->e = e;
	s->p = *params;
	s->ssl = SSL_new(e->ctx[params->default_server]);
	s->bio = BIO_new(wire_method);
	if (s->ssl == NULL || s->bio == NULL || SSL_set_ex_data(s->ssl, session_index, s) != 1) {
		BIO_free(s->bio);
		SSL_free(s->ssl);
		free(s);
		ERR_clear_error();
		return NULL;
	}
	BIO_set_data(s->bio, s);
	if (!e->have_keys)
		SSL_set_num_tickets(s->ssl, 0);
	SSL_set_bio(s->ssl, s->bio, s->bio); /* one reference, taken by ssl */
	SSL_set_accept_state(s->ssl);
	return s;
}

static void
session_fail(struct tls13_session *s, int err)
{
	unsigned long e = ERR_peek_error();

	if (s->err == 0) {
		s->err = err;
		s->detail = e != 0 ? ERR_reason_error_string(e) : NULL;
	}
	ERR_clear_error();
}

/*
 * Decrypts what has arrived into the plaintext buffer. The buffer grows by what can
 * come out of the records received (plaintext is never longer than its ciphertext, nor
 * one read longer than a record), not by a record's worth per read: a request of a
 * hundred bytes keeps a buffer of a few hundred, which the idle connection then frees
 * (and wipes) cheaply.
 */
static void
read_plaintext(struct tls13_session *s)
{
	for (;;) {
		size_t want = wire_pending(s) + (size_t)SSL_pending(s->ssl);
		if (want == 0 && !SSL_has_pending(s->ssl))
			return; /* nothing received is left to decrypt */
		if (want == 0)
			want = 1; /* part of a record waits in libssl: it takes it further */
		else if (want > READ_CHUNK)
			want = READ_CHUNK;
		if (kw_buf_reserve(&s->plain, want) != 0) {
			session_fail(s, KW_ERR_NOMEM);
			return;
		}
		size_t room = s->plain.cap - s->plain.len;
		int n = SSL_read(s->ssl, kw_buf_tail(&s->plain),
		                 (int)(room < READ_CHUNK ? room : READ_CHUNK));
		if (n > 0) {
			kw_buf_commit(&s->plain, (size_t)n);
			continue;
		}
		switch (SSL_get_error(s->ssl, n)) {
		case SSL_ERROR_WANT_READ:
		case SSL_ERROR_ZERO_RETURN: /* close_notify: the socket's EOF follows */
			ERR_clear_error();
			return;
		default:
			session_fail(s, KW_ERR_TLS_RECORD);
			return;
		}
	}
}

/*
 * A KeyUpdate from the peer that asks for ours is answered at once, onto the wire
 * buffer: libssl would otherwise write it at the next SSL_write, ahead of the record
 * protect() makes in a place sized for that record alone. Records made before it have
 * left or wait in the wire buffer ahead of it; the next ones are sealed under the new key.
 */
static void
answer_key_update(struct tls13_session *s)
{
	if (SSL_get_key_update_type(s->ssl) == SSL_KEY_UPDATE_NONE)
		return;
	if (SSL_key_update(s->ssl, SSL_KEY_UPDATE_NOT_REQUESTED) != 1 ||
	    SSL_do_handshake(s->ssl) != 1)
		session_fail(s, KW_ERR_TLS_RECORD);
}

/* One job was let go: the oldest session waiting for one may go on. */
static void
wake_next(struct tls13_engine *e)
{
	struct tls13_session *next = TAILQ_FIRST(&e->queue);

	if (next == NULL)
		return;
	TAILQ_REMOVE(&e->queue, next, queue_link);
	next->queued = false;
	e->n_queued--;
	next->p.wake(next->p.arg);
}

/* Runs the handshake one step. Returns true when a job was let go. */
static bool
handshake_step(struct tls13_session *s)
{
	struct tls13_engine *e = s->e;
	struct tls13_session *outer = signing_session;
	bool was_parked = s->parked;

	signing_session = s;
	ERR_clear_error();
	int r = SSL_do_handshake(s->ssl);
	int why = r == 1 ? SSL_ERROR_NONE : SSL_get_error(s->ssl, r);
	signing_session = outer;

	s->parked = why == SSL_ERROR_WANT_ASYNC;
	if (s->parked && !was_parked)
		e->n_parked++;
	else if (!s->parked && was_parked)
		e->n_parked--;
	switch (why) {
	case SSL_ERROR_NONE:
		s->established = true;
		SSL_clear_mode(s->ssl, SSL_MODE_ASYNC);
		break;
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		/* what is left of a signed handshake needs no job: it does not wait for one */
		if (s->signed_cv)
			SSL_clear_mode(s->ssl, SSL_MODE_ASYNC);
		break;
	case SSL_ERROR_WANT_ASYNC:
		break;
	case SSL_ERROR_WANT_ASYNC_JOB:
		if (!s->queued) {
			TAILQ_INSERT_TAIL(&e->queue, s, queue_link);
			s->queued = true;
			e->n_queued++;
		}
		break;
	default:
		session_fail(s, KW_ERR_TLS_HANDSHAKE);
		break;
	}
	return was_parked && !s->parked;
}

/* Runs the handshake or reads records as far as the input goes; then wakes a waiter. */
static int
drive(struct tls13_session *s)
{
	bool freed = false;

	if (s->err == 0 && !s->established && !s->queued)
		freed = handshake_step(s);
	if (s->err == 0 && s->established)
		read_plaintext(s);
	if (s->err == 0 && s->established)
		answer_key_update(s);
	int err = s->err;
	if (freed)
		wake_next(s->e);
	return err;
}

int
tls13_session_feed(struct tls13_session *s, const uint8_t *wire, size_t len)
{
	if (s->err)
		return s->err;
	s->in_p = wire;
	s->in_len = len;
	if (!s->parked) /* parked: the handshake goes on when the signature comes */
		drive(s);
	/* what libssl did not take (a parked handshake's next flight) is kept for later */
	if (s->err == 0 && s->in_len > 0 && kw_buf_append(&s->in, s->in_p, s->in_len) != 0)
		session_fail(s, KW_ERR_NOMEM);
	s->in_p = NULL;
	s->in_len = 0;
	return s->err;
}

struct kw_buf *
tls13_session_wire(struct tls13_session *s)
{
	return &s->wire;
}

struct kw_buf *
tls13_session_plaintext(struct tls13_session *s)
{
	return &s->plain;
}

bool
tls13_session_input_pending(const struct tls13_session *s)
{
	return kw_buf_size(&s->plain) > 0 || wire_pending(s) > 0 || SSL_has_pending(s->ssl);
}

int
tls13_session_protect(struct tls13_session *s, uint8_t *rec, size_t len)
{
	const size_t want = TLS13_RECORD_PREFIX + len + TLS13_RECORD_SUFFIX;

	if (s->err)
		return s->err;
	if (!s->established || len == 0 || len > TLS13_RECORD_MAX)
		return KW_ERR_STATE;
	/* libssl copies the plaintext into its buffer and seals it there; the record then
	 * goes through the write BIO back to rec, over the plaintext it was made from */
	s->out = rec;
	s->out_len = 0;
	s->out_cap = want;
	s->out_overflow = false;
	int n = SSL_write(s->ssl, rec + TLS13_RECORD_PREFIX, (int)len);
	s->out = NULL;
	if (s->out_overflow || (n == (int)len && s->out_len != want)) {
		/* not one record of the expected size: a suite with a short tag, or a key
		 * update ahead of it; the stream cannot be kept in order here */
		session_fail(s, KW_ERR_INTERNAL);
		return s->err;
	}
	if (n != (int)len) {
		session_fail(s, KW_ERR_TLS_RECORD);
		return s->err;
	}
	return 0;
}

const uint8_t *
tls13_session_protocol(const struct tls13_session *s, size_t *len)
{
	const unsigned char *proto = NULL;
	unsigned proto_len = 0;

	SSL_get0_alpn_selected(s->ssl, &proto, &proto_len);
	*len = proto_len;
	return proto_len > 0 ? proto : NULL;
}

bool
tls13_session_established(const struct tls13_session *s)
{
	return s->established;
}

bool
tls13_session_sign_request(const struct tls13_session *s, struct sp_sign_request *req)
{
	if (!s->parked || s->sign_state != SIGN_WANTED)
		return false;
	*req = s->want;
	return true;
}

bool
tls13_session_waiting(const struct tls13_session *s)
{
	return s->parked || s->queued;
}

int
tls13_session_supply_signature(struct tls13_session *s, const uint8_t *sig, size_t len)
{
	if (s->sign_state != SIGN_WANTED || len == 0 || len > sizeof(s->sig))
		return KW_ERR_STATE;
	memcpy(s->sig, sig, len);
	s->sig_len = len;
	s->sign_state = SIGN_DONE;
	return drive(s);
}

void
tls13_session_signature_failed(struct tls13_session *s, int err)
{
	if (s->sign_state != SIGN_WANTED)
		return;
	s->sign_state = SIGN_FAILED;
	s->sign_err = err;
	drive(s);
	if (s->err == KW_ERR_TLS_HANDSHAKE)
		s->err = err; /* the reason is the signature's */
}

bool
tls13_session_resumed(const struct tls13_session *s)
{
	return s->established && SSL_session_reused(s->ssl);
}

void
tls13_session_names(const struct tls13_session *s, const char **version, const char **cipher)
{
	*version = s->established ? SSL_get_version(s->ssl) : NULL;
	*cipher = s->established ? SSL_get_cipher_name(s->ssl) : NULL;
}

void
tls13_session_close_notify(struct tls13_session *s)
{
	if (!s->established || s->err != 0 || (SSL_get_shutdown(s->ssl) & SSL_SENT_SHUTDOWN))
		return;
	SSL_shutdown(s->ssl);
	ERR_clear_error();
}

void
tls13_session_shrink(struct tls13_session *s)
{
	if (kw_buf_size(&s->wire) == 0)
		kw_buf_free(&s->wire);
	if (kw_buf_size(&s->plain) == 0)
		kw_buf_dispose(&s->plain);
	if (kw_buf_size(&s->in) == 0)
		kw_buf_free(&s->in);
	SSL_free_buffers(s->ssl); /* libssl's record buffers, when they hold nothing */
}

int
tls13_session_error(const struct tls13_session *s, const char **detail)
{
	*detail = s->detail;
	return s->err;
}

void
tls13_session_free(struct tls13_session *s)
{
	bool freed = false;

	if (s == NULL)
		return;
	if (s->parked) {
		s->sign_state = SIGN_FAILED;
		s->sign_err = KW_ERR_STATE;
		freed = handshake_step(s);
	}
	if (s->queued) {
		TAILQ_REMOVE(&s->e->queue, s, queue_link);
		s->e->n_queued--;
	}
	struct tls13_engine *e = s->e;
	SSL_free(s->ssl);
	ERR_clear_error();
	kw_buf_free(&s->wire);
	kw_buf_free(&s->in);
	kw_buf_dispose(&s->plain);
	OPENSSL_cleanse(s->sig, sizeof(s->sig));
	free(s);
	if (freed)
		wake_next(e);
}

/*
 * tls13_client.c - keyward's tools' TLS 1.3 client: libssl over memory BIOs.
 */
#include "tls13_client.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#define READ_CHUNK 16384

struct tls13_client {
	SSL *ssl;
	BIO *rbio, *wbio; /* owned by ssl */
	struct kw_buf wire, plain;
	bool established;
	char error[256];
};

static const unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

SSL_CTX *
tls13_client_ctx(const char *root_file, bool insecure, char *err, size_t err_len)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn));
	if (insecure) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (root_file == NULL || SSL_CTX_load_verify_locations(ctx, root_file, NULL) != 1) {
			snprintf(err, err_len, "cannot load trusted roots from %s",
			         root_file ? root_file : "(none)");
			SSL_CTX_free(ctx);
			ERR_clear_error();
			return NULL;
		}
	}
	return ctx;
}

static void
drain(struct tls13_client *c)
{
	size_t pending = BIO_ctrl_pending(c->wbio);
	if (pending == 0 || kw_buf_reserve(&c->wire, pending) != 0)
		return;
	int n = BIO_read(c->wbio, kw_buf_tail(&c->wire), (int)pending);
	if (n > 0)
		kw_buf_commit(&c->wire, (size_t)n);
}

static int
fail(struct tls13_client *c, const char *what)
{
	unsigned long e = ERR_peek_error();
	long verify = SSL_get_verify_result(c->ssl);

	if (verify != X509_V_OK)
		snprintf(c->error, sizeof(c->error), "%s: certificate: %s", what,
		         X509_verify_cert_error_string(verify));
	else
		snprintf(c->error, sizeof(c->error), "%s: %s", what,
		         e ? ERR_reason_error_string(e) : "connection failed");
	ERR_clear_error();
	return -1;
}

/* Runs the handshake or reads records as far as the input goes. */
static int
advance(struct tls13_client *c)
{
	if (!c->established) {
		int r = SSL_do_handshake(c->ssl);
		if (r == 1) {
			c->established = true;
		} else {
			int e = SSL_get_error(c->ssl, r);
			drain(c);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return 0;
			return fail(c, "TLS 1.3 handshake");
		}
	}
	for (;;) {
		if (kw_buf_reserve(&c->plain, READ_CHUNK) != 0)
			return fail(c, "out of memory");
		int n = SSL_read(c->ssl, kw_buf_tail(&c->plain), READ_CHUNK);
		if (n > 0) {
			kw_buf_commit(&c->plain, (size_t)n);
			continue;
		}
		int e = SSL_get_error(c->ssl, n);
		drain(c);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_ZERO_RETURN)
			return 0;
		return fail(c, "TLS 1.3 record");
	}
}

struct tls13_client *
tls13_client_new(const struct tls13_client_params *p)
{
	struct tls13_client *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->ssl = SSL_new(p->ctx);
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
		BIO_free(c->rbio);
		BIO_free(c->wbio);
		SSL_free(c->ssl);
		free(c);
		return NULL;
	}
	BIO_set_mem_eof_return(c->rbio, -1);
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	SSL_set_connect_state(c->ssl);
	if (p->send_server_name)
		SSL_set_tlsext_host_name(c->ssl, p->dns_name);
	if (SSL_get_verify_mode(c->ssl) != SSL_VERIFY_NONE)
		SSL_set1_host(c->ssl, p->dns_name);
	if (p->session != NULL)
		SSL_set_session(c->ssl, p->session);
	advance(c);
	return c;
}

int
tls13_client_feed(struct tls13_client *c, const uint8_t *p, size_t n)
{
	if (BIO_write(c->rbio, p, (int)n) != (int)n)
		return fail(c, "out of memory");
	return advance(c);
}

struct kw_buf *
tls13_client_wire(struct tls13_client *c)
{
	return &c->wire;
}

struct kw_buf *
tls13_client_plaintext(struct tls13_client *c)
{
	return &c->plain;
}

bool
tls13_client_established(const struct tls13_client *c)
{
	return c->established;
}

bool
tls13_client_resumed(const struct tls13_client *c)
{
	return c->established && SSL_session_reused(c->ssl);
}

SSL_SESSION *
tls13_client_session(struct tls13_client *c)
{
	SSL_SESSION *s = SSL_get1_session(c->ssl);

	if (s != NULL && !SSL_SESSION_is_resumable(s)) {
		SSL_SESSION_free(s);
		return NULL;
	}
	return s;
}

int
tls13_client_protect(struct tls13_client *c, const uint8_t *p, size_t n)
{
	size_t done = 0;

	while (done < n) {
		size_t chunk = n - done < READ_CHUNK ? n - done : READ_CHUNK;
		if (SSL_write(c->ssl, p + done, (int)chunk) != (int)chunk)
			return fail(c, "TLS 1.3 write");
		done += chunk;
	}
	drain(c);
	return 0;
}

const char *
tls13_client_error(const struct tls13_client *c)
{
	return c->error[0] ? c->error : "no error";
}

void
tls13_client_free(struct tls13_client *c)
{
	if (c == NULL)
		return;
	SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN);
	SSL_free(c->ssl);
	kw_buf_free(&c->wire);
	kw_buf_free(&c->plain);
	free(c);
}

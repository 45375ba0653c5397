/*
 * tls13_client.h - a TLS 1.3 client over libssl with memory buffers, for keyward's
 * tools: wire bytes in with tls13_client_feed(), out in tls13_client_wire(), plaintext
 * in tls13_client_plaintext(); the caller owns the socket. Only TLS 1.3 is offered,
 * with ALPN http/1.1; the chain and name are verified against the given roots unless
 * insecure.
 */
#ifndef KW_TOOLS_TLS13_CLIENT_H
#define KW_TOOLS_TLS13_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "buf.h"

struct tls13_client;

/** Settings shared by every connection of a run. */
struct tls13_client_params {
	SSL_CTX *ctx;          /* from tls13_client_ctx() */
	const char *dns_name;  /* verified (unless insecure) and sent as server_name */
	bool send_server_name; /* false: no server_name */
	SSL_SESSION *session;  /* NULL, or a session to resume (not taken) */
};

/**
 * A client context trusting the PEM roots in root_file (NULL when insecure: no chain
 * or name check). Returns NULL with a message in err.
 */
SSL_CTX *tls13_client_ctx(const char *root_file, bool insecure, char *err, size_t err_len);

/** A connection that starts its handshake at once (ClientHello in wire()). NULL: no memory. */
struct tls13_client *tls13_client_new(const struct tls13_client_params *p);

/** Takes bytes from the socket. Returns 0, or -1 (tls13_client_error() says why). */
int tls13_client_feed(struct tls13_client *c, const uint8_t *p, size_t n);

/** Bytes to send. */
struct kw_buf *tls13_client_wire(struct tls13_client *c);

/** Plaintext received. */
struct kw_buf *tls13_client_plaintext(struct tls13_client *c);

/** true once the handshake is complete. */
bool tls13_client_established(const struct tls13_client *c);

/** true when the handshake resumed a session. */
bool tls13_client_resumed(const struct tls13_client *c);

/** The session to resume later (a reference the caller frees), or NULL. */
SSL_SESSION *tls13_client_session(struct tls13_client *c);

/** Protects n bytes of plaintext into wire(). Returns 0 or -1. */
int tls13_client_protect(struct tls13_client *c, const uint8_t *p, size_t n);

/** Why the connection failed, for messages. */
const char *tls13_client_error(const struct tls13_client *c);

/** Frees the connection. NULL is fine. */
void tls13_client_free(struct tls13_client *c);

#endif

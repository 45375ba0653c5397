/*
 * transport.h - the seam between socket bytes and HTTP.
 *
 *   socket bytes -> feed()      plain: identity; toy-TLS: records, handshake, decrypt
 *                   wire()      bytes to write to the socket
 *                   plaintext() bytes for the HTTP parser
 *   HTTP bytes   -> protect()   plain: identity; toy-TLS: application records
 *
 * HTTP code sees only plaintext() and protect(); it never sees a record, a key or a
 * certificate. A transport that needs a signature made elsewhere (toy-TLS) exposes
 * it through sign_request()/supply_signature(), which the connection layer routes
 * to the signer without blocking.
 */
#ifndef KW_TRANSPORT_H
#define KW_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "toytls_conn.h"

struct transport;

struct transport_ops {
	const char *name;
	/** true: protect() is the identity, so the caller may sendfile(2) a body directly. */
	bool passthrough;
	/** Takes wire bytes read from the socket. Returns 0, or a code: close the connection. */
	int (*feed)(struct transport *t, const uint8_t *wire, size_t len);
	/** Bytes waiting to be written to the socket. */
	struct kw_buf *(*wire)(struct transport *t);
	/** Plaintext waiting for the HTTP parser. */
	struct kw_buf *(*plaintext)(struct transport *t);
	/** Queues plaintext for the peer. Returns 0 or a code. */
	int (*protect)(struct transport *t, const uint8_t *p, size_t len);
	/** true once application data can flow. */
	bool (*established)(const struct transport *t);
	/** true when a signature is wanted, with the request copied to *req. */
	bool (*sign_request)(const struct transport *t, struct tt_sign_request *req);
	/** Supplies the wanted signature. Returns 0 or a code: close the connection. */
	int (*supply_signature)(struct transport *t, const uint8_t *sig, size_t len);
	/** The signature cannot be had (err says why); the transport fails. */
	void (*signature_failed)(struct transport *t, int err);
	/** Releases empty buffers of an idle connection. */
	void (*shrink)(struct transport *t);
	/** First error, for the log, with detail where there is one. */
	int (*error)(const struct transport *t, const char **detail);
	void (*destroy)(struct transport *t);
};

struct transport {
	const struct transport_ops *ops;
};

/** A plain TCP transport. NULL when out of memory. */
struct transport *transport_plain_new(void);

/** A toy-TLS server transport. params are copied. NULL when out of memory. */
struct transport *transport_toytls_new(const struct tt_server_params *params);

#endif

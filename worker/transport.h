/*
 * transport.h - the seam between socket bytes and HTTP.
 *
 *   socket bytes -> feed()      plain: identity; toy-TLS: records, handshake, decrypt
 *                   wire()      bytes to write to the socket
 *                   plaintext() bytes for the HTTP parser
 *   HTTP bytes   -> protect_in_place()  plain: identity; toy-TLS: application records
 *
 * HTTP code sees only plaintext() and protect_in_place(); it never sees a key or a
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
	/** true: protection is the identity, so the caller may sendfile(2) a body directly. */
	bool passthrough;
	/** Takes wire bytes read from the socket. Returns 0, or a code: close the connection. */
	int (*feed)(struct transport *t, const uint8_t *wire, size_t len);
	/** Bytes waiting to be written to the socket. */
	struct kw_buf *(*wire)(struct transport *t);
	/** Plaintext waiting for the HTTP parser. */
	struct kw_buf *(*plaintext)(struct transport *t);
	/** true when received bytes are not all plaintext yet (part of a record) or not consumed.
	 */
	bool (*input_pending)(const struct transport *t);
	/** Bytes protect_in_place() puts before and after a record's plaintext (0 and 0: identity).
	 */
	size_t record_prefix, record_suffix;
	/**
	 * Protects plaintext rec[record_prefix, record_prefix + len) where it lies: rec[0,
	 * record_prefix + len + record_suffix) is then what the caller sends (nothing is
	 * queued in wire()). len is at most TT_MAX_PLAINTEXT. Returns 0 or a code.
	 */
	int (*protect_in_place)(struct transport *t, uint8_t *rec, size_t len);
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

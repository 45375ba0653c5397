/*
 * toytls_conn.h - one toy-TLS v1 connection, client or server side, as a state
 * machine over byte buffers. No sockets: the caller feeds wire bytes in, takes
 * wire bytes out, reads plaintext, and protects plaintext.
 *
 * The server side never touches a private key: after the ClientHello it picks an
 * identity (through a callback, by server_name), creates its X25519 key pair and
 * parks in TT_WAIT_SIGNATURE, exposing a signing request. The caller obtains the
 * signature elsewhere (the signer process) and supplies it, or reports failure.
 *
 * An error during the handshake, or on the sending side, is terminal: the
 * connection enters TT_FAILED, remembers the first error, and every later call
 * returns KW_ERR_STATE. A record that fails after the handshake (a bad tag, a wrong
 * sequence number, too long, more than TT_MAX_EMPTY_RECORDS empty records in a row)
 * ends the input only: tt_conn_feed() returns its code and KW_ERR_STATE after that,
 * while the plaintext authenticated before it stays readable and tt_conn_protect()
 * still works, so that the caller can answer what it got and then close.
 */
#ifndef KW_TOYTLS_CONN_H
#define KW_TOYTLS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "toytls.h"
#include "toytls_cert.h"
#include "toytls_keys.h"
#include "toytls_record.h"
#include "toytls_sign.h"

enum tt_state {
	TT_CLIENT_WAIT_SERVER_HELLO, /* ClientHello queued, waiting for ServerHello */
	TT_CLIENT_WAIT_SERVER_AUTH,  /* waiting for ServerAuth */
	TT_SERVER_WAIT_HELLO,        /* waiting for ClientHello */
	TT_WAIT_SIGNATURE,           /* server: signing request pending */
	TT_ESTABLISHED,              /* application data flows both ways */
	TT_FAILED,                   /* terminal; see tt_conn_error() */
};

/** What a server sends for one identity: chosen per connection by server_name. */
struct tt_identity {
	uint32_t key_id;            /* the signer's key that signs for this identity */
	enum tt_scheme scheme;      /* fixed by that key's type */
	const uint8_t *cert_fields; /* pre-encoded 0x0020 fields, leaf first (owned by caller) */
	size_t cert_fields_len;
};

/**
 * Picks the identity for a ClientHello. server_name is NULL when the client sent
 * none; otherwise a validated NUL-terminated ASCII name. Returning NULL refuses the
 * connection.
 */
typedef const struct tt_identity *(*tt_select_identity_fn)(void *arg, const char *server_name);

/** Signing request exposed in TT_WAIT_SIGNATURE. */
struct tt_sign_request {
	uint32_t key_id;
	uint8_t client_pub[TT_X25519_LEN];
	uint8_t server_pub[TT_X25519_LEN];
};

struct tt_server_params {
	tt_select_identity_fn select_identity;
	void *select_arg;
	uint32_t max_handshake_record; /* 0: TT_MAX_HANDSHAKE_RECORD */
	tt_nonce_fn nonce_fn;          /* NULL: tt_nonce_random */
	void *nonce_arg;
	const uint8_t *fixed_x25519_private; /* NULL in production; tests pin the vectors' key */
	struct tt_kex *kex; /* key-exchange contexts to reuse (borrowed), or NULL */
};

struct tt_client_params {
	const struct tt_trust *trust; /* NULL with insecure */
	const char *dns_name;  /* name to verify the leaf against; also sent as server_name */
	bool send_server_name; /* send field 0x0011 */
	bool insecure;         /* skip chain and name checks (signature still checked) */
	uint32_t max_handshake_record; /* 0: TT_MAX_HANDSHAKE_RECORD */
	tt_nonce_fn nonce_fn;          /* NULL: tt_nonce_random */
	void *nonce_arg;
	const uint8_t *fixed_x25519_private; /* NULL in production */
	struct tt_kex *kex;               /* key-exchange contexts to reuse (borrowed), or NULL */
	struct tt_leaf_cache *leaf_cache; /* insecure: leaf keys to reuse (borrowed), or NULL */
};

struct tt_conn;

/** Creates a server connection in TT_SERVER_WAIT_HELLO. NULL when out of memory. */
struct tt_conn *tt_conn_new_server(const struct tt_server_params *params);

/**
 * Creates a client connection; its ClientHello is already queued in the wire
 * output. NULL on failure (out of memory, bad params: dns_name, when given, must
 * be 1..255 printable ASCII bytes without a trailing dot; it is required with
 * send_server_name, and trust and dns_name are required unless insecure). The
 * trust is borrowed and must outlive the handshake; dns_name is copied.
 */
struct tt_conn *tt_conn_new_client(const struct tt_client_params *params);

/** Frees the connection and cleanses every secret it held. NULL is fine. */
void tt_conn_free(struct tt_conn *c);

/**
 * Feeds wire bytes received from the peer (any split). Handshake messages advance
 * the state; application records are decrypted into the plaintext buffer. Returns
 * 0 or a negative code: then the connection is TT_FAILED, or, after the handshake,
 * its input has ended (tt_conn_input_ended()) and the records before the bad one
 * are in the plaintext buffer.
 */
int tt_conn_feed(struct tt_conn *c, const uint8_t *wire, size_t len);

/** true when a record after the handshake failed: no more input, output still works. */
bool tt_conn_input_ended(const struct tt_conn *c);

/** Current state. */
enum tt_state tt_conn_state(const struct tt_conn *c);

/** First error that failed the connection or ended its input, 0 when none. */
int tt_conn_error(const struct tt_conn *c);

/** Detail for certificate errors (libcrypto's reason), or NULL. */
const char *tt_conn_error_detail(const struct tt_conn *c);

/** Wire bytes waiting to be sent: send from kw_buf_head() and kw_buf_consume() what went. */
struct kw_buf *tt_conn_wire(struct tt_conn *c);

/** Decrypted application bytes: read from kw_buf_head() and kw_buf_consume() what is used. */
struct kw_buf *tt_conn_plaintext(struct tt_conn *c);

/** true when part of a record was received, or decrypted bytes wait in tt_conn_plaintext(). */
bool tt_conn_input_pending(const struct tt_conn *c);

/**
 * Encrypts plaintext into application records of at most TT_MAX_PLAINTEXT bytes
 * each, appended to the wire output. Only in TT_ESTABLISHED. Returns 0 or a code.
 */
int tt_conn_protect(struct tt_conn *c, const uint8_t *plaintext, size_t len);

/**
 * Encrypts one record's worth of plaintext where it lies: rec[TT_RECORD_PREFIX_LEN,
 * TT_RECORD_PREFIX_LEN + len) becomes the whole record rec[0, TT_RECORD_PREFIX_LEN + len +
 * TT_RECORD_SUFFIX_LEN), for the caller to send (nothing is queued in the wire output).
 * len is at most TT_MAX_PLAINTEXT. Only in TT_ESTABLISHED. Returns 0 or a code.
 */
int tt_conn_protect_in_place(struct tt_conn *c, uint8_t *rec, size_t len);

/** Server: true in TT_WAIT_SIGNATURE, with the request copied to *req. */
bool tt_conn_sign_request(const struct tt_conn *c, struct tt_sign_request *req);

/**
 * Server: supplies the signature for the pending request. Queues ServerHello and
 * ServerAuth, derives keys and enters TT_ESTABLISHED. Returns 0 or a code.
 */
int tt_conn_supply_signature(struct tt_conn *c, const uint8_t *sig, size_t len);

/** Server: the signature could not be had (err: KW_ERR_SIGN_FAILED, _TIMEOUT). Fails the
 * connection. */
void tt_conn_signature_failed(struct tt_conn *c, int err);

/** Server: the server_name the client sent, or NULL. */
const char *tt_conn_server_name(const struct tt_conn *c);

/** Server: the identity chosen for this connection, or NULL before the ClientHello. */
const struct tt_identity *tt_conn_identity(const struct tt_conn *c);

/** Releases buffers that are empty (idle connections keep only their state). */
void tt_conn_shrink(struct tt_conn *c);

#endif

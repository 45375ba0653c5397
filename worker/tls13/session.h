/*
 * session.h - TLS 1.3 server sessions with libssl, the private key in the signer.
 *
 * An engine (one per worker) holds one SSL_CTX per server block that has a
 * certificate, whose key is a provider key (provider.h): libssl's CertificateVerify
 * signature runs in an async job that parks until the signer answers, while the
 * worker's loop goes on. A session is one connection: wire bytes in through
 * tls13_session_feed(), wire bytes out in tls13_session_wire(), plaintext for HTTP in
 * tls13_session_plaintext(), application records made by tls13_session_protect().
 *
 * Parking: a full handshake asks for a signature (tls13_session_sign_request()); the
 * caller sends it to the signer and gives the outcome back with
 * tls13_session_supply_signature() or tls13_session_signature_failed(), which resume
 * the job. At most max_parked jobs exist per worker (each costs about 34 KiB of fibre
 * stack); a handshake that finds none waits in its engine's queue, in arrival order,
 * and its wake function is called when a job is free again: the caller then calls
 * tls13_session_feed() with no bytes to go on. Resumed handshakes (session tickets)
 * sign nothing and so never park.
 *
 * Only TLS 1.3 is spoken: a client offering only older versions gets a
 * protocol_version alert. ALPN offers http/1.1. No 0-RTT.
 */
#ifndef KW_TLS13_SESSION_H
#define KW_TLS13_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "signer_proto.h"
#include "ticket_keys.h"

struct tls13_engine;
struct tls13_session;

/** Bytes an application record adds before and after its plaintext (AEAD tag 16). */
#define TLS13_RECORD_PREFIX 5u
#define TLS13_RECORD_SUFFIX 17u
/** The largest plaintext of one application record. */
#define TLS13_RECORD_MAX 16384u

/** Engine settings, from the configuration's tls13 group. Strings are copied. */
struct tls13_settings {
	const char *ciphersuites; /* OpenSSL's syntax; NULL: OpenSSL's default list */
	const char *groups;       /* NULL: OpenSSL's default list */
	bool session_tickets;
	unsigned max_parked; /* async jobs, at least 1 */
};

/**
 * Creates an engine for n_servers server blocks (none serves until added) and sets
 * up the calling thread's async job pool (max_parked jobs). Returns 0, KW_ERR_ARGUMENT
 * (err says which setting libssl refused) or KW_ERR_NOMEM / KW_ERR_INTERNAL.
 */
int tls13_engine_new(const struct tls13_settings *settings, size_t n_servers,
                     struct tls13_engine **out, char *err, size_t err_len);

/** A server block's certificate and chain as PEM texts, with their file names for messages. */
struct tls13_server_pem {
	const char *cert_path, *cert_text;
	const char *const *chain_paths; /* leaf's issuer first */
	const char *const *chain_texts;
	size_t n_chain;
};

/**
 * Serves server block index with the certificate and chain of pem, whose private key
 * the signer holds as key_id: the certificate's public key must be one the signer
 * signs with, and matches the provider key made for it. Returns 0, or KW_ERR_ARGUMENT
 * with err naming the file.
 */
int tls13_engine_add_server(struct tls13_engine *e, size_t index,
                            const struct tls13_server_pem *pem, uint32_t key_id, char *err,
                            size_t err_len);

/**
 * Sets the session ticket keys (NULL: none, no ticket is issued): keys->current
 * encrypts new tickets, it and keys->previous decrypt. The keys are copied; the
 * engine's old copies are cleansed. Tickets are never issued when the settings turn
 * them off.
 */
void tls13_engine_set_ticket_keys(struct tls13_engine *e, const struct kw_ticket_keys *keys);

/** Handshakes parked (a job paused) and queued for a job, for logs and tests. */
void tls13_engine_counts(const struct tls13_engine *e, size_t *parked, size_t *queued);

/** Frees the engine; every session must be freed first. NULL is fine. */
void tls13_engine_free(struct tls13_engine *e);

/** Picks the server block for a server_name (NULL: the client sent none). */
typedef size_t (*tls13_select_fn)(void *arg, const char *server_name);

/** A session queued for an async job may go on: call tls13_session_feed(s, NULL, 0). */
typedef void (*tls13_wake_fn)(void *arg);

struct tls13_session_params {
	size_t default_server; /* the block before SNI, and without it */
	tls13_select_fn select;
	tls13_wake_fn wake;
	void *arg;
	/* the protocols offered to ALPN, most preferred first, in its wire form; outlives the
	 * session. len 0: the session acknowledges none */
	const uint8_t *alpn;
	size_t alpn_len;
};

/** A server session. NULL when out of memory or when default_server has no certificate. */
struct tls13_session *tls13_session_new(struct tls13_engine *e,
                                        const struct tls13_session_params *params);

/**
 * Takes wire bytes (len 0: go on after a wake) and runs the handshake or decrypts
 * records into plaintext. Returns 0, or a code: the session failed (an alert may wait
 * in wire()); close the connection.
 */
int tls13_session_feed(struct tls13_session *s, const uint8_t *wire, size_t len);

/** Bytes waiting to be written to the socket. */
struct kw_buf *tls13_session_wire(struct tls13_session *s);

/** Plaintext waiting for the HTTP parser. */
struct kw_buf *tls13_session_plaintext(struct tls13_session *s);

/** true when received bytes are not all plaintext yet, or plaintext is not consumed. */
bool tls13_session_input_pending(const struct tls13_session *s);

/**
 * Protects rec[TLS13_RECORD_PREFIX, TLS13_RECORD_PREFIX + len) in place as one
 * application record (len at most 16384): rec[0, len + prefix + suffix) is then the
 * record. Returns 0 or a code.
 */
int tls13_session_protect(struct tls13_session *s, uint8_t *rec, size_t len);

/** The protocol ALPN chose (*len bytes), or NULL when none was. */
const uint8_t *tls13_session_protocol(const struct tls13_session *s, size_t *len);

/** true once the handshake is complete. */
bool tls13_session_established(const struct tls13_session *s);

/** true when the handshake is parked on a signature, with the request copied to *req. */
bool tls13_session_sign_request(const struct tls13_session *s, struct sp_sign_request *req);

/**
 * true while the handshake waits for something other than the socket: parked on a
 * signature, or queued for an async job (until the wake function is called).
 */
bool tls13_session_waiting(const struct tls13_session *s);

/** Gives the parked handshake its signature and resumes it. Returns 0 or a code. */
int tls13_session_supply_signature(struct tls13_session *s, const uint8_t *sig, size_t len);

/** The signature cannot be had (err: why): the handshake resumes and fails. */
void tls13_session_signature_failed(struct tls13_session *s, int err);

/** true when the handshake resumed a session from a ticket (no signature made). */
bool tls13_session_resumed(const struct tls13_session *s);

/** The version and cipher suite names libssl gives; NULL before the handshake ends. */
void tls13_session_names(const struct tls13_session *s, const char **version, const char **cipher);

/** Queues a close_notify alert in wire() (once, on an established session). */
void tls13_session_close_notify(struct tls13_session *s);

/** Releases empty buffers of an idle session. */
void tls13_session_shrink(struct tls13_session *s);

/** First error, with libssl's reason as detail where there is one. */
int tls13_session_error(const struct tls13_session *s, const char **detail);

/**
 * Frees the session. A parked handshake is first resumed once with a failure, so that
 * its job ends (never free a connection whose job is paused); the caller withdraws the
 * signing request itself. A session queued for a job leaves the queue.
 */
void tls13_session_free(struct tls13_session *s);

#endif

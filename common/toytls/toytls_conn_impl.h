/*
 * toytls_conn_impl.h - the inside of struct tt_conn, shared by the connection core
 * (toytls_conn.c) and the two handshake roles (toytls_client.c, toytls_server.c).
 * Nothing outside these three files includes it.
 */
#ifndef KW_TOYTLS_CONN_IMPL_H
#define KW_TOYTLS_CONN_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "toytls.h"
#include "toytls_cert.h"
#include "toytls_conn.h"
#include "toytls_keys.h"
#include "toytls_record.h"
#include "toytls_wire.h"

/** Most certificates a client accepts in one ServerAuth. */
#define TT_MAX_CHAIN_CERTS 8u

/** Client handshake state: dies (cleansed) when the handshake ends either way. */
struct tt_client_hs {
	struct tt_x25519 kp;
	uint8_t server_pub[TT_X25519_LEN];
	const struct tt_trust *trust;
	char *dns_name; /* own copy, for the name check; NULL with insecure */
	bool insecure;
	struct tt_kex *kex;               /* borrowed, may be NULL */
	struct tt_leaf_cache *leaf_cache; /* borrowed, may be NULL */
};

/** Server handshake state: dies (cleansed) when the handshake ends either way. */
struct tt_server_hs {
	tt_select_identity_fn select_identity;
	void *select_arg;
	struct tt_kex *kex; /* borrowed, may be NULL */
	bool has_fixed_private;
	uint8_t fixed_private[TT_X25519_LEN];
	uint8_t client_pub[TT_X25519_LEN];
	uint8_t server_pub[TT_X25519_LEN];
	uint8_t shared[TT_X25519_LEN];
};

struct tt_conn {
	enum tt_state state;
	bool is_server;
	int error;
	int input_error;      /* a record after the handshake failed: input ended, output works */
	unsigned empty_run;   /* empty application records received in a row */
	const char *error_detail;
	struct tt_record_reader reader;
	struct tt_record_dir send, recv;
	struct kw_buf wire;  /* records waiting to be sent */
	struct kw_buf plain; /* decrypted application bytes */
	tt_nonce_fn nonce_fn;
	void *nonce_arg;
	const struct tt_identity *identity; /* server: chosen at ClientHello */
	char *server_name;                  /* server: what the client sent, or NULL */
	union {
		struct tt_client_hs client;
		struct tt_server_hs server;
	} hs;
};

/**
 * Allocates a connection in state, reading handshake records of at most
 * max_handshake_record bytes (0: TT_MAX_HANDSHAKE_RECORD). NULL when out of memory.
 */
struct tt_conn *tt_conn_alloc(bool is_server, enum tt_state state, uint32_t max_handshake_record,
                              tt_nonce_fn nonce_fn, void *nonce_arg);

/** Records err as the connection's error, enters TT_FAILED, ends the handshake; returns err. */
int tt_conn_fail(struct tt_conn *c, int err);

/**
 * Derives both directions' keys from the shared secret (with kex's contexts, when not
 * NULL), ends the handshake and enters TT_ESTABLISHED. Returns 0 or a code (the caller
 * fails the connection).
 */
int tt_conn_establish(struct tt_conn *c, struct tt_kex *kex, const uint8_t shared[TT_X25519_LEN]);

/**
 * Appends a record header announcing payload_len bytes to the wire output; the
 * caller appends exactly that many payload bytes next. Returns 0 or a code.
 */
int tt_conn_queue_record_header(struct tt_conn *c, size_t payload_len);

/**
 * Checks a server_name: 1..255 printable ASCII bytes (no space, no control byte),
 * no trailing dot. Returns 0 or KW_ERR_BAD_SERVER_NAME.
 */
int tt_server_name_check(const uint8_t *name, size_t len);

/**
 * Takes the first X25519 field of a handshake message: does nothing for another
 * tag or once *have is set; otherwise copies the key to pub and sets *have.
 * Returns 0 or KW_ERR_KEY_SHARE_LENGTH (the first X25519 field is not 32 bytes).
 */
int tt_key_share_take(const struct tt_field *f, bool *have, uint8_t pub[TT_X25519_LEN]);

/** Handles one complete handshake record in the client's current state. Returns 0 or a code. */
int tt_client_on_record(struct tt_conn *c, const uint8_t *payload, size_t len);

/** Handles one complete handshake record in the server's current state. Returns 0 or a code. */
int tt_server_on_record(struct tt_conn *c, const uint8_t *payload, size_t len);

/** Frees and cleanses the client's handshake state (idempotent). */
void tt_client_hs_dispose(struct tt_client_hs *hs);

/** Cleanses the server's handshake state (idempotent). */
void tt_server_hs_dispose(struct tt_server_hs *hs);

#endif

/*
 * transport.h - the seam between socket bytes and HTTP. Each protocol is a plug-in
 * in worker/transport/ (plain.c, toytls.c), listed in transport/table.c; nothing
 * above this header knows which one a connection speaks.
 *
 *   conn.c (state machine)             transport (one per connection, its own buffers)
 *   ----------------------             -----------------------------------------------
 *   socket bytes ------------------->  feed()        plain: identity; toy-TLS: records,
 *   socket   <----------------------   wire()          handshake, decrypt
 *   HTTP parser <-------------------   plaintext()
 *   send.c: records laid out in the
 *   connections' send buffer ------->  protect_in_place()   plain: identity
 *   step again   <------------------   host->wake()         a reply or a timer moved it on
 *   routing      <------------------   host->select_server()   SNI: the listener's blocks
 *   application protocols ----------->  host->alpn           what the connection speaks
 *   protocol chosen  <----------------   protocol()           ALPN: opaque bytes ("h2")
 *                                          |
 *                   the class's per-worker state (identities, contexts), made by start()
 *                   from a transport_env: the loop (io, timers, tasks: fd-less wake-ups)
 *                   and the signer client (signer_client.h), which the transport asks
 *                   itself, without blocking, for the signatures its handshake needs.
 *
 * HTTP code sees only plaintext() and protect_in_place(); it never sees a key, a
 * certificate or a record. A transport never sees HTTP. A handshake that waits for
 * something other than the socket (a signer reply) can say so with parked(): the
 * connection then stops watching its socket until the transport wakes it.
 */
#ifndef KW_TRANSPORT_H
#define KW_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "loop.h"
#include "ticket_keys.h"

struct transport;
struct transport_host;

/** What a transport says of its security, for the access log (describe()). */
struct transport_desc {
	const char *version; /* e.g. "TLSv1.3" */
	const char *cipher;  /* e.g. "TLS_AES_128_GCM_SHA256" */
	bool resumed;
};
struct sign_proxy;

struct transport_ops {
	const char *name;
	/** true: protection is the identity, so the caller may sendfile(2) a body directly. */
	bool passthrough;
	/** Takes wire bytes read from the socket. Returns 0, or a code: close the connection. */
	int (*feed)(struct transport *t, const uint8_t *wire, size_t len);
	/**
	 * true after feed() refused a record while output still works: the plaintext
	 * received before it may be answered, then the connection closes. NULL: never.
	 */
	bool (*input_ended)(const struct transport *t);
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
	/** Largest plaintext of one record (passthrough: of one piece the sender copies). */
	size_t record_max;
	/**
	 * Protects plaintext rec[record_prefix, record_prefix + len) where it lies: rec[0,
	 * record_prefix + len + record_suffix) is then what the caller sends (nothing is
	 * queued in wire()). len is at most record_max. Returns 0 or a code.
	 */
	int (*protect_in_place)(struct transport *t, uint8_t *rec, size_t len);
	/** true once application data can flow. */
	bool (*established)(const struct transport *t);
	/** true when the established handshake resumed a session (no signature). NULL: never. */
	bool (*resumed)(const struct transport *t);
	/**
	 * true while the handshake waits for something other than the socket; the
	 * connection watches no event until host->wake(). NULL: never.
	 */
	bool (*parked)(const struct transport *t);
	/**
	 * Queues in wire() the protocol's notice that no more data follows (TLS
	 * close_notify), before a clean close. NULL: the protocol has none.
	 */
	void (*close_notify)(struct transport *t);
	/**
	 * The application protocol the handshake chose among host->alpn (ALPN), as the
	 * bytes the peer sent (*len of them, not NUL-terminated); NULL when none was chosen.
	 * NULL op: the protocol negotiates none.
	 */
	const uint8_t *(*protocol)(const struct transport *t, size_t *len);
	/**
	 * For the access log, once established: the protocol version and cipher (static
	 * text or the transport's, valid while it lives) and whether a session was
	 * resumed. NULL op: the transport has none (plain).
	 */
	void (*describe)(const struct transport *t, struct transport_desc *d);
	/**
	 * Releases empty buffers while the connection waits for its peer: idle between
	 * requests, or in a handshake that waits for the client's next flight (never while
	 * parked()).
	 */
	void (*shrink)(struct transport *t);
	/**
	 * First error, for the log, with detail where there is one; 0 while the transport
	 * works. A transport that fails outside feed() (a signature refused) wakes its host,
	 * which then finds the error here and closes.
	 */
	int (*error)(const struct transport *t, const char **detail);
	/** Frees the transport, withdrawing whatever it still waits for. */
	void (*destroy)(struct transport *t);
};

struct transport {
	const struct transport_ops *ops;
};

/** The connection, as its transport sees it; embedded in the connection. */
struct transport_host {
	/** The connection steps again: the transport moved on without socket input. */
	void (*wake)(struct transport_host *h);
	/**
	 * The server block, among those of the connection's listener, that answers
	 * server_name (NULL: none was sent), which the connection routes by from then on.
	 * Never NULL.
	 */
	const struct kw_server *(*select_server)(struct transport_host *h, const char *server_name);
	/**
	 * The application protocols the connection speaks, most preferred first, in ALPN's
	 * wire form (each a length byte and that many bytes), set before open(); the
	 * transport only compares them with the peer's list.
	 */
	const uint8_t *alpn;
	size_t alpn_len;
};

/** What a transport class gets when the worker starts; everything outlives the class state. */
struct transport_env {
	struct loop *loop;
	const struct kw_config *cfg;
	struct sign_proxy *signer; /* the signer client (signer_client.h) */
};

/** One protocol: how listeners choose it and what it keeps per worker. */
struct transport_class {
	const char *name;
	/** true when listener lc speaks this protocol. */
	bool (*serves)(const struct kw_listener *lc);
	/**
	 * Sets up the per-worker state (*state, passed back to open() and stop()), before the
	 * worker drops its privileges. Returns 0, or a code with err filled in
	 * (KW_ERR_NOMEM and KW_ERR_INTERNAL: the process; any other: the configuration).
	 */
	int (*start)(const struct transport_env *env, void **state, char *err, size_t err_len);
	/** Frees what start() made. */
	void (*stop)(void *state);
	/** A transport for one new connection, which host stays valid for. NULL: out of memory. */
	struct transport *(*open)(void *state, struct transport_host *host);
	/**
	 * Takes new session ticket keys from the master (CTL_TICKET_KEYS); the keys are
	 * copied. NULL: the class issues no tickets.
	 */
	void (*set_ticket_keys)(void *state, const struct kw_ticket_keys *keys);
	/** Largest record_prefix + record_max + record_suffix of its transports. */
	size_t record_size;
};

/** Every class, in the order listeners look for theirs; NULL-terminated. */
extern const struct transport_class *const transport_classes[];

/** The class that serves listener lc, or NULL when none does. */
const struct transport_class *transport_class_for(const struct kw_listener *lc);

#endif

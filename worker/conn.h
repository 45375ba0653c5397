/*
 * conn.h - the connection state machine: one client connection's socket, its
 * transport (transport.h), HTTP exchanges one after the other (pipelined requests
 * answered in order), timeouts. Responses leave through the sending engine (send.h);
 * the server block is chosen by routing (route.h).
 *
 *   [PROXY header] -> handshake -> request head -> response (request body discarded meanwhile)
 *        -> [rest of the body] -> keep-alive idle -> request head ...
 *   error or Connection: close -> response -> lingering close
 *
 * On a listener with proxy_protocol, a PROXY protocol header (proxy_protocol.h) comes
 * first, before any transport byte, within the handshake timeout counted from the
 * accept (which, on a TLS listener, then covers the handshake too); its address
 * becomes the connection's client address. A missing or malformed header closes the
 * connection, logged at info.
 *
 * A connection lives in its set's list; it closes itself on any error, timeout or end
 * of input, and is freed at the end of the loop turn it closed in. The set tells its
 * owner, through hooks, when a connection closes or goes idle (room to accept).
 */
#ifndef KW_CONN_H
#define KW_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "access_log.h"
#include "config.h"
#include "http.h"
#include "listener.h"
#include "loop.h"
#include "metrics.h"
#include "static_file.h"

/** Size of the socket read buffer shared by a set's connections. */
#define CONN_READ_SIZE 16384u

struct conn;
struct conns;

TAILQ_HEAD(conn_list, conn);

/** What a set of connections tells its owner. */
struct conn_hooks {
	/** A connection closed. */
	void (*closed)(struct conns *cs);
	/** A connection went idle (keep-alive), or its handshake went on after its signature:
	 * it could be closed to make room. */
	void (*idle)(struct conns *cs);
	/** A file could not be opened for want of descriptors (err: EMFILE or ENFILE). */
	void (*short_of_descriptors)(struct conns *cs, int err);
};

/** Every connection of a worker, and what they share. */
struct conns {
	struct loop *loop;
	const struct kw_config *cfg;
	const struct mime_table *mime;
	struct access_logs *access_log;
	const struct conn_hooks *hooks;
	struct http_limits limits;

	struct kw_timer_queue q_handshake;
	struct kw_timer_queue q_header;
	struct kw_timer_queue q_body;
	struct kw_timer_queue q_send;
	struct kw_timer_queue q_keepalive; /* also: oldest idle connection first */
	struct kw_timer_queue q_linger;
	struct kw_timer_queue q_h2_settings; /* HTTP/2: the peer acknowledges SETTINGS */

	struct conn_list open; /* open connections */
	size_t n_open;
	/*
	 * Per listener (cfg->listeners order): its open connections, and those that have
	 * not sent a whole request head yet, oldest first: what eviction picks from (not
	 * while a handshake waits for its signature; after, it counts from then on).
	 */
	size_t *n_by_listener;
	struct conn_list *fresh;
	size_t n_listeners;
	struct conn_list dead; /* closed, freed at the end of the turn */
	struct loop_task reap; /* frees the dead */
	bool shutting_down;

	/* where the connections count (metrics.h): the worker's slot, else own_metrics */
	struct kw_metrics_worker *metrics;
	const struct kw_metrics_region *region; /* read by status pages; NULL: none */
	struct kw_metrics_worker own_metrics;

	struct static_cache files;   /* files opened in this loop turn */
	struct loop_task files_done; /* closes them at the end of the turn */
	uint8_t *sbuf;               /* send buffer: responses laid out, protected, sent */
	uint8_t rbuf[CONN_READ_SIZE];
};

/**
 * Sets up an empty set on loop (registering its timer queues) for cfg, whose send
 * buffer holds SEND_RECORDS records of record_size bytes (the largest of the
 * transports in use). cfg, mime, access_log and hooks must outlive the set. Returns
 * 0 or KW_ERR_NOMEM.
 */
int conns_init(struct conns *cs, struct loop *loop, const struct kw_config *cfg,
               const struct mime_table *mime, struct access_logs *access_log,
               const struct conn_hooks *hooks, size_t record_size);

/**
 * Makes the connections count into slot (a slot of region) instead of the set's own
 * counters, and status pages read region. Call before the first connection.
 */
void conns_set_metrics(struct conns *cs, const struct kw_metrics_region *region,
                       struct kw_metrics_worker *slot);

/** Closes every connection (logging reason) and frees the set's memory. */
void conns_dispose(struct conns *cs, const char *reason);

/**
 * Takes over an accepted non-blocking socket from listener l and starts serving it.
 * On failure the socket is closed (and the failure logged). Returns 0 or a code.
 */
int conn_accept(struct conns *cs, struct listener *l, int fd, const struct sockaddr *peer,
                socklen_t peer_len);

/** true when a connection could be evicted: one is idle, or has sent no request yet. */
bool conns_can_evict(const struct conns *cs);

/**
 * Makes room for a new connection: closes the keep-alive connection idle for the
 * longest time, else the oldest connection that has not sent a whole request head
 * on the listener that holds the most connections (so that a flood on one port takes
 * its room from itself, not from the others). A handshake waiting for its signature
 * waits on the server, not the client: it is not picked, and is the newest once its
 * flight is out. false when none could be closed.
 */
bool conns_evict(struct conns *cs);

/** Graceful shutdown begins: idle connections close, the others close after their response. */
void conns_shutdown(struct conns *cs);

/** Closes every connection, logging reason. */
void conns_close_all(struct conns *cs, const char *reason);

#endif

/*
 * listener.h - the inherited listening sockets and accept throttling. The listeners
 * know nothing of connections: what they accept goes to the hooks, which also tell
 * them how many connections are open and can close an idle one to make room. The
 * owner tells them when room appears (listeners_room()).
 *
 *   readable listener -> accept4() -> hooks->accepted()
 *   at max_connections: evict a connection (the owner closes the one idle longest, else
 *   the oldest that sent no request yet on the listener holding the most), else stop
 *   accepting until one closes or goes idle; out of descriptors (EMFILE, ENFILE, or a
 *   file that could not be opened): stop accepting for LISTENER_PAUSE_MS.
 *
 * max_connections is http.max_connections, lowered to what RLIMIT_NOFILE leaves room
 * for (a socket and a file per connection, the listeners, KW_NOFILE_RESERVE). Evictions
 * and running out of descriptors are logged once per LISTENER_LOG_INTERVAL_MS with the
 * count since the last line, never once per connection; a pause when full, once.
 */
#ifndef KW_LISTENER_H
#define KW_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "config.h"
#include "loop.h"

struct listeners;
struct transport_class;

/**
 * An inherited listening socket. Its connections pick their server block among those
 * listening on it (vhost.h): by server_name during a handshake, by Host per request.
 * It has TCP_NODELAY set, which the connections accepted from it inherit.
 */
struct listener {
	struct loop_io io;
	struct listeners *set;
	const struct kw_listener *cfg;
	size_t index;                   /* into cfg->listeners */
	const struct kw_server *server; /* the listener's default server */
	const struct transport_class *transport;
	void *transport_state; /* the class's per-worker state */
};

/** What the listeners ask of their owner. */
struct listener_hooks {
	/** Takes over the accepted non-blocking socket fd (closing it on failure). */
	void (*accepted)(struct listeners *ls, struct listener *l, int fd,
	                 const struct sockaddr *peer, socklen_t peer_len);
	/** Connections open now. */
	size_t (*open)(struct listeners *ls);
	/** true when a connection could be evicted (idle, or no request sent yet). */
	bool (*can_evict)(struct listeners *ls);
	/** Closes one connection to make room (see above). false when none could be. */
	bool (*evict)(struct listeners *ls);
};

#define LISTENER_PAUSE_MS        250u   /* accepting stops this long when out of descriptors */
#define LISTENER_LOG_INTERVAL_MS 10000u /* at most one line per kind of trouble this often */

/** A kind of trouble logged at most once per interval. */
struct listener_trouble {
	unsigned long long logged_ms; /* when last logged, 0: never */
	unsigned long count;          /* occurrences since */
};

struct listeners {
	struct loop *loop;
	const struct listener_hooks *hooks;
	unsigned max_connections; /* 0: no limit (then only the descriptor limit's) */
	struct listener *l;
	size_t n;
	bool accepting; /* listeners are in the epoll set */
	bool paused;    /* at max_connections or out of descriptors */
	bool closed;    /* closed for good (shutdown) */
	struct kw_timer retry;
	struct kw_timer_queue q_retry;
	struct listener_trouble evicted, no_fds;
};

/**
 * Takes over the listeners of cfg (descriptors KW_FD_LISTENERS..): non-blocking,
 * TCP_NODELAY. Returns 0, or a code with err filled in (KW_ERR_ARGUMENT: the
 * configuration). listeners_dispose() frees what was set up, even after a failure.
 */
int listeners_init(struct listeners *ls, struct loop *loop, const struct kw_config *cfg,
                   const struct listener_hooks *hooks, char *err, size_t err_len);

/** Starts accepting. */
void listeners_start(struct listeners *ls);

/**
 * Room may have appeared (a connection closed, or went idle when idle is true): a
 * paused set accepts again when below max_connections, or when an idle connection can
 * be closed to make room.
 */
void listeners_room(struct listeners *ls, bool idle);

/**
 * Accepts what is already queued, then closes the listeners for good: with
 * EPOLLEXCLUSIVE, the wakeup for a queued connection may have gone to this worker
 * only, and no other worker would be woken for it until the next one arrives.
 */
void listeners_drain_and_close(struct listeners *ls);

/**
 * The process ran out of descriptors elsewhere (a file could not be opened, err the
 * errno): accepting stops for LISTENER_PAUSE_MS, logged once per interval.
 */
void listeners_short_of_descriptors(struct listeners *ls, int err);

/** Closes the listeners and frees the set. */
void listeners_dispose(struct listeners *ls);

#endif

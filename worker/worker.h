/*
 * worker.h - the worker's event loop: one epoll instance watching the inherited
 * listeners, the control channel to the master, the signer channel and every
 * connection, plus the timer queues. Single-threaded; nothing in it blocks.
 */
#ifndef KW_WORKER_H
#define KW_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include "config.h"
#include "http.h"
#include "static_file.h"
#include "timer.h"
#include "toytls.h"
#include "toytls_conn.h"

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/** Size of the per-worker socket read buffer. */
#define WORKER_READ_SIZE 16384u

/** Records (of TT_MAX_PLAINTEXT plaintext bytes at most) made per send(2) of a response. */
#define SEND_RECORDS 16u

struct worker;
struct conn;
struct access_log;
struct sign_proxy;

/** Something with a descriptor in the epoll set. */
struct worker_io {
	int fd;
	uint32_t events; /* registered with epoll (0: not registered) */
	void (*on_event)(struct worker_io *io, uint32_t events);
};

/**
 * An inherited listening socket. Its connections pick their server block among
 * those listening on it (vhost.h): by server_name on toy-TLS, by Host per request.
 * It has TCP_NODELAY set, which the connections accepted from it inherit.
 */
struct worker_listener {
	struct worker_io io;
	struct worker *w;
	const struct kw_listener *cfg;
	size_t index;                   /* into cfg->listeners */
	const struct kw_server *server; /* the listener's default server */
};

/** A toy-TLS identity: certificate fields pre-encoded once, for one server block. */
struct worker_identity {
	struct tt_identity id;
	struct kw_buf fields; /* owns id.cert_fields */
};

TAILQ_HEAD(conn_list, conn);

struct worker {
	int epfd;
	const struct kw_config *cfg;
	const struct mime_table *mime;
	const struct worker_identity *identities; /* by server index; unused for plain servers */
	struct http_limits limits;

	struct worker_listener *listeners;
	size_t n_listeners;
	bool accepting;     /* listeners are in the epoll set */
	bool accept_paused; /* at max_connections or out of descriptors */
	struct kw_timer accept_retry;

	struct worker_io control;
	struct sign_proxy *signer;
	struct access_log *access_log;

	struct kw_timer_queue q_handshake;
	struct kw_timer_queue q_header;
	struct kw_timer_queue q_body;
	struct kw_timer_queue q_send;
	struct kw_timer_queue q_keepalive; /* also: oldest idle connection first */
	struct kw_timer_queue q_linger;
	struct kw_timer_queue q_sign;
	struct kw_timer_queue q_accept;

	struct conn_list conns; /* open connections */
	size_t n_conns;
	struct conn_list dead; /* closed, freed after the current loop turn */

	bool shutting_down;
	struct kw_timer shutdown;
	struct kw_timer_queue q_shutdown;
	bool stop;

	unsigned long long now; /* kw_now_ms() at the start of the loop turn */
	time_t wall;            /* time(NULL) at the start of the loop turn */

	struct tt_nonce_pool nonces; /* toy-TLS record nonces of every connection */
	struct tt_kex kex;           /* toy-TLS key-exchange contexts, reused */
	struct static_cache files;   /* files opened in this loop turn */
	uint8_t rbuf[WORKER_READ_SIZE];
	/* responses are laid out here, records protected in place, then sent */
	uint8_t
	    sbuf[SEND_RECORDS * (TT_RECORD_PREFIX_LEN + TT_MAX_PLAINTEXT + TT_RECORD_SUFFIX_LEN)];
};

/**
 * Sets up the loop for cfg: takes over the listeners (KW_FD_LISTENERS..), the
 * control channel and the signer channel. identities has one entry per server
 * (those of TLS servers filled in); cfg, mime, identities and access_log stay owned
 * by the caller and must outlive the worker. Returns 0 or a code with err filled in.
 */
int worker_init(struct worker *w, const struct kw_config *cfg, const struct mime_table *mime,
                const struct worker_identity *identities, struct access_log *access_log, char *err,
                size_t err_len);

/** Tells the master we are ready, then runs until told or forced to stop. Returns 0 or a code. */
int worker_run(struct worker *w);

/** Closes everything the worker holds (connections, listeners, channels). */
void worker_dispose(struct worker *w);

/** Adds io->fd to the epoll set with events. Returns 0 or KW_ERR_INTERNAL (logged). */
int worker_io_add(struct worker *w, struct worker_io *io, uint32_t events);

/** Changes io's events when they differ. Returns 0 or KW_ERR_INTERNAL (logged). */
int worker_io_set(struct worker *w, struct worker_io *io, uint32_t events);

/** Removes io->fd from the epoll set (before it is closed). */
void worker_io_del(struct worker *w, struct worker_io *io);

/**
 * io->fd, which has no duplicate, is about to be closed: close(2) itself takes it out
 * of the epoll set, so the epoll_ctl(2) of worker_io_del() is spared.
 */
void worker_io_forget(struct worker_io *io);

/** A connection closed: the worker may accept again, or exit after a graceful shutdown. */
void worker_conn_closed(struct worker *w);

/**
 * A connection went idle (keep-alive): a worker that stopped accepting at max_connections
 * accepts again, since it can now make room by closing an idle connection.
 */
void worker_conn_idle(struct worker *w);

#endif

/*
 * metrics.h - the counters every process publishes, in one shared memory region.
 *
 * The master creates the region once (a memfd, mapped MAP_SHARED) and hands it to
 * every child it starts (descriptor KW_FD_METRICS, with the child's slot number on
 * its command line). Each worker and each signer writes its own slot only, and any
 * worker reads the whole region to serve the status page: no lock anywhere.
 *
 *   header            magic, layout size
 *   master block      generation, workers, reloads, restarts, start time: the master writes
 *   signer slots      one per signer process slot: requests, signatures, refusals
 *   worker slots      one per worker process slot: requests, bytes, connections,
 *                     handshakes, the signer round-trip histogram
 *
 * Every value is a naturally aligned uint64_t, stored and loaded with relaxed atomics
 * (plain moves on x86-64 and arm64): a reader never sees a torn value. A worker slot
 * has one writer (a worker is one thread), which adds with a load and a store; a
 * signer slot is written by its signing threads, which add with an atomic add. Each
 * slot starts on its own cache line, so writers do not share lines.
 *
 * Counter semantics: a slot is never cleared while the master lives. A process that
 * replaces another in a slot (a respawn, or a worker of a newer generation taking the
 * slot of a retired one) goes on adding to the same counters, so the sums over every
 * slot only ever grow, across reloads and respawns alike. They start from zero only
 * when the master itself starts (keyward_start_time_seconds changes), which
 * Prometheus reads as a counter reset. Gauges (connections, in flight) describe the
 * live process: the master zeroes them when the process of a slot is gone.
 */
#ifndef KW_METRICS_H
#define KW_METRICS_H

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Worker and signer slots of a region: more than the live processes of a few generations. */
#define KW_METRICS_WORKER_SLOTS 512u
#define KW_METRICS_SIGNER_SLOTS 64u
#define KW_METRICS_CACHE_LINE   64

/** Transports, indexed by enum kw_tls (config.h); label values. */
#define KW_METRICS_TRANSPORTS 3u
extern const char *const kw_metrics_transport_names[KW_METRICS_TRANSPORTS];

/**
 * The HTTP versions requests are counted by: one X(identifier, label value, major,
 * minor) each, so that a new protocol is one more line (kw_metrics_protocol() finds it).
 */
#define KW_METRICS_PROTOCOLS(X)                                                                    \
	X(HTTP10, "HTTP/1.0", 1, 0)                                                                \
	X(HTTP11, "HTTP/1.1", 1, 1)                                                                \
	X(HTTP20, "HTTP/2.0", 2, 0)

enum kw_metrics_protocol {
#define KW_METRICS_PROTOCOL_ENUM(id, name, major, minor) KW_PROTO_##id,
	KW_METRICS_PROTOCOLS(KW_METRICS_PROTOCOL_ENUM)
#undef KW_METRICS_PROTOCOL_ENUM
	    KW_METRICS_N_PROTOCOLS
};
extern const char *const kw_metrics_protocol_names[KW_METRICS_N_PROTOCOLS];

/** Status classes 1xx..5xx; label values "1xx".."5xx". */
#define KW_METRICS_STATUS_CLASSES 5u

/** What a connection is doing, for the connection gauges. */
enum kw_conn_phase {
	KW_PHASE_HANDSHAKING, /* the transport's handshake */
	KW_PHASE_READING,     /* reading a request head or body */
	KW_PHASE_WRITING,     /* sending a response, or closing after it */
	KW_PHASE_IDLE,        /* keep-alive, waiting for the next request */
	KW_N_PHASES,
	KW_PHASE_NONE = KW_N_PHASES /* not counted (closed) */
};
extern const char *const kw_metrics_phase_names[KW_N_PHASES];

/** Why a handshake failed. */
enum kw_handshake_failure {
	KW_HSF_PROTOCOL,      /* the peer broke the protocol (alert, malformed message) */
	KW_HSF_SIGNER,        /* the signer refused, failed or did not answer in time */
	KW_HSF_TIMEOUT,       /* not complete within handshake_timeout */
	KW_HSF_CLIENT_CLOSED, /* the client closed the connection */
	KW_HSF_INTERNAL,      /* out of memory, a library failure */
	KW_HSF_ABORTED,       /* closed by the server: shutdown, or room made for others */
	KW_N_HSF
};
extern const char *const kw_metrics_hsf_names[KW_N_HSF];

/** Signing key types, by the scheme the key fixes (enum tt_scheme - 1). */
#define KW_METRICS_KEY_TYPES 3u
extern const char *const kw_metrics_key_type_names[KW_METRICS_KEY_TYPES];

/** Why the signer refused a request. */
enum kw_signer_refusal {
	KW_REFUSE_MALFORMED, /* undecodable, or a key or scheme that does not fit */
	KW_REFUSE_RATE,      /* over the channel's rate limit */
	KW_REFUSE_BUSY,      /* too many requests in flight on the channel */
	KW_N_REFUSALS
};
extern const char *const kw_metrics_refusal_names[KW_N_REFUSALS];

/** Upper bounds (seconds) of the signer round-trip histogram; +Inf follows. */
#define KW_METRICS_SIGN_BUCKETS 12u
extern const double kw_metrics_sign_bounds[KW_METRICS_SIGN_BUCKETS];

/** What the master writes. */
struct kw_metrics_master {
	alignas(KW_METRICS_CACHE_LINE) uint64_t start_time; /* Unix time the master started */
	uint64_t generation;                                /* id of the serving generation */
	uint64_t workers;                                   /* workers of the serving generation */
	uint64_t reloads;                                   /* reloads that took effect */
	uint64_t reload_failures; /* reloads refused (configuration) or failed to start */
	uint64_t signer_restarts; /* signer processes respawned after dying */
	uint64_t worker_restarts; /* worker processes respawned after dying */
	uint64_t worker_slots;    /* worker slots ever used: readers sum [0, worker_slots) */
	uint64_t signer_slots;    /* signer slots ever used */
};

/** What one signer process slot counts (written by its signing threads). */
struct kw_metrics_signer {
	alignas(KW_METRICS_CACHE_LINE) uint64_t requests; /* decoded requests */
	uint64_t signatures[KW_METRICS_KEY_TYPES];
	uint64_t sign_errors; /* signing itself failed */
	uint64_t refusals[KW_N_REFUSALS];
	uint64_t inflight; /* gauge: admitted, reply not sent yet */
};

/** What one worker process slot counts (written by that worker only). */
struct kw_metrics_worker {
	alignas(KW_METRICS_CACHE_LINE) uint64_t
	    requests[KW_METRICS_TRANSPORTS][KW_METRICS_N_PROTOCOLS][KW_METRICS_STATUS_CLASSES];
	uint64_t body_bytes[KW_METRICS_TRANSPORTS]; /* response body bytes sent */
	uint64_t accepted[KW_METRICS_TRANSPORTS];   /* connections accepted */
	uint64_t handshakes[KW_METRICS_TRANSPORTS]; /* completed */
	uint64_t resumed[KW_METRICS_TRANSPORTS];    /* completed by resuming a session */
	uint64_t handshake_failures[KW_METRICS_TRANSPORTS][KW_N_HSF];
	uint64_t conns[KW_METRICS_TRANSPORTS][KW_N_PHASES]; /* gauges */
	/* signer round trips as this worker saw them, from submission to the reply */
	uint64_t sign_buckets[KW_METRICS_SIGN_BUCKETS + 1]; /* not cumulative; last: +Inf */
	uint64_t sign_ns;                                   /* sum of the durations */
	uint64_t sign_timeouts;                             /* no reply within signer.timeout */
};

/** The whole region, as mapped by every process. */
struct kw_metrics_region {
	uint64_t magic;
	uint64_t size; /* sizeof(struct kw_metrics_region) of the build that made it */
	struct kw_metrics_master master;
	struct kw_metrics_signer signer[KW_METRICS_SIGNER_SLOTS];
	struct kw_metrics_worker worker[KW_METRICS_WORKER_SLOTS];
};

/** Reads a counter or gauge of any slot. */
static inline uint64_t
kw_metric_get(const uint64_t *v)
{
	return __atomic_load_n(v, __ATOMIC_RELAXED);
}

/** Stores v (the slot's only writer: the master block, a gauge being reset). */
static inline void
kw_metric_set(uint64_t *v, uint64_t value)
{
	__atomic_store_n(v, value, __ATOMIC_RELAXED);
}

/** Adds n to a value that only the calling thread writes (worker slots, master block). */
static inline void
kw_metric_add(uint64_t *v, uint64_t n)
{
	__atomic_store_n(v, __atomic_load_n(v, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/** Adds n (which may be (uint64_t)-1) to a value several threads write (signer slots). */
static inline void
kw_metric_add_shared(uint64_t *v, uint64_t n)
{
	__atomic_fetch_add(v, n, __ATOMIC_RELAXED);
}

/**
 * Creates a zeroed region in a new memfd and maps it. On success *fd (close-on-exec;
 * children get a copy at exec) and *out (kw_metrics_unmap) belong to the caller.
 * Returns 0 or a negative errno.
 */
int kw_metrics_create(int *fd, struct kw_metrics_region **out);

/**
 * Maps the region of fd (read-write, shared) after checking that it has this
 * build's layout. The caller may close fd afterwards. Returns 0 or a negative code
 * (KW_ERR_ARGUMENT: not a region of this layout).
 */
int kw_metrics_attach(int fd, struct kw_metrics_region **out);

/** Unmaps a region. NULL is fine. */
void kw_metrics_unmap(struct kw_metrics_region *r);

/** The slot of signer slot number slot (below KW_METRICS_SIGNER_SLOTS) or NULL. */
struct kw_metrics_signer *kw_metrics_signer_slot(struct kw_metrics_region *r, unsigned slot);

/** The slot of worker slot number slot (below KW_METRICS_WORKER_SLOTS) or NULL. */
struct kw_metrics_worker *kw_metrics_worker_slot(struct kw_metrics_region *r, unsigned slot);

/** Zeroes the gauges of a worker slot whose process is gone. */
void kw_metrics_worker_gone(struct kw_metrics_worker *w);

/** Zeroes the gauges of a signer slot whose process is gone. */
void kw_metrics_signer_gone(struct kw_metrics_signer *s);

/** The sums over every used slot, as the status page shows them. */
struct kw_metrics_totals {
	struct kw_metrics_master master;
	struct kw_metrics_signer signer;
	struct kw_metrics_worker worker;
};

/** Fills *t with the master block and the sums of the used signer and worker slots. */
void kw_metrics_sum(const struct kw_metrics_region *r, struct kw_metrics_totals *t);

/**
 * The protocol of HTTP version major.minor; a version missing from
 * KW_METRICS_PROTOCOLS counts as HTTP/1.1.
 */
enum kw_metrics_protocol kw_metrics_protocol(int major, int minor);

/** Index of the status class of status (100..599: 0..4) or -1 outside. */
int kw_metrics_status_class(int status);

/** Counts one signer round trip of ns nanoseconds in w's histogram. */
void kw_metrics_sign_observe(struct kw_metrics_worker *w, uint64_t ns);

#endif

/*
 * worker.h - the worker: the loop core (loop.h) with, on it, the inherited listeners
 * (listener.h), the connections (conn.h) over their transports (transport.h), the
 * control channel to the master and the signer client (signer_client.h). This file
 * only wires them together; single-threaded, nothing in it blocks.
 */
#ifndef KW_WORKER_H
#define KW_WORKER_H

#include <stdbool.h>
#include <stddef.h>

#include "access_log.h"
#include "config.h"
#include "conn.h"
#include "listener.h"
#include "loop.h"
#include "static_file.h"

struct sign_proxy;

/** A transport class as this worker runs it. */
struct worker_transport {
	bool started; /* some listener speaks it */
	void *state;  /* from its start() */
};

struct worker {
	struct loop loop;
	const struct kw_config *cfg;
	struct listeners listeners;
	struct conns conns;
	struct loop_io control;
	struct sign_proxy *signer;
	struct access_logs *access_log;
	struct worker_transport *transports; /* by index in transport_classes */
	struct kw_metrics_region *metrics;   /* the shared counters, NULL: none */

	bool shutting_down;
	struct kw_timer shutdown;
	struct kw_timer_queue q_shutdown;
	struct loop_task drained; /* checks whether a graceful shutdown is complete */
};

/**
 * Maps the shared counters the master handed over (KW_FD_METRICS, then closed) and
 * makes the connections and the signer client count into slot. Without that
 * descriptor, nothing is shared and the status page answers 503. Returns 0 or a code
 * with err filled in.
 */
int worker_attach_metrics(struct worker *w, unsigned slot, char *err, size_t err_len);

/**
 * Sets up the loop for cfg: takes over the listeners (KW_FD_LISTENERS..), the
 * control channel and the signer channel, and starts the transports the listeners
 * speak. cfg, mime and access_log stay owned by the caller and must outlive the
 * worker. Returns 0 or a code with err filled in (KW_ERR_ARGUMENT: the configuration
 * is at fault). worker_dispose() frees what was set up, even after a failure.
 */
int worker_init(struct worker *w, const struct kw_config *cfg, const struct mime_table *mime,
                struct access_logs *access_log, char *err, size_t err_len);

/** Tells the master we are ready, then runs until told or forced to stop. Returns 0 or a code. */
int worker_run(struct worker *w);

/** Closes everything the worker holds (connections, listeners, channels, transports). */
void worker_dispose(struct worker *w);

#endif

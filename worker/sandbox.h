/*
 * sandbox.h - the worker's confinement, entered once everything it loads at start-up
 * (configuration snapshot, MIME table, transports, listeners, channels, log
 * descriptors) is in hand and its privileges are dropped: a Landlock domain that
 * reads beneath the document roots only, then a seccomp allowlist on every thread.
 */
#ifndef KW_WORKER_SANDBOX_H
#define KW_WORKER_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "confine.h"
#include "config.h"

/** What worker_sandbox_enter() could enforce, for the log and the process title. */
struct worker_confinement {
	struct kw_landlock_plan landlock; /* abi 0: no Landlock on this kernel */
	size_t n_readable;                /* directories readable beneath */
};

/**
 * The directories a worker of cfg reads beneath after start-up: every location's
 * root, once each. *out (free) holds *n pointers into cfg. Returns 0 or KW_ERR_NOMEM.
 */
int worker_sandbox_readable(const struct kw_config *cfg, const char ***out, size_t *n);

/** Fills *out with what this kernel lets worker_sandbox_enter() enforce. */
void worker_sandbox_plan(struct worker_confinement *out);

/**
 * As *out planned (worker_sandbox_plan), enters the worker's Landlock domain (when the kernel has
 * Landlock: reading beneath worker_sandbox_readable() only, no TCP bind or connect, no signal or
 * abstract socket outside the domain, as far as the ABI goes), then installs the worker's seccomp
 * allowlist on every thread: a call outside it kills the process. Needs no_new_privs. Sets
 * out->n_readable. Returns 0, or a code with err set (the process must exit: it may be half-way).
 */
int worker_sandbox_enter(const struct kw_config *cfg, struct worker_confinement *out, char *err,
                         size_t err_len);

/**
 * Installs only the seccomp allowlist, as worker_sandbox_enter() does last; landlock
 * says whether a Landlock domain confines the files (without one, openat2, whose
 * flags seccomp cannot see, fails with ENOSYS). Returns 0 or KW_ERR_INTERNAL.
 */
int worker_sandbox_lock(bool landlock, char *err, size_t err_len);

#endif

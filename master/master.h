/*
 * master.h - the master's model: generations of children (one signer and N
 * workers sharing one configuration snapshot and one set of listeners), and the
 * state of the loop that spawns, reaps, respawns, reloads and stops them.
 *
 * Everything is owned by one struct master, passed down explicitly; nothing here
 * is global.
 */
#ifndef KW_MASTER_H
#define KW_MASTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "config.h"
#include "metrics.h"
#include "ticket_keys.h"

#define MASTER_READY_TIMEOUT_MS 10000ULL      /* a new generation must be READY by then */
#define MASTER_KILL_GRACE_MS    2000ULL       /* SIGTERM, then SIGKILL after this */
#define MASTER_DRAIN_SLACK_MS   1000ULL       /* past shutdown_timeout_ms before SIGKILL */
#define MASTER_BACKOFF_MIN_MS   100ULL        /* first respawn delay */
#define MASTER_BACKOFF_MAX_MS   30000ULL      /* respawn delay cap */
#define MASTER_GOOD_LIFE_MS     10000ULL      /* a child living this long resets its backoff */
#define MASTER_CONFIG_MAX       (1024 * 1024) /* largest configuration file read */

/* Listening sockets of one generation, one per cfg->listeners[i] (-1 once closed). */
struct listener_set {
	int *fds;
	size_t n;
};

enum child_role { CHILD_SIGNER, CHILD_WORKER };

struct generation;

/* One child slot: the process in it changes on respawn, the slot does not. */
struct child {
	enum child_role role;
	unsigned slot;
	struct generation *gen;
	pid_t pid;     /* 0 when no process runs in the slot */
	int ctl;       /* master's end of the control channel, -1 when closed */
	int epoll_fd;  /* the epoll set ctl is registered in */
	bool ready;    /* the current process said CTL_READY */
	bool stopping; /* told to stop: never respawned */
	bool failing;  /* died while serving and not ready since (systemd STATUS says so) */
	int metrics_slot; /* its slot of the shared counters, -1: none yet (stats.c) */
	unsigned long long started_ms;
	unsigned long long backoff_ms;    /* delay of the next respawn */
	unsigned long long respawn_at_ms; /* 0: no respawn scheduled */
	unsigned long long kill_at_ms;    /* 0: no SIGKILL scheduled */
};

enum gen_state {
	GEN_STARTING, /* spawned, waiting for every CTL_READY */
	GEN_SERVING,  /* the current generation: children are respawned */
	GEN_DRAINING, /* told to stop (or aborted): freed when no process is left */
};

struct generation {
	unsigned id;
	enum gen_state state;
	struct kw_config *cfg;
	int snapshot_fd;   /* sealed memfd with the configuration text */
	int error_log_fd;  /* -1 when error_log is "stderr" */
	int *access_log_fds; /* one per cfg->access_files, -1 where not open */
	struct listener_set listeners;
	struct child signer;
	struct child *workers;
	size_t n_workers;
	unsigned long long ready_deadline_ms;
	struct generation *next;
};

enum master_stop { MASTER_RUNNING, MASTER_GRACEFUL_STOP, MASTER_FAST_STOP };

/* The shared counters (metrics.h): the region, and which slots live processes hold. */
struct master_stats {
	struct kw_metrics_region *region; /* NULL: none (children then count nowhere) */
	int fd;                           /* handed to every child as KW_FD_METRICS */
	bool worker_held[KW_METRICS_WORKER_SLOTS];
	bool signer_held[KW_METRICS_SIGNER_SLOTS];
};

struct master {
	char *config_path; /* as given with -c; re-read on reload */
	char *signer_path; /* helper executables */
	char *worker_path;
	char **child_env; /* environment passed to children */
	char *pid_file;   /* written at start, removed at exit */
	int epoll_fd;
	int signal_fd;
	struct generation *gens;    /* every generation with a process left, newest first */
	struct generation *current; /* serving, NULL before the first one is ready */
	struct generation *pending; /* starting (at startup or during a reload), or NULL */
	unsigned last_gen_id;
	int log_fd; /* the master's own copy of its error log, -1: stderr */
	enum master_stop stop;
	bool reload_queued; /* a SIGHUP arrived during a reload */
	struct kw_ticket_keys tickets;          /* TLS 1.3 ticket keys, kept across reloads */
	unsigned long long tickets_rotate_at_ms; /* 0 before the first generation serves */
	struct master_stats stats;
	int exit_code;
};

/* main.c <-> master.c */

/**
 * Runs the master in the foreground with the configuration at config_path (the
 * caller keeps it alive). argc/argv are used for the process title. Returns the
 * process exit code: 0 after a requested stop, 1 when startup failed.
 */
int master_run(const char *config_path, int argc, char **argv);

/* check.c */

/**
 * `keyward -t`: checks the configuration at path as a start would, without the
 * master reading a key: the file, the certificates and chains, the log files
 * (opened as at start), the descriptor limit (warnings only), and every key, loaded
 * by keyward-signer in check mode. Prints what is wrong to stderr; returns the
 * process exit code (0: ok, 1: not). With dump (`keyward -T`), a configuration that
 * checks is then printed resolved on stdout (config_print), and the "is ok" line goes
 * to stderr so that stdout holds the configuration alone.
 */
int master_check(const char *path, bool dump);

/* config_print.c */

/**
 * Writes cfg to out as libconfig text that loads back to the same configuration:
 * every key with its value, defaults filled in, counts resolved, paths absolute,
 * durations in milliseconds, sizes in bytes. Returns 0, or -EIO when out failed.
 */
int config_print(FILE *out, const struct kw_config *cfg);

/* nofile.c */

enum nofile_result { NOFILE_FITS, NOFILE_RAISED, NOFILE_SHORT };

/**
 * Descriptors one worker of cfg may need: 2 x http.max_connections (a socket and an
 * open file each), its listeners and KW_NOFILE_RESERVE (proc.h).
 */
unsigned long long nofile_needed(const struct kw_config *cfg);

/**
 * Raises this process's RLIMIT_NOFILE (the soft limit up to the hard one, and the
 * hard one too when allowed) to nofile_needed(cfg), so that the children it starts
 * inherit it. Returns NOFILE_FITS (nothing to do), NOFILE_RAISED (msg says from what
 * to what), or NOFILE_SHORT when the limit, or the system's fs.file-max for
 * every worker together, cannot fit: msg then gives the figures and the knobs.
 */
int nofile_fit(const struct kw_config *cfg, char *msg, size_t msg_len);

/* tickets.c */

/**
 * Makes the first TLS 1.3 session ticket key. Returns 0 or a negative code (err
 * says why).
 */
int tickets_init(struct master *m, char *err, size_t err_len);

/** Gives worker w the ticket keys (when its configuration issues tickets). */
void tickets_send(struct master *m, struct child *w);

/**
 * Rotates the keys when their period (the current configuration's
 * tls13.ticket_rotation) is over and gives them to every live worker. Returns the
 * time of the next rotation, in kw_now_ms() milliseconds.
 */
unsigned long long tickets_rotate_due(struct master *m, unsigned long long now);

/** Wipes the keys, at exit. */
void tickets_wipe(struct master *m);

/* stats.c */

/**
 * Creates the shared counter region and records the start time. Returns 0 or a
 * negative code (err says why).
 */
int stats_init(struct master *m, char *err, size_t err_len);

/** Unmaps and closes the region, at exit. */
void stats_free(struct master *m);

/**
 * Gives c a slot of its role when it has none (its first start): a free one, whose
 * counters the new process goes on adding to. When every slot is held, c keeps none
 * (logged) and its process counts nowhere.
 */
void stats_take_slot(struct master *m, struct child *c);

/** The process of c is gone: its gauges go back to zero; a restart is counted when respawn. */
void stats_child_gone(struct master *m, struct child *c, bool respawn);

/** Gives the slots of gen's children back (gen has no process left). */
void stats_release(struct master *m, struct generation *gen);

/** gen serves now; reload: it replaced another generation. */
void stats_commit(struct master *m, const struct generation *gen, bool reload);

/** A reload was refused or its generation failed to start. */
void stats_reload_failed(struct master *m);

/* snapshot.c */

/**
 * Reads the configuration file at path (at most MASTER_CONFIG_MAX bytes) and checks
 * it. On success *text (free) and *cfg (kw_config_free) belong to the caller. On
 * failure returns a negative code with "FILE:LINE: reason" or "FILE: reason" in err.
 */
int snapshot_load(const char *path, char **text, struct kw_config **cfg, char *err, size_t err_len);

/**
 * Puts text and the certificate files cfg captured (kw_config_snapshot_encode) in a
 * sealed memfd (no write, grow, shrink, or further sealing), which children read
 * with kw_proc_read_config(). Returns the fd, or a negative code with a message in
 * err.
 */
int snapshot_seal(const struct kw_config *cfg, const char *text, char *err, size_t err_len);

/* pidfile.c */

/**
 * Reads the pid file and checks that a keyward master runs under that pid.
 * Returns the pid (> 0), or 0 when none runs (the file is missing, unreadable,
 * malformed or stale; err says which).
 */
pid_t pidfile_live_master(const char *path, char *err, size_t err_len);

/**
 * Writes the current pid to path, refusing when another live master holds it (a
 * stale file is replaced). When path lies directly in KW_RUNSTATEDIR and that
 * directory is missing, creates it (mode 0755). Returns 0 or a negative code with a
 * message in err.
 */
int pidfile_write(const char *path, char *err, size_t err_len);

/** Removes path if it still holds the current pid. */
void pidfile_remove(const char *path);

/* listeners.c */

/**
 * Opens one listening socket per cfg->listeners[i] into out: a socket of prev
 * (listening with prev_cfg) bound to the same configured address is duplicated,
 * the others are bound (SO_REUSEADDR, IPV6_V6ONLY, backlog 4096, non-blocking,
 * close-on-exec) and logged. prev may be NULL. On failure nothing stays open and
 * err says "FILE:LINE: cannot listen on ADDRESS: reason".
 */
int listeners_open(const struct kw_config *cfg, const struct kw_config *prev_cfg,
                   const struct listener_set *prev, struct listener_set *out, char *err,
                   size_t err_len);

/** Closes every socket of set and frees it; the set is empty after. */
void listeners_close(struct listener_set *set);

/* children.c */

/**
 * Finds the helper executables (next to the master, then in the build tree, then
 * in KW_LIBEXECDIR) and builds the children's environment. Returns 0 or a
 * negative code with a message in err.
 */
int children_prepare(struct master *m, char *err, size_t err_len);

/** Frees what children_prepare() allocated. */
void children_release(struct master *m);

/**
 * Starts the process of slot c with the descriptor layout of common/proc.h and
 * registers its control channel. A worker gets a fresh channel to its
 * generation's signer; a signer gets fresh channels to every live worker of its
 * generation. Returns 0 or a negative code (logged).
 */
int child_spawn(struct master *m, struct child *c);

/**
 * For `keyward -t`: runs the signer in check mode on the snapshot of gen (it loads
 * and checks every key, printing what is wrong to the inherited stderr) and waits
 * for it. Returns 0 when it exits 0, else a negative code.
 */
int child_run_check(const struct master *m, const struct generation *gen);

/** Sends sig to the process of c (if any) and schedules SIGKILL at kill_at_ms (0: never). */
void child_kill(struct child *c, int sig, unsigned long long kill_at_ms);

/**
 * Sends one control message; returns 0 or a negative errno (logged). The caller
 * keeps its descriptors.
 */
int child_send(struct child *c, unsigned type, unsigned arg, const int *fds, size_t n_fds);

/**
 * Unregisters and closes the master's end of the control channel of c (no-op when
 * closed): no event can name c afterwards, even while a forked child still holds a
 * copy of the descriptor.
 */
void child_close_ctl(struct child *c);

/** "signer" or "worker N", for logs, in buf. Returns buf. */
const char *child_name(const struct child *c, char *buf, size_t len);

/** Describes a wait status ("exited with status 1", "killed by signal 9") in buf. */
const char *child_describe_status(int status, char *buf, size_t len);

/* generation.c */

/**
 * Builds generation id from a checked configuration (takes cfg, freed on
 * failure; text is copied into the snapshot): snapshot and log files. Spawns
 * nothing. Returns 0 or a negative code with a message in err.
 */
int gen_create(unsigned id, struct kw_config *cfg, const char *text, struct generation **out,
               char *err, size_t err_len);

/**
 * Opens the listeners of gen, reusing those of prev (NULL at startup) that listen
 * on an unchanged address. Returns 0 or a negative code with a message in err.
 */
int gen_listen(struct generation *gen, const struct generation *prev, char *err, size_t err_len);

/**
 * Spawns the signer and the workers of gen and arms its ready deadline. Returns 0
 * or a negative code with a message in err (processes already started are left
 * to the caller to stop).
 */
int gen_start(struct master *m, struct generation *gen, char *err, size_t err_len);

/** True when the signer and every worker of gen said CTL_READY. */
bool gen_all_ready(const struct generation *gen);

/** How many children gen has: its signer and its workers. */
size_t gen_n_children(const struct generation *gen);

/** Child i of gen, i below gen_n_children(gen): 0 is the signer, then the workers in order. */
struct child *gen_child(struct generation *gen, size_t i);

/**
 * Respawn bookkeeping for c, whose process died at now while its generation serves:
 * one that had lived MASTER_GOOD_LIFE_MS or longer starts the backoff over from
 * MASTER_BACKOFF_MIN_MS; the respawn is due after the current backoff, which then
 * doubles up to MASTER_BACKOFF_MAX_MS. Returns the delay until the respawn.
 */
unsigned long long child_schedule_respawn(struct child *c, unsigned long long now);

/** Number of processes of gen still running. */
size_t gen_live_processes(const struct generation *gen);

/**
 * Graceful stop: CTL_SHUTDOWN to every worker (SIGKILL after the shutdown timeout),
 * no respawn; the signer is stopped when the last worker is gone. The master's
 * listener copies are closed.
 */
void gen_drain(struct generation *gen);

/** Fast stop: SIGTERM to every process (SIGKILL after the grace period), no respawn. */
void gen_terminate(struct generation *gen);

/** Called once a worker of a draining generation is gone: stops the signer after the last. */
void gen_worker_gone(struct generation *gen);

/**
 * Reopens the log files of gen and sends them to its children with
 * CTL_REOPEN_LOGS (the error log and the first access log) and
 * CTL_REOPEN_ACCESS_LOG (each other access log). A file that cannot be opened is logged and the old
 * one kept: then returns KW_ERR_ARGUMENT (after sending), else 0.
 */
int gen_reopen_logs(struct generation *gen);

/** Closes everything gen holds and frees it (its processes must be gone). */
void gen_free(struct generation *gen);

#endif

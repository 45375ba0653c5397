/*
 * proc.h - process plumbing shared by every role: process titles, privilege
 * drops, descriptor hygiene and the fixed descriptor numbers children start with.
 */
#ifndef KW_PROC_H
#define KW_PROC_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

/* Descriptors every child receives from the master at exec. */
#define KW_FD_CONTROL 3        /* control channel to the master (control.h) */
#define KW_FD_CONFIG 4         /* sealed memfd with the configuration text */
#define KW_FD_SIGNER 5         /* worker only: channel to the signer */
#define KW_FD_ERROR_LOG 6      /* error log (when it is stderr, the child dups stderr here) */
#define KW_FD_ACCESS_LOG 7     /* worker only: access log (absent when "off") */
#define KW_FD_METRICS 8        /* the shared counters (metrics.h) */
#define KW_FD_LISTENERS 9      /* worker only: listeners, in kw_config.listeners order */

/**
 * Worker only: the descriptor of access log file i (kw_config.access_files order):
 * KW_FD_ACCESS_LOG for the first, the others right after the n_listeners listeners.
 */
int kw_fd_access_log(size_t n_listeners, size_t i);

/**
 * Descriptors a worker uses besides its connections (a socket and at most one open
 * file each) and its listeners: logs, channels, the loop. The master raises
 * RLIMIT_NOFILE with it in mind; a worker caps its connections by it.
 */
#define KW_NOFILE_RESERVE 64

/** Largest configuration snapshot (its text and the certificates it carries) a child reads. */
#define KW_CONFIG_SNAPSHOT_MAX (16u * 1024u * 1024u)

/** Exit code of a child that found its configuration unusable: not respawned. */
#define KW_EXIT_FATAL_CONFIG 78
/** Exit code of a child that failed for any other reason: respawned. */
#define KW_EXIT_RUNTIME 1

/**
 * Sets the process title to title (e.g. "keyward: worker"): prctl(PR_SET_NAME) and
 * argv overwritten so that ps -o args shows the same text. Call once, early, before
 * parsing arguments: the argument strings are first copied to the heap and argv[]
 * repointed to the copies (so argv stays usable), but any pointer taken into the
 * original strings before the call (e.g. an optarg) then points at the title.
 */
void kw_proc_set_title(int argc, char **argv, const char *title);

/**
 * When running as root, switches to user (setgroups, setresgid, setresuid) and
 * checks that root cannot be regained. Does nothing when not root. Returns 0 or a
 * negative code, with a message in err.
 */
int kw_proc_drop_privileges(const char *user, char *err, size_t err_len);

/**
 * Reads a whole descriptor (from offset 0, at most max_len bytes) into a heap buffer
 * with a NUL after its end; stores the length read in *len_out when it is not NULL.
 * NULL on failure.
 */
char *kw_proc_read_fd(int fd, size_t max_len, size_t *len_out);

struct kw_config;

/**
 * A child's command line: --config PATH [--slot N] [--generation G] [--metrics-slot M]
 * [--check] [--help].
 */
struct kw_child_options {
	const char *config;     /* the file the configuration snapshot came from */
	const char *slot;       /* worker slot (workers only), for logs */
	const char *generation; /* configuration generation, for logs, or NULL */
	const char *metrics_slot; /* slot of the shared counters (metrics.h), or NULL */
	bool check;             /* signer only: check the keys and exit (keyward -t) */
};

/**
 * Parses a child's command line into *opt; --slot is required when want_slot, else
 * refused (and --check is refused when want_slot). usage prints the child's help: to stdout for --help (then exits 0), to
 * stderr on a bad command line. Returns 0, or KW_EXIT_FATAL_CONFIG (the master must
 * not respawn a child it started wrongly).
 */
int kw_proc_child_options(int argc, char **argv, bool want_slot, void (*usage)(FILE *out),
                          struct kw_child_options *opt);

/**
 * For a child: asks for SIGTERM when the master dies (PR_SET_PDEATHSIG) and checks
 * that the master (KEYWARD_MASTER_PID, else any parent but init) is still there.
 * Returns 0, or -1 with the reason logged: the child should exit.
 */
int kw_proc_follow_master(void);

/**
 * The opening of a child's main(): titles the process "keyward: ROLE" (argv then
 * points to copies), parses its command line (kw_proc_child_options), logs as ROLE
 * to KW_FD_ERROR_LOG (a copy of stderr when the master passed no log file, so that
 * CTL_REOPEN_LOGS replaces it in place and the number is never reused) and follows
 * the master (kw_proc_follow_master); with --check, it stops after the command line.
 * Returns 0, or the code the child exits with.
 */
int kw_proc_child_start(int argc, char **argv, const char *role, bool want_slot,
                        void (*usage)(FILE *out), struct kw_child_options *opt);

/**
 * For a child: reads the configuration snapshot on KW_FD_CONFIG (then closes it),
 * parses it with path naming the original file (kw_config_load_snapshot: no
 * certificate file is read), and applies its log_level. Returns
 * the configuration (caller frees), or NULL with the reason logged.
 */
struct kw_config *kw_proc_read_config(const char *path);

/** CLOCK_MONOTONIC in nanoseconds, for durations. */
unsigned long long kw_now_ns(void);

/** Clock for timeouts: CLOCK_MONOTONIC in milliseconds. */
unsigned long long kw_now_ms(void);

#endif

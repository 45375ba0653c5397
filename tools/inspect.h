/*
 * inspect.h - one inspection of a running keyward: the processes found, what the
 * memory scan found in each, and the verdict on each isolation promise.
 *
 * keyward-inspect.c gathers the facts, inspect_promises.c judges them and
 * inspect_report.c prints them (a table, or JSON).
 */
#ifndef KW_INSPECT_H
#define KW_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "inspect_frag.h"
#include "inspect_proc.h"
#include "inspect_scan.h"

/** A growable list of heap strings. */
struct msg_list {
	char **items;
	size_t n;
	bool nomem; /* a line was lost for want of memory */
};

/** One configured private key file. */
struct inspect_key {
	const char *path; /* borrowed from the config or argv */
	bool have_inode;  /* dev and ino are valid (stat worked) */
	dev_t dev;
	ino_t ino;
};

/** One process and its scan. */
struct inspect_entry {
	struct proc_info info;
	bool scanned;         /* scan holds a result */
	char scan_error[256]; /* why the scan failed, when one was tried and !scanned */
	struct scan_result scan;
};

struct inspection {
	pid_t master;
	long kernel_landlock; /* the Landlock ABI of the kernel inspect runs on, 0: none */
	struct inspect_key *keys;
	size_t n_keys;
	bool keys_known;             /* -c or --key was given: key promises can be checked */
	struct frag_set *frags;      /* NULL when no scan is made */
	const char *scan_skipped;    /* why no scan is made, or NULL */
	struct inspect_entry *procs; /* the master first, then its children by pid */
	size_t n_procs;
	struct msg_list failures;  /* one line per broken promise, without "FAIL: " */
	struct msg_list unchecked; /* promises that could not be checked, and why */
};

/** Appends a formatted line to list; when out of memory, sets list->nomem instead. */
void msg_add(struct msg_list *list, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Frees every line of list. */
void msg_list_dispose(struct msg_list *list);

/** The configured key that an open or mapped file is (same inode or same path), or NULL. */
const struct inspect_key *inspection_key_for_file(const struct inspection *in,
                                                  const struct proc_file *file);

/**
 * Judges every promise and fills in->failures and in->unchecked:
 * there is a signer; each signer is seccomp-filtered (mode 2 in every thread),
 * not dumpable, without effective capabilities, with one set of credentials;
 * each worker runs neither as root nor as a signer's user (no uid in common),
 * has no effective capabilities and one set of credentials, has a seccomp filter of
 * its own in every thread and, when kernel_landlock is not 0, says in its title that
 * Landlock confines it; no process but a
 * signer holds a key file open or mapped, or has key fragments in its memory.
 * Returns 0 or KW_ERR_NOMEM.
 */
int inspection_check(struct inspection *in);

/**
 * The exit status of a judged inspection: 1 when a promise failed, else 2 when one
 * could not be checked, else 0.
 */
int inspection_exit_code(const struct inspection *in);

/** Prints the readable report on stdout: the table, details, FAIL and UNCHECKED lines. */
void report_table(const struct inspection *in);

/**
 * Prints the report as one JSON object on stdout, and the FAIL and UNCHECKED lines
 * on stderr.
 */
void report_json(const struct inspection *in);

#endif

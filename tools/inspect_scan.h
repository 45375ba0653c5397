/*
 * inspect_scan.h - reads another process's memory (/proc/PID/smaps, pagemap and
 * mem) and looks for private-key fragments in it. Needs the right to
 * ptrace the process (root, in practice).
 */
#ifndef KW_INSPECT_SCAN_H
#define KW_INSPECT_SCAN_H

#include <stdint.h>
#include <sys/types.h>

#include "inspect_frag.h"

/** What one scan found. */
struct scan_result {
	uint64_t bytes_read;       /* bytes of memory read and searched */
	uint64_t bytes_unreadable; /* bytes of readable mappings whose reads failed (EIO) */
	uint64_t bytes_untouched;  /* bytes never resident nor swapped, so not read */
	size_t regions;            /* mappings searched */
	size_t hits;               /* window occurrences found, all sources together */
	size_t *by_source; /* occurrences per fragment source; owned, see scan_result_dispose */
};

/**
 * Searches every readable mapping of pid except [vvar], [vvar_vclock] and
 * [vsyscall] for the windows of set, once through, skipping pages the process never
 * touched (see inspect_scan.c). Pages that cannot be read (EIO, EFAULT: e.g. a file
 * mapping past the end of its file) are skipped and counted in bytes_unreadable. Returns 0 with
 * *res filled (dispose it), or a negative code with the reason in err when the maps or the memory
 * of pid cannot be opened.
 */
int scan_process(const struct frag_set *set, pid_t pid, struct scan_result *res, char *err,
                 size_t err_len);

/** Frees what a scan_result owns and zeroes it. */
void scan_result_dispose(struct scan_result *res);

#endif

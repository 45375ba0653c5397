/*
 * sandbox.c - the worker's confinement: Landlock reading beneath the document roots,
 * then a seccomp allowlist of the calls a serving worker makes (found by tracing the
 * integration suite's workers after start-up, each entry with its reason). Everything
 * else kills the process: no execve, no new socket, no connect, no ptrace, no mount,
 * no bpf, no process_vm_*, no new process or thread. The master respawns a killed
 * worker; its siblings serve on.
 */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "err.h"
#include "util.h"

/* Any open that could create, truncate or write: openat allows none of them. */
#define OPEN_WRITE_FLAGS (O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND)

static const struct kw_syscall_rule allowlist[] = {
    /* the loop, the listeners it holds and the connections they accept */
    KW_ALLOW("epoll_wait", "the loop"),
    KW_ALLOW("epoll_pwait", "the loop"),
    KW_ALLOW("epoll_ctl", "connections come and go"),
    KW_ALLOW("accept4", "on the listeners the master bound (no socket can be made to listen)"),
    KW_ALLOW("recvfrom", "requests, TLS records"),
    KW_ALLOW("sendto", "responses, TLS records (MSG_NOSIGNAL)"),
    KW_ALLOW("read", "requests, the ticket keys' memfd"),
    KW_ALLOW("write", "the error and access logs (descriptors from the master)"),
    KW_ALLOW("shutdown", "closing a connection's sending side"),
    KW_ALLOW("close", "connections and files"),

    /* the master's control channel and the signer's channel */
    KW_ALLOW("recvmsg", "control messages, with descriptors (signer channel, logs, ticket keys)"),
    KW_ALLOW("sendmsg", "the ready message; responses gathered from several pieces"),
    KW_ALLOW("recvmmsg", "signatures from the signer, batched"),
    KW_ALLOW("sendmmsg", "signing requests, batched"),
    KW_ALLOW("dup3", "reopened logs onto their fixed descriptors"),
    KW_ALLOW("fcntl", "descriptor flags"),
    KW_ALLOW("pread64", "ticket keys from the master's memfd"),
    KW_ALLOW("pwrite64", "wiping the ticket keys' memfd after reading"),

    /* files under the roots (Landlock says which; openat never writes) */
    KW_ALLOW_IF("openat", 2, OPEN_WRITE_FLAGS, 0, "read-only opens beneath a root"),
    KW_ALLOW("newfstatat", "fstat of an open file, stat of a directory entry (listings)"),
    KW_ALLOW("fstat", "fstat of an open file"),
    KW_ALLOW("getdents64", "directory listings"),
    KW_ALLOW("lseek", "file offsets"),
    KW_ALLOW("preadv", "file bodies into the sending buffer"),
    KW_ALLOW("sendfile", "file bodies straight to a plain socket"),
    KW_ALLOW("readlink", "/proc/self/fd: where a symlink beneath a root leads"),
    KW_ALLOW("readlinkat", "the same, where readlink is readlinkat"),

    /* memory for malloc, libssl, zlib and brotli, never executable */
    KW_ALLOW("brk", "malloc"),
    KW_ALLOW_IF("mmap", 2, PROT_EXEC, 0, "malloc and large buffers; never executable"),
    KW_ALLOW_IF("mprotect", 2, PROT_EXEC, 0, "malloc arenas; never executable"),
    KW_ALLOW("mremap", "growing buffers"),
    KW_ALLOW("munmap", "freeing buffers"),
    KW_ALLOW("madvise", "malloc trimming"),

    /* time, randomness, locks, the log's prefix */
    KW_ALLOW("clock_gettime", "the loop's clock, timeouts, log stamps"),
    KW_ALLOW("gettimeofday", "log stamps"),
    KW_ALLOW("getrandom", "libssl: key shares, ticket nonces"),
    KW_ALLOW("futex", "libssl's locks"),
    KW_ALLOW("getpid", "the error log's prefix"),

    /* signals and leaving */
    KW_ALLOW("rt_sigprocmask", "libc around signal-sensitive calls"),
    KW_ALLOW("rt_sigreturn", "signal delivery"),
    KW_ALLOW("restart_syscall", "an interrupted wait"),
    KW_ALLOW("exit", "exit"),
    KW_ALLOW("exit_group", "exit"),
#if defined(__SANITIZE_ADDRESS__)
    KW_ALLOW("sigaltstack", "the AddressSanitizer runtime, at exit"),
#endif
};

/*
 * openat2's flags are in a structure seccomp cannot read. Under Landlock they need no
 * check: nothing outside the roots opens, nothing opens for writing. Without Landlock
 * it fails with ENOSYS, as on a kernel without it, and the path code falls back to
 * openat (O_PATH to resolve a symlink, then its walk), whose flags the table checks.
 */
static const struct kw_syscall_rule with_landlock[] = {
    KW_ALLOW("openat2", "opening beneath a root (RESOLVE_BENEATH)"),
};
static const struct kw_syscall_rule without_landlock[] = {
    KW_FAIL("openat2", ENOSYS, "no Landlock: back to the openat walk, whose flags are checked"),
};

int
worker_sandbox_readable(const struct kw_config *cfg, const char ***out, size_t *n)
{
	size_t max = 0, used = 0;
	const char **dirs;

	for (size_t s = 0; s < cfg->n_servers; s++)
		max += cfg->servers[s].n_locations;
	dirs = calloc(max ? max : 1, sizeof(*dirs));
	if (!dirs)
		return KW_ERR_NOMEM;
	for (size_t s = 0; s < cfg->n_servers; s++) {
		for (size_t l = 0; l < cfg->servers[s].n_locations; l++) {
			const char *root = cfg->servers[s].locations[l].root;
			bool seen = root == NULL; /* a status location reads no file */
			for (size_t i = 0; i < used && !seen; i++)
				seen = strcmp(dirs[i], root) == 0;
			if (!seen)
				dirs[used++] = root;
		}
	}
	*out = dirs;
	*n = used;
	return 0;
}

int
worker_sandbox_lock(bool landlock, char *err, size_t err_len)
{
	const struct kw_syscall_table tables[] = {
	    {allowlist, countof(allowlist)},
	    landlock ? (struct kw_syscall_table){with_landlock, countof(with_landlock)}
	             : (struct kw_syscall_table){without_landlock, countof(without_landlock)},
	};
	return kw_seccomp_install(tables, countof(tables), err, err_len);
}

void
worker_sandbox_plan(struct worker_confinement *out)
{
	*out = (struct worker_confinement){0};
	kw_landlock_plan(kw_landlock_abi(), &out->landlock);
}

int
worker_sandbox_enter(const struct kw_config *cfg, struct worker_confinement *out, char *err,
                     size_t err_len)
{
	const char **dirs;
	int rc;

	rc = worker_sandbox_readable(cfg, &dirs, &out->n_readable);
	if (rc) {
		snprintf(err, err_len, "out of memory");
		return rc;
	}
	rc = kw_landlock_enter(&out->landlock, dirs, out->n_readable, err, err_len);
	free(dirs);
	if (rc == 0)
		rc = worker_sandbox_lock(out->landlock.abi > 0, err, err_len);
	return rc;
}

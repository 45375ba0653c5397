/*
 * sandbox.h - the signer's isolation, in two steps around the start of its threads.
 *
 * The signer loads its keys first (sandbox_enter must come after: nothing can be
 * opened afterwards), then enters the sandbox, starts its signing threads (which
 * inherit everything but the seccomp filter), then locks it.
 */
#ifndef KW_SIGNER_SANDBOX_H
#define KW_SIGNER_SANDBOX_H

#include <stddef.h>

/**
 * Call while single-threaded. When running as root: resolves user, moves the root
 * directory to a private, empty and already deleted directory (made with mkdtemp
 * under /tmp, entered, removed, then chroot(".")), empties the capability bounding
 * set and switches to user for good (setgroups, setresgid, setresuid; root cannot be
 * regained). Always: no_new_privs,
 * not dumpable, no core files, and a Landlock domain that handles every filesystem
 * access (and TCP and scoping where the kernel has them) with no rule allowing any,
 * when the kernel has Landlock (logged when not).
 * Returns 0; KW_ERR_ARGUMENT for an unknown user or one that is root; KW_ERR_INTERNAL
 * when a step fails. On failure err says which step and why, and the process must
 * exit: it may be half-way.
 */
int signer_sandbox_enter(const char *user, char *err, size_t err_len);

/**
 * Call once every thread is started. Locks the process's memory (mlockall, best
 * effort: logged when refused, skipped under AddressSanitizer) and installs the
 * seccomp allowlist on every thread (TSYNC): any system call outside it kills the
 * process. Returns 0, or KW_ERR_INTERNAL with err set when no filter was installed.
 */
int signer_sandbox_lock(char *err, size_t err_len);

#endif

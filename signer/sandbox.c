/*
 * sandbox.c - the signer's isolation: an empty root, its own user, no new
 * privileges, no dumps, a Landlock domain that allows no filesystem access, locked
 * memory, and a seccomp allowlist of exactly the system calls the serving loop and
 * the signing threads make. Everything else kills the process.
 *
 * In an AddressSanitizer build, run the signer with ASAN_OPTIONS=detect_leaks=0:
 * LeakSanitizer's exit-time scan needs ptrace and threads, which the filter forbids.
 */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "confine.h"
#include "err.h"
#include "log.h"
#include "util.h"

#define EMPTY_ROOT_TEMPLATE "/tmp/keyward-signer.XXXXXX"

/*
 * The allowlist: every call not listed kills the process. A rule with an argument
 * allows the call only when (argument & mask) == value.
 */
static const struct kw_syscall_rule allowlist[] = {
    KW_ALLOW("epoll_wait", "the serving loop"),
    KW_ALLOW("epoll_pwait", "the serving loop"),
    KW_ALLOW("epoll_ctl", "worker channels come and go"),
    KW_ALLOW("recvmmsg", "worker channels: the requests waiting, in one call"),
    KW_ALLOW("recvmsg", "the control channel, with descriptors"),
    KW_ALLOW("sendmmsg", "worker channels: the replies to one read, in one call"),
    KW_ALLOW("sendmsg", "the control channel"),
    KW_ALLOW("shutdown", "a worker's channel closed on a protocol breach"),
    KW_ALLOW("read", "signalfd and channel reads"),
    KW_ALLOW("close", "channels"),
    KW_ALLOW("dup3", "CTL_REOPEN_LOGS: the new error log onto its fixed descriptor"),

    KW_ALLOW("write", "the error log"),
    KW_ALLOW("getpid", "the error log's prefix"),
    KW_ALLOW("clock_gettime", "the error log's time, timeouts"),
    KW_ALLOW("gettimeofday", "the error log's time"),
    KW_ALLOW("fstat", "stdio on the error log"),
    KW_ALLOW_IF("newfstatat", 3, AT_EMPTY_PATH, AT_EMPTY_PATH, "fstat() of a descriptor only"),

    KW_ALLOW("futex", "signing threads: locks"),
    KW_ALLOW("sched_yield", "signing threads: locks"),
    KW_ALLOW("getrandom", "signatures: nonces and blinding"),
    KW_ALLOW("brk", "malloc"),
    KW_ALLOW_IF("mmap", 2, PROT_EXEC, 0, "malloc; never executable"),
    KW_ALLOW_IF("mprotect", 2, PROT_EXEC, 0, "malloc arenas; never executable"),
    KW_ALLOW("mremap", "malloc"),
    KW_ALLOW("munmap", "malloc"),
    KW_ALLOW("madvise", "malloc"),

    KW_ALLOW("rt_sigprocmask", "thread exit"),
    KW_ALLOW("rt_sigreturn", "signal delivery"),
    KW_ALLOW("restart_syscall", "an interrupted wait"),
    KW_ALLOW("exit", "thread exit"),
    KW_ALLOW("exit_group", "process exit"),
#if defined(__SANITIZE_ADDRESS__)
    KW_ALLOW("sigaltstack", "the AddressSanitizer runtime, at exit"),
#endif
};

static int
chroot_to_empty_dir(char *err, size_t err_len)
{
	char dir[] = EMPTY_ROOT_TEMPLATE;

	if (!mkdtemp(dir)) {
		snprintf(err, err_len, "mkdtemp(%s): %s", EMPTY_ROOT_TEMPLATE, strerror(errno));
		return KW_ERR_INTERNAL;
	}
	if (chdir(dir) < 0 || rmdir(dir) < 0 || chroot(".") < 0 || chdir("/") < 0) {
		snprintf(err, err_len, "chroot to the empty directory %s: %s", dir,
		         strerror(errno));
		rmdir(dir);
		return KW_ERR_INTERNAL;
	}
	return 0;
}

/* Empties the capability bounding set, so that nothing executed later could hold one. */
static int
drop_bounding_set(char *err, size_t err_len)
{
	int in_set;
	for (int cap = 0; (in_set = prctl(PR_CAPBSET_READ, cap, 0, 0, 0)) >= 0; cap++) {
		if (in_set == 1 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			snprintf(err, err_len, "dropping capability %d from the bounding set: %s",
			         cap, strerror(errno));
			return KW_ERR_INTERNAL;
		}
	}
	return 0;
}

/* Resolves user, takes the empty root, then switches to user for good. */
static int
switch_user(const char *user, char *err, size_t err_len)
{
	struct passwd *pw;
	uid_t uid;
	gid_t gid;
	int rc;

	errno = 0;
	pw = getpwnam(user);
	if (!pw || pw->pw_uid == 0) {
		snprintf(err, err_len, "signer.user \"%s\": %s", user,
		         pw      ? "is root"
		         : errno ? strerror(errno)
		                 : "no such user");
		return KW_ERR_ARGUMENT;
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	rc = chroot_to_empty_dir(err, err_len);
	if (rc == 0)
		rc = drop_bounding_set(err, err_len);
	if (rc)
		return rc;
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0) {
		snprintf(err, err_len, "switching to user \"%s\" (%u:%u): %s", user, (unsigned)uid,
		         (unsigned)gid, strerror(errno));
		return KW_ERR_INTERNAL;
	}
	if (setuid(0) == 0 || setgid(0) == 0) {
		snprintf(err, err_len, "root could be regained after switching to \"%s\"", user);
		return KW_ERR_INTERNAL;
	}
	return 0;
}

/* Restricts the calling thread (and threads it creates) to no filesystem access. */
static int
enter_landlock(char *err, size_t err_len)
{
	struct kw_landlock_plan plan;
	int rc;

	kw_landlock_plan(kw_landlock_abi(), &plan);
	if (plan.abi < 1) {
		kw_log_notice("enter_landlock: Landlock unavailable: relying on the empty root and "
		              "seccomp");
		return 0;
	}
	rc = kw_landlock_enter(&plan, NULL, 0, err, err_len);
	if (rc == 0)
		kw_log_info("enter_landlock: no filesystem access (Landlock ABI %ld)", plan.abi);
	return rc;
}

int
signer_sandbox_enter(const char *user, char *err, size_t err_len)
{
	int rc;

	if (geteuid() == 0) {
		/* while still root: the memory lock must not hit the unprivileged limit */
		if (setrlimit(RLIMIT_MEMLOCK, &(struct rlimit){RLIM_INFINITY, RLIM_INFINITY}) < 0)
			kw_log_debug("signer_sandbox_enter: RLIMIT_MEMLOCK: %s", strerror(errno));
		rc = switch_user(user, err, err_len);
		if (rc)
			return rc;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ||
	    setrlimit(RLIMIT_CORE, &(struct rlimit){0, 0}) < 0) {
		snprintf(err, err_len, "no_new_privs, dumpable or core limit: %s", strerror(errno));
		return KW_ERR_INTERNAL;
	}
	return enter_landlock(err, err_len);
}

static void
lock_memory(void)
{
#if defined(__SANITIZE_ADDRESS__)
	kw_log_info("lock_memory: skipped under AddressSanitizer");
#else
	if (mlockall(MCL_CURRENT | MCL_FUTURE) < 0)
		kw_log_warn("lock_memory: mlockall: %s: key pages may be swapped", strerror(errno));
#endif
}

int
signer_sandbox_lock(char *err, size_t err_len)
{
	const struct kw_syscall_table table = {allowlist, countof(allowlist)};

	lock_memory();
	return kw_seccomp_install(&table, 1, err, err_len);
}

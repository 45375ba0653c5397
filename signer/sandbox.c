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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/landlock.h>
#include <seccomp.h>

#include "err.h"
#include "log.h"

#define EMPTY_ROOT_TEMPLATE "/tmp/keyward-signer.XXXXXX"

/*
 * The allowlist. A rule with arg >= 0 allows the call only when
 * (argument[arg] & mask) == value. Names unknown to this architecture are skipped.
 */
#define ANY_ARGS -1

static const struct allowed_syscall {
	const char *name;
	int arg;
	uint64_t mask;
	uint64_t value;
} allowlist[] = {
    /* the serving loop: worker channels, control channel, signalfd */
    {"epoll_wait", ANY_ARGS, 0, 0},
    {"epoll_pwait", ANY_ARGS, 0, 0},
    {"epoll_ctl", ANY_ARGS, 0, 0},
    {"recvfrom", ANY_ARGS, 0, 0},
    {"recvmsg", ANY_ARGS, 0, 0},
    {"sendto", ANY_ARGS, 0, 0},
    {"sendmsg", ANY_ARGS, 0, 0},
    {"shutdown", ANY_ARGS, 0, 0},
    {"read", ANY_ARGS, 0, 0},
    {"close", ANY_ARGS, 0, 0},
    {"dup3", ANY_ARGS, 0, 0}, /* CTL_REOPEN_LOGS */

    /* the error log */
    {"write", ANY_ARGS, 0, 0},
    {"getpid", ANY_ARGS, 0, 0},
    {"clock_gettime", ANY_ARGS, 0, 0},
    {"gettimeofday", ANY_ARGS, 0, 0},
    {"fstat", ANY_ARGS, 0, 0},
    {"newfstatat", 3, AT_EMPTY_PATH, AT_EMPTY_PATH}, /* fstat() of a descriptor only */

    /* signing threads: locks, randomness, memory (never executable) */
    {"futex", ANY_ARGS, 0, 0},
    {"sched_yield", ANY_ARGS, 0, 0},
    {"getrandom", ANY_ARGS, 0, 0},
    {"brk", ANY_ARGS, 0, 0},
    {"mmap", 2, PROT_EXEC, 0},
    {"mprotect", 2, PROT_EXEC, 0},
    {"mremap", ANY_ARGS, 0, 0},
    {"munmap", ANY_ARGS, 0, 0},
    {"madvise", ANY_ARGS, 0, 0},

    /* leaving */
    {"rt_sigprocmask", ANY_ARGS, 0, 0},
    {"rt_sigreturn", ANY_ARGS, 0, 0},
    {"restart_syscall", ANY_ARGS, 0, 0},
    {"exit", ANY_ARGS, 0, 0},
    {"exit_group", ANY_ARGS, 0, 0},
#if defined(__SANITIZE_ADDRESS__)
    {"sigaltstack", ANY_ARGS, 0, 0}, /* the AddressSanitizer runtime, at exit */
#endif
};

/* Landlock's ruleset attributes as of ABI 6; older kernels read a prefix of it. */
struct landlock_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
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
	struct landlock_attr attr = {0};
	size_t attr_len = sizeof(attr.handled_access_fs);
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	int fd;

	if (abi < 1) {
		kw_log_notice("enter_landlock: Landlock unavailable (%s): relying on the empty "
		              "root and seccomp",
		              strerror(errno));
		return 0;
	}
	/* filesystem rights: 13 in ABI 1, REFER in 2, TRUNCATE in 3, IOCTL_DEV in 5 */
	attr.handled_access_fs = (1ULL << (abi >= 5 ? 16 : abi >= 3 ? 15 : abi >= 2 ? 14 : 13)) - 1;
	if (abi >= 4) {
		attr.handled_access_net = 3; /* BIND_TCP, CONNECT_TCP */
		attr_len += sizeof(attr.handled_access_net);
	}
	if (abi >= 6) {
		attr.scoped = 3; /* ABSTRACT_UNIX_SOCKET, SIGNAL */
		attr_len += sizeof(attr.scoped);
	}
	fd = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_len, 0);
	if (fd < 0) {
		snprintf(err, err_len, "landlock_create_ruleset (ABI %ld): %s", abi,
		         strerror(errno));
		return KW_ERR_INTERNAL;
	}
	if (syscall(SYS_landlock_restrict_self, fd, 0) < 0) {
		snprintf(err, err_len, "landlock_restrict_self: %s", strerror(errno));
		close(fd);
		return KW_ERR_INTERNAL;
	}
	close(fd);
	kw_log_info("enter_landlock: no filesystem access (Landlock ABI %ld)", abi);
	return 0;
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

static int
add_rule(scmp_filter_ctx ctx, const struct allowed_syscall *rule)
{
	int nr = seccomp_syscall_resolve_name(rule->name);

	if (nr == __NR_SCMP_ERROR)
		return 0;
	if (rule->arg == ANY_ARGS)
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	return seccomp_rule_add(
	    ctx, SCMP_ACT_ALLOW, nr, 1,
	    SCMP_CMP((unsigned)rule->arg, SCMP_CMP_MASKED_EQ, rule->mask, rule->value));
}

static int
build_filter(scmp_filter_ctx ctx, char *err, size_t err_len)
{
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);

	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
	if (rc) {
		snprintf(err, err_len, "seccomp filter attributes: %s", strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < sizeof(allowlist) / sizeof(allowlist[0]); i++) {
		rc = add_rule(ctx, &allowlist[i]);
		if (rc) {
			snprintf(err, err_len, "seccomp rule for %s: %s", allowlist[i].name,
			         strerror(-rc));
			return rc;
		}
	}
	return 0;
}

int
signer_sandbox_lock(char *err, size_t err_len)
{
	scmp_filter_ctx ctx;
	int rc;

	lock_memory();
	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx) {
		snprintf(err, err_len, "seccomp_init failed");
		return KW_ERR_INTERNAL;
	}
	rc = build_filter(ctx, err, err_len);
	if (rc == 0) {
		rc = seccomp_load(ctx);
		if (rc)
			snprintf(err, err_len, "seccomp_load: %s", strerror(-rc));
	}
	seccomp_release(ctx);
	return rc ? KW_ERR_INTERNAL : 0;
}

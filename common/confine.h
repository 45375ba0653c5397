/*
 * confine.h - the confinement machinery the signer and the workers share: a seccomp
 * allowlist declared as a table, and a Landlock domain that allows reading beneath a
 * list of directories (or nothing), built from what the running kernel's Landlock ABI
 * can enforce. Each role keeps its own table and path list; this file holds no policy.
 */
#ifndef KW_CONFINE_H
#define KW_CONFINE_H

#include <stddef.h>
#include <stdint.h>

/** A rule's arg when the system call is matched whatever its arguments. */
#define KW_ANY_ARGS -1

/**
 * One line of a seccomp table. With arg >= 0 the rule matches only when
 * (argument[arg] & mask) == value; several lines for one call match when any does.
 * fail_errno 0 allows the call; otherwise the call fails with that errno (for a
 * library's harmless probe). The reason is documentation, shown when a rule cannot be
 * added. Names unknown to the architecture are skipped.
 */
struct kw_syscall_rule {
	const char *name;
	int arg;
	uint64_t mask;
	uint64_t value;
	int fail_errno;
	const char *reason;
};

/** Table lines: allow a call, allow it when an argument matches, make it fail. */
#define KW_ALLOW(name, why)                                                                        \
	{                                                                                          \
		name, KW_ANY_ARGS, 0, 0, 0, why                                                    \
	}
#define KW_ALLOW_IF(name, arg, mask, value, why)                                                   \
	{                                                                                          \
		name, arg, mask, value, 0, why                                                     \
	}
#define KW_FAIL(name, errno_value, why)                                                            \
	{                                                                                          \
		name, KW_ANY_ARGS, 0, 0, errno_value, why                                          \
	}

/** A table of rules, for kw_seccomp_install(). */
struct kw_syscall_table {
	const struct kw_syscall_rule *rules;
	size_t n;
};

/**
 * Installs a seccomp filter made of the rules of the n tables on every thread of the
 * process (TSYNC): a call no rule matches kills the process (SIGSYS), and the kernel
 * logs it. A call must not have both allowing and failing rules. Needs no_new_privs or
 * CAP_SYS_ADMIN. Returns 0, or KW_ERR_INTERNAL with err set when no filter was
 * installed.
 */
int kw_seccomp_install(const struct kw_syscall_table *tables, size_t n, char *err, size_t err_len);

/** What a Landlock domain handles on a given ABI, and what that ABI cannot enforce. */
struct kw_landlock_plan {
	long abi;              /* < 1: no Landlock, nothing below applies */
	uint64_t handled_fs;   /* every filesystem right the ABI knows: denied unless allowed */
	uint64_t handled_net;  /* TCP bind and connect (ABI 4), denied outright */
	uint64_t scoped;       /* abstract UNIX sockets and signals (ABI 6) */
	uint64_t read_beneath; /* the rights allowed beneath each readable directory */
	char missing[160];     /* what this ABI leaves unenforced, "" when nothing */
};

/** The running kernel's Landlock ABI version: 0 when Landlock is missing or disabled. */
long kw_landlock_abi(void);

/**
 * Fills plan for abi (as kw_landlock_abi() returns it, or lower, to take an older
 * kernel's path). Pure: no system call.
 */
void kw_landlock_plan(long abi, struct kw_landlock_plan *plan);

/**
 * Restricts the calling thread, and every thread and process it starts afterwards, as
 * plan says: reading files and listing directories beneath the n directories of
 * readable (nothing when n is 0); no other path can be opened, written, created,
 * removed or executed; descriptors already open keep working. Call before starting
 * threads. A plan without Landlock (abi < 1) does nothing and returns 0.
 * Returns 0; KW_ERR_ARGUMENT when a directory cannot be opened, KW_ERR_INTERNAL when
 * Landlock refused the domain, with err saying why (the process is then unchanged).
 */
int kw_landlock_enter(const struct kw_landlock_plan *plan, const char *const *readable, size_t n,
                      char *err, size_t err_len);

#endif

/*
 * confine.c - seccomp tables through libseccomp, and Landlock domains built from the
 * running kernel's ABI. The roles' policies live beside their code (signer/sandbox.c,
 * worker/sandbox.c); this file only turns them into filters and rulesets.
 */
#include "confine.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/landlock.h>
#include <seccomp.h>

#include "err.h"
#include "util.h"

/* Landlock's ruleset attributes as of ABI 6; older kernels read a prefix of it. */
struct landlock_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

/* Each ABI's additions, and what an older kernel therefore leaves unenforced. */
static const struct landlock_step {
	long abi;
	unsigned fs_rights; /* number of filesystem rights known from this ABI on */
	uint64_t net;
	uint64_t scoped;
	const char *added;
} landlock_steps[] = {
    {1, 13, 0, 0, NULL},
    {2, 14, 0, 0, NULL}, /* REFER: ABI 1 refuses every reparenting instead */
    {3, 15, 0, 0, "truncate"},
    {4, 15, 3, 0, "TCP bind and connect"}, /* BIND_TCP, CONNECT_TCP */
    {5, 16, 3, 0, "device ioctl"},
    {6, 16, 3, 3, "abstract UNIX socket and signal scoping"}, /* the two scopes */
};

long
kw_landlock_abi(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

	return abi < 0 ? 0 : abi;
}

void
kw_landlock_plan(long abi, struct kw_landlock_plan *plan)
{
	size_t used = 0;

	*plan = (struct kw_landlock_plan){.abi = abi < 0 ? 0 : abi};
	for (size_t i = 0; i < countof(landlock_steps); i++) {
		const struct landlock_step *s = &landlock_steps[i];
		if (abi >= s->abi) {
			plan->handled_fs = (1ULL << s->fs_rights) - 1;
			plan->handled_net = s->net;
			plan->scoped = s->scoped;
		} else if (s->added && used < sizeof(plan->missing)) {
			used += (size_t)snprintf(plan->missing + used, sizeof(plan->missing) - used,
			                         "%s%s", used ? ", " : "", s->added);
		}
	}
	if (abi < 1)
		snprintf(plan->missing, sizeof(plan->missing), "every filesystem restriction");
	else
		plan->read_beneath = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
}

static int
add_readable(int ruleset, const struct kw_landlock_plan *plan, const char *dir, char *err,
             size_t err_len)
{
	struct landlock_path_beneath_attr rule = {.allowed_access = plan->read_beneath};
	int rc = 0;

	rule.parent_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rule.parent_fd < 0) {
		snprintf(err, err_len, "landlock: %s: %s", dir, strerror(errno));
		return KW_ERR_ARGUMENT;
	}
	if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) < 0) {
		snprintf(err, err_len, "landlock_add_rule(%s): %s", dir, strerror(errno));
		rc = KW_ERR_INTERNAL;
	}
	close(rule.parent_fd);
	return rc;
}

int
kw_landlock_enter(const struct kw_landlock_plan *plan, const char *const *readable, size_t n,
                  char *err, size_t err_len)
{
	struct landlock_attr attr = {plan->handled_fs, plan->handled_net, plan->scoped};
	size_t attr_len = plan->scoped        ? sizeof(attr)
	                  : plan->handled_net ? offsetof(struct landlock_attr, scoped)
	                                      : sizeof(attr.handled_access_fs);
	int fd, rc = 0;

	if (plan->abi < 1)
		return 0;
	fd = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_len, 0);
	if (fd < 0) {
		snprintf(err, err_len, "landlock_create_ruleset (ABI %ld): %s", plan->abi,
		         strerror(errno));
		return KW_ERR_INTERNAL;
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = add_readable(fd, plan, readable[i], err, err_len);
	if (rc == 0 && syscall(SYS_landlock_restrict_self, fd, 0) < 0) {
		snprintf(err, err_len, "landlock_restrict_self: %s", strerror(errno));
		rc = KW_ERR_INTERNAL;
	}
	close(fd);
	return rc;
}

static int
add_rule(scmp_filter_ctx ctx, const struct kw_syscall_rule *rule)
{
	int nr = seccomp_syscall_resolve_name(rule->name);
	uint32_t action =
	    rule->fail_errno ? SCMP_ACT_ERRNO((uint32_t)rule->fail_errno) : SCMP_ACT_ALLOW;

	if (nr == __NR_SCMP_ERROR)
		return 0;
	if (rule->arg == KW_ANY_ARGS)
		return seccomp_rule_add(ctx, action, nr, 0);
	return seccomp_rule_add(
	    ctx, action, nr, 1,
	    SCMP_CMP((unsigned)rule->arg, SCMP_CMP_MASKED_EQ, rule->mask, rule->value));
}

static int
build_filter(scmp_filter_ctx ctx, const struct kw_syscall_table *tables, size_t n, char *err,
             size_t err_len)
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
	for (size_t t = 0; t < n; t++) {
		for (size_t i = 0; i < tables[t].n; i++) {
			const struct kw_syscall_rule *rule = &tables[t].rules[i];
			rc = add_rule(ctx, rule);
			if (rc) {
				snprintf(err, err_len, "seccomp rule for %s (%s): %s", rule->name,
				         rule->reason, strerror(-rc));
				return rc;
			}
		}
	}
	return 0;
}

int
kw_seccomp_install(const struct kw_syscall_table *tables, size_t n, char *err, size_t err_len)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int rc;

	if (!ctx) {
		snprintf(err, err_len, "seccomp_init failed");
		return KW_ERR_INTERNAL;
	}
	rc = build_filter(ctx, tables, n, err, err_len);
	if (rc == 0) {
		rc = seccomp_load(ctx);
		if (rc)
			snprintf(err, err_len, "seccomp_load: %s", strerror(-rc));
	}
	seccomp_release(ctx);
	return rc ? KW_ERR_INTERNAL : 0;
}

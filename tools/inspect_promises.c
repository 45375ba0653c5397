/*
 * inspect_promises.c - the isolation promises keyward makes, judged on the facts
 * an inspection gathered. Each broken promise becomes one failure line; a promise
 * whose facts could not be read becomes an "unchecked" line, never a pass.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "inspect.h"

void
msg_add(struct msg_list *list, const char *fmt, ...)
{
	char *line, **grown;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n < 0) {
		list->nomem = true;
		return;
	}
	grown = realloc(list->items, (list->n + 1) * sizeof(*grown));
	if (!grown) {
		free(line);
		list->nomem = true;
		return;
	}
	list->items = grown;
	list->items[list->n++] = line;
}

void
msg_list_dispose(struct msg_list *list)
{
	for (size_t i = 0; i < list->n; i++)
		free(list->items[i]);
	free(list->items);
	*list = (struct msg_list){0};
}

const struct inspect_key *
inspection_key_for_file(const struct inspection *in, const struct proc_file *file)
{
	for (size_t i = 0; i < in->n_keys; i++) {
		const struct inspect_key *key = &in->keys[i];
		if ((key->have_inode && file->have_inode && key->dev == file->dev &&
		     key->ino == file->ino) ||
		    strcmp(key->path, file->target) == 0)
			return key;
	}
	return NULL;
}

static void
check_sandbox_basics(struct inspection *in, const struct proc_info *p)
{
	const char *role = proc_role_name(p->role);

	if (p->cap_eff)
		msg_add(&in->failures, "%s %ld has capabilities (CapEff: %016llx)", role,
		        (long)p->pid, (unsigned long long)p->cap_eff);
	if (p->creds_differ)
		msg_add(&in->failures, "threads of %s %ld run with different credentials", role,
		        (long)p->pid);
}

/* Whether p has a seccomp filter of its own: mode 2, and more filters than its master. */
static void
check_own_filter(struct inspection *in, const struct proc_info *p)
{
	const struct proc_info *master = &in->procs[0].info;
	const char *role = proc_role_name(p->role);

	if (p->seccomp != 2)
		msg_add(&in->failures, "%s %ld is not seccomp-filtered (Seccomp: %d%s)", role,
		        (long)p->pid, p->seccomp,
		        p->threads > 1 ? ", lowest over its threads" : "");
	else if (master->seccomp == 2 && p->seccomp_filters <= master->seccomp_filters)
		msg_add(&in->failures,
		        "%s %ld has no seccomp filter of its own (%d filters, as its master)", role,
		        (long)p->pid, p->seccomp_filters);
}

/*
 * A signer must have installed a filter of its own: mode 2, and more filters than
 * its master (a container or service manager may already filter every process).
 */
static void
check_signer(struct inspection *in, const struct proc_info *p)
{
	check_own_filter(in, p);
	if (p->dumpable == DUMPABLE_YES)
		msg_add(&in->failures, "signer %ld is dumpable", (long)p->pid);
	else if (p->dumpable == DUMPABLE_UNKNOWN)
		msg_add(&in->failures,
		        "signer %ld runs with effective uid 0, so it cannot be shown non-dumpable",
		        (long)p->pid);
	check_sandbox_basics(in, p);
}

static bool
shares_uid(const struct proc_info *a, const struct proc_info *b, uid_t *uid)
{
	for (int i = 0; i < ID_COUNT; i++)
		for (int j = 0; j < ID_COUNT; j++)
			if (a->uid[i] == b->uid[j]) {
				*uid = a->uid[i];
				return true;
			}
	return false;
}

static void
check_worker(struct inspection *in, const struct proc_info *p)
{
	uid_t uid;

	for (int i = 0; i < ID_COUNT; i++) {
		if (p->uid[i] == 0) {
			msg_add(&in->failures, "worker %ld runs as root (uids %u/%u/%u/%u)",
			        (long)p->pid, p->uid[ID_REAL], p->uid[ID_EFFECTIVE],
			        p->uid[ID_SAVED], p->uid[ID_FS]);
			break;
		}
	}
	for (size_t i = 0; i < in->n_procs; i++) {
		const struct proc_info *s = &in->procs[i].info;
		if (s->role == ROLE_SIGNER && shares_uid(p, s, &uid))
			msg_add(&in->failures,
			        "worker %ld runs as the signer's user (uid %u, as signer %ld)",
			        (long)p->pid, uid, (long)s->pid);
	}
	check_own_filter(in, p);
	if (in->kernel_landlock > 0 && p->landlock < 1)
		msg_add(&in->failures,
		        "worker %ld is not confined by Landlock (its title says %s; the kernel has "
		        "ABI %ld)",
		        (long)p->pid, p->landlock == 0 ? "\"landlock off\"" : "nothing",
		        in->kernel_landlock);
	check_sandbox_basics(in, p);
}

static void
check_key_files(struct inspection *in, const struct proc_info *p)
{
	const char *role = proc_role_name(p->role);

	if (p->fds_errno)
		msg_add(&in->unchecked, "open files of %s %ld: %s", role, (long)p->pid,
		        strerror(p->fds_errno));
	if (p->maps_errno)
		msg_add(&in->unchecked, "mapped files of %s %ld: %s", role, (long)p->pid,
		        strerror(p->maps_errno));
	for (size_t i = 0; i < p->n_fds; i++) {
		const struct inspect_key *key = inspection_key_for_file(in, &p->fds[i]);
		if (key)
			msg_add(&in->failures, "%s %ld holds key file %s open (fd %d)", role,
			        (long)p->pid, key->path, p->fds[i].fd);
	}
	for (size_t i = 0; i < p->n_maps; i++) {
		const struct inspect_key *key = inspection_key_for_file(in, &p->maps[i]);
		if (key)
			msg_add(&in->failures, "%s %ld maps key file %s", role, (long)p->pid,
			        key->path);
	}
}

/* One failure per key whose windows were found, naming the components seen. */
static void
check_fragments(struct inspection *in, const struct inspect_entry *e)
{
	const struct proc_info *p = &e->info;
	const char *role = proc_role_name(p->role);

	if (!e->scanned) {
		msg_add(&in->unchecked, "memory of %s %ld could not be scanned: %s", role,
		        (long)p->pid, e->scan_error);
		return;
	}
	for (size_t k = 0; k < in->n_keys; k++) {
		char parts[512] = "";
		size_t windows = 0, used = 0;
		for (size_t i = 0; i < frag_set_sources(in->frags); i++) {
			const struct frag_source *src = frag_set_source(in->frags, i);
			if (src->key != k || !e->scan.by_source[i])
				continue;
			windows += e->scan.by_source[i];
			if (used < sizeof(parts))
				used +=
				    (size_t)snprintf(parts + used, sizeof(parts) - used, "%s%s/%s",
				                     used ? ", " : "", src->component, src->order);
		}
		if (windows)
			msg_add(&in->failures,
			        "key fragments found outside the signer: %s %ld "
			        "holds %zu windows of %s (%s)",
			        role, (long)p->pid, windows, in->keys[k].path, parts);
	}
}

int
inspection_check(struct inspection *in)
{
	size_t signers = 0;

	for (size_t i = 0; i < in->n_procs; i++) {
		const struct inspect_entry *e = &in->procs[i];
		switch (e->info.role) {
		case ROLE_SIGNER:
			signers++;
			check_signer(in, &e->info);
			continue;
		case ROLE_WORKER:
			check_worker(in, &e->info);
			break;
		case ROLE_MASTER:
		case ROLE_OTHER:
			break;
		}
		if (in->keys_known)
			check_key_files(in, &e->info);
		if (in->frags)
			check_fragments(in, e);
	}
	if (!signers)
		msg_add(&in->failures, "no signer: no child of %ld is titled \"keyward: signer\"",
		        (long)in->master);
	if (!in->keys_known)
		msg_add(&in->unchecked,
		        "no key files given (-c FILE or --key FILE): key files open "
		        "or mapped and key fragments in memory were not looked for");
	else if (in->scan_skipped)
		msg_add(&in->unchecked, "%s", in->scan_skipped);
	return in->failures.nomem || in->unchecked.nomem ? KW_ERR_NOMEM : 0;
}

int
inspection_exit_code(const struct inspection *in)
{
	return in->failures.n ? 1 : in->unchecked.n ? 2 : 0;
}

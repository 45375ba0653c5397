/*
 * inspect_report.c - keyward-inspect's output: a table with per-process details
 * for people, one JSON object for programs.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "inspect.h"

static const char *
dumpable_word(enum proc_dumpable d)
{
	static const char *const words[] = {"no", "yes", "unknown"};

	return words[d];
}

static void
format_bytes(char *buf, size_t len, uint64_t n)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)n;
	size_t u = 0;

	while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024.0;
		u++;
	}
	if (u)
		snprintf(buf, len, "%.1f %s", v, units[u]);
	else
		snprintf(buf, len, "%llu B", (unsigned long long)n);
}

static void
table_row(const struct inspection *in, const struct inspect_entry *e)
{
	const struct proc_info *p = &e->info;
	char uids[48], gids[48], seccomp[24], hits[24];

	snprintf(uids, sizeof(uids), "%u/%u/%u", p->uid[ID_REAL], p->uid[ID_EFFECTIVE],
	         p->uid[ID_SAVED]);
	snprintf(gids, sizeof(gids), "%u/%u/%u", p->gid[ID_REAL], p->gid[ID_EFFECTIVE],
	         p->gid[ID_SAVED]);
	if (p->seccomp_filters >= 0)
		snprintf(seccomp, sizeof(seccomp), "%d (%d)", p->seccomp, p->seccomp_filters);
	else
		snprintf(seccomp, sizeof(seccomp), "%d", p->seccomp);
	if (e->scanned)
		snprintf(hits, sizeof(hits), "%zu", e->scan.hits);
	else
		snprintf(hits, sizeof(hits), "%s", in->frags ? "error" : "-");
	printf("%-7s %-8ld %-18s %-18s %016llx  %-8s %-4s %-9s %s\n", proc_role_name(p->role),
	       (long)p->pid, uids, gids, (unsigned long long)p->cap_eff, seccomp,
	       p->no_new_privs ? "yes" : "no", dumpable_word(p->dumpable), hits);
}

static void
table_scan_details(const struct inspection *in, const struct inspect_entry *e)
{
	char read[32], unreadable[32], untouched[32];

	if (!in->frags)
		return;
	if (!e->scanned) {
		printf("  memory:  not scanned: %s\n", e->scan_error);
		return;
	}
	format_bytes(read, sizeof(read), e->scan.bytes_read);
	format_bytes(unreadable, sizeof(unreadable), e->scan.bytes_unreadable);
	format_bytes(untouched, sizeof(untouched), e->scan.bytes_untouched);
	printf("  memory:  %s read in %zu mappings (%s unreadable, %s never touched), "
	       "%zu key windows found\n",
	       read, e->scan.regions, unreadable, untouched, e->scan.hits);
	for (size_t i = 0; i < frag_set_sources(in->frags); i++) {
		const struct frag_source *src = frag_set_source(in->frags, i);
		if (e->scan.by_source[i])
			printf("           %zu x %s/%s of %s\n", e->scan.by_source[i],
			       src->component, src->order, in->keys[src->key].path);
	}
}

static void
table_details(const struct inspection *in, const struct inspect_entry *e)
{
	const struct proc_info *p = &e->info;

	printf("\n%s %ld \"%s\", parent %ld, %u thread%s\n", proc_role_name(p->role), (long)p->pid,
	       p->comm, (long)p->ppid, p->threads, p->threads == 1 ? "" : "s");
	printf("  fs uid/gid: %u/%u\n", p->uid[ID_FS], p->gid[ID_FS]);
	printf("  CapBnd:  %016llx\n", (unsigned long long)p->cap_bnd);
	if (p->role == ROLE_WORKER && p->landlock > 0)
		printf("  landlock: ABI %ld, reading beneath the document roots (title)\n",
		       p->landlock);
	else if (p->role == ROLE_WORKER)
		printf("  landlock: %s\n", p->landlock == 0 ? "off (title)" : "not stated");
	if (p->root)
		printf("  root:    %s\n", p->root);
	else
		printf("  root:    unreadable: %s\n", strerror(p->root_errno));
	table_scan_details(in, e);
	if (p->maps_errno)
		printf("  maps:    unreadable: %s\n", strerror(p->maps_errno));
	for (size_t i = 0; i < p->n_maps; i++)
		if (inspection_key_for_file(in, &p->maps[i]))
			printf("  mapped  %s   <- KEY FILE\n", p->maps[i].target);
	if (p->fds_errno)
		printf("  files:   unreadable: %s\n", strerror(p->fds_errno));
	for (size_t i = 0; i < p->n_fds; i++)
		printf("  fd %-4d %s%s\n", p->fds[i].fd, p->fds[i].target,
		       inspection_key_for_file(in, &p->fds[i]) ? "   <- KEY FILE" : "");
}

void
report_table(const struct inspection *in)
{
	printf("keyward-inspect: master %ld, %zu process%s, ", (long)in->master, in->n_procs,
	       in->n_procs == 1 ? "" : "es");
	if (in->frags)
		printf("memory scanned for %zu windows of %zu key file%s\n",
		       frag_set_windows(in->frags), in->n_keys, in->n_keys == 1 ? "" : "s");
	else
		printf("memory not scanned\n");
	printf("\n%-7s %-8s %-18s %-18s %-16s  %-8s %-4s %-9s %s\n", "ROLE", "PID", "UID r/e/s",
	       "GID r/e/s", "CAPEFF", "SECCOMP", "NNP", "DUMPABLE", "KEY HITS");
	for (size_t i = 0; i < in->n_procs; i++)
		table_row(in, &in->procs[i]);
	for (size_t i = 0; i < in->n_procs; i++)
		table_details(in, &in->procs[i]);
	printf("\n");
	for (size_t i = 0; i < in->failures.n; i++)
		printf("FAIL: %s\n", in->failures.items[i]);
	for (size_t i = 0; i < in->unchecked.n; i++)
		printf("UNCHECKED: %s\n", in->unchecked.items[i]);
	if (inspection_exit_code(in) == 0)
		printf("OK: every isolation promise holds\n");
}

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t
utf8_len(const unsigned char *s)
{
	size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;

	if (s[0] >= 0xf5)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* A JSON string; bytes that are not UTF-8 become U+FFFD. NULL prints null. */
static void
json_str(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (!s) {
		fputs("null", stdout);
		return;
	}
	putchar('"');
	while (*p) {
		size_t n;
		if (*p == '"' || *p == '\\') {
			printf("\\%c", *p++);
		} else if (*p < 0x20) {
			printf("\\u%04x", *p++);
		} else if (*p < 0x80) {
			putchar(*p++);
		} else if ((n = utf8_len(p))) {
			fwrite(p, 1, n, stdout);
			p += n;
		} else {
			fputs("\\ufffd", stdout);
			p++;
		}
	}
	putchar('"');
}

static void
json_ids(const char *name, unsigned real, unsigned effective, unsigned saved, unsigned fs)
{
	printf("\"%s\": {\"real\": %u, \"effective\": %u, \"saved\": %u, \"fs\": %u}", name, real,
	       effective, saved, fs);
}

static void
json_list(const struct msg_list *list)
{
	putchar('[');
	for (size_t i = 0; i < list->n; i++) {
		fputs(i ? ", " : "", stdout);
		json_str(list->items[i]);
	}
	putchar(']');
}

static void
json_scan(const struct inspection *in, const struct inspect_entry *e)
{
	bool first = true;

	printf(",\n     \"key_fragments\": ");
	if (!in->frags) {
		fputs("null", stdout);
		return;
	}
	printf("{\"scanned\": %s, \"error\": ", e->scanned ? "true" : "false");
	json_str(e->scanned ? NULL : e->scan_error);
	if (!e->scanned) {
		putchar('}');
		return;
	}
	printf(", \"bytes_read\": %llu, \"bytes_unreadable\": %llu, \"bytes_untouched\": %llu, "
	       "\"regions\": %zu, \"hits\": %zu, \"matches\": [",
	       (unsigned long long)e->scan.bytes_read, (unsigned long long)e->scan.bytes_unreadable,
	       (unsigned long long)e->scan.bytes_untouched, e->scan.regions, e->scan.hits);
	for (size_t i = 0; i < frag_set_sources(in->frags); i++) {
		const struct frag_source *src = frag_set_source(in->frags, i);
		if (!e->scan.by_source[i])
			continue;
		printf("%s{\"key\": ", first ? "" : ", ");
		json_str(in->keys[src->key].path);
		printf(", \"component\": \"%s\", \"order\": \"%s\", \"count\": %zu}",
		       src->component, src->order, e->scan.by_source[i]);
		first = false;
	}
	fputs("]}", stdout);
}

/* "NAME_error": ..., "NAME": [...] for a list of open or mapped files. */
static void
json_files(const struct inspection *in, const char *name, const struct proc_file *files, size_t n,
           int error)
{
	printf(",\n     \"%s_error\": ", name);
	json_str(error ? strerror(error) : NULL);
	printf(", \"%s\": [", name);
	for (size_t i = 0; i < n; i++) {
		printf("%s\n       {", i ? "," : "");
		if (files[i].fd >= 0)
			printf("\"fd\": %d, ", files[i].fd);
		printf("\"target\": ");
		json_str(files[i].target);
		printf(", \"key_file\": %s}",
		       inspection_key_for_file(in, &files[i]) ? "true" : "false");
	}
	putchar(']');
}

static void
json_process(const struct inspection *in, const struct inspect_entry *e)
{
	const struct proc_info *p = &e->info;

	printf("    {\"role\": \"%s\", \"pid\": %ld, \"ppid\": %ld, \"comm\": ",
	       proc_role_name(p->role), (long)p->pid, (long)p->ppid);
	json_str(p->comm);
	printf(", \"threads\": %u,\n     ", p->threads);
	json_ids("uid", p->uid[ID_REAL], p->uid[ID_EFFECTIVE], p->uid[ID_SAVED], p->uid[ID_FS]);
	fputs(", ", stdout);
	json_ids("gid", p->gid[ID_REAL], p->gid[ID_EFFECTIVE], p->gid[ID_SAVED], p->gid[ID_FS]);
	printf(", \"creds_differ_between_threads\": %s,\n", p->creds_differ ? "true" : "false");
	printf("     \"cap_eff\": \"%016llx\", \"cap_bnd\": \"%016llx\", ",
	       (unsigned long long)p->cap_eff, (unsigned long long)p->cap_bnd);
	printf("\"seccomp\": {\"mode\": %d, \"filters\": ", p->seccomp);
	if (p->seccomp_filters >= 0)
		printf("%d}", p->seccomp_filters);
	else
		fputs("null}", stdout);
	printf(", \"landlock\": ");
	if (p->landlock >= 0)
		printf("{\"abi\": %ld}", p->landlock);
	else
		fputs("null", stdout);
	printf(", \"no_new_privs\": %s, \"dumpable\": %s,\n     \"root\": ",
	       p->no_new_privs ? "true" : "false",
	       p->dumpable == DUMPABLE_UNKNOWN ? "null"
	       : p->dumpable == DUMPABLE_YES   ? "true"
	                                       : "false");
	json_str(p->root);
	printf(", \"root_error\": ");
	json_str(p->root ? NULL : strerror(p->root_errno));
	json_scan(in, e);
	json_files(in, "open_files", p->fds, p->n_fds, p->fds_errno);
	json_files(in, "mapped_files", p->maps, p->n_maps, p->maps_errno);
	putchar('}');
}

void
report_json(const struct inspection *in)
{
	static const char *const results[] = {"pass", "fail", "incomplete"};
	const int code = inspection_exit_code(in);

	printf("{\n  \"master_pid\": %ld,\n  \"keys\": [", (long)in->master);
	for (size_t i = 0; i < in->n_keys; i++) {
		fputs(i ? ", " : "", stdout);
		json_str(in->keys[i].path);
	}
	printf("],\n  \"memory_scan\": {\"performed\": %s, \"windows\": %zu, \"skipped_because\": ",
	       in->frags ? "true" : "false", in->frags ? frag_set_windows(in->frags) : 0);
	json_str(in->scan_skipped);
	printf("},\n  \"processes\": [\n");
	for (size_t i = 0; i < in->n_procs; i++) {
		json_process(in, &in->procs[i]);
		printf("%s\n", i + 1 < in->n_procs ? "," : "");
	}
	printf("  ],\n  \"failures\": ");
	json_list(&in->failures);
	printf(",\n  \"unchecked\": ");
	json_list(&in->unchecked);
	printf(",\n  \"result\": \"%s\",\n  \"exit_code\": %d\n}\n", results[code], code);
	for (size_t i = 0; i < in->failures.n; i++)
		fprintf(stderr, "FAIL: %s\n", in->failures.items[i]);
	for (size_t i = 0; i < in->unchecked.n; i++)
		fprintf(stderr, "UNCHECKED: %s\n", in->unchecked.items[i]);
}

/*
 * inspect_proc.c - a process's isolation facts, read from /proc.
 *
 * Dumpable: Linux shows the flag nowhere in /proc/PID/status or stat. What it does
 * show is an owner: the kernel's task_dump_owner() makes the files inside /proc/PID
 * owned by the process's effective uid while it is dumpable (SUID_DUMP_USER), and by
 * root (of the process's user namespace) otherwise (proc(5), "/proc/[pid]"). The
 * directory /proc/PID itself (mode 0555) is left to the effective uid either way,
 * so the file looked at is /proc/PID/status. A process whose effective uid is not
 * 0 is dumpable exactly when that file's owner is its effective uid; for effective
 * uid 0 both cases look alike, and the answer is DUMPABLE_UNKNOWN.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "err.h"
#include "inspect_proc.h"

struct thread_status {
	pid_t ppid;
	char uid_line[96];
	char gid_line[96];
	uint64_t cap_eff;
	uint64_t cap_bnd;
	int seccomp;
	int seccomp_filters;
	bool no_new_privs;
	unsigned required; /* bit per required line seen */
};

enum { SEEN_UID = 1, SEEN_GID = 2, SEEN_CAPEFF = 4, SEEN_CAPBND = 8, SEEN_ALL = 15 };

static bool
is_number(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static const char *
field(const char *line, const char *name)
{
	size_t n = strlen(name);

	return strncmp(line, name, n) == 0 && line[n] == ':' ? line + n + 1 : NULL;
}

static void
copy_ids(char *dst, size_t dst_len, const char *value)
{
	snprintf(dst, dst_len, "%s", value + strspn(value, " \t"));
	dst[strcspn(dst, "\n")] = '\0';
}

/* Parses one status file; fails with errno when it cannot be read or lacks a line. */
static int
read_status(const char *path, struct thread_status *st)
{
	char line[256];
	const char *v;
	FILE *f = fopen(path, "re");

	*st = (struct thread_status){.seccomp_filters = -1};
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if ((v = field(line, "PPid"))) {
			st->ppid = (pid_t)strtol(v, NULL, 10);
		} else if ((v = field(line, "Uid"))) {
			copy_ids(st->uid_line, sizeof(st->uid_line), v);
			st->required |= SEEN_UID;
		} else if ((v = field(line, "Gid"))) {
			copy_ids(st->gid_line, sizeof(st->gid_line), v);
			st->required |= SEEN_GID;
		} else if ((v = field(line, "CapEff"))) {
			st->cap_eff = strtoull(v, NULL, 16);
			st->required |= SEEN_CAPEFF;
		} else if ((v = field(line, "CapBnd"))) {
			st->cap_bnd = strtoull(v, NULL, 16);
			st->required |= SEEN_CAPBND;
		} else if ((v = field(line, "NoNewPrivs"))) {
			st->no_new_privs = strtol(v, NULL, 10) != 0;
		} else if ((v = field(line, "Seccomp"))) {
			st->seccomp = (int)strtol(v, NULL, 10);
		} else if ((v = field(line, "Seccomp_filters"))) {
			st->seccomp_filters = (int)strtol(v, NULL, 10);
		}
	}
	fclose(f);
	if (st->required != SEEN_ALL) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}

static int
parse_ids(const char *line, unsigned long ids[ID_COUNT])
{
	int n = sscanf(line, "%lu %lu %lu %lu", &ids[0], &ids[1], &ids[2], &ids[3]);

	return n == ID_COUNT ? 0 : -1;
}

static void
fold_thread(struct proc_info *info, const struct thread_status *main_st,
            const struct thread_status *st)
{
	info->threads++;
	info->cap_eff |= st->cap_eff;
	info->cap_bnd |= st->cap_bnd;
	if (st->seccomp < info->seccomp)
		info->seccomp = st->seccomp;
	if (st->seccomp_filters < info->seccomp_filters)
		info->seccomp_filters = st->seccomp_filters;
	info->no_new_privs = info->no_new_privs && st->no_new_privs;
	if (strcmp(st->uid_line, main_st->uid_line) != 0 ||
	    strcmp(st->gid_line, main_st->gid_line) != 0)
		info->creds_differ = true;
}

/* Credentials and sandbox state: the main thread's, then every thread folded in. */
static int
read_credentials(struct proc_info *info, char *err, size_t err_len)
{
	unsigned long uid[ID_COUNT], gid[ID_COUNT];
	struct thread_status main_st, st;
	struct dirent *de;
	char path[PATH_MAX];
	DIR *tasks;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)info->pid);
	if (read_status(path, &main_st) != 0 || parse_ids(main_st.uid_line, uid) != 0 ||
	    parse_ids(main_st.gid_line, gid) != 0) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno ? errno : EPROTO));
		return KW_ERR_ARGUMENT;
	}
	info->ppid = main_st.ppid;
	for (int i = 0; i < ID_COUNT; i++) {
		info->uid[i] = (uid_t)uid[i];
		info->gid[i] = (gid_t)gid[i];
	}
	info->seccomp = main_st.seccomp;
	info->seccomp_filters = main_st.seccomp_filters;
	info->no_new_privs = main_st.no_new_privs;

	snprintf(path, sizeof(path), "/proc/%ld/task", (long)info->pid);
	tasks = opendir(path);
	if (!tasks) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return KW_ERR_ARGUMENT;
	}
	while ((de = readdir(tasks))) {
		if (!is_number(de->d_name))
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/task/%s/status", (long)info->pid,
		         de->d_name);
		if (read_status(path, &st) == 0)
			fold_thread(info, &main_st, &st);
	}
	closedir(tasks);
	return 0;
}

static void
read_comm(struct proc_info *info)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)info->pid);
	f = fopen(path, "re");
	if (f && fgets(info->comm, sizeof(info->comm), f))
		info->comm[strcspn(info->comm, "\n")] = '\0';
	if (f)
		fclose(f);
}

long
proc_landlock_from_title(const char *title)
{
	const char *mark = strstr(title, "(landlock ");
	char *end;
	long abi;

	if (!mark)
		return -1;
	mark += strlen("(landlock ");
	if (strcmp(mark, "off)") == 0)
		return 0;
	if (strncmp(mark, "ABI ", 4) != 0)
		return -1;
	errno = 0;
	abi = strtol(mark + 4, &end, 10);
	return errno || abi < 1 || strcmp(end, ")") != 0 ? -1 : abi;
}

/* The title the process gave itself: the first string of its command line. */
static void
read_title(struct proc_info *info)
{
	char path[64], title[256];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)info->pid);
	f = fopen(path, "re");
	if (f) {
		n = fread(title, 1, sizeof(title) - 1, f);
		fclose(f);
	}
	title[n] = '\0';
	info->landlock = proc_landlock_from_title(title);
}

static void
read_dumpable(struct proc_info *info)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)info->pid);
	if (info->uid[ID_EFFECTIVE] == 0 || stat(path, &st) != 0)
		info->dumpable = DUMPABLE_UNKNOWN;
	else
		info->dumpable = st.st_uid == info->uid[ID_EFFECTIVE] ? DUMPABLE_YES : DUMPABLE_NO;
}

/* readlinkat into a heap string; NULL with errno on failure. */
static char *
read_link(int dirfd, const char *name)
{
	char buf[PATH_MAX];
	ssize_t n = readlinkat(dirfd, name, buf, sizeof(buf) - 1);

	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return strdup(buf);
}

static int
compare_fds(const void *a, const void *b)
{
	const struct proc_file *x = a, *y = b;

	return (x->fd > y->fd) - (x->fd < y->fd);
}

/* A new zeroed entry at the end of *files, or NULL when out of memory. */
static struct proc_file *
push_file(struct proc_file **files, size_t *n, size_t *cap)
{
	if (*n == *cap) {
		size_t grown_cap = *cap ? *cap * 2 : 16;
		struct proc_file *grown = realloc(*files, grown_cap * sizeof(*grown));
		if (!grown)
			return NULL;
		*files = grown;
		*cap = grown_cap;
	}
	(*files)[*n] = (struct proc_file){.fd = -1};
	return &(*files)[*n];
}

static int
read_fds(struct proc_info *info)
{
	char path[64];
	struct dirent *de;
	size_t cap = 0;
	DIR *dir;
	int rc = 0;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)info->pid);
	dir = opendir(path);
	if (!dir) {
		info->fds_errno = errno;
		return 0;
	}
	while ((de = readdir(dir))) {
		struct proc_file *fd;
		struct stat st;
		if (!is_number(de->d_name))
			continue;
		fd = push_file(&info->fds, &info->n_fds, &cap);
		if (!fd) {
			rc = KW_ERR_NOMEM;
			break;
		}
		fd->fd = (int)strtol(de->d_name, NULL, 10);
		fd->target = read_link(dirfd(dir), de->d_name);
		if (!fd->target)
			continue;
		if (fstatat(dirfd(dir), de->d_name, &st, 0) == 0) {
			fd->have_inode = true;
			fd->dev = st.st_dev;
			fd->ino = st.st_ino;
		}
		info->n_fds++;
	}
	closedir(dir);
	if (info->n_fds)
		qsort(info->fds, info->n_fds, sizeof(*info->fds), compare_fds);
	return rc;
}

static bool
mapped_already(const struct proc_info *info, dev_t dev, ino_t ino)
{
	for (size_t i = 0; i < info->n_maps; i++)
		if (info->maps[i].dev == dev && info->maps[i].ino == ino)
			return true;
	return false;
}

static int
read_maps(struct proc_info *info)
{
	char path[64], *line = NULL;
	size_t line_cap = 0, cap = 0;
	FILE *maps;
	int rc = 0;

	snprintf(path, sizeof(path), "/proc/%ld/maps", (long)info->pid);
	maps = fopen(path, "re");
	if (!maps) {
		info->maps_errno = errno;
		return 0;
	}
	while (getline(&line, &line_cap, maps) > 0) {
		unsigned major, minor;
		unsigned long long ino;
		struct proc_file *map;
		int name_at = 0;
		int n =
		    sscanf(line, "%*x-%*x %*4s %*x %x:%x %llu %n", &major, &minor, &ino, &name_at);
		if (n < 3 || ino == 0 || !name_at ||
		    mapped_already(info, makedev(major, minor), (ino_t)ino))
			continue;
		line[strcspn(line, "\n")] = '\0';
		map = push_file(&info->maps, &info->n_maps, &cap);
		if (!map || !(map->target = strdup(line + name_at))) {
			rc = KW_ERR_NOMEM;
			break;
		}
		map->have_inode = true;
		map->dev = makedev(major, minor);
		map->ino = (ino_t)ino;
		info->n_maps++;
	}
	free(line);
	fclose(maps);
	return rc;
}

int
proc_info_read(pid_t pid, struct proc_info *out, char *err, size_t err_len)
{
	char path[64];
	int rc, saved;

	*out = (struct proc_info){.pid = pid, .role = ROLE_OTHER};
	read_comm(out);
	read_title(out);
	errno = 0;
	rc = read_credentials(out, err, err_len);
	if (rc)
		goto fail;
	read_dumpable(out);
	snprintf(path, sizeof(path), "/proc/%ld/root", (long)pid);
	out->root = read_link(AT_FDCWD, path);
	if (!out->root)
		out->root_errno = errno;
	rc = read_fds(out);
	if (!rc)
		rc = read_maps(out);
	if (rc) {
		snprintf(err, err_len, "/proc/%ld: out of memory", (long)pid);
		goto fail;
	}
	return 0;
fail:
	saved = errno;
	proc_info_dispose(out);
	errno = saved;
	return rc;
}

void
proc_info_dispose(struct proc_info *info)
{
	for (size_t i = 0; i < info->n_fds; i++)
		free(info->fds[i].target);
	free(info->fds);
	for (size_t i = 0; i < info->n_maps; i++)
		free(info->maps[i].target);
	free(info->maps);
	free(info->root);
	*info = (struct proc_info){0};
}

enum proc_role
proc_role_from_comm(const char *comm)
{
	if (strcmp(comm, "keyward: signer") == 0)
		return ROLE_SIGNER;
	if (strcmp(comm, "keyward: worker") == 0)
		return ROLE_WORKER;
	return ROLE_OTHER;
}

const char *
proc_role_name(enum proc_role role)
{
	static const char *const names[] = {"master", "signer", "worker", "other"};

	return names[role];
}

/* The parent pid from /proc/PID/stat, whose comm field may hold spaces and ')'. */
static pid_t
stat_ppid(const char *pid)
{
	char path[64], buf[512];
	const char *close_paren;
	long ppid;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	close_paren = strrchr(buf, ')');
	if (!close_paren || sscanf(close_paren + 1, " %*c %ld", &ppid) != 1)
		return -1;
	return (pid_t)ppid;
}

static int
compare_pids(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

int
proc_list_children(pid_t parent, pid_t **out, size_t *n_out, char *err, size_t err_len)
{
	pid_t *pids = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *proc = opendir("/proc");
	int rc = 0;

	if (!proc) {
		snprintf(err, err_len, "/proc: %s", strerror(errno));
		return KW_ERR_INTERNAL;
	}
	while ((de = readdir(proc))) {
		if (!is_number(de->d_name) || stat_ppid(de->d_name) != parent)
			continue;
		if (n == cap) {
			pid_t *grown;
			cap = cap ? cap * 2 : 16;
			grown = realloc(pids, cap * sizeof(*pids));
			if (!grown) {
				snprintf(err, err_len, "/proc: out of memory");
				rc = KW_ERR_NOMEM;
				break;
			}
			pids = grown;
		}
		pids[n++] = (pid_t)strtol(de->d_name, NULL, 10);
	}
	closedir(proc);
	if (rc) {
		free(pids);
		return rc;
	}
	if (pids)
		qsort(pids, n, sizeof(*pids), compare_pids);
	*out = pids;
	*n_out = n;
	return 0;
}

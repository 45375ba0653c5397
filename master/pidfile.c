/*
 * pidfile.c - the pid file: written by a starting master (refusing to start when
 * another live master holds it), read by `keyward -s`, removed at exit. The default
 * run-state directory is created when missing (outside systemd nothing else does).
 */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "kw_build_config.h"
#include "log.h"

#define MASTER_TITLE "keyward: master"

static pid_t
pidfile_read(const char *path, char *err, size_t err_len)
{
	char buf[32], *end;
	ssize_t n;
	long pid;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, err_len, "pid file %s: %s", path, strerror(errno));
		return 0;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		snprintf(err, err_len, "pid file %s: %s", path, strerror(errno));
		return 0;
	}
	buf[n] = '\0';
	errno = 0;
	pid = strtol(buf, &end, 10);
	if (errno || end == buf || (*end != '\n' && *end != '\0') || pid <= 0 || pid > INT32_MAX) {
		snprintf(err, err_len, "pid file %s: no pid in it", path);
		return 0;
	}
	return (pid_t)pid;
}

/* True when pid runs (not a zombie) and is a keyward master, as far as /proc tells. */
static bool
is_live_master(pid_t pid)
{
	char path[64], stat[256], *open_paren, *close_paren;
	ssize_t n;
	int fd;

	if (kill(pid, 0) < 0 && errno != EPERM)
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	n = read(fd, stat, sizeof(stat) - 1);
	close(fd);
	if (n <= 0)
		return true;
	stat[n] = '\0';
	open_paren = strchr(stat, '(');
	close_paren = strrchr(stat, ')');
	if (!open_paren || !close_paren || close_paren < open_paren || close_paren[1] != ' ')
		return true;
	*close_paren = '\0';
	return strcmp(open_paren + 1, MASTER_TITLE) == 0 && close_paren[2] != 'Z';
}

pid_t
pidfile_live_master(const char *path, char *err, size_t err_len)
{
	pid_t pid = pidfile_read(path, err, err_len);

	if (pid == 0)
		return 0;
	if (pid == getpid() || !is_live_master(pid)) {
		snprintf(err, err_len, "pid file %s: stale, no keyward master runs as pid %ld",
		         path, (long)pid);
		return 0;
	}
	return pid;
}

/* Creates KW_RUNSTATEDIR (mode 0755) when path lies directly in it and it is missing. */
static int
make_run_dir(const char *path, char *err, size_t err_len)
{
	const size_t len = strlen(KW_RUNSTATEDIR);
	const char *last_slash = strrchr(path, '/');

	if (last_slash == NULL || (size_t)(last_slash - path) != len ||
	    strncmp(path, KW_RUNSTATEDIR, len) != 0)
		return KW_OK;
	if (mkdir(KW_RUNSTATEDIR, 0755) < 0) {
		if (errno == EEXIST)
			return KW_OK;
		snprintf(err, err_len, "pid file %s: cannot create %s: %s", path, KW_RUNSTATEDIR,
		         strerror(errno));
		return KW_ERR_INTERNAL;
	}
	if (chmod(KW_RUNSTATEDIR, 0755) < 0) {
		snprintf(err, err_len, "pid file %s: chmod %s: %s", path, KW_RUNSTATEDIR,
		         strerror(errno));
		return KW_ERR_INTERNAL;
	}
	kw_log_notice("created %s", KW_RUNSTATEDIR);
	return KW_OK;
}

int
pidfile_write(const char *path, char *err, size_t err_len)
{
	char why[512], line[32];
	pid_t other;
	int fd, len, rc;

	other = pidfile_live_master(path, why, sizeof(why));
	if (other > 0) {
		snprintf(err, err_len, "another keyward master runs as pid %ld (pid file %s)",
		         (long)other, path);
		return KW_ERR_STATE;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		snprintf(err, err_len, "pid file %s: cannot remove the stale file: %s", path,
		         strerror(errno));
		return KW_ERR_INTERNAL;
	}
	rc = make_run_dir(path, err, err_len);
	if (rc < 0)
		return rc;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, err_len, "pid file %s: %s", path, strerror(errno));
		return errno == EEXIST ? KW_ERR_STATE : KW_ERR_INTERNAL;
	}
	len = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	if (write(fd, line, (size_t)len) != len) {
		snprintf(err, err_len, "pid file %s: %s", path, strerror(errno));
		unlink(path);
		rc = KW_ERR_INTERNAL;
	}
	close(fd);
	return rc;
}

void
pidfile_remove(const char *path)
{
	char err[256];

	if (pidfile_read(path, err, sizeof(err)) == getpid())
		unlink(path);
}

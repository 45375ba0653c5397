/*
 * children.c - starting child processes: the helper executables, fork+exec with
 * the descriptor layout of common/proc.h, the worker <-> signer channels, and
 * signals and control messages to one child.
 */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control.h"
#include "err.h"
#include "kw_build_config.h"
#include "log.h"
#include "proc.h"

#define CHANNEL_BUFFER (256 * 1024)
#define MASTER_PID_ENV "KEYWARD_MASTER_PID"

extern char **environ;

static bool
try_helper(char *path, size_t len, int n)
{
	return n > 0 && (size_t)n < len && access(path, X_OK) == 0;
}

/* Returns a heap copy of the first executable among the candidates for name, or NULL. */
static char *
find_helper(const char *exe_dir, const char *subdir, const char *name)
{
	char path[PATH_MAX];

	if (try_helper(path, sizeof(path), snprintf(path, sizeof(path), "%s/%s", exe_dir, name)) ||
	    try_helper(path, sizeof(path),
	               snprintf(path, sizeof(path), "%s/../%s/%s", exe_dir, subdir, name)) ||
	    try_helper(path, sizeof(path),
	               snprintf(path, sizeof(path), "%s/%s", KW_LIBEXECDIR, name)))
		return strdup(path);
	return NULL;
}

/* Copies the environment without NOTIFY_SOCKET (only the master talks to systemd). */
static char **
build_env(void)
{
	size_t n = 0, out = 1;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 2, sizeof(*env));
	if (!env)
		return NULL;
	if (asprintf(&env[0], MASTER_PID_ENV "=%ld", (long)getpid()) < 0) {
		free(env);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (strncmp(environ[i], "NOTIFY_SOCKET=", 14) == 0 ||
		    strncmp(environ[i], MASTER_PID_ENV "=", strlen(MASTER_PID_ENV) + 1) == 0)
			continue;
		env[out++] = environ[i];
	}
	return env;
}

int
children_prepare(struct master *m, char *err, size_t err_len)
{
	char exe[PATH_MAX];
	ssize_t n;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0) {
		snprintf(err, err_len, "cannot find the master's executable: %s", strerror(errno));
		return KW_ERR_INTERNAL;
	}
	exe[n] = '\0';
	dirname(exe);
	m->signer_path = find_helper(exe, "signer", "keyward-signer");
	m->worker_path = find_helper(exe, "worker", "keyward-worker");
	if (!m->signer_path || !m->worker_path) {
		snprintf(err, err_len, "cannot find %s (looked in %s, %s/../%s and %s)",
		         m->signer_path ? "keyward-worker" : "keyward-signer", exe, exe,
		         m->signer_path ? "worker" : "signer", KW_LIBEXECDIR);
		return KW_ERR_ARGUMENT;
	}
	m->child_env = build_env();
	if (!m->child_env) {
		snprintf(err, err_len, "out of memory");
		return KW_ERR_NOMEM;
	}
	return KW_OK;
}

void
children_release(struct master *m)
{
	if (m->child_env)
		free(m->child_env[0]);
	free(m->child_env);
	free(m->signer_path);
	free(m->worker_path);
	m->child_env = NULL;
	m->signer_path = m->worker_path = NULL;
}

const char *
child_name(const struct child *c, char *buf, size_t len)
{
	if (c->role == CHILD_SIGNER)
		snprintf(buf, len, "signer");
	else
		snprintf(buf, len, "worker %u", c->slot);
	return buf;
}

const char *
child_describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status)) {
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		const char *abbrev = sigabbrev_np(WTERMSIG(status));

		snprintf(buf, len, "killed by signal %d (SIG%s)%s", WTERMSIG(status),
		         abbrev ? abbrev : "?", WCOREDUMP(status) ? ", core dumped" : "");
	} else {
		snprintf(buf, len, "changed state (wait status %#x)", (unsigned)status);
	}
	return buf;
}

static int
channel_pair(int pair[2])
{
	int size = CHANNEL_BUFFER;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
		return -errno;
	for (int i = 0; i < 2; i++) {
		setsockopt(pair[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
		setsockopt(pair[i], SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	}
	return 0;
}

int
child_send(struct child *c, unsigned type, unsigned arg, const int *fds, size_t n_fds)
{
	struct ctl_msg msg = {type, arg};
	char name[32];
	int rc;

	rc = c->ctl < 0 ? -ENOTCONN : ctl_send(c->ctl, &msg, fds, n_fds);
	if (rc < 0)
		kw_log_warn("child_send: control message %u to %s (pid %ld): %s", type,
		            child_name(c, name, sizeof(name)), (long)c->pid, strerror(-rc));
	return rc;
}

/*
 * Gives worker w a channel to signer s. With signer_end >= 0 the worker already
 * holds the other end (its fd 5 at spawn); otherwise a new pair is made and one end
 * goes to the worker with CTL_CHANNEL. The signer's end goes to s (or is dropped
 * when s does not run: the signer's respawn plumbs every worker again).
 */
static void
plumb_channel(struct child *s, struct child *w, int signer_end)
{
	int pair[2] = {signer_end, -1}, rc;

	if (signer_end < 0) {
		rc = channel_pair(pair);
		if (rc < 0) {
			kw_log_err("plumb_channel: socketpair for worker %u: %s", w->slot,
			           strerror(-rc));
			return;
		}
		child_send(w, CTL_CHANNEL, w->slot, &pair[1], 1);
		close(pair[1]);
	}
	if (s->pid > 0 && s->ctl >= 0)
		child_send(s, CTL_CHANNEL, w->slot, &pair[0], 1);
	close(pair[0]);
}

/* In the forked child: lays descriptors out as in proc.h and executes path. */
static void __attribute__((noreturn))
exec_child(const char *path, char *const argv[], char *const envp[], int *map, int n_targets)
{
	static const char failed[] = "keyward: cannot start a child process: ";
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	sigaction(SIGPIPE, &dfl, NULL);
	for (int t = KW_FD_CONTROL; t < n_targets; t++) {
		if (map[t] >= 0 && (map[t] = fcntl(map[t], F_DUPFD, n_targets)) < 0)
			goto fail;
	}
	for (int t = KW_FD_CONTROL; t < n_targets; t++) {
		if (map[t] < 0)
			close(t);
		else if (dup2(map[t], t) < 0)
			goto fail;
	}
	close_range((unsigned)n_targets, ~0U, 0);
	execve(path, argv, envp);

fail:
	if (write(2, failed, sizeof(failed) - 1) > 0 && write(2, path, strlen(path)) > 0)
		(void)!write(2, "\n", 1);
	_exit(KW_EXIT_FATAL_CONFIG);
}

/* Fills map (target fd -> master fd, -1: absent) for c; returns the number of targets. */
static int
fill_map(const struct child *c, int ctl_end, int signer_end, int metrics_fd, int *map)
{
	const struct generation *gen = c->gen;
	const size_t n_files = gen->cfg->n_access_files;
	int n = c->role == CHILD_WORKER
	            ? KW_FD_LISTENERS + (int)(gen->listeners.n + (n_files > 1 ? n_files - 1 : 0))
	            : KW_FD_METRICS + 1;

	for (int t = 0; t < n; t++)
		map[t] = -1;
	map[KW_FD_CONTROL] = ctl_end;
	map[KW_FD_CONFIG] = gen->snapshot_fd;
	map[KW_FD_ERROR_LOG] = gen->error_log_fd;
	if (c->metrics_slot >= 0)
		map[KW_FD_METRICS] = metrics_fd;
	if (c->role == CHILD_WORKER) {
		map[KW_FD_SIGNER] = signer_end;
		for (size_t i = 0; i < gen->listeners.n; i++)
			map[KW_FD_LISTENERS + i] = gen->listeners.fds[i];
		for (size_t i = 0; i < n_files; i++)
			map[kw_fd_access_log(gen->listeners.n, i)] = gen->access_log_fds[i];
	}
	return n;
}

int
child_spawn(struct master *m, struct child *c)
{
	struct generation *gen = c->gen;
	int ctl[2] = {-1, -1}, chan[2] = {-1, -1}, *map = NULL, n_targets, rc;
	char slot[16], generation[16], metrics_slot[16], name[32];
	const char *path = c->role == CHILD_WORKER ? m->worker_path : m->signer_path;
	struct epoll_event ev = {.events = EPOLLIN};
	char *argv[11];
	size_t argc = 0;
	pid_t pid;

	child_name(c, name, sizeof(name));
	snprintf(slot, sizeof(slot), "%u", c->slot);
	snprintf(generation, sizeof(generation), "%u", gen->id);
	argv[argc++] = (char *)path;
	argv[argc++] = (char *)"--config";
	argv[argc++] = gen->cfg->path;
	if (c->role == CHILD_WORKER) {
		argv[argc++] = (char *)"--slot";
		argv[argc++] = slot;
	}
	argv[argc++] = (char *)"--generation";
	argv[argc++] = generation;
	stats_take_slot(m, c);
	if (c->metrics_slot >= 0) {
		snprintf(metrics_slot, sizeof(metrics_slot), "%d", c->metrics_slot);
		argv[argc++] = (char *)"--metrics-slot";
		argv[argc++] = metrics_slot;
	}
	argv[argc] = NULL;

	map = calloc(KW_FD_LISTENERS + gen->listeners.n + gen->cfg->n_access_files, sizeof(*map));
	rc = map ? 0 : -ENOMEM;
	if (rc == 0 && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0)
		rc = -errno;
	if (rc == 0 && c->role == CHILD_WORKER)
		rc = channel_pair(chan);
	if (rc < 0)
		goto out;
	n_targets = fill_map(c, ctl[1], chan[1], m->stats.fd, map);

	pid = fork();
	if (pid < 0) {
		rc = -errno;
		goto out;
	}
	if (pid == 0)
		exec_child(path, argv, m->child_env, map, n_targets);

	c->pid = pid;
	c->ctl = ctl[0];
	ctl[0] = -1;
	c->ready = false;
	c->started_ms = kw_now_ms();
	c->respawn_at_ms = 0;
	c->kill_at_ms = 0;
	fcntl(c->ctl, F_SETFL, O_NONBLOCK);
	ev.data.ptr = c;
	c->epoll_fd = m->epoll_fd;
	if (epoll_ctl(m->epoll_fd, EPOLL_CTL_ADD, c->ctl, &ev) < 0)
		kw_log_err("child_spawn: epoll_ctl for %s: %s", name, strerror(errno));
	kw_log_notice("%s started: pid %ld, generation %u", name, (long)pid, gen->id);

	if (c->role == CHILD_WORKER) {
		plumb_channel(&gen->signer, c, chan[0]);
		chan[0] = -1;
	} else {
		for (size_t i = 0; i < gen->n_workers; i++) {
			if (gen->workers[i].pid > 0 && gen->workers[i].ctl >= 0)
				plumb_channel(c, &gen->workers[i], -1);
		}
	}

out:
	if (rc < 0)
		kw_log_err("child_spawn: cannot start %s of generation %u: %s", name, gen->id,
		           strerror(-rc));
	for (int i = 0; i < 2; i++) {
		if (ctl[i] >= 0)
			close(ctl[i]);
		if (chan[i] >= 0)
			close(chan[i]);
	}
	free(map);
	return rc < 0 ? KW_ERR_INTERNAL : KW_OK;
}

int
child_run_check(const struct master *m, const struct generation *gen)
{
	int map[KW_FD_ERROR_LOG + 1] = {-1, -1, -1, -1, gen->snapshot_fd, -1, -1};
	char *argv[] = {m->signer_path, (char *)"--config", gen->cfg->path, (char *)"--check",
	                NULL};
	int status;
	pid_t pid = fork();

	if (pid < 0) {
		kw_print_error("cannot start %s: %s", m->signer_path, strerror(errno));
		return KW_ERR_INTERNAL;
	}
	if (pid == 0)
		exec_child(m->signer_path, argv, m->child_env, map, KW_FD_ERROR_LOG + 1);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			kw_print_error("waiting for %s: %s", m->signer_path, strerror(errno));
			return KW_ERR_INTERNAL;
		}
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? KW_OK : KW_ERR_ARGUMENT;
}

void
child_kill(struct child *c, int sig, unsigned long long kill_at_ms)
{
	if (c->pid <= 0)
		return;
	kill(c->pid, sig);
	c->kill_at_ms = kill_at_ms;
}

void
child_close_ctl(struct child *c)
{
	if (c->ctl < 0)
		return;
	epoll_ctl(c->epoll_fd, EPOLL_CTL_DEL, c->ctl, NULL);
	close(c->ctl);
	c->ctl = -1;
}

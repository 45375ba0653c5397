/*
 * sandbox_probe.c - the test worker's attempts at what its sandbox forbids, each
 * started by a real-time signal, so that a test picks the worker and the moment.
 */
#include "sandbox_probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

#define MAX_ATTEMPTS 8

static struct probe {
	struct loop_io io;
	char *list;                         /* a copy of KW_SANDBOX_PROBE, cut into the attempts */
	const char *attempts[MAX_ATTEMPTS]; /* "KIND:ARGUMENT" */
	const char *args[MAX_ATTEMPTS];     /* where ARGUMENT starts in each */
	int n;
} probe;

static int
try_open(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static int
try_execve(const char *path)
{
	char *const argv[] = {(char *)path, "-c", "exit 0", NULL};

	execve(path, argv, NULL);
	return -errno;
}

static int
try_connect(const char *port)
{
	struct sockaddr_in addr = {.sin_family = AF_INET,
	                           .sin_port = htons((uint16_t)atoi(port)),
	                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static void
attempt(int k)
{
	const char *what = probe.attempts[k], *arg = probe.args[k];
	int rc;

	if (!what || !arg)
		return;

	kw_log_notice("sandbox probe: %d %s: trying", k, what);
	if (strncmp(what, "open:", 5) == 0)
		rc = try_open(arg);
	else if (strncmp(what, "execve:", 7) == 0)
		rc = try_execve(arg);
	else
		rc = try_connect(arg);
	if (rc)
		kw_log_notice("sandbox probe: %d %s: refused (%s)", k, what, strerror(-rc));
	else
		kw_log_notice("sandbox probe: %d %s: allowed", k, what);
}

static void
on_signal(struct loop_io *io, uint32_t events)
{
	struct signalfd_siginfo si;

	while (read(io->fd, &si, sizeof(si)) == sizeof(si)) {
		int k = (int)si.ssi_signo - SIGRTMIN;
		if (k >= 0 && k < probe.n)
			attempt(k);
	}
}

static bool
known(const char *what)
{
	return strncmp(what, "open:", 5) == 0 || strncmp(what, "execve:", 7) == 0 ||
	       strncmp(what, "connect:", 8) == 0;
}

int
sandbox_probe_init(struct loop *loop)
{
	const char *env = getenv("KW_SANDBOX_PROBE");
	sigset_t set;
	char *save = NULL;

	probe.list = strdup(env ? env : "");
	if (!probe.list)
		return -1;
	for (char *w = strtok_r(probe.list, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		if (probe.n == MAX_ATTEMPTS || !known(w)) {
			kw_log_err("sandbox_probe_init: attempt \"%s\" unknown or one too many", w);
			return -1;
		}
		probe.args[probe.n] = strchr(w, ':') + 1;
		probe.attempts[probe.n++] = w;
	}
	sigemptyset(&set);
	for (int k = 0; k < probe.n; k++)
		sigaddset(&set, SIGRTMIN + k);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	probe.io.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	probe.io.on_event = on_signal;
	if (probe.io.fd < 0 || loop_io_add(loop, &probe.io, EPOLLIN) < 0) {
		kw_log_err("sandbox_probe_init: signalfd: %s", strerror(errno));
		return -1;
	}
	kw_log_notice("sandbox probe: %d attempts ready", probe.n);
	return 0;
}

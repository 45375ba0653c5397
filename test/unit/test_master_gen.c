/*
 * test_master_gen.c - the master's generations without its loop: how a generation
 * lays out its children and opens its files, spawning every child with the
 * descriptors of common/proc.h, the respawn backoff, a graceful drain (workers
 * first, the signer after the last one), a fast stop, and a reload's reuse of the
 * previous generation's listeners.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "err.h"
#include "master/master.h"
#include "proc.h"

#define FAKE_CHILD TEST_DATA_DIR "/fake-child"

extern char **environ;

static char dir[PATH_MAX];
static char conf[PATH_MAX + 32];
static char err[1024];

static void
setup(void)
{
	char path[PATH_MAX + 32];

	snprintf(dir, sizeof(dir), "/tmp/kw-master-gen-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/etc", dir);
	cr_assert_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/www", dir);
	cr_assert_eq(mkdir(path, 0755), 0);
	snprintf(conf, sizeof(conf), "%s/etc/keyward.conf", dir);
}

static void
teardown(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(master_gen, .init = setup, .fini = teardown);

/* A port nothing listens on now (bound and released). */
static unsigned
free_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

/* The configuration text: `workers` workers, one plain server on port, extra first. */
static char *
config_text(unsigned workers, unsigned port, const char *extra)
{
	char *text;

	cr_assert_geq(
	    asprintf(&text,
	             "%sworkers = %u;\n"
	             "servers = ( { listen = ( { address = \"127.0.0.1\"; port = %u; } );\n"
	             "  locations = ( { prefix = \"/\"; root = \"../www\"; } ); } );\n",
	             extra, workers, port),
	    0);
	return text;
}

/* Builds generation id from text (which it frees). */
static struct generation *
make_gen(unsigned id, char *text)
{
	struct kw_config *cfg;
	struct generation *gen = NULL;

	cr_assert_eq(kw_config_load_string(text, conf, &cfg, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(gen_create(id, cfg, text, &gen, err, sizeof(err)), 0, "%s", err);
	free(text);
	return gen;
}

static size_t
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	size_t n = 0;

	cr_assert_not_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* A process that waits to be signalled; the caller reaps it. */
static pid_t
sleeper(void)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		execl("/bin/sleep", "sleep", "300", (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Reaps pid, killing it first when kill_first; returns its wait status. */
static int
reap(pid_t pid, bool kill_first)
{
	int status;

	if (kill_first)
		kill(pid, SIGKILL);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static bool
still_running(pid_t pid)
{
	int status;

	return waitpid(pid, &status, WNOHANG) == 0;
}

/* Gives c a process (a sleeper) and a control channel whose other end is returned. */
static int
attach(struct child *c)
{
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	c->pid = sleeper();
	c->ctl = sv[0];
	c->epoll_fd = -1;
	return sv[1];
}

Test(master_gen, create_lays_out_the_signer_then_the_workers)
{
	struct generation *gen = make_gen(7, config_text(3, free_port(), ""));
	int seals;

	cr_assert_eq(gen->id, 7);
	cr_assert_eq(gen->state, GEN_STARTING);
	cr_assert_eq(gen->n_workers, 3);
	cr_assert_eq(gen_n_children(gen), 4);
	cr_assert_eq(gen_child(gen, 0), &gen->signer);
	cr_assert_eq(gen->signer.role, CHILD_SIGNER);
	for (size_t i = 1; i < gen_n_children(gen); i++) {
		cr_assert_eq(gen_child(gen, i), &gen->workers[i - 1]);
		cr_assert_eq(gen->workers[i - 1].role, CHILD_WORKER);
		cr_assert_eq(gen->workers[i - 1].slot, i - 1);
	}
	for (size_t i = 0; i < gen_n_children(gen); i++) {
		const struct child *c = gen_child(gen, i);

		cr_assert_eq(c->gen, gen);
		cr_assert_eq(c->pid, 0);
		cr_assert_eq(c->ctl, -1);
		cr_assert_eq(c->backoff_ms, MASTER_BACKOFF_MIN_MS);
		cr_assert(!c->ready && !c->stopping);
	}
	/* the snapshot is sealed; stderr and "off" open no log file */
	cr_assert_geq(gen->snapshot_fd, 0);
	seals = fcntl(gen->snapshot_fd, F_GET_SEALS);
	cr_assert_eq(seals & (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL),
	             F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
	cr_assert_eq(gen->error_log_fd, -1);
	cr_assert_eq(gen->cfg->n_access_files, 0);
	cr_assert_eq(gen_live_processes(gen), 0);
	gen_free(gen);
}

Test(master_gen, create_opens_the_log_files)
{
	char extra[2 * PATH_MAX + 64];
	struct generation *gen;
	struct stat st;

	snprintf(extra, sizeof(extra),
	         "error_log = \"%s/error.log\";\naccess_log = \"%s/access.log\";\n", dir, dir);
	gen = make_gen(1, config_text(1, free_port(), extra));
	cr_assert_geq(gen->error_log_fd, 0);
	cr_assert_eq(gen->cfg->n_access_files, 1);
	cr_assert_geq(gen->access_log_fds[0], 0);
	cr_assert_eq(fcntl(gen->error_log_fd, F_GETFL) & O_APPEND, O_APPEND);
	snprintf(extra, sizeof(extra), "%s/access.log", dir);
	cr_assert_eq(stat(extra, &st), 0);
	gen_free(gen);
}

Test(master_gen, create_refuses_a_log_it_cannot_open_and_leaves_nothing_open)
{
	char extra[PATH_MAX + 64];
	struct kw_config *cfg;
	struct generation *gen = NULL;
	char *text;
	size_t before;

	snprintf(extra, sizeof(extra), "error_log = \"%s/missing/error.log\";\n", dir);
	text = config_text(2, free_port(), extra);
	cr_assert_eq(kw_config_load_string(text, conf, &cfg, err, sizeof(err)), 0, "%s", err);
	before = open_fds();
	cr_assert_eq(gen_create(1, cfg, text, &gen, err, sizeof(err)), KW_ERR_ARGUMENT);
	cr_assert_null(gen);
	cr_assert_not_null(strstr(err, "keyward.conf:1: error_log "), "%s", err);
	cr_assert_not_null(strstr(err, "No such file or directory"), "%s", err);
	cr_assert_eq(open_fds(), before);
	free(text);
}

Test(master_gen, ready_only_when_the_signer_and_every_worker_are)
{
	struct generation *gen = make_gen(1, config_text(2, free_port(), ""));

	cr_assert(!gen_all_ready(gen));
	gen->workers[0].ready = gen->workers[1].ready = true;
	cr_assert(!gen_all_ready(gen), "the signer is not ready");
	gen->signer.ready = true;
	gen->workers[1].ready = false;
	cr_assert(!gen_all_ready(gen), "worker 1 is not ready");
	gen->workers[1].ready = true;
	cr_assert(gen_all_ready(gen));

	gen->signer.pid = 100;
	gen->workers[1].pid = 101;
	cr_assert_eq(gen_live_processes(gen), 2);
	gen->signer.pid = gen->workers[1].pid = 0;
	gen_free(gen);
}

Test(master_gen, start_spawns_every_child_with_its_descriptors)
{
	struct master m = {
	    .signer_path = (char *)FAKE_CHILD,
	    .worker_path = (char *)FAKE_CHILD,
	    .child_env = environ,
	};
	struct generation *gen = make_gen(3, config_text(2, free_port(), ""));
	unsigned long long before, after;
	struct epoll_event ev[8];
	size_t seen = 0;

	m.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	cr_assert_geq(m.epoll_fd, 0);
	cr_assert_eq(stats_init(&m, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(gen_listen(gen, NULL, err, sizeof(err)), 0, "%s", err);
	before = kw_now_ms();
	cr_assert_eq(gen_start(&m, gen, err, sizeof(err)), 0, "%s", err);
	after = kw_now_ms();
	cr_assert_eq(gen->state, GEN_STARTING);
	cr_assert_geq(gen->ready_deadline_ms, before + MASTER_READY_TIMEOUT_MS);
	cr_assert_leq(gen->ready_deadline_ms, after + MASTER_READY_TIMEOUT_MS);
	for (size_t i = 0; i < gen_n_children(gen); i++) {
		struct child *c = gen_child(gen, i);

		cr_assert_gt(c->pid, 0);
		cr_assert_geq(c->ctl, 0);
		cr_assert_eq(c->epoll_fd, m.epoll_fd);
		cr_assert_geq(c->started_ms, before);
		for (size_t j = 0; j < i; j++)
			cr_assert_neq(gen_child(gen, j)->pid, c->pid);
	}
	/* the signer and each worker hold a slot of the shared counters of their kind */
	cr_assert_eq(gen->signer.metrics_slot, 0);
	cr_assert_eq(gen->workers[0].metrics_slot, 0);
	cr_assert_eq(gen->workers[1].metrics_slot, 1);
	cr_assert_eq(m.stats.region->master.worker_slots, 2);
	cr_assert_eq(m.stats.region->master.signer_slots, 1);
	/* each child found its descriptors (the fake child's exit status says so) */
	for (size_t i = 0; i < gen_n_children(gen); i++) {
		struct child *c = gen_child(gen, i);
		int status = reap(c->pid, false);

		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		          "child %zu: wait status %#x", i, (unsigned)status);
		c->pid = 0;
	}
	/* every control channel is in the master's epoll set, naming its child */
	while (seen < gen_n_children(gen)) {
		int n = epoll_wait(m.epoll_fd, ev, 8, 10000);

		cr_assert_gt(n, 0, "every control channel reports its end");
		for (int k = 0; k < n; k++) {
			struct child *c = ev[k].data.ptr;

			cr_assert_eq(c->gen, gen);
			child_close_ctl(c);
			seen++;
		}
	}
	/* slots given back are handed out again, lowest first */
	stats_release(&m, gen);
	cr_assert_eq(gen->workers[1].metrics_slot, -1);
	stats_take_slot(&m, &gen->workers[1]);
	cr_assert_eq(gen->workers[1].metrics_slot, 0);
	gen_free(gen);
	stats_free(&m);
	close(m.epoll_fd);
}

Test(master_gen, respawn_backoff_doubles_up_to_the_cap)
{
	struct generation *gen = make_gen(1, config_text(1, free_port(), ""));
	struct child *c = &gen->workers[0];
	unsigned long long now = 1000000, want = MASTER_BACKOFF_MIN_MS;

	c->started_ms = now;
	/* 100, 200, ... 25600, then the cap (30000), at and past it */
	for (int i = 0; i < 12; i++) {
		unsigned long long delay = child_schedule_respawn(c, now);

		cr_assert_eq(delay, want, "respawn %d", i);
		cr_assert_eq(c->respawn_at_ms, now + want);
		want = want * 2 > MASTER_BACKOFF_MAX_MS ? MASTER_BACKOFF_MAX_MS : want * 2;
	}
	cr_assert_eq(c->backoff_ms, MASTER_BACKOFF_MAX_MS);
	gen_free(gen);
}

Test(master_gen, respawn_backoff_starts_over_after_a_good_life)
{
	struct generation *gen = make_gen(1, config_text(1, free_port(), ""));
	struct child *c = &gen->workers[0];
	unsigned long long now = 5000000;

	c->backoff_ms = 6400;
	c->started_ms = now - (MASTER_GOOD_LIFE_MS - 1);
	cr_assert_eq(child_schedule_respawn(c, now), 6400, "one ms short of a good life");
	cr_assert_eq(c->backoff_ms, 12800);
	c->started_ms = now - MASTER_GOOD_LIFE_MS;
	cr_assert_eq(child_schedule_respawn(c, now), MASTER_BACKOFF_MIN_MS, "a good life");
	cr_assert_eq(c->respawn_at_ms, now + MASTER_BACKOFF_MIN_MS);
	cr_assert_eq(c->backoff_ms, 2 * MASTER_BACKOFF_MIN_MS);
	gen_free(gen);
}

Test(master_gen, drain_stops_the_workers_then_the_signer_after_the_last)
{
	struct generation *gen =
	    make_gen(1, config_text(2, free_port(), "shutdown_timeout = 3000;\n"));
	int peer[3];
	unsigned long long before, after;
	struct ctl_msg msg;
	int fds[CTL_MAX_FDS];
	size_t n_fds;
	int status;

	for (size_t i = 0; i < gen_n_children(gen); i++) {
		peer[i] = attach(gen_child(gen, i));
		gen_child(gen, i)->respawn_at_ms = 12345;
	}
	before = kw_now_ms();
	gen_drain(gen);
	after = kw_now_ms();
	cr_assert_eq(gen->state, GEN_DRAINING);
	for (size_t i = 0; i < gen_n_children(gen); i++) {
		cr_assert(gen_child(gen, i)->stopping, "child %zu is never respawned", i);
		cr_assert_eq(gen_child(gen, i)->respawn_at_ms, 0);
	}
	/* each worker is told to finish within the shutdown timeout, then killed */
	for (size_t i = 1; i < gen_n_children(gen); i++) {
		const struct child *w = gen_child(gen, i);

		cr_assert_eq(ctl_recv(peer[i], &msg, fds, &n_fds), 1);
		cr_assert_eq(msg.type, CTL_SHUTDOWN);
		cr_assert_eq(msg.arg, 3000);
		cr_assert_geq(w->kill_at_ms, before + 3000 + MASTER_DRAIN_SLACK_MS);
		cr_assert_leq(w->kill_at_ms, after + 3000 + MASTER_DRAIN_SLACK_MS);
	}
	/* the signer serves the workers until the last one is gone */
	cr_assert_eq(gen->signer.kill_at_ms, 0);
	reap(gen->workers[0].pid, true);
	gen->workers[0].pid = 0;
	gen_worker_gone(gen);
	cr_assert_eq(gen->signer.kill_at_ms, 0, "a worker is still running");
	cr_assert(still_running(gen->signer.pid));
	reap(gen->workers[1].pid, true);
	gen->workers[1].pid = 0;
	before = kw_now_ms();
	gen_worker_gone(gen);
	cr_assert_geq(gen->signer.kill_at_ms, before + MASTER_KILL_GRACE_MS);
	status = reap(gen->signer.pid, false);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "status %#x",
	          (unsigned)status);
	gen->signer.pid = 0;
	for (size_t i = 0; i < 3; i++)
		close(peer[i]);
	gen_free(gen);
}

Test(master_gen, terminate_signals_every_process_once)
{
	struct generation *gen = make_gen(1, config_text(2, free_port(), ""));
	int peer[3], status;
	unsigned long long before;

	for (size_t i = 0; i < gen_n_children(gen); i++)
		peer[i] = attach(gen_child(gen, i));
	/* worker 1 already has an earlier deadline: it is left to it */
	gen->workers[1].kill_at_ms = 1;
	before = kw_now_ms();
	gen_terminate(gen);
	cr_assert_eq(gen->state, GEN_DRAINING);
	for (size_t i = 0; i < 2; i++) {
		struct child *c = gen_child(gen, i);

		cr_assert(c->stopping);
		cr_assert_geq(c->kill_at_ms, before + MASTER_KILL_GRACE_MS);
		status = reap(c->pid, false);
		cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "child %zu: %#x", i,
		          (unsigned)status);
		c->pid = 0;
	}
	cr_assert_eq(gen->workers[1].kill_at_ms, 1);
	cr_assert(still_running(gen->workers[1].pid), "not signalled again");
	reap(gen->workers[1].pid, true);
	gen->workers[1].pid = 0;
	for (size_t i = 0; i < 3; i++)
		close(peer[i]);
	gen_free(gen);
}

static ino_t
socket_inode(int fd)
{
	struct stat st;

	cr_assert_eq(fstat(fd, &st), 0);
	return st.st_ino;
}

Test(master_gen, reload_keeps_the_listeners_of_unchanged_addresses)
{
	unsigned port = free_port(), other = free_port();
	struct generation *old = make_gen(1, config_text(1, port, ""));
	struct generation *same = make_gen(2, config_text(1, port, ""));
	struct generation *moved;

	cr_assert_eq(gen_listen(old, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(old->listeners.n, 1);
	/* the same address: the very socket, so no connection is refused during a reload */
	cr_assert_eq(gen_listen(same, old, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(same->listeners.n, 1);
	cr_assert_neq(same->listeners.fds[0], old->listeners.fds[0]);
	cr_assert_eq(socket_inode(same->listeners.fds[0]), socket_inode(old->listeners.fds[0]));
	/* a new address: a new socket, and the old generation's stays open */
	if (other == port)
		other = free_port();
	moved = make_gen(3, config_text(1, other, ""));
	cr_assert_eq(gen_listen(moved, same, err, sizeof(err)), 0, "%s", err);
	cr_assert_neq(socket_inode(moved->listeners.fds[0]), socket_inode(same->listeners.fds[0]));
	gen_free(old);
	cr_assert_geq(fcntl(same->listeners.fds[0], F_GETFD), 0);
	gen_free(same);
	gen_free(moved);
}

/* The snapshot a child reads is bounded: at the limit it is sealed, one byte past refused. */
Test(master_gen, snapshot_at_and_past_the_size_children_read)
{
	const size_t fixed = strlen("") + 1 + strlen("/p") + 1 + 1;
	char *big = malloc(KW_CONFIG_SNAPSHOT_MAX);
	struct kw_file file = {(char *)"/p", big};
	struct kw_config cfg = {.path = (char *)"keyward.conf", .files = &file, .n_files = 1};
	int fd;

	cr_assert_not_null(big);
	memset(big, 'x', KW_CONFIG_SNAPSHOT_MAX - fixed);
	big[KW_CONFIG_SNAPSHOT_MAX - fixed] = '\0';
	fd = snapshot_seal(&cfg, "", err, sizeof(err));
	cr_assert_geq(fd, 0, "%s", err);
	cr_assert_eq(lseek(fd, 0, SEEK_END), (off_t)KW_CONFIG_SNAPSHOT_MAX);
	close(fd);
	big[KW_CONFIG_SNAPSHOT_MAX - fixed] = 'x';
	big[KW_CONFIG_SNAPSHOT_MAX - fixed + 1] = '\0';
	cr_assert_eq(snapshot_seal(&cfg, "", err, sizeof(err)), KW_ERR_ARGUMENT);
	cr_assert_not_null(strstr(err, "more than the 16777216 a child reads"), "%s", err);
	free(big);
}

/*
 * master.c - the master's loop: signals (signalfd), control channels (epoll) and
 * timers (respawn backoff, ready deadline, kill deadlines) drive the generations:
 * startup, respawn, reload, log reopen, graceful and fast stop, and systemd
 * notifications.
 */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "confine.h"
#include "control.h"
#include "err.h"
#include "kw_build_config.h"
#include "log.h"
#include "proc.h"
#include "util.h"

#define MAX_EVENTS 32
#define ERR_LEN    1024

static const int handled_signals[] = {SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGUSR1};

static void reload(struct master *m);

static struct generation *
log_generation(const struct master *m)
{
	return m->current ? m->current : m->pending;
}

/* Points the master's log at the error log of gen (its own copy, kept across gen_free). */
static void
adopt_log(struct master *m, const struct generation *gen)
{
	enum kw_log_level level = KW_LOG_NOTICE;
	int fd = -1;

	if (gen->error_log_fd >= 0)
		fd = fcntl(gen->error_log_fd, F_DUPFD_CLOEXEC, 3);
	kw_log_set_fd(fd >= 0 ? fd : STDERR_FILENO);
	if (m->log_fd >= 0)
		close(m->log_fd);
	m->log_fd = fd;
	if (gen->cfg->log_level)
		kw_log_level_parse(gen->cfg->log_level, &level);
	kw_log_set_level(level);
}

/* Logs an error; while starting up, also tells the terminal when the log is a file. */
static void __attribute__((format(printf, 2, 3)))
fail_startup(struct master *m, const char *fmt, ...)
{
	char msg[ERR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kw_log_err("%s", msg);
	if (m->log_fd >= 0)
		kw_print_error("%s", msg);
	m->exit_code = 1;
}

static void
notify_ready(const struct master *m, const char *suffix)
{
	const struct generation *gen = m->current;

	if (gen)
		sd_notifyf(0, "READY=1\nSTATUS=generation %u, %zu workers%s", gen->id,
		           gen->n_workers, suffix);
}

/* The STATUS line alone (every respawned child of the current generation serves again). */
static void
notify_status(const struct master *m, const char *suffix)
{
	const struct generation *gen = m->current;

	if (gen)
		sd_notifyf(0, "STATUS=generation %u, %zu workers%s", gen->id, gen->n_workers,
		           suffix);
}

static void
notify_stopping(struct master *m)
{
	if (m->stop == MASTER_RUNNING)
		sd_notify(0, "STOPPING=1");
}

static void
fast_stop(struct master *m, const char *why)
{
	if (m->stop == MASTER_FAST_STOP)
		return;
	notify_stopping(m);
	m->stop = MASTER_FAST_STOP;
	m->pending = NULL;
	m->reload_queued = false;
	kw_log_notice("fast stop (%s): terminating every process", why);
	for (struct generation *g = m->gens; g; g = g->next)
		gen_terminate(g);
}

static void
graceful_stop(struct master *m)
{
	if (m->stop != MASTER_RUNNING)
		return;
	notify_stopping(m);
	m->stop = MASTER_GRACEFUL_STOP;
	m->pending = NULL;
	m->reload_queued = false;
	kw_log_notice("graceful stop: workers finish their connections, then exit");
	for (struct generation *g = m->gens; g; g = g->next) {
		if (g->state != GEN_DRAINING)
			gen_drain(g);
	}
}

/* The pending generation cannot serve: stop it; at startup, stop everything. */
static void
pending_failed(struct master *m, const char *reason)
{
	struct generation *gen = m->pending;

	m->pending = NULL;
	gen_terminate(gen);
	if (!m->current) {
		fail_startup(m, "startup failed: %s", reason);
		fast_stop(m, "startup failed");
		return;
	}
	kw_log_err("reload failed: generation %u: %s", gen->id, reason);
	stats_reload_failed(m);
	notify_ready(m, ", reload failed");
	if (m->reload_queued)
		reload(m);
}

static void
commit(struct master *m, struct generation *gen)
{
	struct generation *old = m->current;

	m->pending = NULL;
	m->current = gen;
	gen->state = GEN_SERVING;
	adopt_log(m, gen);
	stats_commit(m, gen, old != NULL);
	if (old) {
		kw_log_notice("generation %u: stopping gracefully", old->id);
		gen_drain(old);
	}
	kw_log_notice("ready: generation %u, %zu workers", gen->id, gen->n_workers);
	notify_ready(m, "");
	if (m->reload_queued)
		reload(m);
}

static void
reload_refused(struct master *m, const char *err)
{
	kw_log_err("reload failed: %s", err);
	stats_reload_failed(m);
	notify_ready(m, ", reload failed");
}

/* Fits the descriptor limit to cfg before its children start (they inherit it). */
static void
fit_nofile(const struct kw_config *cfg)
{
	char msg[ERR_LEN];
	int rc = nofile_fit(cfg, msg, sizeof(msg));

	if (rc == NOFILE_RAISED)
		kw_log_notice("%s", msg);
	else if (rc == NOFILE_SHORT)
		kw_log_warn("%s", msg);
}

static void
reload(struct master *m)
{
	char err[ERR_LEN];
	struct kw_config *cfg = NULL;
	struct generation *gen = NULL;
	char *text = NULL;
	struct timespec ts;

	if (m->stop != MASTER_RUNNING) {
		kw_log_notice("reload ignored: stopping");
		return;
	}
	if (m->pending) {
		m->reload_queued = true;
		kw_log_notice("reload requested during a reload: queued");
		return;
	}
	m->reload_queued = false;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
	           (unsigned long long)ts.tv_sec * 1000000ULL +
	               (unsigned long long)ts.tv_nsec / 1000ULL);
	kw_log_notice("reloading configuration %s", m->config_path);

	if (snapshot_load(m->config_path, &text, &cfg, err, sizeof(err)) < 0 ||
	    gen_create(m->last_gen_id + 1, cfg, text, &gen, err, sizeof(err)) < 0) {
		reload_refused(m, err);
		goto out;
	}
	if (gen_listen(gen, m->current, err, sizeof(err)) < 0) {
		gen_free(gen);
		reload_refused(m, err);
		goto out;
	}
	if (strcmp(gen->cfg->pid_file, m->pid_file) != 0)
		kw_log_warn("pid_file changed to %s: takes effect at the next start; the pid "
		            "file stays %s",
		            gen->cfg->pid_file, m->pid_file);
	m->last_gen_id = gen->id;
	gen->next = m->gens;
	m->gens = gen;
	m->pending = gen;
	fit_nofile(gen->cfg);
	if (gen_start(m, gen, err, sizeof(err)) < 0)
		pending_failed(m, err);

out:
	free(text);
}

static void
reopen_logs(struct master *m)
{
	struct generation *gen = log_generation(m);
	bool failed = false;

	for (struct generation *g = m->gens; g; g = g->next)
		failed |= gen_reopen_logs(g) < 0;
	if (gen)
		adopt_log(m, gen);
	if (failed)
		kw_log_err("log files reopened, except those named above");
	else
		kw_log_notice("log files reopened");
}

static struct child *
find_child(struct master *m, pid_t pid)
{
	for (struct generation *g = m->gens; g; g = g->next) {
		if (g->signer.pid == pid)
			return &g->signer;
		for (size_t i = 0; i < g->n_workers; i++) {
			if (g->workers[i].pid == pid)
				return &g->workers[i];
		}
	}
	return NULL;
}

/*
 * A child of the current generation died: it is started again after its backoff,
 * whatever the cause, as long as its generation serves. One that exited
 * KW_EXIT_FATAL_CONFIG said why in its own log line (a key file gone, say); it is
 * retried all the same, since the file may come back, and systemd's STATUS says so.
 */
static void
schedule_respawn(struct child *c, unsigned long long now, const char *name, pid_t pid,
                 const char *how, bool unusable)
{
	unsigned long long delay = child_schedule_respawn(c, now);

	kw_log_err("%s (pid %ld, generation %u) %s%s; respawning in %llu ms", name, (long)pid,
	           c->gen->id, how, unusable ? " (configuration unusable)" : "", delay);
	sd_notifyf(0, "STATUS=generation %u, %zu workers; %s %s%s, respawning in %llu ms",
	           c->gen->id, c->gen->n_workers, name, how,
	           unusable ? " (configuration unusable)" : "", delay);
	c->failing = true;
}

static void
child_exited(struct master *m, struct child *c, int status)
{
	struct generation *gen = c->gen;
	char name[32], how[96], reason[256];
	pid_t pid = c->pid;

	child_name(c, name, sizeof(name));
	child_describe_status(status, how, sizeof(how));
	c->pid = 0;
	c->ready = false;
	c->kill_at_ms = 0;
	child_close_ctl(c);

	const bool respawn = gen->state == GEN_SERVING && !c->stopping && m->stop == MASTER_RUNNING;
	stats_child_gone(m, c, respawn);
	if (gen->state == GEN_DRAINING || c->stopping || m->stop != MASTER_RUNNING) {
		kw_log_info("%s (pid %ld, generation %u) %s", name, (long)pid, gen->id, how);
		if (c->role == CHILD_WORKER)
			gen_worker_gone(gen);
	} else if (gen->state == GEN_STARTING) {
		snprintf(reason, sizeof(reason), "%s (pid %ld) %s during startup", name, (long)pid,
		         how);
		pending_failed(m, reason);
	} else {
		schedule_respawn(c, kw_now_ms(), name, pid, how,
		                 WIFEXITED(status) && WEXITSTATUS(status) == KW_EXIT_FATAL_CONFIG);
	}
}

static void
reap(struct master *m)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct child *c = find_child(m, pid);

		if (c)
			child_exited(m, c, status);
	}
}

static void
handle_signals(struct master *m)
{
	struct signalfd_siginfo si;
	bool chld = false, hup = false, usr1 = false;

	while (read(m->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			chld = true;
			break;
		case SIGHUP:
			hup = true;
			break;
		case SIGUSR1:
			usr1 = true;
			break;
		case SIGQUIT:
			graceful_stop(m);
			break;
		default:
			fast_stop(m, si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
			break;
		}
	}
	if (chld)
		reap(m);
	if (hup)
		reload(m);
	if (usr1)
		reopen_logs(m);
}

/* True when a child of gen died and has not said CTL_READY since. */
static bool
gen_failing(const struct generation *gen)
{
	if (gen->signer.failing)
		return true;
	for (size_t i = 0; i < gen->n_workers; i++) {
		if (gen->workers[i].failing)
			return true;
	}
	return false;
}

static void
child_ready(struct master *m, struct child *c)
{
	struct generation *gen = c->gen;
	bool was_failing;
	char name[32];

	if (c->ready)
		return;
	c->ready = true;
	tickets_send(m, c);
	child_name(c, name, sizeof(name));
	if (gen->state != GEN_STARTING) {
		kw_log_notice("%s ready: pid %ld, generation %u", name, (long)c->pid, gen->id);
		was_failing = c->failing;
		c->failing = false;
		if (was_failing && gen == m->current && !gen_failing(gen))
			notify_status(m, "");
		return;
	}
	kw_log_info("%s ready: pid %ld, generation %u", name, (long)c->pid, gen->id);
	if (gen == m->pending && gen_all_ready(gen))
		commit(m, gen);
}

/* The signer closed a worker's channel for a protocol breach: that worker is stopped. */
static void
worker_broke(struct child *signer, uint32_t slot)
{
	struct generation *gen = signer->gen;
	struct child *w;

	if (slot >= gen->n_workers || gen->workers[slot].pid <= 0) {
		kw_log_warn("signer (pid %ld) reported worker %u, which is not running",
		            (long)signer->pid, (unsigned)slot);
		return;
	}
	w = &gen->workers[slot];
	kw_log_warn("worker %u (pid %ld, generation %u) broke the signer protocol: killing it",
	            (unsigned)slot, (long)w->pid, gen->id);
	child_kill(w, SIGKILL, 0);
}

/* What a control handler of the master works on: the master and the child that spoke. */
struct control_ctx {
	struct master *m;
	struct child *c;
};

static enum ctl_verdict
on_ready(void *ctx, const struct ctl_msg *msg, int *fds, size_t n_fds)
{
	struct control_ctx *cc = ctx;

	child_ready(cc->m, cc->c);
	return CTL_CONTINUE;
}

static enum ctl_verdict
on_worker_broke(void *ctx, const struct ctl_msg *msg, int *fds, size_t n_fds)
{
	struct control_ctx *cc = ctx;

	worker_broke(cc->c, msg->arg);
	return CTL_CONTINUE;
}

/* What each kind of child may say. */
static const struct ctl_handler worker_handlers[] = {
    {CTL_READY, 0, 0, on_ready},
};
static const struct ctl_handler signer_handlers[] = {
    {CTL_READY, 0, 0, on_ready},
    {CTL_WORKER_BROKE, 0, 0, on_worker_broke},
};

static void
handle_control(struct master *m, struct child *c)
{
	struct control_ctx cc = {m, c};
	char who[32], name[64];
	bool signer = c->role == CHILD_SIGNER;

	if (c->ctl < 0)
		return;
	snprintf(name, sizeof(name), "%s (pid %ld)", child_name(c, who, sizeof(who)), (long)c->pid);
	switch (ctl_dispatch(c->ctl, signer ? signer_handlers : worker_handlers,
	                     signer ? countof(signer_handlers) : countof(worker_handlers), &cc,
	                     name, 0)) {
	case CTL_DISPATCH_IDLE:
	case CTL_DISPATCH_STOP:
		return;
	case CTL_DISPATCH_EOF:
	case CTL_DISPATCH_BROKEN:
		child_close_ctl(c);
		return;
	}
}

static void
check_deadlines(struct master *m, struct child *c, unsigned long long now)
{
	char name[32];

	if (c->kill_at_ms && now >= c->kill_at_ms && c->pid > 0) {
		kw_log_warn("%s (pid %ld, generation %u) did not exit in time: killing it",
		            child_name(c, name, sizeof(name)), (long)c->pid, c->gen->id);
		child_kill(c, SIGKILL, 0);
	}
	if (c->respawn_at_ms && now >= c->respawn_at_ms) {
		c->respawn_at_ms = 0;
		if (child_spawn(m, c) < 0)
			c->respawn_at_ms = now + c->backoff_ms;
	}
}

static void
check_ready_deadline(struct master *m, unsigned long long now)
{
	struct generation *gen = m->pending;
	char name[32];

	if (!gen || now < gen->ready_deadline_ms)
		return;
	for (size_t i = 0; i < gen_n_children(gen); i++) {
		struct child *c = gen_child(gen, i);

		if (!c->ready)
			kw_log_err(
			    "%s (pid %ld, generation %u) did not report ready within %llu ms",
			    child_name(c, name, sizeof(name)), (long)c->pid, gen->id,
			    MASTER_READY_TIMEOUT_MS);
	}
	pending_failed(m, "not every process reported ready in time");
}

static void
run_timers(struct master *m)
{
	unsigned long long now = kw_now_ms();

	check_ready_deadline(m, now);
	tickets_rotate_due(m, now);
	for (struct generation *g = m->gens; g; g = g->next) {
		check_deadlines(m, &g->signer, now);
		for (size_t i = 0; i < g->n_workers; i++)
			check_deadlines(m, &g->workers[i], now);
	}
}

static void
earliest(unsigned long long *t, unsigned long long candidate)
{
	if (candidate && (*t == 0 || candidate < *t))
		*t = candidate;
}

/* Milliseconds until the next timer, or -1 when none is armed. */
static int
next_timeout(const struct master *m)
{
	unsigned long long t = 0, now;

	if (m->pending)
		earliest(&t, m->pending->ready_deadline_ms);
	earliest(&t, m->tickets_rotate_at_ms);
	for (const struct generation *g = m->gens; g; g = g->next) {
		earliest(&t, g->signer.kill_at_ms);
		earliest(&t, g->signer.respawn_at_ms);
		for (size_t i = 0; i < g->n_workers; i++) {
			earliest(&t, g->workers[i].kill_at_ms);
			earliest(&t, g->workers[i].respawn_at_ms);
		}
	}
	if (t == 0)
		return -1;
	now = kw_now_ms();
	return t <= now ? 0 : (int)(t - now < 60000 ? t - now : 60000);
}

/* Frees the generations that were told to stop and have no process left. */
static void
collect_generations(struct master *m)
{
	struct generation **link = &m->gens;

	while (*link) {
		struct generation *g = *link;

		if (g->state != GEN_DRAINING || gen_live_processes(g) > 0) {
			link = &g->next;
			continue;
		}
		*link = g->next;
		if (m->current == g)
			m->current = NULL;
		kw_log_notice("generation %u: every process exited", g->id);
		stats_release(m, g);
		gen_free(g);
	}
}

static int
run_loop(struct master *m)
{
	struct epoll_event events[MAX_EVENTS];

	while (m->stop == MASTER_RUNNING || m->gens) {
		int n = epoll_wait(m->epoll_fd, events, MAX_EVENTS, next_timeout(m));

		if (n < 0 && errno != EINTR) {
			kw_log_err("run_loop: epoll_wait: %s", strerror(errno));
			return KW_ERR_INTERNAL;
		}
		for (int i = 0; i < n; i++) {
			if (events[i].data.ptr)
				handle_control(m, events[i].data.ptr);
			else
				handle_signals(m);
		}
		run_timers(m);
		collect_generations(m);
	}
	return KW_OK;
}

/* Makes sure 0, 1 and 2 are open, so that no socket or log lands there. */
static void
ensure_std_fds(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF)
			open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
	}
}

static int
setup_events(struct master *m, char *err, size_t err_len)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(handled_signals) / sizeof(handled_signals[0]); i++)
		sigaddset(&set, handled_signals[i]);
	signal(SIGPIPE, SIG_IGN);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 ||
	    (m->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0 ||
	    (m->epoll_fd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    epoll_ctl(m->epoll_fd, EPOLL_CTL_ADD, m->signal_fd, &ev) < 0) {
		snprintf(err, err_len, "setting up signals and events: %s", strerror(errno));
		return KW_ERR_INTERNAL;
	}
	return KW_OK;
}

/* Loads the configuration and starts generation 1; the loop takes over from there. */
/*
 * Says once, at start, what this kernel's Landlock cannot enforce in the workers'
 * sandbox (each worker says it again at info level).
 */
static void
log_landlock_gaps(void)
{
	struct kw_landlock_plan plan;

	kw_landlock_plan(kw_landlock_abi(), &plan);
	if (plan.abi < 1)
		kw_log_notice("workers' sandbox: no Landlock on this kernel: their files are "
		              "limited by the user's permissions and read-only opens; seccomp "
		              "applies in full");
	else if (plan.missing[0])
		kw_log_notice("workers' sandbox: Landlock ABI %ld does not enforce %s; seccomp "
		              "applies in full",
		              plan.abi, plan.missing);
}

static int
start(struct master *m, int argc, char **argv)
{
	char err[ERR_LEN];
	struct kw_config *cfg = NULL;
	struct generation *gen = NULL;
	char *text = NULL;
	int rc;

	rc = snapshot_load(m->config_path, &text, &cfg, err, sizeof(err));
	if (rc == 0)
		rc = gen_create(1, cfg, text, &gen, err, sizeof(err));
	free(text);
	if (rc < 0) {
		kw_print_error("%s", err);
		return rc;
	}
	free(m->config_path);
	m->config_path = strdup(gen->cfg->path);
	m->gens = m->pending = gen;
	m->last_gen_id = gen->id;
	adopt_log(m, gen);
	kw_log_notice("starting keyward %s with %s", KW_VERSION, gen->cfg->path);
	log_landlock_gaps();

	kw_proc_set_title(argc, argv, "keyward: master");
	m->pid_file = strdup(gen->cfg->pid_file);
	rc = m->pid_file && m->config_path ? KW_OK : KW_ERR_NOMEM;
	if (rc == 0)
		rc = setup_events(m, err, sizeof(err));
	if (rc == 0)
		rc = children_prepare(m, err, sizeof(err));
	if (rc == 0)
		rc = tickets_init(m, err, sizeof(err));
	if (rc == 0)
		rc = stats_init(m, err, sizeof(err));
	if (rc == 0 && (rc = pidfile_write(m->pid_file, err, sizeof(err))) < 0) {
		free(m->pid_file);
		m->pid_file = NULL;
	}
	if (rc == 0)
		rc = gen_listen(gen, NULL, err, sizeof(err));
	if (rc < 0) {
		fail_startup(m, "%s", rc == KW_ERR_NOMEM ? "out of memory" : err);
		return rc;
	}
	fit_nofile(gen->cfg);
	if (gen_start(m, gen, err, sizeof(err)) < 0)
		pending_failed(m, err);
	return KW_OK;
}

int
master_run(const char *config_path, int argc, char **argv)
{
	struct master m = {.epoll_fd = -1,
	                   .signal_fd = -1,
	                   .log_fd = -1,
	                   .stats = {.fd = -1},
	                   .exit_code = 0,
	                   .stop = MASTER_RUNNING};

	ensure_std_fds();
	kw_log_init("master", STDERR_FILENO, KW_LOG_NOTICE);
	m.config_path = strdup(config_path);
	if (!m.config_path || start(&m, argc, argv) < 0)
		m.exit_code = 1;
	else if (run_loop(&m) < 0)
		m.exit_code = 1;

	for (struct generation *g = m.gens, *next; g; g = next) {
		next = g->next;
		gen_free(g);
	}
	if (m.pid_file)
		pidfile_remove(m.pid_file);
	kw_log_notice("stopped%s", m.exit_code ? " after a failure" : "");
	children_release(&m);
	tickets_wipe(&m);
	stats_free(&m);
	free(m.pid_file);
	free(m.config_path);
	if (m.signal_fd >= 0)
		close(m.signal_fd);
	if (m.epoll_fd >= 0)
		close(m.epoll_fd);
	if (m.log_fd >= 0)
		close(m.log_fd);
	return m.exit_code;
}

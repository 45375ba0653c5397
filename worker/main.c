/*
 * main.c - keyward-worker: serves HTTP over plain TCP and toy-TLS on the listeners
 * the master bound, asking the signer for handshake signatures.
 *
 * Started by the master with the descriptors of proc.h: it reads the configuration
 * snapshot, loads the MIME table, starts its transports (toy-TLS pre-encodes the
 * certificate chains it serves), drops privileges, enters its sandbox (sandbox.h), and
 * runs its event loop until the master stops it or goes away.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "access_log.h"
#include "config.h"
#include "err.h"
#include "log.h"
#include "proc.h"
#include "sandbox.h"
#include "static_file.h"
#include "worker.h"

#ifdef KW_SANDBOX_PROBE
#include "sandbox_probe.h" /* the test build only: keyward-worker-probe */
#endif

/* What the worker loads before its loop starts; freed by startup_free(). */
struct startup {
	struct kw_config *cfg;
	struct mime_table *mime;
	struct access_logs access_logs;
	struct worker *worker;
	struct worker_confinement confinement;
};

static void
usage(FILE *out)
{
	fprintf(out,
	        "usage: keyward-worker --config PATH --slot N [--generation G] [--metrics-slot M]\n"
	        "\n"
	        "Serves keyward's listeners: HTTP over plain TCP and toy-TLS.\n"
	        "Started by keyward (the master) with its control channel on fd %d, the\n"
	        "configuration snapshot on fd %d, the signer channel on fd %d, the\n"
	        "listeners from fd %d and the access log files on fd %d and after the\n"
	        "listeners; not meant to be run by hand.\n"
	        "\n"
	        "  --config PATH     path of the configuration file the snapshot came from\n"
	        "  --slot N          worker slot, for logs\n"
	        "  --generation G    configuration generation, for logs\n"
	        "  --metrics-slot M  its slot of the shared counters (fd %d)\n"
	        "  --help            show this help\n",
	        KW_FD_CONTROL, KW_FD_CONFIG, KW_FD_SIGNER, KW_FD_LISTENERS, KW_FD_ACCESS_LOG,
	        KW_FD_METRICS);
}

/*
 * Signals: SIGTERM ends the process at once (default action); the master's other
 * signals reach workers only by accident (a terminal's process group) and are
 * ignored, since the master relays what matters over the control channel.
 */
static void
signals_init(void)
{
	static const int ignored[] = {SIGPIPE, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2};
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGTERM, SIG_DFL);
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		signal(ignored[i], SIG_IGN);
}

static void
startup_free(struct startup *s)
{
	if (s->worker != NULL)
		worker_dispose(s->worker);
	free(s->worker);
	access_logs_dispose(&s->access_logs);
	mime_table_free(s->mime);
	kw_config_free(s->cfg);
}

/* Says in the process title (which keyward-inspect reads) what confines this worker. */
static void
confinement_title(const struct worker_confinement *c, int argc, char **argv)
{
	char title[64];

	if (c->landlock.abi > 0)
		snprintf(title, sizeof(title), "keyward: worker (landlock ABI %ld)",
		         c->landlock.abi);
	else
		snprintf(title, sizeof(title), "keyward: worker (landlock off)");
	kw_proc_set_title(argc, argv, title);
}

static void
confinement_log(const struct worker_confinement *c)
{
	if (c->landlock.abi > 0)
		kw_log_info("sandbox: seccomp allowlist; Landlock ABI %ld, reading beneath %zu "
		            "roots%s%s",
		            c->landlock.abi, c->n_readable,
		            c->landlock.missing[0] ? "; not enforced: " : "", c->landlock.missing);
	else
		kw_log_info("sandbox: seccomp allowlist; no Landlock: files limited by the "
		            "user's permissions and read-only opens");
}

/* Loads everything the loop needs, as the configured user. Returns 0 or an exit code. */
static int
startup(struct startup *s, const char *path, unsigned metrics_slot, int argc, char **argv)
{
	char err[512];
	int rc;

	s->cfg = kw_proc_read_config(path);
	if (s->cfg == NULL)
		return KW_EXIT_FATAL_CONFIG;
	const struct kw_config *cfg = s->cfg;
	rc = mime_table_load(cfg->mime_types, &s->mime, err, sizeof(err));
	if (rc) {
		kw_log_err("mime_types: %s", err);
		return rc == KW_ERR_NOMEM ? KW_EXIT_RUNTIME : KW_EXIT_FATAL_CONFIG;
	}
	int *fds = calloc(cfg->n_access_files + 1, sizeof(*fds));
	if (fds == NULL)
		return KW_EXIT_RUNTIME;
	for (size_t i = 0; i < cfg->n_access_files; i++) {
		fds[i] = kw_fd_access_log(cfg->n_listeners, i);
		if (fcntl(fds[i], F_GETFD) < 0)
			fds[i] = -1;
	}
	rc = access_logs_init(&s->access_logs, cfg, fds);
	free(fds);
	if (rc)
		return KW_EXIT_RUNTIME;
	s->worker = calloc(1, sizeof(*s->worker));
	if (s->worker == NULL)
		return KW_EXIT_RUNTIME;
	rc = worker_init(s->worker, cfg, s->mime, &s->access_logs, err, sizeof(err));
	if (rc) {
		kw_log_err("worker_init: %s", err);
		return rc == KW_ERR_ARGUMENT ? KW_EXIT_FATAL_CONFIG : KW_EXIT_RUNTIME;
	}
	rc = worker_attach_metrics(s->worker, metrics_slot, err, sizeof(err));
	if (rc) {
		kw_log_err("worker_attach_metrics: %s", err);
		return KW_EXIT_RUNTIME;
	}
	rc = kw_proc_drop_privileges(cfg->user, err, sizeof(err));
	if (rc) {
		kw_log_err("user: %s", err);
		return rc == KW_ERR_ARGUMENT ? KW_EXIT_FATAL_CONFIG : KW_EXIT_RUNTIME;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		kw_log_err("startup: PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return KW_EXIT_RUNTIME;
	}
	if (kw_proc_follow_master() < 0)
		return KW_EXIT_RUNTIME;
#ifdef KW_SANDBOX_PROBE
	if (sandbox_probe_init(&s->worker->loop) < 0)
		return KW_EXIT_RUNTIME;
#endif
	tzset(); /* the access log's time zone, read while /etc/localtime can be */
	worker_sandbox_plan(&s->confinement);
	confinement_title(&s->confinement, argc, argv);
	rc = worker_sandbox_enter(cfg, &s->confinement, err, sizeof(err));
	if (rc) {
		kw_log_err("sandbox: %s", err);
		return rc == KW_ERR_ARGUMENT ? KW_EXIT_FATAL_CONFIG : KW_EXIT_RUNTIME;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct kw_child_options opt = {0};
	struct startup s = {0};
	int rc;

	signals_init();
	rc = kw_proc_child_start(argc, argv, "worker", true, usage, &opt);
	if (rc)
		return rc;
	rc = startup(&s, opt.config, opt.metrics_slot ? (unsigned)atoi(opt.metrics_slot) : 0, argc,
	             argv);
	if (rc == 0) {
		confinement_log(&s.confinement);
		kw_log_info("worker: slot %s, generation %s: %zu listeners, ready", opt.slot,
		            opt.generation ? opt.generation : "?", s.cfg->n_listeners);
		rc = worker_run(s.worker) == 0 ? 0 : KW_EXIT_RUNTIME;
	}
	startup_free(&s);
	return rc;
}

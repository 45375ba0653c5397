/*
 * generation.c - one generation: a configuration snapshot, its log files and
 * listeners, one signer and N workers; started together, stopped together.
 */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "err.h"
#include "log.h"
#include "proc.h"

/*
 * Opens the log file path (NULL: none) for appending, set at line of the
 * configuration; err says "CONFIG:LINE: KEY PATH: reason".
 */
static int
open_log(const struct kw_config *cfg, const char *key, int line, const char *path, int *fd,
         char *err, size_t err_len)
{
	*fd = -1;
	if (!path)
		return KW_OK;
	*fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (*fd < 0) {
		snprintf(err, err_len, "%s:%d: %s %s: %s", cfg->path, line, key, path,
		         strerror(errno));
		return KW_ERR_ARGUMENT;
	}
	return KW_OK;
}

static const char *
error_log_path(const struct kw_config *cfg)
{
	return strcmp(cfg->error_log, "stderr") == 0 ? NULL : cfg->error_log;
}

static void
init_child(struct child *c, struct generation *gen, enum child_role role, unsigned slot)
{
	c->role = role;
	c->slot = slot;
	c->gen = gen;
	c->ctl = -1;
	c->metrics_slot = -1;
	c->backoff_ms = MASTER_BACKOFF_MIN_MS;
}

int
gen_create(unsigned id, struct kw_config *cfg, const char *text, struct generation **out, char *err,
           size_t err_len)
{
	struct generation *gen;
	int rc = KW_ERR_NOMEM;

	gen = calloc(1, sizeof(*gen));
	if (!gen) {
		kw_config_free(cfg);
		snprintf(err, err_len, "out of memory");
		return KW_ERR_NOMEM;
	}
	gen->id = id;
	gen->cfg = cfg;
	gen->snapshot_fd = gen->error_log_fd = -1;
	init_child(&gen->signer, gen, CHILD_SIGNER, 0);
	gen->workers = calloc(cfg->workers ? cfg->workers : 1, sizeof(*gen->workers));
	if (!gen->workers) {
		snprintf(err, err_len, "out of memory");
		goto fail;
	}
	gen->access_log_fds = malloc((cfg->n_access_files + 1) * sizeof(*gen->access_log_fds));
	if (!gen->access_log_fds) {
		snprintf(err, err_len, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < cfg->n_access_files; i++)
		gen->access_log_fds[i] = -1;
	gen->n_workers = cfg->workers;
	for (size_t i = 0; i < gen->n_workers; i++)
		init_child(&gen->workers[i], gen, CHILD_WORKER, (unsigned)i);

	rc = gen->snapshot_fd = snapshot_seal(cfg, text, err, err_len);
	if (rc < 0)
		goto fail;
	rc = open_log(cfg, "error_log", cfg->error_log_line, error_log_path(cfg),
	              &gen->error_log_fd, err, err_len);
	if (rc < 0)
		goto fail;
	for (size_t i = 0; i < cfg->n_access_files; i++) {
		const struct kw_access_file *f = &cfg->access_files[i];
		rc = open_log(cfg, "access_log", f->line, f->path, &gen->access_log_fds[i], err,
		              err_len);
		if (rc < 0)
			goto fail;
	}
	*out = gen;
	return KW_OK;

fail:
	gen_free(gen);
	return rc;
}

int
gen_listen(struct generation *gen, const struct generation *prev, char *err, size_t err_len)
{
	return listeners_open(gen->cfg, prev ? prev->cfg : NULL, prev ? &prev->listeners : NULL,
	                      &gen->listeners, err, err_len);
}

int
gen_start(struct master *m, struct generation *gen, char *err, size_t err_len)
{
	char name[32];

	gen->state = GEN_STARTING;
	gen->ready_deadline_ms = kw_now_ms() + MASTER_READY_TIMEOUT_MS;
	for (size_t i = 0; i < gen_n_children(gen); i++) {
		struct child *c = gen_child(gen, i);

		if (child_spawn(m, c) < 0) {
			snprintf(err, err_len, "cannot start %s",
			         child_name(c, name, sizeof(name)));
			return KW_ERR_INTERNAL;
		}
	}
	return KW_OK;
}

size_t
gen_n_children(const struct generation *gen)
{
	return gen->n_workers + 1;
}

struct child *
gen_child(struct generation *gen, size_t i)
{
	return i == 0 ? &gen->signer : &gen->workers[i - 1];
}

unsigned long long
child_schedule_respawn(struct child *c, unsigned long long now)
{
	unsigned long long delay;

	if (now - c->started_ms >= MASTER_GOOD_LIFE_MS)
		c->backoff_ms = MASTER_BACKOFF_MIN_MS;
	delay = c->backoff_ms;
	c->respawn_at_ms = now + delay;
	c->backoff_ms = delay * 2 > MASTER_BACKOFF_MAX_MS ? MASTER_BACKOFF_MAX_MS : delay * 2;
	return delay;
}

bool
gen_all_ready(const struct generation *gen)
{
	if (!gen->signer.ready)
		return false;
	for (size_t i = 0; i < gen->n_workers; i++) {
		if (!gen->workers[i].ready)
			return false;
	}
	return true;
}

static size_t
live_workers(const struct generation *gen)
{
	size_t n = 0;

	for (size_t i = 0; i < gen->n_workers; i++)
		n += gen->workers[i].pid > 0;
	return n;
}

size_t
gen_live_processes(const struct generation *gen)
{
	return live_workers(gen) + (gen->signer.pid > 0);
}

static void
stop_slot(struct child *c)
{
	c->stopping = true;
	c->respawn_at_ms = 0;
}

void
gen_drain(struct generation *gen)
{
	unsigned timeout = gen->cfg->shutdown_timeout_ms;
	unsigned long long now = kw_now_ms();

	gen->state = GEN_DRAINING;
	listeners_close(&gen->listeners);
	stop_slot(&gen->signer);
	for (size_t i = 0; i < gen->n_workers; i++) {
		struct child *w = &gen->workers[i];

		stop_slot(w);
		if (w->pid <= 0)
			continue;
		if (child_send(w, CTL_SHUTDOWN, timeout, NULL, 0) < 0)
			child_kill(w, SIGTERM, now + MASTER_KILL_GRACE_MS);
		else
			w->kill_at_ms = now + timeout + MASTER_DRAIN_SLACK_MS;
	}
	gen_worker_gone(gen);
}

void
gen_terminate(struct generation *gen)
{
	unsigned long long kill_at = kw_now_ms() + MASTER_KILL_GRACE_MS;

	gen->state = GEN_DRAINING;
	listeners_close(&gen->listeners);
	for (size_t i = 0; i < gen_n_children(gen); i++) {
		struct child *c = gen_child(gen, i);

		stop_slot(c);
		if (c->pid > 0 && (c->kill_at_ms == 0 || c->kill_at_ms > kill_at))
			child_kill(c, SIGTERM, kill_at);
	}
}

void
gen_worker_gone(struct generation *gen)
{
	struct child *s = &gen->signer;

	if (gen->state != GEN_DRAINING || live_workers(gen) > 0 || s->pid <= 0 || s->kill_at_ms)
		return;
	child_kill(s, SIGTERM, kw_now_ms() + MASTER_KILL_GRACE_MS);
}

/* Replaces *fd by a new descriptor for path; keeps the old one when the open fails. */
static int
reopen_one(const struct kw_config *cfg, const char *key, int line, const char *path, int *fd)
{
	char err[1024];
	int fresh, rc;

	rc = open_log(cfg, key, line, path, &fresh, err, sizeof(err));
	if (rc < 0) {
		kw_log_err("cannot reopen a log file, the old one stays in use: %s", err);
		return rc;
	}
	if (fresh < 0)
		return KW_OK;
	if (*fd >= 0)
		close(*fd);
	*fd = fresh;
	return KW_OK;
}

int
gen_reopen_logs(struct generation *gen)
{
	const struct kw_config *cfg = gen->cfg;
	int rc = reopen_one(cfg, "error_log", cfg->error_log_line, error_log_path(cfg),
	                    &gen->error_log_fd);

	for (size_t f = 0; f < cfg->n_access_files; f++)
		if (reopen_one(cfg, "access_log", cfg->access_files[f].line,
		               cfg->access_files[f].path, &gen->access_log_fds[f]) < 0)
			rc = KW_ERR_ARGUMENT;
	for (size_t i = 0; i < gen_n_children(gen); i++) {
		struct child *c = gen_child(gen, i);
		const bool worker = c->role == CHILD_WORKER && cfg->n_access_files > 0;
		int fds[2] = {gen->error_log_fd >= 0 ? gen->error_log_fd : STDERR_FILENO,
		              worker ? gen->access_log_fds[0] : -1};

		if (c->pid <= 0 || c->ctl < 0)
			continue;
		child_send(c, CTL_REOPEN_LOGS, 0, fds, worker ? 2 : 1);
		for (size_t f = 1; worker && f < cfg->n_access_files; f++)
			child_send(c, CTL_REOPEN_ACCESS_LOG, (uint32_t)f, &gen->access_log_fds[f],
			           1);
	}
	return rc;
}

void
gen_free(struct generation *gen)
{
	if (!gen)
		return;
	child_close_ctl(&gen->signer);
	for (size_t i = 0; i < gen->n_workers; i++)
		child_close_ctl(&gen->workers[i]);
	listeners_close(&gen->listeners);
	if (gen->snapshot_fd >= 0)
		close(gen->snapshot_fd);
	if (gen->error_log_fd >= 0)
		close(gen->error_log_fd);
	for (size_t i = 0; gen->access_log_fds && i < gen->cfg->n_access_files; i++)
		if (gen->access_log_fds[i] >= 0)
			close(gen->access_log_fds[i]);
	free(gen->access_log_fds);
	kw_config_free(gen->cfg);
	free(gen->workers);
	free(gen);
}

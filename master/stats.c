/*
 * stats.c - the master's side of the shared counters (common/metrics.h): the region,
 * slot bookkeeping, and the master block (generation, reloads, restarts).
 *
 * A slot is held by a child slot of a generation from its first start until the
 * generation is freed; a respawned process keeps it, and a slot given back is handed
 * to a later child as it is, counters and all. Counters therefore never go down while
 * the master lives (see metrics.h).
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "master.h"

int
stats_init(struct master *m, char *err, size_t err_len)
{
	int rc = kw_metrics_create(&m->stats.fd, &m->stats.region);

	if (rc < 0) {
		m->stats.fd = -1;
		snprintf(err, err_len, "shared counters: %s", strerror(-rc));
		return rc;
	}
	kw_metric_set(&m->stats.region->master.start_time, (uint64_t)time(NULL));
	return 0;
}

void
stats_free(struct master *m)
{
	kw_metrics_unmap(m->stats.region);
	m->stats.region = NULL;
	if (m->stats.fd >= 0)
		close(m->stats.fd);
	m->stats.fd = -1;
}

/* The first free slot of held[n], marked held, with *used raised past it; -1: none. */
static int
take(bool *held, size_t n, uint64_t *used)
{
	for (size_t i = 0; i < n; i++) {
		if (held[i])
			continue;
		held[i] = true;
		if (kw_metric_get(used) < i + 1)
			kw_metric_set(used, i + 1);
		return (int)i;
	}
	return -1;
}

void
stats_take_slot(struct master *m, struct child *c)
{
	struct kw_metrics_region *r = m->stats.region;
	char name[32];

	if (r == NULL || c->metrics_slot >= 0)
		return;
	if (c->role == CHILD_WORKER)
		c->metrics_slot =
		    take(m->stats.worker_held, KW_METRICS_WORKER_SLOTS, &r->master.worker_slots);
	else
		c->metrics_slot =
		    take(m->stats.signer_held, KW_METRICS_SIGNER_SLOTS, &r->master.signer_slots);
	if (c->metrics_slot < 0)
		kw_log_warn("%s of generation %u: every slot of the shared counters is held: its "
		            "process counts nowhere",
		            child_name(c, name, sizeof(name)), c->gen->id);
}

void
stats_child_gone(struct master *m, struct child *c, bool respawn)
{
	struct kw_metrics_region *r = m->stats.region;

	if (r == NULL)
		return;
	if (c->role == CHILD_WORKER) {
		if (c->metrics_slot >= 0)
			kw_metrics_worker_gone(&r->worker[c->metrics_slot]);
		if (respawn)
			kw_metric_add(&r->master.worker_restarts, 1);
	} else {
		if (c->metrics_slot >= 0)
			kw_metrics_signer_gone(&r->signer[c->metrics_slot]);
		if (respawn)
			kw_metric_add(&r->master.signer_restarts, 1);
	}
}

void
stats_release(struct master *m, struct generation *gen)
{
	for (size_t i = 0; i < gen_n_children(gen); i++) {
		struct child *c = gen_child(gen, i);

		if (c->metrics_slot < 0)
			continue;
		if (c->role == CHILD_WORKER)
			m->stats.worker_held[c->metrics_slot] = false;
		else
			m->stats.signer_held[c->metrics_slot] = false;
		c->metrics_slot = -1;
	}
}

void
stats_commit(struct master *m, const struct generation *gen, bool reload)
{
	struct kw_metrics_region *r = m->stats.region;

	if (r == NULL)
		return;
	kw_metric_set(&r->master.generation, gen->id);
	kw_metric_set(&r->master.workers, gen->n_workers);
	if (reload)
		kw_metric_add(&r->master.reloads, 1);
}

void
stats_reload_failed(struct master *m)
{
	if (m->stats.region != NULL)
		kw_metric_add(&m->stats.region->master.reload_failures, 1);
}

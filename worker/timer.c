/*
 * timer.c - per-duration sorted timer queues.
 */
#include "timer.h"

#include <stddef.h>

void
kw_timer_queue_init(struct kw_timer_queue *q, unsigned long long duration_ms)
{
	TAILQ_INIT(&q->timers);
	q->duration_ms = duration_ms;
}

void
kw_timer_init(struct kw_timer *t, kw_timer_fn fire)
{
	t->queue = NULL;
	t->deadline = 0;
	t->fire = fire;
}

void
kw_timer_arm(struct kw_timer *t, struct kw_timer_queue *q, unsigned long long now)
{
	kw_timer_disarm(t);
	t->deadline = now + q->duration_ms;
	t->queue = q;
	TAILQ_INSERT_TAIL(&q->timers, t, link);
}

void
kw_timer_disarm(struct kw_timer *t)
{
	if (t->queue == NULL)
		return;
	TAILQ_REMOVE(&t->queue->timers, t, link);
	t->queue = NULL;
}

bool
kw_timer_queue_next(const struct kw_timer_queue *q, unsigned long long *deadline)
{
	const struct kw_timer *t = TAILQ_FIRST(&q->timers);
	if (t == NULL)
		return false;
	*deadline = t->deadline;
	return true;
}

void
kw_timer_queue_expire(struct kw_timer_queue *q, unsigned long long now)
{
	struct kw_timer *t;
	while ((t = TAILQ_FIRST(&q->timers)) != NULL && t->deadline <= now) {
		kw_timer_disarm(t);
		t->fire(t);
	}
}

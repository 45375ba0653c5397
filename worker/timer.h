/*
 * timer.h - timeouts of the worker's event loop.
 *
 * Every kind of timeout has one fixed duration (handshake, header, keep-alive, ...),
 * so a timer armed "now + duration" always belongs at the tail of its kind's queue:
 * each queue stays sorted by deadline with O(1) arm, disarm and expiry, and no
 * allocation. The loop waits until the earliest head of all queues.
 */
#ifndef KW_TIMER_H
#define KW_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>

struct kw_timer;

/** Called when a timer expires; the timer is already disarmed and may be re-armed. */
typedef void (*kw_timer_fn)(struct kw_timer *t);

/** One timer, embedded in its owner (who finds itself back with container_of). */
struct kw_timer {
	TAILQ_ENTRY(kw_timer) link;
	struct kw_timer_queue *queue; /* NULL when disarmed */
	unsigned long long deadline;  /* kw_now_ms() clock */
	kw_timer_fn fire;
};

/** A queue of timers sharing one duration, sorted by deadline. */
struct kw_timer_queue {
	TAILQ_HEAD(, kw_timer) timers;
	unsigned long long duration_ms;
};

/** Sets up an empty queue for timers of duration_ms. */
void kw_timer_queue_init(struct kw_timer_queue *q, unsigned long long duration_ms);

/** Sets up a disarmed timer with its callback. */
void kw_timer_init(struct kw_timer *t, kw_timer_fn fire);

/** Arms t to expire at now + q's duration, disarming it from any queue first. */
void kw_timer_arm(struct kw_timer *t, struct kw_timer_queue *q, unsigned long long now);

/** Disarms t; a disarmed timer is fine. */
void kw_timer_disarm(struct kw_timer *t);

/** true when t is armed (in any queue). */
static inline bool
kw_timer_armed(const struct kw_timer *t)
{
	return t->queue != NULL;
}

/** true when t is armed in queue q. */
static inline bool
kw_timer_armed_in(const struct kw_timer *t, const struct kw_timer_queue *q)
{
	return t->queue == q;
}

/** Earliest deadline of q into *deadline; false when q is empty. */
bool kw_timer_queue_next(const struct kw_timer_queue *q, unsigned long long *deadline);

/**
 * Fires, in deadline order, every timer of q that expired at or before now. A
 * callback may arm or disarm any timer, including others of q.
 */
void kw_timer_queue_expire(struct kw_timer_queue *q, unsigned long long now);

/** The timer at the head of q (the one armed longest ago), or NULL. */
static inline struct kw_timer *
kw_timer_queue_first(const struct kw_timer_queue *q)
{
	return TAILQ_FIRST(&q->timers);
}

#endif

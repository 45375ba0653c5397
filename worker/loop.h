/*
 * loop.h - the loop core: one epoll set, the timer registry, the loop clock and
 * deferred work. It knows nothing of HTTP, transports or the signer; everything above
 * it (listeners, connections, channels) registers an io, a timer queue or a task.
 *
 * One turn:  run deferred tasks -> epoll_wait (until the earliest timer) -> clock
 *            -> io callbacks -> expired timers (queue by queue, registration order)
 *
 * Single-threaded; nothing in it blocks but epoll_wait(2).
 */
#ifndef KW_LOOP_H
#define KW_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include "timer.h"
#include "util.h"

/** Timer queues one loop can hold (each kind of timeout is one queue). */
#define LOOP_MAX_QUEUES 16u

struct loop;

/** Something with a descriptor in the epoll set; its owner finds itself with container_of. */
struct loop_io {
	int fd;
	uint32_t events; /* registered with epoll (0: not registered) */
	void (*on_event)(struct loop_io *io, uint32_t events);
};

/**
 * Work to do once, after the current turn's events and timers and before the loop
 * waits again: an fd-less wake-up. Queued at most once at a time; a task may queue
 * itself or others again (they run in the same pass).
 */
struct loop_task {
	TAILQ_ENTRY(loop_task) link;
	bool queued;
	void (*run)(struct loop_task *task);
};

TAILQ_HEAD(loop_task_list, loop_task);

struct loop {
	int epfd;
	bool stop;              /* set by anyone: the turn ends early and loop_run() returns */
	unsigned long long now; /* kw_now_ms() at the start of the turn */
	time_t wall;            /* time(NULL) at the start of the turn */
	struct kw_timer_queue *queues[LOOP_MAX_QUEUES]; /* expired in this order */
	size_t n_queues;
	struct loop_task_list tasks;
};

/** Creates the epoll set and reads the clock. Returns 0 or KW_ERR_INTERNAL (errno kept). */
int loop_init(struct loop *l);

/** Closes the epoll set; queued tasks are forgotten. */
void loop_dispose(struct loop *l);

/**
 * Sets up q for timers of duration_ms and registers it with the loop, which then
 * waits no longer than its head's deadline and expires it every turn. q must outlive
 * the loop. Aborts past LOOP_MAX_QUEUES (a fixed set, known at build time).
 */
void loop_timer_queue(struct loop *l, struct kw_timer_queue *q, unsigned long long duration_ms);

/** Arms t in q (registered with l) to expire duration_ms after the turn's clock. */
static inline void
loop_timer_arm(struct loop *l, struct kw_timer *t, struct kw_timer_queue *q)
{
	kw_timer_arm(t, q, l->now);
}

/** Adds io->fd to the epoll set with events. Returns 0 or KW_ERR_INTERNAL (logged). */
int loop_io_add(struct loop *l, struct loop_io *io, uint32_t events);

/** Changes io's events when they differ. Returns 0 or KW_ERR_INTERNAL (logged). */
int loop_io_set(struct loop *l, struct loop_io *io, uint32_t events);

/** Removes io->fd from the epoll set (before it is closed). */
void loop_io_del(struct loop *l, struct loop_io *io);

/**
 * io->fd, which has no duplicate, is about to be closed: close(2) itself takes it out
 * of the epoll set, so the epoll_ctl(2) of loop_io_del() is spared.
 */
void loop_io_forget(struct loop_io *io);

/** Sets up an idle task. */
void loop_task_init(struct loop_task *task, void (*run)(struct loop_task *task));

/** Queues task for the end of the turn; a queued task stays queued once. */
void loop_defer(struct loop *l, struct loop_task *task);

/** Takes a queued task back out of the queue (its owner is going away). */
void loop_task_cancel(struct loop *l, struct loop_task *task);

/** Runs the queued tasks, in the order they were queued, until none is left. */
void loop_run_tasks(struct loop *l);

/**
 * One turn: the queued tasks, then (unless l->stop is set) a wait until the earliest
 * timer but no longer than max_wait_ms (-1: no limit), the io callbacks, the expired
 * timers. Returns 0, or KW_ERR_INTERNAL when epoll_wait(2) failed (logged; l->stop is
 * set then).
 */
int loop_turn(struct loop *l, int max_wait_ms);

/**
 * Runs turns until l->stop is set; tasks queued by the last turn stay queued. Returns
 * 0 or KW_ERR_INTERNAL as loop_turn().
 */
int loop_run(struct loop *l);

#endif

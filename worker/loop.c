/*
 * loop.c - the loop core: epoll, timer registry, clock, deferred tasks.
 */
#include "loop.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "proc.h"

#define EVENT_BATCH 64u /* events taken per epoll_wait */

int
loop_init(struct loop *l)
{
	memset(l, 0, sizeof(*l));
	TAILQ_INIT(&l->tasks);
	l->now = kw_now_ms();
	l->wall = time(NULL);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	return l->epfd < 0 ? KW_ERR_INTERNAL : 0;
}

void
loop_dispose(struct loop *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
	l->epfd = -1;
	TAILQ_INIT(&l->tasks);
}

void
loop_timer_queue(struct loop *l, struct kw_timer_queue *q, unsigned long long duration_ms)
{
	if (l->n_queues == LOOP_MAX_QUEUES) {
		kw_log_err("loop_timer_queue: more than %u timer queues", LOOP_MAX_QUEUES);
		abort();
	}
	kw_timer_queue_init(q, duration_ms);
	l->queues[l->n_queues++] = q;
}

int
loop_io_add(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = io};
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, io->fd, &ev) < 0) {
		kw_log_err("loop_io_add: epoll_ctl(%d): %s", io->fd, strerror(errno));
		return KW_ERR_INTERNAL;
	}
	io->events = events;
	return 0;
}

int
loop_io_set(struct loop *l, struct loop_io *io, uint32_t events)
{
	if (io->events == events)
		return 0;
	struct epoll_event ev = {.events = events, .data.ptr = io};
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0) {
		kw_log_err("loop_io_set: epoll_ctl(%d): %s", io->fd, strerror(errno));
		return KW_ERR_INTERNAL;
	}
	io->events = events;
	return 0;
}

void
loop_io_del(struct loop *l, struct loop_io *io)
{
	if (io->events == 0)
		return;
	if (epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL) < 0)
		kw_log_err("loop_io_del: epoll_ctl(%d): %s", io->fd, strerror(errno));
	io->events = 0;
}

void
loop_io_forget(struct loop_io *io)
{
	io->events = 0;
}

void
loop_task_init(struct loop_task *task, void (*run)(struct loop_task *task))
{
	task->queued = false;
	task->run = run;
}

void
loop_defer(struct loop *l, struct loop_task *task)
{
	if (task->queued)
		return;
	task->queued = true;
	TAILQ_INSERT_TAIL(&l->tasks, task, link);
}

void
loop_task_cancel(struct loop *l, struct loop_task *task)
{
	if (!task->queued)
		return;
	TAILQ_REMOVE(&l->tasks, task, link);
	task->queued = false;
}

void
loop_run_tasks(struct loop *l)
{
	struct loop_task *task;
	while ((task = TAILQ_FIRST(&l->tasks)) != NULL) {
		loop_task_cancel(l, task);
		task->run(task);
	}
}

/* Milliseconds until the earliest timer, -1 when none is armed. */
static int
next_timeout(const struct loop *l)
{
	unsigned long long earliest = ULLONG_MAX;
	for (size_t i = 0; i < l->n_queues; i++) {
		unsigned long long d;
		if (kw_timer_queue_next(l->queues[i], &d) && d < earliest)
			earliest = d;
	}
	if (earliest == ULLONG_MAX)
		return -1;
	unsigned long long now = kw_now_ms();
	if (earliest <= now)
		return 0;
	return earliest - now > INT_MAX ? INT_MAX : (int)(earliest - now);
}

int
loop_turn(struct loop *l, int max_wait_ms)
{
	struct epoll_event events[EVENT_BATCH];

	loop_run_tasks(l);
	if (l->stop)
		return 0;
	int timeout = next_timeout(l);
	if (max_wait_ms >= 0 && (timeout < 0 || timeout > max_wait_ms))
		timeout = max_wait_ms;
	int n = epoll_wait(l->epfd, events, EVENT_BATCH, timeout);
	if (n < 0 && errno != EINTR) {
		kw_log_err("loop_turn: epoll_wait: %s", strerror(errno));
		l->stop = true;
		return KW_ERR_INTERNAL;
	}
	l->now = kw_now_ms();
	l->wall = time(NULL);
	for (int i = 0; i < n && !l->stop; i++) {
		struct loop_io *io = events[i].data.ptr;
		io->on_event(io, events[i].events);
	}
	for (size_t i = 0; i < l->n_queues && !l->stop; i++)
		kw_timer_queue_expire(l->queues[i], l->now);
	return 0;
}

int
loop_run(struct loop *l)
{
	while (!l->stop) {
		int rc = loop_turn(l, -1);
		if (rc)
			return rc;
	}
	return 0;
}

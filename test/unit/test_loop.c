/*
 * test_loop.c - the loop core: deferred tasks run once per queueing, in order, before
 * the loop waits (a task may queue others, which run in the same pass; a cancelled
 * one does not run); registered timer queues bound the wait and expire in
 * registration order; io callbacks get their events; loop_run() returns once stop is
 * set, leaving what that turn queued.
 */
#include "loop.h"

#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "proc.h"

#define MAX_LOG 16

static struct loop loop;
static int order[MAX_LOG];
static size_t n_order;

static void
note(int id)
{
	cr_assert_lt(n_order, (size_t)MAX_LOG);
	order[n_order++] = id;
}

struct probe_task {
	struct loop_task task;
	int id;
	struct loop_task *then; /* queued by this task, when set */
	bool stop;              /* sets loop.stop */
};

static void
probe_run(struct loop_task *t)
{
	struct probe_task *p = container_of(t, struct probe_task, task);
	note(p->id);
	if (p->then)
		loop_defer(&loop, p->then);
	if (p->stop)
		loop.stop = true;
}

static void
setup(void)
{
	cr_assert_eq(loop_init(&loop), 0);
	n_order = 0;
}

static void
teardown(void)
{
	loop_dispose(&loop);
}

TestSuite(loop, .init = setup, .fini = teardown);

Test(loop, tasks_run_once_in_order_and_may_queue_more)
{
	struct probe_task a = {.id = 1}, b = {.id = 2}, c = {.id = 3};
	loop_task_init(&a.task, probe_run);
	loop_task_init(&b.task, probe_run);
	loop_task_init(&c.task, probe_run);
	a.then = &c.task;
	loop_defer(&loop, &a.task);
	loop_defer(&loop, &b.task);
	loop_defer(&loop, &a.task); /* already queued: once */
	loop_run_tasks(&loop);
	cr_assert_eq(n_order, 3u);
	cr_assert_eq(order[0], 1);
	cr_assert_eq(order[1], 2);
	cr_assert_eq(order[2], 3, "queued by a task: runs in the same pass");
	cr_assert(!a.task.queued && !b.task.queued && !c.task.queued);
	loop_run_tasks(&loop);
	cr_assert_eq(n_order, 3u, "nothing runs twice");
}

Test(loop, a_cancelled_task_does_not_run)
{
	struct probe_task a = {.id = 1}, b = {.id = 2};
	loop_task_init(&a.task, probe_run);
	loop_task_init(&b.task, probe_run);
	loop_defer(&loop, &a.task);
	loop_defer(&loop, &b.task);
	loop_task_cancel(&loop, &a.task);
	loop_task_cancel(&loop, &a.task); /* not queued: fine */
	loop_run_tasks(&loop);
	cr_assert_eq(n_order, 1u);
	cr_assert_eq(order[0], 2);
}

struct probe_timer {
	struct kw_timer timer;
	int id;
};

static void
timer_fire(struct kw_timer *t)
{
	note(container_of(t, struct probe_timer, timer)->id);
}

Test(loop, timer_queues_bound_the_wait_and_expire_in_registration_order)
{
	struct kw_timer_queue slow, fast;
	loop_timer_queue(&loop, &slow, 60000); /* never due within the test */
	loop_timer_queue(&loop, &fast, 20);
	cr_assert_eq(loop.n_queues, 2u);
	cr_assert_eq(fast.duration_ms, 20u);
	struct probe_timer a = {.id = 1}, b = {.id = 2};
	kw_timer_init(&a.timer, timer_fire);
	kw_timer_init(&b.timer, timer_fire);
	loop_timer_arm(&loop, &a.timer, &slow);
	loop_timer_arm(&loop, &b.timer, &fast);
	cr_assert_eq(a.timer.deadline, loop.now + 60000);

	const unsigned long long due = b.timer.deadline;
	cr_assert_eq(loop_turn(&loop, -1), 0); /* no io: wakes for the fast timer only */
	cr_assert_geq(loop.now, due);
	cr_assert_eq(n_order, 1u);
	cr_assert_eq(order[0], 2);
	cr_assert(kw_timer_armed(&a.timer));

	loop_timer_arm(&loop, &b.timer, &fast);
	a.timer.deadline = 0; /* both due: the registration order decides */
	b.timer.deadline = 0;
	cr_assert_eq(loop_turn(&loop, 0), 0);
	cr_assert_eq(n_order, 3u);
	cr_assert_eq(order[1], 1, "slow was registered first");
	cr_assert_eq(order[2], 2);
}

struct probe_io {
	struct loop_io io;
	uint32_t got;
	unsigned calls;
};

static void
io_event(struct loop_io *io, uint32_t events)
{
	struct probe_io *p = container_of(io, struct probe_io, io);
	p->got = events;
	p->calls++;
	char c;
	cr_assert_eq(read(io->fd, &c, 1), 1);
}

Test(loop, io_callbacks_get_their_events_and_stop_ends_the_run)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	struct probe_io pi = {.io = {.fd = p[0], .on_event = io_event}};
	cr_assert_eq(loop_io_add(&loop, &pi.io, EPOLLIN), 0);
	cr_assert_eq(loop_io_set(&loop, &pi.io, EPOLLIN), 0); /* unchanged: no call needed */
	cr_assert_eq(write(p[1], "x", 1), 1);
	cr_assert_eq(loop_turn(&loop, 1000), 0);
	cr_assert_eq(pi.calls, 1u);
	cr_assert(pi.got & EPOLLIN);

	struct probe_task last = {.id = 9}, after = {.id = 10};
	loop_task_init(&last.task, probe_run);
	loop_task_init(&after.task, probe_run);
	last.stop = true;
	last.then = &after.task;
	loop_defer(&loop, &last.task);
	cr_assert_eq(loop_run(&loop), 0);
	cr_assert_eq(order[n_order - 1], 10, "tasks queued before stop still run");
	loop.stop = false;

	loop_io_del(&loop, &pi.io);
	cr_assert_eq(pi.io.events, 0u);
	cr_assert_eq(write(p[1], "y", 1), 1);
	cr_assert_eq(loop_turn(&loop, 0), 0);
	cr_assert_eq(pi.calls, 1u, "a removed io gets no event");
	close(p[0]);
	close(p[1]);
}

/*
 * test_timer.c - the worker's timer queues: arming computes the deadline, queues stay
 * in arming order, expiry fires due timers in order and only those, re-arming moves a
 * timer (also across queues), disarming is idempotent, and callbacks may arm or
 * disarm any timer while their queue expires.
 */
#include "timer.h"

#include <stddef.h>

#include <criterion/criterion.h>

#define MAX_FIRED 16

struct probe {
	struct kw_timer timer;
	int id;
	struct kw_timer *disarm; /* disarmed by the callback, when set */
	struct kw_timer *arm;    /* armed by the callback in arm_queue, when set */
	struct kw_timer_queue *arm_queue;
};

static int fired[MAX_FIRED];
static size_t n_fired;
static unsigned long long fire_now;

static void
on_fire(struct kw_timer *t)
{
	struct probe *p = (struct probe *)(void *)((char *)t - offsetof(struct probe, timer));
	cr_assert(!kw_timer_armed(t), "a firing timer is already disarmed");
	cr_assert_lt(n_fired, MAX_FIRED);
	fired[n_fired++] = p->id;
	if (p->disarm != NULL)
		kw_timer_disarm(p->disarm);
	if (p->arm != NULL)
		kw_timer_arm(p->arm, p->arm_queue, fire_now);
}

static void
probe_init(struct probe *p, int id)
{
	*p = (struct probe){.id = id};
	kw_timer_init(&p->timer, on_fire);
}

static void
expire(struct kw_timer_queue *q, unsigned long long now)
{
	fire_now = now;
	kw_timer_queue_expire(q, now);
}

static void
reset(void)
{
	n_fired = 0;
}

TestSuite(timer, .init = reset);

Test(timer, empty_queue)
{
	struct kw_timer_queue q;
	unsigned long long d = 42;
	kw_timer_queue_init(&q, 100);
	cr_expect_eq(q.duration_ms, 100);
	cr_expect_not(kw_timer_queue_next(&q, &d));
	cr_expect_eq(d, 42, "no deadline written for an empty queue");
	cr_expect_null(kw_timer_queue_first(&q));
	expire(&q, 1000000);
	cr_expect_eq(n_fired, 0);
}

Test(timer, init_is_disarmed_and_disarm_is_idempotent)
{
	struct probe p;
	probe_init(&p, 1);
	cr_expect_not(kw_timer_armed(&p.timer));
	kw_timer_disarm(&p.timer);
	kw_timer_disarm(&p.timer);
	cr_expect_not(kw_timer_armed(&p.timer));
}

Test(timer, arm_sets_deadline_and_queue)
{
	struct kw_timer_queue q, other;
	struct probe p;
	unsigned long long d = 0;
	kw_timer_queue_init(&q, 250);
	kw_timer_queue_init(&other, 5);
	probe_init(&p, 1);
	kw_timer_arm(&p.timer, &q, 1000);
	cr_expect(kw_timer_armed(&p.timer));
	cr_expect(kw_timer_armed_in(&p.timer, &q));
	cr_expect_not(kw_timer_armed_in(&p.timer, &other));
	cr_expect_eq(p.timer.deadline, 1250);
	cr_expect(kw_timer_queue_next(&q, &d));
	cr_expect_eq(d, 1250);
	cr_expect_eq(kw_timer_queue_first(&q), &p.timer);
}

Test(timer, expire_fires_due_timers_in_order_and_no_others)
{
	struct kw_timer_queue q;
	struct probe p[4];
	unsigned long long d = 0;
	kw_timer_queue_init(&q, 10);
	for (int i = 0; i < 4; i++) {
		probe_init(&p[i], i);
		kw_timer_arm(&p[i].timer, &q, 100 + (unsigned long long)i * 5);
	}
	expire(&q, 109);
	cr_expect_eq(n_fired, 0, "nothing is due before the first deadline");
	expire(&q, 115);
	cr_assert_eq(n_fired, 2, "deadlines 110 and 115 are due at 115");
	cr_expect_eq(fired[0], 0);
	cr_expect_eq(fired[1], 1);
	cr_expect_not(kw_timer_armed(&p[0].timer));
	cr_expect(kw_timer_armed_in(&p[2].timer, &q));
	cr_expect(kw_timer_queue_next(&q, &d));
	cr_expect_eq(d, 120);
	expire(&q, 1000);
	cr_assert_eq(n_fired, 4);
	cr_expect_eq(fired[2], 2);
	cr_expect_eq(fired[3], 3);
	cr_expect_null(kw_timer_queue_first(&q));
}

Test(timer, rearm_moves_to_the_tail)
{
	struct kw_timer_queue q;
	struct probe a, b;
	unsigned long long d = 0;
	kw_timer_queue_init(&q, 10);
	probe_init(&a, 1);
	probe_init(&b, 2);
	kw_timer_arm(&a.timer, &q, 100);
	kw_timer_arm(&b.timer, &q, 101);
	kw_timer_arm(&a.timer, &q, 102);
	cr_expect_eq(kw_timer_queue_first(&q), &b.timer);
	cr_expect(kw_timer_queue_next(&q, &d));
	cr_expect_eq(d, 111);
	expire(&q, 200);
	cr_assert_eq(n_fired, 2, "a re-armed timer is in its queue once");
	cr_expect_eq(fired[0], 2);
	cr_expect_eq(fired[1], 1);
}

Test(timer, rearm_in_another_queue_leaves_the_first)
{
	struct kw_timer_queue q1, q2;
	struct probe p;
	unsigned long long d = 0;
	kw_timer_queue_init(&q1, 10);
	kw_timer_queue_init(&q2, 1000);
	probe_init(&p, 1);
	kw_timer_arm(&p.timer, &q1, 0);
	kw_timer_arm(&p.timer, &q2, 0);
	cr_expect(kw_timer_armed_in(&p.timer, &q2));
	cr_expect_not(kw_timer_queue_next(&q1, &d));
	cr_expect(kw_timer_queue_next(&q2, &d));
	cr_expect_eq(d, 1000);
	expire(&q1, 5000);
	cr_expect_eq(n_fired, 0);
	expire(&q2, 999);
	cr_expect_eq(n_fired, 0);
	expire(&q2, 1000);
	cr_expect_eq(n_fired, 1);
}

Test(timer, disarm_removes_from_the_middle)
{
	struct kw_timer_queue q;
	struct probe p[3];
	kw_timer_queue_init(&q, 1);
	for (int i = 0; i < 3; i++) {
		probe_init(&p[i], i);
		kw_timer_arm(&p[i].timer, &q, (unsigned long long)i);
	}
	kw_timer_disarm(&p[1].timer);
	cr_expect_not(kw_timer_armed(&p[1].timer));
	expire(&q, 10);
	cr_assert_eq(n_fired, 2);
	cr_expect_eq(fired[0], 0);
	cr_expect_eq(fired[1], 2);
}

Test(timer, callback_disarms_a_due_timer)
{
	struct kw_timer_queue q;
	struct probe a, b, c;
	kw_timer_queue_init(&q, 10);
	probe_init(&a, 1);
	probe_init(&b, 2);
	probe_init(&c, 3);
	a.disarm = &b.timer;
	kw_timer_arm(&a.timer, &q, 0);
	kw_timer_arm(&b.timer, &q, 0);
	kw_timer_arm(&c.timer, &q, 0);
	expire(&q, 10);
	cr_assert_eq(n_fired, 2, "the timer disarmed by a callback does not fire");
	cr_expect_eq(fired[0], 1);
	cr_expect_eq(fired[1], 3);
}

Test(timer, callback_rearms_itself_for_later)
{
	struct kw_timer_queue q;
	struct probe p;
	unsigned long long d = 0;
	kw_timer_queue_init(&q, 10);
	probe_init(&p, 1);
	p.arm = &p.timer;
	p.arm_queue = &q;
	kw_timer_arm(&p.timer, &q, 0);
	expire(&q, 10);
	cr_expect_eq(n_fired, 1, "re-armed for now + duration: not due again in this pass");
	cr_expect(kw_timer_armed_in(&p.timer, &q));
	cr_expect(kw_timer_queue_next(&q, &d));
	cr_expect_eq(d, 20);
}

Test(timer, callback_arms_another_timer_in_the_same_queue)
{
	struct kw_timer_queue q;
	struct probe a, b;
	kw_timer_queue_init(&q, 10);
	probe_init(&a, 1);
	probe_init(&b, 2);
	a.arm = &b.timer;
	a.arm_queue = &q;
	kw_timer_arm(&a.timer, &q, 0);
	expire(&q, 10);
	cr_expect_eq(n_fired, 1);
	cr_expect_eq(kw_timer_queue_first(&q), &b.timer);
	cr_expect_eq(b.timer.deadline, 20);
	expire(&q, 20);
	cr_expect_eq(n_fired, 2);
	cr_expect_eq(fired[1], 2);
}

Test(timer, queue_first_is_the_oldest_armed)
{
	struct kw_timer_queue q;
	struct probe p[3];
	kw_timer_queue_init(&q, 60000);
	for (int i = 0; i < 3; i++) {
		probe_init(&p[i], i);
		kw_timer_arm(&p[i].timer, &q, 100 + (unsigned long long)i);
	}
	cr_expect_eq(kw_timer_queue_first(&q), &p[0].timer);
	kw_timer_disarm(&p[0].timer);
	cr_expect_eq(kw_timer_queue_first(&q), &p[1].timer);
	kw_timer_arm(&p[1].timer, &q, 200);
	cr_expect_eq(kw_timer_queue_first(&q), &p[2].timer);
}

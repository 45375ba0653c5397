/*
 * test_signer_client.c - the worker's signer client against a fake signer on the
 * other end of a SOCK_SEQPACKET socketpair, driven by the loop core: replies out of
 * order reach their own waiters, at most max_inflight requests are unanswered (the
 * rest leave as replies come), BUSY fails one request, a reply that comes after its
 * connection withdrew the request is ignored yet frees its slot, a request without a
 * reply times out alone, a malformed reply is ignored, and on channel loss the
 * pending requests wait for a new channel and are sent again on it.
 */
#include "signer_client.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "err.h"
#include "proc.h"
#include "signer_proto.h"

#define WAIT_MS 5000 /* bound on any wait for something that must happen */

struct probe {
	struct sign_waiter wt;
	unsigned calls;
	int err;
	uint8_t sig[TT_MAX_SIGNATURE_LEN];
	size_t sig_len;
};

static struct loop loop;
static struct kw_config cfg;
static struct sign_proxy *sp;
static int sv[2];

static void
probe_done(struct sign_waiter *wt, int err, const uint8_t *sig, size_t len)
{
	struct probe *p = container_of(wt, struct probe, wt);
	p->calls++;
	p->err = err;
	p->sig_len = len;
	if (len)
		memcpy(p->sig, sig, len);
}

static void
setup(void)
{
	cr_assert_eq(loop_init(&loop), 0);
	memset(&cfg, 0, sizeof(cfg));
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	sp = NULL;
}

static void
teardown(void)
{
	sign_proxy_free(sp);
	if (sv[1] >= 0)
		close(sv[1]);
	loop_dispose(&loop);
}

TestSuite(signer_client, .init = setup, .fini = teardown);

static void
start(unsigned max_inflight, unsigned timeout_ms, int fd)
{
	cfg.signer.max_inflight = max_inflight;
	cfg.signer.timeout_ms = timeout_ms;
	cr_assert_eq(sign_proxy_new(&loop, &cfg, fd, &sp), 0);
}

static void
submit(struct probe *p, uint32_t key_id)
{
	struct sp_sign_request req = {.kind = SP_KIND_TOYTLS, .key_id = key_id};
	memset(req.client_pub, 0x42, sizeof(req.client_pub));
	memset(req.server_pub, 0x24, sizeof(req.server_pub));
	sign_waiter_init(&p->wt, probe_done);
	sign_proxy_submit(sp, &p->wt, &req);
	cr_assert_eq(p->calls, 0u, "never an outcome from inside submit");
}

/* One loop turn that does not wait: queued requests leave, waiting replies are read. */
static void
turn(void)
{
	cr_assert_eq(loop_turn(&loop, 0), 0);
}

/* Turns until p has its outcome (bounded). */
static void
turn_until_done(struct probe *p)
{
	unsigned long long end = kw_now_ms() + WAIT_MS;
	while (p->calls == 0 && kw_now_ms() < end)
		cr_assert_eq(loop_turn(&loop, 20), 0);
	cr_assert_eq(p->calls, 1u);
}

/* The fake signer takes the next request (waiting for it); returns its id. */
static uint32_t
signer_read(struct sp_sign_request *req)
{
	struct pollfd pfd = {.fd = sv[1], .events = POLLIN};
	cr_assert_eq(poll(&pfd, 1, WAIT_MS), 1, "a request must arrive");
	uint8_t msg[SP_SIGN_REQUEST_LEN + 16];
	ssize_t n = recv(sv[1], msg, sizeof(msg), 0);
	cr_assert_gt(n, 0);
	cr_assert_eq(sp_decode_sign_request(msg, (size_t)n, req), 0);
	return req->request_id;
}

/* true when the fake signer has no request waiting. */
static bool
signer_idle(void)
{
	struct pollfd pfd = {.fd = sv[1], .events = POLLIN};
	return poll(&pfd, 1, 0) == 0;
}

/* The fake signer answers id with status and a signature made of byte fill. */
static void
signer_reply(uint32_t id, uint16_t status, uint8_t fill)
{
	struct sp_sign_reply rep = {.request_id = id, .status = status};
	if (status == SP_STATUS_OK) {
		rep.sig_len = 64;
		memset(rep.sig, fill, rep.sig_len);
	}
	uint8_t msg[SP_SIGN_REPLY_MAX_LEN];
	size_t len = sp_encode_sign_reply(&rep, msg);
	cr_assert_eq(send(sv[1], msg, len, 0), (ssize_t)len);
}

static void
assert_signed(const struct probe *p, uint8_t fill)
{
	cr_assert_eq(p->calls, 1u);
	cr_assert_eq(p->err, 0);
	cr_assert_eq(p->sig_len, 64u);
	for (size_t i = 0; i < p->sig_len; i++)
		cr_assert_eq(p->sig[i], fill);
}

Test(signer_client, replies_out_of_order_reach_their_own_waiters)
{
	start(4, 10000, sv[0]);
	struct probe a = {0}, b = {0}, c = {0};
	submit(&a, 1);
	submit(&b, 2);
	submit(&c, 3);
	turn();
	struct sp_sign_request ra, rb, rc;
	uint32_t ia = signer_read(&ra), ib = signer_read(&rb), ic = signer_read(&rc);
	cr_assert_eq(ra.key_id, 1u, "requests leave in submission order");
	cr_assert_eq(rb.key_id, 2u);
	cr_assert_eq(rc.key_id, 3u);
	cr_assert_eq(ra.client_pub[0], 0x42);
	cr_assert_eq(ra.server_pub[0], 0x24);
	signer_reply(ic, SP_STATUS_OK, 0xc3);
	signer_reply(ia, SP_STATUS_OK, 0xa1);
	turn_until_done(&c);
	turn_until_done(&a);
	cr_assert_eq(b.calls, 0u);
	signer_reply(ib, SP_STATUS_OK, 0xb2);
	turn_until_done(&b);
	assert_signed(&a, 0xa1);
	assert_signed(&b, 0xb2);
	assert_signed(&c, 0xc3);
}

Test(signer_client, at_most_max_inflight_unanswered_and_busy_fails_one)
{
	start(2, 10000, sv[0]);
	struct probe a = {0}, b = {0}, c = {0};
	submit(&a, 1);
	submit(&b, 2);
	submit(&c, 3);
	turn();
	struct sp_sign_request r;
	uint32_t ia = signer_read(&r);
	uint32_t ib = signer_read(&r);
	turn();
	cr_assert(signer_idle(), "the third request waits: 2 are in flight");
	signer_reply(ia, SP_STATUS_BUSY, 0);
	turn_until_done(&a);
	cr_assert_eq(a.err, KW_ERR_SIGN_FAILED);
	cr_assert_eq(a.sig_len, 0u);
	turn();
	uint32_t ic = signer_read(&r);
	cr_assert_eq(r.key_id, 3u, "a reply frees a slot for the next request");
	signer_reply(ic, SP_STATUS_OK, 0xc3);
	signer_reply(ib, SP_STATUS_OK, 0xb2);
	turn_until_done(&b);
	turn_until_done(&c);
	assert_signed(&b, 0xb2);
	assert_signed(&c, 0xc3);
}

Test(signer_client, a_late_reply_after_the_connection_left_is_ignored_and_frees_its_slot)
{
	start(1, 10000, sv[0]);
	struct probe a = {0}, b = {0};
	submit(&a, 1);
	submit(&b, 2);
	turn();
	struct sp_sign_request r;
	uint32_t ia = signer_read(&r);
	sign_proxy_cancel(sp, &a.wt); /* a's connection closed */
	turn();
	cr_assert(signer_idle(), "the withdrawn request still occupies the signer");
	signer_reply(ia, SP_STATUS_OK, 0xa1);
	turn();
	turn();
	cr_assert_eq(a.calls, 0u, "no outcome for a withdrawn request");
	uint32_t ib = signer_read(&r);
	cr_assert_eq(r.key_id, 2u);
	signer_reply(ib, SP_STATUS_OK, 0xb2);
	turn_until_done(&b);
	assert_signed(&b, 0xb2);
}

Test(signer_client, cancelling_an_unsent_request_sends_nothing)
{
	start(1, 10000, sv[0]);
	struct probe a = {0};
	submit(&a, 1);
	sign_proxy_cancel(sp, &a.wt);
	sign_proxy_cancel(sp, &a.wt); /* twice is fine */
	turn();
	cr_assert(signer_idle());
	cr_assert_eq(a.calls, 0u);
}

Test(signer_client, a_request_without_reply_times_out_alone)
{
	start(2, 30, sv[0]);
	struct probe a = {0}, b = {0};
	submit(&a, 1);
	turn();
	struct sp_sign_request r;
	uint32_t ia = signer_read(&r);
	submit(&b, 2);
	turn();
	uint32_t ib = signer_read(&r);
	signer_reply(ib, SP_STATUS_OK, 0xb2);
	turn_until_done(&a);
	cr_assert_eq(a.err, KW_ERR_SIGN_TIMEOUT);
	turn_until_done(&b);
	assert_signed(&b, 0xb2);
	signer_reply(ia, SP_STATUS_OK, 0xa1); /* too late */
	turn();
	turn();
	cr_assert_eq(a.calls, 1u, "one outcome only");
}

Test(signer_client, a_malformed_reply_is_ignored)
{
	start(1, 10000, sv[0]);
	struct probe a = {0};
	submit(&a, 1);
	turn();
	struct sp_sign_request r;
	uint32_t ia = signer_read(&r);
	uint8_t junk[5] = {1, 2, 3, 4, 5};
	cr_assert_eq(send(sv[1], junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
	turn();
	cr_assert_eq(a.calls, 0u);
	signer_reply(ia, SP_STATUS_OK, 0xa1);
	turn_until_done(&a);
	assert_signed(&a, 0xa1);
}

Test(signer_client, on_channel_loss_requests_wait_and_go_again_on_a_new_channel)
{
	start(4, 10000, sv[0]);
	struct probe a = {0}, b = {0};
	submit(&a, 1);
	submit(&b, 2);
	turn();
	struct sp_sign_request r;
	signer_read(&r);
	signer_read(&r);
	close(sv[1]); /* the signer dies */
	sv[1] = -1;
	for (int i = 0; i < 5; i++)
		turn();
	cr_assert_eq(a.calls, 0u, "pending requests wait for a new signer");
	cr_assert_eq(b.calls, 0u);

	int nv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, nv), 0);
	sign_proxy_set_channel(sp, nv[0]);
	sv[1] = nv[1];
	turn();
	uint32_t ia = signer_read(&r);
	cr_assert_eq(r.key_id, 1u, "sent again, in submission order");
	uint32_t ib = signer_read(&r);
	cr_assert_eq(r.key_id, 2u);
	signer_reply(ib, SP_STATUS_OK, 0xb2);
	signer_reply(ia, SP_STATUS_OK, 0xa1);
	turn_until_done(&a);
	turn_until_done(&b);
	assert_signed(&a, 0xa1);
	assert_signed(&b, 0xb2);
}

Test(signer_client, requests_wait_for_a_first_channel)
{
	start(1, 10000, -1);
	struct probe a = {0};
	submit(&a, 7);
	turn();
	cr_assert(signer_idle());
	sign_proxy_set_channel(sp, sv[0]);
	turn();
	struct sp_sign_request r;
	uint32_t ia = signer_read(&r);
	cr_assert_eq(r.key_id, 7u);
	signer_reply(ia, SP_STATUS_OK, 0x77);
	turn_until_done(&a);
	assert_signed(&a, 0x77);
}

/*
 * signer_client.c - sign_proxy: signing requests from connections to the signer and
 * replies back, over one SOCK_SEQPACKET channel, without ever blocking the loop.
 *
 * The signer answers BUSY beyond max_inflight requests in flight on a channel, so the
 * proxy never has more than that many sent and unanswered: the rest wait in submission
 * order and leave as replies come back. A request withdrawn after it was sent (its
 * connection closed, or it timed out) still occupies the signer until its reply
 * arrives: its id stays counted as an orphan until then.
 */
#include "signer_client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "proc.h"
#include "signer_proto.h"

#define SP_BUCKETS        256u /* request id lookup: a power of two */
#define SP_SEND_BATCH     32u  /* requests per sendmmsg(2) */
#define SP_RECV_BATCH     16u  /* replies per recvmmsg(2) */
#define SP_RECV_PER_EVENT 64u  /* replies read per readable event */

LIST_HEAD(sign_bucket, sign_waiter);

struct sign_proxy {
	struct loop_io io; /* fd -1: no channel, waiting for a new signer */
	struct loop *loop;
	struct kw_timer_queue timeouts;
	struct loop_task flush; /* queued when requests may leave */
	uint32_t next_id;
	TAILQ_HEAD(, sign_waiter) pending; /* submission order */
	size_t n_pending;
	struct sign_waiter *first_unsent; /* every waiter before it is on the channel */
	unsigned max_inflight;            /* sent and unanswered requests allowed */
	unsigned n_inflight;              /* sent and unanswered: waiters and orphans */
	unsigned n_orphans;
	uint32_t *orphans; /* ids sent then withdrawn, reply awaited; max_inflight slots */
	struct sign_bucket buckets[SP_BUCKETS];
	struct kw_metrics_worker *metrics; /* NULL: not counted */
};

static void sign_proxy_on_event(struct loop_io *io, uint32_t events);
static void sign_proxy_flush(struct loop_task *task);

void
sign_waiter_init(struct sign_waiter *wt, sign_done_fn done)
{
	memset(wt, 0, sizeof(*wt));
	wt->done = done;
}

static void
waiter_timeout(struct kw_timer *t)
{
	struct sign_waiter *wt = container_of(t, struct sign_waiter, timer);
	kw_log_info("sign_proxy: request %u got no reply within %llu ms", wt->req.request_id,
	            wt->proxy->timeouts.duration_ms);
	if (wt->proxy->metrics != NULL)
		kw_metric_add(&wt->proxy->metrics->sign_timeouts, 1);
	sign_proxy_cancel(wt->proxy, wt);
	wt->done(wt, KW_ERR_SIGN_TIMEOUT, NULL, 0);
}

/* Nothing is in flight on a channel that is new or gone: everything pending is unsent. */
static void
inflight_reset(struct sign_proxy *sp)
{
	sp->first_unsent = TAILQ_FIRST(&sp->pending);
	sp->n_inflight = 0;
	sp->n_orphans = 0;
	for (struct sign_waiter *wt = sp->first_unsent; wt != NULL; wt = TAILQ_NEXT(wt, order))
		wt->sent = false;
}

static int
channel_open(struct sign_proxy *sp, int fd)
{
	sp->io.fd = fd;
	sp->io.events = 0;
	inflight_reset(sp);
	if (fd < 0)
		return 0;
	int flags = fcntl(fd, F_GETFL);
	int err = KW_ERR_INTERNAL;
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		kw_log_err("sign_proxy: fcntl: %s", strerror(errno));
	else
		err = loop_io_add(sp->loop, &sp->io, EPOLLIN);
	if (err) {
		close(fd);
		sp->io.fd = -1;
		return err;
	}
	loop_defer(sp->loop, &sp->flush);
	return 0;
}

static void
channel_close(struct sign_proxy *sp)
{
	if (sp->io.fd < 0)
		return;
	loop_io_del(sp->loop, &sp->io);
	close(sp->io.fd);
	sp->io.fd = -1;
	inflight_reset(sp);
}

static void
channel_lost(struct sign_proxy *sp, const char *why)
{
	kw_log_warn("sign_proxy: signer channel lost (%s); %zu requests wait for a new signer", why,
	            sp->n_pending);
	channel_close(sp);
}

int
sign_proxy_new(struct loop *l, const struct kw_config *cfg, int fd, struct sign_proxy **out)
{
	struct sign_proxy *sp = calloc(1, sizeof(*sp));
	unsigned max_inflight = cfg->signer.max_inflight;
	if (max_inflight == 0)
		max_inflight = 1;
	uint32_t *orphans = calloc(max_inflight, sizeof(*orphans));
	if (sp == NULL || orphans == NULL) {
		free(sp);
		free(orphans);
		if (fd >= 0)
			close(fd);
		return KW_ERR_NOMEM;
	}
	sp->loop = l;
	loop_task_init(&sp->flush, sign_proxy_flush);
	sp->max_inflight = max_inflight;
	sp->orphans = orphans;
	sp->next_id = 1;
	sp->io.on_event = sign_proxy_on_event;
	TAILQ_INIT(&sp->pending);
	for (size_t i = 0; i < SP_BUCKETS; i++)
		LIST_INIT(&sp->buckets[i]);
	int err = channel_open(sp, fd);
	if (err) {
		free(sp->orphans);
		free(sp);
		return err;
	}
	loop_timer_queue(l, &sp->timeouts, cfg->signer.timeout_ms);
	*out = sp;
	return 0;
}

void
sign_proxy_free(struct sign_proxy *sp)
{
	if (sp == NULL)
		return;
	channel_close(sp);
	loop_task_cancel(sp->loop, &sp->flush);
	free(sp->orphans);
	free(sp);
}

void
sign_proxy_submit(struct sign_proxy *sp, struct sign_waiter *wt, const struct sp_sign_request *req)
{
	wt->proxy = sp;
	wt->pending = true;
	wt->sent = false;
	wt->req = *req;
	wt->req.request_id = sp->next_id++;
	wt->submitted_ns = kw_now_ns();
	if (sp->next_id == 0)
		sp->next_id = 1;
	TAILQ_INSERT_TAIL(&sp->pending, wt, order);
	sp->n_pending++;
	if (sp->first_unsent == NULL)
		sp->first_unsent = wt;
	LIST_INSERT_HEAD(&sp->buckets[wt->req.request_id & (SP_BUCKETS - 1)], wt, bucket);
	kw_timer_init(&wt->timer, waiter_timeout);
	loop_timer_arm(sp->loop, &wt->timer, &sp->timeouts);
	loop_defer(sp->loop, &sp->flush);
}

/* Takes wt out of every list; a sent request stays counted in flight. */
static void
waiter_remove(struct sign_proxy *sp, struct sign_waiter *wt)
{
	if (sp->first_unsent == wt)
		sp->first_unsent = TAILQ_NEXT(wt, order);
	TAILQ_REMOVE(&sp->pending, wt, order);
	sp->n_pending--;
	LIST_REMOVE(wt, bucket);
	kw_timer_disarm(&wt->timer);
	wt->pending = false;
	wt->proxy = NULL;
}

void
sign_proxy_cancel(struct sign_proxy *sp, struct sign_waiter *wt)
{
	if (!wt->pending)
		return;
	waiter_remove(sp, wt);
	if (wt->sent)
		sp->orphans[sp->n_orphans++] = wt->req.request_id;
}

/* The reply for a withdrawn request: its slot in flight is free again. */
static bool
orphan_answered(struct sign_proxy *sp, uint32_t request_id)
{
	for (unsigned i = 0; i < sp->n_orphans; i++) {
		if (sp->orphans[i] == request_id) {
			sp->orphans[i] = sp->orphans[--sp->n_orphans];
			sp->n_inflight--;
			loop_defer(sp->loop, &sp->flush);
			return true;
		}
	}
	return false;
}

/*
 * Sends queued requests while the channel takes them and fewer than max_inflight are
 * unanswered; the rest waits for the channel to drain or for replies.
 */
static void
send_requests(struct sign_proxy *sp)
{
	uint8_t bufs[SP_SEND_BATCH][SP_SIGN_REQUEST_LEN];
	struct iovec iov[SP_SEND_BATCH];
	struct mmsghdr msgs[SP_SEND_BATCH];

	if (sp->io.fd < 0)
		return;
	while (sp->first_unsent != NULL && sp->n_inflight < sp->max_inflight) {
		unsigned room = sp->max_inflight - sp->n_inflight;
		unsigned batch = room < SP_SEND_BATCH ? room : SP_SEND_BATCH;
		unsigned n = 0;
		for (struct sign_waiter *wt = sp->first_unsent; wt != NULL && n < batch;
		     wt = TAILQ_NEXT(wt, order), n++) {
			iov[n] =
			    (struct iovec){.iov_base = bufs[n],
			                   .iov_len = sp_encode_sign_request(&wt->req, bufs[n])};
			msgs[n] =
			    (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[n], .msg_iovlen = 1}};
		}
		int sent = sendmmsg(sp->io.fd, msgs, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (sent < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				loop_io_set(sp->loop, &sp->io, EPOLLIN | EPOLLOUT);
				return;
			}
			channel_lost(sp, strerror(errno));
			return;
		}
		for (int i = 0; i < sent; i++) {
			sp->first_unsent->sent = true;
			sp->first_unsent = TAILQ_NEXT(sp->first_unsent, order);
		}
		sp->n_inflight += (unsigned)sent;
	}
	loop_io_set(sp->loop, &sp->io, EPOLLIN);
}

static void
sign_proxy_flush(struct loop_task *task)
{
	send_requests(container_of(task, struct sign_proxy, flush));
}

static void
handle_reply(struct sign_proxy *sp, const uint8_t *msg, size_t len)
{
	struct sp_sign_reply rep;
	if (sp_decode_sign_reply(msg, len, &rep) != 0) {
		kw_log_err("sign_proxy: malformed reply of %zu bytes ignored", len);
		return;
	}
	struct sign_waiter *wt = LIST_FIRST(&sp->buckets[rep.request_id & (SP_BUCKETS - 1)]);
	while (wt != NULL && wt->req.request_id != rep.request_id)
		wt = LIST_NEXT(wt, bucket);
	if (wt == NULL) {
		if (!orphan_answered(sp, rep.request_id))
			kw_log_debug("sign_proxy: reply for unknown or finished request %u ignored",
			             rep.request_id);
		return;
	}
	if (!wt->sent) {
		kw_log_debug("sign_proxy: reply for unsent request %u ignored", rep.request_id);
		return;
	}
	waiter_remove(sp, wt);
	sp->n_inflight--;
	loop_defer(sp->loop, &sp->flush);
	if (sp->metrics != NULL)
		kw_metrics_sign_observe(sp->metrics, kw_now_ns() - wt->submitted_ns);
	if (rep.status != SP_STATUS_OK) {
		kw_log_info("sign_proxy: request %u refused: %s", rep.request_id,
		            sp_status_name(rep.status));
		wt->done(wt, KW_ERR_SIGN_FAILED, NULL, 0);
		return;
	}
	wt->done(wt, 0, rep.sig, rep.sig_len);
}

/* Reads the waiting replies, SP_RECV_BATCH per recvmmsg(2). */
static void
read_replies(struct sign_proxy *sp)
{
	uint8_t msg[SP_RECV_BATCH][SP_SIGN_REPLY_MAX_LEN];
	struct iovec iov[SP_RECV_BATCH];
	struct mmsghdr hdr[SP_RECV_BATCH];
	for (unsigned got = 0; got < SP_RECV_PER_EVENT;) {
		for (unsigned i = 0; i < SP_RECV_BATCH; i++) {
			iov[i] = (struct iovec){.iov_base = msg[i], .iov_len = sizeof(msg[i])};
			hdr[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
		}
		int n = recvmmsg(sp->io.fd, hdr, SP_RECV_BATCH, MSG_DONTWAIT | MSG_TRUNC, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				channel_lost(sp, strerror(errno));
			return;
		}
		for (int i = 0; i < n; i++) {
			if (hdr[i].msg_len == 0) { /* the signer sends no empty message: EOF */
				channel_lost(sp, "closed by the signer");
				return;
			}
			if (hdr[i].msg_len > sizeof(msg[i])) {
				kw_log_err("sign_proxy: oversized reply of %u bytes ignored",
				           hdr[i].msg_len);
				continue;
			}
			handle_reply(sp, msg[i], hdr[i].msg_len);
		}
		if ((unsigned)n < SP_RECV_BATCH)
			return;
		got += (unsigned)n;
	}
}

static void
sign_proxy_on_event(struct loop_io *io, uint32_t events)
{
	struct sign_proxy *sp = container_of(io, struct sign_proxy, io);
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		read_replies(sp);
	if (sp->io.fd >= 0 && (events & EPOLLOUT))
		send_requests(sp);
}

void
sign_proxy_set_metrics(struct sign_proxy *sp, struct kw_metrics_worker *slot)
{
	sp->metrics = slot;
}

void
sign_proxy_set_channel(struct sign_proxy *sp, int fd)
{
	if (sp->io.fd >= 0) {
		loop_io_del(sp->loop, &sp->io);
		close(sp->io.fd);
	}
	if (channel_open(sp, fd) == 0)
		kw_log_info("sign_proxy: new signer channel");
}

/*
 * service.c - the signer's control loop and its pool of signing threads.
 *
 * The signing threads read the worker channels themselves: they wait together on
 * one epoll set where each channel is armed EPOLLONESHOT, so a readable channel
 * wakes one thread, which holds it from then on. That thread reads every request
 * waiting on it in one recvmmsg(2) (up to SIGNER_BATCH), admits them in order, signs
 * them and sends the replies in one sendmmsg(2); then it reads again, and only when
 * nothing is waiting (or after SIGNER_TURNS reads, so that other channels get their
 * turn) does it re-arm the channel and wait. A worker sends the requests of one of its
 * loop turns together, and requests that arrive while a thread signs are read by that
 * thread right after: a busy channel costs no wake-up, no epoll call and no context
 * switch per request. No request changes threads on its way. The main thread only
 * watches the control channel and the signals.
 *
 * Only the thread holding a channel's event reads, answers or closes it, so a channel
 * is never freed while another thread uses it. One mutex guards the channel list and
 * every channel's in-flight state. A request leaves the in-flight set before its
 * reply is sent, so a worker that keeps at most max_inflight requests unanswered is
 * never told BUSY.
 */
#include "service.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control.h"
#include "err.h"
#include "log.h"
#include "metrics.h"
#include "proc.h"
#include "signer_proto.h"
#include "stub.h"
#include "util.h"

#define EPOLL_BATCH        32
#define SIGNER_BATCH       16 /* requests read, signed and answered at once */
#define SIGNER_TURNS       4  /* batches a thread serves on a channel before it lets go */
#define SIGNING_STACK_SIZE (512u * 1024u) /* plenty for libcrypto's signing paths */
#define CHANNEL_EVENTS     (EPOLLIN | EPOLLONESHOT)

struct channel {
	int fd;
	struct stub_channel stub;
	struct channel *prev, *next;
};

struct signer_service {
	const struct signer_keys *keys;
	struct stub_limits limits;
	int control_fd;
	int epoll_fd;   /* the main thread's: control channel and signals */
	int channel_fd; /* the signing threads': worker channels and the stop pipe */
	int signal_fd;
	int stop[2]; /* a byte written to stop[1] stops every signing thread */
	pthread_mutex_t lock;
	pthread_cond_t started; /* a signing thread began: n_running grew */
	size_t n_running;
	struct channel *channels;
	pthread_t *threads;
	size_t n_threads;
	struct kw_metrics_signer *metrics; /* the signer's slot, or own_metrics */
	struct kw_metrics_signer own_metrics;
};

/* Unlinks, closes and frees ch. Called with svc->lock held. */
static void
channel_free(struct signer_service *svc, struct channel *ch)
{
	if (ch->prev)
		ch->prev->next = ch->next;
	else
		svc->channels = ch->next;
	if (ch->next)
		ch->next->prev = ch->prev;
	close(ch->fd);
	stub_channel_dispose(&ch->stub);
	free(ch);
}

/* Closes ch for good; only the thread holding its event calls this. */
static void
channel_close(struct signer_service *svc, struct channel *ch)
{
	epoll_ctl(svc->channel_fd, EPOLL_CTL_DEL, ch->fd, NULL);
	shutdown(ch->fd, SHUT_RDWR);
	pthread_mutex_lock(&svc->lock);
	channel_free(svc, ch);
	pthread_mutex_unlock(&svc->lock);
}

/* Tells the master that the worker of ch broke the protocol, so that it stops it. */
static void
report_broken_worker(struct signer_service *svc, const struct channel *ch)
{
	struct ctl_msg msg = {.type = CTL_WORKER_BROKE, .arg = ch->stub.slot};

	if (ctl_send(svc->control_fd, &msg, NULL, 0) < 0)
		kw_log_err("report_broken_worker: cannot tell the master about worker %u",
		           (unsigned)ch->stub.slot);
}

/* Lets any thread take ch's next requests. */
static void
channel_rearm(struct signer_service *svc, struct channel *ch)
{
	struct epoll_event ev = {.events = CHANNEL_EVENTS, .data.ptr = ch};

	if (epoll_ctl(svc->channel_fd, EPOLL_CTL_MOD, ch->fd, &ev) < 0) {
		kw_log_err("channel_rearm: worker %u: %s", (unsigned)ch->stub.slot,
		           strerror(errno));
		shutdown(ch->fd, SHUT_RDWR);
	}
}

/* Counts the outcome of a signed request: a signature of its key's type, or an error. */
static void
count_signature(struct signer_service *svc, const struct sp_sign_request *req,
                const struct sp_sign_reply *rep)
{
	unsigned type = (unsigned)svc->keys->keys[req->key_id].scheme - 1u;

	if (rep->status == SP_STATUS_OK && type < KW_METRICS_KEY_TYPES)
		kw_metric_add_shared(&svc->metrics->signatures[type], 1);
	else
		kw_metric_add_shared(&svc->metrics->sign_errors, 1);
}

/* What a signing thread took from a channel in one read: requests, then their replies. */
struct batch {
	unsigned n;
	uint8_t in[SIGNER_BATCH][SP_SIGN_REQUEST_LEN + 1]; /* one byte more: too long shows */
	struct mmsghdr hdr[SIGNER_BATCH];
	struct iovec iov[SIGNER_BATCH];
	struct sp_sign_request req[SIGNER_BATCH];
	struct sp_sign_reply rep[SIGNER_BATCH];
	bool sign[SIGNER_BATCH]; /* admitted: sign it; otherwise rep is the answer */
	uint8_t out[SIGNER_BATCH][SP_SIGN_REPLY_MAX_LEN];
};

/*
 * Reads up to SIGNER_BATCH waiting requests in one recvmmsg(2). Returns how many, 0 when
 * none is waiting, or -1 when the channel must be closed: EOF or an error (the worker
 * went away), or an empty datagram, which no worker sends (it is taken as EOF).
 */
static int
read_batch(struct channel *ch, struct batch *b)
{
	int n;

	for (unsigned i = 0; i < SIGNER_BATCH; i++) {
		b->iov[i] = (struct iovec){.iov_base = b->in[i], .iov_len = sizeof(b->in[i])};
		b->hdr[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &b->iov[i], .msg_iovlen = 1}};
	}
	do
		n = recvmmsg(ch->fd, b->hdr, SIGNER_BATCH, MSG_DONTWAIT, NULL);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	for (int i = 0; i < n; i++)
		if (b->hdr[i].msg_len == 0)
			n = 0;
	if (n <= 0) {
		kw_log_info("read_batch: channel of worker %u closed%s%s", (unsigned)ch->stub.slot,
		            n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
		return -1;
	}
	b->n = (unsigned)n;
	return n;
}

/*
 * Decodes and checks every request of b, then admits them in the order they came, under
 * one lock: so request ids are checked for growth exactly as one by one. Returns 0, or
 * KW_ERR_UNEXPECTED_MESSAGE when one is malformed, names no key, has a scheme that does
 * not fit its key or an id not newer than the last (logged, counted: the channel must be
 * closed and nothing of b answered).
 */
static int
admit_batch(struct signer_service *svc, struct channel *ch, struct batch *b)
{
	unsigned i;
	int rc = 0;

	kw_metric_add_shared(&svc->metrics->requests, b->n);
	for (i = 0; i < b->n; i++) {
		struct sp_sign_request *req = &b->req[i];

		if (sp_decode_sign_request(b->in[i], b->hdr[i].msg_len, req) != 0) {
			kw_log_warn("admit_batch: malformed request (%u bytes) from worker %u: "
			            "closing its channel",
			            b->hdr[i].msg_len, (unsigned)ch->stub.slot);
			goto refused;
		}
		if (stub_check_request(svc->keys, req) != 0) {
			kw_log_warn("admit_batch: worker %u sent request id %u for key %u with a "
			            "scheme (%s) that does not fit the key, or for no key: closing "
			            "its channel",
			            (unsigned)ch->stub.slot, (unsigned)req->request_id,
			            (unsigned)req->key_id,
			            req->kind == SP_KIND_TLS13_CV
			                ? tls13_scheme_name(req->tls13.scheme)
			                : "toy-TLS");
			goto refused;
		}
	}
	uint64_t now = kw_now_ms();
	pthread_mutex_lock(&svc->lock);
	for (i = 0; i < b->n && rc == 0; i++) {
		int verdict = stub_admit(&ch->stub, svc->keys->n, &b->req[i], now, &b->rep[i]);

		if (verdict < 0)
			rc = verdict;
		b->sign[i] = verdict == STUB_SIGN;
	}
	if (rc != 0) /* what was admitted before it is never answered: the channel closes */
		for (unsigned j = 0; j + 1 < i; j++)
			if (b->sign[j])
				stub_finish(&ch->stub, b->req[j].request_id);
	pthread_mutex_unlock(&svc->lock);
	if (rc == 0)
		return 0;
	i--;
	kw_log_warn("admit_batch: worker %u sent request id %u for key %u, not newer than the "
	            "last: closing its channel",
	            (unsigned)ch->stub.slot, (unsigned)b->req[i].request_id,
	            (unsigned)b->req[i].key_id);
refused:
	kw_metric_add_shared(&svc->metrics->refusals[KW_REFUSE_MALFORMED], 1);
	return KW_ERR_UNEXPECTED_MESSAGE;
}

/* Signs the admitted requests of b, then takes them out of ch's in-flight set at once. */
static void
sign_batch(struct signer_service *svc, struct stub_signer *prepared, struct channel *ch,
           struct batch *b)
{
	unsigned admitted = 0;

	for (unsigned i = 0; i < b->n; i++)
		admitted += b->sign[i];
	if (admitted > 0)
		kw_metric_add_shared(&svc->metrics->inflight, admitted);
	for (unsigned i = 0; i < b->n; i++) {
		if (!b->sign[i]) {
			enum sp_status st = b->rep[i].status;

			kw_metric_add_shared(
			    &svc->metrics->refusals[st == SP_STATUS_RATE_LIMITED ? KW_REFUSE_RATE
			                                                         : KW_REFUSE_BUSY],
			    1);
			kw_log_debug("sign_batch: worker %u request %u: %s",
			             (unsigned)ch->stub.slot, (unsigned)b->req[i].request_id,
			             sp_status_name(st));
			continue;
		}
		sign_stub(svc->keys, prepared, &b->req[i], &b->rep[i]);
		count_signature(svc, &b->req[i], &b->rep[i]);
	}
	if (admitted == 0)
		return;
	pthread_mutex_lock(&svc->lock);
	for (unsigned i = 0; i < b->n; i++)
		if (b->sign[i])
			stub_finish(&ch->stub, b->req[i].request_id);
	pthread_mutex_unlock(&svc->lock);
	kw_metric_add_shared(&svc->metrics->inflight, (uint64_t)0 - admitted);
}

/*
 * Writes the replies of b in as few sendmmsg(2) as the channel takes, without blocking.
 * A channel too full to take them (its worker stopped reading replies: a sane worker
 * never has more replies due than the in-flight cap) is shut down, which the loop then
 * sees as EOF, and its worker reported.
 */
static void
send_batch(struct signer_service *svc, struct channel *ch, struct batch *b)
{
	unsigned done = 0;

	for (unsigned i = 0; i < b->n; i++) {
		b->iov[i] = (struct iovec){.iov_base = b->out[i],
		                           .iov_len = sp_encode_sign_reply(&b->rep[i], b->out[i])};
		b->hdr[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &b->iov[i], .msg_iovlen = 1}};
	}
	while (done < b->n) {
		int n = sendmmsg(ch->fd, b->hdr + done, b->n - done, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0) {
			done += (unsigned)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			kw_log_warn("send_batch: channel of worker %u is full (not reading "
			            "replies): closing it",
			            (unsigned)ch->stub.slot);
			shutdown(ch->fd, SHUT_RDWR);
			report_broken_worker(svc, ch);
			return;
		} else {
			return; /* the worker went away: the loop sees EOF */
		}
	}
}

/*
 * A signing thread took ch's event: it serves batch after batch of what waits on ch
 * (read_batch), at most SIGNER_TURNS of them, then re-arms ch; or closes it.
 */
static void
serve_channel(struct signer_service *svc, struct stub_signer *prepared, struct channel *ch,
              struct batch *b)
{
	for (unsigned turn = 0; turn < SIGNER_TURNS; turn++) {
		int n = read_batch(ch, b);

		if (n == 0)
			break;
		if (n > 0 && admit_batch(svc, ch, b) != 0) {
			report_broken_worker(svc, ch);
			n = -1;
		}
		if (n < 0) {
			channel_close(svc, ch);
			return;
		}
		sign_batch(svc, prepared, ch, b);
		send_batch(svc, ch, b);
	}
	channel_rearm(svc, ch);
}

/*
 * The calling thread's prepared keys, by key id (stub_signer: every scheme each key signs
 * with): set up before the seccomp filter is locked (a thread counts as running only
 * afterwards). What cannot be prepared is left zeroed and signs without preparation.
 * NULL when out of memory (every key then does).
 */
static struct stub_signer *
prepare_keys(const struct signer_keys *keys)
{
	struct stub_signer *prepared = calloc(keys->n ? keys->n : 1, sizeof(*prepared));

	if (prepared == NULL)
		kw_log_warn("prepare_keys: out of memory (keys sign unprepared)");
	for (size_t i = 0; prepared != NULL && i < keys->n; i++) {
		int rc = stub_signer_init(&prepared[i], &keys->keys[i]);
		if (rc)
			kw_log_warn("prepare_keys: key %zu: %s (it signs unprepared)", i,
			            kw_strerror(rc));
	}
	return prepared;
}

static void
dispose_keys(const struct signer_keys *keys, struct stub_signer *prepared)
{
	for (size_t i = 0; prepared != NULL && i < keys->n; i++)
		stub_signer_dispose(&prepared[i]);
	free(prepared);
}

static void *
signing_thread(void *arg)
{
	struct signer_service *svc = arg;
	struct stub_signer *prepared = prepare_keys(svc->keys);
	struct batch b; /* about 20 KiB of the thread's SIGNING_STACK_SIZE */

	pthread_mutex_lock(&svc->lock);
	svc->n_running++;
	pthread_cond_signal(&svc->started);
	pthread_mutex_unlock(&svc->lock);
	for (;;) {
		struct epoll_event ev;
		int n = epoll_wait(svc->channel_fd, &ev, 1, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			kw_log_err("signing_thread: epoll_wait: %s", strerror(errno));
			break;
		}
		if (ev.data.ptr == svc->stop)
			break;
		serve_channel(svc, prepared, ev.data.ptr, &b);
	}
	dispose_keys(svc->keys, prepared);
	return NULL;
}

static void
add_channel(struct signer_service *svc, int fd, uint32_t slot)
{
	struct channel *ch = calloc(1, sizeof(*ch));
	struct epoll_event ev = {.events = CHANNEL_EVENTS};

	if (!ch || stub_channel_init(&ch->stub, slot, &svc->limits, kw_now_ms()) != 0) {
		kw_log_err("add_channel: out of memory for the channel of worker %u",
		           (unsigned)slot);
		free(ch);
		close(fd);
		return;
	}
	ch->fd = fd;
	ev.data.ptr = ch;
	pthread_mutex_lock(&svc->lock);
	ch->next = svc->channels;
	if (ch->next)
		ch->next->prev = ch;
	svc->channels = ch;
	pthread_mutex_unlock(&svc->lock);
	if (epoll_ctl(svc->channel_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		kw_log_err("add_channel: epoll_ctl for worker %u: %s", (unsigned)slot,
		           strerror(errno));
		pthread_mutex_lock(&svc->lock);
		channel_free(svc, ch);
		pthread_mutex_unlock(&svc->lock);
		return;
	}
	kw_log_info("add_channel: channel of worker %u open", (unsigned)slot);
}

/* Control message handlers (ctx is the service). */

static enum ctl_verdict
on_channel(void *ctx, const struct ctl_msg *msg, int *fds, size_t n_fds)
{
	add_channel(ctx, fds[0], msg->arg);
	fds[0] = -1;
	return CTL_CONTINUE;
}

static enum ctl_verdict
on_reopen_logs(void *ctx, const struct ctl_msg *msg, int *fds, size_t n_fds)
{
	if (dup3(fds[0], KW_FD_ERROR_LOG, O_CLOEXEC) < 0) {
		kw_log_err("on_reopen_logs: dup3: %s", strerror(errno));
		return CTL_CONTINUE;
	}
	kw_log_set_fd(KW_FD_ERROR_LOG);
	kw_log_info("on_reopen_logs: error log reopened");
	return CTL_CONTINUE;
}

static enum ctl_verdict
on_shutdown(void *ctx, const struct ctl_msg *msg, int *fds, size_t n_fds)
{
	kw_log_info("on_shutdown: shutdown requested: exiting");
	return CTL_STOP;
}

static const struct ctl_handler control_handlers[] = {
    {CTL_CHANNEL, 1, 1, on_channel},
    {CTL_REOPEN_LOGS, 1, CTL_MAX_FDS, on_reopen_logs},
    {CTL_SHUTDOWN, 0, 0, on_shutdown},
};

/* Reads every waiting control message. Returns 1 to go on serving, 0 to stop. */
static int
serve_control(struct signer_service *svc)
{
	switch (ctl_dispatch(svc->control_fd, control_handlers, countof(control_handlers), svc,
	                     "the master", 0)) {
	case CTL_DISPATCH_IDLE:
		return 1;
	case CTL_DISPATCH_EOF:
		kw_log_info("serve_control: control channel closed: exiting");
		return 0;
	case CTL_DISPATCH_BROKEN:
		kw_log_info("serve_control: control channel broken: exiting");
		return 0;
	case CTL_DISPATCH_STOP:
		break;
	}
	return 0;
}

/* Reads waiting signals. Returns 1 to go on serving, 0 to stop. */
static int
serve_signals(struct signer_service *svc)
{
	struct signalfd_siginfo si;

	while (read(svc->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			kw_log_info("serve_signals: signal %u: exiting", (unsigned)si.ssi_signo);
			return 0;
		}
		kw_log_debug("serve_signals: signal %u ignored", (unsigned)si.ssi_signo);
	}
	return 1;
}

int
signer_service_run(struct signer_service *svc)
{
	struct epoll_event evs[EPOLL_BATCH];

	for (;;) {
		int n = epoll_wait(svc->epoll_fd, evs, EPOLL_BATCH, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			kw_log_err("signer_service_run: epoll_wait: %s", strerror(errno));
			return KW_ERR_INTERNAL;
		}
		for (int i = 0; i < n; i++) {
			void *tag = evs[i].data.ptr;

			if (tag == &svc->signal_fd) {
				if (!serve_signals(svc))
					return 0;
			} else if (!serve_control(svc)) {
				return 0;
			}
		}
	}
}

static int
watch(int epoll_fd, int fd, void *tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = tag};

	return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev);
}

static int
take_signals(struct signer_service *svc)
{
	static const int signals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE};
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		sigaddset(&set, signals[i]);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	svc->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return svc->signal_fd < 0 ? -1 : 0;
}

static int
start_threads(struct signer_service *svc, unsigned count)
{
	pthread_attr_t attr;
	int rc = 0;

	svc->threads = calloc(count, sizeof(*svc->threads));
	if (!svc->threads || pthread_attr_init(&attr) != 0)
		return ENOMEM;
	pthread_attr_setstacksize(&attr, SIGNING_STACK_SIZE);
	for (; svc->n_threads < count; svc->n_threads++) {
		rc = pthread_create(&svc->threads[svc->n_threads], &attr, signing_thread, svc);
		if (rc != 0)
			break;
	}
	pthread_attr_destroy(&attr);
	pthread_mutex_lock(&svc->lock);
	while (svc->n_running < svc->n_threads)
		pthread_cond_wait(&svc->started, &svc->lock);
	pthread_mutex_unlock(&svc->lock);
	return rc;
}

int
signer_service_start(const struct kw_config *cfg, const struct signer_keys *keys, int control_fd,
                     struct kw_metrics_signer *metrics, struct signer_service **out)
{
	struct signer_service *svc = calloc(1, sizeof(*svc));
	int rc;

	if (!svc) {
		kw_log_err("signer_service_start: out of memory");
		return KW_ERR_NOMEM;
	}
	svc->keys = keys;
	svc->metrics = metrics != NULL ? metrics : &svc->own_metrics;
	svc->limits = (struct stub_limits){.max_inflight = cfg->signer.max_inflight,
	                                   .rate_limit = cfg->signer.rate_limit};
	if (svc->limits.max_inflight == 0)
		svc->limits.max_inflight = 1;
	svc->control_fd = control_fd;
	svc->epoll_fd = -1;
	svc->channel_fd = -1;
	svc->signal_fd = -1;
	svc->stop[0] = svc->stop[1] = -1;
	pthread_mutex_init(&svc->lock, NULL);
	pthread_cond_init(&svc->started, NULL);

	if (take_signals(svc) < 0 || fcntl(control_fd, F_SETFL, O_NONBLOCK) < 0 ||
	    (svc->epoll_fd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (svc->channel_fd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    pipe2(svc->stop, O_CLOEXEC) < 0 ||
	    watch(svc->epoll_fd, svc->signal_fd, &svc->signal_fd) < 0 ||
	    watch(svc->epoll_fd, control_fd, &svc->control_fd) < 0 ||
	    watch(svc->channel_fd, svc->stop[0], svc->stop) < 0) {
		kw_log_err("signer_service_start: %s", strerror(errno));
		rc = KW_ERR_INTERNAL;
		goto fail;
	}
	rc = start_threads(svc, cfg->signer.threads ? cfg->signer.threads : 1);
	if (rc != 0) {
		kw_log_err("signer_service_start: starting signing threads: %s", strerror(rc));
		rc = KW_ERR_INTERNAL;
		goto fail;
	}
	*out = svc;
	return 0;
fail:
	signer_service_free(svc);
	return rc;
}

void
signer_service_free(struct signer_service *svc)
{
	if (svc->n_threads > 0 && write(svc->stop[1], "", 1) != 1)
		kw_log_err("signer_service_free: stopping the signing threads: %s",
		           strerror(errno));
	for (size_t i = 0; i < svc->n_threads; i++)
		pthread_join(svc->threads[i], NULL);

	while (svc->channels) {
		struct channel *ch = svc->channels;

		svc->channels = ch->next;
		close(ch->fd);
		stub_channel_dispose(&ch->stub);
		free(ch);
	}
	const int fds[] = {svc->epoll_fd, svc->channel_fd, svc->signal_fd, svc->stop[0],
	                   svc->stop[1]};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	pthread_cond_destroy(&svc->started);
	pthread_mutex_destroy(&svc->lock);
	free(svc->threads);
	free(svc);
}

/*
 * worker.c - the worker's event loop: listeners, control channel, signer channel,
 * connections and timers in one epoll set.
 */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access_log.h"
#include "conn.h"
#include "control.h"
#include "err.h"
#include "log.h"
#include "proc.h"
#include "signer_client.h"

#define EVENT_BATCH       64u   /* events taken per epoll_wait */
#define ACCEPT_BATCH      64u   /* connections accepted per readable event */
#define CONTROL_BATCH     16u   /* control messages read per readable event */
#define ACCEPT_RETRY_MS   1000u /* pause after running out of descriptors */
#define LINGER_TIMEOUT_MS 5000u /* wait for the peer's EOF after a final response */

int
worker_io_add(struct worker *w, struct worker_io *io, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = io};
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, io->fd, &ev) < 0) {
		kw_log_err("worker_io_add: epoll_ctl(%d): %s", io->fd, strerror(errno));
		return KW_ERR_INTERNAL;
	}
	io->events = events;
	return 0;
}

int
worker_io_set(struct worker *w, struct worker_io *io, uint32_t events)
{
	if (io->events == events)
		return 0;
	struct epoll_event ev = {.events = events, .data.ptr = io};
	if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0) {
		kw_log_err("worker_io_set: epoll_ctl(%d): %s", io->fd, strerror(errno));
		return KW_ERR_INTERNAL;
	}
	io->events = events;
	return 0;
}

void
worker_io_del(struct worker *w, struct worker_io *io)
{
	if (io->events == 0)
		return;
	if (epoll_ctl(w->epfd, EPOLL_CTL_DEL, io->fd, NULL) < 0)
		kw_log_err("worker_io_del: epoll_ctl(%d): %s", io->fd, strerror(errno));
	io->events = 0;
}

void
worker_io_forget(struct worker_io *io)
{
	io->events = 0;
}

static void
accept_start(struct worker *w)
{
	for (size_t i = 0; i < w->n_listeners; i++)
		if (w->listeners[i].io.fd >= 0)
			worker_io_add(w, &w->listeners[i].io, EPOLLIN | EPOLLEXCLUSIVE);
	w->accepting = true;
	w->accept_paused = false;
	kw_timer_disarm(&w->accept_retry);
}

/* EPOLLEXCLUSIVE cannot be changed with EPOLL_CTL_MOD: listeners leave the set. */
static void
accept_stop(struct worker *w)
{
	for (size_t i = 0; i < w->n_listeners; i++)
		worker_io_del(w, &w->listeners[i].io);
	w->accepting = false;
}

static void
accept_pause(struct worker *w, bool retry)
{
	accept_stop(w);
	w->accept_paused = true;
	if (retry)
		kw_timer_arm(&w->accept_retry, &w->q_accept, w->now);
}

static void
accept_retry_fire(struct kw_timer *t)
{
	struct worker *w = container_of(t, struct worker, accept_retry);
	if (w->accept_paused && !w->shutting_down)
		accept_start(w);
}

static bool
at_capacity(const struct worker *w)
{
	return w->cfg->http.max_connections != 0 && w->n_conns >= w->cfg->http.max_connections;
}

void
worker_conn_closed(struct worker *w)
{
	if (w->accept_paused && !w->shutting_down && !at_capacity(w))
		accept_start(w);
}

void
worker_conn_idle(struct worker *w)
{
	if (w->accept_paused && !w->shutting_down)
		accept_start(w);
}

/* Returns true to go on accepting in this batch. */
static bool
accept_failed(struct worker *w, int err)
{
	switch (err) {
	case EAGAIN:
#if EAGAIN != EWOULDBLOCK
	case EWOULDBLOCK:
#endif
		return false;
	case EINTR:
	case ECONNABORTED:
	case EPROTO:
	case EPERM:
		return true;
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
		kw_log_err("accept: %s", strerror(err));
		if (!conn_close_oldest_idle(w))
			accept_pause(w, true);
		return false;
	default:
		kw_log_err("accept: %s", strerror(err));
		return false;
	}
}

static void
listener_on_event(struct worker_io *io, uint32_t events)
{
	struct worker_listener *l = container_of(io, struct worker_listener, io);
	struct worker *w = l->w;

	for (unsigned i = 0; i < ACCEPT_BATCH && w->accepting; i++) {
		const bool full = at_capacity(w);
		if (full && kw_timer_queue_first(&w->q_keepalive) == NULL) {
			kw_log_warn("worker: %u connections, not accepting until one closes",
			            w->cfg->http.max_connections);
			accept_pause(w, false);
			return;
		}
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int fd =
		    accept4(io->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (!accept_failed(w, errno))
				return;
			continue;
		}
		if (full)
			conn_close_oldest_idle(w);
		conn_accept(w, l, fd, (struct sockaddr *)&peer, len);
	}
}

static void
close_listeners(struct worker *w)
{
	accept_stop(w);
	for (size_t i = 0; i < w->n_listeners; i++) {
		if (w->listeners[i].io.fd >= 0)
			close(w->listeners[i].io.fd);
		w->listeners[i].io.fd = -1;
	}
}

/*
 * Accepts what is already queued on the listeners before closing them: with
 * EPOLLEXCLUSIVE, the wakeup for a queued connection may have gone to this worker
 * only, and no other worker would be woken for it until the next one arrives.
 */
static void
drain_and_close_listeners(struct worker *w)
{
	for (size_t i = 0; i < w->n_listeners && w->accepting; i++)
		if (w->listeners[i].io.fd >= 0)
			listener_on_event(&w->listeners[i].io, EPOLLIN);
	close_listeners(w);
}

static void
shutdown_fire(struct kw_timer *t)
{
	struct worker *w = container_of(t, struct worker, shutdown);
	kw_log_notice("worker: shutdown deadline reached with %zu connections open", w->n_conns);
	conn_close_all(w, "shutdown deadline reached");
	w->stop = true;
}

static enum ctl_verdict
control_channel(void *ctx, const struct ctl_msg *msg, int *fds, size_t n_fds)
{
	struct worker *w = ctx;

	sign_proxy_set_channel(w->signer, fds[0]);
	fds[0] = -1;
	return CTL_CONTINUE;
}

static enum ctl_verdict
control_shutdown(void *ctx, const struct ctl_msg *msg, int *fds, size_t n_fds)
{
	struct worker *w = ctx;

	if (w->shutting_down)
		return CTL_CONTINUE;
	kw_log_info("worker: graceful shutdown, %zu connections open, deadline %u ms", w->n_conns,
	            msg->arg);
	drain_and_close_listeners(w);
	w->shutting_down = true;
	kw_timer_queue_init(&w->q_shutdown, msg->arg);
	kw_timer_arm(&w->shutdown, &w->q_shutdown, w->now);
	conn_shutdown_idle(w);
	return CTL_CONTINUE;
}

/* Moves fd onto target (a fixed descriptor number); the dispatcher closes fd. */
static void
replace_fd(int fd, int target, const char *what)
{
	if (dup3(fd, target, O_CLOEXEC) < 0)
		kw_log_err("worker: reopening the %s: %s", what, strerror(errno));
}

static enum ctl_verdict
control_reopen_logs(void *ctx, const struct ctl_msg *msg, int *fds, size_t n_fds)
{
	struct worker *w = ctx;

	if (n_fds >= 1 && strcmp(w->cfg->error_log, "stderr") != 0)
		replace_fd(fds[0], KW_FD_ERROR_LOG, "error log");
	if (n_fds >= 2 && w->access_log->fd >= 0)
		replace_fd(fds[1], KW_FD_ACCESS_LOG, "access log");
	kw_log_info("worker: logs reopened");
	return CTL_CONTINUE;
}

static const struct ctl_handler control_handlers[] = {
    {CTL_CHANNEL, 1, 1, control_channel},
    {CTL_SHUTDOWN, 0, 0, control_shutdown},
    {CTL_REOPEN_LOGS, 0, 2, control_reopen_logs},
};

static void
control_on_event(struct worker_io *io, uint32_t events)
{
	struct worker *w = container_of(io, struct worker, control);

	switch (ctl_dispatch(io->fd, control_handlers,
	                     sizeof(control_handlers) / sizeof(control_handlers[0]), w,
	                     "the master", CONTROL_BATCH)) {
	case CTL_DISPATCH_IDLE:
	case CTL_DISPATCH_STOP:
		return;
	case CTL_DISPATCH_EOF:
		kw_log_notice("worker: control channel closed, the master is gone: exiting");
		conn_close_all(w, "the master is gone");
		break;
	case CTL_DISPATCH_BROKEN:
		kw_log_err("worker: control channel broken: exiting");
		conn_close_all(w, "control channel failed");
		break;
	}
	w->stop = true;
}

static int
listeners_init(struct worker *w, char *err, size_t err_len)
{
	w->listeners = calloc(w->cfg->n_listeners, sizeof(*w->listeners));
	if (w->listeners == NULL && w->cfg->n_listeners > 0) {
		snprintf(err, err_len, "out of memory");
		return KW_ERR_NOMEM;
	}
	w->n_listeners = w->cfg->n_listeners;
	for (size_t i = 0; i < w->n_listeners; i++)
		w->listeners[i].io.fd = -1;
	for (size_t i = 0; i < w->n_listeners; i++) {
		struct worker_listener *l = &w->listeners[i];
		const struct kw_listener *lc = &w->cfg->listeners[i];
		int fd = KW_FD_LISTENERS + (int)i;
		struct stat st;
		if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
			snprintf(err, err_len, "listener %s:%u: descriptor %d is not a socket",
			         lc->address, lc->port, fd);
			return KW_ERR_ARGUMENT;
		}
		int flags = fcntl(fd, F_GETFL);
		int one = 1;
		if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
		    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
			snprintf(err, err_len, "listener %d: %s", fd, strerror(errno));
			return KW_ERR_INTERNAL;
		}
		l->io = (struct worker_io){.fd = fd, .on_event = listener_on_event};
		l->w = w;
		l->cfg = lc;
		l->index = i;
		l->server = &w->cfg->servers[lc->default_server];
		if (lc->tls && !l->server->has_tls) {
			snprintf(err, err_len, "listener %s:%u: default server has no certificate",
			         lc->address, lc->port);
			return KW_ERR_ARGUMENT;
		}
	}
	return 0;
}

static void
timer_queues_init(struct worker *w)
{
	const struct kw_config *cfg = w->cfg;
	kw_timer_queue_init(&w->q_handshake, cfg->http.handshake_timeout_ms);
	kw_timer_queue_init(&w->q_header, cfg->http.client_header_timeout_ms);
	kw_timer_queue_init(&w->q_body, cfg->http.client_body_timeout_ms);
	kw_timer_queue_init(&w->q_send, cfg->http.send_timeout_ms);
	kw_timer_queue_init(&w->q_keepalive, cfg->http.keepalive_timeout_ms);
	kw_timer_queue_init(&w->q_linger, LINGER_TIMEOUT_MS);
	kw_timer_queue_init(&w->q_sign, cfg->signer.timeout_ms);
	kw_timer_queue_init(&w->q_accept, ACCEPT_RETRY_MS);
	kw_timer_queue_init(&w->q_shutdown, 0);
	kw_timer_init(&w->accept_retry, accept_retry_fire);
	kw_timer_init(&w->shutdown, shutdown_fire);
}

int
worker_init(struct worker *w, const struct kw_config *cfg, const struct mime_table *mime,
            const struct worker_identity *identities, struct access_log *access_log, char *err,
            size_t err_len)
{
	memset(w, 0, sizeof(*w));
	w->cfg = cfg;
	w->mime = mime;
	w->identities = identities;
	w->access_log = access_log;
	w->limits = (struct http_limits){
	    .max_request_line = cfg->http.max_request_line,
	    .max_header_size = cfg->http.max_header_size,
	    .max_header_count = cfg->http.max_header_count,
	    .max_body_size = cfg->http.max_body_size,
	};
	w->control.fd = -1;
	w->now = kw_now_ms();
	w->wall = time(NULL);
	TAILQ_INIT(&w->conns);
	TAILQ_INIT(&w->dead);
	tt_nonce_pool_init(&w->nonces);
	static_cache_init(&w->files);
	timer_queues_init(w);

	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0) {
		snprintf(err, err_len, "epoll_create1: %s", strerror(errno));
		return KW_ERR_INTERNAL;
	}
	int rc = tt_kex_init(&w->kex);
	if (rc) {
		snprintf(err, err_len, "key-exchange contexts: %s", kw_strerror(rc));
		return rc;
	}
	rc = listeners_init(w, err, err_len);
	if (rc)
		return rc;
	int flags = fcntl(KW_FD_CONTROL, F_GETFL);
	if (flags < 0 || fcntl(KW_FD_CONTROL, F_SETFL, flags | O_NONBLOCK) < 0) {
		snprintf(err, err_len, "control channel (fd %d): %s", KW_FD_CONTROL,
		         strerror(errno));
		return KW_ERR_INTERNAL;
	}
	w->control = (struct worker_io){.fd = KW_FD_CONTROL, .on_event = control_on_event};
	if (worker_io_add(w, &w->control, EPOLLIN) != 0) {
		snprintf(err, err_len, "cannot watch the control channel");
		return KW_ERR_INTERNAL;
	}
	int signer_fd = fcntl(KW_FD_SIGNER, F_GETFD) >= 0 ? KW_FD_SIGNER : -1;
	rc = sign_proxy_new(w, signer_fd, &w->q_sign, cfg->signer.max_inflight, &w->signer);
	if (rc) {
		snprintf(err, err_len, "signer channel: %s", kw_strerror(rc));
		return rc;
	}
	return 0;
}

/* Milliseconds until the earliest timer, -1 when none is armed. */
static int
next_timeout(struct worker *w)
{
	struct kw_timer_queue *queues[] = {
	    &w->q_handshake, &w->q_header, &w->q_body,   &w->q_send,     &w->q_keepalive,
	    &w->q_linger,    &w->q_sign,   &w->q_accept, &w->q_shutdown,
	};
	unsigned long long earliest = ULLONG_MAX;
	for (size_t i = 0; i < sizeof(queues) / sizeof(queues[0]); i++) {
		unsigned long long d;
		if (kw_timer_queue_next(queues[i], &d) && d < earliest)
			earliest = d;
	}
	if (earliest == ULLONG_MAX)
		return -1;
	unsigned long long now = kw_now_ms();
	if (earliest <= now)
		return 0;
	return earliest - now > INT_MAX ? INT_MAX : (int)(earliest - now);
}

static void
expire_timers(struct worker *w)
{
	struct kw_timer_queue *queues[] = {
	    &w->q_handshake, &w->q_header, &w->q_body,   &w->q_send,     &w->q_keepalive,
	    &w->q_linger,    &w->q_sign,   &w->q_accept, &w->q_shutdown,
	};
	for (size_t i = 0; i < sizeof(queues) / sizeof(queues[0]) && !w->stop; i++)
		kw_timer_queue_expire(queues[i], w->now);
}

int
worker_run(struct worker *w)
{
	struct epoll_event events[EVENT_BATCH];

	accept_start(w);
	int rc = ctl_send(KW_FD_CONTROL, &(struct ctl_msg){.type = CTL_READY}, NULL, 0);
	if (rc) {
		kw_log_err("worker_run: sending READY: %s", strerror(-rc));
		return KW_ERR_INTERNAL;
	}
	while (!w->stop) {
		sign_proxy_flush(w->signer);
		conn_free_dead(w);
		if (w->shutting_down && w->n_conns == 0) {
			kw_log_info("worker: graceful shutdown complete");
			break;
		}
		int n = epoll_wait(w->epfd, events, EVENT_BATCH, next_timeout(w));
		if (n < 0 && errno != EINTR) {
			kw_log_err("worker_run: epoll_wait: %s", strerror(errno));
			conn_close_all(w, "event loop failed");
			rc = KW_ERR_INTERNAL;
			break;
		}
		w->now = kw_now_ms();
		w->wall = time(NULL);
		for (int i = 0; i < n && !w->stop; i++) {
			struct worker_io *io = events[i].data.ptr;
			io->on_event(io, events[i].events);
		}
		expire_timers(w);
		static_cache_clear(&w->files);
	}
	conn_free_dead(w);
	return rc;
}

void
worker_dispose(struct worker *w)
{
	conn_close_all(w, "worker exiting");
	conn_free_dead(w);
	close_listeners(w);
	free(w->listeners);
	w->listeners = NULL;
	w->n_listeners = 0;
	sign_proxy_free(w->signer);
	w->signer = NULL;
	if (w->control.fd >= 0) {
		worker_io_del(w, &w->control);
		close(w->control.fd);
		w->control.fd = -1;
	}
	if (w->epfd >= 0)
		close(w->epfd);
	w->epfd = -1;
	tt_kex_dispose(&w->kex);
}

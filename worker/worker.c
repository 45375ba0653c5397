/*
 * worker.c - the worker's wiring: the loop core with the listeners, connections,
 * control channel and signer client on it. Listeners and connections know nothing of
 * each other; the hooks below carry accepted sockets one way and room the other.
 */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "control.h"
#include "err.h"
#include "log.h"
#include "proc.h"
#include "signer_client.h"
#include "transport.h"

#define CONTROL_BATCH 16u /* control messages read per readable event */

static void
listener_accepted(struct listeners *ls, struct listener *l, int fd, const struct sockaddr *peer,
                  socklen_t peer_len)
{
	struct worker *w = container_of(ls, struct worker, listeners);
	conn_accept(&w->conns, l, fd, peer, peer_len);
}

static size_t
listener_open(struct listeners *ls)
{
	return container_of(ls, struct worker, listeners)->conns.n_open;
}

static bool
listener_can_evict(struct listeners *ls)
{
	return conns_can_evict(&container_of(ls, struct worker, listeners)->conns);
}

static bool
listener_evict(struct listeners *ls)
{
	return conns_evict(&container_of(ls, struct worker, listeners)->conns);
}

static const struct listener_hooks listener_hooks = {
    .accepted = listener_accepted,
    .open = listener_open,
    .can_evict = listener_can_evict,
    .evict = listener_evict,
};

static void
conn_closed(struct conns *cs)
{
	struct worker *w = container_of(cs, struct worker, conns);
	listeners_room(&w->listeners, false);
	if (w->shutting_down)
		loop_defer(&w->loop, &w->drained);
}

static void
conn_idle(struct conns *cs)
{
	listeners_room(&container_of(cs, struct worker, conns)->listeners, true);
}

static void
conn_short_of_descriptors(struct conns *cs, int err)
{
	listeners_short_of_descriptors(&container_of(cs, struct worker, conns)->listeners, err);
}

static const struct conn_hooks conn_hooks = {
    .closed = conn_closed,
    .idle = conn_idle,
    .short_of_descriptors = conn_short_of_descriptors,
};

static void
drained(struct loop_task *task)
{
	struct worker *w = container_of(task, struct worker, drained);
	if (w->conns.n_open == 0) {
		kw_log_info("worker: graceful shutdown complete");
		w->loop.stop = true;
	}
}

static void
shutdown_fire(struct kw_timer *t)
{
	struct worker *w = container_of(t, struct worker, shutdown);
	kw_log_notice("worker: shutdown deadline reached with %zu connections open",
	              w->conns.n_open);
	conns_close_all(&w->conns, "shutdown deadline reached");
	w->loop.stop = true;
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
	kw_log_info("worker: graceful shutdown, %zu connections open, deadline %u ms",
	            w->conns.n_open, msg->arg);
	listeners_drain_and_close(&w->listeners);
	w->shutting_down = true;
	w->q_shutdown.duration_ms = msg->arg;
	loop_timer_arm(&w->loop, &w->shutdown, &w->q_shutdown);
	conns_shutdown(&w->conns);
	loop_defer(&w->loop, &w->drained);
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
	if (n_fds >= 2 && w->access_log->n > 0 && w->access_log->files[0].fd >= 0)
		replace_fd(fds[1], kw_fd_access_log(w->cfg->n_listeners, 0), "access log");
	kw_log_info("worker: logs reopened");
	return CTL_CONTINUE;
}

/* Another access log file than the first, reopened: arg is its index. */
static enum ctl_verdict
control_reopen_access_log(void *ctx, const struct ctl_msg *msg, int *fds, size_t n_fds)
{
	struct worker *w = ctx;

	if (msg->arg < w->access_log->n && w->access_log->files[msg->arg].fd >= 0)
		replace_fd(fds[0], kw_fd_access_log(w->cfg->n_listeners, msg->arg), "access log");
	kw_log_info("worker: access log %u reopened", msg->arg);
	return CTL_CONTINUE;
}

/* New session ticket keys: every transport class that issues tickets takes them. */
static enum ctl_verdict
control_ticket_keys(void *ctx, const struct ctl_msg *msg, int *fds, size_t n_fds)
{
	struct worker *w = ctx;
	struct kw_ticket_keys keys;

	if (kw_ticket_keys_from_fd(fds[0], &keys) != 0) {
		kw_log_err("worker: malformed session ticket keys ignored");
		return CTL_CONTINUE;
	}
	for (size_t k = 0; w->transports != NULL && transport_classes[k] != NULL; k++)
		if (w->transports[k].started && transport_classes[k]->set_ticket_keys != NULL)
			transport_classes[k]->set_ticket_keys(w->transports[k].state, &keys);
	kw_ticket_keys_wipe(&keys);
	return CTL_CONTINUE;
}

static const struct ctl_handler control_handlers[] = {
    {CTL_CHANNEL, 1, 1, control_channel},
    {CTL_TICKET_KEYS, 1, 1, control_ticket_keys},
    {CTL_SHUTDOWN, 0, 0, control_shutdown},
    {CTL_REOPEN_LOGS, 0, 2, control_reopen_logs},
    {CTL_REOPEN_ACCESS_LOG, 1, 1, control_reopen_access_log},
};

static void
control_on_event(struct loop_io *io, uint32_t events)
{
	struct worker *w = container_of(io, struct worker, control);

	switch (ctl_dispatch(io->fd, control_handlers, countof(control_handlers), w, "the master",
	                     CONTROL_BATCH)) {
	case CTL_DISPATCH_IDLE:
	case CTL_DISPATCH_STOP:
		return;
	case CTL_DISPATCH_EOF:
		kw_log_notice("worker: control channel closed, the master is gone: exiting");
		conns_close_all(&w->conns, "the master is gone");
		break;
	case CTL_DISPATCH_BROKEN:
		kw_log_err("worker: control channel broken: exiting");
		conns_close_all(&w->conns, "control channel failed");
		break;
	}
	w->loop.stop = true;
}

/* The largest record of the transport classes the listeners of cfg speak. */
static size_t
transports_record_size(const struct kw_config *cfg)
{
	size_t size = 0;
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		const struct transport_class *tc = transport_class_for(&cfg->listeners[i]);
		if (tc != NULL && tc->record_size > size)
			size = tc->record_size;
	}
	return size;
}

/* Starts each transport class some listener speaks and gives the listeners theirs. */
static int
transports_start(struct worker *w, char *err, size_t err_len)
{
	size_t n = 0;
	while (transport_classes[n] != NULL)
		n++;
	w->transports = calloc(n, sizeof(*w->transports));
	if (w->transports == NULL) {
		snprintf(err, err_len, "out of memory");
		return KW_ERR_NOMEM;
	}
	const struct transport_env env = {.loop = &w->loop, .cfg = w->cfg, .signer = w->signer};
	for (size_t i = 0; i < w->listeners.n; i++) {
		struct listener *l = &w->listeners.l[i];
		l->transport = transport_class_for(l->cfg);
		if (l->transport == NULL) {
			snprintf(err, err_len, "listener %s:%u: no transport speaks its protocol",
			         l->cfg->address, l->cfg->port);
			return KW_ERR_ARGUMENT;
		}
		size_t k = 0;
		while (transport_classes[k] != l->transport)
			k++;
		struct worker_transport *wt = &w->transports[k];
		if (!wt->started) {
			int rc = l->transport->start(&env, &wt->state, err, err_len);
			if (rc)
				return rc;
			wt->started = true;
		}
		l->transport_state = wt->state;
	}
	return 0;
}

static void
transports_stop(struct worker *w)
{
	if (w->transports == NULL)
		return;
	for (size_t k = 0; transport_classes[k] != NULL; k++)
		if (w->transports[k].started)
			transport_classes[k]->stop(w->transports[k].state);
	free(w->transports);
	w->transports = NULL;
}

int
worker_init(struct worker *w, const struct kw_config *cfg, const struct mime_table *mime,
            struct access_logs *access_log, char *err, size_t err_len)
{
	memset(w, 0, sizeof(*w));
	w->cfg = cfg;
	w->access_log = access_log;
	w->control.fd = -1;
	kw_timer_init(&w->shutdown, shutdown_fire);
	loop_task_init(&w->drained, drained);
	if (loop_init(&w->loop) != 0) {
		snprintf(err, err_len, "epoll_create1: %s", strerror(errno));
		return KW_ERR_INTERNAL;
	}
	/* timer queues expire in this order: the connections', the signer's, accept's, shutdown */
	int rc = conns_init(&w->conns, &w->loop, cfg, mime, access_log, &conn_hooks,
	                    transports_record_size(cfg));
	if (rc) {
		snprintf(err, err_len, "out of memory");
		return rc;
	}
	int signer_fd = fcntl(KW_FD_SIGNER, F_GETFD) >= 0 ? KW_FD_SIGNER : -1;
	rc = sign_proxy_new(&w->loop, cfg, signer_fd, &w->signer);
	if (rc) {
		snprintf(err, err_len, "signer channel: %s", kw_strerror(rc));
		return rc;
	}
	rc = listeners_init(&w->listeners, &w->loop, cfg, &listener_hooks, err, err_len);
	if (rc)
		return rc;
	loop_timer_queue(&w->loop, &w->q_shutdown, 0);
	rc = transports_start(w, err, err_len);
	if (rc)
		return rc;
	int flags = fcntl(KW_FD_CONTROL, F_GETFL);
	if (flags < 0 || fcntl(KW_FD_CONTROL, F_SETFL, flags | O_NONBLOCK) < 0) {
		snprintf(err, err_len, "control channel (fd %d): %s", KW_FD_CONTROL,
		         strerror(errno));
		return KW_ERR_INTERNAL;
	}
	w->control = (struct loop_io){.fd = KW_FD_CONTROL, .on_event = control_on_event};
	if (loop_io_add(&w->loop, &w->control, EPOLLIN) != 0) {
		snprintf(err, err_len, "cannot watch the control channel");
		return KW_ERR_INTERNAL;
	}
	return 0;
}

int
worker_attach_metrics(struct worker *w, unsigned slot, char *err, size_t err_len)
{
	if (fcntl(KW_FD_METRICS, F_GETFD) < 0)
		return 0;
	int rc = kw_metrics_attach(KW_FD_METRICS, &w->metrics);
	close(KW_FD_METRICS);
	if (rc) {
		snprintf(err, err_len, "shared counters (fd %d): %s", KW_FD_METRICS,
		         rc == KW_ERR_ARGUMENT ? "not a region of this build" : strerror(-rc));
		return rc == KW_ERR_ARGUMENT ? KW_ERR_INTERNAL : rc;
	}
	struct kw_metrics_worker *m = kw_metrics_worker_slot(w->metrics, slot);
	if (m == NULL) {
		snprintf(err, err_len, "shared counters: no slot %u", slot);
		return KW_ERR_ARGUMENT;
	}
	conns_set_metrics(&w->conns, w->metrics, m);
	sign_proxy_set_metrics(w->signer, m);
	return 0;
}

int
worker_run(struct worker *w)
{
	listeners_start(&w->listeners);
	int rc = ctl_send(KW_FD_CONTROL, &(struct ctl_msg){.type = CTL_READY}, NULL, 0);
	if (rc) {
		kw_log_err("worker_run: sending READY: %s", strerror(-rc));
		return KW_ERR_INTERNAL;
	}
	rc = loop_run(&w->loop);
	if (rc)
		conns_close_all(&w->conns, "event loop failed");
	loop_run_tasks(&w->loop);
	return rc;
}

void
worker_dispose(struct worker *w)
{
	conns_dispose(&w->conns, "worker exiting");
	listeners_dispose(&w->listeners);
	sign_proxy_free(w->signer);
	w->signer = NULL;
	transports_stop(w);
	if (w->control.fd >= 0) {
		loop_io_del(&w->loop, &w->control);
		close(w->control.fd);
		w->control.fd = -1;
	}
	loop_dispose(&w->loop);
	kw_metrics_unmap(w->metrics);
	w->metrics = NULL;
}

/*
 * listener.c - accepting connections, within max_connections and the descriptors
 * the process has.
 */
#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "proc.h"

#define ACCEPT_BATCH 64u /* connections accepted per readable event */

static void
accept_start(struct listeners *ls)
{
	for (size_t i = 0; i < ls->n; i++)
		if (ls->l[i].io.fd >= 0)
			loop_io_add(ls->loop, &ls->l[i].io, EPOLLIN | EPOLLEXCLUSIVE);
	ls->accepting = true;
	ls->paused = false;
	kw_timer_disarm(&ls->retry);
}

/* EPOLLEXCLUSIVE cannot be changed with EPOLL_CTL_MOD: listeners leave the set. */
static void
accept_stop(struct listeners *ls)
{
	for (size_t i = 0; i < ls->n; i++)
		loop_io_del(ls->loop, &ls->l[i].io);
	ls->accepting = false;
}

static void
accept_pause(struct listeners *ls, bool retry)
{
	accept_stop(ls);
	ls->paused = true;
	if (retry)
		loop_timer_arm(ls->loop, &ls->retry, &ls->q_retry);
}

static void
retry_fire(struct kw_timer *t)
{
	struct listeners *ls = container_of(t, struct listeners, retry);
	if (ls->paused && !ls->closed)
		accept_start(ls);
}

static bool
at_capacity(struct listeners *ls)
{
	return ls->max_connections != 0 && ls->hooks->open(ls) >= ls->max_connections;
}

void
listeners_room(struct listeners *ls, bool idle)
{
	if (ls->paused && !ls->closed && (idle || !at_capacity(ls)))
		accept_start(ls);
}

/*
 * Counts one occurrence of a trouble; true when it is to be logged now (the first
 * time, or LISTENER_LOG_INTERVAL_MS after the last line), with *since the count of
 * those not logged in between.
 */
static bool
trouble(struct listeners *ls, struct listener_trouble *t, unsigned long *since)
{
	const unsigned long long now = ls->loop->now;

	t->count++;
	if (t->logged_ms != 0 && now - t->logged_ms < LISTENER_LOG_INTERVAL_MS)
		return false;
	*since = t->count - 1;
	t->count = 0;
	t->logged_ms = now ? now : 1;
	return true;
}

void
listeners_short_of_descriptors(struct listeners *ls, int err)
{
	unsigned long since;

	if (trouble(ls, &ls->no_fds, &since))
		kw_log_warn("worker: out of descriptors (%s): not accepting for %u ms (%lu more "
		            "times in the last %u s)",
		            strerror(err), LISTENER_PAUSE_MS, since,
		            LISTENER_LOG_INTERVAL_MS / 1000);
	if (!ls->closed && (ls->accepting || ls->paused))
		accept_pause(ls, true);
}

/* Returns true to go on accepting in this batch. */
static bool
accept_failed(struct listeners *ls, int err)
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
		listeners_short_of_descriptors(ls, err);
		return false;
	default:
		kw_log_err("accept: %s", strerror(err));
		return false;
	}
}

/* Full: true to accept one more (a connection will be evicted for it). */
static bool
room_by_eviction(struct listeners *ls)
{
	unsigned long since;

	if (!ls->hooks->can_evict(ls)) {
		kw_log_warn(
		    "worker: full: %u connections, none idle or without a request to evict: "
		    "not accepting until one closes",
		    ls->max_connections);
		accept_pause(ls, false);
		return false;
	}
	if (trouble(ls, &ls->evicted, &since))
		kw_log_warn("worker: full: %u connections; evicting the one idle longest, else the "
		            "oldest without a request (%lu more evictions in the last %u s)",
		            ls->max_connections, since, LISTENER_LOG_INTERVAL_MS / 1000);
	return true;
}

static void
listener_on_event(struct loop_io *io, uint32_t events)
{
	struct listener *l = container_of(io, struct listener, io);
	struct listeners *ls = l->set;

	for (unsigned i = 0; i < ACCEPT_BATCH && ls->accepting; i++) {
		const bool full = at_capacity(ls);
		if (full && !room_by_eviction(ls))
			return;
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int fd =
		    accept4(io->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (!accept_failed(ls, errno))
				return;
			continue;
		}
		if (full)
			ls->hooks->evict(ls);
		ls->hooks->accepted(ls, l, fd, (struct sockaddr *)&peer, len);
	}
}

/*
 * Lowers max_connections to what the descriptor limit leaves room for: a socket and
 * an open file per connection, besides the listeners and KW_NOFILE_RESERVE.
 */
static void
fit_descriptor_limit(struct listeners *ls)
{
	struct rlimit lim;
	unsigned long long room;

	if (getrlimit(RLIMIT_NOFILE, &lim) < 0 || lim.rlim_cur == RLIM_INFINITY)
		return;
	room = lim.rlim_cur > ls->n + KW_NOFILE_RESERVE
	           ? (lim.rlim_cur - ls->n - KW_NOFILE_RESERVE) / 2
	           : 1;
	if (room == 0)
		room = 1;
	if (ls->max_connections != 0 && ls->max_connections <= room)
		return;
	kw_log_notice("worker: RLIMIT_NOFILE %llu leaves room for %llu connections (a socket "
	              "and a file each): accepting at most that many%s",
	              (unsigned long long)lim.rlim_cur, room,
	              ls->max_connections ? ", below http.max_connections" : "");
	ls->max_connections = (unsigned)(room > UINT32_MAX ? UINT32_MAX : room);
}

void
listeners_start(struct listeners *ls)
{
	accept_start(ls);
}

static void
close_listeners(struct listeners *ls)
{
	accept_stop(ls);
	for (size_t i = 0; i < ls->n; i++) {
		if (ls->l[i].io.fd >= 0)
			close(ls->l[i].io.fd);
		ls->l[i].io.fd = -1;
	}
}

void
listeners_drain_and_close(struct listeners *ls)
{
	for (size_t i = 0; i < ls->n && ls->accepting; i++)
		if (ls->l[i].io.fd >= 0)
			listener_on_event(&ls->l[i].io, EPOLLIN);
	close_listeners(ls);
	ls->closed = true;
}

int
listeners_init(struct listeners *ls, struct loop *loop, const struct kw_config *cfg,
               const struct listener_hooks *hooks, char *err, size_t err_len)
{
	memset(ls, 0, sizeof(*ls));
	ls->loop = loop;
	ls->hooks = hooks;
	ls->max_connections = cfg->http.max_connections;
	kw_timer_init(&ls->retry, retry_fire);
	loop_timer_queue(loop, &ls->q_retry, LISTENER_PAUSE_MS);
	ls->l = calloc(cfg->n_listeners, sizeof(*ls->l));
	if (ls->l == NULL && cfg->n_listeners > 0) {
		snprintf(err, err_len, "out of memory");
		return KW_ERR_NOMEM;
	}
	ls->n = cfg->n_listeners;
	for (size_t i = 0; i < ls->n; i++)
		ls->l[i].io.fd = -1;
	for (size_t i = 0; i < ls->n; i++) {
		struct listener *l = &ls->l[i];
		const struct kw_listener *lc = &cfg->listeners[i];
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
		l->io = (struct loop_io){.fd = fd, .on_event = listener_on_event};
		l->set = ls;
		l->cfg = lc;
		l->index = i;
		l->server = &cfg->servers[lc->default_server];
	}
	fit_descriptor_limit(ls);
	return 0;
}

void
listeners_dispose(struct listeners *ls)
{
	if (ls->l != NULL)
		close_listeners(ls);
	free(ls->l);
	ls->l = NULL;
	ls->n = 0;
}

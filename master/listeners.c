/*
 * listeners.c - the listening sockets: bound once by the master, inherited by
 * workers, and kept open across a reload when their address does not change.
 */
#include "master.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

/*
 * Connections waiting for a worker's accept (the kernel caps it at net.core.somaxconn):
 * under a reconnect flood a full queue drops new SYNs, which clients resend after 1 s.
 */
#define LISTEN_BACKLOG 4096

static void
format_address(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	}
}

/* Returns the fd of prev listening on l's configured address, or -1. */
static int
find_reusable(const struct kw_listener *l, const struct kw_config *prev_cfg,
              const struct listener_set *prev)
{
	if (!prev_cfg || !prev)
		return -1;
	for (size_t i = 0; i < prev->n && i < prev_cfg->n_listeners; i++) {
		if (prev->fds[i] >= 0 && kw_listener_same_address(l, &prev_cfg->listeners[i]))
			return prev->fds[i];
	}
	return -1;
}

static int
bind_listener(const struct kw_listener *l, char *why, size_t why_len)
{
	int fd, one = 1;

	fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	if (l->addr.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&l->addr, l->addr_len) < 0)
		goto fail;
	if (listen(fd, LISTEN_BACKLOG) < 0)
		goto fail;
	return fd;

fail:
	snprintf(why, why_len, "%s", strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

static void
log_bound(int fd, const struct kw_listener *l)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[INET6_ADDRSTRLEN + 16];

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		ss = l->addr;
	format_address(&ss, addr, sizeof(addr));
	kw_log_notice("listening on %s%s", addr,
	              l->tls == KW_TLS_TOY     ? " (toy-tls)"
	              : l->tls == KW_TLS_TLS13 ? " (tls13)"
	                                       : "");
}

int
listeners_open(const struct kw_config *cfg, const struct kw_config *prev_cfg,
               const struct listener_set *prev, struct listener_set *out, char *err, size_t err_len)
{
	struct listener_set set = {NULL, 0};
	char why[256], addr[INET6_ADDRSTRLEN + 16];
	int rc = KW_OK;

	set.fds = calloc(cfg->n_listeners ? cfg->n_listeners : 1, sizeof(*set.fds));
	if (!set.fds) {
		snprintf(err, err_len, "out of memory");
		return KW_ERR_NOMEM;
	}
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		const struct kw_listener *l = &cfg->listeners[i];
		int reuse = find_reusable(l, prev_cfg, prev), fd;

		if (reuse >= 0) {
			fd = fcntl(reuse, F_DUPFD_CLOEXEC, 3);
			snprintf(why, sizeof(why), "%s", strerror(errno));
		} else {
			fd = bind_listener(l, why, sizeof(why));
		}
		if (fd < 0) {
			format_address(&l->addr, addr, sizeof(addr));
			snprintf(err, err_len, "%s:%d: cannot listen on %s: %s", cfg->path, l->line,
			         addr, why);
			rc = KW_ERR_INTERNAL;
			goto out;
		}
		set.fds[set.n++] = fd;
		if (reuse < 0)
			log_bound(fd, l);
	}
	*out = set;
	set.fds = NULL;
	set.n = 0;

out:
	listeners_close(&set);
	return rc;
}

void
listeners_close(struct listener_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		if (set->fds[i] >= 0)
			close(set->fds[i]);
	}
	free(set->fds);
	set->fds = NULL;
	set->n = 0;
}

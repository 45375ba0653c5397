/*
 * control.c - control message framing: exactly 8 bytes (type:u32 || arg:u32,
 * big-endian) per SOCK_SEQPACKET datagram, with up to CTL_MAX_FDS descriptors in
 * one SCM_RIGHTS block.
 */
#include "control.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#define CTL_WIRE_LEN 8u

union ctl_cmsg_buf {
	char buf[CMSG_SPACE(sizeof(int) * CTL_MAX_FDS)];
	struct cmsghdr align;
};

int
ctl_send(int sock, const struct ctl_msg *msg, const int *fds, size_t n_fds)
{
	uint32_t wire[2] = {htonl(msg->type), htonl(msg->arg)};
	struct iovec iov = {.iov_base = wire, .iov_len = CTL_WIRE_LEN};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	union ctl_cmsg_buf control;
	struct cmsghdr *cm;

	if (n_fds > CTL_MAX_FDS || (n_fds && !fds))
		return -EINVAL;
	if (n_fds) {
		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * n_fds);
	}
	for (;;) {
		ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);

		if (n == (ssize_t)CTL_WIRE_LEN)
			return 0;
		if (n >= 0)
			return -EPROTO;
		if (errno != EINTR)
			return -errno;
	}
}

/* Moves the descriptors of every SCM_RIGHTS block into fds; those beyond room are closed. */
static size_t
collect_fds(struct msghdr *mh, int *fds, size_t room)
{
	size_t count = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		size_t n;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (count < room)
				fds[count++] = fd;
			else
				close(fd);
		}
	}
	return count;
}

static void
close_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
}

int
ctl_recv(int sock, struct ctl_msg *msg, int *fds, size_t *n_fds)
{
	uint32_t wire[2];
	struct iovec iov = {.iov_base = wire, .iov_len = CTL_WIRE_LEN};
	union ctl_cmsg_buf control;
	struct msghdr mh = {
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	    .msg_control = control.buf,
	    .msg_controllen = sizeof(control.buf),
	};
	size_t count;
	ssize_t n;

	*n_fds = 0;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;

	count = collect_fds(&mh, fds, CTL_MAX_FDS);
	if (n == 0 && count == 0 && !(mh.msg_flags & MSG_CTRUNC))
		return 0;
	if (n != (ssize_t)CTL_WIRE_LEN || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		close_fds(fds, count);
		return -EPROTO;
	}
	msg->type = ntohl(wire[0]);
	msg->arg = ntohl(wire[1]);
	*n_fds = count;
	return 1;
}

static const struct ctl_handler *
find_handler(const struct ctl_handler *handlers, size_t n, uint32_t type)
{
	for (size_t i = 0; i < n; i++)
		if (handlers[i].type == type)
			return &handlers[i];
	return NULL;
}

enum ctl_dispatch_result
ctl_dispatch(int sock, const struct ctl_handler *handlers, size_t n_handlers, void *ctx,
             const char *peer, unsigned max_msgs)
{
	for (unsigned done = 0; max_msgs == 0 || done < max_msgs; done++) {
		struct ctl_msg msg;
		int fds[CTL_MAX_FDS];
		size_t n_fds = 0;
		int rc = ctl_recv(sock, &msg, fds, &n_fds);
		const struct ctl_handler *h;
		enum ctl_verdict verdict = CTL_CONTINUE;

		if (rc == -EAGAIN)
			return CTL_DISPATCH_IDLE;
		if (rc == 0 || rc == -ECONNRESET)
			return CTL_DISPATCH_EOF;
		if (rc == -EPROTO) {
			kw_log_err("control channel of %s: malformed message dropped", peer);
			continue;
		}
		if (rc < 0) {
			kw_log_err("control channel of %s: %s", peer, strerror(-rc));
			return CTL_DISPATCH_BROKEN;
		}
		h = find_handler(handlers, n_handlers, msg.type);
		if (h == NULL) {
			kw_log_err(
			    "control channel of %s: unknown message type %u: closing the channel",
			    peer, (unsigned)msg.type);
			close_fds(fds, n_fds);
			return CTL_DISPATCH_BROKEN;
		}
		if (n_fds >= h->min_fds && n_fds <= h->max_fds)
			verdict = h->handle(ctx, &msg, fds, n_fds);
		else
			kw_log_err(
			    "control channel of %s: message type %u with %zu descriptors dropped",
			    peer, (unsigned)msg.type, n_fds);
		for (size_t i = 0; i < n_fds; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		if (verdict == CTL_STOP)
			return CTL_DISPATCH_STOP;
	}
	return CTL_DISPATCH_IDLE;
}

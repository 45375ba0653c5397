#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control.h"

static int pair[2];

static void
setup(void)
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
}

static void
teardown(void)
{
	close(pair[0]);
	close(pair[1]);
}

TestSuite(control, .init = setup, .fini = teardown);

static bool
fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* Sends a raw datagram of len bytes with n_fds copies of fd, bypassing ctl_send. */
static void
send_raw(const void *data, size_t len, int fd, size_t n_fds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} control;
	struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	int fds[8];

	cr_assert_leq(n_fds, 8);
	if (n_fds) {
		for (size_t i = 0; i < n_fds; i++)
			fds[i] = fd;
		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * n_fds);
	}
	cr_assert_eq(sendmsg(pair[0], &mh, 0), (ssize_t)len);
}

/* Checks that a received fd is the write end of pipe p: a byte written through it arrives. */
static void
assert_pipe_writer(int fd, int read_end, char byte)
{
	char got = 0;

	cr_assert_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	cr_assert_eq(write(fd, &byte, 1), 1);
	cr_assert_eq(read(read_end, &got, 1), 1);
	cr_assert_eq(got, byte);
}

Test(control, round_trip_without_fds)
{
	struct ctl_msg out = {CTL_SHUTDOWN, 5000}, in = {0, 0};
	int fds[CTL_MAX_FDS];
	size_t n_fds = 99;

	cr_assert_eq(ctl_send(pair[0], &out, NULL, 0), 0);
	cr_assert_eq(ctl_recv(pair[1], &in, fds, &n_fds), 1);
	cr_assert_eq(in.type, CTL_SHUTDOWN);
	cr_assert_eq(in.arg, 5000);
	cr_assert_eq(n_fds, 0);
}

Test(control, round_trip_with_one_fd)
{
	struct ctl_msg out = {CTL_CHANNEL, 7}, in = {0, 0};
	int p[2], fds[CTL_MAX_FDS];
	size_t n_fds = 0;

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(ctl_send(pair[0], &out, &p[1], 1), 0);
	close(p[1]);
	cr_assert_eq(ctl_recv(pair[1], &in, fds, &n_fds), 1);
	cr_assert_eq(in.type, CTL_CHANNEL);
	cr_assert_eq(in.arg, 7);
	cr_assert_eq(n_fds, 1);
	assert_pipe_writer(fds[0], p[0], 'x');
	close(fds[0]);
	close(p[0]);
}

Test(control, round_trip_with_four_fds)
{
	struct ctl_msg out = {CTL_REOPEN_LOGS, 0xfffffffeu}, in = {0, 0};
	int p[CTL_MAX_FDS][2], send_fds[CTL_MAX_FDS], fds[CTL_MAX_FDS];
	size_t n_fds = 0;

	for (size_t i = 0; i < CTL_MAX_FDS; i++) {
		cr_assert_eq(pipe(p[i]), 0);
		send_fds[i] = p[i][1];
	}
	cr_assert_eq(ctl_send(pair[0], &out, send_fds, CTL_MAX_FDS), 0);
	cr_assert_eq(ctl_recv(pair[1], &in, fds, &n_fds), 1);
	cr_assert_eq(in.type, CTL_REOPEN_LOGS);
	cr_assert_eq(in.arg, 0xfffffffeu);
	cr_assert_eq(n_fds, CTL_MAX_FDS);
	for (size_t i = 0; i < CTL_MAX_FDS; i++) {
		close(p[i][1]);
		assert_pipe_writer(fds[i], p[i][0], (char)('a' + i));
		close(fds[i]);
		close(p[i][0]);
	}
}

Test(control, wire_format_is_big_endian)
{
	struct ctl_msg out = {CTL_READY, 0x01020304u};
	unsigned char wire[16];

	cr_assert_eq(ctl_send(pair[0], &out, NULL, 0), 0);
	cr_assert_eq(recv(pair[1], wire, sizeof(wire), 0), 8);
	cr_assert_arr_eq(wire, ((unsigned char[]){0, 0, 0, 1, 1, 2, 3, 4}), 8);
}

Test(control, send_refuses_too_many_fds)
{
	struct ctl_msg out = {CTL_READY, 0};
	int fds[CTL_MAX_FDS + 1] = {0};

	cr_assert_eq(ctl_send(pair[0], &out, fds, CTL_MAX_FDS + 1), -EINVAL);
	cr_assert_eq(ctl_send(pair[0], &out, NULL, 1), -EINVAL);
}

Test(control, send_to_closed_peer_fails_without_sigpipe)
{
	struct ctl_msg out = {CTL_READY, 0};

	close(pair[1]);
	pair[1] = -1;
	cr_assert_eq(ctl_send(pair[0], &out, NULL, 0), -EPIPE);
}

Test(control, send_on_bad_descriptor)
{
	struct ctl_msg out = {CTL_READY, 0};

	cr_assert_eq(ctl_send(-1, &out, NULL, 0), -EBADF);
}

Test(control, eof_returns_zero)
{
	struct ctl_msg in;
	int fds[CTL_MAX_FDS];
	size_t n_fds = 3;

	close(pair[0]);
	pair[0] = -1;
	cr_assert_eq(ctl_recv(pair[1], &in, fds, &n_fds), 0);
	cr_assert_eq(n_fds, 0);
}

Test(control, empty_nonblocking_socket_is_eagain)
{
	struct ctl_msg in;
	int fds[CTL_MAX_FDS];
	size_t n_fds = 3;

	cr_assert_eq(fcntl(pair[1], F_SETFL, O_NONBLOCK), 0);
	cr_assert_eq(ctl_recv(pair[1], &in, fds, &n_fds), -EAGAIN);
	cr_assert_eq(n_fds, 0);
}

Test(control, recv_on_bad_descriptor)
{
	struct ctl_msg in;
	int fds[CTL_MAX_FDS];
	size_t n_fds;

	cr_assert_eq(ctl_recv(-1, &in, fds, &n_fds), -EBADF);
}

/* Sends len bytes with one fd; ctl_recv must refuse it and leave no descriptor behind. */
static void
assert_malformed(size_t len, size_t n_fds)
{
	unsigned char data[16] = {0, 0, 0, 1};
	struct ctl_msg in;
	int p[2], fds[CTL_MAX_FDS], probe;
	size_t got = 9;

	cr_assert_eq(pipe(p), 0);
	send_raw(data, len, p[1], n_fds);
	close(p[1]);
	cr_assert_eq(ctl_recv(pair[1], &in, fds, &got), -EPROTO);
	cr_assert_eq(got, 0);
	/* Every copy of the write end is closed, so the pipe reads as EOF. */
	cr_assert_eq(read(p[0], &probe, 1), 0);
	close(p[0]);
	/* The channel still works after a refused message. */
	struct ctl_msg ok = {CTL_READY, 1};
	cr_assert_eq(ctl_send(pair[0], &ok, NULL, 0), 0);
	cr_assert_eq(ctl_recv(pair[1], &in, fds, &got), 1);
	cr_assert_eq(in.type, CTL_READY);
}

Test(control, short_message_is_eproto_and_fds_closed)
{
	assert_malformed(7, 1);
}

Test(control, long_message_is_eproto_and_fds_closed)
{
	assert_malformed(9, 1);
}

Test(control, empty_message_with_fds_is_eproto)
{
	assert_malformed(0, 2);
}

Test(control, one_byte_message_without_fds_is_eproto)
{
	assert_malformed(1, 0);
}

Test(control, too_many_fds_is_eproto_and_fds_closed)
{
	assert_malformed(8, CTL_MAX_FDS + 1);
}

Test(control, fds_are_not_leaked_into_the_table)
{
	struct ctl_msg out = {CTL_CHANNEL, 0}, in;
	int p[2], fds[CTL_MAX_FDS], probe;
	size_t n_fds;

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(ctl_send(pair[0], &out, &p[1], 1), 0);
	close(p[1]);
	cr_assert_eq(ctl_recv(pair[1], &in, fds, &n_fds), 1);
	cr_assert(fd_is_open(fds[0]));
	close(fds[0]);
	cr_assert_eq(read(p[0], &probe, 1), 0);
	close(p[0]);
}

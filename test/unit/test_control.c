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

/* What the dispatcher's test handlers saw. */
struct seen {
	unsigned calls;
	uint32_t last_arg;
	size_t last_n_fds;
	int kept; /* the descriptor the keeping handler took, -1 when none */
};

static enum ctl_verdict
handle_plain(void *ctx, const struct ctl_msg *msg, int *fds, size_t n_fds)
{
	struct seen *s = ctx;

	s->calls++;
	s->last_arg = msg->arg;
	s->last_n_fds = n_fds;
	return CTL_CONTINUE;
}

/* Keeps its first descriptor, leaves the others to the dispatcher. */
static enum ctl_verdict
handle_keep_first(void *ctx, const struct ctl_msg *msg, int *fds, size_t n_fds)
{
	struct seen *s = ctx;

	handle_plain(ctx, msg, fds, n_fds);
	s->kept = fds[0];
	fds[0] = -1;
	return CTL_CONTINUE;
}

static enum ctl_verdict
handle_stop(void *ctx, const struct ctl_msg *msg, int *fds, size_t n_fds)
{
	handle_plain(ctx, msg, fds, n_fds);
	return CTL_STOP;
}

static const struct ctl_handler test_handlers[] = {
    {CTL_READY, 0, 0, handle_plain},
    {CTL_CHANNEL, 1, 2, handle_keep_first},
    {CTL_SHUTDOWN, 0, 0, handle_stop},
};
#define N_TEST_HANDLERS (sizeof(test_handlers) / sizeof(test_handlers[0]))

static enum ctl_dispatch_result
dispatch(struct seen *s, unsigned max_msgs)
{
	return ctl_dispatch(pair[1], test_handlers, N_TEST_HANDLERS, s, "the test", max_msgs);
}

static void
send_msg(uint32_t type, uint32_t arg, const int *fds, size_t n_fds)
{
	struct ctl_msg msg = {type, arg};

	cr_assert_eq(ctl_send(pair[0], &msg, fds, n_fds), 0);
}

/* What the handlers saw in the current test. */
static struct seen seen;

/* The receiving end is non-blocking, as in every process. */
static void
dispatch_setup(void)
{
	setup();
	seen = (struct seen){.kept = -1};
	cr_assert_eq(fcntl(pair[1], F_SETFL, O_NONBLOCK), 0);
}

/* Pipes are non-blocking: a descriptor left open shows as EAGAIN, not as a hang. */
TestSuite(ctl_dispatch, .init = dispatch_setup, .fini = teardown);

Test(ctl_dispatch, handles_every_waiting_message_then_is_idle)
{
	send_msg(CTL_READY, 1, NULL, 0);
	send_msg(CTL_READY, 2, NULL, 0);
	cr_assert_eq(dispatch(&seen, 0), CTL_DISPATCH_IDLE);
	cr_assert_eq(seen.calls, 2);
	cr_assert_eq(seen.last_arg, 2);
}

Test(ctl_dispatch, max_msgs_bounds_one_call)
{
	for (uint32_t i = 1; i <= 3; i++)
		send_msg(CTL_READY, i, NULL, 0);
	cr_assert_eq(dispatch(&seen, 2), CTL_DISPATCH_IDLE);
	cr_assert_eq(seen.calls, 2);
	cr_assert_eq(dispatch(&seen, 2), CTL_DISPATCH_IDLE);
	cr_assert_eq(seen.calls, 3);
	cr_assert_eq(seen.last_arg, 3);
}

Test(ctl_dispatch, the_kept_descriptor_stays_open_the_rest_are_closed)
{
	int keep[2], drop[2], fds[2], probe;

	cr_assert_eq(pipe2(keep, O_NONBLOCK), 0);
	cr_assert_eq(pipe2(drop, O_NONBLOCK), 0);
	fds[0] = keep[1];
	fds[1] = drop[1];
	send_msg(CTL_CHANNEL, 7, fds, 2);
	close(keep[1]);
	close(drop[1]);
	cr_assert_eq(dispatch(&seen, 0), CTL_DISPATCH_IDLE);
	cr_assert_eq(seen.calls, 1);
	cr_assert_eq(seen.last_n_fds, 2);
	/* the handler's descriptor is still the pipe's writer; the other one is gone */
	cr_assert(fd_is_open(seen.kept));
	assert_pipe_writer(seen.kept, keep[0], 'k');
	cr_assert_eq(read(drop[0], &probe, 1), 0);
	close(seen.kept);
	cr_assert_eq(read(keep[0], &probe, 1), 0);
	close(keep[0]);
	close(drop[0]);
}

Test(ctl_dispatch, descriptors_of_a_handler_that_keeps_none_are_closed)
{
	int p[2], probe;

	cr_assert_eq(pipe2(p, O_NONBLOCK), 0);
	/* READY takes no descriptor: one past its range (1) is dropped, never handled */
	send_msg(CTL_READY, 1, &p[1], 1);
	close(p[1]);
	cr_assert_eq(dispatch(&seen, 0), CTL_DISPATCH_IDLE);
	cr_assert_eq(seen.calls, 0);
	cr_assert_eq(read(p[0], &probe, 1), 0);
	close(p[0]);
}

Test(ctl_dispatch, descriptor_counts_outside_the_range_are_dropped_and_reading_goes_on)
{
	int p[2], fds[3], probe;

	cr_assert_eq(pipe2(p, O_NONBLOCK), 0);
	fds[0] = fds[1] = fds[2] = p[1];
	/* CHANNEL takes 1 or 2: 0 and 3 are dropped, the READY after them is handled */
	send_msg(CTL_CHANNEL, 1, NULL, 0);
	send_msg(CTL_CHANNEL, 2, fds, 3);
	send_msg(CTL_READY, 3, NULL, 0);
	close(p[1]);
	cr_assert_eq(dispatch(&seen, 0), CTL_DISPATCH_IDLE);
	cr_assert_eq(seen.calls, 1);
	cr_assert_eq(seen.last_arg, 3);
	cr_assert_eq(seen.kept, -1);
	cr_assert_eq(read(p[0], &probe, 1), 0);
	close(p[0]);
}

Test(ctl_dispatch, unknown_type_is_broken_and_its_descriptors_closed)
{
	int p[2], probe;

	cr_assert_eq(pipe2(p, O_NONBLOCK), 0);
	send_msg(CTL_WORKER_BROKE, 1, &p[1], 1);
	send_msg(CTL_READY, 2, NULL, 0);
	close(p[1]);
	cr_assert_eq(dispatch(&seen, 0), CTL_DISPATCH_BROKEN);
	/* nothing after the unknown message is handled */
	cr_assert_eq(seen.calls, 0);
	cr_assert_eq(read(p[0], &probe, 1), 0);
	close(p[0]);
}

Test(ctl_dispatch, truncated_and_overlong_messages_are_dropped_and_reading_goes_on)
{
	unsigned char data[16] = {0, 0, 0, 1};
	int p[2], probe;

	cr_assert_eq(pipe2(p, O_NONBLOCK), 0);
	send_raw(data, 7, p[1], 1); /* one byte short, with a descriptor */
	send_raw(data, 9, -1, 0);   /* one byte long */
	send_raw(data, 0, p[1], 1); /* descriptors only */
	send_msg(CTL_READY, 4, NULL, 0);
	close(p[1]);
	cr_assert_eq(dispatch(&seen, 0), CTL_DISPATCH_IDLE);
	cr_assert_eq(seen.calls, 1);
	cr_assert_eq(seen.last_arg, 4);
	cr_assert_eq(read(p[0], &probe, 1), 0);
	close(p[0]);
}

Test(ctl_dispatch, stop_leaves_later_messages_queued)
{
	send_msg(CTL_SHUTDOWN, 1, NULL, 0);
	send_msg(CTL_READY, 2, NULL, 0);
	cr_assert_eq(dispatch(&seen, 0), CTL_DISPATCH_STOP);
	cr_assert_eq(seen.calls, 1);
	cr_assert_eq(dispatch(&seen, 0), CTL_DISPATCH_IDLE);
	cr_assert_eq(seen.calls, 2);
	cr_assert_eq(seen.last_arg, 2);
}

Test(ctl_dispatch, eof_after_the_waiting_messages)
{
	send_msg(CTL_READY, 1, NULL, 0);
	close(pair[0]);
	pair[0] = -1;
	cr_assert_eq(dispatch(&seen, 0), CTL_DISPATCH_EOF);
	cr_assert_eq(seen.calls, 1);
}

Test(ctl_dispatch, a_receive_error_is_broken)
{
	cr_assert_eq(ctl_dispatch(-1, test_handlers, N_TEST_HANDLERS, &seen, "the test", 0),
	             CTL_DISPATCH_BROKEN);
	cr_assert_eq(seen.calls, 0);
}

/*
 * bench_ipc.c - the cross-process wake-up round trip a signer in another process costs
 * per handshake, without the signature: two processes (fork), a SOCK_SEQPACKET socket
 * pair as the signer channel, requests and replies of the real sizes and encodings, one
 * at a time, each side asleep in epoll_wait(2) until the other writes.
 *
 * The requesting side does per round trip what a worker's loop does: one sendmmsg(2) of
 * the request, epoll_wait, one recvmmsg(2) of the reply. The answering side either does
 * the least (IPC_DIRECT) or what a signing thread does (IPC_SIGNER, signer/service.c).
 * Each side reads its own process CPU clock and getrusage(2) after the warm-up's last
 * round trip and after the last one; the answering side sends its figures back once the
 * requesting side has shut its end for writing.
 */
#include "bench_ipc.h"

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "signer_proto.h"
#include "tls13_cv.h"

#define IPC_WARMUP 200u /* unmeasured round trips first */
#define IPC_BATCH  16u  /* datagrams per recvmmsg(2), as the worker's and the signer's */
#define IPC_TURNS  4u   /* reads before the re-arm, as a signing thread's SIGNER_TURNS */

const char *
ipc_variant_name(enum ipc_variant v)
{
	return v == IPC_SIGNER ? "signer" : "direct";
}

/* One process's use of the machine so far. */
struct usage {
	double cpu_us, wall_us, vcsw, ivcsw;
};

static double
clock_us(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void
usage_now(struct usage *u)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	*u = (struct usage){.cpu_us = clock_us(CLOCK_PROCESS_CPUTIME_ID),
	                    .wall_us = clock_us(CLOCK_MONOTONIC),
	                    .vcsw = (double)ru.ru_nvcsw,
	                    .ivcsw = (double)ru.ru_nivcsw};
}

/* end - start, into *d. */
static void
usage_since(const struct usage *start, struct usage *d)
{
	struct usage end;
	usage_now(&end);
	*d = (struct usage){.cpu_us = end.cpu_us - start->cpu_us,
	                    .wall_us = end.wall_us - start->wall_us,
	                    .vcsw = end.vcsw - start->vcsw,
	                    .ivcsw = end.ivcsw - start->ivcsw};
}

/* Sleeps in epoll_wait until ep reports an event. Returns 0 or -1. */
static int
wait_event(int ep)
{
	struct epoll_event ev;
	int n;
	do
		n = epoll_wait(ep, &ev, 1, -1);
	while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -1;
}

/* Datagrams of up to SP_SIGN_REPLY_MAX_LEN bytes (every request and reply fits). */
struct dgrams {
	uint8_t buf[IPC_BATCH][SP_SIGN_REPLY_MAX_LEN + 1]; /* one byte more: too long shows */
	struct iovec iov[IPC_BATCH];
	struct mmsghdr hdr[IPC_BATCH];
};

/*
 * Reads what waits on fd, up to IPC_BATCH datagrams: how many, 0 when none, -1 on EOF
 * (an empty datagram: SOCK_SEQPACKET's end of stream) or an error.
 */
static int
recv_dgrams(int fd, struct dgrams *d)
{
	int n;
	for (unsigned i = 0; i < IPC_BATCH; i++) {
		d->iov[i] = (struct iovec){.iov_base = d->buf[i], .iov_len = sizeof(d->buf[i])};
		d->hdr[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &d->iov[i], .msg_iovlen = 1}};
	}
	do
		n = recvmmsg(fd, d->hdr, IPC_BATCH, MSG_DONTWAIT, NULL);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	for (int i = 0; i < n; i++)
		if (d->hdr[i].msg_len == 0)
			return -1;
	return n > 0 ? n : -1;
}

/* Sends the first n datagrams of d, each of the length in its iovec. Returns 0 or -1. */
static int
send_dgrams(int fd, struct dgrams *d, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		d->hdr[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &d->iov[i], .msg_iovlen = 1}};
	for (unsigned done = 0; done < n;) {
		int sent = sendmmsg(fd, d->hdr + done, n - done, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (sent < 0 && errno == EINTR)
			continue;
		if (sent <= 0)
			return -1;
		done += (unsigned)sent;
	}
	return 0;
}

/*
 * The answering process: decodes each request and answers it with a reply of sig_len
 * signature bytes, total times, then, at the end of the stream, sends its usage since the
 * warm-up's last answer (a struct usage).
 */
static int
answer(int fd, enum ipc_variant v, size_t sig_len, long total)
{
	static struct dgrams in, out;
	struct epoll_event ev = {.events = EPOLLIN | (v == IPC_SIGNER ? EPOLLONESHOT : 0)};
	struct usage start = {0}, used;
	struct sp_sign_reply rep = {.status = SP_STATUS_OK, .sig_len = (uint16_t)sig_len};
	int ep = epoll_create1(EPOLL_CLOEXEC);
	long answered = 0;

	memset(rep.sig, 0xa5, sig_len);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -1;
	while (answered < total) {
		if (wait_event(ep) < 0)
			return -1;
		for (unsigned turn = 0; turn < IPC_TURNS && answered < total; turn++) {
			int n = recv_dgrams(fd, &in);
			if (n < 0)
				return -1;
			if (n == 0)
				break;
			for (int i = 0; i < n; i++) {
				struct sp_sign_request req;
				if (sp_decode_sign_request(in.buf[i], in.hdr[i].msg_len, &req) !=
				        0 ||
				    req.kind != SP_KIND_TLS13_CV)
					return -1;
				rep.request_id = req.request_id;
				out.iov[i] = (struct iovec){
				    .iov_base = out.buf[i],
				    .iov_len = sp_encode_sign_reply(&rep, out.buf[i])};
			}
			if (send_dgrams(fd, &out, (unsigned)n) < 0)
				return -1;
			answered += n;
			if (answered - n < IPC_WARMUP && answered >= IPC_WARMUP)
				usage_now(&start);
			if (v == IPC_DIRECT)
				break;
		}
		if (v == IPC_SIGNER && answered < total &&
		    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0)
			return -1;
	}
	usage_since(&start, &used);
	/* the requesting side shuts its end for writing once it has every reply */
	if ((v == IPC_SIGNER && epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0) || wait_event(ep) < 0 ||
	    recv_dgrams(fd, &in) != -1)
		return -1;
	return send(fd, &used, sizeof(used), MSG_NOSIGNAL) == (ssize_t)sizeof(used) ? 0 : -1;
}

/* Runs the calling process on cpu alone (cpu < 0: on the CPUs of was). Returns 0 or -1. */
static int
pin(int cpu, const cpu_set_t *was)
{
	cpu_set_t set;
	if (cpu < 0)
		return sched_setaffinity(0, sizeof(*was), was);
	CPU_ZERO(&set);
	CPU_SET((size_t)cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) == 0)
		return 0;
	fprintf(stderr, "keyward-bench-floor: cannot run on CPU %d: %s\n", cpu, strerror(errno));
	return -1;
}

/* The TLS 1.3 CertificateVerify scheme a key of kind scheme signs with. */
static uint16_t
tls13_scheme_of(enum tt_scheme scheme)
{
	switch (scheme) {
	case TT_SCHEME_RSA_PSS_SHA256:
		return TLS13_RSA_PSS_RSAE_SHA256;
	case TT_SCHEME_ECDSA_P256_SHA256:
		return TLS13_ECDSA_SECP256R1_SHA256;
	case TT_SCHEME_ED25519:
		break;
	}
	return TLS13_ED25519;
}

/*
 * The requesting process: total round trips, one at a time; *used is its usage from the
 * warm-up's last reply to the last one, *answerer the answering process's (read last).
 */
static int
request(int fd, enum tt_scheme scheme, size_t sig_len, long total, struct usage *used,
        struct usage *answerer, size_t lens[2])
{
	static struct dgrams in, out;
	struct epoll_event ev = {.events = EPOLLIN};
	struct sp_sign_request req = {
	    .kind = SP_KIND_TLS13_CV,
	    .tls13 = {.scheme = tls13_scheme_of(scheme), .hash_len = TLS13_CV_MAX_HASH_LEN}};
	struct usage start = {0};
	int ep = epoll_create1(EPOLL_CLOEXEC), rc = -1;

	memset(req.tls13.hash, 0x5a, sizeof(req.tls13.hash));
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		goto out;
	for (long i = 1; i <= total; i++) {
		req.request_id = (uint32_t)i;
		out.iov[0] = (struct iovec){.iov_base = out.buf[0],
		                            .iov_len = sp_encode_sign_request(&req, out.buf[0])};
		lens[0] = out.iov[0].iov_len;
		if (send_dgrams(fd, &out, 1) < 0)
			goto out;
		int n = 0;
		while (n == 0)
			if (wait_event(ep) < 0 || (n = recv_dgrams(fd, &in)) < 0)
				goto out;
		struct sp_sign_reply rep;
		if (n != 1 || sp_decode_sign_reply(in.buf[0], in.hdr[0].msg_len, &rep) != 0 ||
		    rep.request_id != req.request_id || rep.sig_len != sig_len)
			goto out;
		lens[1] = in.hdr[0].msg_len;
		if (i == IPC_WARMUP)
			usage_now(&start);
	}
	usage_since(&start, used);
	if (shutdown(fd, SHUT_WR) == 0 && wait_event(ep) == 0 &&
	    recv(fd, in.buf[0], sizeof(in.buf[0]), 0) == sizeof(*answerer)) {
		memcpy(answerer, in.buf[0], sizeof(*answerer));
		rc = 0;
	}
out:
	if (ep >= 0)
		close(ep);
	return rc;
}

int
ipc_measure(enum ipc_variant v, enum tt_scheme scheme, size_t sig_len, long n, const int cpus[2],
            struct ipc_result *out)
{
	cpu_set_t was;
	long total = n + IPC_WARMUP;
	int pair[2], status = 0;
	struct usage w = {0}, s = {0};
	size_t lens[2] = {0, 0};

	if (sig_len > TT_MAX_SIGNATURE_LEN) {
		fprintf(stderr, "keyward-bench-floor: a %zu-byte signature is too long\n", sig_len);
		return -1;
	}
	/* both CPUs tried here, before anything runs: the answering process's first */
	if (sched_getaffinity(0, sizeof(was), &was) < 0 || pin(cpus[1], &was) < 0 ||
	    pin(cpus[0], &was) < 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) < 0) {
		perror("keyward-bench-floor: socketpair");
		return -1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		perror("keyward-bench-floor: fork");
		close(pair[0]);
		close(pair[1]);
		return -1;
	}
	if (pid == 0) {
		close(pair[0]);
		if (pin(cpus[1], &was) < 0)
			_exit(1);
		_exit(answer(pair[1], v, sig_len, total) == 0 ? 0 : 1);
	}
	close(pair[1]);
	int rc = request(pair[0], scheme, sig_len, total, &w, &s, lens);
	close(pair[0]); /* the answering process, if still there, reads EOF and ends */
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "keyward-bench-floor: the %s round trips failed\n",
		        ipc_variant_name(v));
		return -1;
	}
	*out = (struct ipc_result){
	    .request_len = lens[0],
	    .reply_len = lens[1],
	    .worker_cpu_us = w.cpu_us / (double)n,
	    .signer_cpu_us = s.cpu_us / (double)n,
	    .wall_us = w.wall_us / (double)n,
	    .worker_csw = (w.vcsw + w.ivcsw) / (double)n,
	    .signer_csw = (s.vcsw + s.ivcsw) / (double)n,
	    .involuntary_csw = (w.ivcsw + s.ivcsw) / (double)n,
	};
	return 0;
}

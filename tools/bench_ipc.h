/*
 * bench_ipc.h - keyward-bench-floor --ipc: the floor of one signing round trip between
 * two processes, the way a worker and the signer talk, without the signature.
 */
#ifndef KW_BENCH_IPC_H
#define KW_BENCH_IPC_H

#include <stddef.h>

#include "toytls_sign.h"

/** How the answering side (the signer's part) waits for and reads its channel. */
enum ipc_variant {
	/* level-triggered EPOLLIN; per request one epoll_wait, one read, one write:
	 * the least any process answering over the channel does */
	IPC_DIRECT,
	/* as a signing thread: EPOLLONESHOT; epoll_wait, recvmmsg, sendmmsg, a second
	 * recvmmsg finding nothing, the re-arm (epoll_ctl), epoll_wait */
	IPC_SIGNER,
	IPC_VARIANTS,
};

/** The variant's name in keyward-bench-floor's output. */
const char *ipc_variant_name(enum ipc_variant v);

/** What one measurement found, per round trip. */
struct ipc_result {
	size_t request_len, reply_len; /* bytes of each datagram */
	double worker_cpu_us;          /* the requesting process (user + system) */
	double signer_cpu_us;          /* the answering process */
	double wall_us;
	double worker_csw, signer_csw; /* context switches, voluntary + involuntary */
	double involuntary_csw;        /* of both: preemptions by other work */
};

/**
 * Forks an answering process connected by an AF_UNIX SOCK_SEQPACKET socket pair (both
 * ends non-blocking, as the signer channel), then makes n round trips one at a time
 * (after an unmeasured warm-up): a TLS 1.3 CertificateVerify signing request (SHA-384
 * transcript hash, a scheme of the key kind scheme, encoded by sp_encode_sign_request) and a
 * reply carrying sig_len signature bytes (sp_encode_sign_reply), each side decoding what
 * it reads and sleeping in epoll_wait(2) until the other writes. cpus[0] is the CPU the
 * requesting process (the caller) runs on from then on, cpus[1] the answering process's;
 * -1: wherever the scheduler puts it. Fills *out; returns 0, or -1 with a message on
 * stderr.
 */
int ipc_measure(enum ipc_variant v, enum tt_scheme scheme, size_t sig_len, long n,
                const int cpus[2], struct ipc_result *out);

#endif

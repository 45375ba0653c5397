/*
 * bench_loop.h - keyward-bench's load loop: one thread's share of the connections,
 * non-blocking sockets on one edge-triggered epoll instance, HTTP/1.1 requests
 * over plain TCP or toy-TLS, one request in flight per connection (no pipelining).
 *
 * Threads share a read-only struct bench_target and a struct bench_run of atomic
 * counters; each keeps its own struct bench_stats, merged by the caller after join.
 */
#ifndef KW_BENCH_LOOP_H
#define KW_BENCH_LOOP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "bench_hist.h"
#include "tls13_client.h"
#include "toytls_conn.h"

enum bench_err_kind {
	BENCH_ERR_CONNECT,   /* connect() failed or the socket could not be made */
	BENCH_ERR_HANDSHAKE, /* the toy-TLS handshake failed or the peer closed during it */
	BENCH_ERR_READ,      /* receive failure, bad record, bad head, early EOF, stray bytes */
	BENCH_ERR_WRITE,     /* send failure */
	BENCH_ERR_STATUS,    /* complete response with another status than expected */
	BENCH_ERR_LENGTH,  /* body length differs from the expected one, or the body is unframed */
	BENCH_ERR_TIMEOUT, /* connect, handshake or request took longer than the timeout */
	BENCH_ERR_KINDS,
};

/** Short name of an error kind ("connect", ...). */
const char *bench_err_name(enum bench_err_kind kind);

/** What to load and how: built once, then read-only while threads run. */
struct bench_target {
	struct sockaddr_storage addr;
	socklen_t addr_len;
	bool toytls;
	struct tt_client_params tls; /* its trust and dns_name are borrowed: they outlive the run */
	SSL_CTX *tls13;              /* https: TLS 1.3 with this context (borrowed), else NULL */
	bool resume;                 /* https: a new connection resumes the thread's last session */
	bool new_connection;         /* one connection (and handshake) per request */
	bool hold;                   /* connect, handshake, then stay idle: no request */
	/*
	 * Requests per second over all connections, paced; 0: a connection sends its next
	 * request as soon as a response is in. Paced, every connection is established
	 * first (idle, as in a hold); from run->start_us, connection i of a thread's n
	 * sends its j-th request at start_us + (j * n + i) * n_total / (rate * n) seconds,
	 * or as soon as its previous response is in when that time has passed, and its
	 * latency runs from that intended time, so that a stall is not hidden by the
	 * requests it kept from being sent (coordinated omission).
	 */
	double rate;
	size_t n_total;         /* connections of every thread */
	const uint8_t *request; /* the whole request, sent as is for every request (borrowed) */
	size_t request_len;
	int expect_status;
	uint64_t timeout_us; /* per connect, handshake and request */
};

/** State shared by all threads of one run. */
struct bench_run {
	const struct bench_target *target;
	atomic_uint_fast64_t end_us;   /* monotonic time to stop at; UINT64_MAX: none */
	atomic_uint_fast64_t start_us; /* paced: when the requests start; 0: not yet */
	uint64_t max_requests;         /* 0: unlimited; otherwise requests plus errors to make */
	atomic_uint_fast64_t claimed; /* requests started or errors counted, against max_requests */
	atomic_int_fast64_t expect_length; /* body length every response must have; -1: learn */
	atomic_bool stop;                  /* set to end the run early (signal, end of a hold) */
	atomic_size_t established; /* hold, paced: connections established now, all threads */
	atomic_size_t finished;    /* workers whose bench_worker_run() returned */
};

/** One thread's results. */
struct bench_stats {
	uint64_t responses;   /* complete responses, whatever their status */
	uint64_t body_bytes;  /* body bytes of complete responses */
	uint64_t connections; /* TCP connections established */
	uint64_t handshakes;  /* toy-TLS and TLS 1.3 handshakes completed */
	uint64_t resumed;     /* of which TLS 1.3 handshakes resumed from a ticket */
	uint64_t errors[BENCH_ERR_KINDS];
	char first_error[BENCH_ERR_KINDS][128]; /* what the first error of each kind was, or "" */
	/* per response: from sending the request (paced: from its intended time), or from
	 * connect */
	struct bench_hist latency;
};

/** One thread: fill run and n_conns, then call bench_worker_run() from the thread. */
struct bench_worker {
	struct bench_run *run;
	size_t n_conns;
	struct bench_stats stats; /* zero it before the run */
	int result;               /* 0, or KW_ERR_NOMEM / KW_ERR_INTERNAL when setup failed */
};

/**
 * Runs the worker's connections until the run ends: its end time, its request
 * budget spent (all connections finished), or stop set. In-flight requests at the
 * end are dropped, neither counted nor errors. Sets w->result, counts the worker
 * in run->finished and returns the result.
 */
int bench_worker_run(struct bench_worker *w);

/** Monotonic clock in microseconds. */
uint64_t bench_now_us(void);

#endif

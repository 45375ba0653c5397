/*
 * signer_client.h - sign_proxy: the worker's side of the signer channel (the signer's
 * side is sign_stub). Transports submit signing requests and keep serving; replies
 * are matched back by request id. Requests produced in one loop turn leave together,
 * at the end of the turn (a deferred task of the loop); a request that gets no reply
 * within the signing timeout fails alone. When the signer goes away, pending requests
 * wait for a new channel and are sent again on it.
 */
#ifndef KW_SIGNER_CLIENT_H
#define KW_SIGNER_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "config.h"
#include "loop.h"
#include "metrics.h"
#include "signer_proto.h"

struct sign_proxy;
struct sign_waiter;

/**
 * Outcome of a request: err 0 with the signature (valid during the call only), or
 * KW_ERR_SIGN_FAILED / KW_ERR_SIGN_TIMEOUT. The waiter is idle again when called.
 */
typedef void (*sign_done_fn)(struct sign_waiter *wt, int err, const uint8_t *sig, size_t len);

/** One pending request, embedded in its owner (a connection). */
struct sign_waiter {
	sign_done_fn done;
	struct sign_proxy *proxy; /* set while pending */
	bool pending;             /* submitted, no outcome yet */
	bool sent;                /* on the current channel, reply awaited */
	struct sp_sign_request req; /* as sent: its request_id is set by the proxy */
	unsigned long long submitted_ns; /* kw_now_ns() at submission */
	struct kw_timer timer;
	TAILQ_ENTRY(sign_waiter) order; /* submission order */
	LIST_ENTRY(sign_waiter) bucket; /* lookup by request id */
};

/** Sets up an idle waiter with its callback. */
void sign_waiter_init(struct sign_waiter *wt, sign_done_fn done);

/**
 * Creates the proxy on loop l and channel fd (non-blocking SOCK_SEQPACKET; -1: none
 * yet), which it owns from then on. Requests time out after cfg->signer.timeout_ms (a
 * timer queue it registers with l); at most cfg->signer.max_inflight of them (the
 * signer's per-channel limit, at least 1) are sent and unanswered at any time, the
 * others wait in submission order. cfg must outlive the proxy. Returns 0 or a code
 * (fd is closed then).
 */
int sign_proxy_new(struct loop *l, const struct kw_config *cfg, int fd, struct sign_proxy **out);

/** Closes the channel and frees the proxy; no waiter may be pending. NULL is fine. */
void sign_proxy_free(struct sign_proxy *sp);

/**
 * Queues a request for wt (which must be idle); it leaves at the end of the loop turn.
 * The outcome comes through wt->done, never from inside this call.
 */
void sign_proxy_submit(struct sign_proxy *sp, struct sign_waiter *wt,
                       const struct sp_sign_request *req);

/** Withdraws wt's request (its connection is going away); a reply that comes is ignored. */
void sign_proxy_cancel(struct sign_proxy *sp, struct sign_waiter *wt);

/**
 * Makes the proxy count its round trips (metrics.h: histogram, timeouts) in slot,
 * which must outlive it. Without it, nothing is counted.
 */
void sign_proxy_set_metrics(struct sign_proxy *sp, struct kw_metrics_worker *slot);

/**
 * Replaces the channel with fd (owned from then on): a new signer. Requests sent
 * on the old channel are sent again on the new one.
 */
void sign_proxy_set_channel(struct sign_proxy *sp, int fd);

#endif

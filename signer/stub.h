/*
 * stub.h - sign_stub: the signer's side of the signer channel, without any I/O.
 *
 * For each channel the stub keeps the request ids in flight and a token bucket;
 * it decides, for every decoded request, whether to sign it or to answer at once
 * (BUSY, RATE_LIMITED, BAD_KEY), and it signs with the key the request names.
 * Not thread-safe: the caller serialises calls on one channel.
 */
#ifndef KW_SIGNER_STUB_H
#define KW_SIGNER_STUB_H

#include <stdbool.h>
#include <stdint.h>

#include "keys.h"
#include "signer_proto.h"

/** Per-channel limits, from cfg->signer. */
struct stub_limits {
	unsigned max_inflight; /* at least 1 */
	unsigned rate_limit;   /* requests per second, 0 = unlimited */
};

/** Per-channel state. */
struct stub_channel {
	uint32_t slot; /* worker slot, for logs */
	struct stub_limits limits;
	uint32_t *inflight; /* request ids being signed, limits.max_inflight slots */
	unsigned n_inflight;
	bool have_last;        /* a request has been admitted on this channel */
	uint32_t last_id;      /* the newest request id admitted */
	uint64_t tokens;       /* token bucket, in thousandths of a request */
	uint64_t refill_ms;    /* time of the last refill */
	uint64_t rate_limited; /* requests refused since the last log line */
	uint64_t rate_log_ms;  /* time of the last "rate limited" log line */
	uint64_t rate_limited_total;
};

/** Admission outcomes of stub_admit (besides KW_ERR_UNEXPECTED_MESSAGE). */
enum stub_verdict {
	STUB_REPLY = 0, /* answer at once with the reply filled in */
	STUB_SIGN = 1,  /* sign it (sign_stub), send the reply, then stub_finish */
};

/**
 * Sets up a channel's state with a full token bucket at now_ms. Returns 0 or
 * KW_ERR_NOMEM / KW_ERR_ARGUMENT (max_inflight of 0). Dispose with stub_channel_dispose.
 */
int stub_channel_init(struct stub_channel *ch, uint32_t slot, const struct stub_limits *limits,
                      uint64_t now_ms);

/** Frees a channel's state. */
void stub_channel_dispose(struct stub_channel *ch);

/**
 * Decides what to do with a decoded request arriving at now_ms on ch, checking in
 * this order: a key id not below n_keys, or a request id not newer than every id
 * admitted before on ch (KW_ERR_UNEXPECTED_MESSAGE: the peer is broken, close the
 * channel; so each id is answered at most once), the rate limit (RATE_LIMITED;
 * refusals are counted and logged at most once per second), the in-flight cap
 * (BUSY). Returns STUB_REPLY with *rep filled in, or STUB_SIGN with the id now in
 * flight.
 */
int stub_admit(struct stub_channel *ch, size_t n_keys, const struct sp_sign_request *req,
               uint64_t now_ms, struct sp_sign_reply *rep);

/** Marks an admitted request as answered, freeing its in-flight slot. */
void stub_finish(struct stub_channel *ch, uint32_t request_id);

/**
 * Checks what only the key table can tell about a decoded request: its key id names a
 * key and, for TLS 1.3, its scheme fits that key (tls13_scheme_fits()). Returns 0, or
 * KW_ERR_UNEXPECTED_MESSAGE: the peer is broken, close the channel.
 */
int stub_check_request(const struct signer_keys *keys, const struct sp_sign_request *req);

/** The TLS 1.3 schemes a key may sign with (enum tls13_scheme), in struct stub_signer. */
#define STUB_TLS13_SCHEMES 5

/**
 * One key prepared by one thread (tt_signer: the signing context set up once, each
 * signature on a copy) for toy-TLS's scheme and for each TLS 1.3 scheme that fits the
 * key. An entry not prepared is zeroed: that scheme signs unprepared.
 */
struct stub_signer {
	struct tt_signer toytls;
	struct tt_signer tls13[STUB_TLS13_SCHEMES];
};

/**
 * Prepares key for every scheme it signs with. Returns 0, or the first error (the
 * entries that failed stay zeroed, the others are prepared). Dispose in any case.
 */
int stub_signer_init(struct stub_signer *s, const struct signer_key *key);

/** Frees what stub_signer_init() prepared (a zeroed signer is fine). */
void stub_signer_dispose(struct stub_signer *s);

/**
 * Signs an admitted request. Toy-TLS: the key named by req->key_id signs client_pub ||
 * server_pub with the scheme its type fixes. TLS 1.3: the key signs the
 * CertificateVerify content it builds from req->tls13 with req->tls13.scheme
 * (tls13_cv_sign()), which stub_check_request() found fitting. Either goes through
 * prepared[key_id] when the calling thread has prepared its keys (prepared: by key id,
 * or NULL). Fills *rep with SP_STATUS_OK and the signature, SP_STATUS_BAD_KEY for an
 * unknown key id, or SP_STATUS_FAILED (logged). Thread-safe as long as each thread has
 * its own prepared keys: keys are only read.
 */
void sign_stub(const struct signer_keys *keys, struct stub_signer *prepared,
               const struct sp_sign_request *req, struct sp_sign_reply *rep);

#endif

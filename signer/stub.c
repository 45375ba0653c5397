/*
 * stub.c - sign_stub: admission (in-flight ids, rate limit, key ids) and signing
 * of one request. The bytes signed are built here from the typed request fields.
 */
#include "stub.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "err.h"
#include "log.h"

#define TOKEN                1000u /* one request, in bucket units */
#define RATE_LOG_INTERVAL_MS 1000u

int
stub_channel_init(struct stub_channel *ch, uint32_t slot, const struct stub_limits *limits,
                  uint64_t now_ms)
{
	if (limits->max_inflight == 0)
		return KW_ERR_ARGUMENT;
	memset(ch, 0, sizeof(*ch));
	ch->inflight = calloc(limits->max_inflight, sizeof(*ch->inflight));
	if (!ch->inflight)
		return KW_ERR_NOMEM;
	ch->slot = slot;
	ch->limits = *limits;
	ch->tokens = (uint64_t)limits->rate_limit * TOKEN;
	ch->refill_ms = now_ms;
	ch->rate_log_ms = now_ms - RATE_LOG_INTERVAL_MS;
	return 0;
}

void
stub_channel_dispose(struct stub_channel *ch)
{
	free(ch->inflight);
	ch->inflight = NULL;
	ch->n_inflight = 0;
}

/*
 * Request ids must grow on a channel (serial-number order, so the worker's counter
 * may wrap): every id is admitted once, never again, whether answered or not.
 */
static int
is_new_id(struct stub_channel *ch, uint32_t request_id)
{
	if (ch->have_last && (int32_t)(request_id - ch->last_id) <= 0)
		return 0;
	ch->have_last = true;
	ch->last_id = request_id;
	return 1;
}

/* Token bucket holding at most one second's worth of requests. Returns 1 when one is taken. */
static int
take_token(struct stub_channel *ch, uint64_t now_ms)
{
	uint64_t cap = (uint64_t)ch->limits.rate_limit * TOKEN;

	if (now_ms > ch->refill_ms) {
		uint64_t add = (now_ms - ch->refill_ms) * ch->limits.rate_limit;

		ch->tokens = add >= cap - ch->tokens ? cap : ch->tokens + add;
		ch->refill_ms = now_ms;
	}
	if (ch->tokens < TOKEN)
		return 0;
	ch->tokens -= TOKEN;
	return 1;
}

static void
count_rate_limited(struct stub_channel *ch, uint64_t now_ms)
{
	ch->rate_limited++;
	ch->rate_limited_total++;
	if (now_ms - ch->rate_log_ms < RATE_LOG_INTERVAL_MS)
		return;
	kw_log_warn("stub_admit: channel of worker %u over %u requests/s: %llu refused "
	            "(%llu in all)",
	            (unsigned)ch->slot, ch->limits.rate_limit, (unsigned long long)ch->rate_limited,
	            (unsigned long long)ch->rate_limited_total);
	ch->rate_limited = 0;
	ch->rate_log_ms = now_ms;
}

static int
answer(const struct sp_sign_request *req, enum sp_status status, struct sp_sign_reply *rep)
{
	rep->request_id = req->request_id;
	rep->status = (uint16_t)status;
	rep->sig_len = 0;
	return STUB_REPLY;
}

int
stub_admit(struct stub_channel *ch, size_t n_keys, const struct sp_sign_request *req,
           uint64_t now_ms, struct sp_sign_reply *rep)
{
	if (req->key_id >= n_keys || !is_new_id(ch, req->request_id))
		return KW_ERR_UNEXPECTED_MESSAGE;
	if (ch->limits.rate_limit && !take_token(ch, now_ms)) {
		count_rate_limited(ch, now_ms);
		return answer(req, SP_STATUS_RATE_LIMITED, rep);
	}
	if (ch->n_inflight >= ch->limits.max_inflight)
		return answer(req, SP_STATUS_BUSY, rep);
	ch->inflight[ch->n_inflight++] = req->request_id;
	return STUB_SIGN;
}

void
stub_finish(struct stub_channel *ch, uint32_t request_id)
{
	for (unsigned i = 0; i < ch->n_inflight; i++) {
		if (ch->inflight[i] == request_id) {
			ch->inflight[i] = ch->inflight[--ch->n_inflight];
			return;
		}
	}
}

int
stub_check_request(const struct signer_keys *keys, const struct sp_sign_request *req)
{
	if (req->key_id >= keys->n)
		return KW_ERR_UNEXPECTED_MESSAGE;
	if (req->kind == SP_KIND_TLS13_CV &&
	    !tls13_scheme_fits(req->tls13.scheme, keys->keys[req->key_id].scheme))
		return KW_ERR_UNEXPECTED_MESSAGE;
	return 0;
}

/* The TLS 1.3 schemes of struct stub_signer's tls13, in its order. */
static const uint16_t tls13_schemes[STUB_TLS13_SCHEMES] = {
    TLS13_ECDSA_SECP256R1_SHA256, TLS13_RSA_PSS_RSAE_SHA256, TLS13_RSA_PSS_RSAE_SHA384,
    TLS13_RSA_PSS_RSAE_SHA512, TLS13_ED25519};

/* The index of a TLS 1.3 scheme in struct stub_signer's tls13, or -1. */
static int
tls13_scheme_index(uint16_t scheme)
{

	for (int i = 0; i < STUB_TLS13_SCHEMES; i++)
		if (tls13_schemes[i] == scheme)
			return i;
	return -1;
}

int
stub_signer_init(struct stub_signer *s, const struct signer_key *key)
{
	int err = tt_signer_init(&s->toytls, key->pkey);

	for (int i = 0; i < STUB_TLS13_SCHEMES; i++) {
		s->tls13[i] = (struct tt_signer){0};
		if (!tls13_scheme_fits(tls13_schemes[i], key->scheme))
			continue;
		int rc = tls13_cv_signer_init(&s->tls13[i], key->pkey, tls13_schemes[i]);
		if (err == 0)
			err = rc;
	}
	return err;
}

void
stub_signer_dispose(struct stub_signer *s)
{
	tt_signer_dispose(&s->toytls);
	for (int i = 0; i < STUB_TLS13_SCHEMES; i++)
		tt_signer_dispose(&s->tls13[i]);
}

void
sign_stub(const struct signer_keys *keys, struct stub_signer *prepared,
          const struct sp_sign_request *req, struct sp_sign_reply *rep)
{
	size_t sig_len = 0;
	int rc;

	rep->request_id = req->request_id;
	rep->sig_len = 0;
	if (req->key_id >= keys->n) {
		rep->status = SP_STATUS_BAD_KEY;
		return;
	}
	EVP_PKEY *pkey = keys->keys[req->key_id].pkey;
	struct stub_signer *own = prepared != NULL ? &prepared[req->key_id] : NULL;
	if (req->kind == SP_KIND_TLS13_CV) {
		int i = tls13_scheme_index(req->tls13.scheme);
		struct tt_signer *s = own != NULL && i >= 0 ? &own->tls13[i] : NULL;
		rc = s != NULL && s->prepared != NULL
		         ? tls13_cv_signer_sign(s, req->tls13.hash, req->tls13.hash_len, rep->sig,
		                                &sig_len)
		         : tls13_cv_sign(pkey, req->tls13.scheme, req->tls13.hash,
		                         req->tls13.hash_len, rep->sig, &sig_len);
	} else if (own != NULL && own->toytls.prepared != NULL) {
		rc = tt_signer_sign(&own->toytls, req->client_pub, req->server_pub, rep->sig,
		                    &sig_len);
	} else {
		rc = tt_sign(pkey, req->client_pub, req->server_pub, rep->sig, &sig_len);
	}
	if (rc) {
		kw_log_err("sign_stub: key %u (%s): %s", (unsigned)req->key_id,
		           req->kind == SP_KIND_TLS13_CV
		               ? tls13_scheme_name(req->tls13.scheme)
		               : tt_scheme_name(keys->keys[req->key_id].scheme),
		           kw_strerror(rc));
		ERR_clear_error();
		rep->status = SP_STATUS_FAILED;
		return;
	}
	rep->status = SP_STATUS_OK;
	rep->sig_len = (uint16_t)sig_len;
	if (req->kind == SP_KIND_TLS13_CV)
		kw_log_debug("sign_stub: TLS 1.3 CertificateVerify signed with key %u (%s)",
		             (unsigned)req->key_id, tls13_scheme_name(req->tls13.scheme));
}

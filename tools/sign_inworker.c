/*
 * sign_inworker.c - FOR BENCHMARKS ONLY, NEVER IN PRODUCTION BUILDS: a sign_proxy
 * that loads the private keys into the worker and signs in-process, so that tools/bench
 * can compare handshakes per second with the signer against in-worker signing.
 *
 * Compiled only with meson -Dbench_inworker_signing=true, in place of signer_client.c.
 * A production worker has no key-loading code at all. The signer still runs; its
 * channel is closed at once. Requests queued during a loop turn are signed at its
 * end (a deferred task), each outcome through its waiter's callback as with the signer.
 */
#ifdef KW_BENCH_INWORKER_SIGNING

#include "signer_client.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "keyfile.h"
#include "log.h"
#include "proc.h"
#include "toytls_sign.h"

struct sign_proxy {
	struct loop *loop;
	struct kw_timer_queue timeouts;
	struct loop_task flush;    /* queued with the first request of a turn */
	EVP_PKEY **keys;           /* by key id */
	struct tt_signer *signers; /* the keys prepared as the signer's threads prepare them (here
	                              a key that cannot be prepared stops the worker) */
	size_t n_keys;
	TAILQ_HEAD(, sign_waiter) pending;
	struct kw_metrics_worker *metrics; /* NULL: not counted */
};

static void
waiter_timeout(struct kw_timer *t)
{
	struct sign_waiter *wt = container_of(t, struct sign_waiter, timer);
	sign_proxy_cancel(wt->proxy, wt);
	wt->done(wt, KW_ERR_SIGN_TIMEOUT, NULL, 0);
}

void
sign_waiter_init(struct sign_waiter *wt, sign_done_fn done)
{
	memset(wt, 0, sizeof(*wt));
	wt->done = done;
}

static void sign_proxy_flush(struct loop_task *task);

int
sign_proxy_new(struct loop *l, const struct kw_config *cfg, int fd, struct sign_proxy **out)
{
	char err[512];
	int rc = KW_ERR_NOMEM;

	if (fd >= 0)
		close(fd);
	struct sign_proxy *sp = calloc(1, sizeof(*sp));
	if (sp == NULL)
		return rc;
	sp->loop = l;
	loop_task_init(&sp->flush, sign_proxy_flush);
	TAILQ_INIT(&sp->pending);
	sp->keys = calloc(cfg->n_keys ? cfg->n_keys : 1, sizeof(*sp->keys));
	sp->signers = calloc(cfg->n_keys ? cfg->n_keys : 1, sizeof(*sp->signers));
	if (sp->keys == NULL || sp->signers == NULL)
		goto fail;
	for (; sp->n_keys < cfg->n_keys; sp->n_keys++) {
		size_t i = sp->n_keys;
		rc = kw_private_key_load(cfg->keys[i].path, &sp->keys[i], err, sizeof(err));
		if (rc) {
			kw_log_err("sign_proxy_new: %s", err);
			goto fail;
		}
		rc = tt_signer_init(&sp->signers[i], sp->keys[i]);
		if (rc) {
			kw_log_err("sign_proxy_new: key %s: %s", cfg->keys[i].path,
			           kw_strerror(rc));
			EVP_PKEY_free(sp->keys[i]);
			sp->keys[i] = NULL;
			goto fail;
		}
	}
	kw_log_warn("sign_proxy_new: BENCHMARK BUILD: %zu keys loaded in the worker", sp->n_keys);
	loop_timer_queue(l, &sp->timeouts, cfg->signer.timeout_ms);
	*out = sp;
	return 0;
fail:
	sign_proxy_free(sp);
	return rc;
}

void
sign_proxy_free(struct sign_proxy *sp)
{
	if (sp == NULL)
		return;
	loop_task_cancel(sp->loop, &sp->flush);
	for (size_t i = 0; i < sp->n_keys; i++) {
		tt_signer_dispose(&sp->signers[i]);
		EVP_PKEY_free(sp->keys[i]);
	}
	free(sp->signers);
	free(sp->keys);
	free(sp);
}

void
sign_proxy_submit(struct sign_proxy *sp, struct sign_waiter *wt, const struct sp_sign_request *req)
{
	wt->proxy = sp;
	wt->pending = true;
	wt->req = *req;
	wt->submitted_ns = kw_now_ns();
	TAILQ_INSERT_TAIL(&sp->pending, wt, order);
	kw_timer_init(&wt->timer, waiter_timeout);
	loop_timer_arm(sp->loop, &wt->timer, &sp->timeouts);
	loop_defer(sp->loop, &sp->flush);
}

void
sign_proxy_cancel(struct sign_proxy *sp, struct sign_waiter *wt)
{
	if (!wt->pending)
		return;
	TAILQ_REMOVE(&sp->pending, wt, order);
	kw_timer_disarm(&wt->timer);
	wt->pending = false;
	wt->proxy = NULL;
}

static void
sign_proxy_flush(struct loop_task *task)
{
	struct sign_proxy *sp = container_of(task, struct sign_proxy, flush);
	struct sign_waiter *wt;
	while ((wt = TAILQ_FIRST(&sp->pending)) != NULL) {
		uint8_t sig[TT_MAX_SIGNATURE_LEN];
		size_t len = 0;
		sign_proxy_cancel(sp, wt);
		const struct sp_sign_request *req = &wt->req;
		int rc = req->key_id >= sp->n_keys ? KW_ERR_ARGUMENT
		         : req->kind == SP_KIND_TLS13_CV
		             ? tls13_cv_sign(sp->keys[req->key_id], req->tls13.scheme,
		                             req->tls13.hash, req->tls13.hash_len, sig, &len)
		             : tt_signer_sign(&sp->signers[req->key_id], req->client_pub,
		                              req->server_pub, sig, &len);
		if (sp->metrics != NULL)
			kw_metrics_sign_observe(sp->metrics, kw_now_ns() - wt->submitted_ns);
		wt->done(wt, rc ? KW_ERR_SIGN_FAILED : 0, sig, len);
	}
}

void
sign_proxy_set_metrics(struct sign_proxy *sp, struct kw_metrics_worker *slot)
{
	sp->metrics = slot;
}

void
sign_proxy_set_channel(struct sign_proxy *sp, int fd)
{
	close(fd);
}

#endif

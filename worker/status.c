/*
 * status.c - the status page in the Prometheus text format.
 */
#include "status.h"

#include "addr_prefix.h"
#include "err.h"
#include "http_response.h"
#include "prom_text.h"
#include "util.h"

#define FIRST_TLS 1u /* transports from here on have handshakes (enum kw_tls) */

static void
process_metrics(struct prom_text *p, const struct kw_metrics_master *m, time_t now)
{
	prom_family(p, "keyward_start_time_seconds", "gauge",
	            "Unix time the master started; counters start from zero then");
	prom_sample(p, "keyward_start_time_seconds", NULL, 0, m->start_time);
	prom_family(p, "keyward_uptime_seconds", "gauge", "Seconds since the master started");
	prom_sample(p, "keyward_uptime_seconds", NULL, 0,
	            (uint64_t)now > m->start_time ? (uint64_t)now - m->start_time : 0);
	prom_family(p, "keyward_generation", "gauge",
	            "Configuration generation serving (1 at start, one more per reload)");
	prom_sample(p, "keyward_generation", NULL, 0, m->generation);
	prom_family(p, "keyward_workers", "gauge", "Workers of the serving generation");
	prom_sample(p, "keyward_workers", NULL, 0, m->workers);
	prom_family(p, "keyward_reloads_total", "counter", "Reloads that took effect");
	prom_sample(p, "keyward_reloads_total", NULL, 0, m->reloads);
	prom_family(p, "keyward_reload_failures_total", "counter",
	            "Reloads refused or failed: the previous configuration kept serving");
	prom_sample(p, "keyward_reload_failures_total", NULL, 0, m->reload_failures);
	prom_family(p, "keyward_worker_restarts_total", "counter",
	            "Worker processes started again after dying");
	prom_sample(p, "keyward_worker_restarts_total", NULL, 0, m->worker_restarts);
	prom_family(p, "keyward_signer_restarts_total", "counter",
	            "Signer processes started again after dying");
	prom_sample(p, "keyward_signer_restarts_total", NULL, 0, m->signer_restarts);
}

static void
http_metrics(struct prom_text *p, const struct kw_metrics_worker *w)
{
	static const char *const classes[KW_METRICS_STATUS_CLASSES] = {"1xx", "2xx", "3xx", "4xx",
	                                                               "5xx"};

	prom_family(p, "keyward_http_requests_total", "counter",
	            "Responses sent (or cut short), by transport, protocol and status class");
	for (size_t t = 0; t < KW_METRICS_TRANSPORTS; t++)
		for (size_t v = 0; v < KW_METRICS_N_PROTOCOLS; v++)
			for (size_t c = 0; c < KW_METRICS_STATUS_CLASSES; c++) {
				const struct prom_label l[] = {
				    {"transport", kw_metrics_transport_names[t]},
				    {"protocol", kw_metrics_protocol_names[v]},
				    {"code", classes[c]}};
				prom_sample(p, "keyward_http_requests_total", l, countof(l),
				            w->requests[t][v][c]);
			}
	prom_family(p, "keyward_http_response_body_bytes_total", "counter",
	            "Response body bytes sent, by transport (heads and TLS records not counted)");
	for (size_t t = 0; t < KW_METRICS_TRANSPORTS; t++) {
		const struct prom_label l[] = {{"transport", kw_metrics_transport_names[t]}};
		prom_sample(p, "keyward_http_response_body_bytes_total", l, 1, w->body_bytes[t]);
	}
}

static void
connection_metrics(struct prom_text *p, const struct kw_metrics_worker *w)
{
	prom_family(p, "keyward_connections_accepted_total", "counter",
	            "Client connections accepted, by transport");
	for (size_t t = 0; t < KW_METRICS_TRANSPORTS; t++) {
		const struct prom_label l[] = {{"transport", kw_metrics_transport_names[t]}};
		prom_sample(p, "keyward_connections_accepted_total", l, 1, w->accepted[t]);
	}
	prom_family(p, "keyward_connections_active", "gauge",
	            "Client connections open, by transport");
	for (size_t t = 0; t < KW_METRICS_TRANSPORTS; t++) {
		const struct prom_label l[] = {{"transport", kw_metrics_transport_names[t]}};
		uint64_t open = 0;
		for (size_t s = 0; s < KW_N_PHASES; s++)
			open += w->conns[t][s];
		prom_sample(p, "keyward_connections_active", l, 1, open);
	}
	prom_family(p, "keyward_connections", "gauge",
	            "Client connections open, by transport and state (the states add up to "
	            "keyward_connections_active)");
	for (size_t t = 0; t < KW_METRICS_TRANSPORTS; t++)
		for (size_t s = 0; s < KW_N_PHASES; s++) {
			const struct prom_label l[] = {{"transport", kw_metrics_transport_names[t]},
			                               {"state", kw_metrics_phase_names[s]}};
			prom_sample(p, "keyward_connections", l, countof(l), w->conns[t][s]);
		}
}

static void
handshake_metrics(struct prom_text *p, const struct kw_metrics_worker *w)
{
	prom_family(p, "keyward_handshakes_total", "counter", "Handshakes completed, by transport");
	for (size_t t = FIRST_TLS; t < KW_METRICS_TRANSPORTS; t++) {
		const struct prom_label l[] = {{"transport", kw_metrics_transport_names[t]}};
		prom_sample(p, "keyward_handshakes_total", l, 1, w->handshakes[t]);
	}
	prom_family(p, "keyward_handshake_failures_total", "counter",
	            "Handshakes that failed, by transport and reason");
	for (size_t t = FIRST_TLS; t < KW_METRICS_TRANSPORTS; t++)
		for (size_t r = 0; r < KW_N_HSF; r++) {
			const struct prom_label l[] = {{"transport", kw_metrics_transport_names[t]},
			                               {"reason", kw_metrics_hsf_names[r]}};
			prom_sample(p, "keyward_handshake_failures_total", l, countof(l),
			            w->handshake_failures[t][r]);
		}
	prom_family(p, "keyward_tls_resumed_handshakes_total", "counter",
	            "Handshakes completed by resuming a session (no signature), by transport");
	for (size_t t = FIRST_TLS; t < KW_METRICS_TRANSPORTS; t++) {
		const struct prom_label l[] = {{"transport", kw_metrics_transport_names[t]}};
		prom_sample(p, "keyward_tls_resumed_handshakes_total", l, 1, w->resumed[t]);
	}
}

static void
signer_metrics(struct prom_text *p, const struct kw_metrics_signer *s,
               const struct kw_metrics_worker *w)
{
	prom_family(p, "keyward_signer_requests_total", "counter",
	            "Signing requests the signer received");
	prom_sample(p, "keyward_signer_requests_total", NULL, 0, s->requests);
	prom_family(p, "keyward_signer_signatures_total", "counter",
	            "Signatures the signer made, by key type");
	for (size_t k = 0; k < KW_METRICS_KEY_TYPES; k++) {
		const struct prom_label l[] = {{"key_type", kw_metrics_key_type_names[k]}};
		prom_sample(p, "keyward_signer_signatures_total", l, 1, s->signatures[k]);
	}
	prom_family(p, "keyward_signer_sign_errors_total", "counter",
	            "Signing requests admitted whose signing failed");
	prom_sample(p, "keyward_signer_sign_errors_total", NULL, 0, s->sign_errors);
	prom_family(p, "keyward_signer_refusals_total", "counter",
	            "Signing requests the signer refused, by reason");
	for (size_t r = 0; r < KW_N_REFUSALS; r++) {
		const struct prom_label l[] = {{"reason", kw_metrics_refusal_names[r]}};
		prom_sample(p, "keyward_signer_refusals_total", l, 1, s->refusals[r]);
	}
	prom_family(p, "keyward_signer_in_flight", "gauge",
	            "Signing requests the signer admitted and has not answered yet");
	prom_sample(p, "keyward_signer_in_flight", NULL, 0, s->inflight);
	prom_family(p, "keyward_signer_round_trip_seconds", "histogram",
	            "Signing round trips as the workers see them: from a handshake's request to "
	            "the signer's reply, queueing in the worker and the signer included");
	prom_histogram(p, "keyward_signer_round_trip_seconds", NULL, 0, kw_metrics_sign_bounds,
	               w->sign_buckets, KW_METRICS_SIGN_BUCKETS, (double)w->sign_ns / 1e9);
	prom_family(p, "keyward_signer_timeouts_total", "counter",
	            "Signing requests the workers gave up on after signer.timeout");
	prom_sample(p, "keyward_signer_timeouts_total", NULL, 0, w->sign_timeouts);
}

int
status_write(const struct kw_metrics_totals *t, time_t now, struct kw_buf *out)
{
	struct prom_text p = {.out = out};

	process_metrics(&p, &t->master, now);
	http_metrics(&p, &t->worker);
	connection_metrics(&p, &t->worker);
	handshake_metrics(&p, &t->worker);
	signer_metrics(&p, &t->signer, &t->worker);
	return p.err;
}

void
status_respond(const struct kw_metrics_region *r, const struct kw_location *loc, const char *client,
               const struct http_request *req, time_t now, struct http_response *resp)
{
	struct kw_metrics_totals totals;

	if (!kw_addr_prefix_match(loc->status_allow, loc->n_status_allow, client)) {
		http_error_response(403, req, now, resp);
		return;
	}
	if (req->method == HTTP_OTHER || r == NULL) {
		http_error_response(r == NULL ? 503 : 405, req, now, resp);
		return;
	}
	kw_metrics_sum(r, &totals);
	size_t off = kw_buf_size(&resp->mem);
	int err = status_write(&totals, now, &resp->mem);
	if (!err)
		err = http_response_begin(resp, 200, now);
	if (!err)
		err = http_response_header_str(resp, "Cache-Control", "no-store");
	if (!err)
		err = http_response_mem_body(resp, req, PROM_TEXT_CONTENT_TYPE, off);
	if (!err)
		err = http_response_end(resp, req);
	if (err)
		http_response_fail(resp, req, now);
}

/*
 * test_status.c - the Prometheus text exposition: HELP and label escaping, histogram
 * buckets cumulative with +Inf equal to _count, and the status page built from summed
 * counters (every family has HELP and TYPE; counters end in _total).
 */
#include "prom_text.h"
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <criterion/criterion.h>

static char *
text_of(struct kw_buf *b)
{
	char *s = malloc(kw_buf_size(b) + 1);
	cr_assert_not_null(s);
	memcpy(s, kw_buf_head(b), kw_buf_size(b));
	s[kw_buf_size(b)] = '\0';
	return s;
}

Test(prom_text, label_values_escaped)
{
	struct kw_buf b = {0};
	struct prom_text p = {.out = &b};
	const struct prom_label l[] = {{"a", "x\"y\\z\nw"}, {"b", "plain"}};

	prom_sample(&p, "m_total", l, 2, 7);
	cr_assert_eq(p.err, 0);
	char *s = text_of(&b);
	cr_expect_str_eq(s, "m_total{a=\"x\\\"y\\\\z\\nw\",b=\"plain\"} 7\n");
	free(s);
	kw_buf_free(&b);
}

Test(prom_text, help_escaped_quotes_kept)
{
	struct kw_buf b = {0};
	struct prom_text p = {.out = &b};

	prom_family(&p, "m", "gauge", "a \"b\" c\\d\ne");
	char *s = text_of(&b);
	cr_expect_str_eq(s, "# HELP m a \"b\" c\\\\d\\ne\n# TYPE m gauge\n");
	free(s);
	kw_buf_free(&b);
}

Test(prom_text, sample_without_labels_and_real_values)
{
	struct kw_buf b = {0};
	struct prom_text p = {.out = &b};

	prom_sample(&p, "m", NULL, 0, 18446744073709551615ull);
	prom_sample_real(&p, "r", NULL, 0, 0.25);
	char *s = text_of(&b);
	cr_expect_str_eq(s, "m 18446744073709551615\nr 0.25\n");
	free(s);
	kw_buf_free(&b);
}

Test(prom_text, histogram_cumulative_with_inf)
{
	struct kw_buf b = {0};
	struct prom_text p = {.out = &b};
	const double bounds[] = {0.001, 0.5, 2};
	const uint64_t counts[] = {3, 0, 2, 4}; /* per bucket; the last: above 2 */
	const struct prom_label l[] = {{"k", "v"}};

	prom_histogram(&p, "h_seconds", l, 1, bounds, counts, 3, 12.5);
	char *s = text_of(&b);
	cr_expect_str_eq(s, "h_seconds_bucket{k=\"v\",le=\"0.001\"} 3\n"
	                    "h_seconds_bucket{k=\"v\",le=\"0.5\"} 3\n"
	                    "h_seconds_bucket{k=\"v\",le=\"2\"} 5\n"
	                    "h_seconds_bucket{k=\"v\",le=\"+Inf\"} 9\n"
	                    "h_seconds_sum{k=\"v\"} 12.5\n"
	                    "h_seconds_count{k=\"v\"} 9\n");
	free(s);
	kw_buf_free(&b);
}

Test(prom_text, histogram_without_labels)
{
	struct kw_buf b = {0};
	struct prom_text p = {.out = &b};
	const double bounds[] = {1};
	const uint64_t counts[] = {0, 0};

	prom_histogram(&p, "h", NULL, 0, bounds, counts, 1, 0);
	char *s = text_of(&b);
	cr_expect_str_eq(s, "h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n");
	free(s);
	kw_buf_free(&b);
}

/* The line of s that starts with prefix, up to its newline, or NULL. */
static const char *
line_starting(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);
	for (const char *p = s; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, prefix, n) == 0)
			return p;
	return NULL;
}

Test(status, totals_written)
{
	struct kw_metrics_totals t;
	memset(&t, 0, sizeof(t));
	t.master.start_time = 1000;
	t.master.generation = 3;
	t.master.reloads = 2;
	t.worker.requests[2][KW_PROTO_HTTP11][1] = 5;
	t.worker.requests[0][KW_PROTO_HTTP10][3] = 1;
	t.worker.conns[1][KW_PHASE_IDLE] = 2;
	t.worker.conns[1][KW_PHASE_WRITING] = 1;
	t.worker.handshake_failures[2][KW_HSF_SIGNER] = 4;
	t.worker.sign_buckets[0] = 1;
	t.worker.sign_buckets[KW_METRICS_SIGN_BUCKETS] = 1;
	t.worker.sign_ns = 1500000000;
	t.signer.signatures[1] = 9;
	t.signer.refusals[KW_REFUSE_BUSY] = 6;

	struct kw_buf b = {0};
	cr_assert_eq(status_write(&t, 1060, &b), 0);
	char *s = text_of(&b);
	cr_expect_not_null(line_starting(s, "keyward_uptime_seconds 60\n"));
	cr_expect_not_null(line_starting(s, "keyward_generation 3\n"));
	cr_expect_not_null(line_starting(s, "keyward_reloads_total 2\n"));
	cr_expect_not_null(line_starting(s, "keyward_http_requests_total{transport=\"tls13\","
	                                    "protocol=\"HTTP/1.1\",code=\"2xx\"} 5\n"));
	cr_expect_not_null(line_starting(s, "keyward_http_requests_total{transport=\"plain\","
	                                    "protocol=\"HTTP/1.0\",code=\"4xx\"} 1\n"));
	cr_expect_not_null(
	    line_starting(s, "keyward_connections_active{transport=\"toytls\"} 3\n"));
	cr_expect_not_null(
	    line_starting(s, "keyward_connections{transport=\"toytls\",state=\"idle\"} 2\n"));
	cr_expect_not_null(line_starting(
	    s, "keyward_handshake_failures_total{transport=\"tls13\",reason=\"signer\"} 4\n"));
	cr_expect_not_null(
	    line_starting(s, "keyward_signer_signatures_total{key_type=\"ecdsa\"} 9\n"));
	cr_expect_not_null(line_starting(s, "keyward_signer_refusals_total{reason=\"busy\"} 6\n"));
	cr_expect_not_null(
	    line_starting(s, "keyward_signer_round_trip_seconds_bucket{le=\"0.0001\"} 1\n"));
	cr_expect_not_null(
	    line_starting(s, "keyward_signer_round_trip_seconds_bucket{le=\"1\"} 1\n"));
	cr_expect_not_null(
	    line_starting(s, "keyward_signer_round_trip_seconds_bucket{le=\"+Inf\"} 2\n"));
	cr_expect_not_null(line_starting(s, "keyward_signer_round_trip_seconds_sum 1.5\n"));
	/* plain has no handshakes */
	cr_expect_null(line_starting(s, "keyward_handshakes_total{transport=\"plain\"}"));

	/* every sample's family has HELP and TYPE; counters end in _total */
	for (const char *p = s; *p != '\0'; p = strchr(p, '\n') + 1) {
		if (strncmp(p, "# TYPE ", 7) != 0)
			continue;
		const char *name = p + 7, *sp = strchr(name, ' ');
		char fam[128];
		snprintf(fam, sizeof(fam), "%.*s", (int)(sp - name), name);
		char help[160];
		snprintf(help, sizeof(help), "# HELP %s ", fam);
		cr_expect_not_null(line_starting(s, help), "%s has no HELP", fam);
		if (strncmp(sp + 1, "counter", 7) == 0)
			cr_expect(strlen(fam) > 6 && strcmp(fam + strlen(fam) - 6, "_total") == 0,
			          "counter %s does not end in _total", fam);
	}
	free(s);
	kw_buf_free(&b);
}

Test(metrics, protocols)
{
	cr_expect_eq(kw_metrics_protocol(1, 0), KW_PROTO_HTTP10);
	cr_expect_eq(kw_metrics_protocol(1, 1), KW_PROTO_HTTP11);
	cr_expect_eq(kw_metrics_protocol(2, 0), KW_PROTO_HTTP20);
	cr_expect_eq(kw_metrics_protocol(3, 0), KW_PROTO_HTTP11, "unknown versions: HTTP/1.1");
	cr_expect_str_eq(kw_metrics_protocol_names[KW_PROTO_HTTP10], "HTTP/1.0");
	cr_expect_str_eq(kw_metrics_protocol_names[KW_PROTO_HTTP11], "HTTP/1.1");
}

Test(metrics, status_classes)
{
	cr_expect_eq(kw_metrics_status_class(99), -1);
	cr_expect_eq(kw_metrics_status_class(100), 0);
	cr_expect_eq(kw_metrics_status_class(200), 1);
	cr_expect_eq(kw_metrics_status_class(599), 4);
	cr_expect_eq(kw_metrics_status_class(600), -1);
}

Test(metrics, sign_observe_buckets_at_the_bound_and_past_it)
{
	struct kw_metrics_worker w;
	memset(&w, 0, sizeof(w));
	kw_metrics_sign_observe(&w, 100000);     /* 0.0001 s: the first bucket (le is inclusive) */
	kw_metrics_sign_observe(&w, 100001);     /* just past it: the second */
	kw_metrics_sign_observe(&w, 1000000001); /* past the last bound: +Inf */
	cr_expect_eq(w.sign_buckets[0], 1);
	cr_expect_eq(w.sign_buckets[1], 1);
	cr_expect_eq(w.sign_buckets[KW_METRICS_SIGN_BUCKETS], 1);
	cr_expect_eq(w.sign_ns, 100000 + 100001 + 1000000001ull);
}

Test(metrics, region_sums_used_slots_and_gone_zeroes_gauges)
{
	int fd;
	struct kw_metrics_region *r, *r2;
	cr_assert_eq(kw_metrics_create(&fd, &r), 0);
	cr_assert_eq(kw_metrics_attach(fd, &r2), 0);
	r->master.worker_slots = 2;
	r->master.signer_slots = 1;
	kw_metric_add(&r->worker[0].accepted[0], 3);
	kw_metric_add(&r2->worker[1].accepted[0], 4);  /* through the other mapping */
	kw_metric_add(&r->worker[2].accepted[0], 100); /* past worker_slots: not summed */
	kw_metric_add(&r->worker[1].conns[2][KW_PHASE_READING], 1);
	kw_metric_add_shared(&r->signer[0].inflight, 2);

	struct kw_metrics_totals t;
	kw_metrics_sum(r2, &t);
	cr_expect_eq(t.worker.accepted[0], 7);
	cr_expect_eq(t.worker.conns[2][KW_PHASE_READING], 1);
	cr_expect_eq(t.signer.inflight, 2);
	kw_metrics_worker_gone(&r->worker[1]);
	kw_metrics_signer_gone(&r->signer[0]);
	kw_metrics_sum(r2, &t);
	cr_expect_eq(t.worker.accepted[0], 7, "counters survive a process gone");
	cr_expect_eq(t.worker.conns[2][KW_PHASE_READING], 0);
	cr_expect_eq(t.signer.inflight, 0);
	kw_metrics_unmap(r2);
	kw_metrics_unmap(r);
	close(fd);
}

Test(metrics, attach_refuses_other_files)
{
	struct kw_metrics_region *r;
	int fd = memfd_create("not-metrics", MFD_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_expect_neq(kw_metrics_attach(fd, &r), 0);
	cr_assert_eq(ftruncate(fd, sizeof(struct kw_metrics_region)), 0);
	cr_expect_neq(kw_metrics_attach(fd, &r), 0, "a zeroed file has no magic");
	close(fd);
}

/*
 * prom_text.h - writing the Prometheus text exposition format, version 0.0.4:
 *
 *   # HELP name text            (backslash and newline escaped)
 *   # TYPE name counter|gauge|histogram
 *   name{label="value",...} 42  (label values: backslash, quote and newline escaped)
 *
 * A histogram's buckets are given one count per bucket (not cumulative) and come
 * out cumulative, with le="+Inf" equal to _count.
 */
#ifndef KW_PROM_TEXT_H
#define KW_PROM_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/** The Content-Type of the format. */
#define PROM_TEXT_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/** A writer appending to out; err keeps the first failure, after which nothing is written. */
struct prom_text {
	struct kw_buf *out;
	int err; /* 0 or KW_ERR_NOMEM */
};

/** One label: name (a valid label name) and value (any text, escaped on output). */
struct prom_label {
	const char *name;
	const char *value;
};

/** Writes the HELP and TYPE lines of family name; type is "counter", "gauge" or "histogram". */
void prom_family(struct prom_text *p, const char *name, const char *type, const char *help);

/** Writes one sample of an integer value: name{labels} value. n may be 0 (no braces). */
void prom_sample(struct prom_text *p, const char *name, const struct prom_label *labels, size_t n,
                 uint64_t value);

/** The same with a real value (written with full precision). */
void prom_sample_real(struct prom_text *p, const char *name, const struct prom_label *labels,
                      size_t n, double value);

/**
 * Writes the samples of histogram name with labels: name_bucket for each of the
 * n_bounds upper bounds (ascending) and +Inf, cumulative, from counts[n_bounds + 1]
 * (one count per bucket, the last one for values above every bound), then name_sum
 * (sum) and name_count.
 */
void prom_histogram(struct prom_text *p, const char *name, const struct prom_label *labels,
                    size_t n, const double *bounds, const uint64_t *counts, size_t n_bounds,
                    double sum);

#endif

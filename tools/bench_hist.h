/*
 * bench_hist.h - a latency histogram in microseconds with HDR-like buckets: exact
 * below 64 us, then 64 buckets per power of two (under 1.6 % relative error), so
 * that every sample is kept at a fixed 30 KiB per histogram, whatever the run length.
 */
#ifndef KW_BENCH_HIST_H
#define KW_BENCH_HIST_H

#include <stdint.h>

#define BENCH_HIST_SUB_BITS 6u
#define BENCH_HIST_BUCKETS  ((64u - BENCH_HIST_SUB_BITS + 1u) << BENCH_HIST_SUB_BITS)

/** Samples of one thread, or several merged. Zero-initialised is empty. */
struct bench_hist {
	uint64_t counts[BENCH_HIST_BUCKETS];
	uint64_t total; /* number of samples */
	uint64_t sum;   /* sum of the samples, us */
	uint64_t max;   /* largest sample, exact, us */
};

/** Records one sample of us microseconds. */
void bench_hist_record(struct bench_hist *h, uint64_t us);

/** Adds every sample of src to dst. */
void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src);

/**
 * The sample at percentile p (0 < p <= 100): the middle of the bucket that holds
 * it, never above the exact maximum, and the exact maximum for the last sample.
 * 0 when the histogram is empty.
 */
uint64_t bench_hist_percentile(const struct bench_hist *h, double p);

#endif

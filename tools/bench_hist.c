#include "bench_hist.h"

#define SUB_COUNT (1u << BENCH_HIST_SUB_BITS)

static unsigned
bucket_of(uint64_t us)
{
	if (us < 2u * SUB_COUNT)
		return (unsigned)us;
	unsigned shift = (unsigned)(63 - __builtin_clzll(us)) - BENCH_HIST_SUB_BITS;
	return shift * SUB_COUNT + (unsigned)(us >> shift);
}

/* Lowest value of bucket i, and the width of the bucket in *width. */
static uint64_t
bucket_floor(unsigned i, uint64_t *width)
{
	if (i < 2u * SUB_COUNT) {
		*width = 1;
		return i;
	}
	unsigned shift = i / SUB_COUNT - 1;
	*width = (uint64_t)1 << shift;
	return (uint64_t)(i - shift * SUB_COUNT) << shift;
}

void
bench_hist_record(struct bench_hist *h, uint64_t us)
{
	h->counts[bucket_of(us)]++;
	h->total++;
	h->sum += us;
	if (us > h->max)
		h->max = us;
}

void
bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src)
{
	for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++)
		dst->counts[i] += src->counts[i];
	dst->total += src->total;
	dst->sum += src->sum;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t
bench_hist_percentile(const struct bench_hist *h, double p)
{
	if (h->total == 0)
		return 0;
	uint64_t rank = (uint64_t)(p / 100.0 * (double)h->total + 0.5);
	if (rank == 0)
		rank = 1;
	if (rank >= h->total)
		return h->max;
	uint64_t seen = 0;
	for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			uint64_t width, v = bucket_floor(i, &width);
			v += width / 2;
			return v < h->max ? v : h->max;
		}
	}
	return h->max;
}

/*
 * metrics.c - the shared counter region: creating, mapping, summing.
 */
#include "metrics.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

#define KW_METRICS_MAGIC 0x6b776d6574726963ull /* "kwmetric" */

_Static_assert(sizeof(struct kw_metrics_master) % sizeof(uint64_t) == 0, "words only");
_Static_assert(sizeof(struct kw_metrics_signer) % KW_METRICS_CACHE_LINE == 0, "line aligned");
_Static_assert(sizeof(struct kw_metrics_worker) % KW_METRICS_CACHE_LINE == 0, "line aligned");

const char *const kw_metrics_transport_names[KW_METRICS_TRANSPORTS] = {"plain", "toytls", "tls13"};

const char *const kw_metrics_protocol_names[KW_METRICS_N_PROTOCOLS] = {
#define KW_METRICS_PROTOCOL_NAME(id, name, major, minor) name,
    KW_METRICS_PROTOCOLS(KW_METRICS_PROTOCOL_NAME)
#undef KW_METRICS_PROTOCOL_NAME
};

const char *const kw_metrics_phase_names[KW_N_PHASES] = {"handshaking", "reading", "writing",
                                                         "idle"};

const char *const kw_metrics_hsf_names[KW_N_HSF] = {"protocol",      "signer",   "timeout",
                                                    "client_closed", "internal", "aborted"};

const char *const kw_metrics_key_type_names[KW_METRICS_KEY_TYPES] = {"rsa", "ecdsa", "ed25519"};

const char *const kw_metrics_refusal_names[KW_N_REFUSALS] = {"malformed", "rate", "busy"};

const double kw_metrics_sign_bounds[KW_METRICS_SIGN_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0};

int
kw_metrics_create(int *fd, struct kw_metrics_region **out)
{
	int mfd = memfd_create("keyward-metrics", MFD_CLOEXEC);
	void *p;

	if (mfd < 0)
		return -errno;
	if (ftruncate(mfd, sizeof(struct kw_metrics_region)) < 0 ||
	    (p = mmap(NULL, sizeof(struct kw_metrics_region), PROT_READ | PROT_WRITE, MAP_SHARED,
	              mfd, 0)) == MAP_FAILED) {
		int err = -errno;
		close(mfd);
		return err;
	}
	struct kw_metrics_region *r = p;
	r->magic = KW_METRICS_MAGIC;
	r->size = sizeof(*r);
	*fd = mfd;
	*out = r;
	return 0;
}

int
kw_metrics_attach(int fd, struct kw_metrics_region **out)
{
	struct stat st;
	void *p;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size != (off_t)sizeof(struct kw_metrics_region))
		return KW_ERR_ARGUMENT;
	p = mmap(NULL, sizeof(struct kw_metrics_region), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	struct kw_metrics_region *r = p;
	if (r->magic != KW_METRICS_MAGIC || r->size != sizeof(*r)) {
		munmap(p, sizeof(*r));
		return KW_ERR_ARGUMENT;
	}
	*out = r;
	return 0;
}

void
kw_metrics_unmap(struct kw_metrics_region *r)
{
	if (r != NULL)
		munmap(r, sizeof(*r));
}

struct kw_metrics_signer *
kw_metrics_signer_slot(struct kw_metrics_region *r, unsigned slot)
{
	return r != NULL && slot < KW_METRICS_SIGNER_SLOTS ? &r->signer[slot] : NULL;
}

struct kw_metrics_worker *
kw_metrics_worker_slot(struct kw_metrics_region *r, unsigned slot)
{
	return r != NULL && slot < KW_METRICS_WORKER_SLOTS ? &r->worker[slot] : NULL;
}

void
kw_metrics_worker_gone(struct kw_metrics_worker *w)
{
	for (size_t t = 0; t < KW_METRICS_TRANSPORTS; t++)
		for (size_t p = 0; p < KW_N_PHASES; p++)
			kw_metric_set(&w->conns[t][p], 0);
}

void
kw_metrics_signer_gone(struct kw_metrics_signer *s)
{
	kw_metric_set(&s->inflight, 0);
}

/* Adds the words of n slots of size bytes each, from slots, into sum. */
static void
sum_words(uint64_t *sum, const void *slots, size_t size, size_t n)
{
	const uint64_t *w = slots;
	const size_t words = size / sizeof(uint64_t);

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < words; j++)
			sum[j] += kw_metric_get(&w[i * words + j]);
}

void
kw_metrics_sum(const struct kw_metrics_region *r, struct kw_metrics_totals *t)
{
	memset(t, 0, sizeof(*t));
	sum_words((uint64_t *)&t->master, &r->master, sizeof(r->master), 1);
	uint64_t n_signers = t->master.signer_slots, n_workers = t->master.worker_slots;
	if (n_signers > KW_METRICS_SIGNER_SLOTS)
		n_signers = KW_METRICS_SIGNER_SLOTS;
	if (n_workers > KW_METRICS_WORKER_SLOTS)
		n_workers = KW_METRICS_WORKER_SLOTS;
	sum_words((uint64_t *)&t->signer, r->signer, sizeof(r->signer[0]), n_signers);
	sum_words((uint64_t *)&t->worker, r->worker, sizeof(r->worker[0]), n_workers);
}

enum kw_metrics_protocol
kw_metrics_protocol(int major, int minor)
{
#define KW_METRICS_PROTOCOL_FIND(id, name, maj, min)                                               \
	if (major == (maj) && minor == (min))                                                      \
		return KW_PROTO_##id;
	KW_METRICS_PROTOCOLS(KW_METRICS_PROTOCOL_FIND)
#undef KW_METRICS_PROTOCOL_FIND
	return KW_PROTO_HTTP11;
}

int
kw_metrics_status_class(int status)
{
	return status >= 100 && status <= 599 ? status / 100 - 1 : -1;
}

void
kw_metrics_sign_observe(struct kw_metrics_worker *w, uint64_t ns)
{
	size_t b = 0;
	while (b < KW_METRICS_SIGN_BUCKETS && (double)ns > kw_metrics_sign_bounds[b] * 1e9)
		b++;
	kw_metric_add(&w->sign_buckets[b], 1);
	kw_metric_add(&w->sign_ns, ns);
}

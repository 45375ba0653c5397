/*
 * prom_text.c - the Prometheus text exposition format.
 */
#include "prom_text.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

static void
put(struct prom_text *p, const char *s, size_t len)
{
	if (p->err == 0 && kw_buf_append(p->out, s, len) != 0)
		p->err = KW_ERR_NOMEM;
}

static void
put_str(struct prom_text *p, const char *s)
{
	put(p, s, strlen(s));
}

/* Writes s with backslash and newline escaped, and the double quote too when quoted. */
static void
put_escaped(struct prom_text *p, const char *s, bool quoted)
{
	const char *run = s;

	for (; *s != '\0'; s++) {
		const char *esc = *s == '\\'            ? "\\\\"
		                  : *s == '\n'          ? "\\n"
		                  : *s == '"' && quoted ? "\\\""
		                                        : NULL;
		if (esc == NULL)
			continue;
		put(p, run, (size_t)(s - run));
		put_str(p, esc);
		run = s + 1;
	}
	put(p, run, (size_t)(s - run));
}

void
prom_family(struct prom_text *p, const char *name, const char *type, const char *help)
{
	put_str(p, "# HELP ");
	put_str(p, name);
	put_str(p, " ");
	put_escaped(p, help, false);
	put_str(p, "\n# TYPE ");
	put_str(p, name);
	put_str(p, " ");
	put_str(p, type);
	put_str(p, "\n");
}

/* name{labels[,extra]} with extra NULL or one more label written last (le of buckets). */
static void
put_series(struct prom_text *p, const char *name, const char *suffix,
           const struct prom_label *labels, size_t n, const struct prom_label *extra)
{
	put_str(p, name);
	put_str(p, suffix);
	if (n == 0 && extra == NULL)
		return;
	put_str(p, "{");
	for (size_t i = 0; i <= n; i++) {
		const struct prom_label *l = i < n ? &labels[i] : extra;
		if (l == NULL)
			break;
		if (i > 0)
			put_str(p, ",");
		put_str(p, l->name);
		put_str(p, "=\"");
		put_escaped(p, l->value, true);
		put_str(p, "\"");
	}
	put_str(p, "}");
}

static void
put_u64(struct prom_text *p, uint64_t v)
{
	char num[32];
	int len = snprintf(num, sizeof(num), " %" PRIu64 "\n", v);
	put(p, num, (size_t)len);
}

static void
put_real(struct prom_text *p, double v)
{
	char num[40];
	int len = snprintf(num, sizeof(num), " %.17g\n", v);
	put(p, num, (size_t)len);
}

void
prom_sample(struct prom_text *p, const char *name, const struct prom_label *labels, size_t n,
            uint64_t value)
{
	put_series(p, name, "", labels, n, NULL);
	put_u64(p, value);
}

void
prom_sample_real(struct prom_text *p, const char *name, const struct prom_label *labels, size_t n,
                 double value)
{
	put_series(p, name, "", labels, n, NULL);
	put_real(p, value);
}

void
prom_histogram(struct prom_text *p, const char *name, const struct prom_label *labels, size_t n,
               const double *bounds, const uint64_t *counts, size_t n_bounds, double sum)
{
	uint64_t cumulative = 0;
	char le[32];

	for (size_t b = 0; b <= n_bounds; b++) {
		cumulative += counts[b];
		if (b < n_bounds)
			snprintf(le, sizeof(le), "%g", bounds[b]);
		const struct prom_label bucket = {"le", b < n_bounds ? le : "+Inf"};
		put_series(p, name, "_bucket", labels, n, &bucket);
		put_u64(p, cumulative);
	}
	put_series(p, name, "_sum", labels, n, NULL);
	put_real(p, sum);
	put_series(p, name, "_count", labels, n, NULL);
	put_u64(p, cumulative);
}

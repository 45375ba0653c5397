/*
 * inspect_scan.c - one pass over another process's readable memory with the
 * fragment matcher. Chunks overlap by FRAG_WINDOW - 1 bytes within contiguous
 * memory, so a window straddling two reads (or two adjacent mappings) is found too.
 *
 * Only memory the process has touched holds anything of its own: a mapping with no
 * resident or swapped page (smaps: Rss, Swap, *_Hugetlb) is skipped, and in a
 * sparse mapping (less than a quarter resident: thread stacks, reserved arenas,
 * sanitizer shadows of terabytes) only the pages that /proc/PID/pagemap shows
 * present or swapped are read. Reading the rest would only return zeros (or a
 * file's untouched contents) after faulting it in, page by page. The PAGEMAP_SCAN
 * ioctl (Linux 6.7) lists those pages as ranges, skipping empty page tables
 * whole; older kernels give one pagemap entry per page, about a second per TiB.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/fs.h>
#include <sys/ioctl.h>

#include <openssl/crypto.h>

#include "err.h"
#include "inspect_scan.h"

#define CHUNK         (1u << 20)
#define CARRY         (FRAG_WINDOW - 1)
#define PAGEMAP_BATCH 4096
#define PM_PRESENT    (UINT64_C(1) << 63)
#define PM_SWAPPED    (UINT64_C(1) << 62)
#define SPARSE_RATIO  4
#define SCAN_RANGES   256

#ifndef PAGEMAP_SCAN
/* The PAGEMAP_SCAN ABI of Linux 6.7 include/uapi/linux/fs.h, for older headers. */
#define PAGEMAP_SCAN    _IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)

struct page_region {
	uint64_t start;
	uint64_t end;
	uint64_t categories;
};

struct pm_scan_arg {
	uint64_t size;
	uint64_t flags;
	uint64_t start;
	uint64_t end;
	uint64_t walk_end;
	uint64_t vec;
	uint64_t vec_len;
	uint64_t max_pages;
	uint64_t category_inverted;
	uint64_t category_mask;
	uint64_t category_anyof_mask;
	uint64_t return_mask;
};
#endif

struct region {
	uint64_t start;
	uint64_t end;
	uint64_t resident; /* bytes resident or swapped */
};

struct scanner {
	const struct frag_set *set;
	struct scan_result *res;
	int mem;
	int pagemap; /* -1 when unreadable: sparse mappings are then read whole */
	uint64_t page;
	uint8_t *buf; /* CARRY + CHUNK bytes: carried tail, then the new read */
	size_t carry; /* bytes carried from the read that ended at carry_end */
	uint64_t carry_end;
};

static int
skipped_mapping(const char *name)
{
	return strncmp(name, "[vvar", 5) == 0 || strcmp(name, "[vsyscall]") == 0;
}

/* Adds the sizes that smaps gives in kB on the lines that count pages held. */
static void
add_resident(struct region *r, const char *line)
{
	static const char *const fields[] = {
	    "Rss:", "Swap:", "Shared_Hugetlb:", "Private_Hugetlb:"};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strncmp(line, fields[i], strlen(fields[i])) == 0)
			r->resident += strtoull(line + strlen(fields[i]), NULL, 10) * 1024;
}

/* Lists the readable mappings worth searching, with what each holds. */
static int
read_regions(pid_t pid, struct region **out, size_t *n_out, char *err, size_t err_len)
{
	char path[64], *line = NULL;
	size_t cap = 0, n = 0, line_cap = 0;
	struct region *regions = NULL;
	bool in_region = false;
	FILE *smaps;
	int rc = 0;

	snprintf(path, sizeof(path), "/proc/%ld/smaps", (long)pid);
	smaps = fopen(path, "re");
	if (!smaps) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return KW_ERR_ARGUMENT;
	}
	while (getline(&line, &line_cap, smaps) > 0) {
		uint64_t start, end;
		char perms[5];
		int name_at = 0;
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %*x %*s %*u %n", &start, &end, perms,
		           &name_at) < 3 ||
		    name_at == 0) {
			if (in_region)
				add_resident(&regions[n - 1], line);
			continue;
		}
		line[strcspn(line, "\n")] = '\0';
		in_region = perms[0] == 'r' && !skipped_mapping(line + name_at) && end <= INT64_MAX;
		if (!in_region)
			continue;
		if (n == cap) {
			struct region *grown;
			cap = cap ? cap * 2 : 64;
			grown = realloc(regions, cap * sizeof(*regions));
			if (!grown) {
				snprintf(err, err_len, "%s: out of memory", path);
				rc = KW_ERR_NOMEM;
				break;
			}
			regions = grown;
		}
		regions[n++] = (struct region){start, end, 0};
	}
	free(line);
	fclose(smaps);
	if (rc) {
		free(regions);
		return rc;
	}
	*out = regions;
	*n_out = n;
	return 0;
}

static void
search(struct scanner *s, uint64_t addr, size_t n)
{
	const size_t total = s->carry + n;

	s->res->hits += frag_set_match(s->set, s->buf, total, s->res->by_source);
	s->res->bytes_read += n;
	s->carry = total < CARRY ? total : CARRY;
	memmove(s->buf, s->buf + total - s->carry, s->carry);
	s->carry_end = addr + n;
}

static void
scan_range(struct scanner *s, uint64_t start, uint64_t end)
{
	uint64_t addr = start;

	if (s->carry_end != addr)
		s->carry = 0;
	while (addr < end) {
		uint64_t want = end - addr < CHUNK ? end - addr : CHUNK;
		ssize_t n = pread(s->mem, s->buf + s->carry, (size_t)want, (off_t)addr);
		if (n > 0) {
			search(s, addr, (size_t)n);
			addr += (uint64_t)n;
			continue;
		}
		if (n == 0) {
			s->res->bytes_unreadable += end - addr;
			break;
		}
		uint64_t next = (addr + s->page) & ~(s->page - 1);
		if (next > end)
			next = end;
		s->res->bytes_unreadable += next - addr;
		s->carry = 0;
		addr = next;
	}
}

/*
 * Reads the ranges of present or swapped pages of r that PAGEMAP_SCAN lists.
 * Returns false, having read nothing, when the kernel has no PAGEMAP_SCAN.
 */
static bool
scan_listed(struct scanner *s, const struct region *r)
{
	struct page_region ranges[SCAN_RANGES];
	struct pm_scan_arg arg = {
	    .size = sizeof(arg),
	    .start = r->start,
	    .end = r->end,
	    .vec = (uint64_t)(uintptr_t)ranges,
	    .vec_len = SCAN_RANGES,
	    .category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
	};
	uint64_t held = 0;

	while (arg.start < r->end) {
		int n = ioctl(s->pagemap, PAGEMAP_SCAN, &arg);
		if (n < 0 && arg.start == r->start)
			return false;
		if (n < 0) {
			scan_range(s, arg.start, r->end);
			return true;
		}
		for (int i = 0; i < n; i++) {
			scan_range(s, ranges[i].start, ranges[i].end);
			held += ranges[i].end - ranges[i].start;
		}
		arg.start = arg.walk_end > arg.start ? arg.walk_end : r->end;
	}
	s->res->bytes_untouched += r->end - r->start - held;
	return true;
}

/* Reads the runs of pages that pagemap entries show present or swapped; on a failed
 * pagemap read, the whole rest of r. */
static void
scan_entries(struct scanner *s, const struct region *r)
{
	uint64_t entries[PAGEMAP_BATCH];
	uint64_t addr = r->start, run = UINT64_MAX;

	while (addr < r->end) {
		uint64_t pages = (r->end - addr) / s->page;
		size_t want = pages < PAGEMAP_BATCH ? (size_t)pages : PAGEMAP_BATCH;
		ssize_t n = pread(s->pagemap, entries, want * sizeof(entries[0]),
		                  (off_t)(addr / s->page * sizeof(entries[0])));
		if (n < (ssize_t)sizeof(entries[0])) {
			scan_range(s, run != UINT64_MAX ? run : addr, r->end);
			return;
		}
		for (size_t i = 0; i < (size_t)n / sizeof(entries[0]); i++, addr += s->page) {
			bool held = entries[i] & (PM_PRESENT | PM_SWAPPED);
			if (held && run == UINT64_MAX) {
				run = addr;
			} else if (!held && run != UINT64_MAX) {
				scan_range(s, run, addr);
				run = UINT64_MAX;
			}
			if (!held)
				s->res->bytes_untouched += s->page;
		}
	}
	if (run != UINT64_MAX)
		scan_range(s, run, r->end);
}

static void
scan_region(struct scanner *s, const struct region *r)
{
	const uint64_t size = r->end - r->start;

	if (!r->resident) {
		s->res->bytes_untouched += size;
		return;
	}
	s->res->regions++;
	if (s->pagemap < 0 || r->resident >= size / SPARSE_RATIO)
		scan_range(s, r->start, r->end);
	else if (!scan_listed(s, r))
		scan_entries(s, r);
}

int
scan_process(const struct frag_set *set, pid_t pid, struct scan_result *res, char *err,
             size_t err_len)
{
	struct scanner s = {
	    .set = set, .res = res, .mem = -1, .pagemap = -1, .page = (uint64_t)getpagesize()};
	struct region *regions = NULL;
	size_t n_regions = 0;
	char path[64];
	int rc;

	*res = (struct scan_result){0};
	rc = read_regions(pid, &regions, &n_regions, err, err_len);
	if (rc)
		return rc;
	rc = KW_ERR_NOMEM;
	res->by_source = calloc(frag_set_sources(set) + 1, sizeof(*res->by_source));
	s.buf = malloc(CARRY + CHUNK);
	if (!res->by_source || !s.buf) {
		snprintf(err, err_len, "scan of %ld: out of memory", (long)pid);
		goto out;
	}
	snprintf(path, sizeof(path), "/proc/%ld/mem", (long)pid);
	s.mem = open(path, O_RDONLY | O_CLOEXEC);
	if (s.mem < 0) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		rc = KW_ERR_ARGUMENT;
		goto out;
	}
	snprintf(path, sizeof(path), "/proc/%ld/pagemap", (long)pid);
	s.pagemap = open(path, O_RDONLY | O_CLOEXEC);
	s.carry_end = UINT64_MAX;
	for (size_t i = 0; i < n_regions; i++)
		scan_region(&s, &regions[i]);
	rc = 0;
out:
	if (s.mem >= 0)
		close(s.mem);
	if (s.pagemap >= 0)
		close(s.pagemap);
	if (s.buf)
		OPENSSL_cleanse(s.buf, CARRY + CHUNK);
	free(s.buf);
	free(regions);
	if (rc)
		scan_result_dispose(res);
	return rc;
}

void
scan_result_dispose(struct scan_result *res)
{
	free(res->by_source);
	*res = (struct scan_result){0};
}

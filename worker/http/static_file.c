/*
 * The static-file responder. Choices where nginx users could expect otherwise:
 * - a refused symlink (follow_symlinks false, or leading outside the root) and a
 *   permission error answer 403, as nginx's disable_symlinks does; a FIFO, socket
 *   or device answers 404;
 * - Range applies to GET only; several ranges are sorted and merged where they
 *   overlap or touch, and more than MAX_RANGES range-specs, another unit or a
 *   malformed set get the whole file (200);
 * - If-Modified-Since matches when the file is not newer than the date (nginx's
 *   "before"), If-Range's date only when it equals Last-Modified exactly;
 * - Location of a directory redirect is the decoded path, re-escaped, plus "/".
 */
#include "static_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "accept_encoding.h"
#include "autoindex.h"
#include "err.h"
#include "error_page.h"
#include "fixed_response.h"
#include "header_rules.h"
#include "http_path.h"
#include "http_response.h"
#include "shared_fd.h"

#define MAX_RANGES (HTTP_MAX_SEGMENTS / 3)
#define LISTING    1 /* open_target(): a directory to list */
#define ETAG_MAX   48

/* What the responder knows about the file it is answering with. */
struct file_info {
	int fd;
	struct shared_fd *cached; /* holds fd when the static_cache has it, else NULL */
	struct stat st;
	const char *type;
	const char *encoding; /* content coding of a precompressed variant, or NULL */
	bool vary;            /* the representation depends on Accept-Encoding */
	bool on_the_fly;      /* encoding is applied while sending, not a variant's */
	char etag[ETAG_MAX];
};

struct byte_range {
	uint64_t first;
	uint64_t last;
};

enum range_result { RANGE_IGNORE, RANGE_UNSATISFIABLE, RANGE_OK };

const struct kw_location *
static_location(const struct kw_server *srv, const char *path, size_t *strip)
{
	const struct kw_location *best = NULL;
	for (size_t i = 0; i < srv->n_locations; i++) {
		const char *prefix = srv->locations[i].prefix;
		size_t n = strlen(prefix);
		if (n > 0 && prefix[n - 1] == '/')
			n--;
		if (strncmp(path, prefix, n) != 0 || (path[n] != '/' && path[n] != '\0'))
			continue;
		if (best == NULL || n > *strip) {
			best = &srv->locations[i];
			*strip = n;
		}
	}
	return best;
}

static int
month_index(const char *m)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	const char *hit = strlen(m) == 3 ? strstr(months, m) : NULL;
	return hit && (hit - months) % 3 == 0 ? (int)(hit - months) / 3 : -1;
}

/* Parses an HTTP-date: IMF-fixdate, RFC 850 or asctime. Returns 0 or -1. */
static int
parse_http_date(const char *s, time_t *out)
{
	char wday[10], mon[4];
	struct tm tm = {0};
	int imf = -1, rfc850 = -1, asc = -1;
	int len = (int)strnlen(s, 64);
	if (sscanf(s, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", wday, &tm.tm_mday, mon,
	           &tm.tm_year, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &imf) == 7 &&
	    imf == len)
		tm.tm_year -= 1900;
	else if (sscanf(s, "%9[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n", wday, &tm.tm_mday,
	                mon, &tm.tm_year, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &rfc850) == 7 &&
	         rfc850 == len)
		tm.tm_year += tm.tm_year < 70 ? 100 : 0;
	else if (sscanf(s, "%3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n", wday, mon, &tm.tm_mday,
	                &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &tm.tm_year, &asc) == 7 &&
	         asc == len)
		tm.tm_year -= 1900;
	else
		return -1;
	tm.tm_mon = month_index(mon);
	if (tm.tm_mon < 0 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour < 0 ||
	    tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_sec < 0 || tm.tm_sec > 60)
		return -1;
	*out = timegm(&tm);
	return 0;
}

/*
 * Whether the entity-tag list (or "*") names etag. With weak comparison W/ tags
 * compare by their opaque part; with strong comparison they never match. A
 * malformed list matches nothing.
 */
static bool
etag_list_match(const char *list, const char *etag, bool weak)
{
	const char *p = list + strspn(list, " \t");
	if (strcmp(p, "*") == 0)
		return true;
	const bool own_weak = strncmp(etag, "W/", 2) == 0;
	if (own_weak && !weak)
		return false;
	etag += own_weak ? 2 : 0;
	size_t etag_len = strlen(etag);
	while (*p) {
		p += strspn(p, " \t,");
		if (*p == '\0')
			break;
		bool is_weak = strncmp(p, "W/", 2) == 0;
		const char *tag = is_weak ? p + 2 : p;
		const char *close = *tag == '"' ? strchr(tag + 1, '"') : NULL;
		if (close == NULL)
			return false;
		size_t n = (size_t)(close + 1 - tag);
		if ((weak || !is_weak) && n == etag_len && memcmp(tag, etag, n) == 0)
			return true;
		p = close + 1 + strspn(close + 1, " \t");
		if (*p != ',' && *p != '\0')
			return false;
	}
	return false;
}

static bool
parse_u64(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (s == *p)
		return false;
	*p = s;
	*out = v;
	return true;
}

static int
compare_ranges(const void *a, const void *b)
{
	const struct byte_range *x = a;
	const struct byte_range *y = b;
	return (x->first > y->first) - (x->first < y->first);
}

/* Sorts ranges and merges the ones that overlap or touch. */
static size_t
merge_ranges(struct byte_range *r, size_t n)
{
	qsort(r, n, sizeof(r[0]), compare_ranges);
	size_t w = 0;
	for (size_t i = 1; i < n; i++) {
		if (r[i].first <= r[w].last + 1) {
			if (r[i].last > r[w].last)
				r[w].last = r[i].last;
		} else {
			r[++w] = r[i];
		}
	}
	return n ? w + 1 : 0;
}

/*
 * Parses "bytes=a-b, c-, -n" against a file of size bytes. Returns RANGE_OK with
 * the satisfiable ranges sorted and merged in r[0, *n), RANGE_UNSATISFIABLE when
 * none is, or RANGE_IGNORE for another unit, a malformed set or more than
 * MAX_RANGES ranges (the whole file is sent then).
 */
static enum range_result
parse_ranges(const char *spec, uint64_t size, struct byte_range *r, size_t *n)
{
	if (strncasecmp(spec, "bytes=", 6) != 0)
		return RANGE_IGNORE;
	const char *p = spec + 6;
	size_t count = 0, specs = 0;
	for (;;) {
		p += strspn(p, " \t,");
		if (*p == '\0')
			break;
		uint64_t first = 0, last = UINT64_MAX, suffix;
		if (++specs > MAX_RANGES)
			return RANGE_IGNORE;
		if (*p == '-') {
			p++;
			if (!parse_u64(&p, &suffix))
				return RANGE_IGNORE;
			if (suffix == 0 || size == 0)
				first = UINT64_MAX;
			else
				first = size > suffix ? size - suffix : 0;
		} else {
			if (!parse_u64(&p, &first) || *p++ != '-')
				return RANGE_IGNORE;
			if (*p >= '0' && *p <= '9' && (!parse_u64(&p, &last) || last < first))
				return RANGE_IGNORE;
		}
		p += strspn(p, " \t");
		if (*p != ',' && *p != '\0')
			return RANGE_IGNORE;
		if (first < size)
			r[count++] = (struct byte_range){first, last < size ? last : size - 1};
	}
	if (specs == 0)
		return RANGE_IGNORE;
	*n = merge_ranges(r, count);
	return count ? RANGE_OK : RANGE_UNSATISFIABLE;
}

static int
validator_headers(struct http_response *resp, const struct file_info *f)
{
	char date[HTTP_DATE_LEN + 1];
	http_date_format(f->st.st_mtime, date);
	int err = http_response_header_str(resp, "Last-Modified", date);
	if (err == 0 && f->vary)
		err = http_response_header_str(resp, "Vary", "Accept-Encoding");
	return err ? err : http_response_header_str(resp, "ETag", f->etag);
}

/*
 * The preconditions in RFC 9110's order: 412 when If-Match (or, without it,
 * If-Unmodified-Since) fails, 304 when If-None-Match (or, without it,
 * If-Modified-Since) says the client's copy is current, else 0.
 */
static int
check_conditions(const struct http_request *req, const struct file_info *f)
{
	time_t t;
	if (req->if_match != NULL) {
		if (!etag_list_match(req->if_match, f->etag, false))
			return 412;
	} else if (req->if_unmodified_since != NULL &&
	           parse_http_date(req->if_unmodified_since, &t) == 0 && f->st.st_mtime > t) {
		return 412;
	}
	if (req->if_none_match != NULL)
		return etag_list_match(req->if_none_match, f->etag, true) ? 304 : 0;
	if (req->if_modified_since != NULL && parse_http_date(req->if_modified_since, &t) == 0 &&
	    f->st.st_mtime <= t)
		return 304;
	return 0;
}

/* Whether If-Range (absent, an ETag or a date) lets the Range header apply. */
static bool
if_range_holds(const struct http_request *req, const struct file_info *f)
{
	time_t t;
	if (req->if_range == NULL)
		return true;
	if (req->if_range[0] == '"' || strncmp(req->if_range, "W/", 2) == 0)
		return strcmp(req->if_range, f->etag) == 0;
	return parse_http_date(req->if_range, &t) == 0 && t == f->st.st_mtime;
}

static void
add_segment(struct http_response *resp, bool from_file, uint64_t off, uint64_t len)
{
	resp->segments[resp->n_segments++] =
	    (struct http_segment){.from_file = from_file, .off = off, .len = len};
}

/* Appends one multipart delimiter with its part headers (or the closing one when r is NULL). */
static int
add_delimiter(struct http_response *resp, const char *boundary, const struct file_info *f,
              const struct byte_range *r)
{
	char buf[512];
	int n = r == NULL
	            ? snprintf(buf, sizeof(buf), "\r\n--%s--\r\n", boundary)
	            : snprintf(buf, sizeof(buf),
	                       "\r\n--%s\r\nContent-Type: %s\r\nContent-Range: bytes "
	                       "%llu-%llu/%llu\r\n\r\n",
	                       boundary, f->type, (unsigned long long)r->first,
	                       (unsigned long long)r->last, (unsigned long long)f->st.st_size);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return KW_ERR_INTERNAL;
	size_t off = kw_buf_size(&resp->mem);
	int err = kw_buf_append(&resp->mem, buf, (size_t)n);
	if (err == 0)
		add_segment(resp, false, off, (size_t)n);
	return err;
}

/* The multipart/byteranges body: each range behind its delimiter, then the closing one. */
static int
multipart_body(struct http_response *resp, const struct file_info *f, const struct byte_range *r,
               size_t n)
{
	unsigned char rnd[8];
	char boundary[2 * sizeof(rnd) + 1];
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return KW_ERR_INTERNAL;
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(boundary + 2 * i, 3, "%02x", rnd[i]);
	int err = 0;
	for (size_t i = 0; i < n && err == 0; i++) {
		err = add_delimiter(resp, boundary, f, &r[i]);
		add_segment(resp, true, r[i].first, r[i].last - r[i].first + 1);
	}
	if (err == 0)
		err = add_delimiter(resp, boundary, f, NULL);
	for (size_t i = 0; i < resp->n_segments; i++)
		resp->body_len += resp->segments[i].len;
	if (err == 0)
		err = http_response_header(resp, "Content-Type",
		                           "multipart/byteranges; boundary=%s", boundary);
	return err;
}

/* resp holds f's file from now on: a reference when the cache shares it, else the descriptor. */
static void
take_file(struct http_response *resp, struct file_info *f)
{
	resp->fd = f->fd;
	if (f->cached != NULL)
		resp->fd_shared = shared_fd_hold(f->cached);
	else
		f->fd = -1;
}

/* Headers and body of a 200 or 206 answer; resp takes the file. */
static int
file_body(struct http_response *resp, const struct http_request *req, struct file_info *f,
          const struct byte_range *r, size_t n)
{
	uint64_t size = (uint64_t)f->st.st_size;
	int err = validator_headers(resp, f);
	if (err == 0)
		err = http_response_header_str(resp, "Accept-Ranges", "bytes");
	if (err == 0 && f->encoding != NULL)
		err = http_response_header_str(resp, "Content-Encoding", f->encoding);
	if (err == 0 && n > 1) {
		err = multipart_body(resp, f, r, n);
	} else if (err == 0) {
		struct byte_range whole = {0, size - 1};
		const struct byte_range *b = n == 1 ? r : &whole;
		resp->body_len = size == 0 ? 0 : b->last - b->first + 1;
		if (n == 1)
			err = http_response_header(resp, "Content-Range", "bytes %llu-%llu/%llu",
			                           (unsigned long long)b->first,
			                           (unsigned long long)b->last,
			                           (unsigned long long)size);
		if (err == 0)
			err = http_response_header_str(resp, "Content-Type", f->type);
		if (resp->body_len > 0 && req->method == HTTP_GET)
			add_segment(resp, true, b->first, resp->body_len);
	}
	if (err == 0)
		err = http_response_header_u64(resp, "Content-Length", resp->body_len);
	if (err == 0)
		take_file(resp, f);
	return err;
}

/* Writes v in lowercase hex without leading zeros; returns the end. */
static char *
put_hex(char *p, uint64_t v)
{
	static const char hex[] = "0123456789abcdef";
	int shift = 60;
	while (shift > 0 && (v >> shift) == 0)
		shift -= 4;
	for (; shift >= 0; shift -= 4)
		*p++ = hex[(v >> shift) & 0xf];
	return p;
}

/*
 * The entity tag "MTIME-SIZE", both in hex, of the file sent; a precompressed
 * variant's ends in "-br" or "-gzip", so that it never equals the identity one. One
 * compressed on the fly is weak ("W/" before it: its bytes are the encoder's, equal
 * in meaning only) and carries the identity file's MTIME-SIZE.
 */
static void
format_etag(struct file_info *f)
{
	char *p = f->etag;
	if (f->on_the_fly)
		p = stpcpy(p, "W/");
	*p++ = '"';
	p = put_hex(p, (uint64_t)f->st.st_mtime);
	*p++ = '-';
	p = put_hex(p, (uint64_t)f->st.st_size);
	if (f->encoding != NULL) {
		*p++ = '-';
		p = stpcpy(p, f->encoding);
	}
	*p++ = '"';
	*p = '\0';
}

/* Content codings keyward sends, in its order of preference among equal q-values. */
static const char *const codings[] = {"br", "gzip"};
static const enum compress_coding compress_codings[] = {COMPRESS_BR, COMPRESS_GZIP};

/*
 * Whether the location compresses f (no precompressed variant) on the fly for req:
 * the type and size qualify (then the answer varies with Accept-Encoding), no Range
 * is asked for, the client accepts br or gzip over identity, and the worker runs
 * fewer compressed streams than lim allows. GET and HEAD take this decision alike,
 * before the conditionals and the ETag, which then describe what is sent.
 */
static void
choose_coding(const struct kw_location *loc, const struct http_request *req,
              const struct compress_limit *lim, struct file_info *f)
{
	size_t order[2];
	if (f->encoding != NULL || !compress_applies(loc, f->type, (uint64_t)f->st.st_size))
		return;
	f->vary = true;
	if (req->range == NULL && !compress_limit_full(lim) &&
	    http_accept_order(req->accept_encoding, codings, 2, order) > 0) {
		f->encoding = codings[order[0]];
		f->on_the_fly = true;
	}
}

/*
 * The 200 of a compressed representation, streamed (its length unknown): resp takes
 * the file, which the compressor reads. choose_coding() saw room in lim.
 */
static int
compressed_body(struct http_response *resp, const struct http_request *req, struct file_info *f,
                const struct kw_location *loc, struct compress_limit *lim)
{
	struct body_producer p = {0};
	enum compress_coding coding = compress_codings[strcmp(f->encoding, codings[0]) != 0];
	if (req->method == HTTP_GET) {
		int err =
		    compress_producer_new(coding, loc, f->fd, (uint64_t)f->st.st_size, lim, &p);
		if (err)
			return err;
	}
	http_response_stream(resp, req, &p);
	take_file(resp, f);
	int err = validator_headers(resp, f);
	if (err == 0)
		err = http_response_header_str(resp, "Content-Type", f->type);
	return err ? err : http_response_header_str(resp, "Content-Encoding", f->encoding);
}

/*
 * Begins the answer from an open regular file: 200, 206, 304, 412 or 416. lim (NULL: none)
 * counts the worker's compressed streams.
 */
static int
respond_file(const struct http_request *req, time_t now, struct file_info *f,
             const struct kw_location *loc, struct compress_limit *lim, struct http_response *resp)
{
	struct byte_range r[MAX_RANGES];
	size_t n = 0;
	enum range_result ranges = RANGE_IGNORE;
	int status = check_conditions(req, f);
	if (status == 0 && req->method == HTTP_GET && req->range != NULL && if_range_holds(req, f))
		ranges = parse_ranges(req->range, (uint64_t)f->st.st_size, r, &n);
	if (status == 0)
		status = ranges == RANGE_OK ? 206 : ranges == RANGE_UNSATISFIABLE ? 416 : 200;
	int err = http_response_begin(resp, status, now);
	if (err == 0 && status == 200 && f->on_the_fly) {
		err = compressed_body(resp, req, f, loc, lim);
	} else if (err == 0 && status == 304) {
		err = validator_headers(resp, f);
	} else if (err == 0 && (status == 200 || status == 206)) {
		err = file_body(resp, req, f, r, n);
	} else if (err == 0 && status == 416)
		err = http_response_header(resp, "Content-Range", "bytes */%llu",
		                           (unsigned long long)f->st.st_size);
	if (err == 0 && (status == 412 || status == 416))
		err = http_response_error_body(resp, req);
	return err;
}

/* Location values carry the decoded path: escape what a header or a URL cannot hold. */
static bool
needs_escape(unsigned char c)
{
	return c <= 0x20 || c >= 0x7f || strchr("\"%?#<>\\^`{|}", c) != NULL;
}

/* Begins the 301 to the directory's path with a slash added, its query kept. */
static int
respond_redirect(const struct http_request *req, time_t now, struct http_response *resp)
{
	size_t len = strlen(req->path);
	size_t qlen = req->query ? strlen(req->query) + 1 : 0;
	char *loc = malloc(3 * len + qlen + 2);
	if (loc == NULL)
		return KW_ERR_NOMEM;
	char *w = loc;
	for (const char *c = req->path; *c; c++)
		w += needs_escape((unsigned char)*c) ? sprintf(w, "%%%02X", (unsigned char)*c)
		                                     : (*w = *c, 1);
	*w++ = '/';
	if (req->query)
		w += sprintf(w, "?%s", req->query);
	*w = '\0';
	int err = http_response_begin(resp, 301, now);
	if (err == 0)
		err = http_response_header_str(resp, "Location", loc);
	free(loc);
	if (err == 0)
		err = http_response_error_body(resp, req);
	return err;
}

/* Where one request looks for its file: the location, its root (opened on first use), the cache. */
struct lookup {
	const struct kw_location *loc;
	struct static_cache *cache; /* NULL: nothing is shared */
	int root;                   /* -1 until opened */
	bool root_cached;           /* root belongs to the cache */
};

/* The location's root directory, opened on first use. Returns 0 or a negative status. */
static int
lookup_root(struct lookup *lk)
{
	if (lk->root >= 0)
		return 0;
	struct static_cache *c = lk->cache;
	for (size_t i = 0; c != NULL && i < c->n_roots; i++) {
		if (c->roots[i].loc == lk->loc) {
			lk->root = c->roots[i].fd;
			lk->root_cached = true;
			return 0;
		}
	}
	lk->root = open(lk->loc->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (lk->root < 0)
		return http_path_errno_status(errno);
	if (c != NULL && c->n_roots < STATIC_CACHE_ROOTS) {
		c->roots[c->n_roots].loc = lk->loc;
		c->roots[c->n_roots++].fd = lk->root;
		lk->root_cached = true;
	}
	return 0;
}

static void
lookup_dispose(struct lookup *lk)
{
	if (lk->root >= 0 && !lk->root_cached)
		close(lk->root);
}

/* Closes f's descriptor unless the cache owns it. */
static void
file_release(struct file_info *f)
{
	if (f->fd >= 0 && f->cached == NULL)
		close(f->fd);
	f->fd = -1;
	f->cached = NULL;
}

/* Opens and stats rel beneath the root into f, or finds it open already; 0, or a negative status.
 */
static int
open_file(struct lookup *lk, const char *rel, struct file_info *f)
{
	struct static_cache *c = lk->cache;
	for (size_t i = 0; c != NULL && i < c->n_files; i++) {
		if (c->files[i].loc == lk->loc && strcmp(c->files[i].rel, rel) == 0) {
			f->fd = c->files[i].file->fd;
			f->st = c->files[i].st;
			f->cached = c->files[i].file;
			return 0;
		}
	}
	int err = lookup_root(lk);
	if (err == 0)
		err = http_path_open_beneath(lk->root, rel, lk->loc->follow_symlinks, &f->fd);
	if (err == 0 && fstat(f->fd, &f->st) < 0)
		err = -500;
	if (err == 0 && c != NULL && c->n_files < STATIC_CACHE_FILES &&
	    strlen(rel) < sizeof(c->files[0].rel)) {
		f->cached = shared_fd_new(f->fd); /* NULL: not cached, f->fd stays f's own */
		if (f->cached != NULL) {
			c->files[c->n_files] = (struct static_cached_file){
			    .loc = lk->loc, .file = f->cached, .st = f->st};
			strcpy(c->files[c->n_files++].rel, rel);
		}
	}
	return err;
}

/*
 * The first index file of the directory rel (ending with '/' or empty) that is a
 * regular file; its path beneath the root goes to found (PATH_MAX bytes). Without
 * one: LISTING when the location lists directories, else -403.
 */
static int
open_index(struct lookup *lk, const char *rel, struct file_info *f, const char **name, char *found)
{
	char *buf = found;
	for (size_t i = 0; i < lk->loc->n_index; i++) {
		if ((size_t)snprintf(buf, PATH_MAX, "%s%s", rel, lk->loc->index[i]) >= PATH_MAX)
			continue;
		int err = open_file(lk, buf, f);
		if (err == 0 && S_ISREG(f->st.st_mode)) {
			*name = lk->loc->index[i];
			return 0;
		}
		file_release(f);
		if (err != 0 && err != -404)
			return err;
	}
	return lk->loc->autoindex ? LISTING : -403;
}

/*
 * Finds the regular file for the request: 0 with f filled, *name the name that
 * gives its type and found (PATH_MAX bytes) its path beneath the root, 301 for a
 * directory named without its slash, LISTING for a directory to list, or a
 * negative status.
 */
static int
open_target(struct lookup *lk, const char *path, const char *rel, struct file_info *f,
            const char **name, char *found)
{
	int err = open_file(lk, rel, f);
	if (err)
		return err;
	*name = path;
	if (S_ISREG(f->st.st_mode) && strlen(rel) < PATH_MAX) {
		strcpy(found, rel);
		return 0;
	}
	bool dir = S_ISDIR(f->st.st_mode);
	file_release(f);
	if (!dir)
		return -404;
	if (path[strlen(path) - 1] != '/')
		return 301;
	return open_index(lk, rel, f, name, found);
}

static const char *const variant_codings[] = {"br", "gzip"};
static const char *const variant_suffixes[] = {".br", ".gz"};

/*
 * Replaces f (the file at rel) with the variant beside it that the request's
 * Accept-Encoding prefers: a regular file rel.br or rel.gz, not older than f. f
 * stays when none is there (a variant that cannot be opened counts as absent).
 */
static void
choose_variant(struct lookup *lk, const struct http_request *req, const char *rel,
               struct file_info *f)
{
	size_t order[2];
	size_t n = http_accept_order(req->accept_encoding, variant_codings, 2, order);
	char buf[PATH_MAX];
	for (size_t i = 0; i < n; i++) {
		struct file_info v = {.fd = -1};
		if ((size_t)snprintf(buf, sizeof(buf), "%s%s", rel, variant_suffixes[order[i]]) >=
		    sizeof(buf))
			continue;
		if (open_file(lk, buf, &v) == 0 && S_ISREG(v.st.st_mode) &&
		    v.st.st_mtime >= f->st.st_mtime) {
			v.type = f->type;
			v.vary = f->vary;
			v.encoding = variant_codings[order[i]];
			file_release(f);
			*f = v;
			return;
		}
		file_release(&v);
	}
}

/*
 * Opens the custom page that srv and loc configure for status into f, resolved as
 * a GET of its uri in srv: the location with the longest prefix, its root, index
 * files and symlink rules, no variant. Returns 0, or a negative status when there
 * is none, or it is not a regular file that opens (the built-in page answers then;
 * this lookup never applies error pages itself, so that nothing loops).
 */
static int
open_error_page(const struct kw_config *cfg, const struct kw_server *srv,
                const struct mime_table *mime, const struct kw_location *loc, int status,
                struct static_cache *cache, struct file_info *f)
{
	const char *uri = error_page_uri(srv, loc, status);
	struct lookup lk = {.cache = cache, .root = -1};
	const char *name = NULL;
	char found[PATH_MAX];
	size_t strip = 0;
	int err = -404;
	lk.loc = uri != NULL ? static_location(srv, uri, &strip) : NULL;
	if (lk.loc != NULL && lk.loc->root != NULL && lk.loc->ret.status == 0) {
		const char *rel = uri + strip;
		err = open_target(&lk, uri, rel + (*rel == '/'), f, &name, found);
	}
	if (err != 0)
		file_release(f);
	if (err == 0)
		f->type = mime_lookup(
		    mime, name, cfg->default_type ? cfg->default_type : "application/octet-stream");
	lookup_dispose(&lk);
	return err > 0 ? -404 : err;
}

/*
 * Makes the page in f the body of resp (begun with its error status): its
 * Content-Type and Content-Length, no validators; resp takes the file.
 */
static int
error_page_body(struct http_response *resp, const struct http_request *req, struct file_info *f)
{
	resp->body_len = (uint64_t)f->st.st_size;
	if (resp->body_len > 0 && req->method != HTTP_HEAD)
		add_segment(resp, true, 0, resp->body_len);
	int err = http_response_header_str(resp, "Content-Type", f->type);
	if (err == 0)
		err = http_response_header_u64(resp, "Content-Length", resp->body_len);
	if (err == 0)
		take_file(resp, f);
	return err;
}

/*
 * Begins the 200 listing the directory rel (opened again to be read; the producer
 * reads it on GET, HEAD only checks that it opens): LISTING, or a negative status,
 * or KW_ERR_NOMEM.
 */
static int
respond_listing(struct lookup *lk, const struct http_request *req, const char *rel, time_t now,
                struct http_response *resp)
{
	struct body_producer p = {0};
	int fd;
	int err = lookup_root(lk);
	if (err == 0)
		err = http_path_open_beneath(lk->root, rel, lk->loc->follow_symlinks, &fd);
	if (err)
		return err;
	if (req->method == HTTP_GET)
		err = autoindex_producer_new(fd, lk->root, rel, req->path, lk->loc,
		                             AUTOINDEX_MAX_ENTRIES, &p);
	else
		close(fd);
	if (err == 0)
		err = http_response_begin(resp, 200, now);
	if (err) {
		body_producer_dispose(&p);
		return err == KW_ERR_NOMEM ? err : -500;
	}
	http_response_stream(resp, req, &p);
	err = http_response_header_str(resp, "Content-Type", autoindex_type(lk->loc));
	return err ? err : LISTING;
}

void
static_respond_cached(const struct kw_config *cfg, const struct kw_server *srv,
                      const struct mime_table *mime, const struct http_request *req, time_t now,
                      struct static_cache *cache, struct http_response *resp)
{
	struct file_info f = {.fd = -1};
	struct file_info page = {.fd = -1};
	struct lookup lk = {.cache = cache, .root = -1};
	const char *name = NULL, *rel = NULL;
	char found[PATH_MAX];
	int err = 0;
	size_t strip = 0;
	lk.loc = static_location(srv, req->path, &strip);
	int status = lk.loc == NULL ? -404 : 0;
	if (lk.loc != NULL && lk.loc->ret.status != 0)
		status = (int)lk.loc->ret.status;
	else if (req->method == HTTP_OTHER)
		status = -405;
	else if (lk.loc != NULL) {
		rel = req->path + strip;
		rel += *rel == '/';
		status = open_target(&lk, req->path, rel, &f, &name, found);
		if (status == LISTING)
			status = respond_listing(&lk, req, rel, now, resp);
	}
	if (status == 0) {
		f.type = mime_lookup(
		    mime, name, cfg->default_type ? cfg->default_type : "application/octet-stream");
		f.vary = lk.loc->precompressed;
		if (f.vary)
			choose_variant(&lk, req, found, &f);
		if (cache != NULL) {
			cache->compress.max = cfg->http.compress_streams;
			choose_coding(lk.loc, req, &cache->compress, &f);
		}
		format_etag(&f);
		err = respond_file(req, now, &f, lk.loc, cache ? &cache->compress : NULL, resp);
	} else if (status == LISTING || status == KW_ERR_NOMEM) {
		err = status == LISTING ? 0 : status;
	} else if (status >= 400 && lk.loc->ret.body == NULL &&
	           open_error_page(cfg, srv, mime, lk.loc, status, cache, &page) == 0) {
		err = http_response_begin(resp, status, now);
		if (err == 0)
			err = error_page_body(resp, req, &page);
	} else if (status > 0 && lk.loc->ret.status != 0) {
		err = fixed_respond(srv, &lk.loc->ret, req, now, resp);
	} else if (status == 301) {
		err = respond_redirect(req, now, resp);
	} else {
		const int saved = errno;

		if (open_error_page(cfg, srv, mime, lk.loc, -status, cache, &page) == 0) {
			err = http_error_head(-status, now, resp);
			if (err == 0)
				err = error_page_body(resp, req, &page);
		} else {
			err = http_error_begin(-status, req, now, resp);
		}
		if (status == -503)
			resp->sys_errno = saved == ENFILE ? ENFILE : EMFILE;
	}
	if (err == 0)
		err = header_rules_apply(resp, srv, lk.loc, req, now);
	if (err == 0)
		err = http_response_end(resp, req);
	if (err)
		http_response_fail(resp, req, now);
	file_release(&f);
	file_release(&page);
	lookup_dispose(&lk);
}

void
static_respond(const struct kw_config *cfg, const struct kw_server *srv,
               const struct mime_table *mime, const struct http_request *req, time_t now,
               struct http_response *resp)
{
	static_respond_cached(cfg, srv, mime, req, now, NULL, resp);
}

void
static_cache_init(struct static_cache *c)
{
	c->n_roots = 0;
	c->n_files = 0;
	c->compress = (struct compress_limit){0};
}

void
static_cache_clear(struct static_cache *c)
{
	for (size_t i = 0; i < c->n_files; i++)
		shared_fd_release(c->files[i].file);
	for (size_t i = 0; i < c->n_roots; i++)
		close(c->roots[i].fd);
	c->n_roots = 0;
	c->n_files = 0;
}

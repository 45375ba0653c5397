/*
 * autoindex.c - directory listings as a body producer: read in bounded steps,
 * sorted, then written an entry at a time (see autoindex.h).
 */
#include "autoindex.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "http_path.h"
#include "json_escape.h"

/* The longest text one entry takes: its name escaped twice (link and text) and the rest. */
#define ENTRY_MAX (9u * NAME_MAX + 256u)

struct entry {
	size_t name; /* offset in names */
	size_t name_len;
	bool dir;
	uint64_t size;
	int64_t mtime;
};

enum stage { READING, HEAD, ENTRIES, FOOT, DONE };

struct autoindex {
	DIR *dir;
	int root;
	char *rel;
	char *head; /* the text before the entries */
	size_t head_len;
	bool json, hidden, follow;
	size_t max_entries;
	struct entry *entries;
	size_t n, cap;
	char *names;
	size_t names_len, names_cap;
	enum stage stage;
	size_t next;         /* the entry to write next */
	const char *pending; /* text made but not yet given out */
	size_t pending_len;
	char out[ENTRY_MAX];
};

const char *
autoindex_type(const struct kw_location *loc)
{
	return strcmp(loc->autoindex_format, "json") == 0 ? "application/json"
	                                                  : "text/html; charset=utf-8";
}

size_t
autoindex_html_escape(char *out, const char *s, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		const char *ref = s[i] == '&'    ? "&amp;"
		                  : s[i] == '<'  ? "&lt;"
		                  : s[i] == '>'  ? "&gt;"
		                  : s[i] == '"'  ? "&quot;"
		                  : s[i] == '\'' ? "&#39;"
		                                 : NULL;
		if (ref == NULL) {
			out[o++] = s[i];
		} else {
			size_t n = strlen(ref);
			memcpy(out + o, ref, n);
			o += n;
		}
	}
	return o;
}

static bool
unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

size_t
autoindex_percent_encode(char *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (unreserved(c)) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0xf];
		}
	}
	return o;
}

/* Directories first, then names bytewise. */
static int
compare_entries(const void *a, const void *b, void *names)
{
	const struct entry *x = a;
	const struct entry *y = b;
	if (x->dir != y->dir)
		return x->dir ? -1 : 1;
	return strcmp((const char *)names + x->name, (const char *)names + y->name);
}

/*
 * What name in the directory shows as: 0 with *st filled (a regular file or a
 * directory, a symlink's target when the location follows it), or -1: leave it out.
 */
static int
entry_stat(struct autoindex *a, const char *name, struct stat *st)
{
	if (fstatat(dirfd(a->dir), name, st, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	if (S_ISLNK(st->st_mode)) {
		char rel[PATH_MAX];
		int fd;
		if (!a->follow ||
		    (size_t)snprintf(rel, sizeof(rel), "%s%s", a->rel, name) >= sizeof(rel) ||
		    http_path_open_beneath(a->root, rel, true, &fd) != 0)
			return -1;
		int err = fstat(fd, st);
		close(fd);
		if (err < 0)
			return -1;
	}
	return S_ISREG(st->st_mode) || S_ISDIR(st->st_mode) ? 0 : -1;
}

/* Keeps name with st's facts. Returns 0, KW_ERR_STATE past the bounds, KW_ERR_NOMEM. */
static int
add_entry(struct autoindex *a, const char *name, const struct stat *st)
{
	size_t len = strlen(name);
	if (a->n >= a->max_entries || a->names_len + len + 1 > AUTOINDEX_MAX_NAME_BYTES)
		return KW_ERR_STATE;
	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 64;
		struct entry *e = realloc(a->entries, cap * sizeof(*e));
		if (e == NULL)
			return KW_ERR_NOMEM;
		a->entries = e;
		a->cap = cap;
	}
	if (a->names_len + len + 1 > a->names_cap) {
		size_t cap = a->names_cap ? 2 * a->names_cap : 4096;
		while (cap < a->names_len + len + 1)
			cap *= 2;
		char *n = realloc(a->names, cap);
		if (n == NULL)
			return KW_ERR_NOMEM;
		a->names = n;
		a->names_cap = cap;
	}
	memcpy(a->names + a->names_len, name, len + 1);
	a->entries[a->n++] = (struct entry){.name = a->names_len,
	                                    .name_len = len,
	                                    .dir = S_ISDIR(st->st_mode),
	                                    .size = (uint64_t)st->st_size,
	                                    .mtime = (int64_t)st->st_mtime};
	a->names_len += len + 1;
	return 0;
}

/* Reads up to AUTOINDEX_READ_STEP entries; at the end sorts them and moves on to HEAD. */
static int
read_step(struct autoindex *a)
{
	for (unsigned i = 0; i < AUTOINDEX_READ_STEP; i++) {
		errno = 0;
		struct dirent *d = readdir(a->dir);
		if (d == NULL) {
			if (errno != 0)
				return KW_ERR_INTERNAL;
			qsort_r(a->entries, a->n, sizeof(a->entries[0]), compare_entries, a->names);
			a->stage = HEAD;
			return 0;
		}
		const char *name = d->d_name;
		struct stat st;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
		    (name[0] == '.' && !a->hidden) || entry_stat(a, name, &st) != 0)
			continue;
		int err = add_entry(a, name, &st);
		if (err)
			return err;
	}
	return 0;
}

/* One entry's text into a->out. */
static size_t
format_entry(struct autoindex *a, const struct entry *e, bool first)
{
	const char *name = a->names + e->name;
	char *o = a->out;
	if (a->json) {
		o += sprintf(o, "%s{\"name\":\"", first ? "" : ",\n");
		o += json_escape(o, name, e->name_len);
		o += sprintf(o, "\",\"type\":\"%s\",\"size\":%" PRIu64 ",\"mtime\":%" PRId64 "}",
		             e->dir ? "directory" : "file", e->size, e->mtime);
		return (size_t)(o - a->out);
	}
	char date[32] = "-";
	struct tm tm;
	time_t t = (time_t)e->mtime;
	if (gmtime_r(&t, &tm) != NULL)
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M", &tm);
	const char *slash = e->dir ? "/" : "";
	o = stpcpy(o, "<tr><td><a href=\"");
	o += autoindex_percent_encode(o, name, e->name_len);
	o = stpcpy(stpcpy(o, slash), "\">");
	o += autoindex_html_escape(o, name, e->name_len);
	o += sprintf(o, "%s</a></td><td>%s</td><td>", slash, date);
	if (e->dir)
		o = stpcpy(o, "-");
	else
		o += sprintf(o, "%" PRIu64, e->size);
	o = stpcpy(o, "</td></tr>\n");
	return (size_t)(o - a->out);
}

/* Sets the text that follows what was given out, or moves to DONE. */
static void
next_text(struct autoindex *a)
{
	static const char html_foot[] = "</table>\n</body>\n</html>\n";
	static const char json_foot[] = "\n]\n";
	switch (a->stage) {
	case HEAD:
		a->pending = a->head;
		a->pending_len = a->head_len;
		a->stage = ENTRIES;
		break;
	case ENTRIES:
		if (a->next < a->n) {
			a->pending = a->out;
			a->pending_len = format_entry(a, &a->entries[a->next], a->next == 0);
			a->next++;
			break;
		}
		a->stage = FOOT;
		/* fall through */
	case FOOT:
		a->pending = a->json ? json_foot : html_foot;
		a->pending_len = a->json ? sizeof(json_foot) - 1 : sizeof(html_foot) - 1;
		a->stage = DONE;
		break;
	case READING:
	case DONE:
		break;
	}
}

static int
produce(void *ctx, uint8_t *buf, size_t cap, struct body_step *step)
{
	struct autoindex *a = ctx;
	*step = (struct body_step){0};
	if (a->stage == READING) {
		int err = read_step(a);
		if (err || a->stage == READING)
			return err;
	}
	while (step->len < cap && (a->pending_len > 0 || a->stage != DONE)) {
		if (a->pending_len == 0) {
			next_text(a);
			continue;
		}
		size_t n = a->pending_len < cap - step->len ? a->pending_len : cap - step->len;
		memcpy(buf + step->len, a->pending, n);
		step->len += n;
		a->pending += n;
		a->pending_len -= n;
	}
	step->end = a->pending_len == 0 && a->stage == DONE;
	return 0;
}

static void
dispose(void *ctx)
{
	struct autoindex *a = ctx;
	if (a->dir != NULL)
		closedir(a->dir);
	if (a->root >= 0)
		close(a->root);
	free(a->rel);
	free(a->head);
	free(a->entries);
	free(a->names);
	free(a);
}

/* The text before the entries: the HTML page's head with the parent link, or "[". */
static int
make_head(struct autoindex *a, const char *path, bool parent)
{
	if (a->json) {
		a->head = strdup("[\n");
		a->head_len = 2;
		return a->head ? 0 : KW_ERR_NOMEM;
	}
	static const char parent_row[] =
	    "<tr><td><a href=\"../\">../</a></td><td></td><td>-</td></tr>\n";
	size_t len = strlen(path);
	char *title = malloc(6 * len + 1);
	if (title == NULL)
		return KW_ERR_NOMEM;
	title[autoindex_html_escape(title, path, len)] = '\0';
	int n =
	    asprintf(&a->head,
	             "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>Index of "
	             "%s</title></head>\n<body>\n<h1>Index of %s</h1>\n<table>\n<tr><th>Name</th>"
	             "<th>Last modified (UTC)</th><th>Size</th></tr>\n%s",
	             title, title, parent ? parent_row : "");
	free(title);
	if (n < 0) {
		a->head = NULL;
		return KW_ERR_NOMEM;
	}
	a->head_len = (size_t)n;
	return 0;
}

int
autoindex_producer_new(int dir_fd, int root_fd, const char *rel, const char *path,
                       const struct kw_location *loc, size_t max_entries, struct body_producer *out)
{
	struct autoindex *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		close(dir_fd);
		return KW_ERR_NOMEM;
	}
	a->root = fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
	a->dir = fdopendir(dir_fd);
	if (a->dir == NULL)
		close(dir_fd);
	a->rel = strdup(rel);
	a->json = strcmp(loc->autoindex_format, "json") == 0;
	a->hidden = loc->autoindex_hidden;
	a->follow = loc->follow_symlinks;
	a->max_entries = max_entries;
	int err = a->root < 0 || a->dir == NULL ? KW_ERR_INTERNAL : a->rel ? 0 : KW_ERR_NOMEM;
	if (err == 0)
		err = make_head(a, path, rel[0] != '\0');
	if (err) {
		dispose(a);
		return err;
	}
	*out = (struct body_producer){.produce = produce, .dispose = dispose, .ctx = a};
	return 0;
}

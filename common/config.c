/*
 * config.c - reads keyward's libconfig file into a struct kw_config and checks all of it.
 *
 * Each section (top level, signer, http, a server, a listen entry, a location) is a table of
 * keys: kind, field, range and default. One loader walks a table: it rejects unknown keys and
 * missing required ones, checks each value's type, range and form, applies defaults and copies
 * every string out of libconfig. Lists of groups (servers, listen, locations) have handlers
 * that also deduplicate listeners and keys.
 *
 * Rules:
 * - kw_config_load_file() reads the whole file and hands the text to kw_config_load_string().
 * - The file's absolute path is the given path, made absolute against the current directory
 *   ("." components and repeated '/' dropped, symlinks kept). Relative paths in the file and
 *   @include names resolve against the file's directory.
 * - Durations: an integer is milliseconds; a string is a number with a unit: "500ms", "10s",
 *   "1m", "2h". Sizes: an integer is bytes; a string is a number with an optional "k", "m" or
 *   "g" suffix (powers of 1024). libconfig 1.5 silently truncates integer literals over
 *   2147483647 unless they end in 'L': write "5g", not 5368709120.
 * - pid_file defaults to KW_RUNSTATEDIR/keyward.pid for a process running as root, and to
 *   keyward.pid in the config file's directory otherwise.
 * - Location roots must be existing directories and are stored canonical (realpath).
 *   Certificates and chain files must hold a PEM certificate; their text is kept in
 *   cfg->files, which the master passes to children in the snapshot, so that a child reads
 *   none of them. certificate_key is never opened here: only the signer reads private keys.
 * - Failures return KW_ERR_ARGUMENT (KW_ERR_NOMEM, KW_ERR_INTERNAL for getcwd) with
 *   "FILE:LINE: message" in err; FILE is the path as the caller gave it, or the included file.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libconfig.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "err.h"
#include "header_check.h"
#include "kw_build_config.h"
#include "log.h"
#include "url_vars.h"

#define MAX_THREADS   64
#define MAX_FILE_SIZE (16u << 20)
#define DAY_MS        86400000u
#define COUNT_OF(a)   (sizeof(a) / sizeof((a)[0]))

struct loader {
	struct kw_config *cfg;
	const char *name; /* the file as the caller named it, for messages */
	char *err;
	size_t err_len;
	const struct kw_file *given; /* from a snapshot: certificates come from here only */
	size_t n_given;
	bool snapshot;
};

enum kind {
	KIND_BOOL,
	KIND_UINT,     /* integer */
	KIND_PORT,     /* integer, stored as uint16_t */
	KIND_COUNT,    /* integer or "auto" (online CPUs, at most max) */
	KIND_DURATION, /* milliseconds, or a string with a unit */
	KIND_SIZE,     /* bytes, or a string with an optional k/m/g suffix; unsigned */
	KIND_SIZE64,   /* the same, stored as uint64_t */
	KIND_STRING,   /* any non-empty string, passed through key.check */
	KIND_PATH,     /* made absolute */
	KIND_LOG,      /* "stderr" or a path */
	KIND_OFF_PATH, /* "off" (stored as NULL) or a path */
	KIND_PEM,      /* path of a readable PEM certificate */
	KIND_DIR,      /* existing directory, stored canonical */
	KIND_LIST,     /* a string or an array of strings (KIND_STRING each) */
	KIND_PEM_LIST, /* the same, KIND_PEM each */
	KIND_GROUP,    /* a nested section */
	KIND_GROUPS, /* a non-empty list of groups, each a key.sub section: an array (key.groups) */
	KIND_CUSTOM, /* handled by key.load */
};

struct section;
struct group_array;

struct key {
	const char *name;
	enum kind kind;
	size_t offset;       /* of the field in the section's struct */
	size_t count_offset; /* KIND_LIST, KIND_PEM_LIST, KIND_GROUPS: of the size_t count */
	size_t line_offset;  /* when not 0: of an int that receives the setting's line */
	uint64_t min, max;   /* numeric kinds */
	uint64_t num;        /* default of numeric kinds and KIND_BOOL */
	const char *text;    /* default of string kinds (the one element of a list), or NULL */
	bool required;
	const char *(*check)(const char *value); /* NULL or why value is wrong */
	const struct section *sub;               /* KIND_GROUP, KIND_GROUPS */
	const struct group_array *groups;        /* KIND_GROUPS */
	int (*load)(struct loader *ld, const config_setting_t *s, void *base); /* KIND_CUSTOM */
};

/*
 * The elements of a KIND_GROUPS array: elem_size bytes each, the source line in an
 * int at line_offset; check (NULL: none) sees each once its section is loaded, with
 * the array's owner and the element's index.
 */
struct group_array {
	size_t elem_size, line_offset;
	int (*check)(struct loader *ld, const config_setting_t *e, void *base, size_t i);
};

struct section {
	const char *where; /* appended to messages: "" or " in signer" */
	const struct key *keys;
	size_t n_keys;
};

struct unit {
	const char *suffix;
	uint64_t scale;
};

static const struct unit duration_units[] = {
    {"ms", 1},
    {"s", 1000},
    {"m", 60000},
    {"h", 3600000},
};

static const struct unit size_units[] = {
    {"", 1},         {"k", 1024},     {"K", 1024},     {"m", 1u << 20},
    {"M", 1u << 20}, {"g", 1u << 30}, {"G", 1u << 30},
};

static int load_section(struct loader *ld, const config_setting_t *grp, const struct section *sec,
                        void *base);
static int load_groups(struct loader *ld, const config_setting_t *s, const struct key *k,
                       void *base);

static int vfail_at(struct loader *ld, const char *file, int line, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static int
vfail_at(struct loader *ld, const char *file, int line, const char *fmt, va_list ap)
{
	bool relative = file != NULL && file[0] != '/';
	int n;

	if (ld->err_len == 0)
		return KW_ERR_ARGUMENT;
	n = snprintf(ld->err, ld->err_len, "%s%s%s:%d: ", relative ? ld->cfg->dir : "",
	             relative ? "/" : "", file != NULL ? file : ld->name, line > 0 ? line : 1);
	if (n > 0 && (size_t)n < ld->err_len)
		vsnprintf(ld->err + n, ld->err_len - (size_t)n, fmt, ap);
	return KW_ERR_ARGUMENT;
}

static int fail_at(struct loader *ld, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
fail_at(struct loader *ld, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail_at(ld, file, line, fmt, ap);
	va_end(ap);
	return KW_ERR_ARGUMENT;
}

/* Writes "FILE:LINE: message" for setting s and returns KW_ERR_ARGUMENT. */
static int fail(struct loader *ld, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct loader *ld, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail_at(ld, config_setting_source_file(s), (int)config_setting_source_line(s), fmt, ap);
	va_end(ap);
	return KW_ERR_ARGUMENT;
}

static int
nomem(struct loader *ld)
{
	if (ld->err_len > 0)
		snprintf(ld->err, ld->err_len, "%s: out of memory", ld->name);
	return KW_ERR_NOMEM;
}

static const char *
type_name(const config_setting_t *s)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_GROUP:
		return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a float";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_ARRAY:
		return "an array";
	case CONFIG_TYPE_LIST:
		return "a list";
	}
	return "nothing";
}

static const char *
expected(enum kind kind)
{
	switch (kind) {
	case KIND_BOOL:
		return "true or false";
	case KIND_UINT:
	case KIND_PORT:
		return "an integer";
	case KIND_COUNT:
		return "an integer or \"auto\"";
	case KIND_DURATION:
		return "milliseconds or a duration such as \"10s\" or \"500ms\"";
	case KIND_SIZE:
	case KIND_SIZE64:
		return "bytes or a size such as \"64k\" or \"1m\"";
	case KIND_STRING:
	case KIND_PATH:
	case KIND_LOG:
	case KIND_OFF_PATH:
	case KIND_PEM:
	case KIND_DIR:
		return "a string";
	case KIND_LIST:
	case KIND_PEM_LIST:
		return "a string or an array of strings";
	case KIND_GROUP:
		return "a group { ... }";
	case KIND_GROUPS:
	case KIND_CUSTOM:
		return "a list ( { ... }, ... )";
	}
	return "something else";
}

static int
wrong_type(struct loader *ld, const config_setting_t *s, const char *name, enum kind kind)
{
	return fail(ld, s, "'%s' must be %s, not %s", name, expected(kind), type_name(s));
}

/* Drops "." components and repeated '/' from an absolute path, in place; keeps "..". */
static void
path_clean(char *p)
{
	char *w = p;
	const char *r = p;

	while (*r != '\0') {
		if (r[0] == '/' && r[1] == '/')
			r++;
		else if (r[0] == '/' && r[1] == '.' && (r[2] == '/' || r[2] == '\0'))
			r += 2;
		else
			*w++ = *r++;
	}
	if (w == p)
		*w++ = '/';
	*w = '\0';
}

/* Joins a path to dir unless it is absolute, and cleans it. */
static int
make_path(struct loader *ld, const char *dir, const char *path, char **out)
{
	int n = path[0] == '/' ? asprintf(out, "%s", path) : asprintf(out, "%s/%s", dir, path);

	if (n < 0) {
		*out = NULL;
		return nomem(ld);
	}
	path_clean(*out);
	return 0;
}

static int
set_file_paths(struct loader *ld, const char *path)
{
	struct kw_config *cfg = ld->cfg;
	char *cwd = NULL;
	char *slash;
	int ret;

	if (path[0] == '\0') {
		ret = KW_ERR_ARGUMENT;
		if (ld->err_len > 0)
			snprintf(ld->err, ld->err_len, "empty configuration file name");
		goto out;
	}
	if (path[0] != '/') {
		cwd = getcwd(NULL, 0);
		if (cwd == NULL) {
			ret = KW_ERR_INTERNAL;
			if (ld->err_len > 0)
				snprintf(ld->err, ld->err_len,
				         "%s: cannot get the current directory: %s", path,
				         strerror(errno));
			goto out;
		}
	}
	ret = make_path(ld, cwd, path, &cfg->path);
	if (ret != 0)
		goto out;
	slash = strrchr(cfg->path, '/');
	cfg->dir = strndup(cfg->path, slash == cfg->path ? 1 : (size_t)(slash - cfg->path));
	if (cfg->dir == NULL)
		ret = nomem(ld);
out:
	free(cwd);
	return ret;
}

/* Parses "<digits><suffix>" with suffix one of units. Returns 0 or -1. */
static int
parse_scaled(const char *text, const struct unit *units, size_t n_units, uint64_t *value)
{
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)text[0]))
		return -1;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno != 0)
		return -1;
	for (size_t i = 0; i < n_units; i++) {
		if (strcmp(end, units[i].suffix) == 0) {
			if (v > UINT64_MAX / units[i].scale)
				return -1;
			*value = v * units[i].scale;
			return 0;
		}
	}
	return -1;
}

static unsigned
online_cpus(uint64_t max)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return (uint64_t)n > max ? (unsigned)max : (unsigned)n;
}

static void
store_number(const struct key *k, void *field, uint64_t v)
{
	switch (k->kind) {
	case KIND_BOOL:
		*(bool *)field = v != 0;
		break;
	case KIND_PORT:
		*(uint16_t *)field = (uint16_t)v;
		break;
	case KIND_SIZE64:
		*(uint64_t *)field = v;
		break;
	default:
		*(unsigned *)field = (unsigned)v;
		break;
	}
}

/* Parses the string form of a count, duration or size. Returns 0 or -1. */
static int
parse_number_text(const struct key *k, const char *text, uint64_t *v)
{
	switch (k->kind) {
	case KIND_COUNT:
		if (strcmp(text, "auto") != 0)
			return -1;
		*v = online_cpus(k->max);
		return 0;
	case KIND_DURATION:
		return parse_scaled(text, duration_units, COUNT_OF(duration_units), v);
	default:
		return parse_scaled(text, size_units, COUNT_OF(size_units), v);
	}
}

static int
load_number(struct loader *ld, const config_setting_t *s, const struct key *k, void *field)
{
	const char *unit = k->kind == KIND_DURATION                         ? " ms"
	                   : k->kind == KIND_SIZE || k->kind == KIND_SIZE64 ? " bytes"
	                                                                    : "";
	const char *text;
	uint64_t v;

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		if (config_setting_get_int64(s) < 0)
			return fail(ld, s, "'%s' must not be negative", k->name);
		v = (uint64_t)config_setting_get_int64(s);
		break;
	case CONFIG_TYPE_STRING:
		if (k->kind == KIND_UINT || k->kind == KIND_PORT)
			return wrong_type(ld, s, k->name, k->kind);
		text = config_setting_get_string(s);
		if (parse_number_text(k, text, &v) != 0)
			return fail(ld, s, "'%s' = \"%s\": must be %s", k->name, text,
			            expected(k->kind));
		break;
	default:
		return wrong_type(ld, s, k->name, k->kind);
	}
	if (v < k->min || v > k->max)
		return fail(ld, s, "'%s' must be between %" PRIu64 " and %" PRIu64 "%s", k->name,
		            k->min, k->max, unit);
	store_number(k, field, v);
	return 0;
}

static int read_stream(FILE *f, const char *path, char **text, char *err, size_t err_len);

static const char *
find_file(const struct kw_file *files, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(files[i].path, path) == 0)
			return files[i].text;
	return NULL;
}

const char *
kw_config_file_text(const struct kw_config *cfg, const char *path)
{
	return find_file(cfg->files, cfg->n_files, path);
}

/* The text of certificate file path: captured already, given by the snapshot, or read. */
static int
capture_pem(struct loader *ld, const config_setting_t *s, const char *name, const char *path,
            char **text)
{
	const char *given;
	char why[256];
	FILE *f;

	if (!ld->snapshot) {
		f = fopen(path, "re");
		if (f == NULL)
			return fail(ld, s, "'%s': cannot open %s: %s", name, path, strerror(errno));
		if (read_stream(f, path, text, why, sizeof why) != 0)
			return fail(ld, s, "'%s': %s", name, why);
		return 0;
	}
	given = find_file(ld->given, ld->n_given, path);
	if (given == NULL)
		return fail(ld, s, "'%s': %s is not in the configuration snapshot", name, path);
	*text = strdup(given);
	return *text != NULL ? 0 : nomem(ld);
}

static int
check_pem(struct loader *ld, const config_setting_t *s, const char *name, const char *path)
{
	struct kw_config *cfg = ld->cfg;
	struct kw_file *files;
	char *text = NULL;
	BIO *bio;
	X509 *x;
	int ret;

	if (kw_config_file_text(cfg, path) != NULL)
		return 0;
	ret = capture_pem(ld, s, name, path, &text);
	if (ret != 0)
		return ret;
	bio = BIO_new_mem_buf(text, -1);
	x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (x == NULL) {
		ERR_clear_error();
		free(text);
		return fail(ld, s, "'%s': %s holds no PEM certificate", name, path);
	}
	X509_free(x);
	files = reallocarray(cfg->files, cfg->n_files + 1, sizeof *files);
	if (files == NULL) {
		free(text);
		return nomem(ld);
	}
	cfg->files = files;
	files[cfg->n_files].path = strdup(path);
	files[cfg->n_files].text = text;
	if (files[cfg->n_files++].path == NULL)
		return nomem(ld);
	return 0;
}

static int
check_dir(struct loader *ld, const config_setting_t *s, const char *name, char **path)
{
	struct stat st;
	char *real = realpath(*path, NULL);

	if (real == NULL)
		return fail(ld, s, "'%s': %s: %s", name, *path, strerror(errno));
	free(*path);
	*path = real;
	if (stat(real, &st) != 0 || !S_ISDIR(st.st_mode))
		return fail(ld, s, "'%s': %s is not a directory", name, real);
	return 0;
}

/* Checks one string value and stores its copy (or NULL for "off") into *dst. */
static int
store_text(struct loader *ld, const config_setting_t *s, const struct key *k, enum kind kind,
           const char *text, char **dst)
{
	const char *why;
	int ret;

	if (text[0] == '\0')
		return fail(ld, s, "'%s' must not be empty", k->name);
	for (const char *p = text; *p != '\0'; p++)
		if (iscntrl((unsigned char)*p))
			return fail(ld, s, "'%s' contains a control character", k->name);
	why = k->check != NULL ? k->check(text) : NULL;
	if (why != NULL)
		return fail(ld, s, "'%s' = \"%s\": %s", k->name, text, why);

	switch (kind) {
	case KIND_LOG:
		if (strcmp(text, "stderr") != 0)
			return make_path(ld, ld->cfg->dir, text, dst);
		break;
	case KIND_OFF_PATH:
		if (strcmp(text, "off") == 0)
			return 0;
		return make_path(ld, ld->cfg->dir, text, dst);
	case KIND_PATH:
		return make_path(ld, ld->cfg->dir, text, dst);
	case KIND_PEM:
		ret = make_path(ld, ld->cfg->dir, text, dst);
		return ret != 0 ? ret : check_pem(ld, s, k->name, *dst);
	case KIND_DIR:
		ret = make_path(ld, ld->cfg->dir, text, dst);
		return ret != 0 ? ret : check_dir(ld, s, k->name, dst);
	default:
		break;
	}
	*dst = strdup(text);
	return *dst != NULL ? 0 : nomem(ld);
}

static int
load_list(struct loader *ld, const config_setting_t *s, const struct key *k, void *base)
{
	char ***list = (char ***)((char *)base + k->offset);
	size_t *count = (size_t *)((char *)base + k->count_offset);
	enum kind kind = k->kind == KIND_PEM_LIST ? KIND_PEM : KIND_STRING;
	bool single = config_setting_type(s) == CONFIG_TYPE_STRING;
	int n = single ? 1 : config_setting_length(s);
	int ret;

	if (!single && !config_setting_is_array(s) && !config_setting_is_list(s))
		return wrong_type(ld, s, k->name, k->kind);
	if (n == 0)
		return 0;
	*list = calloc((size_t)n, sizeof **list);
	if (*list == NULL)
		return nomem(ld);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = single ? s : config_setting_get_elem(s, (unsigned)i);

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return wrong_type(ld, e, k->name, k->kind);
		(*count)++;
		ret = store_text(ld, e, k, kind, config_setting_get_string(e), &(*list)[i]);
		if (ret != 0)
			return ret;
	}
	return 0;
}

static int
load_key(struct loader *ld, const config_setting_t *s, const struct key *k, void *base)
{
	void *field = (char *)base + k->offset;

	switch (k->kind) {
	case KIND_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			return wrong_type(ld, s, k->name, k->kind);
		store_number(k, field, (uint64_t)config_setting_get_bool(s));
		return 0;
	case KIND_UINT:
	case KIND_PORT:
	case KIND_COUNT:
	case KIND_DURATION:
	case KIND_SIZE:
	case KIND_SIZE64:
		return load_number(ld, s, k, field);
	case KIND_STRING:
	case KIND_PATH:
	case KIND_LOG:
	case KIND_OFF_PATH:
	case KIND_PEM:
	case KIND_DIR:
		if (config_setting_type(s) != CONFIG_TYPE_STRING)
			return wrong_type(ld, s, k->name, k->kind);
		return store_text(ld, s, k, k->kind, config_setting_get_string(s), field);
	case KIND_LIST:
	case KIND_PEM_LIST:
		return load_list(ld, s, k, base);
	case KIND_GROUP:
		if (!config_setting_is_group(s))
			return wrong_type(ld, s, k->name, k->kind);
		return load_section(ld, s, k->sub, base);
	case KIND_GROUPS:
		return load_groups(ld, s, k, base);
	case KIND_CUSTOM:
		return k->load(ld, s, base);
	}
	return KW_ERR_INTERNAL;
}

static int
load_default(struct loader *ld, const config_setting_t *grp, const struct key *k, void *base)
{
	void *field = (char *)base + k->offset;
	char ***list = field;

	switch (k->kind) {
	case KIND_GROUP:
		return load_section(ld, NULL, k->sub, base);
	case KIND_LIST:
	case KIND_PEM_LIST:
		if (k->text == NULL)
			return 0;
		*list = calloc(1, sizeof **list);
		if (*list == NULL || ((*list)[0] = strdup(k->text)) == NULL)
			return nomem(ld);
		*(size_t *)((char *)base + k->count_offset) = 1;
		return 0;
	case KIND_STRING:
	case KIND_PATH:
	case KIND_LOG:
	case KIND_OFF_PATH:
	case KIND_PEM:
	case KIND_DIR:
		return k->text != NULL ? store_text(ld, grp, k, k->kind, k->text, field) : 0;
	case KIND_GROUPS:
	case KIND_CUSTOM:
		return 0;
	default:
		store_number(k, field, k->num);
		return 0;
	}
}

static int
load_section(struct loader *ld, const config_setting_t *grp, const struct section *sec, void *base)
{
	int ret;

	for (int i = 0; grp != NULL && i < config_setting_length(grp); i++) {
		const config_setting_t *m = config_setting_get_elem(grp, (unsigned)i);
		size_t j = 0;

		while (j < sec->n_keys && strcmp(sec->keys[j].name, config_setting_name(m)) != 0)
			j++;
		if (j == sec->n_keys)
			return fail(ld, m, "unknown key '%s'%s", config_setting_name(m),
			            sec->where);
	}
	for (size_t i = 0; i < sec->n_keys; i++) {
		const struct key *k = &sec->keys[i];
		const config_setting_t *s =
		    grp != NULL ? config_setting_get_member(grp, k->name) : NULL;

		if (s == NULL && k->required)
			return fail(ld, grp, "missing '%s'%s", k->name, sec->where);
		ret = s != NULL ? load_key(ld, s, k, base) : load_default(ld, grp, k, base);
		if (ret != 0)
			return ret;
		if (s != NULL && k->line_offset != 0)
			*(int *)((char *)base + k->line_offset) = (int)config_setting_source_line(s);
	}
	return 0;
}

/* Checks that s is a non-empty list of groups; returns its length or a negative code. */
static int
group_list(struct loader *ld, const config_setting_t *s)
{
	int n = config_setting_length(s);

	if (!config_setting_is_list(s))
		return wrong_type(ld, s, config_setting_name(s), KIND_CUSTOM);
	if (n == 0)
		return fail(ld, s, "'%s' must not be empty", config_setting_name(s));
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);

		if (!config_setting_is_group(e))
			return fail(ld, e, "each entry of '%s' must be a group { ... }, not %s",
			            config_setting_name(s), type_name(e));
	}
	return n;
}

static const char *
check_log_level(const char *value)
{
	enum kw_log_level level;

	return kw_log_level_parse(value, &level) == 0
	           ? NULL
	           : "must be one of error, warn, notice, info, debug";
}

static const char *
check_autoindex_format(const char *value)
{
	return strcmp(value, "html") == 0 || strcmp(value, "json") == 0
	           ? NULL
	           : "must be \"html\" or \"json\"";
}

static const char *
check_log_format(const char *value)
{
	return strcmp(value, "combined") == 0 || strcmp(value, "json") == 0
	           ? NULL
	           : "must be \"combined\" or \"json\"";
}

static const char *
check_mime_type(const char *value)
{
	return strchr(value, '/') != NULL ? NULL : "is not a MIME type (type/subtype)";
}

static const char *
check_host(const char *value)
{
	const char *p = strncmp(value, "*.", 2) == 0 ? value + 2 : value;

	if (strlen(value) > 253 || *p == '\0')
		return "is not a host name";
	for (; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("-._", *p) == NULL)
			return "is not a host name or a \"*.domain\" pattern";
	return NULL;
}

static const char *
check_prefix(const char *value)
{
	return value[0] == '/' ? NULL : "must start with '/'";
}

static const char *
check_file_name(const char *value)
{
	if (strchr(value, '/') != NULL || strcmp(value, ".") == 0 || strcmp(value, "..") == 0)
		return "must be a file name, without '/'";
	return NULL;
}

const char *
kw_tls_name(enum kw_tls tls)
{
	switch (tls) {
	case KW_TLS_NONE:
		return "plain";
	case KW_TLS_TOY:
		return "toy-TLS";
	case KW_TLS_TLS13:
		return "TLS 1.3";
	}
	return "unknown";
}

static int
load_tls(struct loader *ld, const config_setting_t *s, void *base)
{
	struct kw_listener *l = base;

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return wrong_type(ld, s, "tls", KIND_STRING);
	const char *value = config_setting_get_string(s);
	if (strcmp(value, "toy") == 0)
		l->tls = KW_TLS_TOY;
	else if (strcmp(value, "tls13") == 0)
		l->tls = KW_TLS_TLS13;
	else
		return fail(ld, s,
		            "'tls' = \"%s\": must be \"toy\" or \"tls13\" (leave 'tls' out for "
		            "plain HTTP)",
		            value);
	return 0;
}

/* expires: a lifetime of at most ten years ("max" is nginx's ten years too). */
#define EXPIRES_MAX_S 315360000u

static const struct unit expires_units[] = {
    {"", 1}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400},
};

/* expires = "off" | "epoch" | "max" | seconds | "N[smhd]" into rules. */
static int
load_expires(struct loader *ld, const config_setting_t *s, struct kw_header_rules *rules)
{
	static const char why[] = "'expires' must be \"off\", \"epoch\", \"max\", or a lifetime "
	                          "of at most 10 years: seconds or a string with s, m, h or d";
	uint64_t v;

	if (config_setting_type(s) == CONFIG_TYPE_INT) {
		int n = config_setting_get_int(s);
		if (n < 0 || (uint64_t)n > EXPIRES_MAX_S)
			return fail(ld, s, "%s", why);
		v = (uint64_t)n;
	} else if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		const char *text = config_setting_get_string(s);
		if (strcmp(text, "off") == 0) {
			rules->expires = KW_EXPIRES_OFF;
			return 0;
		}
		if (strcmp(text, "epoch") == 0 || strcmp(text, "max") == 0) {
			rules->expires = text[0] == 'e' ? KW_EXPIRES_EPOCH : KW_EXPIRES_MAX;
			return 0;
		}
		if (parse_scaled(text, expires_units, COUNT_OF(expires_units), &v) != 0 ||
		    v > EXPIRES_MAX_S)
			return fail(ld, s, "%s", why);
	} else {
		return fail(ld, s, "%s", why);
	}
	rules->expires = KW_EXPIRES_SECONDS;
	rules->expires_s = (uint32_t)v;
	return 0;
}

static int
load_location_expires(struct loader *ld, const config_setting_t *s, void *base)
{
	return load_expires(ld, s, &((struct kw_location *)base)->rules);
}

static int
load_server_expires(struct loader *ld, const config_setting_t *s, void *base)
{
	return load_expires(ld, s, &((struct kw_server *)base)->rules);
}

static const char *
check_header_line(const char *value)
{
	return kw_header_line_check(value);
}

static const char *
check_hsts(const char *value)
{
	return kw_hsts_check(value);
}


/* status_allow: a prefix or a list of them (addr_prefix.h), each checked here. */
static int
load_status_allow(struct loader *ld, const config_setting_t *s, void *base)
{
	struct kw_location *loc = base;
	bool single = config_setting_type(s) == CONFIG_TYPE_STRING;
	int n = single ? 1 : config_setting_length(s);

	if (!single && !config_setting_is_array(s) && !config_setting_is_list(s))
		return wrong_type(ld, s, "status_allow", KIND_LIST);
	if (n == 0)
		return fail(ld, s,
		            "'status_allow' must not be empty (leave 'status' out to "
		            "serve no status page)");
	loc->status_allow = calloc((size_t)n, sizeof(*loc->status_allow));
	if (loc->status_allow == NULL)
		return nomem(ld);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = single ? s : config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return wrong_type(ld, e, "status_allow", KIND_LIST);
		const char *text = config_setting_get_string(e);
		const char *why = kw_addr_prefix_parse(text, &loc->status_allow[i]);
		if (why != NULL)
			return fail(ld, e, "'status_allow' = \"%s\": %s", text, why);
		loc->n_status_allow++;
	}
	return 0;
}

#define KEY(n, k, off) .name = n, .kind = k, .offset = off

#define RET(f) offsetof(struct kw_return, f)
static const struct key return_keys[] = {
    {KEY("status", KIND_UINT, RET(status)), .min = 200, .max = 599, .required = true},
    {KEY("location", KIND_STRING, RET(location)), .check = kw_vars_check},
    {KEY("body", KIND_STRING, RET(body)), .check = kw_vars_check},
};
static const struct section return_section = {" in return", return_keys, COUNT_OF(return_keys)};

/* return = { status; location or body }: a redirect needs a location, nothing else takes one. */
static int
load_return(struct loader *ld, const config_setting_t *s, void *base)
{
	struct kw_return *r = &((struct kw_location *)base)->ret;
	unsigned st;
	bool redirect;
	int ret;

	if (!config_setting_is_group(s))
		return wrong_type(ld, s, "return", KIND_GROUP);
	ret = load_section(ld, s, &return_section, r);
	if (ret != 0)
		return ret;
	st = r->status;
	redirect = st == 301 || st == 302 || st == 303 || st == 307 || st == 308;
	if (redirect && r->location == NULL)
		return fail(ld, s, "'return' with status %u needs a 'location'", st);
	if (!redirect && r->location != NULL)
		return fail(ld, s, "'return' takes a 'location' with status 301, 302, 303, 307 or "
		                   "308 only");
	if (st / 100 == 3 && !redirect)
		return fail(ld, s, "'return' status %u: the 3xx statuses are 301, 302, 303, 307, 308",
		            st);
	if (r->body != NULL && (redirect || st == 204 || st == 205))
		return fail(ld, s, "'return' with status %u has no 'body'", st);
	return 0;
}

#define ERROR_URI_MAX 1024 /* bytes of an error page's uri */

/* An error page's uri: a normalised path, matched as the decoded path of a request is. */
static const char *
check_error_uri(const char *value)
{
	if (value[0] != '/')
		return "must start with '/'";
	if (strpbrk(value, "?#") != NULL)
		return "must be a path, without query or fragment ('?', '#')";
	for (const char *p = value; (p = strchr(p, '/')) != NULL; p++) {
		size_t dots = strspn(p + 1, ".");
		if (p[1] == '/' ||
		    (dots > 0 && dots <= 2 && (p[1 + dots] == '/' || p[1 + dots] == '\0')))
			return "must be a normalised path (no '//', '.' or '..' segment)";
	}
	return NULL;
}

#define EPG(f) offsetof(struct kw_error_page, f)
static const struct key error_page_keys[] = {
    {KEY("status", KIND_UINT, EPG(status)), .min = 400, .max = 599, .required = true},
    {KEY("uri", KIND_STRING, EPG(uri)), .required = true, .check = check_error_uri},
};
static const struct section error_page_section = {" in error_pages", error_page_keys,
                                                  COUNT_OF(error_page_keys)};

/* error_pages = ( { status; uri; }, ... ): an empty list too (a location then has none). */
static int
load_error_pages(struct loader *ld, const config_setting_t *s, struct kw_error_pages *ep)
{
	int n = config_setting_length(s);

	if (!config_setting_is_list(s))
		return wrong_type(ld, s, "error_pages", KIND_GROUPS);
	if (n == 0)
		return 0;
	ep->pages = calloc((size_t)n, sizeof(*ep->pages));
	if (ep->pages == NULL)
		return nomem(ld);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		struct kw_error_page *page = &ep->pages[i];
		int ret;

		if (!config_setting_is_group(e))
			return fail(ld, e,
			            "each entry of 'error_pages' must be a group { ... }, not %s",
			            type_name(e));
		page->line = (int)config_setting_source_line(e);
		ep->n++;
		ret = load_section(ld, e, &error_page_section, page);
		if (ret != 0)
			return ret;
		if (strlen(page->uri) > ERROR_URI_MAX)
			return fail(ld, e, "'uri' in 'error_pages' is longer than %d bytes",
			            ERROR_URI_MAX);
		for (int j = 0; j < i; j++)
			if (ep->pages[j].status == page->status)
				return fail(
				    ld, e,
				    "duplicate status %u in 'error_pages' (first at line %d)",
				    page->status, ep->pages[j].line);
	}
	return 0;
}

static int
load_location_error_pages(struct loader *ld, const config_setting_t *s, void *base)
{
	return load_error_pages(ld, s, &((struct kw_location *)base)->errors);
}

static int
load_server_error_pages(struct loader *ld, const config_setting_t *s, void *base)
{
	return load_error_pages(ld, s, &((struct kw_server *)base)->errors);
}

#define LOC(f) offsetof(struct kw_location, f)
static const struct key location_keys[] = {
    {KEY("prefix", KIND_STRING, LOC(prefix)), .required = true, .check = check_prefix},
    {KEY("root", KIND_DIR, LOC(root))},
    {KEY("index", KIND_LIST, LOC(index)), .count_offset = LOC(n_index), .text = "index.html",
     .check = check_file_name},
    {KEY("follow_symlinks", KIND_BOOL, LOC(follow_symlinks)), .num = 1},
    {KEY("compress", KIND_BOOL, LOC(compress)), .num = 0},
    {KEY("compress_types", KIND_LIST, LOC(compress_types)), .count_offset = LOC(n_compress_types),
     .text = "text/html", .check = check_mime_type},
    {KEY("compress_min_size", KIND_SIZE, LOC(compress_min_size)), .max = 1u << 30, .num = 1024},
    {KEY("gzip_level", KIND_UINT, LOC(gzip_level)), .min = 1, .max = 9, .num = 6},
    {KEY("brotli_quality", KIND_UINT, LOC(brotli_quality)), .min = 0, .max = 9, .num = 4},
    {KEY("precompressed", KIND_BOOL, LOC(precompressed))},
    {KEY("autoindex", KIND_BOOL, LOC(autoindex))},
    {KEY("autoindex_format", KIND_STRING, LOC(autoindex_format)), .text = "html",
     .check = check_autoindex_format},
    {KEY("autoindex_hidden", KIND_BOOL, LOC(autoindex_hidden))},
    {KEY("return", KIND_CUSTOM, 0), .load = load_return},
    {KEY("headers", KIND_LIST, LOC(rules.headers)), .count_offset = LOC(rules.n_headers),
     .line_offset = LOC(rules.headers_line), .check = check_header_line},
    {KEY("expires", KIND_CUSTOM, 0), .line_offset = LOC(rules.expires_line),
     .load = load_location_expires},
    {KEY("error_pages", KIND_CUSTOM, 0), .line_offset = LOC(errors.line),
     .load = load_location_error_pages},
    {KEY("status", KIND_BOOL, LOC(status))},
    {KEY("status_allow", KIND_CUSTOM, 0), .load = load_status_allow},
};
static const struct section location_section = {" in location", location_keys,
                                                COUNT_OF(location_keys)};

#define LSN(f) offsetof(struct kw_listener, f)
static const struct key listen_keys[] = {
    {KEY("address", KIND_STRING, LSN(address)), .required = true},
    {KEY("port", KIND_PORT, LSN(port)), .min = 1, .max = 65535, .required = true},
    {KEY("tls", KIND_CUSTOM, 0), .load = load_tls},
    {KEY("proxy_protocol", KIND_BOOL, LSN(proxy_protocol))},
    {KEY("http2", KIND_BOOL, LSN(http2))},
};
static const struct section listen_section = {" in listen", listen_keys, COUNT_OF(listen_keys)};

/* Fills l->addr from l->address ("*", an IPv4 literal, or an IPv6 one, bracketed or not). */
static int
resolve_address(struct loader *ld, const config_setting_t *s, struct kw_listener *l)
{
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
	                         .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	const char *a = l->address;
	size_t len = strlen(a);
	char host[64];
	char port[8];

	if (strcmp(a, "*") == 0) {
		snprintf(host, sizeof host, "0.0.0.0");
	} else if (a[0] == '[' && a[len - 1] == ']' && len - 2 < sizeof host) {
		snprintf(host, sizeof host, "%.*s", (int)(len - 2), a + 1);
		hints.ai_family = AF_INET6;
	} else if (len < sizeof host) {
		snprintf(host, sizeof host, "%s", a);
	} else {
		host[0] = '\0';
	}
	snprintf(port, sizeof port, "%u", (unsigned)l->port);
	if (host[0] == '\0' || getaddrinfo(host, port, &hints, &res) != 0)
		return fail(ld, s, "'address' = \"%s\": not an IPv4 or IPv6 address, nor \"*\"", a);
	memcpy(&l->addr, res->ai_addr, res->ai_addrlen);
	l->addr_len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

bool
kw_listener_same_address(const struct kw_listener *a, const struct kw_listener *b)
{
	if (a->addr.ss_family != b->addr.ss_family)
		return false;
	if (a->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)&a->addr;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)&b->addr;

		return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	const struct sockaddr_in *x = (const struct sockaddr_in *)&a->addr;
	const struct sockaddr_in *y = (const struct sockaddr_in *)&b->addr;

	return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
}

/* Adds the server to the listener equal to l, creating it (and taking l's strings) if new. */
static int
attach_listener(struct loader *ld, const config_setting_t *s, struct kw_server *srv,
                struct kw_listener *l)
{
	struct kw_config *cfg = ld->cfg;
	size_t si = (size_t)(srv - cfg->servers);
	size_t j = 0;
	struct kw_listener *shared;

	while (j < cfg->n_listeners && !kw_listener_same_address(&cfg->listeners[j], l))
		j++;
	if (j == cfg->n_listeners) {
		shared = reallocarray(cfg->listeners, j + 1, sizeof *shared);
		if (shared == NULL)
			return nomem(ld);
		cfg->listeners = shared;
		l->default_server = si;
		l->line = (int)config_setting_source_line(s);
		cfg->listeners[cfg->n_listeners++] = *l;
		l->address = NULL;
	} else {
		shared = &cfg->listeners[j];
		for (size_t i = 0; i < srv->n_listeners; i++)
			if (srv->listeners[i] == j)
				return fail(ld, s,
				            "address %s port %u is listed twice in this server",
				            l->address, (unsigned)l->port);
		if (shared->tls != l->tls)
			return fail(ld, s, "address %s port %u is %s here but %s at line %d",
			            l->address, (unsigned)l->port, kw_tls_name(l->tls),
			            kw_tls_name(shared->tls), shared->line);
		if (shared->proxy_protocol != l->proxy_protocol)
			return fail(
			    ld, s,
			    "address %s port %u has proxy_protocol %s here but %s at line %d",
			    l->address, (unsigned)l->port, l->proxy_protocol ? "on" : "off",
			    shared->proxy_protocol ? "on" : "off", shared->line);
		if (shared->http2 != l->http2)
			return fail(ld, s, "address %s port %u has http2 %s here but %s at line %d",
			            l->address, (unsigned)l->port, l->http2 ? "on" : "off",
			            shared->http2 ? "on" : "off", shared->line);
		if (srv->is_default && cfg->servers[shared->default_server].is_default)
			return fail(ld, s,
			            "two default servers for address %s port %u (lines %d and %d)",
			            l->address, (unsigned)l->port,
			            cfg->servers[shared->default_server].line, srv->line);
		if (srv->is_default)
			shared->default_server = si;
	}
	srv->listeners[srv->n_listeners++] = j;
	srv->has_tls = srv->has_tls || cfg->listeners[j].tls;
	return 0;
}

/* HTTP/2 is on by default on TLS 1.3 and off on plain; toy-TLS speaks HTTP/1.1 only. */
static int
default_http2(struct loader *ld, const config_setting_t *e, struct kw_listener *l)
{
	const config_setting_t *s = config_setting_get_member(e, "http2");

	if (s == NULL)
		l->http2 = l->tls == KW_TLS_TLS13;
	else if (l->http2 && l->tls == KW_TLS_TOY)
		return fail(ld, s, "'http2' = true: a toy-TLS listener speaks HTTP/1.1 only");
	return 0;
}

static int
load_listen(struct loader *ld, const config_setting_t *s, void *base)
{
	struct kw_server *srv = base;
	int n = group_list(ld, s);
	int ret = 0;

	if (n < 0)
		return n;
	srv->listeners = calloc((size_t)n, sizeof *srv->listeners);
	if (srv->listeners == NULL)
		return nomem(ld);
	for (int i = 0; i < n && ret == 0; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		struct kw_listener l = {0};

		ret = load_section(ld, e, &listen_section, &l);
		if (ret == 0)
			ret = default_http2(ld, e, &l);
		if (ret == 0)
			ret = resolve_address(ld, config_setting_get_member(e, "address"), &l);
		if (ret == 0)
			ret = attach_listener(ld, e, srv, &l);
		free(l.address);
	}
	return ret;
}

static int
load_groups(struct loader *ld, const config_setting_t *s, const struct key *k, void *base)
{
	const struct group_array *ga = k->groups;
	int n = group_list(ld, s);
	char *array;

	if (n < 0)
		return n;
	array = calloc((size_t)n, ga->elem_size);
	if (array == NULL)
		return nomem(ld);
	*(void **)((char *)base + k->offset) = array;
	*(size_t *)((char *)base + k->count_offset) = (size_t)n;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		char *elem = array + (size_t)i * ga->elem_size;
		int ret;

		*(int *)(elem + ga->line_offset) = (int)config_setting_source_line(e);
		ret = load_section(ld, e, k->sub, elem);
		if (ret == 0 && ga->check != NULL)
			ret = ga->check(ld, e, base, (size_t)i);
		if (ret != 0)
			return ret;
	}
	return 0;
}

/* Who may read the status page when status_allow is not given: this host only. */
static int
default_status_allow(struct loader *ld, struct kw_location *loc)
{
	static const char *const loopback[] = {"127.0.0.0/8", "::1/128"};

	loc->status_allow = calloc(COUNT_OF(loopback), sizeof(*loc->status_allow));
	if (loc->status_allow == NULL)
		return nomem(ld);
	for (size_t i = 0; i < COUNT_OF(loopback); i++)
		kw_addr_prefix_parse(loopback[i], &loc->status_allow[loc->n_status_allow++]);
	return 0;
}

/*
 * A location's prefix must differ from those of the locations before it; a location
 * serves files (root) or the status page (status), and only the latter has
 * status_allow (default: loopback).
 */
static int
check_location(struct loader *ld, const config_setting_t *e, void *base, size_t i)
{
	struct kw_server *srv = base;
	struct kw_location *loc = &srv->locations[i];

	for (size_t j = 0; j < i; j++)
		if (strcmp(srv->locations[j].prefix, loc->prefix) == 0)
			return fail(ld, config_setting_get_member(e, "prefix"),
			            "duplicate location prefix \"%s\" (first at line %d)",
			            loc->prefix, srv->locations[j].line);
	if (loc->status && loc->root != NULL)
		return fail(ld, config_setting_get_member(e, "root"),
		            "a location with 'status = true' serves the status page, not files: "
		            "remove 'root'");
	if (!loc->status && loc->status_allow != NULL)
		return fail(ld, config_setting_get_member(e, "status_allow"),
		            "'status_allow' needs 'status = true' in the same location");
	if (!loc->status && loc->root == NULL)
		return fail(ld, e, "missing 'root' in location");
	return loc->status && loc->status_allow == NULL ? default_status_allow(ld, loc) : 0;
}

static const struct group_array location_array = {
    sizeof(struct kw_location), offsetof(struct kw_location, line), check_location};

#define SRV(f) offsetof(struct kw_server, f)
static const struct key server_keys[] = {
    {KEY("server_name", KIND_LIST, SRV(names)), .count_offset = SRV(n_names), .check = check_host},
    {KEY("default", KIND_BOOL, SRV(is_default))},
    {KEY("certificate", KIND_PEM, SRV(certificate))},
    {KEY("certificate_key", KIND_PATH, SRV(certificate_key))},
    {KEY("certificate_chain", KIND_PEM_LIST, SRV(chain)), .count_offset = SRV(n_chain)},
    {KEY("listen", KIND_CUSTOM, 0), .required = true, .load = load_listen},
    {KEY("locations", KIND_GROUPS, SRV(locations)), .count_offset = SRV(n_locations),
     .required = true, .sub = &location_section, .groups = &location_array},
    {KEY("access_log", KIND_OFF_PATH, SRV(access_log)), .line_offset = SRV(access_log_line)},
    {KEY("access_log_format", KIND_STRING, SRV(access_log_format)), .check = check_log_format},
    {KEY("headers", KIND_LIST, SRV(rules.headers)), .count_offset = SRV(rules.n_headers),
     .line_offset = SRV(rules.headers_line), .check = check_header_line},
    {KEY("expires", KIND_CUSTOM, 0), .line_offset = SRV(rules.expires_line),
     .load = load_server_expires},
    {KEY("hsts", KIND_STRING, SRV(hsts)), .check = check_hsts},
    {KEY("error_pages", KIND_CUSTOM, 0), .line_offset = SRV(errors.line),
     .load = load_server_error_pages},
};
static const struct section server_section = {" in server", server_keys, COUNT_OF(server_keys)};

/* Requires a certificate and key for a toy-TLS server and gives it a key id. */
static int
attach_key(struct loader *ld, const config_setting_t *s, struct kw_server *srv)
{
	struct kw_config *cfg = ld->cfg;
	struct kw_key *keys;
	size_t i = 0;

	if (!srv->has_tls)
		return 0;
	if (srv->certificate == NULL || srv->certificate_key == NULL)
		return fail(ld, s, "a server with a toy-TLS listener needs '%s'",
		            srv->certificate == NULL ? "certificate" : "certificate_key");
	while (i < cfg->n_keys && strcmp(cfg->keys[i].path, srv->certificate_key) != 0)
		i++;
	if (i == cfg->n_keys) {
		keys = reallocarray(cfg->keys, i + 1, sizeof *keys);
		if (keys == NULL)
			return nomem(ld);
		cfg->keys = keys;
		keys[i].path = strdup(srv->certificate_key);
		keys[i].certificate = strdup(srv->certificate);
		cfg->n_keys++;
		if (keys[i].path == NULL || keys[i].certificate == NULL)
			return nomem(ld);
	}
	srv->key_id = (uint32_t)i;
	return 0;
}

static X509 *
captured_cert(const struct kw_config *cfg, const char *path)
{
	const char *text = kw_config_file_text(cfg, path);
	BIO *bio = text != NULL ? BIO_new_mem_buf(text, -1) : NULL;
	X509 *x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;

	BIO_free(bio);
	return x;
}

/*
 * Each certificate_chain[i] must be the issuer of, and have signed, the certificate
 * before it (the leaf for i = 0): the chain a client is sent has to verify from the
 * leaf through every intermediate.
 */
static int
check_chain(struct loader *ld, const config_setting_t *s, const struct kw_server *srv)
{
	const config_setting_t *at =
	    config_setting_lookup((config_setting_t *)s, "certificate_chain");
	X509 *subject, *issuer = NULL;
	int ret = 0;

	if (srv->certificate == NULL || srv->n_chain == 0)
		return 0;
	subject = captured_cert(ld->cfg, srv->certificate);
	for (size_t i = 0; ret == 0 && i < srv->n_chain; i++) {
		int why = X509_V_ERR_UNSPECIFIED;

		issuer = captured_cert(ld->cfg, srv->chain[i]);
		if (subject != NULL && issuer != NULL) {
			why = X509_check_issued(issuer, subject);
			if (why == X509_V_OK && X509_verify(subject, X509_get0_pubkey(issuer)) != 1)
				why = X509_V_ERR_CERT_SIGNATURE_FAILURE;
		}
		if (why != X509_V_OK)
			ret = fail(ld, at != NULL ? at : s,
			           "'certificate_chain': %s does not verify %s: %s", srv->chain[i],
			           i == 0 ? srv->certificate : srv->chain[i - 1],
			           X509_verify_cert_error_string(why));
		X509_free(subject);
		subject = issuer;
	}
	X509_free(subject);
	ERR_clear_error();
	return ret;
}

/*
 * The Cache-Control line of headers and an expires that sends its own would make two:
 * refused for the server and for each location with what it inherits.
 */
static int
check_cache_control(struct loader *ld, const struct kw_server *srv)
{
	for (size_t i = 0; i <= srv->n_locations; i++) {
		const struct kw_header_rules *own =
		    i < srv->n_locations ? &srv->locations[i].rules : &srv->rules;
		const struct kw_header_rules *h = own->headers_line ? own : &srv->rules;
		const struct kw_header_rules *x =
		    own->expires != KW_EXPIRES_UNSET ? own : &srv->rules;

		if (x->expires == KW_EXPIRES_UNSET || x->expires == KW_EXPIRES_OFF)
			continue;
		for (size_t j = 0; j < h->n_headers; j++)
			if (kw_header_name_len(h->headers[j]) == 13 &&
			    strncasecmp(h->headers[j], "Cache-Control", 13) == 0)
				return fail_at(
				    ld, ld->name, h->headers_line,
				    "'headers' sends Cache-Control and 'expires' (line %d) "
				    "sends it too: keep one of them",
				    x->expires_line);
	}
	return 0;
}

/*
 * The server's access log: its own access_log and access_log_format, else the
 * top-level ones (loaded before the servers); files named twice are opened once.
 */
static int
attach_access_log(struct loader *ld, struct kw_server *srv)
{
	struct kw_config *cfg = ld->cfg;
	const char *path = srv->access_log_line != 0 ? srv->access_log : cfg->access_log;
	const int line = srv->access_log_line != 0 ? srv->access_log_line : cfg->access_log_line;
	const char *format =
	    srv->access_log_format != NULL ? srv->access_log_format : cfg->access_log_format;
	size_t i = 0;

	srv->log_format = strcmp(format, "json") == 0 ? KW_LOG_JSON : KW_LOG_COMBINED;
	srv->access_file = -1;
	if (path == NULL)
		return 0;
	while (i < cfg->n_access_files && strcmp(cfg->access_files[i].path, path) != 0)
		i++;
	if (i == cfg->n_access_files) {
		struct kw_access_file *files =
		    reallocarray(cfg->access_files, i + 1, sizeof(*files));
		if (files == NULL)
			return nomem(ld);
		cfg->access_files = files;
		files[i].path = strdup(path);
		files[i].line = line;
		cfg->n_access_files++;
		if (files[i].path == NULL)
			return nomem(ld);
	}
	srv->access_file = (long)i;
	return 0;
}

/* A server's key, chain, header rules and access log, once its section is loaded. */
static int
check_server(struct loader *ld, const config_setting_t *e, void *base, size_t i)
{
	struct kw_config *cfg = base;
	int ret = attach_key(ld, e, &cfg->servers[i]);

	if (ret == 0)
		ret = check_chain(ld, e, &cfg->servers[i]);
	if (ret == 0)
		ret = check_cache_control(ld, &cfg->servers[i]);
	return ret != 0 ? ret : attach_access_log(ld, &cfg->servers[i]);
}

static const struct group_array server_array = {sizeof(struct kw_server),
                                                offsetof(struct kw_server, line), check_server};

#define CFG(f) offsetof(struct kw_config, f)
static const struct key signer_keys[] = {
    {KEY("user", KIND_STRING, CFG(signer.user)), .text = "keyward-signer"},
    {KEY("threads", KIND_COUNT, CFG(signer.threads)), .min = 1, .max = MAX_THREADS, .num = 2},
    {KEY("timeout", KIND_DURATION, CFG(signer.timeout_ms)), .min = 1, .max = DAY_MS, .num = 2000},
    {KEY("max_inflight", KIND_UINT, CFG(signer.max_inflight)), .min = 1, .max = 65536, .num = 64},
    {KEY("rate_limit", KIND_UINT, CFG(signer.rate_limit)), .max = 1000000, .num = 10000},
};
static const struct section signer_section = {" in signer", signer_keys, COUNT_OF(signer_keys)};

/* TLS 1.3 suites libssl knows, but not those whose records keyward cannot lay out in
 * place (TLS_AES_128_CCM_8_SHA256: an 8-byte tag). */
static const char *
check_ciphersuites(const char *value)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	int ok = ctx != NULL && SSL_CTX_set_ciphersuites(ctx, value) == 1;

	SSL_CTX_free(ctx);
	ERR_clear_error();
	if (!ok)
		return "names no TLS 1.3 cipher suite libssl knows (a ':'-separated list such "
		       "as \"TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256\")";
	if (strstr(value, "CCM_8") != NULL)
		return "lists TLS_AES_128_CCM_8_SHA256, whose 8-byte tag keyward does not support";
	return NULL;
}

static const char *
check_groups(const char *value)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	int ok = ctx != NULL && SSL_CTX_set1_groups_list(ctx, value) == 1;

	SSL_CTX_free(ctx);
	ERR_clear_error();
	return ok ? NULL
	          : "names a group libssl does not know (a ':'-separated list such as "
	            "\"X25519:P-256\")";
}

static const struct key tls13_keys[] = {
    {KEY("ciphersuites", KIND_STRING, CFG(tls13.ciphersuites)), .check = check_ciphersuites},
    {KEY("groups", KIND_STRING, CFG(tls13.groups)), .check = check_groups},
    {KEY("session_tickets", KIND_BOOL, CFG(tls13.session_tickets)), .num = 1},
    {KEY("ticket_rotation", KIND_DURATION, CFG(tls13.ticket_rotation_ms)), .min = 1000,
     .max = DAY_MS, .num = 3600000},
    {KEY("max_parked", KIND_UINT, CFG(tls13.max_parked)), .min = 1, .max = 65536, .num = 128},
};
static const struct section tls13_section = {" in tls13", tls13_keys, COUNT_OF(tls13_keys)};

static const struct key http_keys[] = {
    {KEY("max_connections", KIND_UINT, CFG(http.max_connections)), .min = 1, .max = 1u << 20,
     .num = 1024},
    {KEY("handshake_timeout", KIND_DURATION, CFG(http.handshake_timeout_ms)), .min = 1,
     .max = DAY_MS, .num = 10000},
    {KEY("client_header_timeout", KIND_DURATION, CFG(http.client_header_timeout_ms)), .min = 1,
     .max = DAY_MS, .num = 60000},
    {KEY("client_body_timeout", KIND_DURATION, CFG(http.client_body_timeout_ms)), .min = 1,
     .max = DAY_MS, .num = 60000},
    {KEY("send_timeout", KIND_DURATION, CFG(http.send_timeout_ms)), .min = 1, .max = DAY_MS,
     .num = 60000},
    {KEY("keepalive_timeout", KIND_DURATION, CFG(http.keepalive_timeout_ms)), .max = DAY_MS,
     .num = 75000},
    {KEY("keepalive_requests", KIND_UINT, CFG(http.keepalive_requests)), .min = 1,
     .max = UINT32_MAX, .num = 1000},
    {KEY("max_request_line", KIND_SIZE, CFG(http.max_request_line)), .min = 64, .max = 1u << 20,
     .num = 8192},
    {KEY("max_header_size", KIND_SIZE, CFG(http.max_header_size)), .min = 256, .max = 16u << 20,
     .num = 32768},
    {KEY("max_header_count", KIND_UINT, CFG(http.max_header_count)), .min = 1, .max = 10000,
     .num = 100},
    {KEY("max_body_size", KIND_SIZE64, CFG(http.max_body_size)), .max = UINT64_MAX,
     .num = 1u << 20},
    {KEY("compress_streams", KIND_UINT, CFG(http.compress_streams)), .max = 4096, .num = 8},
};
static const struct section http_section = {" in http", http_keys, COUNT_OF(http_keys)};

static const struct key http2_keys[] = {
    {KEY("max_concurrent_streams", KIND_UINT, CFG(http2.max_concurrent_streams)), .min = 1,
     .max = 65536, .num = 128},
    {KEY("max_header_list_size", KIND_SIZE, CFG(http2.max_header_list_size)), .min = 256,
     .max = 16u << 20, .num = 32768},
    {KEY("max_frame_size", KIND_SIZE, CFG(http2.max_frame_size)), .min = 16384,
     .max = 16777215, .num = 16384},
    {KEY("initial_window_size", KIND_SIZE, CFG(http2.initial_window_size)), .min = 65535,
     .max = INT32_MAX, .num = 65535},
    {KEY("settings_timeout", KIND_DURATION, CFG(http2.settings_timeout_ms)), .min = 1,
     .max = DAY_MS, .num = 10000},
    {KEY("max_resets", KIND_UINT, CFG(http2.max_resets)), .min = 1, .max = 1000000, .num = 200},
    {KEY("reset_interval", KIND_DURATION, CFG(http2.reset_interval_ms)), .min = 1,
     .max = DAY_MS, .num = 1000},
    {KEY("max_control_frames", KIND_UINT, CFG(http2.max_control_frames)), .min = 1,
     .max = 1000000, .num = 1000},
    {KEY("max_continuations", KIND_UINT, CFG(http2.max_continuations)), .min = 1,
     .max = 1024, .num = 8},
};
static const struct section http2_section = {" in http2", http2_keys, COUNT_OF(http2_keys)};

static const struct key top_keys[] = {
    {KEY("workers", KIND_COUNT, CFG(workers)), .min = 1, .max = MAX_THREADS, .num = 2},
    {KEY("user", KIND_STRING, CFG(user)), .text = "keyward"},
    {KEY("error_log", KIND_LOG, CFG(error_log)), .text = "stderr",
     .line_offset = CFG(error_log_line)},
    {KEY("access_log", KIND_OFF_PATH, CFG(access_log)), .text = "off",
     .line_offset = CFG(access_log_line)},
    {KEY("access_log_format", KIND_STRING, CFG(access_log_format)), .text = "combined",
     .check = check_log_format},
    {KEY("log_level", KIND_STRING, CFG(log_level)), .text = "notice", .check = check_log_level},
    {KEY("pid_file", KIND_PATH, CFG(pid_file))},
    {KEY("shutdown_timeout", KIND_DURATION, CFG(shutdown_timeout_ms)), .max = DAY_MS, .num = 10000},
    {KEY("mime_types", KIND_PATH, CFG(mime_types))},
    {KEY("default_type", KIND_STRING, CFG(default_type)), .text = "application/octet-stream",
     .check = check_mime_type},
    {KEY("signer", KIND_GROUP, 0), .sub = &signer_section},
    {KEY("http", KIND_GROUP, 0), .sub = &http_section},
    {KEY("tls13", KIND_GROUP, 0), .sub = &tls13_section},
    {KEY("http2", KIND_GROUP, 0), .sub = &http2_section},
    {KEY("servers", KIND_GROUPS, CFG(servers)), .count_offset = CFG(n_servers), .required = true,
     .sub = &server_section, .groups = &server_array},
};
static const struct section top_section = {"", top_keys, COUNT_OF(top_keys)};

/* Workers and the signer must never share a user: the signer's memory would be theirs. */
static int
check_users(struct loader *ld, const config_t *lc)
{
	const config_setting_t *s = config_lookup(lc, "signer.user");

	if (strcmp(ld->cfg->user, ld->cfg->signer.user) != 0)
		return 0;
	if (s == NULL)
		s = config_lookup(lc, "user");
	return fail(ld, s, "user and signer.user are both \"%s\": the workers must not run as "
	                   "the signer's user", ld->cfg->user);
}

static int
default_pid_file(struct loader *ld)
{
	struct kw_config *cfg = ld->cfg;

	if (cfg->pid_file != NULL)
		return 0;
	return make_path(ld, geteuid() == 0 ? KW_RUNSTATEDIR : cfg->dir, "keyward.pid",
	                 &cfg->pid_file);
}

static int
load_text(struct loader *ld_in, const char *text, const char *path, struct kw_config **out)
{
	struct loader ld = *ld_in;
	char *err = ld.err;
	size_t err_len = ld.err_len;
	config_t lc;
	int ret;

	*out = NULL;
	if (err_len > 0)
		err[0] = '\0';
	config_init(&lc);
	ld.cfg = calloc(1, sizeof *ld.cfg);
	if (ld.cfg == NULL) {
		ret = nomem(&ld);
		goto out;
	}
	ret = set_file_paths(&ld, path);
	if (ret != 0)
		goto out;
	config_set_include_dir(&lc, ld.cfg->dir);
	if (config_read_string(&lc, text) != CONFIG_TRUE) {
		ret = fail_at(&ld, config_error_file(&lc), config_error_line(&lc), "%s",
		              config_error_text(&lc));
		goto out;
	}
	ret = load_section(&ld, config_root_setting(&lc), &top_section, ld.cfg);
	if (ret == 0)
		ret = check_users(&ld, &lc);
	if (ret == 0)
		ret = default_pid_file(&ld);
out:
	config_destroy(&lc);
	if (ret != 0) {
		kw_config_free(ld.cfg);
		return ret;
	}
	*out = ld.cfg;
	return 0;
}

int
kw_config_load_string(const char *text, const char *path, struct kw_config **out, char *err,
                      size_t err_len)
{
	struct loader ld = {.name = path, .err = err, .err_len = err_len};

	return load_text(&ld, text, path, out);
}

/*
 * The snapshot: the configuration text and its NUL, then for each captured file its
 * path and its text, each followed by a NUL (read_stream() refuses NUL bytes inside).
 */
int
kw_config_snapshot_encode(const struct kw_config *cfg, const char *text, char **out,
                          size_t *out_len)
{
	size_t len = strlen(text) + 1, pos;
	char *buf;

	for (size_t i = 0; i < cfg->n_files; i++)
		len += strlen(cfg->files[i].path) + 1 + strlen(cfg->files[i].text) + 1;
	buf = malloc(len);
	if (buf == NULL)
		return KW_ERR_NOMEM;
	pos = strlen(text) + 1;
	memcpy(buf, text, pos);
	for (size_t i = 0; i < cfg->n_files; i++) {
		size_t n = strlen(cfg->files[i].path) + 1;

		memcpy(buf + pos, cfg->files[i].path, n);
		pos += n;
		n = strlen(cfg->files[i].text) + 1;
		memcpy(buf + pos, cfg->files[i].text, n);
		pos += n;
	}
	*out = buf;
	*out_len = len;
	return 0;
}

int
kw_config_load_snapshot(const char *snap, size_t len, const char *path, struct kw_config **out,
                        char *err, size_t err_len)
{
	struct loader ld = {.name = path, .err = err, .err_len = err_len, .snapshot = true};
	struct kw_file *given = NULL;
	const char *p = snap, *end = snap + len, *nul;
	int ret = 0;

	*out = NULL;
	nul = len > 0 ? memchr(p, '\0', len) : NULL;
	if (nul == NULL) {
		snprintf(err, err_len, "%s: configuration snapshot without its text", path);
		return KW_ERR_ARGUMENT;
	}
	for (p = nul + 1; p < end && ret == 0;) {
		const char *path_end = memchr(p, '\0', (size_t)(end - p));
		const char *text_end =
		    path_end != NULL ? memchr(path_end + 1, '\0', (size_t)(end - path_end - 1))
		                     : NULL;
		struct kw_file *grown;

		if (text_end == NULL || path_end == p) {
			snprintf(err, err_len, "%s: malformed configuration snapshot", path);
			ret = KW_ERR_ARGUMENT;
			break;
		}
		grown = reallocarray(given, ld.n_given + 1, sizeof *given);
		if (grown == NULL) {
			snprintf(err, err_len, "%s: out of memory", path);
			ret = KW_ERR_NOMEM;
			break;
		}
		given = grown;
		given[ld.n_given++] = (struct kw_file){(char *)p, (char *)path_end + 1};
		p = text_end + 1;
	}
	ld.given = given;
	if (ret == 0)
		ret = load_text(&ld, snap, path, out);
	free(given);
	return ret;
}

static int
read_text(const char *path, char **text, char *err, size_t err_len)
{
	FILE *f = fopen(path, "re");

	if (f == NULL) {
		snprintf(err, err_len, "%s: cannot open: %s", path, strerror(errno));
		return KW_ERR_ARGUMENT;
	}
	return read_stream(f, path, text, err, err_len);
}

/* Reads f (closed after) into *text; err says "PATH: reason". */
static int
read_stream(FILE *f, const char *path, char **text, char *err, size_t err_len)
{
	char *buf = NULL;
	char *grown;
	size_t len = 0;
	size_t cap = 0;
	int ret = KW_ERR_ARGUMENT;

	do {
		if (cap > MAX_FILE_SIZE) {
			snprintf(err, err_len, "%s: larger than %u bytes", path, MAX_FILE_SIZE);
			goto out;
		}
		cap = cap == 0 ? 4096 : cap * 2;
		grown = realloc(buf, cap + 1);
		if (grown == NULL) {
			snprintf(err, err_len, "%s: out of memory", path);
			ret = KW_ERR_NOMEM;
			goto out;
		}
		buf = grown;
		len += fread(buf + len, 1, cap - len, f);
	} while (len == cap);
	if (ferror(f)) {
		snprintf(err, err_len, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	if (memchr(buf, '\0', len) != NULL) {
		snprintf(err, err_len, "%s: contains a NUL byte", path);
		goto out;
	}
	buf[len] = '\0';
	*text = buf;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	fclose(f);
	return ret;
}

int
kw_config_load_file(const char *path, struct kw_config **out, char *err, size_t err_len)
{
	char *text = NULL;
	int ret;

	*out = NULL;
	if (err_len > 0)
		err[0] = '\0';
	ret = read_text(path, &text, err, err_len);
	if (ret == 0)
		ret = kw_config_load_string(text, path, out, err, err_len);
	free(text);
	return ret;
}

static void
free_strings(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
free_error_pages(struct kw_error_pages *ep)
{
	for (size_t i = 0; i < ep->n; i++)
		free(ep->pages[i].uri);
	free(ep->pages);
}

void
kw_config_free(struct kw_config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->n_servers; i++) {
		struct kw_server *srv = &cfg->servers[i];

		free_strings(srv->names, srv->n_names);
		free(srv->listeners);
		free(srv->certificate);
		free(srv->certificate_key);
		free_strings(srv->chain, srv->n_chain);
		free_strings(srv->rules.headers, srv->rules.n_headers);
		free(srv->hsts);
		free_error_pages(&srv->errors);
		for (size_t j = 0; j < srv->n_locations; j++) {
			free(srv->locations[j].prefix);
			free(srv->locations[j].root);
			free(srv->locations[j].status_allow);
			free_strings(srv->locations[j].index, srv->locations[j].n_index);
			free_strings(srv->locations[j].rules.headers,
			             srv->locations[j].rules.n_headers);
			free(srv->locations[j].ret.location);
			free(srv->locations[j].ret.body);
			free(srv->locations[j].autoindex_format);
			free_strings(srv->locations[j].compress_types,
			             srv->locations[j].n_compress_types);
			free_error_pages(&srv->locations[j].errors);
		}
		free(srv->locations);
		free(srv->access_log);
		free(srv->access_log_format);
	}
	free(cfg->servers);
	for (size_t i = 0; i < cfg->n_access_files; i++)
		free(cfg->access_files[i].path);
	free(cfg->access_files);
	free(cfg->access_log_format);
	free(cfg->tls13.ciphersuites);
	free(cfg->tls13.groups);
	for (size_t i = 0; i < cfg->n_listeners; i++)
		free(cfg->listeners[i].address);
	free(cfg->listeners);
	for (size_t i = 0; i < cfg->n_keys; i++) {
		free(cfg->keys[i].path);
		free(cfg->keys[i].certificate);
	}
	free(cfg->keys);
	for (size_t i = 0; i < cfg->n_files; i++) {
		free(cfg->files[i].path);
		free(cfg->files[i].text);
	}
	free(cfg->files);
	free(cfg->path);
	free(cfg->dir);
	free(cfg->user);
	free(cfg->error_log);
	free(cfg->access_log);
	free(cfg->log_level);
	free(cfg->pid_file);
	free(cfg->signer.user);
	free(cfg->mime_types);
	free(cfg->default_type);
	free(cfg);
}

/* For a process running as root: name must be an existing user other than root. */
static int
check_user_exists(const struct kw_config *cfg, const char *key, const char *name, char *err,
                  size_t err_len)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(name);
	if (pw != NULL && pw->pw_uid != 0)
		return 0;
	snprintf(err, err_len, "%s: %s \"%s\": %s", cfg->path, key, name,
	         pw != NULL ? "is root; the children must run as an unprivileged user"
	                    : errno ? strerror(errno) : "no such user");
	return KW_ERR_ARGUMENT;
}

int
kw_config_check_host(const struct kw_config *cfg, char *err, size_t err_len)
{
	struct stat st;

	for (size_t i = 0; i < cfg->n_servers; i++) {
		const struct kw_server *srv = &cfg->servers[i];
		const char *why = NULL;

		if (!srv->has_tls || srv->certificate_key == NULL)
			continue;
		if (stat(srv->certificate_key, &st) != 0)
			why = strerror(errno);
		else if (!S_ISREG(st.st_mode))
			why = "not a regular file";
		if (why != NULL) {
			snprintf(err, err_len, "%s:%d: certificate_key %s: %s", cfg->path, srv->line,
			         srv->certificate_key, why);
			return KW_ERR_ARGUMENT;
		}
	}
	if (geteuid() != 0)
		return 0;
	if (check_user_exists(cfg, "user", cfg->user, err, err_len) != 0)
		return KW_ERR_ARGUMENT;
	return check_user_exists(cfg, "signer.user", cfg->signer.user, err, err_len);
}

#include "mime.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

#define MIME_FILE_MAX (1 << 20)

static const char builtin_types[] = "types {\n"
                                    "    text/html html htm shtml;\n"
                                    "    text/css css;\n"
                                    "    text/javascript js mjs;\n"
                                    "    text/plain txt;\n"
                                    "    text/markdown md;\n"
                                    "    text/xml xml;\n"
                                    "    text/csv csv;\n"
                                    "    application/json json map;\n"
                                    "    application/manifest+json webmanifest;\n"
                                    "    application/wasm wasm;\n"
                                    "    application/pdf pdf;\n"
                                    "    application/zip zip;\n"
                                    "    application/gzip gz;\n"
                                    "    image/png png;\n"
                                    "    image/jpeg jpeg jpg;\n"
                                    "    image/gif gif;\n"
                                    "    image/svg+xml svg svgz;\n"
                                    "    image/x-icon ico;\n"
                                    "    image/webp webp;\n"
                                    "    image/avif avif;\n"
                                    "    font/woff woff;\n"
                                    "    font/woff2 woff2;\n"
                                    "    audio/mpeg mp3;\n"
                                    "    video/mp4 mp4;\n"
                                    "    video/webm webm;\n"
                                    "}\n";

struct mime_entry {
	const char *ext;
	const char *type;
	size_t seq;
};

struct mime_table {
	char *arena;
	struct mime_entry *entries;
	size_t n;
	size_t cap;
};

enum token { TK_EOF, TK_WORD, TK_LBRACE, TK_RBRACE, TK_SEMI, TK_NEWLINE };

/* A lexer over the text; words are copied, NUL-terminated, into the table's arena. */
struct lexer {
	const char *p;
	int line;
	bool newlines;
	char *arena;
	char *word;
};

static enum token
lex(struct lexer *lx)
{
	for (;;) {
		char c = *lx->p;
		if (c == '#') {
			lx->p += strcspn(lx->p, "\n");
			continue;
		}
		if (c == '\n' && lx->newlines) {
			lx->p++;
			lx->line++;
			return TK_NEWLINE;
		}
		if (c != '\0' && strchr(" \t\r\n", c) != NULL) {
			lx->line += c == '\n';
			lx->p++;
			continue;
		}
		break;
	}
	const char *start = lx->p;
	switch (*lx->p) {
	case '\0':
		return TK_EOF;
	case '{':
		lx->p++;
		return TK_LBRACE;
	case '}':
		lx->p++;
		return TK_RBRACE;
	case ';':
		lx->p++;
		return TK_SEMI;
	}
	size_t n = strcspn(start, " \t\r\n{};#");
	lx->word = lx->arena;
	memcpy(lx->arena, start, n);
	lx->arena[n] = '\0';
	lx->arena += n + 1;
	lx->p += n;
	return TK_WORD;
}

static int
fail(char *err, size_t err_len, const char *file, int line, const char *reason)
{
	snprintf(err, err_len, "%s:%d: %s", file, line, reason);
	return KW_ERR_ARGUMENT;
}

static int
add_entry(struct mime_table *t, char *ext, const char *type)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct mime_entry *e = realloc(t->entries, cap * sizeof(*e));
		if (e == NULL)
			return KW_ERR_NOMEM;
		t->entries = e;
		t->cap = cap;
	}
	t->entries[t->n] = (struct mime_entry){.ext = ext, .type = type, .seq = t->n};
	t->n++;
	return 0;
}

static const char *
check_word(const char *w, bool is_type)
{
	if (is_type)
		return strchr(w, '/') != NULL ? NULL : "a MIME type needs a '/'";
	return strchr(w, '/') == NULL ? NULL : "an extension has no '/'";
}

/* Parses the text: "types { type ext ...; ... }" (nginx) or "type ext ..." lines. */
static int
parse_types(struct mime_table *t, const char *text, const char *file, char *err, size_t err_len)
{
	struct lexer lx = {.p = text, .line = 1, .arena = t->arena};
	struct lexer peek = lx;
	bool nginx =
	    lex(&peek) == TK_WORD && strcmp(peek.word, "types") == 0 && lex(&peek) == TK_LBRACE;
	if (nginx)
		lx = peek;
	else
		lx.newlines = true;
	enum token end = nginx ? TK_SEMI : TK_NEWLINE;
	for (;;) {
		enum token tk = lex(&lx);
		if (nginx && tk == TK_RBRACE)
			break;
		if (!nginx && (tk == TK_EOF || tk == TK_NEWLINE)) {
			if (tk == TK_EOF)
				return 0;
			continue;
		}
		if (tk != TK_WORD)
			return fail(err, err_len, file, lx.line,
			            nginx ? "expected a MIME type or '}'" : "expected a MIME type");
		const char *type = lx.word;
		const char *bad = check_word(type, true);
		size_t n_ext = 0;
		while (bad == NULL && (tk = lex(&lx)) == TK_WORD) {
			bad = check_word(lx.word, false);
			if (bad == NULL && add_entry(t, lx.word, type))
				return KW_ERR_NOMEM;
			n_ext++;
		}
		if (bad != NULL)
			return fail(err, err_len, file, lx.line, bad);
		if (nginx && n_ext == 0)
			return fail(err, err_len, file, lx.line, "a type without extensions");
		if (tk != end && !(tk == TK_EOF && !nginx))
			return fail(err, err_len, file, lx.line,
			            tk == TK_EOF ? "unexpected end of file" : "expected ';'");
		if (tk == TK_EOF)
			return 0;
	}
	return lex(&lx) == TK_EOF ? 0 : fail(err, err_len, file, lx.line, "text after '}'");
}

static int
compare_entries(const void *a, const void *b)
{
	const struct mime_entry *x = a;
	const struct mime_entry *y = b;
	int c = strcasecmp(x->ext, y->ext);
	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/*
 * Sorts by extension, ignoring case; of repeated extensions the last one given
 * wins, as in nginx. Lookups take the text after a name's last dot, so extensions
 * that hold a dot ("tar.gz", in some system files) load but never match.
 */
static void
sort_entries(struct mime_table *t)
{
	qsort(t->entries, t->n, sizeof(t->entries[0]), compare_entries);
	size_t w = 0;
	for (size_t i = 0; i < t->n; i++) {
		if (i + 1 < t->n && strcasecmp(t->entries[i].ext, t->entries[i + 1].ext) == 0)
			continue;
		t->entries[w++] = t->entries[i];
	}
	t->n = w;
}

static int
read_file(const char *path, char **out, char *err, size_t err_len)
{
	int err_code = 0;
	char *text = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, err_len, "%s:0: %s", path, strerror(errno));
		err_code = KW_ERR_INTERNAL;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > MIME_FILE_MAX) {
		err_code = fail(err, err_len, path, 0, "not a regular file of at most 1 MiB");
		goto out;
	}
	text = malloc((size_t)st.st_size + 1);
	if (text == NULL) {
		err_code = KW_ERR_NOMEM;
		goto out;
	}
	size_t got = 0;
	ssize_t n;
	while (got < (size_t)st.st_size && (n = read(fd, text + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	text[got] = '\0';
	if (strlen(text) != got)
		err_code = fail(err, err_len, path, 0, "NUL byte in the file");
out:
	if (fd >= 0)
		close(fd);
	if (err_code)
		free(text);
	else
		*out = text;
	return err_code;
}

int
mime_table_load(const char *path, struct mime_table **out, char *err, size_t err_len)
{
	char *text = NULL;
	struct mime_table *t = calloc(1, sizeof(*t));
	int rc = t == NULL ? KW_ERR_NOMEM : 0;
	if (rc == 0 && path != NULL)
		rc = read_file(path, &text, err, err_len);
	const char *src = path != NULL ? text : builtin_types;
	if (rc == 0 && (t->arena = malloc(strlen(src) + 1)) == NULL)
		rc = KW_ERR_NOMEM;
	if (rc == 0)
		rc = parse_types(t, src, path != NULL ? path : "(built-in)", err, err_len);
	free(text);
	if (rc == KW_ERR_NOMEM)
		snprintf(err, err_len, "%s:0: out of memory", path != NULL ? path : "(built-in)");
	if (rc) {
		mime_table_free(t);
		return rc;
	}
	sort_entries(t);
	*out = t;
	return 0;
}

static int
compare_key(const void *key, const void *entry)
{
	return strcasecmp(key, ((const struct mime_entry *)entry)->ext);
}

const char *
mime_lookup(const struct mime_table *t, const char *name, const char *default_type)
{
	const char *base = strrchr(name, '/');
	const char *dot = strrchr(base ? base : name, '.');
	if (dot == NULL)
		return default_type;
	const struct mime_entry *e =
	    bsearch(dot + 1, t->entries, t->n, sizeof(t->entries[0]), compare_key);
	return e ? e->type : default_type;
}

void
mime_table_free(struct mime_table *t)
{
	if (t == NULL)
		return;
	free(t->arena);
	free(t->entries);
	free(t);
}

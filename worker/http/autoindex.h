/*
 * autoindex.h - the listing of a directory (autoindex = true in a location) as a
 * body producer (body_producer.h), in HTML or JSON.
 *
 * Steps: the first steps read the directory, at most AUTOINDEX_READ_STEP entries
 * each (they make no byte); then the names are sorted (directories first, then
 * bytewise) and each later step writes as many whole entries as fit, one entry's
 * text waiting in the producer's own buffer when it does not. Only the names and
 * their sizes, types and times are held, never the listing's text: at most
 * max_entries entries and AUTOINDEX_MAX_NAME_BYTES bytes of names. A directory
 * beyond either bound fails the body (produce() returns KW_ERR_STATE): the
 * connection closes before the end of the body, which the client sees as
 * incomplete (no last chunk, no DATA frame with END_STREAM).
 *
 * Entries: "." and ".." never; names starting with '.' only with hidden; regular
 * files and directories; a symlink only when the location follows symlinks and
 * http_path_open_beneath() would open it (its target's type, size and time are
 * shown); other types (FIFO, socket, device) and entries that vanish or cannot be
 * read are left out.
 */
#ifndef KW_AUTOINDEX_H
#define KW_AUTOINDEX_H

#include <stdbool.h>
#include <stddef.h>

#include "body_producer.h"
#include "config.h"

/** The most entries a listing holds (the bound static_file.c passes). */
#define AUTOINDEX_MAX_ENTRIES 100000u

/** The most bytes of names a listing holds. */
#define AUTOINDEX_MAX_NAME_BYTES (8u << 20)

/** Directory entries read per step, at most. */
#define AUTOINDEX_READ_STEP 256u

/** The Content-Type of loc's listings. */
const char *autoindex_type(const struct kw_location *loc);

/**
 * Writes s[0, len) HTML-escaped (& < > " ' as character references) to out, which
 * has room for 6 * len bytes. Returns the bytes written.
 */
size_t autoindex_html_escape(char *out, const char *s, size_t len);

/**
 * Writes s[0, len) as an RFC 3986 path segment to out (room for 3 * len bytes):
 * unreserved characters kept, every other byte as %XX. Returns the bytes written.
 */
size_t autoindex_percent_encode(char *out, const char *s, size_t len);

/**
 * A producer of the listing of the directory dir_fd (open for reading; the
 * producer owns it from now on, also on failure), which lies at rel ("" or ending
 * in '/') beneath root_fd (duplicated: the caller keeps its own), the request's
 * path (decoded) being path. loc gives the format, hidden names and the symlink
 * policy; the HTML listing has a "../" link unless rel is "". Returns 0 with *out
 * set, KW_ERR_NOMEM or KW_ERR_INTERNAL.
 */
int autoindex_producer_new(int dir_fd, int root_fd, const char *rel, const char *path,
                           const struct kw_location *loc, size_t max_entries,
                           struct body_producer *out);

#endif

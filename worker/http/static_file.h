/*
 * static_file.h - answering a parsed request from the filesystem: the location with
 * the longest matching prefix, the file under its root (never outside it), index
 * files, Content-Type from the MIME table, validators and ranges.
 */
#ifndef KW_STATIC_FILE_H
#define KW_STATIC_FILE_H

#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

#include "compress.h"
#include "config.h"
#include "http.h"
#include "mime.h"
#include "shared_fd.h"

/**
 * Builds the response to a GET or HEAD request for server srv (resp freshly
 * initialised). Other methods get 405 with Allow. Never fails: errors become
 * 403/404/500 responses. Opens what it needs and closes it again (no cache).
 */
void static_respond(const struct kw_config *cfg, const struct kw_server *srv,
                    const struct mime_table *mime, const struct http_request *req, time_t now,
                    struct http_response *resp);

#define STATIC_CACHE_FILES 16 /* files kept open during one loop turn */
#define STATIC_CACHE_ROOTS 8  /* location roots kept open during one loop turn */

struct static_cached_file {
	const struct kw_location *loc;
	struct shared_fd *file; /* the open file, shared with the responses that send it */
	struct stat st;
	char rel[128]; /* path beneath the root; longer paths are not cached */
};

/**
 * The files and location roots that the requests of one event-loop turn opened,
 * shared by the requests that follow in the same turn (as h2o's file cache does):
 * a change on disk is seen from the next turn on. Owned by the worker, cleared at
 * the end of every turn.
 */
struct static_cache {
	struct {
		const struct kw_location *loc;
		int fd;
	} roots[STATIC_CACHE_ROOTS];
	size_t n_roots;
	struct static_cached_file files[STATIC_CACHE_FILES];
	size_t n_files;
	/* the worker's compressed responses in progress: lives across turns, not cleared */
	struct compress_limit compress;
};

/**
 * The location of srv whose prefix is the longest one path starts with (at a '/' or
 * the end of path), or NULL; *strip is then the length of that prefix without its
 * trailing '/'.
 */
const struct kw_location *static_location(const struct kw_server *srv, const char *path,
                                          size_t *strip);

/** Sets up an empty cache, with no compressed response in progress. */
void static_cache_init(struct static_cache *c);

/** Lets go of everything the cache holds (a file stays open while a response sends it). */
void static_cache_clear(struct static_cache *c);

/**
 * static_respond() sharing what cache holds and adding what it opens (cache may be
 * NULL). A response from a cached file holds a reference to it (resp->fd_shared): the
 * file stays open until the turn has ended and the response is disposed. Only with a
 * cache are responses compressed on the fly (it counts the worker's streams).
 */
void static_respond_cached(const struct kw_config *cfg, const struct kw_server *srv,
                           const struct mime_table *mime, const struct http_request *req,
                           time_t now, struct static_cache *cache, struct http_response *resp);

#endif

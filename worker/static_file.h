/*
 * static_file.h - answering a parsed request from the filesystem: the location with
 * the longest matching prefix, the file under its root (never outside it), index
 * files, Content-Type from the MIME table, validators and ranges.
 */
#ifndef KW_STATIC_FILE_H
#define KW_STATIC_FILE_H

#include <time.h>

#include "config.h"
#include "http.h"

struct mime_table;

/**
 * Loads a mime.types file ("type ext ext ...;" lines as nginx's, or the
 * /etc/mime.types format). path NULL gives the built-in table. Returns 0 or a code
 * with "FILE:LINE: reason" in err.
 */
int mime_table_load(const char *path, struct mime_table **out, char *err, size_t err_len);

/** The type for a file name by its extension, or default_type. */
const char *mime_lookup(const struct mime_table *t, const char *name, const char *default_type);

/** Frees a table. */
void mime_table_free(struct mime_table *t);

/**
 * Builds the response to a GET or HEAD request for server srv (resp freshly
 * initialised). Other methods get 405 with Allow. Never fails: errors become
 * 403/404/500 responses.
 */
void static_respond(const struct kw_config *cfg, const struct kw_server *srv,
                    const struct mime_table *mime, const struct http_request *req, time_t now,
                    struct http_response *resp);

#endif

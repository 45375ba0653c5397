/*
 * mime.h - the MIME table: file name extension -> Content-Type, from a mime.types
 * file or the built-in table.
 */
#ifndef KW_MIME_H
#define KW_MIME_H

#include <stddef.h>

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

#endif

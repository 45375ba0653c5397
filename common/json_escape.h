/*
 * json_escape.h - JSON string escaping of arbitrary bytes (file names, request
 * targets): what a JSON parser reads back as the same text, whatever the input.
 */
#ifndef KW_JSON_ESCAPE_H
#define KW_JSON_ESCAPE_H

#include <stddef.h>

/** The most bytes one input byte becomes: \u00XX. */
#define JSON_ESCAPE_MAX 6u

/**
 * Writes s[0, len) to out as the inside of a JSON string: ", \ and control
 * characters escaped, valid UTF-8 kept, each other byte (invalid UTF-8, DEL) as
 * \u00XX. out has room for JSON_ESCAPE_MAX * len bytes. Returns the bytes written.
 */
size_t json_escape(char *out, const char *s, size_t len);

#endif

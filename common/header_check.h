/*
 * header_check.h - the checks the configuration loader makes on response header
 * fields an administrator adds (headers = [ "Name: value" ], hsts = "..."), so
 * that nothing configured can break a response's framing or repeat what the
 * server sends itself. Each returns NULL when the text is acceptable, else a
 * static sentence saying what is wrong (for a FILE:LINE message).
 */
#ifndef KW_HEADER_CHECK_H
#define KW_HEADER_CHECK_H

#include <stddef.h>

/** Longest header name accepted in a configuration. */
#define KW_HEADER_NAME_MAX 64

/** Longest header line accepted in a configuration, name and value together. */
#define KW_HEADER_LINE_MAX 4096

/**
 * Checks "Name: value": Name an RFC 9110 token of at most 64 characters and not one
 * the server sets itself or that belongs to the connection's framing (see the
 * table in header_check.c), one colon, optional spaces or tabs, then a value
 * of visible ASCII, spaces and tabs (no control byte, no byte above 0x7e), not
 * empty and without trailing whitespace; at most KW_HEADER_LINE_MAX bytes.
 */
const char *kw_header_line_check(const char *line);

/** Length of the name of a line kw_header_line_check() accepted. */
size_t kw_header_name_len(const char *line);

/** The value of a line kw_header_line_check() accepted (after the colon and spaces). */
const char *kw_header_value(const char *line);

/**
 * Checks a Strict-Transport-Security value (RFC 6797): directives separated by
 * ';', each a token or token=value (token or digits), names not repeated, and
 * exactly one "max-age=DIGITS" (at most 10 digits).
 */
const char *kw_hsts_check(const char *value);

#endif

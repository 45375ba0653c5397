/*
 * url_vars.h - the variables a location's return value may hold ($host, $uri,
 * $args, $scheme, $request_uri, or ${name}): checked when the configuration loads,
 * expanded per request. Values from the request are percent-encoded as they are
 * copied, so that no CR, LF, space, quote or other byte outside visible ASCII can
 * reach a header or body through them.
 */
#ifndef KW_URL_VARS_H
#define KW_URL_VARS_H

#include "buf.h"

enum kw_var {
	KW_VAR_HOST,        /* the Host header (or the authority), else the server's first name */
	KW_VAR_URI,         /* the decoded, normalised path */
	KW_VAR_ARGS,        /* the raw query, without '?' */
	KW_VAR_SCHEME,      /* "http" or "https" */
	KW_VAR_REQUEST_URI, /* the raw request target: path and query */
	KW_N_VARS,
};

/** NULL when every '$' of text starts a known variable ($name or ${name}), else why not. */
const char *kw_vars_check(const char *text);

/**
 * Appends text to out with each variable replaced by values[var] (NULL: empty),
 * percent-encoded: %XX for every byte below 0x21 or above 0x7e and for
 * "<>\^`{|}; also for '%', '?' and '#' in $uri (a decoded path), and for anything
 * but letters, digits, '.', '-', ':', '[' and ']' in $host. text must have passed
 * kw_vars_check(). Returns 0 or KW_ERR_NOMEM.
 */
int kw_vars_expand(const char *text, const char *const values[KW_N_VARS], struct kw_buf *out);

/** Appends s percent-encoded as $var's value is. Returns 0 or KW_ERR_NOMEM. */
int kw_vars_encode(enum kw_var var, const char *s, struct kw_buf *out);

#endif

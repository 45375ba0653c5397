/*
 * accept_encoding.h - what an Accept-Encoding request header (RFC 9110, 12.5.3)
 * allows: the quality value it gives each content coding.
 */
#ifndef KW_ACCEPT_ENCODING_H
#define KW_ACCEPT_ENCODING_H

#include <stddef.h>

/** The highest quality value, 1, in thousandths as the functions below give it. */
#define HTTP_Q_MAX 1000

/**
 * The quality value, in thousandths (0 to HTTP_Q_MAX), that the Accept-Encoding
 * value accept gives coding (a lower-case coding name such as "gzip", "br" or
 * "identity"). Rules:
 * - accept NULL (no header): identity 1000, every other coding 0 (a server
 *   compresses only for a client that says it can decode);
 * - names compare case-insensitively, "x-gzip" stands for "gzip"; the first
 *   element naming the coding counts, else a "*" element; a coding that neither
 *   names is 0, except identity, which is then 1000 unless "*" gives it a value;
 * - "q=" takes "0", "0.", "0.d", "0.dd", "0.ddd", "1", "1.", "1.0" ... "1.000"; an
 *   element with a malformed or out-of-range q, or other parameters, is skipped as
 *   if absent; an empty header or an empty element is no element.
 */
int http_accept_q(const char *accept, const char *coding);

/**
 * The codings of codings[0, n) (n at most 8, in the server's order of preference)
 * that accept lets the server choose over identity: those with a q above 0 and,
 * when accept gives identity a q (by name or by "*"), not below it; the highest q
 * first, the server's order among equals. Writes
 * their indices into order and returns how many there are.
 */
size_t http_accept_order(const char *accept, const char *const *codings, size_t n, size_t *order);

#endif

/*
 * tt_vectors.h - test helper: reads a hex value of test/data/v1-vectors.json by key.
 * Only for unit tests; every failure is a criterion assertion.
 */
#ifndef KW_TEST_TT_VECTORS_H
#define KW_TEST_TT_VECTORS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#define TT_VECTORS_PATH TEST_DATA_DIR "/v1-vectors.json"

static inline int
tt_hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/** Decodes hex[0, 2 * len) into out. Asserts on a non-hex character. */
static inline void
tt_hex_decode(const char *hex, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		int hi = tt_hex_nibble(hex[2 * i]), lo = tt_hex_nibble(hex[2 * i + 1]);
		cr_assert(hi >= 0 && lo >= 0, "bad hex at %zu", 2 * i);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
}

/**
 * Returns the bytes of the vector `"key": "hex"` in a malloc'd buffer (caller frees)
 * and their count in *len. Asserts when the file or key is missing.
 */
static inline uint8_t *
tt_vector(const char *key, size_t *len)
{
	FILE *f = fopen(TT_VECTORS_PATH, "r");
	cr_assert_not_null(f, "cannot open %s", TT_VECTORS_PATH);
	char *json = NULL;
	size_t json_len = 0;
	FILE *mem = open_memstream(&json, &json_len);
	cr_assert_not_null(mem);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, mem);
	fclose(f);
	fclose(mem);

	char pattern[128];
	snprintf(pattern, sizeof(pattern), "\"%s\": \"", key);
	const char *start = strstr(json, pattern);
	cr_assert_not_null(start, "no vector %s", key);
	start += strlen(pattern);
	const char *end = strchr(start, '"');
	cr_assert_not_null(end);
	cr_assert_eq((end - start) % 2, 0, "odd hex length for %s", key);
	*len = (size_t)(end - start) / 2;
	uint8_t *out = malloc(*len ? *len : 1);
	cr_assert_not_null(out);
	tt_hex_decode(start, out, *len);
	free(json);
	return out;
}

/** Like tt_vector() for a value of a known size: copies exactly len bytes into out. */
static inline void
tt_vector_fixed(const char *key, uint8_t *out, size_t len)
{
	size_t got;
	uint8_t *v = tt_vector(key, &got);
	cr_assert_eq(got, len, "vector %s has %zu bytes, expected %zu", key, got, len);
	memcpy(out, v, len);
	free(v);
}

#endif

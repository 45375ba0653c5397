/*
 * Fuzzes the path normaliser. Property: an accepted path starts with '/', holds no
 * NUL, no "//" and no "." or ".." segment, so it can never climb out of a root.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
has_dot_segment(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != '/')
			continue;
		size_t j = i + 1;
		while (j < len && p[j] != '/')
			j++;
		size_t seg = j - i - 1;
		if ((seg == 1 && p[i + 1] == '.') || (seg == 2 && p[i + 1] == '.' && p[i + 2] == '.'))
			return 1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *out = malloc(size + 1);
	if (out == NULL)
		return 0;
	size_t out_len = 0;
	if (http_path_normalise((const char *)data, size, out, &out_len) == 0) {
		if (out_len == 0 || out[0] != '/' || out[out_len] != '\0' ||
		    strlen(out) != out_len || strstr(out, "//") != NULL || has_dot_segment(out, out_len))
			abort();
	}
	free(out);
	return 0;
}

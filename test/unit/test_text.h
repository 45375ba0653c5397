/*
 * test_text.h - reading test files whole, and the certificate capture a
 * configuration makes (struct kw_file), for tests that build a kw_config by hand.
 */
#ifndef KW_TEST_TEXT_H
#define KW_TEST_TEXT_H

#include <stdio.h>
#include <stdlib.h>

#include "config.h"

/** The whole text of a file (caller frees), or NULL when it cannot be read. */
static inline char *
test_read_text(const char *path)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t len = 0;

	if (f == NULL)
		return NULL;
	if (getdelim(&text, &len, '\0', f) < 0) {
		free(text);
		text = NULL;
	}
	fclose(f);
	return text;
}

/**
 * The capture of the certificate at path, as the configuration loader makes it;
 * path is borrowed, text is the caller's to free.
 */
static inline struct kw_file
test_capture(const char *path)
{
	return (struct kw_file){(char *)path, test_read_text(path)};
}

#endif

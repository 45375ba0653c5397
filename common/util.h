/*
 * util.h - small helpers every process uses: the owner of an embedded member, the
 * number of elements of an array.
 */
#ifndef KW_UTIL_H
#define KW_UTIL_H

#include <stddef.h>

/** The struct of type that embeds member at ptr. */
#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/** Number of elements of array a (an array, not a pointer). */
#define countof(a) (sizeof(a) / sizeof((a)[0]))

#endif

/*
 * compress.h - on-the-fly compression of a file into a response body: gzip with zlib,
 * brotli with libbrotli, as a body producer (body_producer.h) that reads and
 * compresses a bounded stretch of the file per step.
 *
 * Memory: each stream holds at most COMPRESS_STREAM_MEMORY bytes: its state with a
 * 16 KiB input buffer, and what the encoder allocates (counted through the libraries'
 * allocator hooks). gzip: windowBits 15, memLevel 8, about 280 KiB at every level.
 * brotli: a 64 KiB window (lgwin 16) and qualities up to 9 (10 and 11 are too slow to
 * run on the fly): about 0.2 MiB at qualities 0-1, 0.7 MiB at 2-3, 1.8 MiB at 4,
 * 2.0 MiB at 5-8, 2.8 MiB at 9. A worker runs at most http.compress_streams streams
 * at once (struct compress_limit); a response that would need another is sent
 * uncompressed.
 */
#ifndef KW_COMPRESS_H
#define KW_COMPRESS_H

#include <stdbool.h>
#include <stdint.h>

#include "body_producer.h"
#include "config.h"

/** Input read from the file per step, at most. */
#define COMPRESS_INPUT (16u * 1024u)

/** The most memory one stream holds (see above). */
#define COMPRESS_STREAM_MEMORY (3u << 20)

/** The highest brotli quality (the configuration's limit too). */
#define COMPRESS_BROTLI_MAX_QUALITY 9u

/** The codings compressed on the fly. */
enum compress_coding {
	COMPRESS_GZIP,
	COMPRESS_BR,
};

/** Compressed responses in progress in one worker. Owned by the worker. */
struct compress_limit {
	unsigned active;
	unsigned max; /* http.compress_streams */
};

/**
 * Whether loc compresses a file of this type (a MIME type, parameters ignored) and
 * size: compression on, the type listed (or "type/ *" for its whole type), the size
 * at least compress_min_size.
 */
bool compress_applies(const struct kw_location *loc, const char *type, uint64_t size);

/**
 * Whether lim is full: a producer made now would fail with KW_ERR_STATE. It holds no
 * stream, so that a HEAD takes the decision a GET would take at the same moment.
 */
bool compress_limit_full(const struct compress_limit *lim);

/**
 * A producer of the coding's (gzip or br) compression of fd[0, size), at loc's level.
 * fd is read with pread(2) and must stay open until the producer is disposed (the
 * response that holds both disposes the producer first). Counts against lim.
 * Returns 0 with *out set, KW_ERR_STATE when lim is full, KW_ERR_NOMEM.
 */
int compress_producer_new(enum compress_coding coding, const struct kw_location *loc, int fd,
                          uint64_t size, struct compress_limit *lim, struct body_producer *out);

/**
 * The most memory p (made by compress_producer_new()) has held so far: its state and
 * input buffer and the encoder's allocations.
 */
size_t compress_producer_peak(const struct body_producer *p);

#endif

/*
 * record_writer.h - plaintext written as a stream into a connection's records: laid
 * out in the send buffer (SEND_RECORDS records of the transport's class), copied or
 * read from a file with preadv(2) where the record carries it, protected in place,
 * and sent. What the socket does not take waits in the transport's wire buffer, and
 * the writer is then blocked: its user stops producing until the socket is writable.
 *
 * Memory stays bounded: the send buffer is shared by a worker's connections and
 * used only during one call; a connection holds at most one send buffer's worth (and
 * one frame) in its wire buffer.
 */
#ifndef KW_RECORD_WRITER_H
#define KW_RECORD_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "send.h"

/** One call's writing. */
struct record_writer {
	struct sender *s;
	size_t used;             /* bytes of complete records laid out in s->buf */
	size_t fill;             /* plaintext bytes in the open record */
	size_t budget;           /* bytes still to send before yielding to other connections */
	bool blocked;            /* the socket is full: nothing more until it is writable */
	enum send_status failed; /* SEND_ERROR once sending failed (s->err says why) */
};

/** Starts writing to s's socket through its transport; s->buf is the send buffer. */
void record_writer_start(struct record_writer *w, struct sender *s);

/**
 * true when len more bytes can be written now: the socket is not full and the budget
 * not spent. Writing them may still leave the writer blocked after.
 */
bool record_writer_can_write(const struct record_writer *w);

/** Copies p[0, len). Returns 0, or SEND_ERROR (see w->s->err). */
int record_writer_put(struct record_writer *w, const void *p, size_t len);

/**
 * Reads len bytes of fd from offset off straight into the records with preadv(2).
 * Returns 0, or SEND_ERROR (the file failed or shrank).
 */
int record_writer_read(struct record_writer *w, int fd, uint64_t off, size_t len);

/**
 * Protects and sends what is laid out. Returns SEND_DONE (all sent), SEND_WAIT (the
 * rest waits in the wire buffer: blocked), or SEND_ERROR.
 */
enum send_status record_writer_flush(struct record_writer *w);

#endif

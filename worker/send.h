/*
 * send.h - the sending engine: writes a connection's response, or its transport's
 * queued wire bytes, to the socket without blocking. It never closes anything: each
 * call says DONE, WAIT (the socket is full, or the call yielded to other connections)
 * or ERROR with the reason, and the caller decides.
 *
 * Passthrough transports (plain): memory pieces and small file pieces leave together
 * with sendmsg(2), larger file pieces with sendfile(2). Others: records laid out in
 * the send buffer (SEND_RECORDS at a time), their plaintext copied or read with
 * preadv(2) in place, protected in place by the transport, sent with one send(2);
 * what the socket does not take waits in the transport's wire buffer.
 *
 * A generated body (resp->producer) follows the segments on every transport: its
 * steps are made in the send buffer, at most record_max bytes each and SEND_RECORDS
 * steps per call and per send(2), framed as chunks when resp->chunked, protected in
 * place; the call then yields (SEND_WAIT), and the next steps are made only once the
 * wire buffer is empty again, so a slow reader holds at most one send buffer's worth
 * of a generated body in the server.
 */
#ifndef KW_SEND_H
#define KW_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_response.h"
#include "log.h"
#include "transport.h"

/** Records laid out per send(2) of a response; the send buffer holds this many. */
#define SEND_RECORDS 16u

/** Bytes sent per call before yielding to other connections. */
#define SEND_BUDGET (512u * 1024u)

enum send_status {
	SEND_DONE,  /* all of it is out */
	SEND_WAIT,  /* the socket is full, or the budget is spent: call again when writable */
	SEND_ERROR, /* see the sender's err */
};

/** Why sending failed, for the caller's log line before it closes the connection. */
struct send_error {
	enum kw_log_level level;
	const char *what;  /* "write", "sendfile", "reading the file"; NULL: why says it all */
	const char *why;   /* strerror(3) or a sentence */
	int transport_err; /* nonzero: the transport failed (its error() has the detail) */
};

/** Where the sending of one response stands. */
struct send_cursor {
	size_t piece;       /* 0: the head, 1 + i: segment i, then the generated body */
	uint64_t piece_off; /* bytes of the piece already queued or sent */
	uint64_t body_sent; /* body bytes queued or sent, for the access log */
	bool gen_ended;     /* the generated body has made its last step */
};

/** One connection's socket and transport, as the engine uses them. */
struct sender {
	int fd;
	struct transport *t;
	uint8_t *buf;     /* send buffer: SEND_RECORDS records of the transport's class */
	bool close_after; /* the connection closes after this response (see more_flag in send.c) */
	size_t sent;      /* out: bytes the socket took during the call */
	struct send_error err; /* out, with SEND_ERROR */
};

/** Size of the send buffer for transports of a class with record_size. */
static inline size_t
send_buffer_size(size_t record_size)
{
	return SEND_RECORDS * record_size;
}

/** Places cur at the start of resp (past any empty piece). */
void send_cursor_start(struct send_cursor *cur, const struct http_response *resp);

/** Writes what the transport's wire buffer holds. */
enum send_status send_wire(struct sender *s);

/** Sends resp from cur on, moving cur; SEND_DONE when the whole response is out. */
enum send_status send_response(struct sender *s, const struct http_response *resp,
                               struct send_cursor *cur);

#endif

/*
 * h2_session.h - one HTTP/2 connection (libnghttp2 does the framing, HPACK and flow
 * control): requests become struct http_request, the connection's host answers them
 * with the same handler as HTTP/1.1, and the responses leave as HEADERS and DATA
 * frames. Streams are served concurrently; bodies are read from their file straight
 * into the connection's records (nghttp2's no-copy data source), as much as the
 * flow-control windows allow; a generated body (body_producer.h) is made one step at a
 * time into an 8 KiB stage of its stream, only once the last step has left. Request
 * bodies are discarded; one larger than http.max_body_size is refused (413, or the
 * stream reset).
 *
 * Limits and protections (cfg->http2): concurrent streams, header list size (an
 * HPACK bomb), frame and window sizes, a SETTINGS acknowledgement timeout, stream
 * resets per interval (rapid reset), CONTINUATION frames per header block, frames
 * that serve no request per second (SETTINGS, PING, PRIORITY, RST_STREAM, empty
 * DATA). Each, when exceeded, ends the session with GOAWAY; the connection then
 * closes.
 *
 * The session knows no socket: the connection feeds it plaintext and lets it write
 * through a struct sender. It never calls back into nghttp2 after h2_session_free().
 */
#ifndef KW_H2_SESSION_H
#define KW_H2_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "http.h"
#include "loop.h"
#include "send.h"

struct h2_session;

/** GOAWAY error codes the connection ends a session with (RFC 9113 section 7). */
enum {
	H2_NO_ERROR = 0x0,
	H2_ENHANCE_YOUR_CALM = 0xb,
};

/** The connection, as its HTTP/2 session sees it. */
struct h2_host {
	/** Answers req into resp (freshly initialised), as for HTTP/1.1. */
	void (*respond)(struct h2_host *h, const struct http_request *req,
	                struct http_response *resp);
	/** A stream's exchange ended (req NULL: the request was refused): the access log. */
	void (*done)(struct h2_host *h, const struct http_request *req, int status,
	             uint64_t body_bytes);
	/** The session moved on by itself (a timer): the connection steps again. */
	void (*wake)(struct h2_host *h);
};

/**
 * A server session for cfg's limits, which queues its SETTINGS; q_settings times the
 * peer's acknowledgement. host, cfg, loop and q_settings outlive the session. NULL
 * when out of memory.
 */
struct h2_session *h2_session_new(const struct kw_config *cfg, struct loop *loop,
                                  struct kw_timer_queue *q_settings, struct h2_host *host);

/**
 * Frees the session; streams still open are logged through host->done as they stand.
 */
void h2_session_free(struct h2_session *s);

/**
 * Takes plaintext received (all of it). Returns 0, or a code: the session failed and
 * queued its GOAWAY, which may still be sent; see h2_session_why().
 */
int h2_session_recv(struct h2_session *s, const uint8_t *in, size_t len);

/**
 * Writes the frames the session has to send through snd, as far as the socket, the
 * peer's windows and the per-call budget allow. SEND_WAIT: call again when the socket
 * is writable; SEND_DONE: nothing more to send for now.
 */
enum send_status h2_session_send(struct h2_session *s, struct sender *snd);

/** true while a response is not all sent. */
bool h2_session_busy(const struct h2_session *s);

/** true when the session is over (GOAWAY sent or received, no stream left). */
bool h2_session_finished(const struct h2_session *s);

/** Ends the session now with GOAWAY error code (H2_*, RFC 9113's codes), for why. */
void h2_session_terminate(struct h2_session *s, uint32_t code, const char *why);

/** Graceful end: GOAWAY with the last stream taken; those streams finish. */
void h2_session_shutdown(struct h2_session *s);

/** Why the session ended, for the log; NULL while it runs. */
const char *h2_session_why(const struct h2_session *s);

#endif

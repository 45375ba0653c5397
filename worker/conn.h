/*
 * conn.h - one client connection: socket, transport (plain or toy-TLS), HTTP
 * exchanges one after the other (pipelined requests answered in order), timeouts.
 *
 *   handshake -> request head -> response (request body discarded meanwhile)
 *        -> [rest of the body] -> keep-alive idle -> request head ...
 *   error or Connection: close -> response -> lingering close
 *
 * A connection lives in its worker's list; it closes itself on any error, timeout
 * or end of input, and is freed by the worker after the loop turn it closed in.
 */
#ifndef KW_CONN_H
#define KW_CONN_H

#include <stdbool.h>
#include <sys/socket.h>

#include "worker.h"

/**
 * Takes over an accepted non-blocking socket from listener l and starts serving it.
 * On failure the socket is closed (and the failure logged). Returns 0 or a code.
 */
int conn_accept(struct worker *w, struct worker_listener *l, int fd, const struct sockaddr *peer,
                socklen_t peer_len);

/** Closes the keep-alive connection idle for the longest time. false when none is idle. */
bool conn_close_oldest_idle(struct worker *w);

/** Graceful shutdown begins: idle connections close, the others close after their response. */
void conn_shutdown_idle(struct worker *w);

/** Closes every connection, logging reason. */
void conn_close_all(struct worker *w, const char *reason);

/** Frees the connections closed during this loop turn. */
void conn_free_dead(struct worker *w);

#endif

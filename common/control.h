/*
 * control.h - the master <-> child control channel (one SOCK_SEQPACKET socketpair
 * per child), with file descriptors passed by SCM_RIGHTS. This is the only place
 * that frames control messages or passes descriptors.
 *
 * A child treats EOF on its control channel as "the master is gone" and exits.
 *
 * Every process reads its channels with ctl_dispatch() and one table of handlers per
 * peer: the rules for descriptors, malformed messages and unknown types are here once.
 */
#ifndef KW_CONTROL_H
#define KW_CONTROL_H

#include <stddef.h>
#include <stdint.h>

enum ctl_type {
	CTL_READY = 1,       /* child -> master: set up and serving */
	CTL_CHANNEL = 2,     /* master -> signer: a new worker channel (1 fd), arg = worker slot;
	                        master -> worker: a new channel to a new signer (1 fd) */
	CTL_SHUTDOWN = 3,    /* master -> child: stop accepting, finish, exit by arg ms */
	CTL_REOPEN_LOGS = 4, /* master -> child: fds = { error log, first access log (optional) } */
	CTL_WORKER_BROKE = 5, /* signer -> master: worker arg sent a malformed request or stopped
	                         reading replies; its channel is closed, the master stops it */
	CTL_TICKET_KEYS = 6,  /* master -> worker: TLS 1.3 session ticket keys (1 fd, a memfd:
	                         ticket_keys.h) */
	CTL_REOPEN_ACCESS_LOG = 7, /* master -> worker: access log file arg (> 0) reopened (1 fd) */
};

#define CTL_MAX_FDS 4

struct ctl_msg {
	uint32_t type;
	uint32_t arg;
};

/** Sends one message with up to CTL_MAX_FDS descriptors. Returns 0 or -errno. */
int ctl_send(int sock, const struct ctl_msg *msg, const int *fds, size_t n_fds);

/**
 * Receives one message. fds has room for CTL_MAX_FDS; *n_fds receives the count
 * (descriptors are close-on-exec). Returns 1 on a message, 0 on EOF, -EAGAIN when
 * nothing is waiting on a non-blocking socket, or another -errno (a malformed
 * message is -EPROTO; any descriptors that came with it are closed).
 */
int ctl_recv(int sock, struct ctl_msg *msg, int *fds, size_t *n_fds);

/** A handler's answer: go on reading, or stop (the caller's meaning, e.g. exit). */
enum ctl_verdict {
	CTL_CONTINUE = 0,
	CTL_STOP = 1,
};

/**
 * One message type a process accepts from one peer, with the number of descriptors
 * it comes with. handle gets the descriptors in fds[0, n_fds): a handler that keeps
 * one takes it by setting its slot to -1; the dispatcher closes the rest afterwards.
 */
struct ctl_handler {
	uint32_t type;
	size_t min_fds, max_fds;
	enum ctl_verdict (*handle)(void *ctx, const struct ctl_msg *msg, int *fds, size_t n_fds);
};

/** What ctl_dispatch() saw. */
enum ctl_dispatch_result {
	CTL_DISPATCH_IDLE = 0, /* nothing more waiting (or max_msgs handled): wait for the next */
	CTL_DISPATCH_STOP,     /* a handler answered CTL_STOP; later messages stay queued */
	CTL_DISPATCH_EOF,      /* the peer closed the channel (or reset it) */
	CTL_DISPATCH_BROKEN,   /* an unknown type or a receive error, logged: close the channel */
};

/**
 * Reads and handles the messages waiting on sock (non-blocking), at most max_msgs of
 * them (0: no limit), with handlers[0, n_handlers) and ctx. A known type with a
 * descriptor count outside its handler's range, and a malformed message (wrong
 * length, truncated descriptors), are logged and dropped with their descriptors;
 * reading goes on. An unknown type is logged and ends the reading with
 * CTL_DISPATCH_BROKEN: the caller closes the channel. peer names the other end in
 * log lines.
 */
enum ctl_dispatch_result ctl_dispatch(int sock, const struct ctl_handler *handlers,
                                      size_t n_handlers, void *ctx, const char *peer,
                                      unsigned max_msgs);

#endif

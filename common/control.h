/*
 * control.h - the master <-> child control channel (one SOCK_SEQPACKET socketpair
 * per child), with file descriptors passed by SCM_RIGHTS. This is the only place
 * that frames control messages or passes descriptors.
 *
 * A child treats EOF on its control channel as "the master is gone" and exits.
 */
#ifndef KW_CONTROL_H
#define KW_CONTROL_H

#include <stddef.h>
#include <stdint.h>

enum ctl_type {
	CTL_READY = 1,          /* child -> master: set up and serving */
	CTL_CHANNEL = 2,        /* master -> signer: a new worker channel (1 fd), arg = worker slot;
	                           master -> worker: a new channel to a new signer (1 fd) */
	CTL_SHUTDOWN = 3,       /* master -> child: stop accepting, finish, exit by arg ms */
	CTL_REOPEN_LOGS = 4,    /* master -> child: fds = { error log, access log (optional) } */
	CTL_WORKER_BROKE = 5,   /* signer -> master: worker arg sent a malformed request or stopped
	                           reading replies; its channel is closed, the master stops it */
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

#endif

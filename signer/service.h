/*
 * service.h - the signer's serving loop: the main thread reads the control channel
 * and the signals; a pool of signing threads waits on one epoll set of the worker
 * channels (each armed EPOLLONESHOT), so a readable channel wakes one thread, which
 * reads every request waiting on it in one call, admits them in order (stub.h), signs
 * them and writes their replies in one call, and goes on reading the channel while
 * requests keep coming (a few batches at most) before it waits again.
 *
 * A batch with a malformed request, or one the admission refuses as broken, closes
 * the channel unanswered. Replies that cannot be written at once (EAGAIN: the worker
 * stopped reading and its channel is full) mark that channel stuck: it is shut down
 * and closed, like a malformed request does. Closing a channel never affects another.
 */
#ifndef KW_SIGNER_SERVICE_H
#define KW_SIGNER_SERVICE_H

#include "config.h"
#include "keys.h"
#include "metrics.h"

struct signer_service;

/**
 * Sets up the service on control_fd (the master's control channel, made
 * non-blocking): blocks SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGPIPE
 * in every thread and takes them through a signalfd, and starts cfg->signer.threads
 * signing threads (at least one) and waits until each runs, so that a seccomp filter
 * installed next finds their start-up system calls done. keys is borrowed and must outlive the
 * service; nothing else of cfg is kept. Returns 0 with *out set, or KW_ERR_NOMEM / KW_ERR_INTERNAL
 * (logged) with nothing left behind. The service counts requests, signatures and refusals in
 * metrics (a slot of the shared counters, metrics.h, which must outlive it; NULL: counted
 * only inside the service), with atomic adds only: no system call.
 */
int signer_service_start(const struct kw_config *cfg, const struct signer_keys *keys,
                         int control_fd, struct kw_metrics_signer *metrics,
                         struct signer_service **out);

/**
 * Serves until the control channel reaches EOF or says CTL_SHUTDOWN, or SIGTERM or
 * SIGINT arrives: returns 0 then. Worker channels arrive as CTL_CHANNEL (arg = worker
 * slot) with one descriptor, which the service owns from then on; CTL_REOPEN_LOGS
 * puts the error log it carries in place of descriptor KW_FD_ERROR_LOG, where the
 * caller keeps the error log. Returns KW_ERR_INTERNAL when the loop itself fails
 * (logged).
 */
int signer_service_run(struct signer_service *svc);

/** Stops and joins the signing threads, closes every channel and frees the service. */
void signer_service_free(struct signer_service *svc);

#endif

/*
 * sandbox_probe.h - for the test build of the worker only (keyward-worker-probe, never
 * installed): attempts what the sandbox must refuse, from inside a real worker.
 */
#ifndef KW_SANDBOX_PROBE_H
#define KW_SANDBOX_PROBE_H

struct loop;

/**
 * Reads the attempts from KW_SANDBOX_PROBE (space-separated: "open:PATH",
 * "execve:PATH", "connect:PORT" on 127.0.0.1), blocks SIGRTMIN to SIGRTMIN+N-1 and
 * watches them with a signalfd on loop: signal SIGRTMIN+k makes the worker log
 * "sandbox probe: K ATTEMPT: trying", then try attempt k and log "refused (errno
 * text)" or "allowed". Call before the sandbox (signalfd is not in its allowlist).
 * Returns 0, or -1 (logged) on a malformed list or a failed set-up.
 */
int sandbox_probe_init(struct loop *loop);

#endif

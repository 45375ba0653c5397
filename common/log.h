/*
 * log.h - the error log: one line per event with timestamp, level, process role
 * and pid, written with a single write(2) to a file or stderr.
 */
#ifndef KW_LOG_H
#define KW_LOG_H

#include <stdbool.h>

enum kw_log_level {
	KW_LOG_ERR = 3,
	KW_LOG_WARN = 4,
	KW_LOG_NOTICE = 5,
	KW_LOG_INFO = 6,
	KW_LOG_DEBUG = 7,
};

/** Sets the role shown on each line ("master", "worker", "signer") and the fd written to. */
void kw_log_init(const char *role, int fd, enum kw_log_level level);

/** Changes the fd (after a log reopen); the previous fd is not closed. */
void kw_log_set_fd(int fd);

/** Changes the level: messages above it are dropped. */
void kw_log_set_level(enum kw_log_level level);

/** Parses "error", "warn", "notice", "info", "debug". Returns 0 or KW_ERR_ARGUMENT. */
int kw_log_level_parse(const char *name, enum kw_log_level *level);

/** true when a message at this level would be written (to skip formatting its parts). */
bool kw_log_enabled(enum kw_log_level level);

/** Writes one line at a level. Never blocks longer than one write(2). */
void kw_log(enum kw_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * Prints a command-line error to stderr as "keyward: message". When stderr is the
 * journal (as in a unit's ExecStartPre), the line carries the error priority, so that
 * `journalctl -p err` shows it.
 */
void kw_print_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define kw_log_err(...) kw_log(KW_LOG_ERR, __VA_ARGS__)
#define kw_log_warn(...) kw_log(KW_LOG_WARN, __VA_ARGS__)
#define kw_log_notice(...) kw_log(KW_LOG_NOTICE, __VA_ARGS__)
#define kw_log_info(...) kw_log(KW_LOG_INFO, __VA_ARGS__)
#define kw_log_debug(...) kw_log(KW_LOG_DEBUG, __VA_ARGS__)

#endif

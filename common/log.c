/*
 * log.c - the error log. Each event is formatted into a stack buffer and written
 * with one write(2), so that lines from several processes sharing one O_APPEND
 * file or one stderr never interleave. When the descriptor is the journal's
 * stream (JOURNAL_STREAM), lines carry an sd-daemon "<N>" priority prefix instead
 * of a timestamp, since journald stamps them itself.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"

#define LOG_LINE_MAX 2048
#define LOG_ROLE_MAX 16
#define LOG_ELLIPSIS "..."

static struct {
	char role[LOG_ROLE_MAX];
	int fd;
	enum kw_log_level level;
	bool journal;
} log_state = {"keyward", 2, KW_LOG_NOTICE, false};

static const char *const level_names[] = {
    [KW_LOG_ERR] = "error", [KW_LOG_WARN] = "warn",   [KW_LOG_NOTICE] = "notice",
    [KW_LOG_INFO] = "info", [KW_LOG_DEBUG] = "debug",
};

static bool
fd_is_journal(int fd)
{
	const char *stream = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!stream || sscanf(stream, "%llu:%llu", &dev, &ino) != 2 || fstat(fd, &st) < 0)
		return false;
	return st.st_dev == (dev_t)dev && st.st_ino == (ino_t)ino;
}

void
kw_log_init(const char *role, int fd, enum kw_log_level level)
{
	snprintf(log_state.role, sizeof(log_state.role), "%s", role);
	log_state.level = level;
	kw_log_set_fd(fd);
}

void
kw_log_set_fd(int fd)
{
	log_state.fd = fd;
	log_state.journal = fd_is_journal(fd);
}

void
kw_log_set_level(enum kw_log_level level)
{
	log_state.level = level;
}

int
kw_log_level_parse(const char *name, enum kw_log_level *level)
{
	for (size_t i = KW_LOG_ERR; i <= KW_LOG_DEBUG; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*level = (enum kw_log_level)i;
			return KW_OK;
		}
	}
	return KW_ERR_ARGUMENT;
}

static size_t
format_prefix(char *buf, size_t len, enum kw_log_level level)
{
	struct timespec ts;
	struct tm tm;
	int n;

	if (log_state.journal) {
		n = snprintf(buf, len, "<%d>[%s] %s[%ld]: ", (int)level, level_names[level],
		             log_state.role, (long)getpid());
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ [%s] %s[%ld]: ",
		             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		             tm.tm_sec, ts.tv_nsec / 1000000L, level_names[level], log_state.role,
		             (long)getpid());
	}
	return n < 0 ? 0 : (size_t)n;
}

static void
neutralise_controls(char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c < 0x20 || c == 0x7f)
			text[i] = '?';
	}
}

bool
kw_log_enabled(enum kw_log_level level)
{
	return level <= log_state.level && level >= KW_LOG_ERR;
}

void
kw_log(enum kw_log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	size_t room, used, body;
	int saved_errno = errno;
	va_list ap;
	int n;

	if (!kw_log_enabled(level))
		return;

	room = sizeof(line) - 1;
	used = format_prefix(line, room, level);
	va_start(ap, fmt);
	n = vsnprintf(line + used, room - used, fmt, ap);
	va_end(ap);
	body = n < 0 ? 0 : (size_t)n;
	if (body >= room - used) {
		body = room - used - 1;
		memcpy(line + used + body - strlen(LOG_ELLIPSIS), LOG_ELLIPSIS,
		       strlen(LOG_ELLIPSIS));
	}
	neutralise_controls(line + used, body);
	used += body;
	line[used++] = '\n';

	while (write(log_state.fd, line, used) < 0 && errno == EINTR)
		;
	errno = saved_errno;
}

void
kw_print_error(const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	fprintf(stderr, "%skeyward: %s\n", fd_is_journal(2) ? "<3>" : "", line);
}

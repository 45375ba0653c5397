#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

static int pipe_fds[2];

static void
setup(void)
{
	unsetenv("JOURNAL_STREAM");
	cr_assert_eq(pipe(pipe_fds), 0);
	cr_assert_eq(fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK), 0);
	kw_log_init("tester", pipe_fds[1], KW_LOG_INFO);
}

static void
teardown(void)
{
	close(pipe_fds[0]);
	close(pipe_fds[1]);
}

TestSuite(log, .init = setup, .fini = teardown);

/* Everything written to the pipe so far, NUL-terminated. */
static char *
drain(void)
{
	static char buf[8192];
	ssize_t n = read(pipe_fds[0], buf, sizeof(buf) - 1);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void
assert_matches(const char *text, const char *pattern)
{
	regex_t re;

	cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	cr_assert_eq(regexec(&re, text, 0, NULL, 0), 0, "%s does not match %s", text, pattern);
	regfree(&re);
}

Test(log, line_format)
{
	char pattern[256];

	kw_log_notice("ready: generation %d, %d workers", 1, 2);
	snprintf(pattern, sizeof(pattern),
	         "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z \\[notice\\] "
	         "tester\\[%ld\\]: ready: generation 1, 2 workers\n$",
	         (long)getpid());
	assert_matches(drain(), pattern);
}

Test(log, level_names)
{
	kw_log_set_level(KW_LOG_DEBUG);
	kw_log_err("a");
	kw_log_warn("b");
	kw_log_info("c");
	kw_log_debug("d");
	char *text = drain();
	cr_assert(strstr(text, "[error] tester"));
	cr_assert(strstr(text, "[warn] tester"));
	cr_assert(strstr(text, "[info] tester"));
	cr_assert(strstr(text, "[debug] tester"));
}

Test(log, messages_above_the_level_are_dropped)
{
	kw_log_debug("hidden");
	cr_assert_str_eq(drain(), "");
	kw_log_set_level(KW_LOG_ERR);
	kw_log_warn("hidden");
	cr_assert_str_eq(drain(), "");
	kw_log_err("shown");
	cr_assert(strstr(drain(), "shown\n"));
}

Test(log, invalid_level_is_dropped)
{
	kw_log_set_level(KW_LOG_DEBUG);
	kw_log(2, "x");
	kw_log(8, "x");
	cr_assert_str_eq(drain(), "");
}

Test(log, long_lines_are_truncated_with_an_ellipsis)
{
	char big[5000], *text;
	size_t len;

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	kw_log_notice("%s", big);
	text = drain();
	len = strlen(text);
	cr_assert_lt(len, 2048);
	cr_assert_gt(len, 1900);
	cr_assert_str_eq(text + len - 4, "...\n");
	cr_assert_eq(strchr(text, '\n'), text + len - 1);
}

Test(log, control_characters_cannot_forge_lines)
{
	kw_log_notice("GET /\n2026-01-01T00:00:00.000Z [error] fake\r\x1b[31m");
	char *text = drain();
	cr_assert_eq(strchr(text, '\n'), text + strlen(text) - 1);
	cr_assert(strstr(text, "GET /?2026-01-01T00:00:00.000Z [error] fake??[31m\n"));
}

Test(log, errno_is_preserved)
{
	errno = EXDEV;
	kw_log_notice("x");
	cr_assert_eq(errno, EXDEV);
}

Test(log, set_fd_switches_the_destination)
{
	int other[2];
	char buf[256] = "";

	cr_assert_eq(pipe(other), 0);
	kw_log_set_fd(other[1]);
	kw_log_notice("moved");
	cr_assert_str_eq(drain(), "");
	cr_assert_gt(read(other[0], buf, sizeof(buf) - 1), 0);
	cr_assert(strstr(buf, "moved\n"));
	close(other[0]);
	close(other[1]);
}

Test(log, journal_stream_gets_priority_prefixes)
{
	struct stat st;
	char env[64], expected[128];

	cr_assert_eq(fstat(pipe_fds[1], &st), 0);
	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
	         (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", env, 1);
	kw_log_set_fd(pipe_fds[1]);
	kw_log_warn("to the journal");
	snprintf(expected, sizeof(expected), "<4>[warn] tester[%ld]: to the journal\n",
	         (long)getpid());
	cr_assert_str_eq(drain(), expected);
}

Test(log, other_journal_stream_keeps_timestamps)
{
	setenv("JOURNAL_STREAM", "1:2", 1);
	kw_log_set_fd(pipe_fds[1]);
	kw_log_notice("x");
	assert_matches(drain(), "^[0-9]{4}-");
	setenv("JOURNAL_STREAM", "garbage", 1);
	kw_log_set_fd(pipe_fds[1]);
	kw_log_notice("x");
	assert_matches(drain(), "^[0-9]{4}-");
}

Test(log, level_parse)
{
	static const struct {
		const char *name;
		enum kw_log_level level;
	} cases[] = {
	    {"error", KW_LOG_ERR}, {"warn", KW_LOG_WARN},   {"notice", KW_LOG_NOTICE},
	    {"info", KW_LOG_INFO}, {"debug", KW_LOG_DEBUG},
	};
	enum kw_log_level level;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(kw_log_level_parse(cases[i].name, &level), KW_OK);
		cr_assert_eq(level, cases[i].level);
	}
	level = KW_LOG_INFO;
	cr_assert_eq(kw_log_level_parse("ERROR", &level), KW_ERR_ARGUMENT);
	cr_assert_eq(kw_log_level_parse("warning", &level), KW_ERR_ARGUMENT);
	cr_assert_eq(kw_log_level_parse("", &level), KW_ERR_ARGUMENT);
	cr_assert_eq(level, KW_LOG_INFO);
}

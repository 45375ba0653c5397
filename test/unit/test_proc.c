#include <criterion/criterion.h>

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "proc.h"

static int
memfd_with(const char *text, size_t len)
{
	int fd = memfd_create("test", MFD_CLOEXEC);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	return fd;
}

Test(proc, read_fd_reads_from_offset_zero)
{
	int fd = memfd_with("workers = 2;\n", 13);
	char *text;

	text = kw_proc_read_fd(fd, 1024, NULL);
	cr_assert_not_null(text);
	cr_assert_str_eq(text, "workers = 2;\n");
	free(text);
	text = kw_proc_read_fd(fd, 1024, NULL);
	cr_assert_str_eq(text, "workers = 2;\n");
	free(text);
	close(fd);
}

Test(proc, read_fd_at_and_over_the_limit)
{
	int fd = memfd_with("0123456789", 10);
	size_t len = 0;
	char *text;

	text = kw_proc_read_fd(fd, 10, &len);
	cr_assert_eq(len, 10);
	cr_assert_str_eq(text, "0123456789");
	free(text);
	cr_assert_null(kw_proc_read_fd(fd, 9, NULL));
	cr_assert_null(kw_proc_read_fd(fd, 0, NULL));
	close(fd);
}

Test(proc, read_fd_empty_and_large)
{
	static char big[20000];
	int fd = memfd_with("", 0), fd2;
	char *text;

	text = kw_proc_read_fd(fd, 0, NULL);
	cr_assert_str_eq(text, "");
	free(text);
	close(fd);

	memset(big, 'x', sizeof(big));
	fd2 = memfd_with(big, sizeof(big));
	text = kw_proc_read_fd(fd2, sizeof(big), NULL);
	cr_assert_eq(strlen(text), sizeof(big));
	free(text);
	cr_assert_null(kw_proc_read_fd(fd2, sizeof(big) - 1, NULL));
	close(fd2);
}

Test(proc, read_fd_bad_descriptor)
{
	int p[2];

	cr_assert_null(kw_proc_read_fd(-1, 100, NULL));
	cr_assert_eq(pipe(p), 0);
	cr_assert_null(kw_proc_read_fd(p[0], 100, NULL));
	close(p[0]);
	close(p[1]);
}

Test(proc, now_ms_is_monotonic)
{
	struct timespec ts;
	unsigned long long a, b, ref;

	a = kw_now_ms();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ref = (unsigned long long)ts.tv_sec * 1000ULL + (unsigned long long)ts.tv_nsec / 1000000ULL;
	b = kw_now_ms();
	cr_assert_leq(a, ref);
	cr_assert_leq(ref, b);
}

Test(proc, set_title_overwrites_the_argument_area)
{
	char area[] = "keyward-worker\0--config\0/etc/keyward/keyward.conf\0--slot\0"
	              "3";
	char *argv[6], name[32] = "";

	argv[0] = area;
	for (int i = 1; i < 5; i++)
		argv[i] = argv[i - 1] + strlen(argv[i - 1]) + 1;
	argv[5] = NULL;
	cr_assert_str_eq(argv[4], "3");
	kw_proc_set_title(5, argv, "keyward: worker");
	cr_assert_str_eq(area, "keyward: worker");
	for (size_t i = strlen("keyward: worker"); i < sizeof(area); i++)
		cr_assert_eq(area[i], '\0');
	cr_assert_str_eq(argv[0], "keyward-worker");
	cr_assert_str_eq(argv[1], "--config");
	cr_assert_str_eq(argv[2], "/etc/keyward/keyward.conf");
	cr_assert_str_eq(argv[3], "--slot");
	cr_assert_str_eq(argv[4], "3");
	cr_assert_eq(prctl(PR_GET_NAME, name, 0, 0, 0), 0);
	cr_assert_str_eq(name, "keyward: worker");
}

Test(proc, set_title_is_cut_to_the_area_and_name_to_15)
{
	char area[] = "kw\0-x";
	char *argv[] = {area, area + 3, NULL};
	char name[32] = "";

	kw_proc_set_title(2, argv, "keyward: a very long title");
	cr_assert_arr_eq(area, "keywa", 5);
	cr_assert_eq(area[5], '\0');
	cr_assert_eq(prctl(PR_GET_NAME, name, 0, 0, 0), 0);
	cr_assert_str_eq(name, "keyward: a very");
	kw_proc_set_title(2, argv, "k2");
	cr_assert_str_eq(area, "k2");
	cr_assert_str_eq(argv[1], "-x");
}

Test(proc, drop_privileges_does_nothing_unless_root)
{
	char err[256] = "";
	uid_t uid = getuid();

	if (geteuid() == 0)
		cr_skip_test("running as root");
	cr_assert_eq(kw_proc_drop_privileges("no-such-user-keyward", err, sizeof(err)), KW_OK);
	cr_assert_eq(getuid(), uid);
}

Test(proc, drop_privileges_unknown_user)
{
	char err[256] = "";

	if (geteuid() != 0)
		cr_skip_test("needs root");
	cr_assert_eq(kw_proc_drop_privileges("no-such-user-keyward", err, sizeof(err)),
	             KW_ERR_ARGUMENT);
	cr_assert(strstr(err, "no-such-user-keyward"), "%s", err);
	cr_assert_eq(geteuid(), 0);
}

Test(proc, drop_privileges_refuses_root)
{
	char err[256] = "";

	if (geteuid() != 0)
		cr_skip_test("needs root");
	cr_assert_eq(kw_proc_drop_privileges("root", err, sizeof(err)), KW_ERR_ARGUMENT);
	cr_assert(strstr(err, "root"), "%s", err);
	cr_assert_eq(geteuid(), 0);
}

Test(proc, drop_privileges_to_nobody)
{
	struct passwd *pw = getpwnam("nobody");
	char err[256] = "";
	gid_t groups[8];
	uid_t r, e, s;

	if (geteuid() != 0 || !pw)
		cr_skip_test("needs root and a nobody user");
	cr_assert_eq(kw_proc_drop_privileges("nobody", err, sizeof(err)), KW_OK, "%s", err);
	cr_assert_eq(getresuid(&r, &e, &s), 0);
	cr_assert(r == pw->pw_uid && e == pw->pw_uid && s == pw->pw_uid);
	cr_assert_eq(getgid(), pw->pw_gid);
	cr_assert_eq(getgroups(8, groups), 1);
	cr_assert_eq(groups[0], pw->pw_gid);
	cr_assert_neq(setuid(0), 0);
}

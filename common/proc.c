/*
 * proc.c - process plumbing shared by every role: title, privilege drop, reading
 * the configuration snapshot, and the monotonic clock.
 */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "log.h"

#define PROC_NAME_MAX 15
#define READ_CHUNK    4096

/* The kernel's view of argv (the title area) and the heap copies argv[] points to after. */
static struct {
	char *area;
	size_t len;
	char *copies;
} title_state;

static int
move_arguments(int argc, char **argv)
{
	size_t total = 0;
	char *end, *p;

	end = argv[0] + strlen(argv[0]);
	for (int i = 0; i < argc; i++) {
		total += strlen(argv[i]) + 1;
		if (i > 0 && argv[i] == end + 1)
			end = argv[i] + strlen(argv[i]);
	}
	title_state.copies = malloc(total);
	if (!title_state.copies)
		return KW_ERR_NOMEM;
	title_state.area = argv[0];
	title_state.len = (size_t)(end - argv[0]);
	p = title_state.copies;
	for (int i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]) + 1;

		memcpy(p, argv[i], n);
		argv[i] = p;
		p += n;
	}
	return KW_OK;
}

int
kw_fd_access_log(size_t n_listeners, size_t i)
{
	return i == 0 ? KW_FD_ACCESS_LOG : KW_FD_LISTENERS + (int)(n_listeners + i - 1);
}

void
kw_proc_set_title(int argc, char **argv, const char *title)
{
	char name[PROC_NAME_MAX + 1];
	size_t len;

	snprintf(name, sizeof(name), "%s", title);
	prctl(PR_SET_NAME, name, 0, 0, 0);

	if (!title_state.area && (argc < 1 || !argv || !argv[0] || move_arguments(argc, argv) < 0))
		return;
	len = strlen(title);
	if (len > title_state.len)
		len = title_state.len;
	memcpy(title_state.area, title, len);
	memset(title_state.area + len, '\0', title_state.len - len);
}

int
kw_proc_drop_privileges(const char *user, char *err, size_t err_len)
{
	struct passwd *pw;
	gid_t gid;
	uid_t uid;

	if (geteuid() != 0)
		return KW_OK;

	errno = 0;
	pw = getpwnam(user);
	if (!pw) {
		snprintf(err, err_len, "user \"%s\": %s", user,
		         errno ? strerror(errno) : "no such user");
		return KW_ERR_ARGUMENT;
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (uid == 0) {
		snprintf(err, err_len, "user \"%s\" is root: refusing to keep root privileges",
		         user);
		return KW_ERR_ARGUMENT;
	}
	if (setgroups(1, &gid) < 0) {
		snprintf(err, err_len, "setgroups(%u): %s", (unsigned)gid, strerror(errno));
		return KW_ERR_INTERNAL;
	}
	if (setresgid(gid, gid, gid) < 0) {
		snprintf(err, err_len, "setresgid(%u): %s", (unsigned)gid, strerror(errno));
		return KW_ERR_INTERNAL;
	}
	if (setresuid(uid, uid, uid) < 0) {
		snprintf(err, err_len, "setresuid(%u): %s", (unsigned)uid, strerror(errno));
		return KW_ERR_INTERNAL;
	}
	if (setuid(0) == 0 || setgid(0) == 0) {
		snprintf(err, err_len,
		         "root privileges could be regained after switching to \"%s\"", user);
		return KW_ERR_INTERNAL;
	}
	return KW_OK;
}

char *
kw_proc_read_fd(int fd, size_t max_len, size_t *len_out)
{
	size_t cap = max_len < READ_CHUNK ? max_len : READ_CHUNK, len = 0;
	char *buf = malloc(cap + 1), *bigger;
	ssize_t n;

	if (!buf)
		return NULL;
	for (;;) {
		if (len > max_len)
			goto fail;
		if (len == cap + 1) {
			cap = cap * 2 < max_len ? cap * 2 : max_len;
			bigger = realloc(buf, cap + 1);
			if (!bigger)
				goto fail;
			buf = bigger;
		}
		n = pread(fd, buf + len, cap + 1 - len, (off_t)len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (len_out)
		*len_out = len;
	return buf;

fail:
	free(buf);
	return NULL;
}

unsigned long long
kw_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

unsigned long long
kw_now_ms(void)
{
	return kw_now_ns() / 1000000ULL;
}

int
kw_proc_child_start(int argc, char **argv, const char *role, bool want_slot,
                    void (*usage)(FILE *out), struct kw_child_options *opt)
{
	char title[64];
	int rc;

	snprintf(title, sizeof(title), "keyward: %s", role);
	kw_proc_set_title(argc, argv, title);
	rc = kw_proc_child_options(argc, argv, want_slot, usage, opt);
	if (rc || opt->check)
		return rc;
	if (fcntl(KW_FD_ERROR_LOG, F_GETFD) < 0 && dup3(2, KW_FD_ERROR_LOG, O_CLOEXEC) < 0)
		return KW_EXIT_RUNTIME;
	kw_log_init(role, KW_FD_ERROR_LOG, KW_LOG_NOTICE);
	return kw_proc_follow_master() < 0 ? KW_EXIT_RUNTIME : 0;
}

int
kw_proc_follow_master(void)
{
	const char *expected = getenv("KEYWARD_MASTER_PID");
	pid_t parent;

	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0) {
		kw_log_err("kw_proc_follow_master: PR_SET_PDEATHSIG: %s", strerror(errno));
		return -1;
	}
	parent = getppid();
	if (expected ? strtol(expected, NULL, 10) != (long)parent : parent == 1) {
		kw_log_err("kw_proc_follow_master: the master is gone");
		return -1;
	}
	return 0;
}

struct kw_config *
kw_proc_read_config(const char *path)
{
	struct kw_config *cfg = NULL;
	enum kw_log_level level;
	char err[512];
	size_t len = 0;
	char *text = kw_proc_read_fd(KW_FD_CONFIG, KW_CONFIG_SNAPSHOT_MAX, &len);

	if (!text) {
		kw_log_err("kw_proc_read_config: cannot read the configuration snapshot (fd %d): %s",
		           KW_FD_CONFIG, strerror(errno));
		return NULL;
	}
	close(KW_FD_CONFIG);
	if (kw_config_load_snapshot(text, len, path, &cfg, err, sizeof(err)) != 0) {
		kw_log_err("%s", err);
		cfg = NULL;
	} else if (kw_log_level_parse(cfg->log_level, &level) == 0) {
		kw_log_set_level(level);
	}
	free(text);
	return cfg;
}

int
kw_proc_child_options(int argc, char **argv, bool want_slot, void (*usage)(FILE *out),
                      struct kw_child_options *opt)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"slot", required_argument, NULL, 's'},
	    {"generation", required_argument, NULL, 'g'},
	    {"metrics-slot", required_argument, NULL, 'm'},
	    {"check", no_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	*opt = (struct kw_child_options){0};
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			opt->config = optarg;
			break;
		case 's':
			opt->slot = optarg;
			break;
		case 'g':
			opt->generation = optarg;
			break;
		case 'm':
			opt->metrics_slot = optarg;
			break;
		case 'k':
			opt->check = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return KW_EXIT_FATAL_CONFIG;
		}
	}
	if (!opt->config || (opt->slot != NULL) != want_slot || (opt->check && want_slot) ||
	    optind != argc) {
		usage(stderr);
		return KW_EXIT_FATAL_CONFIG;
	}
	return 0;
}

/*
 * test_worker_sandbox.c - the worker's sandbox, tried from the inside. Each attempt
 * runs in a child that confines itself first: forbidden calls must kill it with
 * SIGSYS (or fail as the table declares), while what a serving worker does (reading a
 * file beneath a root, sending it, memory, time, randomness) keeps working, so that
 * no test passes because everything dies. Landlock is tried on every ABI from 1 to
 * the running kernel's, and without it (the fallback), through the same plan the
 * worker uses.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <linux/landlock.h>
#include <linux/openat2.h>

#include "confine.h"
#include "err.h"
#include "forbidden_calls.h"
#include "worker/sandbox.h"

#define REACHED 3 /* exit code of a child whose attempt was not stopped */
#define CONTENT "served by the sandboxed worker\n"

/* A site: root/ (readable) with a file and a subdirectory, and outside/ beside it. */
static char site[64];
static char root[96];
static char outside[96];

static void
make_site(void)
{
	char path[160];
	FILE *f;

	snprintf(site, sizeof(site), "/tmp/kw-sandbox-XXXXXX");
	cr_assert_not_null(mkdtemp(site));
	snprintf(root, sizeof(root), "%s/www", site);
	snprintf(outside, sizeof(outside), "%s/outside.txt", site);
	cr_assert_eq(mkdir(root, 0755), 0);
	snprintf(path, sizeof(path), "%s/dir", root);
	cr_assert_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/index.html", root);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs(CONTENT, f);
	fclose(f);
	cr_assert_not_null(f = fopen(outside, "w"));
	fputs("secret\n", f);
	fclose(f);
}

static void
remove_site(void)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/index.html", root);
	unlink(path);
	snprintf(path, sizeof(path), "%s/dir", root);
	rmdir(path);
	rmdir(root);
	unlink(outside);
	rmdir(site);
}

TestSuite(worker_sandbox, .init = make_site, .fini = remove_site);

/* Confines the calling process: Landlock as plan says (roots: root), then the filter. */
static void
confine(long abi)
{
	struct kw_landlock_plan plan;
	const char *readable[] = {root};
	char err[256] = "";

	kw_landlock_plan(abi, &plan);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    kw_landlock_enter(&plan, readable, 1, err, sizeof(err)) != 0 ||
	    worker_sandbox_lock(plan.abi > 0, err, sizeof(err)) != 0) {
		fprintf(stderr, "confine: %s\n", err);
		_exit(2);
	}
}

static int shared_fd = -1; /* a socket made before the fork, for attempts that need one */

/* Runs attempt in a child confined on abi; returns the child's wait status. */
static int
run_confined(long abi, void (*attempt)(void))
{
	int status;
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		confine(abi);
		attempt();
		_exit(REACHED);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static void
expect_killed_on(long abi, void (*attempt)(void), const char *what)
{
	int status = run_confined(abi, attempt);

	cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS,
	          "%s (Landlock ABI %ld): killed by SIGSYS (status %#x)", what, abi, status);
}

static void
expect_killed(void (*attempt)(void), const char *what)
{
	expect_killed_on(kw_landlock_abi(), attempt, what);
}

static void
expect_exit(long abi, void (*attempt)(void), int code, const char *what)
{
	int status = run_confined(abi, attempt);

	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == code,
	          "%s (Landlock ABI %ld): exit %d expected (status %#x)", what, abi, code, status);
}

static void
try_inet_socket(void)
{
	socket(AF_INET, SOCK_STREAM, 0);
}

static void
try_unix_socket(void)
{
	socket(AF_UNIX, SOCK_STREAM, 0);
}

static void
try_connect(void)
{
	struct sockaddr_in addr = {
	    .sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

	connect(shared_fd, (struct sockaddr *)&addr, sizeof(addr));
}

static void
try_bind(void)
{
	struct sockaddr_in addr = {.sin_family = AF_INET,
	                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

	bind(shared_fd, (struct sockaddr *)&addr, sizeof(addr));
}

static void
try_mount(void)
{
	mount("none", "/tmp", "tmpfs", 0, NULL);
}

static void
try_bpf(void)
{
	syscall(SYS_bpf, 0, NULL, 0);
}

static void
try_process_vm_readv(void)
{
	char buf[8];
	struct iovec local = {buf, sizeof(buf)}, remote = {buf, sizeof(buf)};

	syscall(SYS_process_vm_readv, getppid(), &local, 1, &remote, 1, 0);
}

static void
try_open_for_writing(void)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/index.html", root);
	open(path, O_WRONLY);
}

static void
try_create(void)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/new.html", root);
	open(path, O_RDONLY | O_CREAT, 0644);
}

static void
try_unlink(void)
{
	unlink(outside);
}

Test(worker_sandbox, exec_kills)
{
	expect_killed(try_execve, "execve");
	expect_killed(try_execveat, "execveat");
}

Test(worker_sandbox, new_sockets_and_connect_kill)
{
	expect_killed(try_inet_socket, "socket(AF_INET)");
	expect_killed(try_unix_socket, "socket(AF_UNIX)");
	shared_fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(shared_fd, 0);
	expect_killed(try_connect, "connect on a held socket");
	expect_killed(try_bind, "bind on a held socket");
	close(shared_fd);
}

Test(worker_sandbox, debugging_and_kernel_interfaces_kill)
{
	expect_killed(try_ptrace, "ptrace");
	expect_killed(try_mount, "mount");
	expect_killed(try_bpf, "bpf");
	expect_killed(try_process_vm_readv, "process_vm_readv");
	expect_killed(try_kill, "kill");
	expect_killed(try_setuid, "setuid");
	expect_killed(try_prctl, "prctl");
}

Test(worker_sandbox, new_processes_threads_and_executable_memory_kill)
{
	expect_killed(try_fork, "fork");
	expect_killed(try_thread, "pthread_create");
	expect_killed(try_exec_mapping, "mmap PROT_EXEC");
	expect_killed(try_make_executable, "mprotect PROT_EXEC");
}

Test(worker_sandbox, writing_files_kills)
{
	expect_killed(try_open_for_writing, "openat O_WRONLY");
	expect_killed(try_create, "openat O_CREAT");
	expect_killed(try_unlink, "unlink");
	expect_killed(try_raw_open, "SYS_open");
}

static int
read_file(const char *path, int dirfd)
{
	char buf[64] = "";
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 && strcmp(buf, CONTENT) == 0 ? 0 : -1;
}

/* Under Landlock: the root's files and directories read, nothing else opens. */
static void
read_only_the_root(void)
{
	char path[160];
	char dents[1024];
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_BENEATH};
	int dir;

	snprintf(path, sizeof(path), "%s/index.html", root);
	if (read_file(path, AT_FDCWD) != 0)
		_exit(10);
	dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0 || syscall(SYS_getdents64, dir, dents, sizeof(dents)) <= 0)
		_exit(11);
	long fd = syscall(SYS_openat2, dir, "index.html", &how, sizeof(how));
	if (fd < 0)
		_exit(12);
	close((int)fd);
	close(dir);
	if (read_file("/etc/passwd", AT_FDCWD) != EACCES)
		_exit(13);
	if (read_file(outside, AT_FDCWD) != EACCES)
		_exit(14);
	if (open(site, O_RDONLY | O_DIRECTORY) >= 0 || errno != EACCES)
		_exit(15);
	_exit(0);
}

Test(worker_sandbox, landlock_reads_beneath_the_roots_only_on_every_abi)
{
	long abi = kw_landlock_abi();

	if (abi < 1)
		cr_skip_test("no Landlock on this kernel");
	for (long a = 1; a <= abi; a++)
		expect_exit(a, read_only_the_root, 0, "reading beneath the root only");
}

/* Without Landlock: read-only openat still works anywhere, openat2 says ENOSYS. */
static void
fall_back_without_landlock(void)
{
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_BENEATH};
	char path[160];

	snprintf(path, sizeof(path), "%s/index.html", root);
	if (read_file(path, AT_FDCWD) != 0)
		_exit(10);
	if (syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how)) >= 0 || errno != ENOSYS)
		_exit(11);
	if (read_file(outside, AT_FDCWD) != -1)
		_exit(12); /* readable (it holds "secret"), as the user's permissions allow */
	_exit(0);
}

Test(worker_sandbox, without_landlock_the_filter_alone_applies)
{
	expect_exit(0, fall_back_without_landlock, 0, "the fallback");
	expect_killed_on(0, try_open_for_writing, "openat O_WRONLY");
	expect_killed_on(0, try_create, "openat O_CREAT");
	expect_killed_on(0, try_execve, "execve");
}

/* What a serving worker does: files, sockets it holds, memory, time, randomness. */
static void
serve_under_the_filter(void)
{
	char path[160], buf[64] = "", random[32];
	struct iovec iov = {buf, sizeof(buf) - 1};
	struct timespec ts;
	struct stat st;
	void *big = malloc(16u << 20);
	int fd;

	if (!big)
		_exit(4);
	memset(big, 1, 16u << 20);
	free(big);
	snprintf(path, sizeof(path), "%s/index.html", root);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || preadv(fd, &iov, 1, 0) != (ssize_t)strlen(CONTENT))
		_exit(5);
	if (sendfile(shared_fd, fd, &(off_t){0}, (size_t)st.st_size) != st.st_size)
		_exit(6);
	close(fd);
	if (accept4(shared_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC) >= 0)
		_exit(7); /* a socketpair end accepts nothing: EINVAL or EOPNOTSUPP, not death */
	if (getrandom(random, sizeof(random), 0) != sizeof(random) ||
	    clock_gettime(CLOCK_MONOTONIC, &ts) != 0 || write(2, "", 0) != 0 ||
	    send(shared_fd, "x", 1, MSG_NOSIGNAL) != 1 || stat(root, &st) != 0)
		_exit(8);
	_exit(0);
}

Test(worker_sandbox, what_a_worker_does_is_allowed)
{
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	shared_fd = sv[0];
	expect_exit(kw_landlock_abi(), serve_under_the_filter, 0, "serving");
	expect_exit(0, serve_under_the_filter, 0, "serving without Landlock");
	close(sv[0]);
	close(sv[1]);
}

static int gate[2];

static void *
exec_when_told(void *arg)
{
	char c;

	if (read(gate[0], &c, 1) == 1)
		try_execve();
	return arg;
}

Test(worker_sandbox, filter_covers_threads_started_before_it)
{
	int status;
	pid_t pid;

	cr_assert_eq(pipe(gate), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		pthread_t t;

		if (pthread_create(&t, NULL, exec_when_told, NULL) != 0)
			_exit(2);
		confine(kw_landlock_abi());
		if (write(gate[1], "go", 1) != 1)
			_exit(4);
		pthread_join(t, NULL);
		_exit(REACHED);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS, "status %#x", status);
}

/* What each ABI handles, and what it says it leaves unenforced. */
Test(worker_sandbox, landlock_plan_per_abi)
{
	static const struct {
		long abi;
		unsigned fs_rights;
		uint64_t net, scoped;
		const char *missing;
	} want[] = {
	    {-1, 0, 0, 0, "every filesystem restriction"},
	    {0, 0, 0, 0, "every filesystem restriction"},
	    {1, 13, 0, 0,
	     "truncate, TCP bind and connect, device ioctl, abstract UNIX socket and signal "
	     "scoping"},
	    {2, 14, 0, 0,
	     "truncate, TCP bind and connect, device ioctl, abstract UNIX socket and signal "
	     "scoping"},
	    {3, 15, 0, 0,
	     "TCP bind and connect, device ioctl, abstract UNIX socket and signal scoping"},
	    {4, 15, 3, 0, "device ioctl, abstract UNIX socket and signal scoping"},
	    {5, 16, 3, 0, "abstract UNIX socket and signal scoping"},
	    {6, 16, 3, 3, ""},
	    {7, 16, 3, 3, ""},
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct kw_landlock_plan plan;
		uint64_t fs = want[i].fs_rights ? (1ULL << want[i].fs_rights) - 1 : 0;

		kw_landlock_plan(want[i].abi, &plan);
		cr_expect_eq(plan.abi, want[i].abi < 0 ? 0 : want[i].abi);
		cr_expect_eq(plan.handled_fs, fs, "ABI %ld: filesystem rights", want[i].abi);
		cr_expect_eq(plan.handled_net, want[i].net, "ABI %ld: network", want[i].abi);
		cr_expect_eq(plan.scoped, want[i].scoped, "ABI %ld: scopes", want[i].abi);
		cr_expect_str_eq(plan.missing, want[i].missing, "ABI %ld", want[i].abi);
		cr_expect_eq(plan.read_beneath, want[i].abi > 0 ? LANDLOCK_ACCESS_FS_READ_FILE |
		                                                      LANDLOCK_ACCESS_FS_READ_DIR
		                                                : 0);
	}
}

Test(worker_sandbox, a_missing_root_is_a_configuration_error)
{
	struct kw_landlock_plan plan;
	const char *readable[] = {"/nonexistent/keyward-root"};
	char err[256] = "";

	if (kw_landlock_abi() < 1)
		cr_skip_test("no Landlock on this kernel");
	kw_landlock_plan(kw_landlock_abi(), &plan);
	cr_expect_eq(kw_landlock_enter(&plan, readable, 1, err, sizeof(err)), KW_ERR_ARGUMENT);
	cr_expect(strstr(err, "/nonexistent/keyward-root") != NULL, "%s", err);
}

Test(worker_sandbox, each_root_is_readable_once)
{
	struct kw_location a[] = {{.prefix = "/", .root = "/srv/a"},
	                          {.prefix = "/b/", .root = "/srv/b"}};
	struct kw_location b[] = {{.prefix = "/", .root = "/srv/b"},
	                          {.prefix = "/a/", .root = "/srv/a"},
	                          {.prefix = "/c/", .root = "/srv/c"}};
	struct kw_server servers[] = {{.locations = a, .n_locations = 2},
	                              {.locations = b, .n_locations = 3}};
	struct kw_config cfg = {.servers = servers, .n_servers = 2};
	const char **dirs;
	size_t n;

	cr_assert_eq(worker_sandbox_readable(&cfg, &dirs, &n), 0);
	cr_assert_eq(n, 3);
	cr_expect_str_eq(dirs[0], "/srv/a");
	cr_expect_str_eq(dirs[1], "/srv/b");
	cr_expect_str_eq(dirs[2], "/srv/c");
	free(dirs);
}

/*
 * forbidden_calls.h - attempts that both sandboxes (the signer's and the workers') must
 * stop, for their tests: each is run in a confined child, which must die of SIGSYS
 * before the attempt returns. The calls that exec name a path that does not exist:
 * were the call allowed, it would fail and return (a real program could not tell: it
 * would die of its loader's first forbidden call).
 */
#ifndef KW_TEST_FORBIDDEN_CALLS_H
#define KW_TEST_FORBIDDEN_CALLS_H

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline void
try_raw_open(void)
{
	syscall(SYS_open, "/etc/passwd", O_RDONLY);
}

static inline void
try_execve(void)
{
	char *const argv[] = {"missing", NULL};

	execve("/nonexistent/keyward-test", argv, NULL);
}

static inline void
try_execveat(void)
{
	char *const argv[] = {"missing", NULL};

	syscall(SYS_execveat, AT_FDCWD, "/nonexistent/keyward-test", argv, NULL, 0);
}

static inline void
try_fork(void)
{
	if (fork() == 0)
		_exit(0);
}

static inline void *
idle(void *arg)
{
	return arg;
}

static inline void
try_thread(void)
{
	pthread_t t;

	pthread_create(&t, NULL, idle, NULL);
}

static inline void
try_exec_mapping(void)
{
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static inline void
try_make_executable(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		_exit(4);
	mprotect(p, 4096, PROT_READ | PROT_EXEC);
}

static inline void
try_kill(void)
{
	kill(getppid(), SIGCONT);
}

static inline void
try_ptrace(void)
{
	syscall(SYS_ptrace, 0, 0, 0, 0);
}

static inline void
try_setuid(void)
{
	syscall(SYS_setuid, 0);
}

static inline void
try_prctl(void)
{
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}

#endif

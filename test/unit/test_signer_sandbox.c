/*
 * test_signer_sandbox.c - the signer's sandbox, tried from the inside: each attempt
 * runs in a child that installs the signer's seccomp filter first. Forbidden calls
 * must kill it with SIGSYS; what the signer needs must keep working, signing with
 * every key type included.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <openssl/evp.h>

#include "control.h"
#include "err.h"
#include "forbidden_calls.h"
#include "test_text.h"
#include "signer/keys.h"
#include "signer/sandbox.h"
#include "signer/service.h"
#include "signer/stub.h"

#define CERTS   TEST_DATA_DIR "/certs/"
#define REACHED 3 /* exit code of a child whose attempt was not stopped */

static int shared_fd = -1;   /* a descriptor made before the fork, for attempts that need one */
static int shared_peer = -1; /* the other end of shared_fd when it is a socket pair */

/* Runs attempt in a child after signer_sandbox_lock; returns the child's wait status. */
static int
run_locked(void (*attempt)(void))
{
	int status;
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char err[256] = "";

		if (signer_sandbox_lock(err, sizeof(err)) != 0)
			_exit(2);
		attempt();
		_exit(REACHED);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static void
expect_killed(void (*attempt)(void), const char *what)
{
	int status = run_locked(attempt);

	cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS,
	          "%s: killed by SIGSYS (status %#x)", what, status);
}

static void
expect_allowed(void (*attempt)(void), const char *what)
{
	int status = run_locked(attempt);

	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: allowed (status %#x)", what,
	          status);
}

static void
try_open(void)
{
	open("/etc/passwd", O_RDONLY);
}

static void
try_socket(void)
{
	socket(AF_UNIX, SOCK_STREAM, 0);
}

static void
try_connect(void)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX, .sun_path = "\0keyward-test"};

	connect(shared_fd, (struct sockaddr *)&addr, sizeof(addr));
}

static void
try_stat_path(void)
{
	struct stat st;

	stat("/", &st);
}

Test(signer_sandbox, open_kills)
{
	expect_killed(try_open, "open(\"/etc/passwd\")");
	expect_killed(try_raw_open, "SYS_open");
}

Test(signer_sandbox, socket_and_connect_kill)
{
	expect_killed(try_socket, "socket");
	shared_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_geq(shared_fd, 0);
	expect_killed(try_connect, "connect");
	close(shared_fd);
}

Test(signer_sandbox, exec_and_new_processes_kill)
{
	expect_killed(try_execve, "execve");
	expect_killed(try_execveat, "execveat");
	expect_killed(try_fork, "fork");
	expect_killed(try_thread, "pthread_create");
}

Test(signer_sandbox, executable_memory_kills)
{
	expect_killed(try_exec_mapping, "mmap PROT_EXEC");
	expect_killed(try_make_executable, "mprotect PROT_EXEC");
}

static void
try_send(void)
{
	send(shared_fd, "x", 1, MSG_DONTWAIT);
}

static void
try_recv(void)
{
	char c;

	recv(shared_fd, &c, 1, MSG_DONTWAIT);
}

Test(signer_sandbox, other_calls_kill)
{
	expect_killed(try_stat_path, "stat of a path");
	expect_killed(try_kill, "kill");
	expect_killed(try_ptrace, "ptrace");
	expect_killed(try_setuid, "setuid");
	expect_killed(try_prctl, "prctl");
	expect_killed(try_send, "send: worker channels take sendmmsg only");
	expect_killed(try_recv, "recv: worker channels take recvmmsg only");
}

static void
use_allowed_calls(void)
{
	uint8_t random[32];
	struct timespec ts;
	struct stat st;
	int sv[2] = {shared_fd, -1};
	char byte = 'x';
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	struct mmsghdr msg = {.msg_hdr = {.msg_iov = &iov, .msg_iovlen = 1}};
	void *big = malloc(8u << 20);
	void *small = malloc(100);

	if (!big || !small)
		_exit(4);
	memset(big, 1, 8u << 20);
	free(big);
	free(small);
	if (getrandom(random, sizeof(random), 0) != sizeof(random) ||
	    clock_gettime(CLOCK_MONOTONIC, &ts) != 0 || fstat(sv[0], &st) != 0 ||
	    sendmmsg(shared_peer, &msg, 1, MSG_DONTWAIT) != 1 || write(2, "", 0) != 0 ||
	    recvmmsg(sv[0], &msg, 1, MSG_DONTWAIT, NULL) != 1)
		_exit(5);
	sv[1] = dup3(sv[0], 100, O_CLOEXEC);
	if (sv[1] != 100 || close(sv[1]) != 0 || shutdown(sv[0], SHUT_RDWR) != 0)
		_exit(6);
	_exit(0);
}

Test(signer_sandbox, what_the_signer_needs_is_allowed)
{
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	shared_fd = sv[0];
	shared_peer = sv[1];
	expect_allowed(use_allowed_calls,
	               "memory, randomness, clock, fstat, sendmmsg, recvmmsg, dup3");
	close(sv[0]);
	close(sv[1]);
}

static int gate[2];

static void *
open_when_told(void *arg)
{
	char c;

	if (read(gate[0], &c, 1) == 1)
		open("/etc/passwd", O_RDONLY);
	return NULL;
}

Test(signer_sandbox, filter_covers_threads_started_before_it)
{
	int status;
	pid_t pid;

	cr_assert_eq(pipe(gate), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char err[256] = "";
		pthread_t t;

		if (pthread_create(&t, NULL, open_when_told, NULL) != 0 ||
		    signer_sandbox_lock(err, sizeof(err)) != 0)
			_exit(2);
		if (write(gate[1], "go", 1) != 1)
			_exit(4);
		pthread_join(t, NULL);
		_exit(REACHED);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS, "status %#x", status);
}

/* The RSA test key loaded as the signer does, and fresh EC and Ed25519 keys: every scheme. */
static void
sign_with_every_key_type(void)
{
	static const uint16_t tls13_schemes[3] = {TLS13_RSA_PSS_RSAE_SHA384,
	                                          TLS13_ECDSA_SECP256R1_SHA256, TLS13_ED25519};
	struct signer_key table[3] = {{NULL, TT_SCHEME_RSA_PSS_SHA256},
	                              {NULL, TT_SCHEME_ECDSA_P256_SHA256},
	                              {NULL, TT_SCHEME_ED25519}};
	struct signer_keys keys = {.keys = table, .n = 3};
	struct kw_key list[1] = {{CERTS "server_key.pem", CERTS "server_cert.pem"}};
	struct kw_file cert = test_capture(CERTS "server_cert.pem");
	struct kw_config cfg = {.keys = list, .n_keys = 1, .files = &cert, .n_files = 1};
	struct signer_keys loaded;
	char err[256] = "";

	if (signer_keys_load(&cfg, &loaded, err, sizeof(err)) != 0)
		_exit(2);
	table[0].pkey = loaded.keys[0].pkey;
	table[1].pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	table[2].pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	struct stub_signer signers[3]; /* prepared before the sandbox, as the signing threads do */
	for (size_t k = 0; k < 3; k++)
		if (!table[k].pkey || stub_signer_init(&signers[k], &table[k]) != 0)
			_exit(2);
	if (signer_sandbox_lock(err, sizeof(err)) != 0)
		_exit(2);
	for (uint32_t k = 0; k < 3; k++) {
		struct sp_sign_request req = {.request_id = k, .key_id = k};
		struct sp_sign_reply rep;

		for (int round = 0; round < 50; round++) {
			memset(req.client_pub, round + 1, TT_X25519_LEN);
			memset(req.server_pub, 0x55, TT_X25519_LEN);
			sign_stub(&keys, round % 2 ? signers : NULL, &req, &rep);
			if (rep.status != SP_STATUS_OK ||
			    tt_verify(table[k].pkey, req.client_pub, req.server_pub, rep.sig,
			              rep.sig_len) != 0)
				_exit(10 + (int)k);
			/* and TLS 1.3 CertificateVerify content, with a scheme of the key */
			struct sp_sign_request cv = {
			    .request_id = k,
			    .key_id = k,
			    .kind = SP_KIND_TLS13_CV,
			    .tls13 = {.scheme = tls13_schemes[k], .hash_len = 32}};
			memset(cv.tls13.hash, round + 1, 32);
			sign_stub(&keys, round % 2 ? signers : NULL, &cv, &rep);
			if (rep.status != SP_STATUS_OK ||
			    tls13_cv_verify(table[k].pkey, cv.tls13.scheme, cv.tls13.hash, 32,
			                    rep.sig, rep.sig_len) != 0)
				_exit(20 + (int)k);
		}
	}
	for (size_t k = 0; k < 3; k++)
		stub_signer_dispose(&signers[k]);
	EVP_PKEY_free(table[1].pkey);
	EVP_PKEY_free(table[2].pkey);
	signer_keys_free(&loaded);
	_exit(0);
}

Test(signer_sandbox, signing_works_under_the_filter)
{
	int status;
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0)
		sign_with_every_key_type();
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
}

/* The signer's order: keys, threads, filter, serve; channels then signatures. */
Test(signer_sandbox, service_keeps_serving_under_the_filter)
{
	struct kw_key list[1] = {{CERTS "server_key.pem", CERTS "server_cert.pem"}};
	struct kw_file cert = test_capture(CERTS "server_cert.pem");
	struct kw_config cfg = {.keys = list, .n_keys = 1, .files = &cert, .n_files = 1};
	int control[2], channel[2], status;
	pid_t pid;

	cfg.signer.threads = 4;
	cfg.signer.max_inflight = 8;
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, control), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, channel), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct signer_service *svc;
		struct signer_keys keys;
		char err[256] = "";

		close(control[0]);
		close(channel[0]);
		close(channel[1]);
		if (signer_keys_load(&cfg, &keys, err, sizeof(err)) != 0 ||
		    signer_service_start(&cfg, &keys, control[1], NULL, &svc) != 0 ||
		    signer_sandbox_lock(err, sizeof(err)) != 0)
			_exit(2);
		_exit(signer_service_run(svc) == 0 ? 0 : 1);
	}
	close(control[1]);
	free(cert.text);
	cr_assert_eq(ctl_send(control[0], &(struct ctl_msg){.type = CTL_CHANNEL}, &channel[1], 1),
	             0);
	close(channel[1]);
	for (uint32_t id = 0; id < 64; id++) {
		struct sp_sign_request req = {.request_id = id};
		uint8_t msg[SP_SIGN_REPLY_MAX_LEN];
		struct sp_sign_reply rep;
		ssize_t n;

		memset(req.client_pub, 1, TT_X25519_LEN);
		memset(req.server_pub, 2, TT_X25519_LEN);
		n = (ssize_t)sp_encode_sign_request(&req, msg);
		cr_assert_eq(send(channel[0], msg, (size_t)n, 0), n);
		n = recv(channel[0], msg, sizeof(msg), 0);
		cr_assert_gt(n, 0, "request %u answered", (unsigned)id);
		cr_assert_eq(sp_decode_sign_reply(msg, (size_t)n, &rep), 0);
		cr_assert_eq(rep.status, SP_STATUS_OK);
	}
	close(control[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
	close(channel[0]);
}

static int
landlock_abi(void)
{
	return (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
}

/* Bits of the child's exit code, one per promise the sandbox failed. */
enum {
	BAD_ENTER = 1, /* signer_sandbox_enter failed, not with KW_ERR_ARGUMENT */
	BAD_USER = 2,
	BAD_FILES = 4,
	BAD_DUMPABLE = 8,
	BAD_NNP = 16,
	BAD_CORE = 32,
	BAD_BOUNDING_SET = 64,
	BAD_ARGUMENT = 128, /* signer_sandbox_enter said KW_ERR_ARGUMENT */
};

/* Enters the sandbox as user in a child (after switching to uid first, unless 0). */
static int
enter_in_child(uid_t uid, const char *user)
{
	int status;
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int must_not_open = uid == 0 || landlock_abi() > 0;
		struct rlimit core;
		char err[256] = "";
		int bad = 0, rc;

		/* dumpable again after the switch, as a signer started by that user would be */
		if (uid != 0 &&
		    (setresuid(uid, uid, uid) != 0 || prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0))
			_exit(BAD_ENTER);
		rc = signer_sandbox_enter(user, err, sizeof(err));
		if (rc)
			_exit(rc == KW_ERR_ARGUMENT ? BAD_ARGUMENT : BAD_ENTER);
		if (getuid() == 0 || geteuid() == 0)
			bad |= BAD_USER;
		if (must_not_open && open("/etc/passwd", O_RDONLY) >= 0)
			bad |= BAD_FILES;
		if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
			bad |= BAD_DUMPABLE;
		if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
			bad |= BAD_NNP;
		if (getrlimit(RLIMIT_CORE, &core) != 0 || core.rlim_cur != 0 || core.rlim_max != 0)
			bad |= BAD_CORE;
		if (uid == 0 && prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) != 0)
			bad |= BAD_BOUNDING_SET;
		_exit(bad);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "status %#x", status);
	return WEXITSTATUS(status);
}

Test(signer_sandbox, enter_as_root_switches_user_and_empties_root)
{
	if (geteuid() != 0)
		cr_skip_test("needs root");
	cr_expect_eq(enter_in_child(0, "nobody"), 0);
}

Test(signer_sandbox, enter_refuses_unknown_or_root_user)
{
	if (geteuid() != 0)
		cr_skip_test("needs root");
	cr_expect_eq(enter_in_child(0, "no-such-user-keyward"), BAD_ARGUMENT);
	cr_expect_eq(enter_in_child(0, "root"), BAD_ARGUMENT);
}

Test(signer_sandbox, enter_unprivileged_still_isolates)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to become another user first");
	cr_expect_eq(enter_in_child(65534, "ignored-when-not-root"), 0);
}

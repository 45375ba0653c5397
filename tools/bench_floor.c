/*
 * keyward-bench-floor - the crypto floor of one toy-TLS server handshake, measured
 * in-process with the very calls the server makes: X25519 key generation and
 * derivation, the two HKDF write keys, one handshake signature with the identity
 * key, and the two AES-256-GCM key setups of the record layer. Like a worker, it
 * reuses one set of key-exchange contexts (struct tt_kex) for every handshake.
 *
 * Each step is timed separately over many iterations, in CPU time of the calling
 * thread (so that other load on the machine does not count), and the floor is the
 * sum of the steps.
 *
 * Apart from the handshake, it also times the bulk floor: sealing 1 MiB in place as
 * 64 records of 16 KiB, what any server that encrypts a 1 MiB response itself pays.
 *
 * With --tls13 it times the floor of one TLS 1.3 server handshake instead: libssl in
 * process with the key loaded (no signer), a client in the same thread, the two
 * talking through a BIO pair (no socket, no system call). Only the server's calls are
 * timed (SSL_new, each SSL_do_handshake, SSL_free), each bracketed by thread CPU
 * clock reads whose own cost, calibrated first, is taken off. With --tls13 --resume
 * the server issues a session ticket and every timed handshake resumes the first
 * one's session: the ticket opened, the PSK with (EC)DHE, a new ticket made.
 *
 * With --ipc it times the floor of the signer round trip instead (bench_ipc.c): two
 * processes exchanging a TLS 1.3 signing request and a reply sized for each key's
 * signature over a signer channel, one at a time, each asleep until the other writes.
 */
#include <getopt.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "bench_ipc.h"
#include "kw_build_config.h"
#include "toytls_aead.h"
#include "toytls_keys.h"
#include "toytls_sign.h"

enum step { STEP_KEYGEN, STEP_DERIVE, STEP_HKDF, STEP_SIGN, STEP_AEAD, STEPS };

static const char *const step_names[STEPS] = {
    "x25519_keygen", "x25519_derive", "hkdf_x2", "sign", "aead_setup_x2",
};

static double
thread_cpu_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* What the steps work on: each step uses what the previous ones made. */
struct floor {
	struct tt_signer signer; /* the key, prepared as the signer's threads prepare it */
	struct tt_kex kex;
	struct tt_x25519 peer; /* the client's key share */
	struct tt_x25519 kp;   /* the server's */
	uint8_t shared[TT_X25519_LEN];
	struct tt_keys keys;
};

static int
step_once(struct floor *f, enum step s)
{
	uint8_t sig[TT_MAX_SIGNATURE_LEN];
	size_t sig_len;
	switch (s) {
	case STEP_KEYGEN:
		tt_x25519_dispose(&f->kp);
		return tt_x25519_generate_kex(&f->kex, &f->kp);
	case STEP_DERIVE:
		return tt_x25519_derive_kex(&f->kex, &f->kp, f->peer.pub, f->shared);
	case STEP_HKDF:
		return tt_derive_keys_kex(&f->kex, f->shared, &f->keys);
	case STEP_SIGN:
		return tt_signer_sign(&f->signer, f->peer.pub, f->kp.pub, sig, &sig_len);
	case STEP_AEAD: {
		struct tt_aead_ctx *client = tt_aes256gcm.new_ctx(f->keys.client_write);
		struct tt_aead_ctx *server = tt_aes256gcm.new_ctx(f->keys.server_write);
		int err = client != NULL && server != NULL ? 0 : -1;
		if (client != NULL)
			tt_aes256gcm.free_ctx(client);
		if (server != NULL)
			tt_aes256gcm.free_ctx(server);
		return err;
	}
	case STEPS:
		break;
	}
	return -1;
}

#define BULK_RECORD  (16u * 1024u)
#define BULK_RECORDS 64u

/* CPU microseconds to seal 1 MiB in place as 64 records of 16 KiB, mean of n; -1 on failure. */
static double
measure_bulk(long n)
{
	static uint8_t buf[BULK_RECORD];
	uint8_t key[32] = {1}, nonce[12] = {0}, aad[8] = {0}, tag[16];
	struct tt_aead_ctx *ctx = tt_aes256gcm.new_ctx(key);
	if (ctx == NULL)
		return -1;
	double t0 = thread_cpu_us(), us = -1;
	for (long r = 0; r < n; r++) {
		for (unsigned i = 0; i < BULK_RECORDS; i++) {
			memcpy(nonce, &(uint64_t){(uint64_t)r * BULK_RECORDS + i},
			       sizeof(uint64_t));
			if (tt_aes256gcm.seal(ctx, nonce, aad, sizeof(aad), buf, sizeof(buf), buf,
			                      tag))
				goto out;
		}
	}
	us = (thread_cpu_us() - t0) / (double)n;
out:
	tt_aes256gcm.free_ctx(ctx);
	return us;
}

/* Times each step over n iterations; us[] receives CPU microseconds per iteration. */
static int
measure(EVP_PKEY *key, long n, double us[STEPS])
{
	struct floor f = {0};
	int err = tt_signer_init(&f.signer, key);
	if (err == 0)
		err = tt_kex_init(&f.kex);
	if (err == 0)
		err = tt_x25519_generate(&f.peer);
	for (enum step s = 0; s < STEPS && err == 0; s++)
		err = step_once(&f, s);
	for (enum step s = 0; s < STEPS && err == 0; s++) {
		double t0 = thread_cpu_us();
		for (long i = 0; i < n && err == 0; i++)
			err = step_once(&f, s);
		us[s] = (thread_cpu_us() - t0) / (double)n;
		if (s == STEP_KEYGEN && err == 0)
			err = step_once(&f, STEP_DERIVE) | step_once(&f, STEP_HKDF);
	}
	tt_x25519_dispose(&f.peer);
	tt_x25519_dispose(&f.kp);
	tt_kex_dispose(&f.kex);
	tt_signer_dispose(&f.signer);
	OPENSSL_cleanse(f.shared, sizeof(f.shared));
	tt_keys_dispose(&f.keys);
	return err;
}

/* The suite tools/bench makes every server use: AES-256-GCM, as toy-TLS's records. */
#define TLS13_FLOOR_SUITE "TLS_AES_256_GCM_SHA384"

/* The TLS 1.3 server handshake's timed parts, CPU microseconds per handshake. */
enum tls13_step { T13_NEW, T13_HANDSHAKE, T13_FREE, T13_STEPS };

static const char *const tls13_step_names[T13_STEPS] = {"ssl_new", "handshake", "ssl_free"};

/* The server as a keyward worker sets it up for a TLS 1.3 listener without tickets. */
static SSL_CTX *
tls13_server_ctx(const char *cert, const char *key, const char *chain)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_num_tickets(ctx, 0);
	bool ok = SSL_CTX_set_ciphersuites(ctx, TLS13_FLOOR_SUITE) == 1 &&
	          SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM) == 1 &&
	          SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) == 1 &&
	          SSL_CTX_check_private_key(ctx) == 1;
	FILE *f = ok && chain != NULL ? fopen(chain, "r") : NULL;
	if (chain != NULL && f == NULL)
		ok = false;
	for (X509 *x; f != NULL && (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL;)
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			X509_free(x);
			ok = false;
		}
	if (f != NULL)
		fclose(f);
	ERR_clear_error(); /* the end of the chain file */
	if (!ok) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* A client that trusts anything: its work is not timed. */
static SSL_CTX *
tls13_client_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx != NULL) {
		SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	return ctx;
}

/* CPU microseconds that one pair of thread_cpu_us() calls (a timed call's bracket) costs. */
static double
clock_pair_us(long n)
{
	double t0 = thread_cpu_us();
	for (long i = 0; i < n; i++) {
		thread_cpu_us();
		thread_cpu_us();
	}
	return (thread_cpu_us() - t0) / (double)n;
}

/* SSL_do_handshake(ssl), its CPU time added to *us. */
static int
timed_handshake(SSL *ssl, double *us)
{
	double t0 = thread_cpu_us();
	int rc = SSL_do_handshake(ssl);
	*us += thread_cpu_us() - t0;
	return rc;
}

/* Runs one side's handshake step; returns 1 when done, 0 when it waits for its peer, -1. */
static int
step_side(SSL *ssl, double *us)
{
	int rc = us != NULL ? timed_handshake(ssl, us) : SSL_do_handshake(ssl);
	if (rc == 1)
		return 1;
	return SSL_get_error(ssl, rc) == SSL_ERROR_WANT_READ ? 0 : -1;
}

/*
 * The client's session after a handshake, with the ticket the server sent at its end
 * (read from the BIO pair, untimed), or NULL.
 */
static SSL_SESSION *
tls13_client_session(SSL *client)
{
	unsigned char byte;
	int rc = SSL_read(client, &byte, 1);
	if (rc > 0 || SSL_get_error(client, rc) != SSL_ERROR_WANT_READ)
		return NULL; /* the server sends nothing but its ticket */
	SSL_SESSION *sess = SSL_get1_session(client);
	if (sess != NULL && !SSL_SESSION_is_resumable(sess)) {
		SSL_SESSION_free(sess);
		sess = NULL;
	}
	return sess;
}

/*
 * One handshake between a fresh server SSL of sctx and a client of cctx, the server's
 * calls timed into us[] (totals); *calls counts its SSL_do_handshake calls. With sess
 * not NULL, the client resumes *sess and the handshake must be resumed; when *sess is
 * NULL, it receives the client's new session instead. Returns 0, or -1 when the
 * handshake fails (or is not resumed as asked).
 */
static int
tls13_handshake_once(SSL_CTX *sctx, SSL_CTX *cctx, double us[T13_STEPS], unsigned *calls,
                     SSL_SESSION **sess)
{
	BIO *sbio = NULL, *cbio = NULL;
	SSL *client = SSL_new(cctx);
	if (client != NULL && sess != NULL && *sess != NULL &&
	    SSL_set_session(client, *sess) != 1) {
		SSL_free(client);
		client = NULL;
	}
	double t0 = thread_cpu_us();
	SSL *server = SSL_new(sctx);
	us[T13_NEW] += thread_cpu_us() - t0;
	int err = -1;
	if (client != NULL && server != NULL && BIO_new_bio_pair(&sbio, 0, &cbio, 0) == 1) {
		SSL_set_bio(server, sbio, sbio);
		SSL_set_bio(client, cbio, cbio);
		sbio = cbio = NULL;
		SSL_set_connect_state(client);
		SSL_set_accept_state(server);
		/* a TLS 1.3 full handshake takes the server two calls; a few more would do */
		int sdone = 0, cdone = 0;
		for (int round = 0; round < 8 && sdone >= 0 && cdone >= 0 && !(sdone && cdone);
		     round++) {
			if (!cdone)
				cdone = step_side(client, NULL);
			if (!sdone && cdone >= 0) {
				sdone = step_side(server, &us[T13_HANDSHAKE]);
				(*calls)++;
			}
		}
		err = sdone == 1 && cdone == 1 ? 0 : -1;
		if (err == 0 && sess != NULL && *sess != NULL && !SSL_session_reused(server))
			err = -1;
		if (err == 0 && sess != NULL && *sess == NULL &&
		    (*sess = tls13_client_session(client)) == NULL)
			err = -1;
	}
	t0 = thread_cpu_us();
	SSL_free(server); /* and the server's half of the BIO pair */
	us[T13_FREE] += thread_cpu_us() - t0;
	/* as after a close_notify: libssl would otherwise make the client's session
	 * unresumable when the connection is freed */
	SSL_set_shutdown(client, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(client);
	BIO_free(sbio);
	BIO_free(cbio);
	ERR_clear_error();
	return err;
}

/*
 * Times n TLS 1.3 server handshakes (after one untimed), resumed ones when resume (of
 * the untimed one's session); us[] receives CPU microseconds per handshake, each step
 * less the cost of its clock reads. Returns 0 or -1.
 */
static int
measure_tls13(SSL_CTX *sctx, SSL_CTX *cctx, long n, bool resume, double us[T13_STEPS])
{
	double total[T13_STEPS] = {0}, scratch[T13_STEPS] = {0};
	unsigned calls = 0, warmup_calls = 0;
	SSL_SESSION *sess = NULL, **use = resume ? &sess : NULL;
	int err = tls13_handshake_once(sctx, cctx, scratch, &warmup_calls, use);
	double pair = clock_pair_us(n * 4);
	for (long i = 0; i < n && err == 0; i++)
		err = tls13_handshake_once(sctx, cctx, total, &calls, use);
	SSL_SESSION_free(sess);
	if (err != 0)
		return -1;
	double brackets[T13_STEPS] = {(double)n, (double)calls, (double)n};
	for (enum tls13_step s = 0; s < T13_STEPS; s++) {
		us[s] = (total[s] - brackets[s] * pair) / (double)n;
		if (us[s] < 0)
			us[s] = 0;
	}
	return 0;
}

static int
run_tls13(int argc, char **argv, long n, bool json, bool resume)
{
	const char *cert = argv[0], *key = argv[1], *chain = argc > 2 ? argv[2] : NULL;
	SSL_CTX *sctx = tls13_server_ctx(cert, key, chain), *cctx = tls13_client_ctx();
	if (sctx != NULL && resume) {
		/* one ticket per handshake, under libssl's own ticket keys */
		SSL_CTX_clear_options(sctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(sctx, 1);
	}
	EVP_PKEY *pkey = sctx != NULL ? SSL_CTX_get0_privatekey(sctx) : NULL;
	enum tt_scheme scheme;
	double us[T13_STEPS], total = 0;
	int rc = 1;
	if (sctx == NULL || pkey == NULL || tt_scheme_for_key(pkey, &scheme) < 0) {
		fprintf(stderr,
		        "keyward-bench-floor: %s, %s%s%s: cannot load or use this certificate, key "
		        "and chain\n",
		        cert, key, chain ? ", " : "", chain ? chain : "");
		goto out;
	}
	if (cctx == NULL || measure_tls13(sctx, cctx, n, resume, us) != 0) {
		fprintf(stderr, "keyward-bench-floor: %s: the TLS 1.3 %shandshake failed\n", key,
		        resume ? "resumed " : "");
		goto out;
	}
	for (enum tls13_step s = 0; s < T13_STEPS; s++)
		total += us[s];
	if (json) {
		printf(
		    "[{\"key\":\"%s\",\"scheme\":\"%s\",\"transport\":\"tls13\",\"suite\":\"%s\","
		    "\"resumed\":%s,\"iterations\":%ld,\"total_us\":%.2f",
		    key, tt_scheme_name(scheme), TLS13_FLOOR_SUITE, resume ? "true" : "false", n,
		    total);
		for (enum tls13_step s = 0; s < T13_STEPS; s++)
			printf(",\"%s_us\":%.2f", tls13_step_names[s], us[s]);
		printf("}]\n");
	} else {
		printf("tls13%s %-16s %8.1f us:", resume ? " resumed" : "", tt_scheme_name(scheme),
		       total);
		for (enum tls13_step s = 0; s < T13_STEPS; s++)
			printf(" %s %.1f", tls13_step_names[s], us[s]);
		printf("\n");
	}
	rc = 0;
out:
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	return rc;
}

static EVP_PKEY *
load_key(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return key;
}

/* --ipc: for each key, both variants of the round trip with a reply of its signature size. */
static int
run_ipc(int argc, char **argv, long n, bool json, const int cpus[2])
{
	char where[64] = "";
	if (cpus[0] >= 0)
		snprintf(where, sizeof(where), json ? "\"%d,%d\"" : " on CPUs %d,%d", cpus[0],
		         cpus[1]);
	if (json)
		printf("[");
	for (int i = 0; i < argc; i++) {
		EVP_PKEY *key = load_key(argv[i]);
		enum tt_scheme scheme;
		int size = key != NULL ? EVP_PKEY_get_size(key) : 0; /* its longest signature */
		int usable = size > 0 && tt_scheme_for_key(key, &scheme) == 0;
		EVP_PKEY_free(key);
		if (!usable) {
			fprintf(stderr, "keyward-bench-floor: %s: cannot load or use this key\n",
			        argv[i]);
			return 1;
		}
		for (enum ipc_variant v = 0; v < IPC_VARIANTS; v++) {
			struct ipc_result r;
			if (ipc_measure(v, scheme, (size_t)size, n, cpus, &r) != 0)
				return 1;
			double cpu = r.worker_cpu_us + r.signer_cpu_us;
			if (json)
				printf(
				    "%s{\"key\":\"%s\",\"scheme\":\"%s\",\"variant\":\"%s\","
				    "\"iterations\":%ld,\"request_bytes\":%zu,\"reply_bytes\":%zu,"
				    "\"cpu_us\":%.2f,\"worker_cpu_us\":%.2f,\"signer_cpu_us\":%.2f,"
				    "\"wall_us\":%.2f,\"worker_csw\":%.3f,\"signer_csw\":%.3f,"
				    "\"involuntary_csw\":%.3f,\"cpus\":%s}",
				    i > 0 || v > 0 ? "," : "", argv[i], tt_scheme_name(scheme),
				    ipc_variant_name(v), n, r.request_len, r.reply_len, cpu,
				    r.worker_cpu_us, r.signer_cpu_us, r.wall_us, r.worker_csw,
				    r.signer_csw, r.involuntary_csw, cpus[0] >= 0 ? where : "null");
			else
				printf(
				    "ipc %s %-17s %8.1f us: worker %.1f signer %.1f wall %.1f us, "
				    "context switches worker %.2f signer %.2f (involuntary %.2f), "
				    "%zu + %zu bytes%s\n",
				    ipc_variant_name(v), tt_scheme_name(scheme), cpu,
				    r.worker_cpu_us, r.signer_cpu_us, r.wall_us, r.worker_csw,
				    r.signer_csw, r.involuntary_csw, r.request_len, r.reply_len,
				    where);
			fflush(stdout);
		}
	}
	if (json)
		printf("]\n");
	return 0;
}

/* "A,B" into cpus[0] and cpus[1], each from 0 to CPU_SETSIZE - 1. Returns 0 or -1. */
static int
parse_cpus(const char *arg, int cpus[2])
{
	const char *p = arg;
	for (int i = 0; i < 2; i++) {
		char *end;
		if (*p < '0' || *p > '9')
			return -1;
		long cpu = strtol(p, &end, 10);
		if (cpu >= CPU_SETSIZE || *end != (i == 0 ? ',' : '\0'))
			return -1;
		cpus[i] = (int)cpu;
		p = end + 1;
	}
	return 0;
}

static void
usage(FILE *out)
{
	fprintf(out,
	        "usage: keyward-bench-floor [-n ITERATIONS] [--json] KEY.pem...\n"
	        "       keyward-bench-floor [-n ITERATIONS] [--json] --bulk\n"
	        "       keyward-bench-floor [-n ITERATIONS] [--json] --tls13 [--resume] CERT.pem "
	        "KEY.pem [CHAIN.pem]\n"
	        "       keyward-bench-floor [-n ITERATIONS] [--json] --ipc [--cpus A,B] "
	        "KEY.pem...\n"
	        "\n"
	        "Prints, for each private key (RSA, ECDSA P-256 or Ed25519, PEM), the CPU time\n"
	        "of one toy-TLS server handshake's cryptography, step by step and in total.\n"
	        "With --bulk: the CPU time of sealing 1 MiB as 64 records of 16 KiB with\n"
	        "AES-256-GCM, in place (ITERATIONS times 1 MiB).\n"
	        "With --tls13: the server CPU time of one TLS 1.3 full handshake by libssl in\n"
	        "process (the key loaded, " TLS13_FLOOR_SUITE ", no tickets, a client in the\n"
	        "same thread over a BIO pair), in SSL_new, SSL_do_handshake and SSL_free.\n"
	        "With --tls13 --resume: the same for a handshake resuming a session by its\n"
	        "ticket (one new ticket issued per handshake).\n"
	        "With --ipc: the CPU time (of both processes, and of each) and the wall time\n"
	        "of one signing round trip between two processes, without the signature: a\n"
	        "forked process answers over a non-blocking SOCK_SEQPACKET socket pair, as\n"
	        "the signer over its channel; each TLS 1.3 CertificateVerify request (SHA-384)\n"
	        "gets a reply as long as one with the key's longest signature, one at a time\n"
	        "(ITERATIONS times after 200 unmeasured), each side asleep in epoll_wait until\n"
	        "the other writes; with the context switches of each side per round trip.\n"
	        "Two rows per key: direct (the answering side waits level-triggered and reads\n"
	        "once) and signer (as a signing thread: one-shot, reads until nothing waits,\n"
	        "re-arms). With --cpus A,B the requesting process runs on CPU A only and the\n"
	        "answering one on CPU B (A = B: both on one CPU), instead of wherever the\n"
	        "scheduler puts them.\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},  {"bulk", no_argument, NULL, 'b'},
	    {"tls13", no_argument, NULL, 't'}, {"resume", no_argument, NULL, 'r'},
	    {"ipc", no_argument, NULL, 'i'},   {"cpus", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},  {NULL, 0, NULL, 0},
	};
	long n = 2000;
	int cpus[2] = {-1, -1};
	bool json = false, bulk = false, tls13 = false, resume = false, ipc = false;
	int c;
	while ((c = getopt_long(argc, argv, "n:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': {
			char *end;
			n = strtol(optarg, &end, 10);
			if (*end != '\0')
				n = 0;
			break;
		}
		case 'j':
			json = true;
			break;
		case 'b':
			bulk = true;
			break;
		case 't':
			tls13 = true;
			break;
		case 'r':
			resume = true;
			break;
		case 'i':
			ipc = true;
			break;
		case 'c':
			if (parse_cpus(optarg, cpus) < 0) {
				fprintf(stderr,
				        "keyward-bench-floor: --cpus takes two CPU numbers, "
				        "A,B\n");
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	int args = argc - optind;
	if (n <= 0 || (bulk && (tls13 || ipc || args != 0)) ||
	    (tls13 && (ipc || args < 2 || args > 3)) || (!bulk && !tls13 && args == 0) ||
	    (resume && !tls13) || (cpus[0] >= 0 && !ipc)) {
		usage(stderr);
		return 2;
	}
	if (ipc)
		return run_ipc(args, argv + optind, n, json, cpus);
	if (tls13)
		return run_tls13(args, argv + optind, n, json, resume);
	if (bulk) {
		double us = measure_bulk(n);
		if (us < 0) {
			fprintf(stderr, "keyward-bench-floor: AES-256-GCM failed\n");
			return 1;
		}
		printf(json ? "{\"seal_1mib_us\":%.2f,\"iterations\":%ld}\n"
		            : "aes-256-gcm seal 1 MiB %8.1f us (%ld iterations)\n",
		       us, n);
		return 0;
	}
	if (json)
		printf("[");
	for (int i = optind; i < argc; i++) {
		EVP_PKEY *key = load_key(argv[i]);
		enum tt_scheme scheme;
		double us[STEPS], total = 0;
		if (key == NULL || tt_scheme_for_key(key, &scheme) < 0 || measure(key, n, us) < 0) {
			fprintf(stderr, "keyward-bench-floor: %s: cannot load or use this key\n",
			        argv[i]);
			EVP_PKEY_free(key);
			return 1;
		}
		EVP_PKEY_free(key);
		for (enum step s = 0; s < STEPS; s++)
			total += us[s];
		if (json) {
			printf("%s{\"key\":\"%s\",\"scheme\":\"%s\",\"iterations\":%ld,\"total_"
			       "us\":%.2f",
			       i > optind ? "," : "", argv[i], tt_scheme_name(scheme), n, total);
			for (enum step s = 0; s < STEPS; s++)
				printf(",\"%s_us\":%.2f", step_names[s], us[s]);
			printf("}");
		} else {
			printf("%-16s %8.1f us:", tt_scheme_name(scheme), total);
			for (enum step s = 0; s < STEPS; s++)
				printf(" %s %.1f", step_names[s], us[s]);
			printf("\n");
		}
	}
	if (json)
		printf("]\n");
	return 0;
}

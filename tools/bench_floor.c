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
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>

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

static void
usage(FILE *out)
{
	fprintf(out,
	        "usage: keyward-bench-floor [-n ITERATIONS] [--json] KEY.pem...\n"
	        "       keyward-bench-floor [-n ITERATIONS] [--json] --bulk\n"
	        "\n"
	        "Prints, for each private key (RSA, ECDSA P-256 or Ed25519, PEM), the CPU time\n"
	        "of one toy-TLS server handshake's cryptography, step by step and in total.\n"
	        "With --bulk: the CPU time of sealing 1 MiB as 64 records of 16 KiB with\n"
	        "AES-256-GCM, in place (ITERATIONS times 1 MiB).\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"bulk", no_argument, NULL, 'b'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	long n = 2000;
	bool json = false, bulk = false;
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
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if ((optind == argc) != bulk || n <= 0) {
		usage(stderr);
		return 2;
	}
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

/*
 * test_signer_service.c - the signer's serving loop, run in a child process with a
 * control channel and worker channels made here: signatures, immediate replies,
 * channels closed one at a time, and the ways the service stops.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/pem.h>

#include "control.h"
#include "err.h"
#include "test_text.h"
#include "signer/keys.h"
#include "signer/service.h"
#include "signer_proto.h"

#define CERTS TEST_DATA_DIR "/certs/"

struct signer {
	pid_t pid;
	int control; /* the master's end */
};

/* Forks a child serving with the test RSA key as key id 0. */
static struct signer
start_signer(unsigned threads, unsigned max_inflight, unsigned rate_limit)
{
	struct kw_key list[1] = {{CERTS "server_key.pem", CERTS "server_cert.pem"}};
	struct kw_file cert = test_capture(CERTS "server_cert.pem");
	struct kw_config cfg = {.keys = list, .n_keys = 1, .files = &cert, .n_files = 1};
	struct signer s;
	int sv[2];

	cfg.signer.threads = threads;
	cfg.signer.max_inflight = max_inflight;
	cfg.signer.rate_limit = rate_limit;
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	s.pid = fork();
	cr_assert_geq(s.pid, 0);
	if (s.pid == 0) {
		struct signer_keys keys;
		struct signer_service *svc;
		char err[512];
		int rc;

		close(sv[0]);
		if (signer_keys_load(&cfg, &keys, err, sizeof(err)) != 0 ||
		    signer_service_start(&cfg, &keys, sv[1], NULL, &svc) != 0)
			_exit(2);
		rc = signer_service_run(svc);
		signer_service_free(svc);
		signer_keys_free(&keys);
		_exit(rc == 0 ? 0 : 1);
	}
	close(sv[1]);
	free(cert.text);
	s.control = sv[0];
	return s;
}

/* Hands the signer a new worker channel; returns the worker's end. */
static int
open_channel(const struct signer *s, uint32_t slot)
{
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(
	    ctl_send(s->control, &(struct ctl_msg){.type = CTL_CHANNEL, .arg = slot}, &sv[1], 1),
	    0);
	close(sv[1]);
	return sv[0];
}

static int
wait_exit(const struct signer *s)
{
	int status;

	cr_assert_eq(waitpid(s->pid, &status, 0), s->pid);
	cr_assert(WIFEXITED(status), "signer exited normally (status %#x)", status);
	return WEXITSTATUS(status);
}

static struct sp_sign_request
request(uint32_t id, uint32_t key_id)
{
	struct sp_sign_request req = {.request_id = id, .key_id = key_id};

	for (unsigned i = 0; i < TT_X25519_LEN; i++) {
		req.client_pub[i] = (uint8_t)(i * 3 + id);
		req.server_pub[i] = (uint8_t)(0x40 + i + id);
	}
	return req;
}

static void
send_request(int fd, const struct sp_sign_request *req)
{
	uint8_t msg[SP_SIGN_REQUEST_LEN];

	sp_encode_sign_request(req, msg);
	cr_assert_eq(send(fd, msg, sizeof(msg), MSG_NOSIGNAL), (ssize_t)sizeof(msg));
}

static void
recv_reply(int fd, struct sp_sign_reply *rep)
{
	uint8_t msg[SP_SIGN_REPLY_MAX_LEN];
	ssize_t n = recv(fd, msg, sizeof(msg), 0);

	cr_assert_gt(n, 0, "a reply, not EOF or an error");
	cr_assert_eq(sp_decode_sign_reply(msg, (size_t)n, rep), 0);
}

static EVP_PKEY *
certificate_key(void)
{
	FILE *f = fopen(CERTS "server_cert.pem", "r");
	X509 *x;
	EVP_PKEY *key;

	cr_assert_not_null(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	cr_assert_not_null(x);
	key = X509_get_pubkey(x);
	X509_free(x);
	cr_assert_not_null(key);
	return key;
}

static void
expect_signed(EVP_PKEY *pub, const struct sp_sign_reply *rep, uint32_t id)
{
	struct sp_sign_request req = request(id, 0);

	cr_assert_eq(rep->status, SP_STATUS_OK, "request %u: %s", (unsigned)id,
	             sp_status_name(rep->status));
	cr_expect_eq(tt_verify(pub, req.client_pub, req.server_pub, rep->sig, rep->sig_len), 0,
	             "request %u", (unsigned)id);
}

/* One signed round trip on fd, proving the service is up and serving it. */
static void
round_trip(EVP_PKEY *pub, int fd, uint32_t id)
{
	struct sp_sign_request req = request(id, 0);
	struct sp_sign_reply rep;

	send_request(fd, &req);
	recv_reply(fd, &rep);
	cr_assert_eq(rep.request_id, id);
	expect_signed(pub, &rep, id);
}

static void
expect_eof(int fd)
{
	uint8_t msg[SP_SIGN_REPLY_MAX_LEN];

	cr_expect_eq(recv(fd, msg, sizeof(msg), 0), 0, "the signer closed this channel");
}

Test(signer_service, signs_on_many_channels_with_every_thread)
{
	enum { CHANNELS = 4, PER_CHANNEL = 24, INFLIGHT = 4 };
	struct signer s = start_signer(3, INFLIGHT, 0);
	EVP_PKEY *pub = certificate_key();
	int fds[CHANNELS];
	unsigned sent[CHANNELS] = {0}, done[CHANNELS] = {0};

	for (int c = 0; c < CHANNELS; c++)
		fds[c] = open_channel(&s, (uint32_t)c);
	/* keep exactly INFLIGHT requests unanswered per channel: never BUSY */
	for (int c = 0; c < CHANNELS; c++) {
		for (; sent[c] < INFLIGHT; sent[c]++) {
			struct sp_sign_request req = request(c * 1000u + sent[c], 0);

			send_request(fds[c], &req);
		}
	}
	for (int round = 0; round < PER_CHANNEL; round++) {
		for (int c = 0; c < CHANNELS; c++) {
			struct sp_sign_reply rep;

			recv_reply(fds[c], &rep);
			cr_assert_geq(rep.request_id, c * 1000u);
			cr_assert_lt(rep.request_id, c * 1000u + sent[c]);
			expect_signed(pub, &rep, rep.request_id);
			done[c]++;
			if (sent[c] < PER_CHANNEL) {
				struct sp_sign_request req = request(c * 1000u + sent[c]++, 0);

				send_request(fds[c], &req);
			}
		}
	}
	for (int c = 0; c < CHANNELS; c++)
		cr_expect_eq(done[c], PER_CHANNEL);
	close(s.control);
	cr_expect_eq(wait_exit(&s), 0);
	EVP_PKEY_free(pub);
}

Test(signer_service, unknown_key_id_closes_only_that_channel)
{
	struct signer s = start_signer(1, 4, 0);
	EVP_PKEY *pub = certificate_key();
	struct sp_sign_request req = request(9, 1);
	int fd = open_channel(&s, 0), other = open_channel(&s, 1);

	send_request(fd, &req);
	expect_eof(fd);
	round_trip(pub, other, 10);
	close(s.control);
	cr_expect_eq(wait_exit(&s), 0);
	EVP_PKEY_free(pub);
}

Test(signer_service, a_replayed_request_id_closes_only_that_channel)
{
	struct signer s = start_signer(1, 4, 0);
	EVP_PKEY *pub = certificate_key();
	int fd = open_channel(&s, 0), other = open_channel(&s, 1);
	struct sp_sign_request req = request(5, 0);

	round_trip(pub, fd, 5);
	send_request(fd, &req);
	expect_eof(fd);
	round_trip(pub, other, 5);
	close(s.control);
	cr_expect_eq(wait_exit(&s), 0);
	EVP_PKEY_free(pub);
}

Test(signer_service, rate_limit_per_channel)
{
	struct signer s = start_signer(1, 4, 1);
	EVP_PKEY *pub = certificate_key();
	struct sp_sign_reply rep;
	int a = open_channel(&s, 0), b = open_channel(&s, 1);

	round_trip(pub, a, 1);
	for (uint32_t id = 2; id < 5; id++) {
		struct sp_sign_request req = request(id, 0);

		send_request(a, &req);
		recv_reply(a, &rep);
		cr_expect_eq(rep.request_id, id);
		cr_expect_eq(rep.status, SP_STATUS_RATE_LIMITED);
	}
	round_trip(pub, b, 1);
	close(s.control);
	cr_expect_eq(wait_exit(&s), 0);
	EVP_PKEY_free(pub);
}

/*
 * Hands the signer a new worker channel with n requests (ids first_id, first_id + 1, ...,
 * or ids[] when given) already waiting on it, so that the signer's first read takes them
 * together (up to its batch size). Returns the worker's end.
 */
static int
open_channel_with(const struct signer *s, uint32_t slot, uint32_t first_id, const uint32_t *ids,
                  unsigned n)
{
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	for (unsigned i = 0; i < n; i++) {
		struct sp_sign_request req = request(ids ? ids[i] : first_id + i, 0);

		send_request(sv[0], &req);
	}
	cr_assert_eq(
	    ctl_send(s->control, &(struct ctl_msg){.type = CTL_CHANNEL, .arg = slot}, &sv[1], 1),
	    0);
	close(sv[1]);
	return sv[0];
}

/* Reads n replies to ids first_id.. in order: the first n_ok signed, the rest with status. */
static void
expect_replies(EVP_PKEY *pub, int fd, uint32_t first_id, unsigned n, unsigned n_ok,
               enum sp_status status)
{
	for (unsigned i = 0; i < n; i++) {
		struct sp_sign_reply rep;

		recv_reply(fd, &rep);
		cr_assert_eq(rep.request_id, first_id + i);
		if (i < n_ok)
			expect_signed(pub, &rep, first_id + i);
		else
			cr_expect_eq(rep.status, status, "request %u: %s", first_id + i,
			             sp_status_name(rep.status));
	}
}

/* max_inflight requests read at once are all signed; one more is answered BUSY. */
Test(signer_service, a_batch_at_and_one_past_max_inflight)
{
	enum { INFLIGHT = 4 };
	struct signer s = start_signer(2, INFLIGHT, 0);
	EVP_PKEY *pub = certificate_key();
	int at = open_channel_with(&s, 0, 1, NULL, INFLIGHT);
	int past = open_channel_with(&s, 1, 1, NULL, INFLIGHT + 1);

	expect_replies(pub, at, 1, INFLIGHT, INFLIGHT, SP_STATUS_OK);
	expect_replies(pub, past, 1, INFLIGHT + 1, INFLIGHT, SP_STATUS_BUSY);
	round_trip(pub, past, INFLIGHT + 2); /* the channel stays open */
	close(s.control);
	cr_expect_eq(wait_exit(&s), 0);
	EVP_PKEY_free(pub);
}

/* A full bucket of rate_limit requests read at once is signed; one more is RATE_LIMITED. */
Test(signer_service, a_batch_at_and_one_past_the_rate_limit)
{
	enum { RATE = 3 };
	struct signer s = start_signer(1, 8, RATE);
	EVP_PKEY *pub = certificate_key();
	int at = open_channel_with(&s, 0, 1, NULL, RATE);
	int past = open_channel_with(&s, 1, 1, NULL, RATE + 1);

	expect_replies(pub, at, 1, RATE, RATE, SP_STATUS_OK);
	expect_replies(pub, past, 1, RATE + 1, RATE, SP_STATUS_RATE_LIMITED);
	close(s.control);
	cr_expect_eq(wait_exit(&s), 0);
	EVP_PKEY_free(pub);
}

/* More requests waiting than one read takes, on one channel: every one is signed, in order. */
Test(signer_service, many_waiting_requests_are_all_signed_in_order)
{
	enum { WAITING = 70 };
	struct signer s = start_signer(1, WAITING, 0);
	EVP_PKEY *pub = certificate_key();
	int fd = open_channel_with(&s, 0, 100, NULL, WAITING);
	int other = open_channel(&s, 1);

	round_trip(pub, other, 1); /* served between the batches of the busy channel */
	expect_replies(pub, fd, 100, WAITING, WAITING, SP_STATUS_OK);
	close(s.control);
	cr_expect_eq(wait_exit(&s), 0);
	EVP_PKEY_free(pub);
}

/* A request id not newer than the one before it in the same read: closed, unanswered. */
static void
expect_batch_closes_only_its_channel(const uint32_t *ids, unsigned n)
{
	struct signer s = start_signer(2, 8, 0);
	EVP_PKEY *pub = certificate_key();
	int bad = open_channel_with(&s, 0, 0, ids, n), good = open_channel(&s, 1);

	expect_eof(bad);
	round_trip(pub, good, 1);
	close(s.control);
	cr_expect_eq(wait_exit(&s), 0);
	EVP_PKEY_free(pub);
}

Test(signer_service, a_replayed_id_in_a_batch_closes_only_that_channel)
{
	static const uint32_t ids[] = {5, 6, 6};

	expect_batch_closes_only_its_channel(ids, 3);
}

Test(signer_service, an_older_id_in_a_batch_closes_only_that_channel)
{
	static const uint32_t ids[] = {5, 7, 6};

	expect_batch_closes_only_its_channel(ids, 3);
}

/* A malformed request after good ones in the same read: closed, none answered. */
Test(signer_service, a_malformed_request_in_a_batch_closes_only_that_channel)
{
	struct signer s = start_signer(2, 8, 0);
	EVP_PKEY *pub = certificate_key();
	struct sp_sign_request req = request(9, 0);
	uint8_t msg[SP_SIGN_REQUEST_LEN];
	int sv[2], good = open_channel(&s, 1);

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	for (uint32_t id = 1; id < 3; id++) {
		struct sp_sign_request ok = request(id, 0);

		send_request(sv[0], &ok);
	}
	sp_encode_sign_request(&req, msg);
	cr_assert_eq(send(sv[0], msg, sizeof(msg) - 1, 0), (ssize_t)sizeof(msg) - 1);
	cr_assert_eq(
	    ctl_send(s.control, &(struct ctl_msg){.type = CTL_CHANNEL, .arg = 0}, &sv[1], 1), 0);
	close(sv[1]);
	expect_eof(sv[0]);
	round_trip(pub, good, 1);
	close(s.control);
	cr_expect_eq(wait_exit(&s), 0);
	EVP_PKEY_free(pub);
}

static void
expect_malformed_closes_only_its_channel(const uint8_t *msg, size_t len)
{
	struct signer s = start_signer(2, 4, 0);
	EVP_PKEY *pub = certificate_key();
	int bad = open_channel(&s, 0), good = open_channel(&s, 1);

	round_trip(pub, bad, 1);
	cr_assert_eq(send(bad, msg, len, MSG_NOSIGNAL), (ssize_t)len);
	expect_eof(bad);
	round_trip(pub, good, 2);
	close(s.control);
	cr_expect_eq(wait_exit(&s), 0);
	EVP_PKEY_free(pub);
}

Test(signer_service, short_request_closes_its_channel)
{
	struct sp_sign_request req = request(5, 0);
	uint8_t msg[SP_SIGN_REQUEST_LEN];

	sp_encode_sign_request(&req, msg);
	expect_malformed_closes_only_its_channel(msg, sizeof(msg) - 1);
}

Test(signer_service, long_request_closes_its_channel)
{
	struct sp_sign_request req = request(5, 0);
	uint8_t msg[SP_SIGN_REQUEST_LEN + 200] = {0};

	sp_encode_sign_request(&req, msg);
	expect_malformed_closes_only_its_channel(msg, sizeof(msg));
}

/* One byte long, with a header that counts it: only the datagram's size is wrong. */
Test(signer_service, long_request_with_matching_header_closes_its_channel)
{
	struct sp_sign_request req = request(5, 0);
	uint8_t msg[SP_SIGN_REQUEST_LEN + 1] = {0};

	sp_encode_sign_request(&req, msg);
	msg[11] = SP_SIGN_REQUEST_PAYLOAD_LEN + 1;
	expect_malformed_closes_only_its_channel(msg, sizeof(msg));
}

Test(signer_service, wrong_type_closes_its_channel)
{
	struct sp_sign_request req = request(5, 0);
	uint8_t msg[SP_SIGN_REQUEST_LEN];

	sp_encode_sign_request(&req, msg);
	msg[1] = SP_SIGN_REPLY;
	expect_malformed_closes_only_its_channel(msg, sizeof(msg));
}

Test(signer_service, empty_datagram_closes_its_channel)
{
	uint8_t none = 0;

	expect_malformed_closes_only_its_channel(&none, 0);
}

Test(signer_service, worker_going_away_leaves_others_served)
{
	struct signer s = start_signer(2, 4, 0);
	EVP_PKEY *pub = certificate_key();
	int a = open_channel(&s, 0), b = open_channel(&s, 1);
	struct sp_sign_request req = request(3, 0);

	round_trip(pub, a, 1);
	send_request(a, &req);
	close(a);
	round_trip(pub, b, 2);
	round_trip(pub, open_channel(&s, 0), 4);
	close(s.control);
	cr_expect_eq(wait_exit(&s), 0);
	EVP_PKEY_free(pub);
}

Test(signer_service, worker_not_reading_replies_is_cut_off)
{
	struct signer s = start_signer(1, 4, 1);
	EVP_PKEY *pub = certificate_key();
	int stuck = open_channel(&s, 0), good = open_channel(&s, 1);
	uint8_t msg[SP_SIGN_REQUEST_LEN];
	ssize_t n;
	long sent = 0;

	/* RATE_LIMITED replies pile up unread until the signer's send buffer is full */
	do {
		struct sp_sign_request req = request((uint32_t)sent + 1, 0);
		sp_encode_sign_request(&req, msg);
		n = send(stuck, msg, sizeof(msg), MSG_NOSIGNAL);
	} while (n == (ssize_t)sizeof(msg) && ++sent < 10000000);
	cr_expect_eq(n, -1);
	cr_expect(errno == EPIPE || errno == ECONNRESET, "errno %d", errno);
	cr_expect_gt(sent, 10);
	round_trip(pub, good, 2);
	close(s.control);
	cr_expect_eq(wait_exit(&s), 0);
	EVP_PKEY_free(pub);
}

Test(signer_service, stops_on_sigterm)
{
	struct signer s = start_signer(2, 4, 0);
	EVP_PKEY *pub = certificate_key();
	int fd = open_channel(&s, 0);

	round_trip(pub, fd, 1);
	cr_assert_eq(kill(s.pid, SIGTERM), 0);
	cr_expect_eq(wait_exit(&s), 0);
	expect_eof(fd);
	EVP_PKEY_free(pub);
}

Test(signer_service, ignores_other_signals)
{
	struct signer s = start_signer(1, 4, 0);
	EVP_PKEY *pub = certificate_key();
	int fd = open_channel(&s, 0);

	round_trip(pub, fd, 1);
	cr_assert_eq(kill(s.pid, SIGHUP), 0);
	cr_assert_eq(kill(s.pid, SIGPIPE), 0);
	cr_assert_eq(kill(s.pid, SIGUSR1), 0);
	round_trip(pub, fd, 2);
	close(s.control);
	cr_expect_eq(wait_exit(&s), 0);
	EVP_PKEY_free(pub);
}

Test(signer_service, stops_on_ctl_shutdown)
{
	struct signer s = start_signer(1, 4, 0);
	EVP_PKEY *pub = certificate_key();
	int fd = open_channel(&s, 0);

	round_trip(pub, fd, 1);
	cr_assert_eq(ctl_send(s.control, &(struct ctl_msg){.type = CTL_SHUTDOWN}, NULL, 0), 0);
	cr_expect_eq(wait_exit(&s), 0);
	EVP_PKEY_free(pub);
}

Test(signer_service, unknown_control_message_closes_the_channel)
{
	struct signer s = start_signer(1, 4, 0);
	EVP_PKEY *pub = certificate_key();
	int fd = open_channel(&s, 0);

	round_trip(pub, fd, 1);
	cr_assert_eq(ctl_send(s.control, &(struct ctl_msg){.type = 99}, NULL, 0), 0);
	/* the signer stops reading its control channel and exits: its workers see EOF */
	cr_expect_eq(wait_exit(&s), 0);
	expect_eof(fd);
	close(s.control);
	EVP_PKEY_free(pub);
}

Test(signer_service, bad_control_messages_are_ignored)
{
	struct signer s = start_signer(1, 4, 0);
	EVP_PKEY *pub = certificate_key();
	int fd = open_channel(&s, 0), sv[2];
	uint8_t junk[3] = {1, 2, 3};

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	/* a channel without its descriptor, one with two, a short message */
	cr_assert_eq(ctl_send(s.control, &(struct ctl_msg){.type = CTL_CHANNEL}, NULL, 0), 0);
	cr_assert_eq(ctl_send(s.control, &(struct ctl_msg){.type = CTL_CHANNEL}, sv, 2), 0);
	cr_assert_eq(send(s.control, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
	close(sv[1]);
	expect_eof(sv[0]);
	round_trip(pub, fd, 1);
	close(s.control);
	cr_expect_eq(wait_exit(&s), 0);
	EVP_PKEY_free(pub);
}

/*
 * test_transport.c - each transport class through the seam of transport.h, as the
 * connection layer drives it: the table gives each kind of listener its class; plain
 * is the identity both ways; toy-TLS completes a handshake against a toy-TLS client,
 * asking the signer client itself (a fake signer signs with the test key on a
 * socketpair) and waking its host when the signature comes, selects the server block
 * through its host, protects records in place, fails (and wakes its host) when the
 * signer refuses, and withdraws its request when destroyed mid-handshake.
 */
#include "transport.h"

#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "proc.h"
#include "signer_client.h"
#include "signer_proto.h"
#include "tt_conn_test.h"

#define WAIT_MS 5000

/* ---- the host: what the connection layer gives a transport ---- */

struct test_host {
	struct transport_host host;
	unsigned wakes;
	unsigned selects;
	const char *name;
};

static struct kw_server servers[1];

static void
host_wake(struct transport_host *h)
{
	((struct test_host *)(void *)h)->wakes++;
}

static const struct kw_server *
host_select(struct transport_host *h, const char *server_name)
{
	struct test_host *th = (struct test_host *)(void *)h;
	th->selects++;
	th->name = server_name;
	return &servers[0];
}

static struct test_host th;

static struct kw_listener listeners[3];
static struct kw_config cfg;
static struct kw_file files[2];
static char *chain[1];
static size_t srv_listeners[1];
static struct loop loop;
static struct sign_proxy *sp;
static int sv[2];

static void
setup(void)
{
	th = (struct test_host){.host = {.wake = host_wake, .select_server = host_select}};
	listeners[0] = (struct kw_listener){.address = "*", .tls = KW_TLS_NONE};
	listeners[1] = (struct kw_listener){.address = "*", .tls = KW_TLS_TOY};
	listeners[2] = (struct kw_listener){.address = "*", .tls = KW_TLS_TLS13};
	chain[0] = CERTS "intermediate_cert.pem";
	files[0] = (struct kw_file){.path = CERTS "server_cert.pem",
	                            .text = test_read_text(CERTS "server_cert.pem")};
	files[1] = (struct kw_file){.path = chain[0], .text = test_read_text(chain[0])};
	servers[0] = (struct kw_server){.listeners = srv_listeners,
	                                .n_listeners = 1,
	                                .is_default = true,
	                                .has_tls = true,
	                                .certificate = files[0].path,
	                                .chain = chain,
	                                .n_chain = 1,
	                                .key_id = 0};
	srv_listeners[0] = 1;
	memset(&cfg, 0, sizeof(cfg));
	cfg.servers = servers;
	cfg.n_servers = 1;
	cfg.listeners = &listeners[1];
	cfg.n_listeners = 1;
	cfg.files = files;
	cfg.n_files = 2;
	cfg.signer.max_inflight = 4;
	cfg.signer.timeout_ms = 10000;
	cr_assert_eq(loop_init(&loop), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	cr_assert_eq(sign_proxy_new(&loop, &cfg, sv[0], &sp), 0);
}

static void
teardown(void)
{
	sign_proxy_free(sp);
	close(sv[1]);
	loop_dispose(&loop);
	free(files[0].text);
	free(files[1].text);
}

TestSuite(transport, .init = setup, .fini = teardown);

Test(transport, the_table_gives_each_kind_of_listener_its_class)
{
	const struct transport_class *plain = transport_class_for(&listeners[0]);
	const struct transport_class *toy = transport_class_for(&listeners[1]);
	cr_assert_not_null(plain);
	cr_assert_not_null(toy);
	cr_assert_str_eq(plain->name, "plain");
	cr_assert_str_eq(toy->name, "toy-TLS");
	cr_assert_neq(transport_class_for(&listeners[2]), plain);
	cr_assert_neq(transport_class_for(&listeners[2]), toy);
	cr_assert_geq(toy->record_size,
	              TT_RECORD_PREFIX_LEN + TT_MAX_PLAINTEXT + TT_RECORD_SUFFIX_LEN);
}

/* Starts the class of listener lc and opens one transport on th. */
static struct transport *
open_on(const struct kw_listener *lc, void **state)
{
	const struct transport_class *tc = transport_class_for(lc);
	const struct transport_env env = {.loop = &loop, .cfg = &cfg, .signer = sp};
	char err[256];
	cr_assert_eq(tc->start(&env, state, err, sizeof(err)), 0, "%s", err);
	struct transport *t = tc->open(*state, &th.host);
	cr_assert_not_null(t);
	return t;
}

Test(transport, plain_is_the_identity_both_ways)
{
	void *state;
	struct transport *t = open_on(&listeners[0], &state);
	const struct transport_ops *ops = t->ops;
	cr_assert(ops->passthrough);
	cr_assert(ops->established(t));
	cr_assert_eq(ops->record_prefix + ops->record_suffix, 0u);
	cr_assert_eq(ops->feed(t, (const uint8_t *)"GET / HTTP/1.1\r\n", 16), 0);
	cr_assert(ops->input_pending(t));
	struct kw_buf *in = ops->plaintext(t);
	cr_assert_eq(kw_buf_size(in), 16u);
	cr_assert_arr_eq(kw_buf_head(in), "GET / HTTP/1.1\r\n", 16);
	kw_buf_consume(in, 16);
	cr_assert(!ops->input_pending(t));
	uint8_t rec[8] = "abcdefgh";
	cr_assert_eq(ops->protect_in_place(t, rec, 8), 0);
	cr_assert_arr_eq(rec, "abcdefgh", 8);
	cr_assert_eq(kw_buf_size(ops->wire(t)), 0u);
	const char *detail = "x";
	cr_assert_eq(ops->error(t, &detail), 0);
	cr_assert_null(detail);
	ops->shrink(t);
	ops->destroy(t);
	transport_class_for(&listeners[0])->stop(state);
	cr_assert_eq(th.wakes, 0u);
}

/* The fake signer answers the next request: signed with the test key, or status. */
static void
signer_answer(uint16_t status)
{
	struct pollfd pfd = {.fd = sv[1], .events = POLLIN};
	unsigned long long end = kw_now_ms() + WAIT_MS;
	while (poll(&pfd, 1, 0) == 0) {
		cr_assert_lt(kw_now_ms(), end, "a signing request must arrive");
		cr_assert_eq(loop_turn(&loop, 20), 0);
	}
	uint8_t msg[SP_SIGN_REQUEST_LEN];
	ssize_t n = recv(sv[1], msg, sizeof(msg), 0);
	struct sp_sign_request req;
	cr_assert_eq(sp_decode_sign_request(msg, (size_t)n, &req), 0);
	cr_assert_eq(req.key_id, servers[0].key_id);
	struct sp_sign_reply rep = {.request_id = req.request_id, .status = status};
	if (status == SP_STATUS_OK) {
		EVP_PKEY *key = test_load_key(CERTS "server_key.pem");
		struct tt_signer signer;
		size_t len = 0;
		cr_assert_eq(tt_signer_init(&signer, key), 0);
		cr_assert_eq(tt_signer_sign(&signer, req.client_pub, req.server_pub, rep.sig, &len),
		             0);
		rep.sig_len = (uint16_t)len;
		tt_signer_dispose(&signer);
		EVP_PKEY_free(key);
	}
	uint8_t out[SP_SIGN_REPLY_MAX_LEN];
	size_t len = sp_encode_sign_reply(&rep, out);
	cr_assert_eq(send(sv[1], out, len, 0), (ssize_t)len);
}

/* Moves what one side's wire holds into the other side. */
static void
to_server(struct tt_conn *client, struct transport *t)
{
	struct kw_buf *w = tt_conn_wire(client);
	cr_assert_eq(t->ops->feed(t, kw_buf_head(w), kw_buf_size(w)), 0);
	kw_buf_consume(w, kw_buf_size(w));
}

static void
to_client(struct transport *t, struct tt_conn *client)
{
	struct kw_buf *w = t->ops->wire(t);
	cr_assert_eq(tt_conn_feed(client, kw_buf_head(w), kw_buf_size(w)), 0);
	kw_buf_consume(w, kw_buf_size(w));
}

static struct tt_conn *
client_new(void)
{
	struct tt_client_params p = {
	    .insecure = true, .dns_name = "localhost", .send_server_name = true};
	struct tt_conn *c = tt_conn_new_client(&p);
	cr_assert_not_null(c);
	return c;
}

Test(transport, toytls_handshakes_through_the_signer_and_protects_records)
{
	void *state;
	struct transport *t = open_on(&listeners[1], &state);
	const struct transport_ops *ops = t->ops;
	cr_assert(!ops->passthrough);
	cr_assert(!ops->established(t));
	struct tt_conn *client = client_new();
	to_server(client, t);
	cr_assert_eq(th.selects, 1u, "the server block is chosen through the host");
	cr_assert_str_eq(th.name, "localhost");
	cr_assert_eq(th.wakes, 0u);
	signer_answer(SP_STATUS_OK);
	unsigned long long end = kw_now_ms() + WAIT_MS;
	while (th.wakes == 0 && kw_now_ms() < end)
		cr_assert_eq(loop_turn(&loop, 20), 0);
	cr_assert_eq(th.wakes, 1u, "the signature wakes the host");
	cr_assert(ops->established(t));
	to_client(t, client);
	cr_assert_eq(tt_conn_state(client), TT_ESTABLISHED);

	cr_assert_eq(tt_conn_protect(client, (const uint8_t *)"ping", 4), 0);
	to_server(client, t);
	struct kw_buf *in = ops->plaintext(t);
	cr_assert_eq(kw_buf_size(in), 4u);
	cr_assert_arr_eq(kw_buf_head(in), "ping", 4);
	kw_buf_consume(in, 4);

	uint8_t rec[TT_RECORD_PREFIX_LEN + 4 + TT_RECORD_SUFFIX_LEN];
	memcpy(rec + ops->record_prefix, "pong", 4);
	cr_assert_eq(ops->protect_in_place(t, rec, 4), 0);
	cr_assert_eq(tt_conn_feed(client, rec, sizeof(rec)), 0);
	struct kw_buf *got = tt_conn_plaintext(client);
	cr_assert_eq(kw_buf_size(got), 4u);
	cr_assert_arr_eq(kw_buf_head(got), "pong", 4);

	const char *detail;
	cr_assert_eq(ops->error(t, &detail), 0);
	ops->shrink(t);
	ops->destroy(t);
	tt_conn_free(client);
	transport_class_for(&listeners[1])->stop(state);
}

Test(transport, toytls_fails_and_wakes_its_host_when_the_signer_refuses)
{
	void *state;
	struct transport *t = open_on(&listeners[1], &state);
	struct tt_conn *client = client_new();
	to_server(client, t);
	signer_answer(SP_STATUS_FAILED);
	unsigned long long end = kw_now_ms() + WAIT_MS;
	while (th.wakes == 0 && kw_now_ms() < end)
		cr_assert_eq(loop_turn(&loop, 20), 0);
	cr_assert_eq(th.wakes, 1u);
	const char *detail;
	cr_assert_eq(t->ops->error(t, &detail), KW_ERR_SIGN_FAILED);
	cr_assert(!t->ops->established(t));
	t->ops->destroy(t);
	tt_conn_free(client);
	transport_class_for(&listeners[1])->stop(state);
}

Test(transport, toytls_destroyed_mid_handshake_withdraws_its_request)
{
	void *state;
	struct transport *t = open_on(&listeners[1], &state);
	struct tt_conn *client = client_new();
	to_server(client, t);
	cr_assert_eq(loop_turn(&loop, 0), 0); /* the request leaves */
	t->ops->destroy(t);                   /* the connection closed while the signer works */
	signer_answer(SP_STATUS_OK);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(loop_turn(&loop, 10), 0);
	cr_assert_eq(th.wakes, 0u, "nobody is woken for a withdrawn request");
	tt_conn_free(client);
	transport_class_for(&listeners[1])->stop(state);
}

Test(transport, toytls_refuses_a_listener_whose_default_server_has_no_certificate)
{
	servers[0].has_tls = false;
	const struct transport_env env = {.loop = &loop, .cfg = &cfg, .signer = sp};
	char err[256];
	void *state = NULL;
	cr_assert_eq(transport_class_for(&listeners[1])->start(&env, &state, err, sizeof(err)),
	             KW_ERR_ARGUMENT);
	cr_assert(strstr(err, "default server has no certificate") != NULL, "%s", err);
}

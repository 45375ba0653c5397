/*
 * keyward-get - a small curl-like client for http://, https:// (TLS 1.3) and toytls://
 * URLs.
 *
 * It sends one GET (or HEAD) request with "Connection: close", prints the body to
 * stdout (and the head too with -i), and exits 0 only when a complete response with
 * a 2xx or 3xx status arrived.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "kw_build_config.h"
#include "toytls_cert.h"
#include "tls13_client.h"
#include "toytls_conn.h"
#include "url.h"

enum {
	EXIT_HTTP_ERROR = 1, /* the server answered with a 4xx or 5xx status */
	EXIT_TRANSFER = 2,   /* connection, TLS or response format failure */
	EXIT_USAGE = 64,
};

struct options {
	bool include_head;
	bool head_only;
	bool insecure;
	bool no_sni;
	const char *root;
	const char *name;
	const char *headers[32];
	size_t n_headers;
	int timeout_ms;
};

static void
usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: keyward-get [options] URL\n"
	    "\n"
	    "URL is http://HOST[:PORT]/PATH, https://HOST[:PORT]/PATH (TLS 1.3) or\n"
	    "toytls://HOST[:PORT]/PATH (default ports 80, 443, 443).\n"
	    "\n"
	    "  -i, --include        print the response head before the body\n"
	    "  -I, --head           send HEAD instead of GET (implies -i)\n"
	    "  -H, --header LINE    add a request header (\"Name: value\"), repeatable; a Host,\n"
	    "                       User-Agent or Connection header replaces keyward-get's own\n"
	    "      --root FILE      trusted root certificate(s), PEM (https://, toytls://)\n"
	    "      --name NAME      DNS name to verify and to send as server_name and Host\n"
	    "                       (default: the URL's host)\n"
	    "      --no-sni         do not send the server_name field\n"
	    "      --insecure       skip certificate chain and name checks (the handshake\n"
	    "                       signature is still verified)\n"
	    "      --timeout SEC    give up after SEC seconds without progress (default 10)\n"
	    "  -h, --help           this text\n"
	    "  -v, --version        print the version\n"
	    "\n"
	    "Exit status: 0 on a 2xx/3xx response, 1 on a 4xx/5xx response, 2 when the\n"
	    "connection, the TLS handshake or the response failed, 64 on bad usage.\n");
}

static int
connect_to(const struct kw_url *u)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
	int rc = getaddrinfo(u->host, u->port, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "keyward-get: cannot resolve %s: %s\n", u->host, gai_strerror(rc));
		return -1;
	}
	int fd = -1, err = 0;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		fprintf(stderr, "keyward-get: cannot connect to %s port %s: %s\n", u->host, u->port,
		        strerror(err));
	return fd;
}

static int
wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = events};
	int rc;
	do
		rc = poll(&p, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc == 0) {
		fprintf(stderr, "keyward-get: timed out\n");
		return -1;
	}
	return rc < 0 ? -1 : 0;
}

static int
send_all(int fd, struct kw_buf *b, int timeout_ms)
{
	while (kw_buf_size(b) > 0) {
		if (wait_fd(fd, POLLOUT, timeout_ms) < 0)
			return -1;
		ssize_t n = send(fd, kw_buf_head(b), kw_buf_size(b), MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "keyward-get: send failed: %s\n", strerror(errno));
			return -1;
		}
		kw_buf_consume(b, (size_t)n);
	}
	return 0;
}

/* Reads from the socket; returns bytes read, 0 on EOF, -1 on error. */
static ssize_t
recv_some(int fd, uint8_t *p, size_t cap, int timeout_ms)
{
	if (wait_fd(fd, POLLIN, timeout_ms) < 0)
		return -1;
	ssize_t n;
	do
		n = recv(fd, p, cap, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		fprintf(stderr, "keyward-get: receive failed: %s\n", strerror(errno));
	return n;
}

/* The connection's TLS, toy-TLS or TLS 1.3, as exchange() drives it. */
struct client_tls {
	const char *name; /* for messages */
	void *c;
	int (*feed)(void *c, const uint8_t *p, size_t n); /* 0 or < 0 */
	struct kw_buf *(*wire)(void *c);
	struct kw_buf *(*plaintext)(void *c);
	bool (*established)(const void *c);
	int (*protect)(void *c, const uint8_t *p, size_t n); /* into wire(); 0 or < 0 */
	void (*report)(const void *c, const char *what);
};

static int
toy_feed(void *c, const uint8_t *p, size_t n)
{
	return tt_conn_feed(c, p, n);
}

static struct kw_buf *
toy_wire(void *c)
{
	return tt_conn_wire(c);
}

static struct kw_buf *
toy_plaintext(void *c)
{
	return tt_conn_plaintext(c);
}

static bool
toy_established(const void *c)
{
	return tt_conn_state(c) == TT_ESTABLISHED;
}

static int
toy_protect(void *c, const uint8_t *p, size_t n)
{
	return tt_conn_protect(c, p, n);
}

static void
toy_report(const void *c, const char *what)
{
	const char *detail = tt_conn_error_detail(c);
	fprintf(stderr, "keyward-get: toy-TLS %s failed: %s%s%s\n", what,
	        kw_strerror(tt_conn_error(c)), detail ? ": " : "", detail ? detail : "");
}

static int
tls13_feed(void *c, const uint8_t *p, size_t n)
{
	return tls13_client_feed(c, p, n);
}

static struct kw_buf *
tls13_wire(void *c)
{
	return tls13_client_wire(c);
}

static struct kw_buf *
tls13_plaintext(void *c)
{
	return tls13_client_plaintext(c);
}

static bool
tls13_established(const void *c)
{
	return tls13_client_established(c);
}

static int
tls13_protect(void *c, const uint8_t *p, size_t n)
{
	return tls13_client_protect(c, p, n);
}

static void
tls13_report(const void *c, const char *what)
{
	fprintf(stderr, "keyward-get: %s\n", tls13_client_error(c));
}

/*
 * The response as it streams in: the head is collected until its end, then body
 * bytes go straight to stdout, so a large download never sits in memory.
 */
struct response {
	const struct options *o;
	struct kw_buf head;
	bool head_done;
	int status;
	bool bodiless;
	bool length_known;
	uint64_t expected;
	uint64_t received;
};

static const char *
find_header(const char *head, size_t head_len, const char *name)
{
	size_t name_len = strlen(name);
	const char *p = memchr(head, '\n', head_len);
	while (p != NULL && (size_t)(p + 1 - head) < head_len) {
		p++;
		if (strncasecmp(p, name, name_len) == 0 && p[name_len] == ':')
			return p + name_len + 1;
		p = memchr(p, '\n', head_len - (size_t)(p - head));
	}
	return NULL;
}

static int
write_out(const void *p, size_t n)
{
	if (n > 0 && fwrite(p, 1, n, stdout) != n) {
		fprintf(stderr, "keyward-get: cannot write output: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int
response_body(struct response *r, const uint8_t *p, size_t n)
{
	if (r->bodiless)
		return 0;
	if (r->length_known && n > r->expected - r->received)
		n = (size_t)(r->expected - r->received);
	r->received += n;
	return write_out(p, n);
}

/* Takes response bytes; returns 0, or -1 with a message printed. */
static int
response_feed(struct response *r, const uint8_t *p, size_t n)
{
	if (r->head_done)
		return response_body(r, p, n);
	size_t old = kw_buf_size(&r->head);
	if (kw_buf_append(&r->head, p, n) < 0)
		return -1;
	const char *data = (const char *)kw_buf_head(&r->head);
	size_t len = kw_buf_size(&r->head);
	const char *end = memmem(data, len, "\r\n\r\n", 4);
	if (end == NULL) {
		if (len > 65536) {
			fprintf(stderr, "keyward-get: bad response: head over 64 KiB\n");
			return -1;
		}
		return 0;
	}
	size_t head_len = (size_t)(end - data) + 4;
	if (sscanf(data, "HTTP/1.%*1[01] %3d", &r->status) != 1) {
		fprintf(stderr, "keyward-get: bad response: no valid status line\n");
		return -1;
	}
	r->head_done = true;
	r->bodiless = r->o->head_only || r->status == 204 || r->status == 304 ||
	              r->status / 100 == 1;
	const char *cl = find_header(data, head_len, "Content-Length");
	if (cl != NULL) {
		r->length_known = true;
		r->expected = strtoull(cl, NULL, 10);
	}
	if (r->o->include_head && write_out(data, head_len) < 0)
		return -1;
	return response_body(r, p + (head_len - old), n - (head_len - old));
}

/* After EOF: checks the response is whole; returns the exit status. */
static int
response_finish(struct response *r)
{
	if (fflush(stdout) != 0) {
		fprintf(stderr, "keyward-get: cannot write output: %s\n", strerror(errno));
		return EXIT_TRANSFER;
	}
	if (!r->head_done) {
		fprintf(stderr, "keyward-get: bad response: %s\n",
		        kw_buf_size(&r->head) == 0 ? "connection closed without a response"
		                                   : "connection closed inside the head");
		return EXIT_TRANSFER;
	}
	if (!r->bodiless && r->length_known && r->received < r->expected) {
		fprintf(stderr, "keyward-get: bad response: body truncated (%llu of %llu bytes)\n",
		        (unsigned long long)r->received, (unsigned long long)r->expected);
		return EXIT_TRANSFER;
	}
	if (r->status >= 400) {
		const char *data = (const char *)kw_buf_head(&r->head);
		const char *eol = strstr(data, "\r\n");
		fprintf(stderr, "keyward-get: server answered %.*s\n", (int)(eol - data) - 9, data + 9);
		return EXIT_HTTP_ERROR;
	}
	return 0;
}

/* True once the whole response is in (no need to wait for EOF). */
static bool
response_complete(const struct response *r)
{
	return r->head_done && (r->bodiless || (r->length_known && r->received == r->expected));
}

static int
take_plaintext(const struct client_tls *tls, struct response *r)
{
	struct kw_buf *pt = tls->plaintext(tls->c);
	int rc = response_feed(r, kw_buf_head(pt), kw_buf_size(pt));
	kw_buf_reset(pt);
	return rc;
}

/* Sends the request and streams the response; returns 0 or -1 (message printed). */
static int
exchange(int fd, const struct client_tls *tls, struct kw_buf *request, struct response *r,
         int timeout_ms)
{
	uint8_t chunk[16384];
	if (tls != NULL) {
		while (!tls->established(tls->c)) {
			if (send_all(fd, tls->wire(tls->c), timeout_ms) < 0)
				return -1;
			ssize_t n = recv_some(fd, chunk, sizeof(chunk), timeout_ms);
			if (n < 0)
				return -1;
			if (n == 0) {
				fprintf(stderr,
				        "keyward-get: connection closed during the %s handshake\n",
				        tls->name);
				return -1;
			}
			if (tls->feed(tls->c, chunk, (size_t)n) < 0) {
				tls->report(tls->c, "handshake");
				return -1;
			}
		}
		if (tls->protect(tls->c, kw_buf_head(request), kw_buf_size(request)) < 0) {
			tls->report(tls->c, "handshake");
			return -1;
		}
		if (take_plaintext(tls, r) < 0)
			return -1;
		request = tls->wire(tls->c);
	}
	if (send_all(fd, request, timeout_ms) < 0)
		return -1;
	while (!response_complete(r)) {
		ssize_t n = recv_some(fd, chunk, sizeof(chunk), timeout_ms);
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		if (tls == NULL) {
			if (response_feed(r, chunk, (size_t)n) < 0)
				return -1;
			continue;
		}
		if (tls->feed(tls->c, chunk, (size_t)n) < 0) {
			tls->report(tls->c, "record");
			return -1;
		}
		if (take_plaintext(tls, r) < 0)
			return -1;
	}
	return 0;
}

static int
build_request(const struct kw_url *u, const struct options *o, struct kw_buf *req)
{
	char line[1024];
	const char *host = o->name ? o->name : u->host;
	bool v6 = strchr(host, ':') != NULL;
	bool own_host = false, own_connection = false, own_agent = false;

	for (size_t i = 0; i < o->n_headers; i++) {
		const char *h = o->headers[i];
		if (strpbrk(h, "\r\n") != NULL || strchr(h, ':') == NULL || h[0] == ':') {
			fprintf(stderr, "keyward-get: bad header \"%s\"\n", h);
			return -1;
		}
		own_host |= strncasecmp(h, "Host:", 5) == 0;
		own_connection |= strncasecmp(h, "Connection:", 11) == 0;
		own_agent |= strncasecmp(h, "User-Agent:", 11) == 0;
	}
	int n = snprintf(line, sizeof(line), "%s %s HTTP/1.1\r\n", o->head_only ? "HEAD" : "GET",
	                 u->path);
	if (n < 0 || (size_t)n >= sizeof(line) || strpbrk(u->path, " \r\n") != NULL) {
		fprintf(stderr, "keyward-get: URL path too long or not encoded\n");
		return -1;
	}
	if (kw_buf_append(req, line, (size_t)n) < 0)
		return -1;
	if (!own_host) {
		n = snprintf(line, sizeof(line), "Host: %s%s%s:%s\r\n", v6 ? "[" : "", host,
		             v6 ? "]" : "", u->port);
		if (n < 0 || (size_t)n >= sizeof(line) || kw_buf_append(req, line, (size_t)n) < 0)
			return -1;
	}
	if (!own_agent) {
		n = snprintf(line, sizeof(line), "User-Agent: keyward-get/%s\r\n", KW_VERSION);
		if (n < 0 || (size_t)n >= sizeof(line) || kw_buf_append(req, line, (size_t)n) < 0)
			return -1;
	}
	if (!own_connection && kw_buf_append(req, "Connection: close\r\n", 19) < 0)
		return -1;
	for (size_t i = 0; i < o->n_headers; i++)
		if (kw_buf_append(req, o->headers[i], strlen(o->headers[i])) < 0 ||
		    kw_buf_append(req, "\r\n", 2) < 0)
			return -1;
	return kw_buf_append(req, "\r\n", 2);
}

static int
parse_options(int argc, char **argv, struct options *o)
{
	enum { OPT_ROOT = 256, OPT_NAME, OPT_INSECURE, OPT_NO_SNI, OPT_TIMEOUT };
	static const struct option longopts[] = {
		{"include", no_argument, NULL, 'i'},   {"head", no_argument, NULL, 'I'},
		{"header", required_argument, NULL, 'H'}, {"root", required_argument, NULL, OPT_ROOT},
		{"name", required_argument, NULL, OPT_NAME}, {"insecure", no_argument, NULL, OPT_INSECURE},
		{"no-sni", no_argument, NULL, OPT_NO_SNI}, {"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"help", no_argument, NULL, 'h'},      {"version", no_argument, NULL, 'v'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "iIH:hv", longopts, NULL)) != -1) {
		switch (c) {
		case 'i': o->include_head = true; break;
		case 'I': o->head_only = o->include_head = true; break;
		case 'H':
			if (o->n_headers == sizeof(o->headers) / sizeof(o->headers[0])) {
				fprintf(stderr, "keyward-get: too many -H options\n");
				return EXIT_USAGE;
			}
			o->headers[o->n_headers++] = optarg;
			break;
		case OPT_ROOT: o->root = optarg; break;
		case OPT_NAME: o->name = optarg; break;
		case OPT_INSECURE: o->insecure = true; break;
		case OPT_NO_SNI: o->no_sni = true; break;
		case OPT_TIMEOUT: {
			char *end;
			long s = strtol(optarg, &end, 10);
			if (*end != '\0' || s <= 0 || s > 3600) {
				fprintf(stderr, "keyward-get: --timeout takes seconds from 1 to 3600\n");
				return EXIT_USAGE;
			}
			o->timeout_ms = (int)s * 1000;
			break;
		}
		case 'h': usage(stdout); exit(0);
		case 'v': printf("keyward-get %s\n", KW_VERSION); exit(0);
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct options o = {.timeout_ms = 10000};
	int rc = parse_options(argc, argv, &o);
	if (rc != 0)
		return rc;
	struct kw_url u;
	if (kw_url_parse(argv[optind], &u) < 0) {
		fprintf(stderr,
		        "keyward-get: bad URL \"%s\": use http://HOST[:PORT]/PATH, "
		        "https://HOST[:PORT]/PATH or toytls://HOST[:PORT]/PATH\n",
		        argv[optind]);
		return EXIT_USAGE;
	}
	bool secure = u.toytls || u.https;
	if (secure && o.root == NULL && !o.insecure) {
		fprintf(stderr, "keyward-get: %s:// needs --root FILE (or --insecure)\n",
		        u.https ? "https" : "toytls");
		return EXIT_USAGE;
	}

	struct tt_trust trust = {0};
	struct tt_conn *toy = NULL;
	SSL_CTX *ctx = NULL;
	struct tls13_client *tls13 = NULL;
	struct client_tls tls = {0};
	struct kw_buf request = {0};
	struct response response = {.o = &o};
	const char *dns_name = o.name ? o.name : u.host;
	int fd = -1;
	rc = EXIT_TRANSFER;
	if (u.toytls && !o.insecure && tt_trust_load_file(&trust, o.root) < 0) {
		fprintf(stderr, "keyward-get: cannot load trusted roots from %s\n", o.root);
		goto out;
	}
	if (u.toytls) {
		struct tt_client_params p = {
		    .trust = o.insecure ? NULL : &trust,
		    .dns_name = dns_name,
		    .send_server_name = !o.no_sni,
		    .insecure = o.insecure,
		};
		toy = tt_conn_new_client(&p);
		if (toy == NULL) {
			fprintf(stderr, "keyward-get: cannot start toy-TLS for name \"%s\"\n", p.dns_name);
			goto out;
		}
		tls = (struct client_tls){"toy-TLS",   toy,           toy_feed,
		                          toy_wire,    toy_plaintext, toy_established,
		                          toy_protect, toy_report};
	} else if (u.https) {
		char err[256];
		ctx = tls13_client_ctx(o.root, o.insecure, err, sizeof(err));
		if (ctx == NULL) {
			fprintf(stderr, "keyward-get: %s\n", err);
			goto out;
		}
		struct tls13_client_params p = {
		    .ctx = ctx, .dns_name = dns_name, .send_server_name = !o.no_sni};
		tls13 = tls13_client_new(&p);
		if (tls13 == NULL) {
			fprintf(stderr, "keyward-get: cannot start TLS 1.3 for name \"%s\"\n",
			        dns_name);
			goto out;
		}
		tls = (struct client_tls){"TLS 1.3",     tls13,           tls13_feed,
		                          tls13_wire,    tls13_plaintext, tls13_established,
		                          tls13_protect, tls13_report};
	}
	if (build_request(&u, &o, &request) < 0)
		goto out;
	fd = connect_to(&u);
	if (fd < 0)
		goto out;
	if (exchange(fd, secure ? &tls : NULL, &request, &response, o.timeout_ms) < 0)
		goto out;
	rc = response_finish(&response);
out:
	if (fd >= 0)
		close(fd);
	tt_conn_free(toy);
	tls13_client_free(tls13);
	SSL_CTX_free(ctx);
	if (u.toytls && !o.insecure)
		tt_trust_dispose(&trust);
	kw_buf_free(&request);
	kw_buf_free(&response.head);
	return rc;
}

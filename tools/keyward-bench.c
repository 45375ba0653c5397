/*
 * keyward-bench - a wrk-like load generator for http://, https:// (TLS 1.3) and toytls://
 * URLs.
 *
 * Threads each run an epoll loop over their share of the connections (see
 * bench_loop.h); this file reads the command line, prepares the target, runs the
 * threads and reports requests/s, body MB/s, handshakes/s, latency percentiles,
 * errors by kind and the bench's own CPU time, as text or JSON.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_loop.h"
#include "url.h"
#include "kw_build_config.h"
#include "toytls_cert.h"

enum {
	EXIT_ERRORS = 1, /* the run had errors, or could not start */
	EXIT_USAGE = 2,
};

#define MAX_HEADERS     32
#define MAX_CONNECTIONS 1000000L
#define MAX_THREADS     256L
#define MAX_RATE        1e7            /* --rate: requests/s */
#define START_LEAD_US   (100u * 1000u) /* paced requests start this long after the last connect */

struct options {
	long connections;
	long threads;
	double duration; /* seconds; 0: none */
	unsigned long long requests;
	double hold;
	double rate; /* requests/s; 0: not paced */
	double timeout;
	bool new_connection;
	bool resume;
	bool insecure;
	bool no_sni;
	bool json;
	const char *root;
	const char *name;
	const char *headers[MAX_HEADERS];
	size_t n_headers;
	int expect_status;
	long long expect_length; /* -1: learn from the first response */
	const char *url;
};

/* The bench's own cost and the wall time of the run. */
struct cost {
	double elapsed;
	double user, sys;
	bool held; /* --hold, --rate: every connection was up at once */
};

static void
usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: keyward-bench [options] URL\n"
	    "\n"
	    "Loads URL (http://HOST[:PORT]/PATH, https://HOST[:PORT]/PATH for TLS 1.3, or\n"
	    "toytls://HOST[:PORT]/PATH) with GET requests, one in flight per connection,\n"
	    "HTTP/1.1 keep-alive unless --new-connection.\n"
	    "\n"
	    "  -c, --connections N   connections kept busy (default 10)\n"
	    "  -d, --duration SEC    run for SEC seconds (default 10 unless -n is given)\n"
	    "  -n, --requests N      stop after N requests (errors count as requests)\n"
	    "  -t, --threads N       threads, each with its own epoll loop (default 1)\n"
	    "      --new-connection  one connection, and so one handshake, per request\n"
	    "                        (sent with \"Connection: close\"); latency then runs from\n"
	    "                        connect\n"
	    "      --hold SEC        open every connection, complete the handshake, then\n"
	    "                        keep them idle for SEC seconds (or until SIGINT/SIGTERM);\n"
	    "                        says \"holding N connections\" on stderr once all are up\n"
	    "      --rate N          N requests/s over all connections, paced: every\n"
	    "                        connection is established first (says \"holding N\n"
	    "                        connections\" on stderr, within --timeout), then each\n"
	    "                        sends at its turn, or as soon as its last response is\n"
	    "                        in when its turn has passed; latency runs from the turn\n"
	    "      --resume          https://: each new connection resumes the session of the\n"
	    "                        thread's last one (TLS 1.3 session tickets)\n"
	    "      --root FILE       trusted root certificate(s), PEM (https://, toytls://)\n"
	    "      --insecure        skip chain and name checks (the handshake signature is\n"
	    "                        still verified, with the leaf's key, which each thread\n"
	    "                        parses once while the server sends the same leaf):\n"
	    "                        the cheapest client handshake\n"
	    "      --name NAME       DNS name to verify, to send as server_name and in Host\n"
	    "      --no-sni          do not send the server_name field\n"
	    "  -H, --header LINE     add a request header (\"Name: value\"), repeatable\n"
	    "      --expect-status N status every response must have (default 200)\n"
	    "      --expect-length N body length every response must have (default: the\n"
	    "                        first response's)\n"
	    "      --timeout SEC     per connect, handshake and response (default 10)\n"
	    "      --json            print the results as one JSON object\n"
	    "  -h, --help            this text\n"
	    "  -v, --version         print the version\n"
	    "\n"
	    "Latency is per response: from sending the request (with --rate, from when it was\n"
	    "to be sent), or from connect with --new-connection. MB are 10^6 bytes of response\n"
	    "bodies. Bench CPU is the user and system time of this process during the run.\n"
	    "\n"
	    "Exit status: 0 when the run had no error, 1 when it had any (or could not\n"
	    "start), 2 on bad usage.\n");
}

static int
parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
parse_seconds(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end != '\0' || !(v > 0 && v <= 86400))
		return -1;
	*out = v;
	return 0;
}

static int
parse_rate(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end != '\0' || !(v > 0 && v <= MAX_RATE))
		return -1;
	*out = v;
	return 0;
}

static int
usage_error(const char *what)
{
	fprintf(stderr, "keyward-bench: %s\nTry 'keyward-bench --help'.\n", what);
	return EXIT_USAGE;
}

static int
check_options(struct options *o)
{
	if (o->hold > 0 && (o->new_connection || o->requests > 0 || o->duration > 0))
		return usage_error("--hold takes neither --new-connection, -n nor -d");
	if (o->rate > 0 && (o->new_connection || o->hold > 0))
		return usage_error("--rate takes neither --new-connection nor --hold");
	if (o->duration == 0 && o->requests == 0 && o->hold == 0)
		o->duration = 10;
	if (o->threads > o->connections)
		o->threads = o->connections;
	return 0;
}

static int
parse_options(int argc, char **argv, struct options *o)
{
	enum {
		OPT_NEW = 256,
		OPT_RESUME,
		OPT_HOLD,
		OPT_RATE,
		OPT_ROOT,
		OPT_INSECURE,
		OPT_NAME,
		OPT_NO_SNI,
		OPT_STATUS,
		OPT_LENGTH,
		OPT_TIMEOUT,
		OPT_JSON,
	};
	static const struct option longopts[] = {
	    {"connections", required_argument, NULL, 'c'},
	    {"duration", required_argument, NULL, 'd'},
	    {"requests", required_argument, NULL, 'n'},
	    {"threads", required_argument, NULL, 't'},
	    {"new-connection", no_argument, NULL, OPT_NEW},
	    {"resume", no_argument, NULL, OPT_RESUME},
	    {"hold", required_argument, NULL, OPT_HOLD},
	    {"rate", required_argument, NULL, OPT_RATE},
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"insecure", no_argument, NULL, OPT_INSECURE},
	    {"name", required_argument, NULL, OPT_NAME},
	    {"no-sni", no_argument, NULL, OPT_NO_SNI},
	    {"header", required_argument, NULL, 'H'},
	    {"expect-status", required_argument, NULL, OPT_STATUS},
	    {"expect-length", required_argument, NULL, OPT_LENGTH},
	    {"timeout", required_argument, NULL, OPT_TIMEOUT},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'v'},
	    {NULL, 0, NULL, 0},
	};
	int c;
	long v;
	while ((c = getopt_long(argc, argv, "c:d:n:t:H:hv", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (parse_long(optarg, 1, MAX_CONNECTIONS, &o->connections) < 0)
				return usage_error(
				    "-c takes a number of connections from 1 to 1000000");
			break;
		case 'd':
			if (parse_seconds(optarg, &o->duration) < 0)
				return usage_error(
				    "-d takes seconds, more than 0 and at most 86400");
			break;
		case 'n':
			if (parse_long(optarg, 1, __LONG_MAX__, &v) < 0)
				return usage_error("-n takes a positive number of requests");
			o->requests = (unsigned long long)v;
			break;
		case 't':
			if (parse_long(optarg, 1, MAX_THREADS, &o->threads) < 0)
				return usage_error("-t takes a number of threads from 1 to 256");
			break;
		case OPT_NEW:
			o->new_connection = true;
			break;
		case OPT_RESUME:
			o->resume = true;
			break;
		case OPT_HOLD:
			if (parse_seconds(optarg, &o->hold) < 0)
				return usage_error(
				    "--hold takes seconds, more than 0 and at most 86400");
			break;
		case OPT_RATE:
			if (parse_rate(optarg, &o->rate) < 0)
				return usage_error(
				    "--rate takes requests per second, more than 0 and "
				    "at most 10000000");
			break;
		case OPT_ROOT:
			o->root = optarg;
			break;
		case OPT_INSECURE:
			o->insecure = true;
			break;
		case OPT_NAME:
			o->name = optarg;
			break;
		case OPT_NO_SNI:
			o->no_sni = true;
			break;
		case 'H':
			if (o->n_headers == MAX_HEADERS)
				return usage_error("too many -H options");
			if (strpbrk(optarg, "\r\n") != NULL || strchr(optarg, ':') == NULL)
				return usage_error("-H takes one \"Name: value\" line");
			o->headers[o->n_headers++] = optarg;
			break;
		case OPT_STATUS:
			if (parse_long(optarg, 100, 999, &v) < 0)
				return usage_error(
				    "--expect-status takes a status from 100 to 999");
			o->expect_status = (int)v;
			break;
		case OPT_LENGTH:
			if (parse_long(optarg, 0, __LONG_MAX__, &v) < 0)
				return usage_error("--expect-length takes a number of bytes");
			o->expect_length = v;
			break;
		case OPT_TIMEOUT:
			if (parse_seconds(optarg, &o->timeout) < 0)
				return usage_error(
				    "--timeout takes seconds, more than 0 and at most 86400");
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'v':
			printf("keyward-bench %s\n", KW_VERSION);
			exit(0);
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	o->url = argv[optind];
	return check_options(o);
}

static int
resolve(const struct kw_url *u, struct bench_target *t)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
	int rc = getaddrinfo(u->host, u->port, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "keyward-bench: cannot resolve %s: %s\n", u->host,
		        gai_strerror(rc));
		return -1;
	}
	memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
	t->addr_len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* Appends formatted text at out[*len]; false when it does not fit in cap. */
static bool __attribute__((format(printf, 4, 5)))
append(char *out, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *len)
		return false;
	*len += (size_t)n;
	return true;
}

/* Builds the request every connection sends; returns its length or -1. */
static int
build_request(const struct kw_url *u, const struct options *o, char *out, size_t cap)
{
	const char *host = o->name ? o->name : u->host;
	bool v6 = strchr(host, ':') != NULL, has_host = false;
	for (size_t i = 0; i < o->n_headers; i++)
		has_host |= strncasecmp(o->headers[i], "Host:", 5) == 0;
	size_t len = 0;
	bool ok = strpbrk(u->path, " \r\n") == NULL &&
	          append(out, cap, &len, "GET %s HTTP/1.1\r\nUser-Agent: keyward-bench/%s\r\n%s",
	                 u->path, KW_VERSION, o->new_connection ? "Connection: close\r\n" : "");
	if (ok && !has_host)
		ok = append(out, cap, &len, "Host: %s%s%s:%s\r\n", v6 ? "[" : "", host,
		            v6 ? "]" : "", u->port);
	for (size_t i = 0; ok && i < o->n_headers; i++)
		ok = append(out, cap, &len, "%s\r\n", o->headers[i]);
	if (!ok || !append(out, cap, &len, "\r\n")) {
		fprintf(stderr, "keyward-bench: request too long, or URL path not encoded\n");
		return -1;
	}
	return (int)len;
}

/*
 * Raises RLIMIT_NOFILE to a descriptor per connection and 64 more: the soft limit
 * within the hard one, and the hard one too when the process may (CAP_SYS_RESOURCE).
 * Warns when that does not fit; connections past the limit then fail to connect.
 */
static void
raise_fd_limit(long connections)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)connections + 64;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	if (rl.rlim_max < want) {
		struct rlimit both = {.rlim_cur = want, .rlim_max = want};
		if (setrlimit(RLIMIT_NOFILE, &both) == 0)
			return;
	}
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < want)
		fprintf(stderr,
		        "keyward-bench: RLIMIT_NOFILE is %llu, %llu wanted for %ld connections "
		        "(raise the hard limit: ulimit -Hn)\n",
		        (unsigned long long)rl.rlim_cur, (unsigned long long)want, connections);
}

static double
cpu_seconds(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

static void *
worker_thread(void *arg)
{
	bench_worker_run(arg);
	return NULL;
}

/*
 * Paced: every connection is up; the requests start a moment from now (so that every
 * thread is awake for its first ones) and the duration runs from then.
 */
static void
start_pacing(struct bench_run *run, const struct options *o)
{
	uint64_t start = bench_now_us() + START_LEAD_US;
	atomic_store(&run->end_us,
	             o->duration > 0 ? start + (uint64_t)llround(o->duration * 1e6) : UINT64_MAX);
	atomic_store(&run->start_us, start);
}

/*
 * Waits for the workers while handling SIGINT/SIGTERM and announcing a complete
 * hold (or, paced, starting the requests once every connection is up, which must
 * happen within the timeout); returns whether every connection was established at
 * once during a hold or before paced requests.
 */
static bool
supervise(struct bench_run *run, const struct options *o, size_t n_workers, const sigset_t *signals)
{
	const struct timespec tick = {.tv_nsec = 20 * 1000 * 1000};
	const size_t n_conns = (size_t)o->connections;
	const bool waits = run->target->hold || o->rate > 0;
	const uint64_t ramp_end = bench_now_us() + run->target->timeout_us;
	bool announced = false;
	while (atomic_load(&run->finished) < n_workers) {
		if (sigtimedwait(signals, NULL, &tick) > 0)
			atomic_store(&run->stop, true);
		if (!waits || announced)
			continue;
		if (atomic_load(&run->established) == n_conns) {
			fprintf(stderr, "keyward-bench: holding %zu connections\n", n_conns);
			if (o->rate > 0)
				start_pacing(run, o);
			announced = true;
		} else if (o->rate > 0 && bench_now_us() > ramp_end) {
			atomic_store(&run->stop, true);
		}
	}
	return announced;
}

/* Runs the workers and merges their stats into total; returns 0 or -1. */
static int
run_workers(struct bench_run *run, const struct options *o, struct bench_stats *total,
            struct cost *cost)
{
	size_t n = (size_t)o->threads;
	struct bench_worker *workers = calloc(n, sizeof(*workers));
	pthread_t *tids = calloc(n, sizeof(*tids));
	int ret = -1;
	size_t started = 0;
	sigset_t signals;
	sigemptyset(&signals);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);
	if (workers == NULL || tids == NULL)
		goto out;
	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	uint64_t t0 = bench_now_us();
	double limit = o->rate > 0 ? 0 : o->duration > 0 ? o->duration : o->hold;
	atomic_init(&run->end_us, limit > 0 ? t0 + (uint64_t)llround(limit * 1e6) : UINT64_MAX);
	atomic_init(&run->start_us, 0);
	for (; started < n; started++) {
		workers[started].run = run;
		workers[started].n_conns = (size_t)(o->connections / o->threads) +
		                           (started < (size_t)(o->connections % o->threads));
		if (pthread_create(&tids[started], NULL, worker_thread, &workers[started]) != 0) {
			fprintf(stderr, "keyward-bench: cannot start a thread\n");
			atomic_store(&run->stop, true);
			atomic_fetch_add(&run->finished, n - started);
			break;
		}
	}
	cost->held = supervise(run, o, n, &signals);
	for (size_t i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	uint64_t from = atomic_load(&run->start_us), end = bench_now_us();
	if (from == 0 || from > end) /* paced: the requests' time only, to the planned end */
		from = t0;
	else if (end > atomic_load(&run->end_us))
		end = atomic_load(&run->end_us);
	cost->elapsed = (double)(end - from) / 1e6;
	getrusage(RUSAGE_SELF, &ru1);
	cost->user = cpu_seconds(&ru1.ru_utime) - cpu_seconds(&ru0.ru_utime);
	cost->sys = cpu_seconds(&ru1.ru_stime) - cpu_seconds(&ru0.ru_stime);
	ret = started == n ? 0 : -1;
	for (size_t i = 0; i < started; i++) {
		const struct bench_stats *s = &workers[i].stats;
		if (workers[i].result < 0) {
			fprintf(stderr, "keyward-bench: a thread could not start its loop\n");
			ret = -1;
		}
		total->responses += s->responses;
		total->body_bytes += s->body_bytes;
		total->connections += s->connections;
		total->handshakes += s->handshakes;
		total->resumed += s->resumed;
		for (int k = 0; k < BENCH_ERR_KINDS; k++) {
			total->errors[k] += s->errors[k];
			if (total->first_error[k][0] == '\0')
				memcpy(total->first_error[k], s->first_error[k],
				       sizeof(s->first_error[k]));
		}
		bench_hist_merge(&total->latency, &s->latency);
	}
out:
	free(tids);
	free(workers);
	return ret;
}

static double
per(double x, uint64_t n)
{
	return n > 0 ? x / (double)n : 0;
}

static uint64_t
error_total(const struct bench_stats *s)
{
	uint64_t n = 0;
	for (int k = 0; k < BENCH_ERR_KINDS; k++)
		n += s->errors[k];
	return n;
}

static const char *
mode_name(const struct options *o)
{
	return o->hold > 0 ? "hold" : o->new_connection ? "new-connection" : "keep-alive";
}

static void
print_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void
report_json(const struct options *o, const struct bench_stats *s, const struct cost *c)
{
	const struct bench_hist *h = &s->latency;
	double cpu = c->user + c->sys;
	printf("{\"url\":");
	print_json_string(o->url);
	printf(",\"mode\":\"%s\",\"threads\":%ld,\"connections\":%ld,\"elapsed_s\":%.6f,"
	       "\"responses\":%llu,\"requests_per_s\":%.2f,\"body_bytes\":%llu,\"mb_per_s\":%.3f,"
	       "\"connects\":%llu,\"connects_per_s\":%.2f,\"handshakes\":%llu,"
	       "\"handshakes_per_s\":%.2f,\"resumed\":%llu,",
	       mode_name(o), o->threads, o->connections, c->elapsed,
	       (unsigned long long)s->responses, (double)s->responses / c->elapsed,
	       (unsigned long long)s->body_bytes, (double)s->body_bytes / 1e6 / c->elapsed,
	       (unsigned long long)s->connections, (double)s->connections / c->elapsed,
	       (unsigned long long)s->handshakes, (double)s->handshakes / c->elapsed,
	       (unsigned long long)s->resumed);
	printf("\"rate_per_s\":%.2f,", o->rate);
	printf("\"latency_us\":{\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"p999\":%llu,"
	       "\"max\":%llu,\"mean\":%.1f},",
	       (unsigned long long)bench_hist_percentile(h, 50),
	       (unsigned long long)bench_hist_percentile(h, 90),
	       (unsigned long long)bench_hist_percentile(h, 99),
	       (unsigned long long)bench_hist_percentile(h, 99.9), (unsigned long long)h->max,
	       per((double)h->sum, h->total));
	printf("\"errors\":{\"total\":%llu", (unsigned long long)error_total(s));
	for (int k = 0; k < BENCH_ERR_KINDS; k++)
		printf(",\"%s\":%llu", bench_err_name(k), (unsigned long long)s->errors[k]);
	printf("},\"first_errors\":{");
	const char *sep = "";
	for (int k = 0; k < BENCH_ERR_KINDS; k++) {
		if (s->first_error[k][0] == '\0')
			continue;
		printf("%s\"%s\":", sep, bench_err_name(k));
		print_json_string(s->first_error[k]);
		sep = ",";
	}
	printf("},\"cpu\":{\"user_s\":%.6f,\"sys_s\":%.6f,\"us_per_response\":%.2f,"
	       "\"us_per_handshake\":%.2f}}\n",
	       c->user, c->sys, per(cpu * 1e6, s->responses), per(cpu * 1e6, s->handshakes));
}

static void
report_text(const struct options *o, const struct bench_stats *s, const struct cost *c)
{
	const struct bench_hist *h = &s->latency;
	double cpu = c->user + c->sys;
	printf("keyward-bench %s: %s\n", KW_VERSION, o->url);
	printf("  %ld thread%s, %ld connection%s, %s, %.2f s\n", o->threads,
	       o->threads == 1 ? "" : "s", o->connections, o->connections == 1 ? "" : "s",
	       mode_name(o), c->elapsed);
	if (o->rate > 0)
		printf("  paced        %.1f requests/s asked, latency from each request's turn\n",
		       o->rate);
	printf("  responses    %12llu  %12.1f /s\n", (unsigned long long)s->responses,
	       (double)s->responses / c->elapsed);
	printf("  body         %12.3f MB %9.3f MB/s\n", (double)s->body_bytes / 1e6,
	       (double)s->body_bytes / 1e6 / c->elapsed);
	printf("  connects     %12llu  %12.1f /s\n", (unsigned long long)s->connections,
	       (double)s->connections / c->elapsed);
	printf("  handshakes   %12llu  %12.1f /s", (unsigned long long)s->handshakes,
	       (double)s->handshakes / c->elapsed);
	if (o->resume)
		printf(", %llu resumed", (unsigned long long)s->resumed);
	printf("\n");
	printf("  latency      p50 %llu us, p90 %llu us, p99 %llu us, p99.9 %llu us, max %llu us, "
	       "mean %.1f us\n",
	       (unsigned long long)bench_hist_percentile(h, 50),
	       (unsigned long long)bench_hist_percentile(h, 90),
	       (unsigned long long)bench_hist_percentile(h, 99),
	       (unsigned long long)bench_hist_percentile(h, 99.9), (unsigned long long)h->max,
	       per((double)h->sum, h->total));
	printf("  errors       %llu (", (unsigned long long)error_total(s));
	for (int k = 0; k < BENCH_ERR_KINDS; k++)
		printf("%s%s %llu", k ? ", " : "", bench_err_name(k),
		       (unsigned long long)s->errors[k]);
	printf(")\n");
	for (int k = 0; k < BENCH_ERR_KINDS; k++)
		if (s->first_error[k][0] != '\0')
			printf("    first %s error: %s\n", bench_err_name(k), s->first_error[k]);
	printf("  bench cpu    user %.3f s, sys %.3f s, %.1f us/response", c->user, c->sys,
	       per(cpu * 1e6, s->responses));
	if (s->handshakes > 0 && (o->new_connection || o->hold > 0))
		printf(", %.1f us/handshake", per(cpu * 1e6, s->handshakes));
	printf("\n");
}

int
main(int argc, char **argv)
{
	struct options o = {
	    .connections = 10,
	    .threads = 1,
	    .timeout = 10,
	    .expect_status = 200,
	    .expect_length = -1,
	};
	int rc = parse_options(argc, argv, &o);
	if (rc != 0)
		return rc;
	struct kw_url u;
	if (kw_url_parse(o.url, &u) < 0)
		return usage_error(
		    "bad URL: use http://HOST[:PORT]/PATH, https://HOST[:PORT]/PATH or "
		    "toytls://HOST[:PORT]/PATH");
	if ((u.toytls || u.https) && o.root == NULL && !o.insecure)
		return usage_error("https:// and toytls:// need --root FILE or --insecure");
	if (o.resume && !u.https)
		return usage_error("--resume is for https://");

	static struct bench_stats total;
	struct tt_trust trust = {0};
	char request[8192];
	struct bench_target t = {
	    .toytls = u.toytls,
	    .new_connection = o.new_connection,
	    .resume = o.resume,
	    .hold = o.hold > 0,
	    .rate = o.rate,
	    .n_total = (size_t)o.connections,
	    .request = (const uint8_t *)request,
	    .expect_status = o.expect_status,
	    .timeout_us = (uint64_t)llround(o.timeout * 1e6),
	    .tls =
	        {
	            .dns_name = o.name ? o.name : u.host,
	            .send_server_name = !o.no_sni,
	            .insecure = o.insecure,
	        },
	};
	struct bench_run run = {.target = &t, .max_requests = o.requests};
	atomic_init(&run.expect_length, o.expect_length);
	struct cost cost;
	rc = EXIT_ERRORS;
	int len = build_request(&u, &o, request, sizeof(request));
	if (len < 0 || resolve(&u, &t) < 0)
		goto out;
	t.request_len = (size_t)len;
	if (u.toytls && !o.insecure) {
		if (tt_trust_load_file(&trust, o.root) < 0) {
			fprintf(stderr, "keyward-bench: cannot load trusted roots from %s\n",
			        o.root);
			goto out;
		}
		t.tls.trust = &trust;
	}
	if (u.https) {
		char err[256];
		t.tls13 = tls13_client_ctx(o.root, o.insecure, err, sizeof(err));
		if (t.tls13 == NULL) {
			fprintf(stderr, "keyward-bench: %s\n", err);
			goto out;
		}
	}
	raise_fd_limit(o.connections);
	if (run_workers(&run, &o, &total, &cost) < 0)
		goto out;
	if (o.json)
		report_json(&o, &total, &cost);
	else
		report_text(&o, &total, &cost);
	rc = error_total(&total) > 0 ? EXIT_ERRORS : 0;
	if (o.hold > 0 || o.rate > 0 ? !cost.held : total.responses == 0) {
		fprintf(stderr, "keyward-bench: %s\n",
		        o.hold > 0   ? "the connections were never all established at once"
		        : o.rate > 0 ? "the connections were not all established within the timeout"
		                     : "no response completed");
		rc = EXIT_ERRORS;
	} else if (o.rate > 0 && total.responses == 0) {
		fprintf(stderr, "keyward-bench: no response completed\n");
		rc = EXIT_ERRORS;
	}
out:
	if (t.tls.trust != NULL)
		tt_trust_dispose(&trust);
	SSL_CTX_free(t.tls13);
	return rc;
}

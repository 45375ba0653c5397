/*
 * test_config.c - the configuration loader: values, defaults, path resolution, units, listener
 * and key deduplication, and every refusal with its file and line.
 *
 * Each test gets a fresh directory: DIR/etc holds the configuration (keyward.conf) and a
 * certs/ directory linking to the test certificates; DIR/www is a document root.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "err.h"
#include "kw_build_config.h"

#define CERTS TEST_DATA_DIR "/certs"

static char base[PATH_MAX];
static char etc[PATH_MAX];
static char conf[PATH_MAX];
static char err[1024];

static void
in_dir(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);

	cr_assert(n > 0 && n < PATH_MAX);
}

static void
write_file(const char *name, const char *text, size_t len)
{
	char path[PATH_MAX];
	FILE *f;

	in_dir(path, etc, name);
	f = fopen(path, "w");
	cr_assert_not_null(f, "cannot create %s", path);
	cr_assert_eq(fwrite(text, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

static void
link_cert(const char *target, const char *name)
{
	char path[PATH_MAX];

	in_dir(path, etc, name);
	cr_assert_eq(symlink(target, path), 0, "symlink %s", path);
}

static void
setup(void)
{
	char path[PATH_MAX];

	snprintf(base, sizeof base, "/tmp/kw-config-XXXXXX");
	cr_assert_not_null(mkdtemp(base));
	in_dir(etc, base, "etc");
	in_dir(conf, etc, "keyward.conf");
	in_dir(path, base, "www");
	cr_assert_eq(mkdir(etc, 0700), 0);
	cr_assert_eq(mkdir(path, 0700), 0);
	in_dir(path, etc, "certs");
	cr_assert_eq(mkdir(path, 0700), 0);
	link_cert(CERTS "/server_cert.pem", "certs/server_cert.pem");
	link_cert(CERTS "/server_key.pem", "certs/server_key.pem");
	link_cert(CERTS "/intermediate_cert.pem", "certs/chain.pem");
	link_cert(CERTS "/root_cert.pem", "certs/root.pem");
	write_file("not_pem.pem", "this is not a certificate\n", 26);
	write_file("plain_file", "x", 1);
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
teardown(void)
{
	nftw(base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(config, .init = setup, .fini = teardown);

/* Writes text as DIR/etc/keyward.conf and loads it from the file. */
static int
load(const char *text, struct kw_config **cfg)
{
	write_file("keyward.conf", text, strlen(text));
	return kw_config_load_file(conf, cfg, err, sizeof err);
}

static struct kw_config *
load_ok(const char *text)
{
	struct kw_config *cfg = NULL;
	int ret = load(text, &cfg);

	cr_assert_eq(ret, 0, "load failed (%d): %s", ret, err);
	cr_assert_not_null(cfg);
	return cfg;
}

/* Expects the load to fail with "CONF:LINE: " followed by a message containing words. */
static void
expect_error(const char *text, int line, const char *words)
{
	struct kw_config *cfg = (struct kw_config *)1;
	char prefix[PATH_MAX + 32];
	int ret = load(text, &cfg);

	cr_assert_eq(ret, KW_ERR_ARGUMENT, "expected a refusal, got %d (%s)", ret, err);
	cr_assert_null(cfg);
	snprintf(prefix, sizeof prefix, "%s:%d: ", conf, line);
	cr_assert_eq(strncmp(err, prefix, strlen(prefix)), 0, "expected \"%s...\", got \"%s\"",
	             prefix, err);
	cr_assert_not_null(strstr(err, words), "expected \"%s\" in \"%s\"", words, err);
}

#define LISTEN(port)     "{ address = \"127.0.0.1\"; port = " #port "; }"
#define LISTEN_TLS(port) "{ address = \"127.0.0.1\"; port = " #port "; tls = \"toy\"; }"
#define LOCATION         "locations = ( { prefix = \"/\"; root = \"../www\"; } );"
#define CERT_AND_KEY                                                                               \
	"certificate = \"certs/server_cert.pem\"; certificate_key = \"certs/server_key.pem\";"

/* A valid one-server configuration on four lines. */
#define MINIMAL                                                                                    \
	"servers = (\n"                                                                            \
	"  { listen = ( " LISTEN(8080) " );\n"                                                     \
	                               "    " LOCATION " }\n"                                      \
	                               ");\n"

static void
expect_path(const char *got, const char *dir, const char *name)
{
	char want[PATH_MAX];

	in_dir(want, dir, name);
	cr_assert_not_null(got);
	cr_assert_str_eq(got, want);
}

/* Location roots are canonical: compares with realpath(dir/name). */
static void
expect_real_path(const char *got, const char *dir, const char *name)
{
	char path[PATH_MAX];
	char *real;

	in_dir(path, dir, name);
	real = realpath(path, NULL);
	cr_assert_not_null(real);
	cr_assert_not_null(got);
	cr_assert_str_eq(got, real);
	free(real);
}

static unsigned
expected_auto(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
}

Test(config, shipped_sample_loads)
{
	char sample[PATH_MAX];
	char text[16384];
	FILE *f;
	size_t n;
	struct kw_config *cfg;

	snprintf(sample, sizeof sample, "%s/../../etc/keyward.conf", TEST_DATA_DIR);
	f = fopen(sample, "r");
	cr_assert_not_null(f);
	n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	cfg = load_ok(text);

	cr_expect_eq(cfg->workers, 2);
	cr_expect_str_eq(cfg->user, "keyward");
	cr_expect_str_eq(cfg->error_log, "stderr");
	cr_expect_null(cfg->access_log);
	cr_assert_eq(cfg->n_servers, 1);
	/* Installed as it is, it serves plain HTTP on port 80 and needs no certificate. */
	cr_assert_eq(cfg->n_listeners, 1);
	cr_expect_str_eq(cfg->listeners[0].address, "*");
	cr_expect_eq(cfg->listeners[0].port, 80);
	cr_expect_not(cfg->listeners[0].tls);
	cr_assert_eq(cfg->servers[0].n_names, 1);
	cr_expect_str_eq(cfg->servers[0].names[0], "localhost");
	cr_expect_not(cfg->servers[0].has_tls);
	cr_expect_null(cfg->servers[0].certificate);
	cr_expect_null(cfg->servers[0].certificate_key);
	cr_assert_eq(cfg->servers[0].n_chain, 0);
	cr_assert_eq(cfg->servers[0].n_locations, 1);
	expect_real_path(cfg->servers[0].locations[0].root, base, "www");
	cr_assert_eq(cfg->n_keys, 0);
	kw_config_free(cfg);
}

Test(config, every_value)
{
	struct kw_config *cfg = load_ok(
	    "workers = 3;\n"
	    "user = \"www\";\n"
	    "error_log = \"logs/error.log\";\n"
	    "access_log = \"/var/log/keyward/access.log\";\n"
	    "log_level = \"debug\";\n"
	    "pid_file = \"run/kw.pid\";\n"
	    "shutdown_timeout = \"30s\";\n"
	    "mime_types = \"mime.types\";\n"
	    "default_type = \"text/plain\";\n"
	    "signer = { user = \"sig\"; threads = 4; timeout = 1500; max_inflight = 8;\n"
	    "           rate_limit = 100; };\n"
	    "http = { max_connections = 10; handshake_timeout = \"5s\";\n"
	    "  client_header_timeout = \"6s\"; client_body_timeout = \"7s\"; send_timeout = "
	    "\"8s\";\n"
	    "  keepalive_timeout = 0; keepalive_requests = 5; max_request_line = \"4k\";\n"
	    "  max_header_size = 1000; max_header_count = 20; max_body_size = \"2g\"; };\n"
	    "servers = ( {\n"
	    "  server_name = [ \"example.com\", \"*.example.com\" ];\n"
	    "  default = true;\n"
	    "  listen = ( " LISTEN_TLS(
	        9443) " );\n"
	              "  " CERT_AND_KEY "\n"
	              "  certificate_chain = [ \"certs/chain.pem\", \"certs/root.pem\" ];\n"
	              "  locations = ( { prefix = \"/\"; root = \"../www\"; index = [ \"a.html\", "
	              "\"b.htm\" ];\n"
	              "                  follow_symlinks = false; precompressed = true; },\n"
	              "                { prefix = \"/static/\"; root = \"certs\"; index = []; } "
	              ");\n"
	              "} );\n");
	struct kw_server *srv = &cfg->servers[0];

	cr_expect_eq(cfg->workers, 3);
	cr_expect_str_eq(cfg->user, "www");
	expect_path(cfg->error_log, etc, "logs/error.log");
	cr_expect_str_eq(cfg->access_log, "/var/log/keyward/access.log");
	cr_expect_str_eq(cfg->log_level, "debug");
	expect_path(cfg->pid_file, etc, "run/kw.pid");
	cr_expect_eq(cfg->shutdown_timeout_ms, 30000);
	expect_path(cfg->mime_types, etc, "mime.types");
	cr_expect_str_eq(cfg->default_type, "text/plain");

	cr_expect_str_eq(cfg->signer.user, "sig");
	cr_expect_eq(cfg->signer.threads, 4);
	cr_expect_eq(cfg->signer.timeout_ms, 1500);
	cr_expect_eq(cfg->signer.max_inflight, 8);
	cr_expect_eq(cfg->signer.rate_limit, 100);

	cr_expect_eq(cfg->http.max_connections, 10);
	cr_expect_eq(cfg->http.handshake_timeout_ms, 5000);
	cr_expect_eq(cfg->http.client_header_timeout_ms, 6000);
	cr_expect_eq(cfg->http.client_body_timeout_ms, 7000);
	cr_expect_eq(cfg->http.send_timeout_ms, 8000);
	cr_expect_eq(cfg->http.keepalive_timeout_ms, 0);
	cr_expect_eq(cfg->http.keepalive_requests, 5);
	cr_expect_eq(cfg->http.max_request_line, 4096);
	cr_expect_eq(cfg->http.max_header_size, 1000);
	cr_expect_eq(cfg->http.max_header_count, 20);
	cr_expect_eq(cfg->http.max_body_size, (uint64_t)2 << 30);

	cr_assert_eq(cfg->n_servers, 1);
	cr_assert_eq(srv->n_names, 2);
	cr_expect_str_eq(srv->names[0], "example.com");
	cr_expect_str_eq(srv->names[1], "*.example.com");
	cr_expect(srv->is_default);
	cr_expect(srv->has_tls);
	cr_expect_eq(srv->line, 16);
	cr_assert_eq(srv->n_listeners, 1);
	cr_expect_eq(srv->listeners[0], 0);
	cr_assert_eq(srv->n_chain, 2);
	expect_path(srv->chain[0], etc, "certs/chain.pem");
	expect_path(srv->chain[1], etc, "certs/root.pem");
	cr_expect_eq(srv->key_id, 0);
	cr_assert_eq(srv->n_locations, 2);
	cr_expect_str_eq(srv->locations[0].prefix, "/");
	cr_expect_eq(srv->locations[0].line, 22);
	cr_assert_eq(srv->locations[0].n_index, 2);
	cr_expect_str_eq(srv->locations[0].index[0], "a.html");
	cr_expect_str_eq(srv->locations[0].index[1], "b.htm");
	cr_expect_not(srv->locations[0].follow_symlinks);
	cr_expect(srv->locations[0].precompressed);
	cr_expect_not(srv->locations[1].precompressed);
	cr_expect_str_eq(srv->locations[1].prefix, "/static/");
	expect_real_path(srv->locations[1].root, etc, "certs");
	cr_expect_eq(srv->locations[1].n_index, 0);
	cr_expect_null(srv->locations[1].index);
	cr_expect(srv->locations[1].follow_symlinks);

	cr_assert_eq(cfg->n_listeners, 1);
	cr_expect_eq(cfg->listeners[0].port, 9443);
	cr_expect(cfg->listeners[0].tls);
	cr_expect_eq(cfg->listeners[0].line, 19);
	cr_expect_eq(cfg->listeners[0].default_server, 0);
	cr_assert_eq(cfg->n_keys, 1);
	expect_path(cfg->keys[0].path, etc, "certs/server_key.pem");
	expect_path(cfg->keys[0].certificate, etc, "certs/server_cert.pem");
	kw_config_free(cfg);
}

Test(config, defaults)
{
	struct kw_config *cfg = load_ok(MINIMAL);
	struct kw_server *srv = &cfg->servers[0];
	char pid[PATH_MAX];

	expect_path(cfg->path, etc, "keyward.conf");
	cr_expect_str_eq(cfg->dir, etc);
	cr_expect_eq(cfg->workers, 2);
	cr_expect_str_eq(cfg->user, "keyward");
	cr_expect_str_eq(cfg->error_log, "stderr");
	cr_expect_null(cfg->access_log);
	cr_expect_str_eq(cfg->log_level, "notice");
	in_dir(pid, geteuid() == 0 ? KW_RUNSTATEDIR : etc, "keyward.pid");
	cr_expect_str_eq(cfg->pid_file, pid);
	cr_expect_eq(cfg->shutdown_timeout_ms, 10000);
	cr_expect_null(cfg->mime_types);
	cr_expect_str_eq(cfg->default_type, "application/octet-stream");

	cr_expect_str_eq(cfg->signer.user, "keyward-signer");
	cr_expect_eq(cfg->signer.threads, 2);
	cr_expect_eq(cfg->signer.timeout_ms, 2000);
	cr_expect_eq(cfg->signer.max_inflight, 64);
	cr_expect_eq(cfg->signer.rate_limit, 10000);

	cr_expect_eq(cfg->http.max_connections, 1024);
	cr_expect_eq(cfg->http.handshake_timeout_ms, 10000);
	cr_expect_eq(cfg->http.client_header_timeout_ms, 60000);
	cr_expect_eq(cfg->http.client_body_timeout_ms, 60000);
	cr_expect_eq(cfg->http.send_timeout_ms, 60000);
	cr_expect_eq(cfg->http.keepalive_timeout_ms, 75000);
	cr_expect_eq(cfg->http.keepalive_requests, 1000);
	cr_expect_eq(cfg->http.max_request_line, 8192);
	cr_expect_eq(cfg->http.max_header_size, 32768);
	cr_expect_eq(cfg->http.max_header_count, 100);
	cr_expect_eq(cfg->http.max_body_size, 1 << 20);

	cr_expect_eq(srv->n_names, 0);
	cr_expect_not(srv->is_default);
	cr_expect_not(srv->has_tls);
	cr_expect_null(srv->certificate);
	cr_expect_null(srv->certificate_key);
	cr_expect_eq(srv->n_chain, 0);
	cr_assert_eq(srv->locations[0].n_index, 1);
	cr_expect_str_eq(srv->locations[0].index[0], "index.html");
	cr_expect(srv->locations[0].follow_symlinks);
	cr_expect_not(srv->locations[0].autoindex);
	cr_expect_str_eq(srv->locations[0].autoindex_format, "html");
	cr_expect_not(srv->locations[0].autoindex_hidden);
	cr_expect_eq(cfg->n_keys, 0);
	cr_expect_eq(cfg->listeners[0].default_server, 0);
	kw_config_free(cfg);
}

Test(config, relative_paths_resolve_against_the_config_dir)
{
	const char *text = "error_log = \"./logs//error.log\";\n"
	                   "pid_file = \"/run/./x//kw.pid\";\n" MINIMAL;
	char *cwd = getcwd(NULL, 0);
	struct kw_config *cfg;

	write_file("keyward.conf", text, strlen(text));
	cr_assert_eq(chdir(base), 0);
	cr_assert_eq(kw_config_load_file("./etc/./keyward.conf", &cfg, err, sizeof err), 0, "%s",
	             err);
	cr_assert_eq(chdir(cwd), 0);
	free(cwd);

	expect_path(cfg->path, etc, "keyward.conf");
	cr_expect_str_eq(cfg->dir, etc);
	expect_path(cfg->error_log, etc, "logs/error.log");
	cr_expect_str_eq(cfg->pid_file, "/run/x/kw.pid");
	expect_real_path(cfg->servers[0].locations[0].root, base, "www");
	kw_config_free(cfg);
}

Test(config, auto_counts)
{
	struct kw_config *cfg = load_ok("workers = \"auto\";\n"
	                                "signer = { threads = \"auto\"; };\n" MINIMAL);

	cr_expect_eq(cfg->workers, expected_auto());
	cr_expect_eq(cfg->signer.threads, expected_auto());
	kw_config_free(cfg);
}

struct unit_case {
	const char *value;
	uint64_t want;
};

Test(config, durations_with_units)
{
	static const struct unit_case cases[] = {
	    {"250", 250},        {"\"500ms\"", 500}, {"\"2s\"", 2000},      {"\"1m\"", 60000},
	    {"\"1h\"", 3600000}, {"\"0ms\"", 0},     {"\"24h\"", 86400000}, {"86400000", 86400000},
	};
	char text[512];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct kw_config *cfg;

		snprintf(text, sizeof text, "shutdown_timeout = %s;\n" MINIMAL, cases[i].value);
		cfg = load_ok(text);
		cr_expect_eq(cfg->shutdown_timeout_ms, cases[i].want, "%s", cases[i].value);
		kw_config_free(cfg);
	}
}

Test(config, sizes_with_units)
{
	static const struct unit_case cases[] = {
	    {"100", 100},
	    {"\"1024\"", 1024},
	    {"\"64k\"", 65536},
	    {"\"64K\"", 65536},
	    {"\"3m\"", 3 << 20},
	    {"\"5G\"", (uint64_t)5 << 30},
	    {"5000000000L", 5000000000},
	    {"0", 0},
	};
	char text[512];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct kw_config *cfg;

		snprintf(text, sizeof text, "http = { max_body_size = %s; };\n" MINIMAL,
		         cases[i].value);
		cfg = load_ok(text);
		cr_expect_eq(cfg->http.max_body_size, cases[i].want, "%s", cases[i].value);
		kw_config_free(cfg);
	}
}

struct error_case {
	const char *line1; /* prepended to MINIMAL as line 1 */
	const char *words;
};

Test(config, bad_numbers_durations_and_sizes)
{
	static const struct error_case cases[] = {
	    {"shutdown_timeout = \"10\";", "'shutdown_timeout' = \"10\": must be milliseconds"},
	    {"shutdown_timeout = \"10x\";", "must be milliseconds or a duration"},
	    {"shutdown_timeout = \"s\";", "must be milliseconds or a duration"},
	    {"shutdown_timeout = \"-1s\";", "must be milliseconds or a duration"},
	    {"shutdown_timeout = \"2d\";", "must be milliseconds or a duration"},
	    {"shutdown_timeout = \"99999999999999999999s\";", "must be milliseconds"},
	    {"shutdown_timeout = \"25h\";", "'shutdown_timeout' must be between 0 and 86400000 ms"},
	    {"shutdown_timeout = -1;", "'shutdown_timeout' must not be negative"},
	    {"shutdown_timeout = 1.5;", "'shutdown_timeout' must be milliseconds or a duration "
	                                "such as \"10s\" or \"500ms\", not a float"},
	    {"signer = { timeout = 0; };", "'timeout' must be between 1 and 86400000 ms"},
	    {"http = { max_body_size = \"1t\"; };", "'max_body_size' = \"1t\": must be bytes"},
	    {"http = { max_body_size = \"k\"; };", "must be bytes or a size"},
	    {"http = { max_request_line = \"2m\"; };",
	     "'max_request_line' must be between 64 and 1048576 bytes"},
	    {"http = { max_header_count = true; };", "must be an integer, not a boolean"},
	    {"http = { max_header_count = \"10\"; };", "must be an integer, not a string"},
	    {"workers = 0;", "'workers' must be between 1 and 64"},
	    {"workers = 65;", "'workers' must be between 1 and 64"},
	    {"workers = \"two\";", "'workers' = \"two\": must be an integer or \"auto\""},
	    {"workers = [ 2 ];", "'workers' must be an integer or \"auto\", not an array"},
	    {"signer = { threads = \"all\"; };", "'threads' = \"all\": must be an integer"},
	};
	char text[512];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(text, sizeof text, "%s\n" MINIMAL, cases[i].line1);
		expect_error(text, 1, cases[i].words);
	}
}

Test(config, bad_top_level_values)
{
	static const struct error_case cases[] = {
	    {"wrokers = 2;", "unknown key 'wrokers'"},
	    {"user = \"\";", "'user' must not be empty"},
	    {"user = \"a\\nb\";", "'user' contains a control character"},
	    {"user = 7;", "'user' must be a string, not an integer"},
	    {"log_level = \"verbose\";", "'log_level' = \"verbose\": must be one of error, warn"},
	    {"default_type = \"text\";", "'default_type' = \"text\": is not a MIME type"},
	    {"access_log = false;", "'access_log' must be a string, not a boolean"},
	    {"signer = 5;", "'signer' must be a group { ... }, not an integer"},
	    {"signer = { usr = \"x\"; };", "unknown key 'usr' in signer"},
	    {"http = { keepalive = 5; };", "unknown key 'keepalive' in http"},
	};
	char text[512];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(text, sizeof text, "%s\n" MINIMAL, cases[i].line1);
		expect_error(text, 1, cases[i].words);
	}
}

Test(config, syntax_error)
{
	expect_error("workers = 2;\nuser = ;\n" MINIMAL, 2, "syntax error");
}

Test(config, error_in_an_included_file_names_it)
{
	char inc[PATH_MAX];
	char prefix[PATH_MAX + 16];
	struct kw_config *cfg;

	write_file("extra.conf", "\n\nworkers = \"x\";\n", 16);
	cr_expect_eq(load("@include \"extra.conf\"\n" MINIMAL, &cfg), KW_ERR_ARGUMENT);
	in_dir(inc, etc, "extra.conf");
	snprintf(prefix, sizeof prefix, "%s:3: ", inc);
	cr_expect_eq(strncmp(err, prefix, strlen(prefix)), 0, "%s", err);

	write_file("extra.conf", "workers = 5;\n", 13);
	cfg = load_ok("@include \"extra.conf\"\n" MINIMAL);
	cr_expect_eq(cfg->workers, 5);
	kw_config_free(cfg);

	expect_error("@include \"missing.conf\"\n" MINIMAL, 1, "cannot open include file");
}

Test(config, missing_or_empty_servers)
{
	expect_error("workers = 2;\n", 1, "missing 'servers'");
	expect_error("workers = 2;\nservers = ();\n", 2, "'servers' must not be empty");
	expect_error("servers = { listen = (); };\n", 1,
	             "'servers' must be a list ( { ... }, ... ), not a group");
	expect_error("servers = (\n  5\n);\n", 2,
	             "each entry of 'servers' must be a group { ... }, not an integer");
}

Test(config, server_errors)
{
	expect_error("servers = (\n  { " LOCATION " }\n);\n", 2, "missing 'listen' in server");
	expect_error("servers = (\n  {\n    listen = ();\n " LOCATION " }\n);\n", 3,
	             "'listen' must not be empty");
	expect_error("servers = (\n  { listen = ( " LISTEN(80) " ); }\n);\n", 2,
	             "missing 'locations' in server");
	expect_error("servers = (\n  { listen = ( " LISTEN(80) " );\n  " LOCATION
	                                                       "\n  server_nam = \"a\"; }\n);\n",
	             4, "unknown key 'server_nam' in server");
	expect_error("servers = (\n  { listen = ( " LISTEN(80) " );\n  " LOCATION
	                                                       "\n  server_name = \"a b\"; }\n);\n",
	             4, "'server_name' = \"a b\": is not a host name");
	expect_error("servers = (\n  { listen = ( " LISTEN(
	                 80) " );\n  " LOCATION "\n  server_name = [ \"a\", \"*.\" ]; }\n);\n",
	             4, "'server_name' = \"*.\": is not a host name");
	expect_error("servers = (\n  { listen = ( " LISTEN(80) " );\n  " LOCATION
	                                                       "\n  server_name = 5; }\n);\n",
	             4, "'server_name' must be a string or an array of strings, not an integer");
	expect_error("servers = (\n  { listen = ( " LISTEN(80) " );\n  " LOCATION
	                                                       "\n  default = \"yes\"; }\n);\n",
	             4, "'default' must be true or false, not a string");
}

Test(config, listen_errors)
{
	static const struct error_case cases[] = {
	    {"{ address = \"localhost\"; port = 80; }",
	     "'address' = \"localhost\": not an IPv4 or IPv6 address"},
	    {"{ address = \"1.2.3.256\"; port = 80; }", "not an IPv4 or IPv6 address"},
	    {"{ address = \"[127.0.0.1]\"; port = 80; }", "not an IPv4 or IPv6 address"},
	    {"{ address = \"[::1\"; port = 80; }", "not an IPv4 or IPv6 address"},
	    {"{ address = \"::1\"; port = 0; }", "'port' must be between 1 and 65535"},
	    {"{ address = \"::1\"; port = 65536; }", "'port' must be between 1 and 65535"},
	    {"{ address = \"::1\"; port = \"80\"; }", "'port' must be an integer, not a string"},
	    {"{ address = \"::1\"; }", "missing 'port' in listen"},
	    {"{ port = 80; }", "missing 'address' in listen"},
	    {"{ address = \"::1\"; port = 80; tls = \"dtls\"; }",
	     "'tls' = \"dtls\": must be \"toy\""},
	    {"{ address = \"::1\"; port = 80; tls = true; }",
	     "'tls' must be a string, not a boolean"},
	    {"{ address = \"::1\"; port = 80; proto = \"x\"; }", "unknown key 'proto' in listen"},
	    {"{ address = \"::1\"; port = 80; proxy_protocol = \"v2\"; }",
	     "'proxy_protocol' must be true or false, not a string"},
	    {"8080", "each entry of 'listen' must be a group { ... }, not an integer"},
	};
	char text[512];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(text, sizeof text,
		         "servers = ( {\n  " LOCATION "\n  listen = (\n    %s\n  );\n} );\n",
		         cases[i].line1);
		expect_error(text, 4, cases[i].words);
	}
}

Test(config, listen_addresses)
{
	struct kw_config *cfg = load_ok(
	    "servers = ( { " LOCATION "\n"
	    "  listen = ( { address = \"*\"; port = 81; }, { address = \"::1\"; port = 82; },\n"
	    "             { address = \"[::]\"; port = 83; }, { address = \"10.1.2.3\"; port = 84; "
	    "},\n"
	    "             { address = \"[::1]\"; port = 85; } );\n"
	    "} );\n");
	const struct sockaddr_in *in4;
	const struct sockaddr_in6 *in6;

	cr_assert_eq(cfg->n_listeners, 5);
	in4 = (const struct sockaddr_in *)&cfg->listeners[0].addr;
	cr_expect_str_eq(cfg->listeners[0].address, "*");
	cr_expect_eq(in4->sin_family, AF_INET);
	cr_expect_eq(in4->sin_addr.s_addr, htonl(INADDR_ANY));
	cr_expect_eq(in4->sin_port, htons(81));
	cr_expect_eq(cfg->listeners[0].addr_len, sizeof *in4);

	in6 = (const struct sockaddr_in6 *)&cfg->listeners[1].addr;
	cr_expect_eq(in6->sin6_family, AF_INET6);
	cr_expect(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));
	cr_expect_eq(in6->sin6_port, htons(82));
	cr_expect_eq(cfg->listeners[1].addr_len, sizeof *in6);

	in6 = (const struct sockaddr_in6 *)&cfg->listeners[2].addr;
	cr_expect_str_eq(cfg->listeners[2].address, "[::]");
	cr_expect(IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr));

	in4 = (const struct sockaddr_in *)&cfg->listeners[3].addr;
	cr_expect_eq(in4->sin_addr.s_addr, htonl(0x0a010203));
	cr_expect_eq(in4->sin_port, htons(84));

	in6 = (const struct sockaddr_in6 *)&cfg->listeners[4].addr;
	cr_expect(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));
	cr_expect_eq(in6->sin6_port, htons(85));
	kw_config_free(cfg);
}

Test(config, shared_listeners_and_default_servers)
{
	struct kw_config *cfg =
	    load_ok("servers = (\n"
	            "  { server_name = \"a\"; " LOCATION "\n"
	            "    listen = ( " LISTEN(
	                80) ", { address = \"*\"; port = 81; } ); },\n"
	                    "  { server_name = \"b\"; " LOCATION " default = true;\n"
	                    "    listen = ( " LISTEN(80) ", " LISTEN(
	                        82) " ); },\n"
	                            "  { server_name = \"c\"; " LOCATION "\n"
	                            "    listen = ( { address = \"0.0.0.0\"; port = 81; }, " LISTEN(
	                                82) " ); }\n"
	                                    ");\n");

	cr_assert_eq(cfg->n_servers, 3);
	cr_assert_eq(cfg->n_listeners, 3);
	cr_expect_eq(cfg->listeners[0].port, 80);
	cr_expect_eq(cfg->listeners[0].default_server, 1);
	cr_expect_eq(cfg->listeners[0].line, 3);
	cr_expect_eq(cfg->listeners[1].port, 81);
	cr_expect_str_eq(cfg->listeners[1].address, "*");
	cr_expect_eq(cfg->listeners[1].default_server, 0);
	cr_expect_eq(cfg->listeners[2].port, 82);
	cr_expect_eq(cfg->listeners[2].default_server, 1);

	cr_assert_eq(cfg->servers[0].n_listeners, 2);
	cr_expect_eq(cfg->servers[0].listeners[0], 0);
	cr_expect_eq(cfg->servers[0].listeners[1], 1);
	cr_assert_eq(cfg->servers[1].n_listeners, 2);
	cr_expect_eq(cfg->servers[1].listeners[0], 0);
	cr_expect_eq(cfg->servers[1].listeners[1], 2);
	cr_assert_eq(cfg->servers[2].n_listeners, 2);
	cr_expect_eq(cfg->servers[2].listeners[0], 1);
	cr_expect_eq(cfg->servers[2].listeners[1], 2);
	kw_config_free(cfg);
}

Test(config, listener_conflicts)
{
	expect_error("servers = (\n"
	             "  { " LOCATION
	             " listen = ( " LISTEN(80) " ); },\n"
	                                       "  { " LOCATION " " CERT_AND_KEY "\n"
	                                       "    listen = ( " LISTEN_TLS(80) " ); }\n"
	                                                                        ");\n",
	             4, "address 127.0.0.1 port 80 is toy-TLS here but plain at line 2");
	expect_error("servers = (\n"
	             "  { " LOCATION " default = true; listen = ( " LISTEN(
	                 80) " ); },\n"
	                     "  { " LOCATION " listen = ( " LISTEN(
	                         81) " ); },\n"
	                             "  { " LOCATION " default = true;\n"
	                             "    listen = ( " LISTEN(81) ", " LISTEN(80) " ); }\n"
	                                                                          ");\n",
	             5, "two default servers for address 127.0.0.1 port 80 (lines 2 and 4)");
	expect_error("servers = (\n"
	             "  { " LOCATION "\n"
	             "    listen = ( " LISTEN(
	                 80) ",\n"
	                     "               { address = \"127.0.0.1\"; port = 80; } ); }\n"
	                     ");\n",
	             4, "address 127.0.0.1 port 80 is listed twice in this server");
	expect_error("servers = (\n"
	             "  { " LOCATION
	             " listen = ( " LISTEN(80) " ); },\n"
	                                       "  { " LOCATION "\n"
	                                       "    listen = ( { address = \"127.0.0.1\"; port = "
	                                       "80; proxy_protocol = true; } ); }\n"
	                                       ");\n",
	             4, "address 127.0.0.1 port 80 has proxy_protocol on here but off at line 2");
}

Test(config, proxy_protocol_per_listener)
{
	struct kw_config *cfg = load_ok(
	    "servers = (\n"
	    "  { " LOCATION " listen = ( " LISTEN(
	        80) ",\n"
	            "    { address = \"127.0.0.1\"; port = 81; proxy_protocol = true; } ); },\n"
	            "  { " LOCATION " server_name = \"b\";\n"
	            "    listen = ( { address = \"127.0.0.1\"; port = 81; proxy_protocol = true; } "
	            "); }\n"
	            ");\n");

	cr_assert_eq(cfg->n_listeners, 2);
	cr_expect_not(cfg->listeners[0].proxy_protocol);
	cr_expect(cfg->listeners[1].proxy_protocol);
	kw_config_free(cfg);
}

Test(config, tls_server_needs_certificate_and_key)
{
	expect_error("servers = (\n"
	             "  { " LOCATION "\n"
	             "    certificate_key = \"certs/server_key.pem\";\n"
	             "    listen = ( " LISTEN_TLS(443) " ); }\n"
	                                               ");\n",
	             2, "a server with a toy-TLS listener needs 'certificate'");
	expect_error("servers = (\n"
	             "  { " LOCATION "\n"
	             "    certificate = \"certs/server_cert.pem\";\n"
	             "    listen = ( " LISTEN_TLS(443) " ); }\n"
	                                               ");\n",
	             2, "a server with a toy-TLS listener needs 'certificate_key'");
}

Test(config, certificates_must_be_pem)
{
	char path[PATH_MAX];
	char words[PATH_MAX + 64];

	in_dir(path, etc, "certs/missing.pem");
	snprintf(words, sizeof words, "'certificate': cannot open %s: No such file", path);
	expect_error(
	    "servers = ( { " LOCATION " listen = ( " LISTEN_TLS(
	        443) " );\n"
	             "  certificate = \"certs/missing.pem\"; certificate_key = \"k.pem\"; } );\n",
	    2, words);

	in_dir(path, etc, "not_pem.pem");
	snprintf(words, sizeof words, "'certificate': %s holds no PEM certificate", path);
	expect_error(
	    "servers = ( { " LOCATION " listen = ( " LISTEN_TLS(
	        443) " );\n"
	             "  certificate = \"not_pem.pem\"; certificate_key = \"k.pem\"; } );\n",
	    2, words);

	expect_error("servers = ( { " LOCATION " listen = ( " LISTEN_TLS(
	                 443) " );\n"
	                      "  " CERT_AND_KEY "\n"
	                      "  certificate_chain = [ \"certs/chain.pem\",\n"
	                      "                        \"not_pem.pem\" ]; } );\n",
	             4, "'certificate_chain': ");
	cr_expect_not_null(strstr(err, "not_pem.pem holds no PEM certificate"), "%s", err);

	/* A key that is not a certificate, in the certificate's place, is no certificate. */
	expect_error("servers = ( { " LOCATION
	             " listen = ( " LISTEN_TLS(443) " );\n"
	                                            "  certificate = \"certs/server_key.pem\"; "
	                                            "certificate_key = \"k.pem\"; } );\n",
	             2, "holds no PEM certificate");
}

Test(config, certificate_key_is_never_opened)
{
	struct kw_config *cfg = load_ok(
	    "servers = ( { " LOCATION "\n"
	    "  listen = ( " LISTEN_TLS(443) " );\n"
	                                    "  certificate = \"certs/server_cert.pem\";\n"
	                                    "  certificate_key = \"no/such/key.pem\"; } );\n");

	expect_path(cfg->servers[0].certificate_key, etc, "no/such/key.pem");
	expect_path(cfg->keys[0].path, etc, "no/such/key.pem");
	kw_config_free(cfg);
	expect_error("servers = ( { " LOCATION "\n"
	             "  listen = ( " LISTEN_TLS(443) " );\n"
	                                             "  certificate = \"certs/server_cert.pem\";\n"
	                                             "  certificate_key = \"\"; } );\n",
	             4, "'certificate_key' must not be empty");
}

Test(config, host_check_wants_existing_key_files)
{
	struct kw_config *cfg = load_ok(
	    "servers = ( { " LOCATION "\n"
	    "  listen = ( " LISTEN_TLS(443) " );\n"
	                                    "  certificate = \"certs/server_cert.pem\";\n"
	                                    "  certificate_key = \"no/such/key.pem\"; } );\n");
	char prefix[PATH_MAX + 32];

	cr_assert_eq(kw_config_check_host(cfg, err, sizeof err), KW_ERR_ARGUMENT);
	snprintf(prefix, sizeof prefix, "%s:1: certificate_key ", conf);
	cr_assert_eq(strncmp(err, prefix, strlen(prefix)), 0, "got \"%s\"", err);
	cr_assert_not_null(strstr(err, "No such file or directory"), "got \"%s\"", err);
	kw_config_free(cfg);

	cfg = load_ok("servers = ( { " LOCATION "\n"
	              "  listen = ( " LISTEN_TLS(443) " );\n"
	                                              "  " CERT_AND_KEY " } );\n");
	if (geteuid() != 0) {
		cr_assert_eq(kw_config_check_host(cfg, err, sizeof err), 0, "%s", err);
	} else {
		free(cfg->user);
		cfg->user = strdup("no-such-user-kw");
		cr_assert_eq(kw_config_check_host(cfg, err, sizeof err), KW_ERR_ARGUMENT);
		cr_assert_not_null(strstr(err, "user \"no-such-user-kw\": no such user"), "%s",
		                   err);
		free(cfg->user);
		cfg->user = strdup("root");
		cr_assert_eq(kw_config_check_host(cfg, err, sizeof err), KW_ERR_ARGUMENT);
		cr_assert_not_null(strstr(err, "is root"), "%s", err);
	}
	kw_config_free(cfg);
}

Test(config, workers_and_signer_never_share_a_user)
{
	expect_error("user = \"www\";\nsigner = {\n  user = \"www\";\n};\n" MINIMAL, 3,
	             "the workers must not run as the signer's user");
}

Test(config, keys_are_deduplicated)
{
	struct kw_config *cfg = load_ok(
	    "servers = (\n"
	    "  { " LOCATION " " CERT_AND_KEY " listen = ( " LISTEN_TLS(
	        443) " ); },\n"
	             "  { " LOCATION " listen = ( " LISTEN(
	                 80) " );\n"
	                     "    certificate = \"certs/chain.pem\"; certificate_key = "
	                     "\"other.key\"; },\n"
	                     "  { " LOCATION " certificate = \"certs/chain.pem\"; certificate_key "
	                     "= \"other.key\";\n"
	                     "    listen = ( " LISTEN_TLS(
	                         444) " ); },\n"
	                              "  { " LOCATION " certificate = \"certs/server_cert.pem\";\n"
	                              "    certificate_key = \"./certs/server_key.pem\"; listen = "
	                              "( " LISTEN_TLS(445) " ); }\n"
	                                                   ");\n");

	cr_assert_eq(cfg->n_keys, 2);
	expect_path(cfg->keys[0].path, etc, "certs/server_key.pem");
	expect_path(cfg->keys[0].certificate, etc, "certs/server_cert.pem");
	expect_path(cfg->keys[1].path, etc, "other.key");
	expect_path(cfg->keys[1].certificate, etc, "certs/chain.pem");
	cr_expect_eq(cfg->servers[0].key_id, 0);
	cr_expect_not(cfg->servers[1].has_tls);
	expect_path(cfg->servers[1].certificate, etc, "certs/chain.pem");
	cr_expect_eq(cfg->servers[2].key_id, 1);
	cr_expect_eq(cfg->servers[3].key_id, 0);
	kw_config_free(cfg);
}

Test(config, location_errors)
{
	static const struct error_case cases[] = {
	    {"{ root = \"../www\"; }", "missing 'prefix' in location"},
	    {"{ prefix = \"/\"; }", "missing 'root' in location"},
	    {"{ prefix = \"img\"; root = \"../www\"; }", "'prefix' = \"img\": must start with '/'"},
	    {"{ prefix = \"/\"; root = \"../nowhere\"; }", "../nowhere: No such file or directory"},
	    {"{ prefix = \"/\"; root = \"plain_file\"; }", "plain_file is not a directory"},
	    {"{ prefix = \"/\"; root = \"../www\"; index = [ \"a/b\" ]; }",
	     "'index' = \"a/b\": must be a file name"},
	    {"{ prefix = \"/\"; root = \"../www\"; index = \"..\"; }",
	     "'index' = \"..\": must be a file name"},
	    {"{ prefix = \"/\"; root = \"../www\"; follow_symlinks = 1; }",
	     "'follow_symlinks' must be true or false, not an integer"},
	    {"{ prefix = \"/\"; root = \"../www\"; autoindex_format = \"xml\"; }",
	     "'autoindex_format' = \"xml\": must be \"html\" or \"json\""},
	    {"{ prefix = \"/\"; root = \"../www\"; autoindex = \"yes\"; }",
	     "'autoindex' must be true or false"},
	    {"{ prefix = \"/\"; rot = \"../www\"; }", "unknown key 'rot' in location"},
	};
	char text[512];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(text, sizeof text,
		         "servers = ( {\n  listen = ( " LISTEN(
		             80) " );\n  locations = (\n    %s\n  );\n} );\n",
		         cases[i].line1);
		expect_error(text, 4, cases[i].words);
	}
}

Test(config, duplicate_location_prefix)
{
	expect_error("servers = ( {\n"
	             "  listen = ( " LISTEN(80) " );\n"
	                                        "  locations = (\n"
	                                        "    { prefix = \"/a/\"; root = \"../www\"; },\n"
	                                        "    { prefix = \"/\"; root = \"../www\"; },\n"
	                                        "    { root = \"../www\";\n"
	                                        "      prefix = \"/a/\"; }\n"
	                                        "  );\n"
	                                        "} );\n",
	             7, "duplicate location prefix \"/a/\" (first at line 4)");
}

Test(config, load_file_errors)
{
	struct kw_config *cfg = (struct kw_config *)1;
	char path[PATH_MAX];
	char want[PATH_MAX + 64];

	in_dir(path, etc, "absent.conf");
	cr_expect_eq(kw_config_load_file(path, &cfg, err, sizeof err), KW_ERR_ARGUMENT);
	cr_expect_null(cfg);
	snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
	cr_expect_str_eq(err, want);

	write_file("nul.conf", "workers = 2;\0\n", 14);
	in_dir(path, etc, "nul.conf");
	cr_expect_eq(kw_config_load_file(path, &cfg, err, sizeof err), KW_ERR_ARGUMENT);
	snprintf(want, sizeof want, "%s: contains a NUL byte", path);
	cr_expect_str_eq(err, want);

	cr_expect_eq(kw_config_load_string(MINIMAL, "", &cfg, err, sizeof err), KW_ERR_ARGUMENT);
	cr_expect_null(cfg);
}

Test(config, tiny_error_buffer_is_respected)
{
	struct kw_config *cfg;
	char small[8];

	memset(small, 'x', sizeof small);
	write_file("keyward.conf", "workers = 0;\n", 13);
	cr_expect_eq(kw_config_load_file(conf, &cfg, small, sizeof small), KW_ERR_ARGUMENT);
	cr_expect_eq(strlen(small), sizeof small - 1);
	cr_expect_eq(kw_config_load_file(conf, &cfg, NULL, 0), KW_ERR_ARGUMENT);
}

static void
expect_same_strings(char **a, size_t na, char **b, size_t nb)
{
	cr_assert_eq(na, nb);
	for (size_t i = 0; i < na; i++)
		cr_expect_str_eq(a[i], b[i]);
}

static void
expect_same_string(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		cr_expect_eq(a, b);
	else
		cr_expect_str_eq(a, b);
}

static void
expect_same_config(const struct kw_config *a, const struct kw_config *b)
{
	expect_same_string(a->path, b->path);
	expect_same_string(a->dir, b->dir);
	cr_expect_eq(a->workers, b->workers);
	expect_same_string(a->user, b->user);
	expect_same_string(a->error_log, b->error_log);
	expect_same_string(a->access_log, b->access_log);
	expect_same_string(a->log_level, b->log_level);
	expect_same_string(a->pid_file, b->pid_file);
	cr_expect_eq(a->shutdown_timeout_ms, b->shutdown_timeout_ms);
	expect_same_string(a->signer.user, b->signer.user);
	cr_expect_eq(a->signer.threads, b->signer.threads);
	cr_expect_eq(a->signer.timeout_ms, b->signer.timeout_ms);
	cr_expect_eq(a->signer.max_inflight, b->signer.max_inflight);
	cr_expect_eq(a->signer.rate_limit, b->signer.rate_limit);
	cr_expect_eq(memcmp(&a->http, &b->http, sizeof a->http), 0);
	expect_same_string(a->mime_types, b->mime_types);
	expect_same_string(a->default_type, b->default_type);

	cr_assert_eq(a->n_servers, b->n_servers);
	for (size_t i = 0; i < a->n_servers; i++) {
		const struct kw_server *x = &a->servers[i], *y = &b->servers[i];

		expect_same_strings(x->names, x->n_names, y->names, y->n_names);
		cr_assert_eq(x->n_listeners, y->n_listeners);
		cr_expect_eq(memcmp(x->listeners, y->listeners, x->n_listeners * sizeof(size_t)),
		             0);
		cr_expect_eq(x->is_default, y->is_default);
		cr_expect_eq(x->has_tls, y->has_tls);
		expect_same_string(x->certificate, y->certificate);
		expect_same_string(x->certificate_key, y->certificate_key);
		expect_same_strings(x->chain, x->n_chain, y->chain, y->n_chain);
		cr_expect_eq(x->key_id, y->key_id);
		cr_expect_eq(x->line, y->line);
		cr_assert_eq(x->n_locations, y->n_locations);
		for (size_t j = 0; j < x->n_locations; j++) {
			expect_same_string(x->locations[j].prefix, y->locations[j].prefix);
			expect_same_string(x->locations[j].root, y->locations[j].root);
			expect_same_strings(x->locations[j].index, x->locations[j].n_index,
			                    y->locations[j].index, y->locations[j].n_index);
			cr_expect_eq(x->locations[j].follow_symlinks,
			             y->locations[j].follow_symlinks);
			cr_expect_eq(x->locations[j].precompressed, y->locations[j].precompressed);
			cr_expect_eq(x->locations[j].line, y->locations[j].line);
		}
	}
	cr_assert_eq(a->n_listeners, b->n_listeners);
	for (size_t i = 0; i < a->n_listeners; i++) {
		const struct kw_listener *x = &a->listeners[i], *y = &b->listeners[i];

		expect_same_string(x->address, y->address);
		cr_expect_eq(x->port, y->port);
		cr_expect_eq(x->tls, y->tls);
		cr_expect_eq(x->proxy_protocol, y->proxy_protocol);
		cr_assert_eq(x->addr_len, y->addr_len);
		cr_expect_eq(memcmp(&x->addr, &y->addr, x->addr_len), 0);
		cr_expect_eq(x->default_server, y->default_server);
		cr_expect_eq(x->line, y->line);
	}
	cr_assert_eq(a->n_keys, b->n_keys);
	for (size_t i = 0; i < a->n_keys; i++) {
		expect_same_string(a->keys[i].path, b->keys[i].path);
		expect_same_string(a->keys[i].certificate, b->keys[i].certificate);
	}
}

Test(config, load_string_equals_load_file)
{
	const char *text =
	    "workers = 4;\naccess_log = \"access.log\";\n"
	    "http = { max_body_size = \"8k\"; };\n"
	    "servers = (\n"
	    "  { server_name = [ \"a\", \"b\" ]; " LOCATION " " CERT_AND_KEY "\n"
	    "    certificate_chain = \"certs/chain.pem\";\n"
	    "    listen = ( " LISTEN(80) ", " LISTEN_TLS(
	        443) " ); },\n"
	             "  { server_name = \"c\"; default = true; " LOCATION "\n"
	             "    listen = ( { address = \"::1\"; port = 80; }, " LISTEN(80) " ); }\n"
	                                                                             ");\n";
	struct kw_config *from_file = load_ok(text);
	struct kw_config *from_string;

	cr_assert_eq(kw_config_load_string(text, conf, &from_string, err, sizeof err), 0, "%s",
	             err);
	expect_same_config(from_file, from_string);
	kw_config_free(from_file);
	kw_config_free(from_string);

	expect_error("servers = (\n  { listen = ( " LISTEN(80) " ); }\n);\n", 2,
	             "missing 'locations' in server");
	cr_assert_eq(kw_config_load_string("servers = (\n  { listen = ( " LISTEN(80) " ); }\n);\n",
	                                   conf, &from_string, err, sizeof err),
	             KW_ERR_ARGUMENT);
	cr_expect_not_null(strstr(err, ":2: missing 'locations' in server"), "%s", err);
}

Test(config, chain_must_verify_from_the_leaf)
{
	char words[PATH_MAX * 2 + 64], leaf[PATH_MAX], chain[PATH_MAX];

	in_dir(leaf, etc, "certs/server_cert.pem");
	in_dir(chain, etc, "certs/root.pem");
	snprintf(words, sizeof words, "'certificate_chain': %s does not verify %s: ", chain, leaf);
	expect_error("servers = ( { " LOCATION " listen = ( " LISTEN_TLS(
	                 443) " );\n"
	                      "  " CERT_AND_KEY "\n"
	                      "  certificate_chain = [ \"certs/root.pem\" ]; } );\n",
	             3, words);
	in_dir(leaf, etc, "certs/chain.pem");
	in_dir(chain, etc, "certs/server_cert.pem");
	snprintf(words, sizeof words, "'certificate_chain': %s does not verify %s: ", chain, leaf);
	expect_error("servers = ( { " LOCATION " listen = ( " LISTEN_TLS(
	                 443) " );\n"
	                      "  " CERT_AND_KEY "\n"
	                      "  certificate_chain = [ \"certs/chain.pem\",\n"
	                      "                        \"certs/server_cert.pem\" ]; } );\n",
	             3, words);
}

/* A snapshot made by the master loads with every certificate file gone. */
Test(config, snapshot_carries_the_certificates)
{
	const char *text =
	    "servers = ( { " LOCATION
	    " listen = ( " LISTEN_TLS(443) " );\n"
	                                   "  " CERT_AND_KEY "\n"
	                                   "  certificate_chain = \"certs/chain.pem\"; } );\n";
	struct kw_config *cfg = load_ok(text), *child = NULL;
	char path[PATH_MAX], *snap = NULL;
	size_t len = 0;

	cr_assert_eq(cfg->n_files, 2);
	expect_path(cfg->files[0].path, etc, "certs/server_cert.pem");
	expect_path(cfg->files[1].path, etc, "certs/chain.pem");
	cr_assert_eq(kw_config_snapshot_encode(cfg, text, &snap, &len), 0);
	in_dir(path, etc, "certs/server_cert.pem");
	cr_assert_eq(unlink(path), 0);
	in_dir(path, etc, "certs/chain.pem");
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(kw_config_load_snapshot(snap, len, conf, &child, err, sizeof err), 0, "%s",
	             err);
	cr_assert_eq(child->n_files, 2);
	for (size_t i = 0; i < 2; i++) {
		cr_expect_str_eq(child->files[i].path, cfg->files[i].path);
		cr_expect_str_eq(child->files[i].text, cfg->files[i].text);
	}
	cr_expect_str_eq(kw_config_file_text(child, child->servers[0].certificate),
	                 cfg->files[0].text);
	cr_expect_null(kw_config_file_text(child, "/nowhere.pem"));
	kw_config_free(child);

	/* the text alone: the certificate is looked for in the snapshot, not on disk */
	cr_assert_eq(kw_config_load_snapshot(snap, strlen(text) + 1, conf, &child, err, sizeof err),
	             KW_ERR_ARGUMENT);
	cr_expect_not_null(strstr(err, ":2: 'certificate': "), "%s", err);
	cr_expect_not_null(strstr(err, "server_cert.pem is not in the configuration snapshot"),
	                   "%s", err);
	/* one byte short: the last file's terminator is missing */
	cr_assert_eq(kw_config_load_snapshot(snap, len - 1, conf, &child, err, sizeof err),
	             KW_ERR_ARGUMENT);
	cr_expect_not_null(strstr(err, "malformed configuration snapshot"), "%s", err);
	/* no terminator after the text at all */
	cr_assert_eq(kw_config_load_snapshot(text, strlen(text), conf, &child, err, sizeof err),
	             KW_ERR_ARGUMENT);
	cr_expect_not_null(strstr(err, "configuration snapshot without its text"), "%s", err);
	free(snap);
	kw_config_free(cfg);
}

Test(config, free_accepts_null)
{
	kw_config_free(NULL);
}

Test(config, tls13_listener_and_group)
{
	struct kw_config *cfg = load_ok(MINIMAL);
	cr_expect_null(cfg->tls13.ciphersuites);
	cr_expect_null(cfg->tls13.groups);
	cr_expect(cfg->tls13.session_tickets);
	cr_expect_eq(cfg->tls13.ticket_rotation_ms, 3600000);
	cr_expect_eq(cfg->tls13.max_parked, 128);
	kw_config_free(cfg);

	cfg = load_ok("tls13 = { ciphersuites = \"TLS_AES_256_GCM_SHA384\"; groups = \"X25519\";\n"
	              "  session_tickets = false; ticket_rotation = \"10m\"; max_parked = 1; };\n"
	              "servers = ( { listen = ( { address = \"127.0.0.1\"; port = 8443;\n"
	              "  tls = \"tls13\"; } ); " CERT_AND_KEY "\n  " LOCATION " } );\n");
	cr_expect_str_eq(cfg->tls13.ciphersuites, "TLS_AES_256_GCM_SHA384");
	cr_expect_str_eq(cfg->tls13.groups, "X25519");
	cr_expect_not(cfg->tls13.session_tickets);
	cr_expect_eq(cfg->tls13.ticket_rotation_ms, 600000);
	cr_expect_eq(cfg->tls13.max_parked, 1);
	cr_assert_eq(cfg->n_listeners, 1);
	cr_expect_eq(cfg->listeners[0].tls, KW_TLS_TLS13);
	cr_expect(cfg->servers[0].has_tls);
	kw_config_free(cfg);
}

#define LISTEN_TLS13(port, more)                                                                   \
	"{ address = \"127.0.0.1\"; port = " #port "; tls = \"tls13\"; " more " }"

Test(config, http2_on_tls13_by_default_and_h2c_only_when_set)
{
	struct kw_config *cfg =
	    load_ok("servers = ( { listen = ( " LISTEN_TLS13(8443, "") ", " LISTEN_TLS13(
	        8444, "http2 = false;") ", " LISTEN(8080) ",\n { address = \"127.0.0.1\"; port = "
	                                                  "8081; http2 = true; } ); " CERT_AND_KEY
	                                                  " " LOCATION " } );\n");
	cr_assert_eq(cfg->n_listeners, 4);
	cr_expect(cfg->listeners[0].http2);
	cr_expect_not(cfg->listeners[1].http2);
	cr_expect_not(cfg->listeners[2].http2);
	cr_expect(cfg->listeners[3].http2);
	cr_expect_eq(cfg->http2.max_concurrent_streams, 128);
	cr_expect_eq(cfg->http2.max_header_list_size, 32768);
	cr_expect_eq(cfg->http2.max_frame_size, 16384);
	cr_expect_eq(cfg->http2.initial_window_size, 65535);
	cr_expect_eq(cfg->http2.settings_timeout_ms, 10000);
	cr_expect_eq(cfg->http2.max_resets, 200);
	cr_expect_eq(cfg->http2.reset_interval_ms, 1000);
	cr_expect_eq(cfg->http2.max_control_frames, 1000);
	cr_expect_eq(cfg->http2.max_continuations, 8);
	kw_config_free(cfg);

	cfg = load_ok("http2 = { max_concurrent_streams = 1; max_header_list_size = \"16m\";\n"
	              "  max_frame_size = 16777215; initial_window_size = 2147483647;\n"
	              "  settings_timeout = \"1s\"; max_resets = 1; reset_interval = \"1m\";\n"
	              "  max_control_frames = 1; max_continuations = 1; };\n" MINIMAL);
	cr_expect_eq(cfg->http2.max_concurrent_streams, 1);
	cr_expect_eq(cfg->http2.max_header_list_size, 16u << 20);
	cr_expect_eq(cfg->http2.max_frame_size, 16777215);
	cr_expect_eq(cfg->http2.initial_window_size, 2147483647);
	cr_expect_eq(cfg->http2.settings_timeout_ms, 1000);
	cr_expect_eq(cfg->http2.reset_interval_ms, 60000);
	kw_config_free(cfg);
}

Test(config, http2_errors_name_their_line)
{
	expect_error("servers = ( { listen = (\n { address = \"127.0.0.1\"; port = 8443; tls = "
	             "\"toy\"; http2 = true; } ); " CERT_AND_KEY " " LOCATION " } );\n",
	             2, "toy-TLS listener speaks HTTP/1.1 only");
	expect_error("servers = ( { listen = ( " LISTEN_TLS13(
	                 8443, "") " ); " CERT_AND_KEY " " LOCATION
	                           " },\n { listen = ( " LISTEN_TLS13(
	                               8443, "http2 = false;") " );"
	                                                       " server_name = \"b\"; " CERT_AND_KEY
	                                                       " " LOCATION " } );\n",
	             2, "http2 off here but on");
	expect_error("http2 = { max_frame_size = 16383; };\n" MINIMAL, 1, "max_frame_size");
	expect_error("http2 = { max_frame_size = 16777216; };\n" MINIMAL, 1, "max_frame_size");
	expect_error("http2 = { initial_window_size = 65534; };\n" MINIMAL, 1,
	             "initial_window_size");
	expect_error("http2 = { initial_window_size = 2147483648; };\n" MINIMAL, 1,
	             "initial_window_size");
	expect_error("http2 = { max_concurrent_streams = 0; };\n" MINIMAL, 1,
	             "max_concurrent_streams");
	expect_error("http2 = {\n max_header_list_size = 255; };\n" MINIMAL, 2,
	             "max_header_list_size");
	expect_error("http2 = { idle = 1; };\n" MINIMAL, 1, "idle");
}

Test(config, tls13_errors_name_their_line)
{
	expect_error("tls13 = { ciphersuites = \"TLS_NOPE\"; };\n" MINIMAL, 1, "cipher suite");
	expect_error("tls13 = { ciphersuites = \"TLS_AES_128_CCM_8_SHA256\"; };\n" MINIMAL, 1,
	             "8-byte tag");
	expect_error("tls13 = {\n groups = \"P-999\"; };\n" MINIMAL, 2, "group");
	expect_error("tls13 = { max_parked = 0; };\n" MINIMAL, 1, "max_parked");
	expect_error("tls13 = { ticket_rotation = 999; };\n" MINIMAL, 1, "ticket_rotation");
	expect_error("tls13 = { tickets = true; };\n" MINIMAL, 1, "tickets");
	expect_error("servers = ( { listen = ( { address = \"127.0.0.1\"; port = 8443;\n"
	             "  tls = \"tls12\"; } ); " LOCATION " } );\n",
	             2, "\"tls13\"");
	expect_error("servers = ( { listen = ( " LISTEN_TLS(
	                 8443) " ); " CERT_AND_KEY " " LOCATION
	                       " },\n { listen = ( { address = \"127.0.0.1\"; port = 8443; tls = "
	                       "\"tls13\"; } );"
	                       " server_name = \"b\"; " CERT_AND_KEY " " LOCATION " } );\n",
	             2, "TLS 1.3 here but toy-TLS");
}

Test(config, headers_expires_and_hsts)
{
	struct kw_config *cfg = load_ok(
	    "servers = ( {\n"
	    "  listen = ( " LISTEN(
	        80) " );\n"
	            "  headers = [ \"X-Frame-Options: DENY\", \"Cache-Control: no-store\" ];\n"
	            "  hsts = \"max-age=31536000; includeSubDomains\";\n"
	            "  locations = ( { prefix = \"/\"; root = \"../www\"; },\n"
	            "    { prefix = \"/a/\"; root = \"../www\"; headers = []; expires = \"2d\"; "
	            "},\n"
	            "    { prefix = \"/b/\"; root = \"../www\"; expires = 0; headers = \"X-B: 1\"; "
	            "},\n"
	            "    { prefix = \"/c/\"; root = \"../www\"; expires = \"epoch\"; headers = [ "
	            "]; },\n"
	            "    { prefix = \"/d/\"; root = \"../www\"; expires = \"max\"; headers = []; "
	            "},\n"
	            "    { prefix = \"/e/\"; root = \"../www\"; expires = \"off\"; } );\n"
	            "} );\n");
	const struct kw_server *srv = &cfg->servers[0];

	cr_assert_eq(srv->rules.n_headers, 2);
	cr_expect_str_eq(srv->rules.headers[0], "X-Frame-Options: DENY");
	cr_expect_eq(srv->rules.headers_line, 3);
	cr_expect_eq(srv->rules.expires, KW_EXPIRES_UNSET);
	cr_expect_str_eq(srv->hsts, "max-age=31536000; includeSubDomains");
	cr_expect_eq(srv->locations[0].rules.headers_line, 0);
	cr_expect_eq(srv->locations[0].rules.expires, KW_EXPIRES_UNSET);
	cr_expect_eq(srv->locations[1].rules.headers_line, 6);
	cr_expect_eq(srv->locations[1].rules.n_headers, 0);
	cr_expect_eq(srv->locations[1].rules.expires, KW_EXPIRES_SECONDS);
	cr_expect_eq(srv->locations[1].rules.expires_s, 172800);
	cr_expect_eq(srv->locations[1].rules.expires_line, 6);
	cr_expect_eq(srv->locations[2].rules.expires, KW_EXPIRES_SECONDS);
	cr_expect_eq(srv->locations[2].rules.expires_s, 0);
	cr_assert_eq(srv->locations[2].rules.n_headers, 1);
	cr_expect_eq(srv->locations[3].rules.expires, KW_EXPIRES_EPOCH);
	cr_expect_eq(srv->locations[4].rules.expires, KW_EXPIRES_MAX);
	cr_expect_eq(srv->locations[5].rules.expires, KW_EXPIRES_OFF);
	kw_config_free(cfg);
}

Test(config, header_and_expires_errors)
{
	static const struct error_case cases[] = {
	    {"headers = [ \"Content-Length: 5\" ];", "'headers' = \"Content-Length: 5\": names a"},
	    {"headers = [ \"X-A: 1\", \"transfer-encoding: chunked\" ];", "sets itself"},
	    {"headers = [ \"Bad Name: 1\" ];", "must be \"Name: value\""},
	    {"headers = [ \"X-A: a\\r\\nX-B: b\" ];", "'headers' contains a control character"},
	    {"headers = [ \"X-A:\" ];", "has an empty value"},
	    {"headers = [ \"\" ];", "'headers' must not be empty"},
	    {"headers = 5;", "'headers'"},
	    {"expires = \"1w\";", "'expires' must be \"off\", \"epoch\", \"max\", or a lifetime"},
	    {"expires = -1;", "'expires' must be"},
	    {"expires = 315360001;", "'expires' must be"},
	    {"expires = \"3651d\";", "'expires' must be"},
	    {"expires = true;", "'expires' must be"},
	    {"hsts = \"includeSubDomains\";", "'hsts' = \"includeSubDomains\": must be directives"},
	    {"hsts = \"max-age=1\\n\";", "'hsts' contains a control character"},
	};
	char text[512];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(text, sizeof text,
		         "servers = ( {\n  listen = ( " LISTEN(80) " );\n"
		                                                   "  " LOCATION "\n  %s\n} );\n",
		         cases[i].line1);
		expect_error(text, 4, cases[i].words);
		snprintf(text, sizeof text,
		         "servers = ( {\n  listen = ( " LISTEN(
		             80) " );\n  locations = (\n"
		                 "    { prefix = \"/\"; root = \"../www\"; %s }\n  );\n} );\n",
		         cases[i].line1);
		if (strncmp(cases[i].line1, "hsts", 4) != 0)
			expect_error(text, 4, cases[i].words);
	}
	struct kw_config *cfg =
	    load_ok("servers = ( {\n  listen = ( " LISTEN(80) " );\n"
	                                                      "  " LOCATION
	                                                      "\n  expires = 315360000;\n} );\n");
	cr_expect_eq(cfg->servers[0].rules.expires_s, 315360000);
	kw_config_free(cfg);
}

Test(config, cache_control_and_expires_do_not_mix)
{
	expect_error("servers = ( {\n  listen = ( " LISTEN(
	                 80) " );\n"
	                     "  headers = [ \"cache-control: no-store\" ];\n"
	                     "  expires = \"1h\";\n  " LOCATION "\n} );\n",
	             3, "'headers' sends Cache-Control and 'expires' (line 4)");
	expect_error("servers = ( {\n  listen = ( " LISTEN(
	                 80) " );\n"
	                     "  headers = [ \"Cache-Control: no-store\" ];\n"
	                     "  locations = ( { prefix = \"/\"; root = \"../www\";\n"
	                     "    expires = \"epoch\"; } );\n} );\n",
	             3, "(line 5)");
	expect_error("servers = ( {\n  listen = ( " LISTEN(
	                 80) " );\n"
	                     "  expires = 60;\n"
	                     "  locations = ( { prefix = \"/\"; root = \"../www\";\n"
	                     "    headers = \"Cache-Control: no-store\"; } );\n} );\n",
	             5, "(line 3)");
	struct kw_config *cfg = load_ok("servers = ( {\n  listen = ( " LISTEN(
	    80) " );\n"
	        "  headers = [ \"Cache-Control: no-store\" ];\n"
	        "  locations = ( { prefix = \"/\"; root = \"../www\";\n"
	        "    expires = \"off\"; } );\n} );\n");
	kw_config_free(cfg);
	cfg = load_ok("servers = ( {\n  listen = ( " LISTEN(
	    80) " );\n"
	        "  headers = [ \"Cache-Control: no-store\" ];\n"
	        "  locations = ( { prefix = \"/\"; root = \"../www\";\n"
	        "    expires = 60; headers = []; } );\n} );\n");
	kw_config_free(cfg);
}

/* A server on port 80 whose locations are "/" (files) and loc, on line 3. */
#define STATUS_SERVER(loc)                                                                         \
	"servers = ( { listen = ( " LISTEN(                                                        \
	    80) " );\n"                                                                            \
	        "  locations = ( { prefix = \"/\"; root = \"../www\"; },\n"                        \
	        "    " loc " ); } );\n"

Test(config, status_locations)
{
	struct kw_config *cfg = load_ok(STATUS_SERVER("{ prefix = \"/metrics\"; status = true; }"));
	const struct kw_location *loc = &cfg->servers[0].locations[1];

	cr_assert(loc->status);
	cr_assert_null(loc->root);
	cr_assert_eq(loc->n_status_allow, 2, "loopback by default");
	cr_assert(kw_addr_prefix_match(loc->status_allow, 2, "127.0.0.1"));
	cr_assert(kw_addr_prefix_match(loc->status_allow, 2, "::1"));
	cr_assert_not(kw_addr_prefix_match(loc->status_allow, 2, "10.0.0.1"));
	cr_assert_not(cfg->servers[0].locations[0].status);
	cr_assert_eq(cfg->servers[0].locations[0].n_status_allow, 0);
	kw_config_free(cfg);

	cfg = load_ok(STATUS_SERVER("{ prefix = \"/m\"; status = true; status_allow = "
	                            "[ \"10.0.0.0/8\", \"2001:db8::/32\" ]; }"));
	loc = &cfg->servers[0].locations[1];
	cr_assert_eq(loc->n_status_allow, 2);
	cr_assert(kw_addr_prefix_match(loc->status_allow, 2, "10.255.0.1"));
	cr_assert_not(kw_addr_prefix_match(loc->status_allow, 2, "127.0.0.1"));
	kw_config_free(cfg);

	cfg =
	    load_ok(STATUS_SERVER("{ prefix = \"/m\"; status = true; status_allow = \"::/0\"; }"));
	cr_assert_eq(cfg->servers[0].locations[1].n_status_allow, 1);
	kw_config_free(cfg);
}

Test(config, status_location_errors)
{
	expect_error(STATUS_SERVER("{ prefix = \"/m\"; status = true;\n status_allow = "
	                           "[ \"127.0.0.1/33\" ]; }"),
	             4, "'status_allow' = \"127.0.0.1/33\": an IPv4 prefix length is 0 to 32");
	expect_error(STATUS_SERVER("{ prefix = \"/m\"; status = true;\n status_allow = "
	                           "[ \"10.0.0.1/8\" ]; }"),
	             4, "bits set past the prefix length");
	expect_error(STATUS_SERVER("{ prefix = \"/m\"; status = true; status_allow = "
	                           "[ \"localhost\" ]; }"),
	             3, "'status_allow' = \"localhost\": not an IPv4 or IPv6 address");
	expect_error(STATUS_SERVER("{ prefix = \"/m\"; status = true; status_allow = [ ]; }"), 3,
	             "'status_allow' must not be empty");
	expect_error(STATUS_SERVER("{ prefix = \"/m\"; status = true; status_allow = 8; }"), 3,
	             "'status_allow' must be a string or an array of strings, not an integer");
	expect_error(STATUS_SERVER("{ prefix = \"/m\"; status = true;\n root = \"../www\"; }"), 4,
	             "serves the status page, not files: remove 'root'");
	expect_error(STATUS_SERVER("{ prefix = \"/m\";\n status_allow = \"::1\"; }"), 4,
	             "'status_allow' needs 'status = true'");
	expect_error(STATUS_SERVER("{ prefix = \"/m\"; }"), 3, "missing 'root' in location");
	expect_error(STATUS_SERVER("{ prefix = \"/m\"; status = 1; }"), 3,
	             "'status' must be true or false");
}

Test(config, location_return)
{
	struct kw_config *cfg = load_ok("servers = ( {\n  listen = ( " LISTEN(
	    80) " );\n  locations = (\n"
	        "    { prefix = \"/\"; root = \"../www\";\n"
	        "      return = { status = 308; location = \"https://$host$request_uri\"; }; },\n"
	        "    { prefix = \"/gone/\"; root = \"../www\"; return = { status = 410; body = "
	        "\"$uri "
	        "is gone\"; }; },\n"
	        "    { prefix = \"/x/\"; root = \"../www\"; return = { status = 204; }; } );\n} "
	        ");\n");
	const struct kw_location *loc = cfg->servers[0].locations;

	cr_expect_eq(loc[0].ret.status, 308);
	cr_expect_str_eq(loc[0].ret.location, "https://$host$request_uri");
	cr_expect_null(loc[0].ret.body);
	cr_expect_eq(loc[1].ret.status, 410);
	cr_expect_str_eq(loc[1].ret.body, "$uri is gone");
	cr_expect_eq(loc[2].ret.status, 204);
	kw_config_free(cfg);
}

Test(config, return_errors)
{
	static const struct error_case cases[] = {
	    {"return = { status = 301; };", "'return' with status 301 needs a 'location'"},
	    {"return = { status = 200; location = \"/x\"; };",
	     "takes a 'location' with status 301"},
	    {"return = { status = 300; };", "the 3xx statuses are 301, 302, 303, 307, 308"},
	    {"return = { status = 304; };", "the 3xx statuses"},
	    {"return = { status = 302; location = \"/\"; body = \"b\"; };", "has no 'body'"},
	    {"return = { status = 204; body = \"b\"; };", "'return' with status 204 has no 'body'"},
	    {"return = { status = 199; };", "'status'"},
	    {"return = { status = 600; };", "'status'"},
	    {"return = { location = \"/\"; };", "missing 'status' in return"},
	    {"return = { status = 301; location = \"https://$hostname/\"; };",
	     "'location' = \"https://$hostname/\": has a '$' that starts no known variable"},
	    {"return = { status = 200; body = \"a\\nb\"; };",
	     "'body' contains a control character"},
	    {"return = { status = 200; text = \"a\"; };", "unknown key 'text' in return"},
	    {"return = 301;", "'return'"},
	};
	char text[512];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(text, sizeof text,
		         "servers = ( {\n  listen = ( " LISTEN(
		             80) " );\n  locations = (\n"
		                 "    { prefix = \"/\"; root = \"../www\"; %s }\n  );\n} );\n",
		         cases[i].line1);
		expect_error(text, 4, cases[i].words);
	}
}

Test(config, error_pages)
{
	struct kw_config *cfg = load_ok("servers = ( {\n  listen = ( " LISTEN(
	    80) " );\n"
	        "  error_pages = ( { status = 400; uri = \"/errors/400.html\"; },\n"
	        "                  { status = 599; uri = \"/errors/\"; } );\n"
	        "  locations = (\n"
	        "    { prefix = \"/\"; root = \"../www\"; },\n"
	        "    { prefix = \"/a/\"; root = \"../www\";\n"
	        "      error_pages = ( { status = 404; uri = \"/a/.404.html\"; } ); },\n"
	        "    { prefix = \"/b/\"; root = \"../www\"; error_pages = (); } );\n} );\n");
	const struct kw_server *srv = &cfg->servers[0];

	cr_assert_eq(srv->errors.n, 2);
	cr_expect_eq(srv->errors.line, 3);
	cr_expect_eq(srv->errors.pages[0].status, 400);
	cr_expect_str_eq(srv->errors.pages[0].uri, "/errors/400.html");
	cr_expect_eq(srv->errors.pages[1].status, 599);
	cr_expect_str_eq(srv->errors.pages[1].uri, "/errors/");
	cr_expect_eq(srv->locations[0].errors.line, 0);
	cr_assert_eq(srv->locations[1].errors.n, 1);
	cr_expect_eq(srv->locations[1].errors.line, 8);
	cr_expect_str_eq(srv->locations[1].errors.pages[0].uri, "/a/.404.html");
	cr_expect_eq(srv->locations[2].errors.n, 0);
	cr_expect_eq(srv->locations[2].errors.line, 9);
	kw_config_free(cfg);
}

Test(config, error_pages_errors)
{
	static const struct error_case cases[] = {
	    {"{ status = 399; uri = \"/e.html\"; }", "'status' must be between 400 and 599"},
	    {"{ status = 600; uri = \"/e.html\"; }", "'status' must be between 400 and 599"},
	    {"{ status = 404; uri = \"e.html\"; }", "'uri' = \"e.html\": must start with '/'"},
	    {"{ status = 404; uri = \"/e.html?x\"; }", "without query or fragment"},
	    {"{ status = 404; uri = \"/e.html#x\"; }", "without query or fragment"},
	    {"{ status = 404; uri = \"/a/../e.html\"; }", "must be a normalised path"},
	    {"{ status = 404; uri = \"/a/./e.html\"; }", "must be a normalised path"},
	    {"{ status = 404; uri = \"/a//e.html\"; }", "must be a normalised path"},
	    {"{ status = 404; uri = \"/a/..\"; }", "must be a normalised path"},
	    {"{ status = 404; uri = \"/e\\n.html\"; }", "'uri' contains a control character"},
	    {"{ status = 404; uri = \"\"; }", "'uri' must not be empty"},
	    {"{ status = 404; }", "missing 'uri' in error_pages"},
	    {"{ uri = \"/e.html\"; }", "missing 'status' in error_pages"},
	    {"{ status = 404; uri = \"/e.html\"; page = 1; }", "unknown key 'page' in error_pages"},
	    {"{ status = 404; uri = \"/a\"; }, { status = 404; uri = \"/b\"; }",
	     "duplicate status 404 in 'error_pages' (first at line 5)"},
	    {"\"/e.html\"", "each entry of 'error_pages' must be a group"},
	};
	char text[2048];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(text, sizeof text,
		         "servers = ( {\n  listen = ( " LISTEN(
		             80) " );\n  locations = (\n"
		                 "    { prefix = \"/\"; root = \"../www\";\n"
		                 "      error_pages = ( %s ); }\n  );\n} );\n",
		         cases[i].line1);
		expect_error(text, 5, cases[i].words);
		snprintf(text, sizeof text,
		         "servers = ( {\n  listen = ( " LISTEN(
		             80) " );\n"
		                 "  locations = ( { prefix = \"/\"; root = \"../www\"; } );\n"
		                 "\n  error_pages = ( %s );\n} );\n",
		         cases[i].line1);
		expect_error(text, 5, cases[i].words);
	}
	expect_error("servers = ( {\n  listen = ( " LISTEN(
	                 80) " );\n"
	                     "  locations = ( { prefix = \"/\"; root = \"../www\"; } );\n"
	                     "  error_pages = { status = 404; uri = \"/e\"; };\n} );\n",
	             4, "'error_pages' must be a list");
}

Test(config, error_pages_uri_length)
{
	char uri[1026];
	char text[2048];

	memset(uri, 'a', sizeof uri - 1);
	uri[0] = '/';
	uri[1024] = '\0';
	snprintf(text, sizeof text,
	         "servers = ( {\n  listen = ( " LISTEN(
	             80) " );\n"
	                 "  locations = ( { prefix = \"/\"; root = \"../www\"; } );\n"
	                 "  error_pages = ( { status = 404; uri = \"%s\"; } );\n} );\n",
	         uri);
	kw_config_free(load_ok(text));
	uri[1024] = 'a';
	uri[1025] = '\0';
	snprintf(text, sizeof text,
	         "servers = ( {\n  listen = ( " LISTEN(
	             80) " );\n"
	                 "  locations = ( { prefix = \"/\"; root = \"../www\"; } );\n"
	                 "  error_pages = ( { status = 404; uri = \"%s\"; } );\n} );\n",
	         uri);
	expect_error(text, 4, "is longer than 1024 bytes");
}

/*
 * config_print.c - `keyward -T`: a checked configuration written back as libconfig text,
 * resolved: every key with its value, defaults filled in, "auto" replaced by the count it
 * stands for, paths absolute, durations in milliseconds, sizes in bytes.
 *
 * The text is itself a configuration that loads to the same model: strings are escaped
 * as libconfig reads them back, and integers that do not fit libconfig's 32-bit integers
 * carry its 64-bit suffix 'L'.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "master.h"

#define INDENT2 "  "
#define INDENT4 "    "
#define INDENT6 "      "
#define INDENT8 "        "

/* A libconfig string literal: '"' and '\' escaped, control and non-ASCII bytes as \xNN. */
static void
print_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(out, "\\x%02x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

static void
print_key_string(FILE *out, const char *indent, const char *key, const char *value)
{
	fprintf(out, "%s%s = ", indent, key);
	print_string(out, value);
	fputs(";\n", out);
}

static void
print_key_uint(FILE *out, const char *indent, const char *key, uint64_t value)
{
	fprintf(out, "%s%s = %" PRIu64 "%s;\n", indent, key, value, value > INT32_MAX ? "L" : "");
}

static void
print_key_bool(FILE *out, const char *indent, const char *key, bool value)
{
	fprintf(out, "%s%s = %s;\n", indent, key, value ? "true" : "false");
}

static void
print_key_array(FILE *out, const char *indent, const char *key, char *const *values, size_t n)
{
	fprintf(out, "%s%s = [", indent, key);
	for (size_t i = 0; i < n; i++) {
		fputs(i ? ", " : " ", out);
		print_string(out, values[i]);
	}
	fputs(" ];\n", out);
}

static void
print_listener(FILE *out, const struct kw_listener *l, bool last)
{
	fputs(INDENT6 "{ address = ", out);
	print_string(out, l->address);
	fprintf(out, "; port = %u;", (unsigned)l->port);
	switch (l->tls) {
	case KW_TLS_NONE:
		break;
	case KW_TLS_TOY:
		fputs(" tls = \"toy\";", out);
		break;
	case KW_TLS_TLS13:
		fputs(" tls = \"tls13\";", out);
		break;
	}
	fprintf(out, " proxy_protocol = %s;", l->proxy_protocol ? "true" : "false");
	if (l->http2 != (l->tls == KW_TLS_TLS13))
		fprintf(out, " http2 = %s;", l->http2 ? "true" : "false");
	fprintf(out, " }%s\n", last ? "" : ",");
}

/* headers and expires where the block sets them (a location inherits the others). */
static void
print_rules(FILE *out, const char *indent, const struct kw_header_rules *r)
{
	static const char *const names[] = {
	    [KW_EXPIRES_OFF] = "off", [KW_EXPIRES_EPOCH] = "epoch", [KW_EXPIRES_MAX] = "max"};
	if (r->headers_line != 0)
		print_key_array(out, indent, "headers", r->headers, r->n_headers);
	if (r->expires == KW_EXPIRES_SECONDS)
		print_key_uint(out, indent, "expires", r->expires_s);
	else if (r->expires != KW_EXPIRES_UNSET)
		print_key_string(out, indent, "expires", names[r->expires]);
}

/* error_pages where the block sets it (a location inherits its server's otherwise). */
static void
print_error_pages(FILE *out, const char *indent, const struct kw_error_pages *ep)
{
	if (ep->line == 0)
		return;
	fprintf(out, "%serror_pages = (", indent);
	for (size_t i = 0; i < ep->n; i++) {
		fprintf(out, "%s{ status = %u; uri = ", i ? ", " : " ", ep->pages[i].status);
		print_string(out, ep->pages[i].uri);
		fputs("; }", out);
	}
	fputs(" );\n", out);
}

static void
print_status_allow(FILE *out, const struct kw_location *loc)
{
	char text[KW_ADDR_PREFIX_TEXT_MAX];

	fputs(INDENT8 "status_allow = [", out);
	for (size_t i = 0; i < loc->n_status_allow; i++) {
		kw_addr_prefix_format(&loc->status_allow[i], text);
		fputs(i ? ", " : " ", out);
		print_string(out, text);
	}
	fputs(" ];\n", out);
}

static void
print_location(FILE *out, const struct kw_location *loc, bool last)
{
	fputs(INDENT6 "{\n", out);
	print_key_string(out, INDENT8, "prefix", loc->prefix);
	if (loc->root)
		print_key_string(out, INDENT8, "root", loc->root);
	print_key_array(out, INDENT8, "index", loc->index, loc->n_index);
	print_key_bool(out, INDENT8, "follow_symlinks", loc->follow_symlinks);
	print_key_bool(out, INDENT8, "precompressed", loc->precompressed);
	print_key_bool(out, INDENT8, "autoindex", loc->autoindex);
	print_key_string(out, INDENT8, "autoindex_format", loc->autoindex_format);
	print_key_bool(out, INDENT8, "autoindex_hidden", loc->autoindex_hidden);
	print_rules(out, INDENT8, &loc->rules);
	print_error_pages(out, INDENT8, &loc->errors);
	print_key_bool(out, INDENT8, "status", loc->status);
	if (loc->status)
		print_status_allow(out, loc);
	if (loc->ret.status != 0) {
		fprintf(out, INDENT8 "return = { status = %u;", loc->ret.status);
		if (loc->ret.location != NULL) {
			fputs(" location = ", out);
			print_string(out, loc->ret.location);
			fputc(';', out);
		}
		if (loc->ret.body != NULL) {
			fputs(" body = ", out);
			print_string(out, loc->ret.body);
			fputc(';', out);
		}
		fputs(" };\n", out);
	}
	print_key_bool(out, INDENT8, "compress", loc->compress);
	print_key_array(out, INDENT8, "compress_types", loc->compress_types, loc->n_compress_types);
	print_key_uint(out, INDENT8, "compress_min_size", loc->compress_min_size);
	print_key_uint(out, INDENT8, "gzip_level", loc->gzip_level);
	print_key_uint(out, INDENT8, "brotli_quality", loc->brotli_quality);
	fprintf(out, INDENT6 "}%s\n", last ? "" : ",");
}

static void
print_server(FILE *out, const struct kw_config *cfg, const struct kw_server *srv, bool last)
{
	fputs(INDENT2 "{\n", out);
	print_key_array(out, INDENT4, "server_name", srv->names, srv->n_names);
	print_key_bool(out, INDENT4, "default", srv->is_default);
	fputs(INDENT4 "listen = (\n", out);
	for (size_t i = 0; i < srv->n_listeners; i++)
		print_listener(out, &cfg->listeners[srv->listeners[i]], i + 1 == srv->n_listeners);
	fputs(INDENT4 ");\n", out);
	if (srv->certificate)
		print_key_string(out, INDENT4, "certificate", srv->certificate);
	if (srv->certificate_key)
		print_key_string(out, INDENT4, "certificate_key", srv->certificate_key);
	print_key_array(out, INDENT4, "certificate_chain", srv->chain, srv->n_chain);
	print_rules(out, INDENT4, &srv->rules);
	if (srv->hsts)
		print_key_string(out, INDENT4, "hsts", srv->hsts);
	print_error_pages(out, INDENT4, &srv->errors);
	fputs(INDENT4 "locations = (\n", out);
	for (size_t i = 0; i < srv->n_locations; i++)
		print_location(out, &srv->locations[i], i + 1 == srv->n_locations);
	fputs(INDENT4 ");\n", out);
	print_key_string(out, INDENT4, "access_log",
	                 srv->access_file >= 0 ? cfg->access_files[srv->access_file].path : "off");
	print_key_string(out, INDENT4, "access_log_format",
	                 srv->log_format == KW_LOG_JSON ? "json" : "combined");
	fprintf(out, INDENT2 "}%s\n", last ? "" : ",");
}

int
config_print(FILE *out, const struct kw_config *cfg)
{
	fputs("# ", out);
	fputs(cfg->path, out);
	fputs(", as keyward resolves it: defaults filled in, paths absolute,\n"
	      "# durations in milliseconds, sizes in bytes.\n",
	      out);
	print_key_uint(out, "", "workers", cfg->workers);
	print_key_string(out, "", "user", cfg->user);
	print_key_string(out, "", "error_log", cfg->error_log);
	print_key_string(out, "", "access_log", cfg->access_log ? cfg->access_log : "off");
	print_key_string(out, "", "access_log_format", cfg->access_log_format);
	print_key_string(out, "", "log_level", cfg->log_level);
	print_key_string(out, "", "pid_file", cfg->pid_file);
	print_key_uint(out, "", "shutdown_timeout", cfg->shutdown_timeout_ms);
	if (cfg->mime_types)
		print_key_string(out, "", "mime_types", cfg->mime_types);
	else
		fputs("# mime_types: not set, the built-in table\n", out);
	print_key_string(out, "", "default_type", cfg->default_type);

	fputs("signer = {\n", out);
	print_key_string(out, INDENT2, "user", cfg->signer.user);
	print_key_uint(out, INDENT2, "threads", cfg->signer.threads);
	print_key_uint(out, INDENT2, "timeout", cfg->signer.timeout_ms);
	print_key_uint(out, INDENT2, "max_inflight", cfg->signer.max_inflight);
	print_key_uint(out, INDENT2, "rate_limit", cfg->signer.rate_limit);
	fputs("};\n", out);

	fputs("tls13 = {\n", out);
	if (cfg->tls13.ciphersuites)
		print_key_string(out, INDENT2, "ciphersuites", cfg->tls13.ciphersuites);
	else
		fputs(INDENT2 "# ciphersuites: not set, OpenSSL's default\n", out);
	if (cfg->tls13.groups)
		print_key_string(out, INDENT2, "groups", cfg->tls13.groups);
	else
		fputs(INDENT2 "# groups: not set, OpenSSL's default\n", out);
	print_key_bool(out, INDENT2, "session_tickets", cfg->tls13.session_tickets);
	print_key_uint(out, INDENT2, "ticket_rotation", cfg->tls13.ticket_rotation_ms);
	print_key_uint(out, INDENT2, "max_parked", cfg->tls13.max_parked);
	fputs("};\n", out);

	fputs("http = {\n", out);
	print_key_uint(out, INDENT2, "max_connections", cfg->http.max_connections);
	print_key_uint(out, INDENT2, "handshake_timeout", cfg->http.handshake_timeout_ms);
	print_key_uint(out, INDENT2, "client_header_timeout", cfg->http.client_header_timeout_ms);
	print_key_uint(out, INDENT2, "client_body_timeout", cfg->http.client_body_timeout_ms);
	print_key_uint(out, INDENT2, "send_timeout", cfg->http.send_timeout_ms);
	print_key_uint(out, INDENT2, "keepalive_timeout", cfg->http.keepalive_timeout_ms);
	print_key_uint(out, INDENT2, "keepalive_requests", cfg->http.keepalive_requests);
	print_key_uint(out, INDENT2, "max_request_line", cfg->http.max_request_line);
	print_key_uint(out, INDENT2, "max_header_size", cfg->http.max_header_size);
	print_key_uint(out, INDENT2, "max_header_count", cfg->http.max_header_count);
	print_key_uint(out, INDENT2, "max_body_size", cfg->http.max_body_size);
	print_key_uint(out, INDENT2, "compress_streams", cfg->http.compress_streams);
	fputs("};\n", out);

	fputs("http2 = {\n", out);
	print_key_uint(out, INDENT2, "max_concurrent_streams", cfg->http2.max_concurrent_streams);
	print_key_uint(out, INDENT2, "max_header_list_size", cfg->http2.max_header_list_size);
	print_key_uint(out, INDENT2, "max_frame_size", cfg->http2.max_frame_size);
	print_key_uint(out, INDENT2, "initial_window_size", cfg->http2.initial_window_size);
	print_key_uint(out, INDENT2, "settings_timeout", cfg->http2.settings_timeout_ms);
	print_key_uint(out, INDENT2, "max_resets", cfg->http2.max_resets);
	print_key_uint(out, INDENT2, "reset_interval", cfg->http2.reset_interval_ms);
	print_key_uint(out, INDENT2, "max_control_frames", cfg->http2.max_control_frames);
	print_key_uint(out, INDENT2, "max_continuations", cfg->http2.max_continuations);
	fputs("};\n", out);

	fputs("servers = (\n", out);
	for (size_t i = 0; i < cfg->n_servers; i++)
		print_server(out, cfg, &cfg->servers[i], i + 1 == cfg->n_servers);
	fputs(");\n", out);
	return fflush(out) == 0 && !ferror(out) ? 0 : -EIO;
}

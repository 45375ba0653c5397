/*
 * config.h - keyward's configuration model and its libconfig loader.
 *
 * The master loads and checks a file; children receive the same text (a sealed
 * snapshot) and parse it again, so that every process sees exactly the
 * configuration the master checked. Relative paths are resolved against the
 * config file's directory at load time: every path in the model is absolute.
 *
 * A struct kw_config owns every string in it (copied out of libconfig) and is freed
 * with kw_config_free().
 */
#ifndef KW_CONFIG_H
#define KW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr_prefix.h"

/** What expires sets (Expires and Cache-Control headers). */
enum kw_expires {
	KW_EXPIRES_UNSET = 0, /* not set: a location takes its server's */
	KW_EXPIRES_OFF,       /* "off": no Expires, no Cache-Control */
	KW_EXPIRES_EPOCH,     /* "epoch": Expires at the epoch, Cache-Control: no-cache */
	KW_EXPIRES_MAX,       /* "max": Expires in 2037, Cache-Control: max-age=315360000 */
	KW_EXPIRES_SECONDS,   /* a lifetime: Expires now + seconds, Cache-Control: max-age */
};

/**
 * The header fields a server or location adds to its responses. A location's
 * headers replace its server's when the location sets the key (headers_line != 0,
 * an empty list included), and its expires when not KW_EXPIRES_UNSET.
 */
struct kw_header_rules {
	char **headers;        /* "Name: value" lines, checked by kw_header_line_check() */
	size_t n_headers;
	int headers_line;      /* where headers is set, 0 when it is not */
	enum kw_expires expires;
	uint32_t expires_s;    /* KW_EXPIRES_SECONDS: the lifetime */
	int expires_line;
};

/**
 * A location's fixed answer (return = { ... }): a redirect to location, or status
 * with body (or the built-in page). location and body may hold url_vars.h variables.
 */
struct kw_return {
	unsigned status;       /* 0: no return, the location serves files */
	char *location;        /* 301, 302, 303, 307, 308 only; NULL otherwise */
	char *body;            /* text/plain body, or NULL for the built-in page */
};

/** One custom error page: the status it answers and the page served for it. */
struct kw_error_page {
	unsigned status; /* 400 to 599 */
	char *uri;       /* a path starting with '/', without query or fragment */
	int line;
};

/**
 * The error_pages of a server or location. A location's list replaces its
 * server's when the location sets the key (line != 0, an empty list included).
 */
struct kw_error_pages {
	struct kw_error_page *pages; /* statuses differ */
	size_t n;
	int line; /* where error_pages is set, 0 when it is not */
};

struct kw_location {
	char *prefix;          /* URL prefix, starts with '/' */
	char *root;            /* absolute directory */
	char **index;          /* index file names, default { "index.html" } */
	size_t n_index;
	bool follow_symlinks;  /* default true */
	bool precompressed;    /* serve FILE.br / FILE.gz beside FILE when accepted; default false */
	struct kw_header_rules rules;
	bool status;           /* serves the status page (metrics) instead of files */
	struct kw_addr_prefix *status_allow; /* clients the status page answers */
	size_t n_status_allow;               /* default: 127.0.0.0/8 and ::1/128 */
	struct kw_return ret;  /* return = { ... }, or status 0 */
	bool compress;         /* compress responses on the fly (default false) */
	char **compress_types; /* MIME types (subtype "*": all of a type); default "text/html" */
	size_t n_compress_types;
	unsigned compress_min_size; /* bytes: smaller files are sent as they are (default 1024) */
	unsigned gzip_level;        /* 1..9, default 6 */
	unsigned brotli_quality;    /* 0..9, default 4 */
	struct kw_error_pages errors;
	bool autoindex;             /* list a directory without an index file (default false) */
	char *autoindex_format;     /* "html" (default) or "json" */
	bool autoindex_hidden;      /* list names starting with '.' too (default false) */
	int line;
};

/** How an access log writes its lines. */
enum kw_log_format {
	KW_LOG_COMBINED = 0, /* Apache's combined format */
	KW_LOG_JSON,         /* one JSON object per line */
};

/** An access log file; servers that name the same path share it. */
struct kw_access_file {
	char *path; /* absolute */
	int line;   /* where it is first set, 0: defaulted */
};

struct kw_server {
	char **names;          /* server_name list (exact or "*.example.com") */
	size_t n_names;
	size_t *listeners;     /* indices into kw_config.listeners */
	size_t n_listeners;
	bool is_default;       /* default = true */
	bool has_tls;          /* listens on at least one toy-TLS or TLS 1.3 listener */
	char *certificate;     /* absolute path or NULL (no TLS listener) */
	char *certificate_key; /* absolute path or NULL; read by the signer only */
	char **chain;          /* intermediates, leaf's issuer first */
	size_t n_chain;
	uint32_t key_id;       /* index into kw_config.keys, valid when has_tls */
	struct kw_location *locations;
	size_t n_locations;
	char *access_log;        /* as set in the block: path, NULL for "off" or unset */
	int access_log_line;     /* 0: unset, the top-level access_log applies */
	char *access_log_format; /* as set in the block, NULL: the top-level one */
	long access_file;        /* index into kw_config.access_files, -1: no log */
	enum kw_log_format log_format;
	struct kw_header_rules rules;
	char *hsts;            /* Strict-Transport-Security value sent over TLS, or NULL */
	struct kw_error_pages errors;
	int line;
};

/** What a listener speaks: tls = "toy" or "tls13", plain HTTP without tls. */
enum kw_tls {
	KW_TLS_NONE = 0,       /* plain HTTP: false as a truth value, the others true */
	KW_TLS_TOY,
	KW_TLS_TLS13,
};

/** One bound address; several servers may share it (they must agree on tls). */
struct kw_listener {
	char *address;         /* as written: "127.0.0.1", "::1", "*" */
	uint16_t port;
	enum kw_tls tls;
	bool proxy_protocol; /* every connection starts with a PROXY protocol header */
	/* HTTP/2: offered by ALPN on TLS 1.3 (default there), prior knowledge (h2c) on plain */
	bool http2;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	size_t default_server; /* index into kw_config.servers */
	int line;
};

/** One private key the signer holds; key ids index this array. */
struct kw_key {
	char *path;            /* absolute path of certificate_key */
	char *certificate;     /* absolute path of the matching certificate */
};

/** A certificate file as read once, by the master (children get it from the snapshot). */
struct kw_file {
	char *path;            /* absolute path, as in the configuration */
	char *text;            /* its PEM text, NUL-terminated, no NUL inside */
};

struct kw_config {
	char *path;            /* absolute path of the file */
	char *dir;             /* its directory */

	unsigned workers;      /* "auto" resolved to the CPU count */
	char *user;            /* workers' user when started as root */
	char *error_log;       /* "stderr" or absolute path */
	char *access_log;      /* absolute path, or NULL for "off" */
	int error_log_line;    /* where they are set, 0 when defaulted */
	int access_log_line;
	char *access_log_format; /* "combined" or "json": servers that set none */
	char *log_level;       /* "error", "warn", "notice", "info", "debug" */
	char *pid_file;        /* absolute path */
	unsigned shutdown_timeout_ms;

	struct {
		char *user;
		unsigned threads;
		unsigned timeout_ms;       /* signing timeout seen by workers */
		unsigned max_inflight;     /* per channel */
		unsigned rate_limit;       /* requests per second per channel, 0 = unlimited */
	} signer;

	struct {
		char *ciphersuites;        /* OpenSSL's syntax, or NULL for OpenSSL's default */
		char *groups;              /* or NULL for OpenSSL's default */
		bool session_tickets;      /* default true */
		unsigned ticket_rotation_ms; /* a new ticket key this often; the last one still decrypts */
		unsigned max_parked;       /* handshakes parked on a signature per worker */
	} tls13;

	struct {
		unsigned max_connections;  /* per worker */
		unsigned handshake_timeout_ms;
		unsigned client_header_timeout_ms;
		unsigned client_body_timeout_ms;
		unsigned send_timeout_ms;
		unsigned keepalive_timeout_ms;
		unsigned keepalive_requests;
		unsigned max_request_line;   /* bytes */
		unsigned max_header_size;    /* bytes, whole header block */
		unsigned max_header_count;
		uint64_t max_body_size;      /* bytes */
		unsigned compress_streams;   /* compressed responses in progress per worker */
	} http;

	struct {
		unsigned max_concurrent_streams; /* per connection */
		unsigned max_header_list_size;   /* bytes, decoded (HPACK) */
		unsigned max_frame_size;         /* largest frame payload received or sent */
		unsigned initial_window_size;    /* each request stream's receive window */
		unsigned settings_timeout_ms;    /* for the client to acknowledge SETTINGS */
		unsigned max_resets;             /* stream resets per reset_interval */
		unsigned reset_interval_ms;
		unsigned max_control_frames;     /* frames that serve no request, per second */
		unsigned max_continuations;      /* CONTINUATION frames per header block */
	} http2;

	char *mime_types;      /* absolute path of a mime.types file, or NULL for built-ins */
	char *default_type;

	struct kw_server *servers;
	size_t n_servers;
	struct kw_listener *listeners;
	size_t n_listeners;
	struct kw_key *keys;
	size_t n_keys;
	struct kw_file *files; /* every certificate and certificate_chain file, once each */
	size_t n_files;
	struct kw_access_file *access_files; /* every access log file, once each */
	size_t n_access_files;
};

/**
 * Loads and checks a configuration file. On failure returns a negative code and
 * writes "FILE:LINE: what is wrong" into err.
 */
int kw_config_load_file(const char *path, struct kw_config **out, char *err, size_t err_len);

/**
 * The same from text already read (the snapshot a child receives); path names the
 * original file, for relative paths and messages.
 */
int kw_config_load_string(const char *text, const char *path, struct kw_config **out,
                          char *err, size_t err_len);

/**
 * Encodes the snapshot a child receives: text, then the captured certificate files
 * of cfg (loaded from text), so that a child started later needs none of them on
 * disk. On success *out (free) holds *out_len bytes. Returns 0 or KW_ERR_NOMEM.
 */
int kw_config_snapshot_encode(const struct kw_config *cfg, const char *text, char **out,
                              size_t *out_len);

/**
 * Loads the snapshot of kw_config_snapshot_encode() (len bytes at snap, path naming
 * the original file): certificates and chains come from the snapshot, never from
 * disk. A malformed snapshot or a certificate missing from it is KW_ERR_ARGUMENT.
 */
int kw_config_load_snapshot(const char *snap, size_t len, const char *path,
                            struct kw_config **out, char *err, size_t err_len);

/** The captured PEM text of the certificate file path, or NULL when cfg has none. */
const char *kw_config_file_text(const struct kw_config *cfg, const char *path);

/**
 * What the master checks beyond the loader, on the host it runs on: every
 * certificate_key is an existing regular file (stat only: the master never opens a
 * key), and, when running as root, user and signer.user exist and are not root.
 * Children do not call it, so that a respawn never depends on files it does not read.
 * Returns 0, or KW_ERR_ARGUMENT with "FILE[:LINE]: reason" in err.
 */
int kw_config_check_host(const struct kw_config *cfg, char *err, size_t err_len);

/** True when two listeners have the same family, address, port (and IPv6 scope). */
bool kw_listener_same_address(const struct kw_listener *a, const struct kw_listener *b);

/** Frees a configuration. NULL is fine. */
void kw_config_free(struct kw_config *cfg);

/** What a listener speaks, for messages: "plain", "toy-TLS", "TLS 1.3". */
const char *kw_tls_name(enum kw_tls tls);

#endif

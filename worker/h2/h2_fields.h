/*
 * h2_fields.h - HTTP/2 header fields to and from the HTTP library's model: a
 * request's fields (pseudo-header fields and the regular ones keyward reads) gathered
 * into a struct http_request, and a built response's fields turned into the list
 * HTTP/2 sends (":status" first, names lower-cased, no connection-specific field).
 * Pure: no session, no socket.
 */
#ifndef KW_H2_FIELDS_H
#define KW_H2_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>

#include "buf.h"
#include "http.h"

/** The request fields keyward reads, as they arrive (one per slot). */
enum h2_slot {
	H2_METHOD,
	H2_PATH,
	H2_AUTHORITY,
	H2_HOST,
	H2_IF_NONE_MATCH,
	H2_IF_MODIFIED_SINCE,
	H2_IF_MATCH,
	H2_IF_UNMODIFIED_SINCE,
	H2_RANGE,
	H2_IF_RANGE,
	H2_USER_AGENT,
	H2_REFERER,
	H2_ACCEPT_ENCODING,
	H2_CONTENT_LENGTH,
	H2_N_SLOTS,
};

/**
 * A request's fields as they arrive. Owns its storage: free it with
 * h2_request_fields_dispose(). The http_request that h2_request_fields_finish() fills
 * points into it.
 */
struct h2_request_fields {
	struct kw_buf store;    /* the values kept, NUL-terminated */
	size_t off[H2_N_SLOTS]; /* offset of each slot's value in store, SIZE_MAX: absent */
	uint64_t list_size;     /* RFC 9113 6.5.2: name + value + 32 bytes per field */
};

/** Empty fields. */
void h2_request_fields_init(struct h2_request_fields *f);

/** Frees the storage; the fields can be initialised again. */
void h2_request_fields_dispose(struct h2_request_fields *f);

/**
 * Takes one field (name lower-case, as HTTP/2 requires and nghttp2 checks). The size
 * of the list grows by name_len + value_len + 32; past max_list_size the field is
 * refused (1). The first value of a field is kept; later ones and fields keyward does
 * not read are only counted. Returns 0, 1 (over the limit), or KW_ERR_NOMEM.
 */
int h2_request_fields_add(struct h2_request_fields *f, const uint8_t *name, size_t name_len,
                          const uint8_t *value, size_t value_len, uint64_t max_list_size);

/**
 * Fills req from the fields (req->http2 set, keep_alive true). Returns 0, or a
 * negative HTTP status: -400 for a missing :method or :path, a path that is not
 * absolute or does not normalise, a bad content-length; -500 when out of memory.
 */
int h2_request_fields_finish(struct h2_request_fields *f, struct http_request *req);

/** Fields of a response as HTTP/2 sends them; the names and status live in scratch. */
struct h2_response_fields {
	nghttp2_nv nv[64];
	size_t n;
	struct kw_buf scratch;
};

/**
 * Lists resp's fields (its head ended) into out: ":status", then each field with its
 * name lower-cased, leaving out Connection, Keep-Alive, Proxy-Connection,
 * Transfer-Encoding, Upgrade and TE, which HTTP/2 forbids. out->nv points into
 * out->scratch and resp until either changes. Returns 0, KW_ERR_NOMEM, or
 * KW_ERR_ARGUMENT when resp has more fields than out holds.
 */
int h2_response_fields_make(struct h2_response_fields *out, const struct http_response *resp);

/** true when name[0, len) (any case) is a field HTTP/2 forbids (RFC 9113 8.2.2). */
bool h2_field_connection_specific(const char *name, size_t len);

#endif

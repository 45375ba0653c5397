/*
 * h2_fields.c - HTTP/2 header fields to and from the HTTP library's model (see
 * h2_fields.h).
 */
#include "h2_fields.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "http_path.h"
#include "http_response.h"

static const char *const slot_names[H2_N_SLOTS] = {
    [H2_METHOD] = ":method",
    [H2_PATH] = ":path",
    [H2_AUTHORITY] = ":authority",
    [H2_HOST] = "host",
    [H2_IF_NONE_MATCH] = "if-none-match",
    [H2_IF_MODIFIED_SINCE] = "if-modified-since",
    [H2_IF_MATCH] = "if-match",
    [H2_IF_UNMODIFIED_SINCE] = "if-unmodified-since",
    [H2_RANGE] = "range",
    [H2_IF_RANGE] = "if-range",
    [H2_USER_AGENT] = "user-agent",
    [H2_REFERER] = "referer",
    [H2_ACCEPT_ENCODING] = "accept-encoding",
    [H2_CONTENT_LENGTH] = "content-length",
};

/* Per field of the list, besides its name and value (RFC 9113 section 6.5.2). */
#define FIELD_OVERHEAD 32u

void
h2_request_fields_init(struct h2_request_fields *f)
{
	*f = (struct h2_request_fields){.list_size = 0};
	for (size_t i = 0; i < H2_N_SLOTS; i++)
		f->off[i] = SIZE_MAX;
}

void
h2_request_fields_dispose(struct h2_request_fields *f)
{
	kw_buf_free(&f->store);
	h2_request_fields_init(f);
}

/* Stores s[0, len) NUL-terminated (s NULL: len zero bytes); *off receives where. */
static int
store(struct h2_request_fields *f, const void *s, size_t len, size_t *off)
{
	int err = kw_buf_reserve(&f->store, len + 1);
	if (err)
		return err;
	*off = kw_buf_size(&f->store);
	uint8_t *p = kw_buf_tail(&f->store);
	if (s != NULL)
		memcpy(p, s, len);
	else
		memset(p, 0, len);
	p[len] = '\0';
	kw_buf_commit(&f->store, len + 1);
	return 0;
}

int
h2_request_fields_add(struct h2_request_fields *f, const uint8_t *name, size_t name_len,
                      const uint8_t *value, size_t value_len, uint64_t max_list_size)
{
	f->list_size += (uint64_t)name_len + value_len + FIELD_OVERHEAD;
	if (f->list_size > max_list_size)
		return 1;
	for (size_t i = 0; i < H2_N_SLOTS; i++)
		if (strlen(slot_names[i]) == name_len && memcmp(slot_names[i], name, name_len) == 0)
			return f->off[i] != SIZE_MAX ? 0 : store(f, value, value_len, &f->off[i]);
	return 0;
}

static char *
slot(const struct h2_request_fields *f, enum h2_slot i)
{
	return f->off[i] == SIZE_MAX ? NULL : (char *)kw_buf_head(&f->store) + f->off[i];
}

static int
parse_content_length(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (*s == '\0')
		return -400;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return -400;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

int
h2_request_fields_finish(struct h2_request_fields *f, struct http_request *req)
{
	*req = (struct http_request){.method = HTTP_OTHER, .http2 = true, .keep_alive = true};
	if (f->off[H2_METHOD] == SIZE_MAX || f->off[H2_PATH] == SIZE_MAX)
		return -400;
	/* room for the normalised path, which is never longer than the raw one */
	size_t path_off;
	const size_t raw_len = strlen(slot(f, H2_PATH));
	if (store(f, NULL, raw_len, &path_off) != 0)
		return -500;
	const char *method = slot(f, H2_METHOD);
	char *target = slot(f, H2_PATH);
	if (strlen(method) >= sizeof(req->method_name) || target[0] != '/')
		return -400;
	snprintf(req->method_name, sizeof(req->method_name), "%s", method);
	req->method = strcmp(method, "GET") == 0    ? HTTP_GET
	              : strcmp(method, "HEAD") == 0 ? HTTP_HEAD
	                                            : HTTP_OTHER;
	req->target = target;
	const char *q = strchr(target, '?');
	req->query = q != NULL ? (char *)q + 1 : NULL;
	req->path = (char *)kw_buf_head(&f->store) + path_off;
	size_t path_len;
	if (http_path_normalise(target, q != NULL ? (size_t)(q - target) : raw_len, req->path,
	                        &path_len) != 0)
		return -400;
	req->host = slot(f, H2_AUTHORITY) != NULL ? slot(f, H2_AUTHORITY) : slot(f, H2_HOST);
	req->if_none_match = slot(f, H2_IF_NONE_MATCH);
	req->if_modified_since = slot(f, H2_IF_MODIFIED_SINCE);
	req->if_match = slot(f, H2_IF_MATCH);
	req->if_unmodified_since = slot(f, H2_IF_UNMODIFIED_SINCE);
	req->range = slot(f, H2_RANGE);
	req->if_range = slot(f, H2_IF_RANGE);
	req->user_agent = slot(f, H2_USER_AGENT);
	req->referer = slot(f, H2_REFERER);
	req->accept_encoding = slot(f, H2_ACCEPT_ENCODING);
	if (slot(f, H2_CONTENT_LENGTH) != NULL &&
	    parse_content_length(slot(f, H2_CONTENT_LENGTH), &req->content_length) != 0)
		return -400;
	return 0;
}

bool
h2_field_connection_specific(const char *name, size_t len)
{
	static const char *const forbidden[] = {
	    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"};
	for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++)
		if (strlen(forbidden[i]) == len && strncasecmp(forbidden[i], name, len) == 0)
			return true;
	return false;
}

int
h2_response_fields_make(struct h2_response_fields *out, const struct http_response *resp)
{
	struct http_field fld;
	size_t pos = 0, need = 4;
	while (http_response_next_field(resp, &pos, &fld))
		need += fld.name_len;
	kw_buf_reset(&out->scratch);
	/* reserved at once: the nv entries point into scratch, which must not move */
	int err = kw_buf_reserve(&out->scratch, need);
	if (err)
		return err;
	uint8_t *p = kw_buf_tail(&out->scratch);
	snprintf((char *)p, 4, "%03d",
	         resp->status >= 100 && resp->status <= 999 ? resp->status : 500);
	out->nv[0] = (nghttp2_nv){.name = (uint8_t *)":status",
	                          .namelen = 7,
	                          .value = p,
	                          .valuelen = 3,
	                          .flags = NGHTTP2_NV_FLAG_NONE};
	out->n = 1;
	p += 4;
	pos = 0;
	while (http_response_next_field(resp, &pos, &fld)) {
		if (h2_field_connection_specific(fld.name, fld.name_len))
			continue;
		if (out->n == sizeof(out->nv) / sizeof(out->nv[0]))
			return KW_ERR_ARGUMENT;
		for (size_t i = 0; i < fld.name_len; i++)
			p[i] = (uint8_t)(fld.name[i] >= 'A' && fld.name[i] <= 'Z' ? fld.name[i] + 32
			                                                          : fld.name[i]);
		out->nv[out->n++] = (nghttp2_nv){.name = p,
		                                 .namelen = fld.name_len,
		                                 .value = (uint8_t *)fld.value,
		                                 .valuelen = fld.value_len,
		                                 .flags = NGHTTP2_NV_FLAG_NONE};
		p += fld.name_len;
	}
	kw_buf_commit(&out->scratch, need);
	return 0;
}

#include "fixed_response.h"

#include "err.h"
#include "http_response.h"
#include "url_vars.h"

int
fixed_respond(const struct kw_server *srv, const struct kw_return *r,
              const struct http_request *req, time_t now, struct http_response *resp)
{
	const char *values[KW_N_VARS] = {
	    [KW_VAR_HOST] = req->host != NULL ? req->host
	                    : srv->n_names    ? srv->names[0]
	                                      : NULL,
	    [KW_VAR_URI] = req->path,
	    [KW_VAR_ARGS] = req->query,
	    [KW_VAR_SCHEME] = req->tls ? "https" : "http",
	    [KW_VAR_REQUEST_URI] = req->target,
	};
	int err = http_response_begin(resp, (int)r->status, now);
	if (err == 0 && r->location != NULL) {
		struct kw_buf loc = {0};
		err = kw_vars_expand(r->location, values, &loc);
		if (err == 0)
			err = kw_buf_append(&loc, "", 1);
		if (err == 0)
			err = http_response_header_str(resp, "Location",
			                               (const char *)kw_buf_head(&loc));
		kw_buf_free(&loc);
	}
	if (err != 0 || r->body == NULL)
		return err ? err : http_response_error_body(resp, req);
	size_t off = kw_buf_size(&resp->mem);
	err = kw_vars_expand(r->body, values, &resp->mem);
	if (err != 0)
		return err;
	resp->body_len = kw_buf_size(&resp->mem) - off;
	if (req->method != HTTP_HEAD && resp->body_len > 0)
		resp->segments[resp->n_segments++] =
		    (struct http_segment){.from_file = false, .off = off, .len = resp->body_len};
	err = http_response_header_str(resp, "Content-Type", "text/plain; charset=utf-8");
	return err ? err : http_response_header_u64(resp, "Content-Length", resp->body_len);
}

#include "header_rules.h"

#include <string.h>

#include "err.h"
#include "header_check.h"
#include "http_response.h"

/* nginx's "expires max": a date in 2037 and ten years of max-age. */
#define EXPIRES_MAX_DATE "Thu, 31 Dec 2037 23:55:55 GMT"
#define EXPIRES_MAX_AGE  315360000u
/* nginx's "expires epoch": one second after the epoch. */
#define EXPIRES_EPOCH_DATE "Thu, 01 Jan 1970 00:00:01 GMT"

bool
header_rules_status_applies(int status)
{
	switch (status) {
	case 200:
	case 201:
	case 204:
	case 206:
	case 301:
	case 302:
	case 303:
	case 304:
	case 307:
	case 308:
		return true;
	default:
		return false;
	}
}

static int
add_line(struct http_response *resp, const char *line)
{
	char name[KW_HEADER_NAME_MAX + 1];
	size_t n = kw_header_name_len(line);
	memcpy(name, line, n);
	name[n] = '\0';
	return http_response_header_str(resp, name, kw_header_value(line));
}

static int
add_expires(struct http_response *resp, const struct kw_header_rules *r, time_t now)
{
	char date[HTTP_DATE_LEN + 1];
	int err;
	switch (r->expires) {
	case KW_EXPIRES_EPOCH:
		err = http_response_header_str(resp, "Expires", EXPIRES_EPOCH_DATE);
		return err ? err : http_response_header_str(resp, "Cache-Control", "no-cache");
	case KW_EXPIRES_MAX:
		err = http_response_header_str(resp, "Expires", EXPIRES_MAX_DATE);
		return err ? err
		           : http_response_header(resp, "Cache-Control", "max-age=%u",
		                                  EXPIRES_MAX_AGE);
	case KW_EXPIRES_SECONDS:
		http_date_format(now + (time_t)r->expires_s, date);
		err = http_response_header_str(resp, "Expires", date);
		return err ? err
		           : http_response_header(resp, "Cache-Control", "max-age=%u",
		                                  (unsigned)r->expires_s);
	default:
		return 0;
	}
}

int
header_rules_apply(struct http_response *resp, const struct kw_server *srv,
                   const struct kw_location *loc, const struct http_request *req, time_t now)
{
	int err = 0;
	if (header_rules_status_applies(resp->status)) {
		const struct kw_header_rules *own = loc != NULL ? &loc->rules : &srv->rules;
		const struct kw_header_rules *h = own->headers_line ? own : &srv->rules;
		const struct kw_header_rules *x =
		    own->expires != KW_EXPIRES_UNSET ? own : &srv->rules;
		for (size_t i = 0; i < h->n_headers && err == 0; i++)
			err = add_line(resp, h->headers[i]);
		if (err == 0)
			err = add_expires(resp, x, now);
	}
	if (err == 0 && srv->hsts != NULL && req != NULL && req->tls)
		err = http_response_header_str(resp, "Strict-Transport-Security", srv->hsts);
	return err;
}

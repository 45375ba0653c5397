#include "error_page.h"

const char *
error_page_uri(const struct kw_server *srv, const struct kw_location *loc, int status)
{
	const struct kw_error_pages *ep =
	    loc != NULL && loc->errors.line != 0 ? &loc->errors : &srv->errors;
	for (size_t i = 0; i < ep->n; i++)
		if ((int)ep->pages[i].status == status)
			return ep->pages[i].uri;
	return NULL;
}

/*
 * error_page.h - which custom error page (error_pages in the configuration) answers
 * a status: the location's list, or its server's when the location sets none.
 */
#ifndef KW_ERROR_PAGE_H
#define KW_ERROR_PAGE_H

#include "config.h"

/**
 * The uri of the page that srv and loc (NULL when no location matched) configure
 * for status: from loc's error_pages when loc sets the key (an empty list too),
 * else from srv's. NULL when none names status. The uri belongs to the
 * configuration.
 */
const char *error_page_uri(const struct kw_server *srv, const struct kw_location *loc, int status);

#endif

/*
 * status.h - the status page: the shared counters (metrics.h) summed over every
 * worker and signer slot and written in the Prometheus text format (prom_text.h),
 * for a location with status = true, to clients its status_allow list admits.
 */
#ifndef KW_STATUS_H
#define KW_STATUS_H

#include <time.h>

#include "buf.h"
#include "config.h"
#include "http.h"
#include "metrics.h"

/**
 * Appends the exposition of t, read at now (Unix time), to out. Returns 0 or
 * KW_ERR_NOMEM.
 */
int status_write(const struct kw_metrics_totals *t, time_t now, struct kw_buf *out);

/**
 * Fills resp with the answer of status location loc to req from client (the
 * connection's client address): 403 when status_allow does not admit client, 405
 * for methods other than GET and HEAD, 503 when there is no region (r NULL), else
 * 200 with the exposition of r.
 */
void status_respond(const struct kw_metrics_region *r, const struct kw_location *loc,
                    const char *client, const struct http_request *req, time_t now,
                    struct http_response *resp);

#endif

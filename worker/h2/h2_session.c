/*
 * h2_session.c - one HTTP/2 connection over libnghttp2 (see h2_session.h).
 *
 * Lifetime: a stream's state (struct h2_stream) is made when its request HEADERS
 * begin and freed by on_stream_close, or by h2_session_free() after
 * nghttp2_session_del() (which calls no callback), so nghttp2 never holds a pointer to
 * freed state. The record writer (the connection's send buffer) is set only during
 * h2_session_send(); the send callbacks refuse to write outside it.
 */
#include "h2_session.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <nghttp2/nghttp2.h>

#include "err.h"
#include "h2_fields.h"
#include "http_response.h"
#include "log.h"
#include "record_writer.h"

#define FLOOD_WINDOW_MS 1000u
#define STAGE_SIZE      8192u /* a generated body's step, staged per stream */
#define PRODUCE_STEPS   16u   /* steps per DATA frame before waiting for the next turn */

struct h2_stream {
	TAILQ_ENTRY(h2_stream) link;
	int32_t id;
	struct h2_request_fields fields;
	struct http_request req;
	bool have_req;  /* req is filled */
	bool responded; /* resp is built and submitted */
	bool sending;   /* its body (or END_STREAM) is not all sent */
	struct http_response resp;
	size_t seg; /* body cursor: segment, offset in it */
	uint64_t seg_off;
	uint64_t received;  /* request body bytes */
	uint64_t body_left; /* of the segments */
	uint64_t body_sent;
	uint8_t *stage; /* the generated body's last step (resp.producer) */
	size_t stage_len, stage_off;
	bool produced_end; /* the producer said the body ends */
	bool deferred;     /* its steps made nothing yet: resumed at the next send */
};

struct h2_session {
	nghttp2_session *ng;
	const struct kw_config *cfg;
	struct loop *loop;
	struct h2_host *host;
	struct record_writer *w; /* during h2_session_send() only */
	TAILQ_HEAD(, h2_stream) streams;
	size_t n_sending;
	struct kw_timer settings_timer;
	struct h2_response_fields rf;
	unsigned long long flood_start, reset_start;
	unsigned flood_count, reset_count;
	bool settings_seen; /* the client's first SETTINGS (its preface) came */
	const char *why;
};

static void
stream_free(struct h2_session *s, struct h2_stream *st)
{
	if (st->sending)
		s->n_sending--;
	if (st->responded)
		s->host->done(s->host, st->have_req ? &st->req : NULL, st->resp.status,
		              st->body_sent);
	TAILQ_REMOVE(&s->streams, st, link);
	free(st->stage);
	http_response_dispose(&st->resp);
	h2_request_fields_dispose(&st->fields);
	free(st);
}

/* Ends the session with GOAWAY code: nothing more is read, what is queued is sent. */
static void
session_fail(struct h2_session *s, uint32_t code, const char *why)
{
	if (s->why == NULL)
		s->why = why;
	nghttp2_session_terminate_session(s->ng, code);
}

static ssize_t
on_send(nghttp2_session *ng, const uint8_t *data, size_t len, int flags, void *arg)
{
	struct h2_session *s = arg;
	if (s->w == NULL || !record_writer_can_write(s->w))
		return NGHTTP2_ERR_WOULDBLOCK;
	if (record_writer_put(s->w, data, len) != 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return (ssize_t)len;
}

/* Writes n body bytes of st from its cursor: memory copied, file bytes read in place. */
static int
write_body(struct h2_session *s, struct h2_stream *st, size_t n)
{
	const struct http_response *r = &st->resp;
	while (n > 0) {
		const struct http_segment *seg = &r->segments[st->seg];
		uint64_t left = seg->len - st->seg_off;
		size_t take = left < n ? (size_t)left : n;
		int err = seg->from_file
		              ? record_writer_read(s->w, r->fd, seg->off + st->seg_off, take)
		              : record_writer_put(s->w, r->mem.data + seg->off + st->seg_off, take);
		if (err)
			return err;
		st->seg_off += take;
		st->body_left -= take;
		st->body_sent += take;
		n -= take;
		if (st->seg_off == seg->len) {
			st->seg++;
			st->seg_off = 0;
		}
	}
	return 0;
}

static int
on_send_data(nghttp2_session *ng, nghttp2_frame *frame, const uint8_t *framehd, size_t length,
             nghttp2_data_source *source, void *arg)
{
	struct h2_session *s = arg;
	struct h2_stream *st = source->ptr;
	if (s->w == NULL || !record_writer_can_write(s->w))
		return NGHTTP2_ERR_WOULDBLOCK;
	if (record_writer_put(s->w, framehd, 9) != 0 || write_body(s, st, length) != 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return 0;
}

/*
 * The generated body's next bytes, copied into buf: a staged step, or new steps (a
 * bounded number of them) when the stage is spent. Steps that make nothing defer the
 * stream to the next send.
 */
static ssize_t
read_generated(struct h2_stream *st, uint8_t *buf, size_t length, uint32_t *flags)
{
	struct body_producer *p = &st->resp.producer;
	for (unsigned i = 0; st->stage_off == st->stage_len && !st->produced_end; i++) {
		if (i == PRODUCE_STEPS) {
			st->deferred = true;
			return NGHTTP2_ERR_DEFERRED;
		}
		if (st->stage == NULL && (st->stage = malloc(STAGE_SIZE)) == NULL)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		struct body_step step = {.len = 0};
		if (p->produce(p->ctx, st->stage, STAGE_SIZE, &step) != 0) {
			kw_log_info("read_generated: stream %d: the generated body failed",
			            (int)st->id);
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		}
		st->stage_len = step.len;
		st->stage_off = 0;
		st->produced_end = step.end;
	}
	size_t left = st->stage_len - st->stage_off;
	size_t n = left < length ? left : length;
	memcpy(buf, st->stage + st->stage_off, n);
	st->stage_off += n;
	st->body_sent += n;
	if (st->produced_end && st->stage_off == st->stage_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/*
 * How much of the body the next DATA frame carries: segments (memory, files) go as
 * no-copy data, written in on_send_data; a generated body after them is copied.
 */
static ssize_t
on_read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
             nghttp2_data_source *source, void *arg)
{
	struct h2_stream *st = source->ptr;
	const bool generated = body_producer_present(&st->resp.producer);
	if (st->body_left == 0 && generated)
		return read_generated(st, buf, length, flags);
	size_t n = st->body_left < length ? (size_t)st->body_left : length;
	*flags |= NGHTTP2_DATA_FLAG_NO_COPY;
	if (n == st->body_left && !generated)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static int
on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
	struct h2_session *s = arg;
	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct h2_stream *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	st->id = frame->hd.stream_id;
	h2_request_fields_init(&st->fields);
	http_response_init(&st->resp);
	TAILQ_INSERT_TAIL(&s->streams, st, link);
	nghttp2_session_set_stream_user_data(ng, st->id, st);
	return 0;
}

static int
on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name, size_t name_len,
          const uint8_t *value, size_t value_len, uint8_t flags, void *arg)
{
	struct h2_session *s = arg;
	struct h2_stream *st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	if (st == NULL || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	int rc = h2_request_fields_add(&st->fields, name, name_len, value, value_len,
	                               s->cfg->http2.max_header_list_size);
	if (rc == 1) {
		session_fail(s, NGHTTP2_ENHANCE_YOUR_CALM, "header list too large");
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	return rc == 0 ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

/* Builds and submits st's response: the request handler's, or an error page. */
static int
respond(struct h2_session *s, struct h2_stream *st)
{
	int rc = h2_request_fields_finish(&st->fields, &st->req);
	if (rc == 0 && st->req.content_length > s->cfg->http.max_body_size)
		rc = -413;
	st->have_req = rc == 0 || rc == -413;
	if (rc == 0)
		s->host->respond(s->host, &st->req, &st->resp);
	else
		http_error_response(-rc, st->have_req ? &st->req : NULL, s->loop->wall, &st->resp);
	st->responded = true;
	if (h2_response_fields_make(&s->rf, &st->resp) != 0) {
		http_response_fail(&st->resp, st->have_req ? &st->req : NULL, s->loop->wall);
		if (h2_response_fields_make(&s->rf, &st->resp) != 0)
			return nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, st->id,
			                                 NGHTTP2_INTERNAL_ERROR);
	}
	for (size_t i = 0; i < st->resp.n_segments; i++)
		st->body_left += st->resp.segments[i].len;
	nghttp2_data_provider body = {.source.ptr = st, .read_callback = on_read_body};
	const bool has_body = st->body_left > 0 || body_producer_present(&st->resp.producer);
	st->sending = true;
	s->n_sending++;
	return nghttp2_submit_response(s->ng, st->id, s->rf.nv, s->rf.n, has_body ? &body : NULL);
}

/*
 * Frames that serve no request; too many of them per second is a flood. The SETTINGS
 * of the client's preface is not one of them.
 */
static bool
is_overhead(struct h2_session *s, const nghttp2_frame *frame)
{
	switch (frame->hd.type) {
	case NGHTTP2_PING:
		return !(frame->hd.flags & NGHTTP2_FLAG_ACK);
	case NGHTTP2_SETTINGS:
		if (frame->hd.flags & NGHTTP2_FLAG_ACK)
			return false;
		if (!s->settings_seen) {
			s->settings_seen = true;
			return false;
		}
		return true;
	case NGHTTP2_PRIORITY:
	case NGHTTP2_RST_STREAM:
		return true;
	case NGHTTP2_DATA:
		return frame->hd.length == 0 && !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM);
	default:
		return false;
	}
}

static void
count_overhead(struct h2_session *s)
{
	if (s->loop->now - s->flood_start >= FLOOD_WINDOW_MS) {
		s->flood_start = s->loop->now;
		s->flood_count = 0;
	}
	if (++s->flood_count > s->cfg->http2.max_control_frames)
		session_fail(s, NGHTTP2_ENHANCE_YOUR_CALM, "flood of frames that serve no request");
}

/* Stream resets, counted per reset_interval: past max_resets, a rapid reset attack. */
static void
count_reset(struct h2_session *s)
{
	if (s->loop->now - s->reset_start >= s->cfg->http2.reset_interval_ms) {
		s->reset_start = s->loop->now;
		s->reset_count = 0;
	}
	if (++s->reset_count > s->cfg->http2.max_resets)
		session_fail(s, NGHTTP2_ENHANCE_YOUR_CALM, "too many stream resets (rapid reset)");
}

static int
on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
	struct h2_session *s = arg;
	if (is_overhead(s, frame))
		count_overhead(s);
	if (frame->hd.type == NGHTTP2_RST_STREAM)
		count_reset(s);
	if (frame->hd.type == NGHTTP2_SETTINGS && (frame->hd.flags & NGHTTP2_FLAG_ACK))
		kw_timer_disarm(&s->settings_timer);
	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct h2_stream *st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	if (st == NULL || st->responded)
		return 0;
	int rc = respond(s, st);
	return rc == 0 || rc == NGHTTP2_ERR_INVALID_ARGUMENT ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

/* Request bodies are read and dropped; one larger than http.max_body_size resets its stream. */
static int
on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *arg)
{
	struct h2_session *s = arg;
	struct h2_stream *st = nghttp2_session_get_stream_user_data(ng, id);
	if (st == NULL || (st->received += len) <= s->cfg->http.max_body_size)
		return 0;
	return nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL) == 0
	           ? 0
	           : NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int
on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
	struct h2_session *s = arg;
	if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	struct h2_stream *st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	if (st != NULL && st->sending) {
		st->sending = false;
		s->n_sending--;
	}
	return 0;
}

static int
on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *arg)
{
	struct h2_session *s = arg;
	struct h2_stream *st = nghttp2_session_get_stream_user_data(ng, id);
	if (st != NULL)
		stream_free(s, st);
	return 0;
}

static void
settings_timeout(struct kw_timer *t)
{
	struct h2_session *s = container_of(t, struct h2_session, settings_timer);
	session_fail(s, NGHTTP2_SETTINGS_TIMEOUT, "SETTINGS not acknowledged in time");
	s->host->wake(s->host);
}

static int
session_setup(struct h2_session *s)
{
	const struct kw_config *cfg = s->cfg;
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;
	if (nghttp2_session_callbacks_new(&cb) != 0)
		return KW_ERR_NOMEM;
	nghttp2_session_callbacks_set_send_callback(cb, on_send);
	nghttp2_session_callbacks_set_send_data_callback(cb, on_send_data);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	if (nghttp2_option_new(&opt) != 0) {
		nghttp2_session_callbacks_del(cb);
		return KW_ERR_NOMEM;
	}
	/* resets are counted here (count_reset); nghttp2's own bucket is a looser backstop */
	uint64_t rate = (uint64_t)cfg->http2.max_resets * 2000u / cfg->http2.reset_interval_ms;
	nghttp2_option_set_stream_reset_rate_limit(opt, 2u * cfg->http2.max_resets,
	                                           rate > 0 ? rate : 1);
	nghttp2_option_set_max_continuations(opt, cfg->http2.max_continuations);
	nghttp2_option_set_no_closed_streams(opt, 1);
	int rc = nghttp2_session_server_new2(&s->ng, cb, s, opt);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	if (rc != 0)
		return KW_ERR_NOMEM;
	const nghttp2_settings_entry settings[] = {
	    {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, cfg->http2.max_concurrent_streams},
	    {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, cfg->http2.max_header_list_size},
	    {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, cfg->http2.max_frame_size},
	    {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, cfg->http2.initial_window_size},
	};
	rc = nghttp2_submit_settings(s->ng, NGHTTP2_FLAG_NONE, settings,
	                             sizeof(settings) / sizeof(settings[0]));
	return rc == 0 ? 0 : KW_ERR_NOMEM;
}

struct h2_session *
h2_session_new(const struct kw_config *cfg, struct loop *loop, struct kw_timer_queue *q_settings,
               struct h2_host *host)
{
	struct h2_session *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->cfg = cfg;
	s->loop = loop;
	s->host = host;
	s->flood_start = loop->now;
	s->reset_start = loop->now;
	TAILQ_INIT(&s->streams);
	kw_timer_init(&s->settings_timer, settings_timeout);
	if (session_setup(s) != 0) {
		h2_session_free(s);
		return NULL;
	}
	loop_timer_arm(loop, &s->settings_timer, q_settings);
	return s;
}

void
h2_session_free(struct h2_session *s)
{
	struct h2_stream *st;
	if (s == NULL)
		return;
	kw_timer_disarm(&s->settings_timer);
	nghttp2_session_del(s->ng);
	while ((st = TAILQ_FIRST(&s->streams)) != NULL)
		stream_free(s, st);
	kw_buf_free(&s->rf.scratch);
	free(s);
}

int
h2_session_recv(struct h2_session *s, const uint8_t *in, size_t len)
{
	ssize_t n = nghttp2_session_mem_recv(s->ng, in, len);
	if (n >= 0)
		return 0;
	session_fail(s,
	             n == NGHTTP2_ERR_FLOODED || n == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS
	                 ? NGHTTP2_ENHANCE_YOUR_CALM
	                 : NGHTTP2_PROTOCOL_ERROR,
	             nghttp2_strerror((int)n));
	return n == NGHTTP2_ERR_NOMEM || n == NGHTTP2_ERR_CALLBACK_FAILURE ? KW_ERR_INTERNAL
	                                                                   : KW_ERR_ARGUMENT;
}

enum send_status
h2_session_send(struct h2_session *s, struct sender *snd)
{
	struct record_writer w;
	struct h2_stream *x;
	bool deferred = false;
	TAILQ_FOREACH(x, &s->streams, link)
	{
		if (x->deferred) {
			x->deferred = false;
			nghttp2_session_resume_data(s->ng, x->id);
		}
	}
	record_writer_start(&w, snd);
	s->w = &w;
	int rc = nghttp2_session_send(s->ng);
	s->w = NULL;
	enum send_status st = record_writer_flush(&w);
	if (st == SEND_ERROR)
		return SEND_ERROR;
	if (rc != 0) {
		if (s->why == NULL)
			s->why = nghttp2_strerror(rc);
		snd->err = (struct send_error){.level = KW_LOG_INFO, .why = s->why};
		return SEND_ERROR;
	}
	TAILQ_FOREACH(x, &s->streams, link)
	deferred = deferred || x->deferred;
	return st == SEND_WAIT || deferred || (w.budget == 0 && nghttp2_session_want_write(s->ng))
	           ? SEND_WAIT
	           : SEND_DONE;
}

bool
h2_session_busy(const struct h2_session *s)
{
	return s->n_sending > 0;
}

bool
h2_session_finished(const struct h2_session *s)
{
	return !nghttp2_session_want_read(s->ng) && !nghttp2_session_want_write(s->ng);
}

void
h2_session_terminate(struct h2_session *s, uint32_t code, const char *why)
{
	session_fail(s, code, why);
}

void
h2_session_shutdown(struct h2_session *s)
{
	nghttp2_submit_goaway(s->ng, NGHTTP2_FLAG_NONE,
	                      nghttp2_session_get_last_proc_stream_id(s->ng), NGHTTP2_NO_ERROR,
	                      NULL, 0);
}

const char *
h2_session_why(const struct h2_session *s)
{
	return s->why;
}

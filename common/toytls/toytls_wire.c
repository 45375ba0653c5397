#include "toytls_wire.h"

#include <string.h>

#include "err.h"
#include "toytls.h"

void
tt_record_reader_init(struct tt_record_reader *r, uint32_t max_len)
{
	*r = (struct tt_record_reader){.max_len = max_len};
}

int
tt_record_reader_feed(struct tt_record_reader *r, const uint8_t *data, size_t len, size_t *consumed)
{
	size_t used = 0;
	int ret = 0;

	if (r->header_have < TT_RECORD_HEADER_LEN) {
		size_t n = TT_RECORD_HEADER_LEN - r->header_have;
		if (n > len)
			n = len;
		if (n > 0)
			memcpy(r->header + r->header_have, data, n);
		r->header_have += n;
		used += n;
		if (r->header_have < TT_RECORD_HEADER_LEN)
			goto out;
		r->body_len = tt_load_u32(r->header);
	}
	if (r->body_len > r->max_len) {
		ret = KW_ERR_RECORD_TOO_LARGE;
		goto out;
	}
	size_t have = kw_buf_size(&r->body);
	size_t n = r->body_len - have;
	if (n > len - used)
		n = len - used;
	if (n > 0) {
		if (have == 0 && (ret = kw_buf_reserve(&r->body, r->body_len)) != 0)
			goto out;
		memcpy(kw_buf_tail(&r->body), data + used, n);
		kw_buf_commit(&r->body, n);
		used += n;
	}
	ret = kw_buf_size(&r->body) == r->body_len;
out:
	*consumed = used;
	return ret;
}

const uint8_t *
tt_record_reader_payload(const struct tt_record_reader *r, size_t *len)
{
	*len = kw_buf_size(&r->body);
	return *len > 0 ? kw_buf_head(&r->body) : r->header;
}

void
tt_record_reader_next(struct tt_record_reader *r)
{
	kw_buf_reset(&r->body);
	r->header_have = 0;
	r->body_len = 0;
}

void
tt_record_reader_dispose(struct tt_record_reader *r)
{
	kw_buf_dispose(&r->body);
	r->header_have = 0;
	r->body_len = 0;
}

int
tt_record_write(struct kw_buf *out, const uint8_t *payload, size_t len)
{
	if (len > UINT32_MAX)
		return KW_ERR_ARGUMENT;
	int err = kw_buf_reserve(out, TT_RECORD_HEADER_LEN + len);
	if (err)
		return err;
	uint8_t *p = kw_buf_tail(out);
	tt_store_u32(p, (uint32_t)len);
	if (len > 0)
		memcpy(p + TT_RECORD_HEADER_LEN, payload, len);
	kw_buf_commit(out, TT_RECORD_HEADER_LEN + len);
	return 0;
}

int
tt_field_next(const uint8_t *payload, size_t len, size_t *pos, struct tt_field *field)
{
	if (*pos == len)
		return 0;
	if (*pos > len || len - *pos < TT_FIELD_HEADER_LEN)
		return KW_ERR_TLV_TRUNCATED;
	const uint8_t *p = payload + *pos;
	uint32_t vlen = tt_load_u32(p + 2);
	if (vlen > len - *pos - TT_FIELD_HEADER_LEN)
		return KW_ERR_TLV_TRUNCATED;
	field->tag = (uint16_t)(p[0] << 8 | p[1]);
	field->len = vlen;
	field->value = p + TT_FIELD_HEADER_LEN;
	*pos += TT_FIELD_HEADER_LEN + vlen;
	return 1;
}

int
tt_field_write(struct kw_buf *out, uint16_t tag, const uint8_t *value, size_t len)
{
	if (len > UINT32_MAX - TT_FIELD_HEADER_LEN)
		return KW_ERR_TLV_OVERLONG;
	int err = kw_buf_reserve(out, TT_FIELD_HEADER_LEN + len);
	if (err)
		return err;
	uint8_t *p = kw_buf_tail(out);
	p[0] = (uint8_t)(tag >> 8);
	p[1] = (uint8_t)tag;
	tt_store_u32(p + 2, (uint32_t)len);
	if (len > 0)
		memcpy(p + TT_FIELD_HEADER_LEN, value, len);
	kw_buf_commit(out, TT_FIELD_HEADER_LEN + len);
	return 0;
}

/*
 * toytls_wire.h - the toy-TLS v1 framing: records (length:u32 || payload) and
 * handshake fields (tag:u16 || length:u32 || value). Pure byte code, no crypto.
 */
#ifndef KW_TOYTLS_WIRE_H
#define KW_TOYTLS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/*
 * Incremental record reader. Bytes are fed in any split; the 4-byte length header
 * is checked against max_len as soon as it is complete, before any of the body is
 * buffered, and the body buffer is sized to exactly that record.
 */
struct tt_record_reader {
	uint8_t header[4];
	size_t header_have;
	uint32_t body_len;
	struct kw_buf body; /* holds the body of the record being read */
	uint32_t max_len;
};

/** Sets the largest acceptable payload length. */
void tt_record_reader_init(struct tt_record_reader *r, uint32_t max_len);

/**
 * Consumes bytes from data[0, len) until one record is complete or input runs out.
 * Sets *consumed to the bytes taken. Returns 1 when a whole record is ready (read it
 * with tt_record_reader_payload(), then call tt_record_reader_next()), 0 when more
 * input is needed, or KW_ERR_RECORD_TOO_LARGE / KW_ERR_NOMEM.
 */
int tt_record_reader_feed(struct tt_record_reader *r, const uint8_t *data, size_t len,
                          size_t *consumed);

/** The complete record's payload, valid until tt_record_reader_next(). */
const uint8_t *tt_record_reader_payload(const struct tt_record_reader *r, size_t *len);

/** Discards the complete record and gets ready for the next one. */
void tt_record_reader_next(struct tt_record_reader *r);

/** Frees (and cleanses) the reader's buffer. */
void tt_record_reader_dispose(struct tt_record_reader *r);

/**
 * Appends a whole record (header and payload) to out. Returns 0, KW_ERR_NOMEM, or
 * KW_ERR_ARGUMENT when len does not fit the u32 length header.
 */
int tt_record_write(struct kw_buf *out, const uint8_t *payload, size_t len);

/** A handshake field as found in a payload; value points into the payload. */
struct tt_field {
	uint16_t tag;
	uint32_t len;
	const uint8_t *value;
};

/**
 * Reads the field at *pos in payload[0, len) and advances *pos past it.
 * Returns 1 when a field was read, 0 at the end of the payload, or
 * KW_ERR_TLV_TRUNCATED when a header or value runs past the payload.
 */
int tt_field_next(const uint8_t *payload, size_t len, size_t *pos, struct tt_field *field);

/** Appends a field to out. Returns 0 or KW_ERR_NOMEM / KW_ERR_TLV_OVERLONG. */
int tt_field_write(struct kw_buf *out, uint16_t tag, const uint8_t *value, size_t len);

/** Big-endian helpers. */
static inline uint32_t
tt_load_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void
tt_store_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint64_t
tt_load_u64(const uint8_t *p)
{
	return (uint64_t)tt_load_u32(p) << 32 | tt_load_u32(p + 4);
}

static inline void
tt_store_u64(uint8_t *p, uint64_t v)
{
	tt_store_u32(p, (uint32_t)(v >> 32));
	tt_store_u32(p + 4, (uint32_t)v);
}

#endif

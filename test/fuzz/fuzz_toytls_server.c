/*
 * Fuzzes the toy-TLS server side with arbitrary client bytes: record framing, the
 * ClientHello field decoder, and (after a fake signature) application records.
 * The first input byte chooses how the rest is split into feeds.
 */
#include <stdint.h>
#include <string.h>

#include "toytls_conn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t cert_field[] = {0x00, 0x20, 0x00, 0x00, 0x00, 0x01, 0x30};

static const struct tt_identity identity = {
	.key_id = 0,
	.scheme = TT_SCHEME_ED25519,
	.cert_fields = cert_field,
	.cert_fields_len = sizeof(cert_field),
};

static const struct tt_identity *
select_identity(void *arg, const char *server_name)
{
	(void)arg;
	(void)server_name;
	return &identity;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t step = data[0] % 64 + 1;
	data++;
	size--;
	struct tt_server_params params = {.select_identity = select_identity,
	                                  .max_handshake_record = 4096};
	struct tt_conn *c = tt_conn_new_server(&params);
	if (c == NULL)
		return 0;
	uint8_t sig[64] = {0};
	for (size_t off = 0; off < size; off += step) {
		size_t n = size - off < step ? size - off : step;
		if (tt_conn_feed(c, data + off, n) < 0)
			break;
		struct tt_sign_request req;
		if (tt_conn_sign_request(c, &req) && tt_conn_supply_signature(c, sig, sizeof(sig)) < 0)
			break;
		kw_buf_reset(tt_conn_wire(c));
		kw_buf_reset(tt_conn_plaintext(c));
	}
	tt_conn_free(c);
	return 0;
}

/*
 * Fuzzes the application record layer: the incremental record reader (length
 * header checks) and record opening (sequence and tag checks) with a fixed key.
 */
#include <stdint.h>

#include "toytls.h"
#include "toytls_record.h"
#include "toytls_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[32] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct tt_record_reader reader;
	struct tt_record_dir dir;
	struct kw_buf plaintext = {0};
	tt_record_reader_init(&reader, TT_MAX_APP_RECORD);
	if (tt_record_dir_init(&dir, &tt_aes256gcm, key) < 0)
		return 0;
	while (size > 0) {
		size_t consumed = 0;
		int rc = tt_record_reader_feed(&reader, data, size, &consumed);
		data += consumed;
		size -= consumed;
		if (rc <= 0)
			break;
		size_t len;
		const uint8_t *payload = tt_record_reader_payload(&reader, &len);
		if (tt_record_open(&dir, payload, len, &plaintext) < 0)
			break;
		tt_record_reader_next(&reader);
	}
	tt_record_reader_dispose(&reader);
	tt_record_dir_dispose(&dir);
	kw_buf_dispose(&plaintext);
	return 0;
}

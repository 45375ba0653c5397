/*
 * Fuzzes the signer's request decoder: whatever a compromised worker sends, the
 * decoder either accepts a well-formed request that re-encodes to the same bytes,
 * or refuses it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "signer_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_sign_request req;
	if (sp_decode_sign_request(data, size, &req) != 0)
		return 0;
	uint8_t again[SP_SIGN_REQUEST_LEN];
	size_t n = sp_encode_sign_request(&req, again);
	if (n != size || memcmp(again, data, n) != 0)
		abort();
	return 0;
}

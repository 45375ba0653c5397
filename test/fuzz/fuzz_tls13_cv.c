/*
 * Fuzzes the worker's check of the content libssl asks it to sign: whatever a
 * client's handshake leads libssl to pass, the check accepts only the TLS 1.3 server
 * CertificateVerify shape, and what it accepts rebuilds to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls13_cv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *hash;
	size_t hash_len;
	if (tls13_cv_parse(data, size, &hash, &hash_len) != 0)
		return 0;
	uint8_t again[TLS13_CV_MAX_CONTENT_LEN];
	if (!tls13_cv_hash_len_ok(hash_len) || tls13_cv_content(hash, hash_len, again) != size ||
	    memcmp(again, data, size) != 0)
		abort();
	return 0;
}

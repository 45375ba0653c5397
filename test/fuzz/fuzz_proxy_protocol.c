/*
 * Fuzzes the PROXY protocol parser: the whole input at once, then the same bytes fed
 * to a reader in pieces (sizes taken from the first byte); both must agree on the
 * outcome, the header's length and the address, and never claim more than was given.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy_protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_header whole, pieces;
	const char *why = NULL;
	if (size < 1)
		return 0;
	const size_t step = (size_t)data[0] % 32 + 1;
	data++;
	size--;
	int rc = proxy_parse(data, size, &whole, &why);
	if (rc > 0 && ((size_t)rc > size || (size_t)rc > PROXY_HEADER_MAX))
		abort();
	if (rc > 0 && whole.has_addr && whole.src.ss_family != AF_INET &&
	    whole.src.ss_family != AF_INET6)
		abort();

	struct proxy_reader r = {0};
	size_t off = 0, used = 0;
	int got = 0;
	while (off < size && got == 0) {
		const size_t n = size - off < step ? size - off : step;
		got = proxy_reader_feed(&r, data + off, n, &pieces, &used, &why);
		if (got == 1 && (used > n || off + used != (size_t)rc))
			abort();
		off += n;
	}
	proxy_reader_dispose(&r);
	if ((got == 1) != (rc > 0) || (got < 0) != (rc < 0))
		abort();
	if (got == 1 && (pieces.has_addr != whole.has_addr ||
	                 (whole.has_addr && memcmp(&pieces.src, &whole.src, whole.src_len) != 0)))
		abort();
	return 0;
}

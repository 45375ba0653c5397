/*
 * Fuzzes the HTTP/1.1 request parser and body framing: heads, possibly pipelined,
 * each followed by its body; every request found must carry a normalised path.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_limits limits = {.max_request_line = 1024, .max_header_size = 4096,
	                             .max_header_count = 32, .max_body_size = 65536};
	struct http_parser parser;
	http_parser_init(&parser, &limits);
	while (size > 0) {
		struct http_request req;
		size_t consumed = 0;
		if (http_parse_request(&parser, data, size, &consumed, &req) != 1)
			break;
		if (req.path[0] != '/' || strstr(req.path, "/../") != NULL || strstr(req.path, "//"))
			abort();
		data += consumed;
		size -= consumed;
		struct http_body body;
		http_body_init(&body, &req, limits.max_body_size);
		int rc = http_body_discard(&body, data, size, &consumed);
		data += consumed;
		size -= consumed;
		if (rc != 1)
			break;
	}
	http_parser_dispose(&parser);
	return 0;
}

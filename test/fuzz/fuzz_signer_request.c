/*
 * Fuzzes the signer's request decoder (toy-TLS and TLS 1.3 CertificateVerify):
 * whatever a compromised worker sends, the decoder either accepts a well-formed
 * request that re-encodes to the same bytes, or refuses it. An accepted TLS 1.3
 * request always has a hash of a suite's length and a scheme some key type signs with.
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
	if (req.kind == SP_KIND_TLS13_CV &&
	    (!tls13_cv_hash_len_ok(req.tls13.hash_len) ||
	     !(tls13_scheme_fits(req.tls13.scheme, TT_SCHEME_RSA_PSS_SHA256) ||
	       tls13_scheme_fits(req.tls13.scheme, TT_SCHEME_ECDSA_P256_SHA256) ||
	       tls13_scheme_fits(req.tls13.scheme, TT_SCHEME_ED25519))))
		abort();
	uint8_t again[SP_SIGN_REQUEST_LEN];
	size_t n = sp_encode_sign_request(&req, again);
	if (n != size || memcmp(again, data, n) != 0)
		abort();
	return 0;
}

#include "err.h"

#include <string.h>

enum kw_err_family
kw_err_family(int code)
{
	if (code >= KW_ERRNO_MIN && code <= KW_ERRNO_MAX)
		return KW_FAMILY_ERRNO;
	if (code >= KW_HTTP_ERR_MIN && code <= KW_HTTP_ERR_MAX)
		return KW_FAMILY_HTTP;
	if (code >= KW_ERR_MIN && code <= KW_ERR_MAX)
		return KW_FAMILY_KW;
	return KW_FAMILY_NONE;
}

const char *
kw_strerror(int err)
{
	switch (kw_err_family(err)) {
	case KW_FAMILY_ERRNO:
		return strerror(-err);
	case KW_FAMILY_HTTP:
		return err > -500 ? "HTTP client error status" : "HTTP server error status";
	case KW_FAMILY_KW:
	case KW_FAMILY_NONE:
		break;
	}
	switch ((enum kw_err)err) {
	case KW_OK: return "success";
	case KW_ERR_NOMEM: return "out of memory";
	case KW_ERR_INTERNAL: return "internal error";
	case KW_ERR_STATE: return "operation not allowed in this state";
	case KW_ERR_ARGUMENT: return "invalid argument";
	case KW_ERR_RECORD_TOO_LARGE: return "record length over the limit";
	case KW_ERR_RECORD_TOO_SHORT: return "record shorter than 36 bytes";
	case KW_ERR_BAD_SEQUENCE: return "unexpected record sequence number";
	case KW_ERR_DECRYPT: return "record authentication failed";
	case KW_ERR_SEQ_OVERFLOW: return "record sequence number would overflow";
	case KW_ERR_EMPTY_RECORDS: return "too many empty records in a row";
	case KW_ERR_TLV_TRUNCATED: return "truncated handshake field";
	case KW_ERR_TLV_OVERLONG: return "overlong handshake field";
	case KW_ERR_NO_KEY_SHARE: return "no X25519 key share";
	case KW_ERR_KEY_SHARE_LENGTH: return "X25519 key share is not 32 bytes";
	case KW_ERR_KEY_SHARE_INVALID: return "X25519 key share is all-zero or of low order";
	case KW_ERR_BAD_SERVER_NAME: return "malformed server_name";
	case KW_ERR_UNEXPECTED_MESSAGE: return "unexpected message";
	case KW_ERR_NO_CERTIFICATE: return "no certificate in ServerAuth";
	case KW_ERR_NO_SIGNATURE: return "no signature in ServerAuth";
	case KW_ERR_CERT_PARSE: return "certificate is not valid DER";
	case KW_ERR_CERT_UNTRUSTED: return "certificate chain does not lead to a trusted root";
	case KW_ERR_CERT_EXPIRED: return "certificate expired or not yet valid";
	case KW_ERR_CERT_NAME: return "certificate does not match the server name";
	case KW_ERR_CERT_INVALID: return "certificate chain invalid";
	case KW_ERR_BAD_SIGNATURE: return "handshake signature does not verify";
	case KW_ERR_UNSUPPORTED_KEY: return "unsupported key type";
	case KW_ERR_SIGN_FAILED: return "signer refused or failed the signature";
	case KW_ERR_SIGN_TIMEOUT: return "signer did not answer in time";
	case KW_ERR_TLS_HANDSHAKE: return "TLS handshake failed";
	case KW_ERR_TLS_RECORD: return "TLS record refused";
	case KW_ERR_PROXY_HEADER: return "missing or malformed PROXY protocol header";
	}
	return "unknown error";
}

/*
 * err.h - keyward's one error convention.
 *
 * Every fallible function returns 0 (KW_OK) on success or one of the negative
 * codes below. Each failure a peer can cause has its own code, so that a test can
 * assert exactly why a connection was refused and a log line can say it in words.
 */
#ifndef KW_ERR_H
#define KW_ERR_H

enum kw_err {
	KW_OK = 0,

	/* local conditions */
	KW_ERR_NOMEM = -1,            /* allocation failed */
	KW_ERR_INTERNAL = -2,         /* libcrypto or a system call failed for no fault of the peer */
	KW_ERR_STATE = -3,            /* call not allowed in this state (includes: session already failed) */
	KW_ERR_ARGUMENT = -4,         /* caller passed an invalid argument */

	/* record layer */
	KW_ERR_RECORD_TOO_LARGE = -10, /* length header announces more than the configured maximum */
	KW_ERR_RECORD_TOO_SHORT = -11, /* application record payload shorter than 36 bytes */
	KW_ERR_BAD_SEQUENCE = -12,     /* application record sequence number is not the expected one */
	KW_ERR_DECRYPT = -13,          /* AES-GCM tag check failed */
	KW_ERR_SEQ_OVERFLOW = -14,     /* a sequence counter would wrap */

	/* handshake field codec */
	KW_ERR_TLV_TRUNCATED = -20,    /* a field header or value runs past the payload */
	KW_ERR_TLV_OVERLONG = -21,     /* a field is longer than its type allows */
	KW_ERR_NO_KEY_SHARE = -22,     /* no X25519 public key field */
	KW_ERR_KEY_SHARE_LENGTH = -23, /* X25519 public key is not exactly 32 bytes */
	KW_ERR_KEY_SHARE_INVALID = -24,/* X25519 public key is all-zero or of low order */
	KW_ERR_BAD_SERVER_NAME = -25,  /* server_name field empty, too long, non-ASCII or with a trailing dot */
	KW_ERR_UNEXPECTED_MESSAGE = -26, /* bytes arrived that this state does not allow */

	/* server authentication, as checked by a client */
	KW_ERR_NO_CERTIFICATE = -30,   /* ServerAuth carries no certificate */
	KW_ERR_NO_SIGNATURE = -31,     /* ServerAuth carries no CertificateVerify */
	KW_ERR_CERT_PARSE = -32,       /* a certificate is not valid DER X.509 */
	KW_ERR_CERT_UNTRUSTED = -33,   /* the chain does not lead to a trusted root */
	KW_ERR_CERT_EXPIRED = -34,     /* a certificate is outside its validity period */
	KW_ERR_CERT_NAME = -35,        /* the leaf is not valid for the dialed DNS name */
	KW_ERR_CERT_INVALID = -36,     /* any other chain failure (CA constraints, purpose, ...) */
	KW_ERR_BAD_SIGNATURE = -37,    /* the CertificateVerify does not verify with the leaf key */
	KW_ERR_UNSUPPORTED_KEY = -38,  /* key type is none of RSA, ECDSA P-256, Ed25519 */

	/* server side */
	KW_ERR_SIGN_FAILED = -40,      /* the signer refused or failed the signing request */
	KW_ERR_SIGN_TIMEOUT = -41,     /* the signer did not answer within the signing timeout */
};

/** Returns a static, human-readable description of an error code (never NULL). */
const char *kw_strerror(int err);

#endif

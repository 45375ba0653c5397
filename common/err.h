/*
 * err.h - keyward's one error convention.
 *
 * A fallible function returns 0 (KW_OK) on success or a negative code. Codes come in
 * three families, each in its own range, so that no value means two things and a code
 * passed upward still says what it is:
 *
 *   -1 .. -399      -errno, from code that wraps system calls and says so in its doc
 *                   comment (ctl_send, ctl_recv, ...). Linux's errno values end at 133.
 *   -400 .. -599    a negated HTTP error status, from the HTTP library's request and
 *                   body parsers (-400, -413, ...): the connection answers with it.
 *   -1000 .. -1999  enum kw_err below: every other failure. Each failure a peer can
 *                   cause has its own code, so that a test can assert exactly why a
 *                   connection was refused and a log line can say it in words.
 *
 * Each function's doc comment names the families it returns; positive results (counts,
 * "1: complete", a 304 or 412 precondition outcome) are the function's own. A small
 * helper documented as returning -1 only says that it failed (having logged why): that
 * -1 is not -EPERM and is never passed on as a code. kw_strerror() and kw_err_family()
 * take a code of any family.
 */
#ifndef KW_ERR_H
#define KW_ERR_H

/* The families' ranges, inclusive. */
#define KW_ERRNO_MIN (-399)
#define KW_ERRNO_MAX (-1)
#define KW_HTTP_ERR_MIN (-599)
#define KW_HTTP_ERR_MAX (-400)
#define KW_ERR_MIN (-1999)
#define KW_ERR_MAX (-1000)

enum kw_err {
	KW_OK = 0,

	/* local conditions */
	KW_ERR_NOMEM = -1001,            /* allocation failed */
	KW_ERR_INTERNAL = -1002,         /* libcrypto or a system call failed for no fault of the peer */
	KW_ERR_STATE = -1003,            /* call not allowed in this state (includes: session already failed) */
	KW_ERR_ARGUMENT = -1004,         /* caller passed an invalid argument */

	/* record layer */
	KW_ERR_RECORD_TOO_LARGE = -1010, /* length header announces more than the configured maximum */
	KW_ERR_RECORD_TOO_SHORT = -1011, /* application record payload shorter than 36 bytes */
	KW_ERR_BAD_SEQUENCE = -1012,     /* application record sequence number is not the expected one */
	KW_ERR_DECRYPT = -1013,          /* AES-GCM tag check failed */
	KW_ERR_SEQ_OVERFLOW = -1014,     /* a sequence counter would wrap */
	KW_ERR_EMPTY_RECORDS = -1015,    /* more than TT_MAX_EMPTY_RECORDS empty records in a row */

	/* handshake field codec */
	KW_ERR_TLV_TRUNCATED = -1020,    /* a field header or value runs past the payload */
	KW_ERR_TLV_OVERLONG = -1021,     /* a field is longer than its type allows */
	KW_ERR_NO_KEY_SHARE = -1022,     /* no X25519 public key field */
	KW_ERR_KEY_SHARE_LENGTH = -1023, /* X25519 public key is not exactly 32 bytes */
	KW_ERR_KEY_SHARE_INVALID = -1024,/* X25519 public key is all-zero or of low order */
	KW_ERR_BAD_SERVER_NAME = -1025,  /* server_name field empty, too long, non-ASCII or with a trailing dot */
	KW_ERR_UNEXPECTED_MESSAGE = -1026, /* bytes arrived that this state does not allow */

	/* server authentication, as checked by a client */
	KW_ERR_NO_CERTIFICATE = -1030,   /* ServerAuth carries no certificate */
	KW_ERR_NO_SIGNATURE = -1031,     /* ServerAuth carries no CertificateVerify */
	KW_ERR_CERT_PARSE = -1032,       /* a certificate is not valid DER X.509 */
	KW_ERR_CERT_UNTRUSTED = -1033,   /* the chain does not lead to a trusted root */
	KW_ERR_CERT_EXPIRED = -1034,     /* a certificate is outside its validity period */
	KW_ERR_CERT_NAME = -1035,        /* the leaf is not valid for the dialed DNS name */
	KW_ERR_CERT_INVALID = -1036,     /* any other chain failure (CA constraints, purpose, ...) */
	KW_ERR_BAD_SIGNATURE = -1037,    /* the CertificateVerify does not verify with the leaf key */
	KW_ERR_UNSUPPORTED_KEY = -1038,  /* key type is none of RSA, ECDSA P-256, Ed25519 */

	/* server side */
	KW_ERR_SIGN_FAILED = -1040,      /* the signer refused or failed the signing request */
	KW_ERR_SIGN_TIMEOUT = -1041,     /* the signer did not answer within the signing timeout */

	/* TLS 1.3 (libssl) */
	KW_ERR_TLS_HANDSHAKE = -1050,    /* libssl failed the handshake (an alert was queued) */
	KW_ERR_TLS_RECORD = -1051,       /* libssl refused a record after the handshake */

	/* PROXY protocol */
	KW_ERR_PROXY_HEADER = -1060,     /* a required PROXY protocol header is missing or malformed */
};

/** The family of a code: which of the ranges above it lies in. */
enum kw_err_family {
	KW_FAMILY_NONE,  /* 0, a positive value, or a negative one outside every range */
	KW_FAMILY_ERRNO, /* -errno */
	KW_FAMILY_HTTP,  /* a negated HTTP error status */
	KW_FAMILY_KW,    /* enum kw_err */
};

/** Returns the family of code. */
enum kw_err_family kw_err_family(int code);

/**
 * Returns a static, human-readable description of a code of any family (never NULL):
 * strerror's for -errno, the status class for a negated HTTP status.
 */
const char *kw_strerror(int err);

#endif

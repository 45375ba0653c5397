/*
 * toytls.h - constants of the toy-TLS v1 wire protocol (see README, "toy-TLS").
 *
 * All integers on the wire are big-endian.
 */
#ifndef KW_TOYTLS_H
#define KW_TOYTLS_H

#define TT_RECORD_HEADER_LEN 4u        /* length:u32 */
#define TT_FIELD_HEADER_LEN 6u         /* tag:u16 || length:u32 */

#define TT_TAG_X25519 0x0010u          /* X25519 public key, 32 bytes */
#define TT_TAG_SERVER_NAME 0x0011u     /* keyward extension: DNS name, 1..255 ASCII bytes */
#define TT_TAG_CERTIFICATE 0x0020u     /* one X.509 certificate, DER */
#define TT_TAG_CERT_VERIFY 0x0021u     /* signature over client_pub || server_pub */

#define TT_X25519_LEN 32u
#define TT_SIGNATURE_INPUT_LEN 64u     /* client_pub || server_pub */
#define TT_MAX_SIGNATURE_LEN 512u      /* RSA-4096 */
#define TT_MAX_SERVER_NAME_LEN 255u
#define TT_KEY_LEN 32u                 /* AES-256 */
#define TT_NONCE_LEN 12u
#define TT_TAG_LEN 16u
#define TT_SEQ_LEN 8u
#define TT_RECORD_OVERHEAD (TT_SEQ_LEN + TT_NONCE_LEN + TT_TAG_LEN) /* 36 */

#define TT_MAX_PLAINTEXT 16384u        /* largest plaintext keyward puts in one record */
#define TT_MAX_HANDSHAKE_RECORD 65536u /* default limit for a handshake record (certificate chain) */
#define TT_MAX_APP_RECORD (TT_MAX_PLAINTEXT + TT_RECORD_OVERHEAD)
#define TT_MAX_EMPTY_RECORDS 32u       /* empty application records accepted in a row (OpenSSL's bound) */

#define TT_LABEL_CLIENT_KEY "toy tls client write key"
#define TT_LABEL_SERVER_KEY "toy tls server write key"

#endif

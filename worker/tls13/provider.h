/*
 * provider.h - an in-process OpenSSL provider whose keys hold only a public key and
 * the signer's key id: libssl signs the TLS 1.3 CertificateVerify with them, and the
 * signature is made by the signer.
 *
 * The provider offers key management under the names libssl looks for ("RSA", "EC",
 * "ED25519", with the property provider=keyward) and one signature algorithm of its
 * own name (KEYWARD-TLS13-CV), which only its keys use. Its keys export their public
 * half and refuse any export that asks for a private part. Inside DIGEST_SIGN the
 * provider checks what it is asked first: the content must be exactly a TLS 1.3
 * server CertificateVerify content and the scheme (from the key type, the digest and
 * the RSA-PSS parameters libssl set) one the key signs with; otherwise that one
 * signature fails and nothing leaves the process. A checked request goes to the
 * signing function given to tls13_provider_load(), which runs inside libssl's async
 * job and pauses it until the signer answers.
 */
#ifndef KW_TLS13_PROVIDER_H
#define KW_TLS13_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "signer_proto.h"

/** The signature algorithm name of the provider (libssl never asks for it by name). */
#define TLS13_PROVIDER_SIGNATURE "KEYWARD-TLS13-CV"

/**
 * Obtains the signature for a checked request (kind SP_KIND_TLS13_CV, key id, scheme,
 * hash) while libssl's async job runs: it must not block the thread, only pause the
 * job. sig holds TT_MAX_SIGNATURE_LEN bytes. Returns 0 with *sig_len set, or an error
 * (the handshake then fails).
 */
typedef int (*tls13_sign_fn)(const struct sp_sign_request *req, uint8_t *sig, size_t *sig_len);

/**
 * Registers and loads the provider in the default library context, loads the "default"
 * provider explicitly (loading one's own provider stops it loading implicitly) and makes
 * fetches without an explicit provider prefer it, so that only keys made by
 * tls13_provider_key() use this provider. sign is called for every signature. Call once
 * per process. Returns 0 or KW_ERR_INTERNAL.
 */
int tls13_provider_load(tls13_sign_fn sign);

/**
 * A key of this provider for the public key of cert and the signer's key id: what
 * SSL_CTX_use_PrivateKey takes for cert (which checks that they match). The caller owns
 * it. Returns NULL when the key type is none of RSA (2048 bits or more), EC P-256,
 * Ed25519, or on failure.
 */
EVP_PKEY *tls13_provider_key(X509 *cert, uint32_t key_id);

/** Unloads the provider and the default provider (at exit, for leak checkers). */
void tls13_provider_unload(void);

#endif

/*
 * keyfile.h - reading a PEM private key file without leaving copies of it behind.
 *
 * Only the signer (and keyward-inspect, to know what to look for) reads keys; the
 * master and the workers never call this.
 */
#ifndef KW_KEYFILE_H
#define KW_KEYFILE_H

#include <stddef.h>

#include <openssl/evp.h>

/**
 * Reads the PEM private key at path (a regular file of at most 64 KiB) into a buffer
 * of its own, parses it from a memory BIO and cleanses the buffer, so that the key
 * bytes then live only in *out (caller frees). Encrypted keys are refused (no
 * passphrase prompt). Returns 0, or KW_ERR_ARGUMENT / KW_ERR_NOMEM with
 * "key PATH: reason" in err.
 */
int kw_private_key_load(const char *path, EVP_PKEY **out, char *err, size_t err_len);

/**
 * Parses the PEM certificate text pem (the configuration's capture of the file
 * name; NULL when it has none) and returns its public key in *out (caller frees),
 * to check a private key against. Returns 0, or KW_ERR_ARGUMENT / KW_ERR_NOMEM with
 * "certificate NAME: reason" in err.
 */
int kw_certificate_key_parse(const char *pem, const char *name, EVP_PKEY **out, char *err,
                             size_t err_len);

#endif

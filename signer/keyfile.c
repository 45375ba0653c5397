/*
 * keyfile.c - reading a PEM private key file without leaving copies of it behind,
 * and the public key of the certificate that goes with it.
 */
#include "keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "err.h"

#define KEY_FILE_MAX (64u * 1024u)

/* Refuses to prompt for a passphrase: encrypted keys are not supported. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

static const char *
openssl_reason(void)
{
	const char *reason = ERR_reason_error_string(ERR_peek_last_error());

	return reason ? reason : "no detail";
}

/* Reads a whole regular file of at most KEY_FILE_MAX bytes; the caller cleanses and frees. */
static int
read_key_file(const char *path, uint8_t **out, size_t *out_len, char *err, size_t err_len)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	struct stat st;
	int rc = KW_ERR_ARGUMENT;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		snprintf(err, err_len, "key %s: cannot open: %s", path, strerror(errno));
		return KW_ERR_ARGUMENT;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (size_t)st.st_size > KEY_FILE_MAX) {
		snprintf(err, err_len, "key %s: not a regular file of 1 to %u bytes", path,
		         KEY_FILE_MAX);
		goto out;
	}
	buf = malloc((size_t)st.st_size);
	if (!buf) {
		rc = KW_ERR_NOMEM;
		snprintf(err, err_len, "key %s: out of memory", path);
		goto out;
	}
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, err_len, "key %s: cannot read: %s", path,
			         n < 0 ? strerror(errno) : "file shrank while reading");
			OPENSSL_cleanse(buf, len);
			free(buf);
			buf = NULL;
			goto out;
		}
		len += (size_t)n;
	}
	*out = buf;
	*out_len = len;
	rc = 0;
out:
	close(fd);
	return rc;
}

int
kw_private_key_load(const char *path, EVP_PKEY **out, char *err, size_t err_len)
{
	uint8_t *pem = NULL;
	size_t len = 0;
	BIO *bio;
	int rc = read_key_file(path, &pem, &len, err, err_len);

	if (rc)
		return rc;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio) {
		rc = KW_ERR_NOMEM;
		snprintf(err, err_len, "key %s: out of memory", path);
		goto out;
	}
	*out = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	if (!*out) {
		rc = KW_ERR_ARGUMENT;
		snprintf(err, err_len,
		         "key %s: not a PEM private key (or an encrypted one, which is not "
		         "supported): %s",
		         path, openssl_reason());
	}
	BIO_free(bio);
out:
	OPENSSL_cleanse(pem, len);
	free(pem);
	return rc;
}

int
kw_certificate_key_parse(const char *pem, const char *name, EVP_PKEY **out, char *err,
                         size_t err_len)
{
	BIO *bio = pem ? BIO_new_mem_buf(pem, -1) : NULL;
	X509 *cert = NULL;

	if (!bio) {
		snprintf(err, err_len, "certificate %s: %s", name,
		         pem ? "out of memory" : "not in the configuration");
		return pem ? KW_ERR_NOMEM : KW_ERR_ARGUMENT;
	}
	cert = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (!cert) {
		snprintf(err, err_len, "certificate %s: not a PEM certificate: %s", name,
		         openssl_reason());
		return KW_ERR_ARGUMENT;
	}
	*out = X509_get_pubkey(cert);
	X509_free(cert);
	if (!*out) {
		snprintf(err, err_len, "certificate %s: unreadable public key: %s", name,
		         openssl_reason());
		return KW_ERR_ARGUMENT;
	}
	return 0;
}

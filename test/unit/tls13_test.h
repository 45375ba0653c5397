/*
 * tls13_test.h - keys and self-signed certificates made on the fly for the TLS 1.3
 * unit tests, written as PEM files in a temporary directory.
 */
#ifndef KW_TEST_TLS13_TEST_H
#define KW_TEST_TLS13_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/** One test identity: a key pair and its self-signed certificate for name. */
struct test_identity {
	EVP_PKEY *key;
	X509 *cert;
	char cert_path[64];
	char cert_pem[4096]; /* the same certificate as PEM text */
};

static inline EVP_PKEY *
test_keygen(const char *type)
{
	EVP_PKEY *key = strcmp(type, "RSA") == 0
	                    ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
	                : strcmp(type, "EC") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")
	                                          : EVP_PKEY_Q_keygen(NULL, NULL, type);
	cr_assert_not_null(key, "keygen %s", type);
	return key;
}

/* Makes key's self-signed certificate for DNS name, written to a temporary PEM file. */
static inline void
test_identity_make(struct test_identity *id, const char *type, const char *name)
{
	char san[128];
	X509V3_CTX v3;

	id->key = test_keygen(type);
	id->cert = X509_new();
	cr_assert_not_null(id->cert);
	X509_set_version(id->cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(id->cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(id->cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(id->cert), 3600);
	X509_NAME *subject = X509_get_subject_name(id->cert);
	X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1,
	                           0);
	X509_set_issuer_name(id->cert, subject);
	X509_set_pubkey(id->cert, id->key);
	snprintf(san, sizeof(san), "DNS:%s", name);
	X509V3_set_ctx(&v3, id->cert, id->cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
	cr_assert_not_null(ext);
	X509_add_ext(id->cert, ext, -1);
	X509_EXTENSION_free(ext);
	cr_assert(X509_sign(id->cert, id->key, strcmp(type, "ED25519") == 0 ? NULL : EVP_sha256()) >
	          0);
	snprintf(id->cert_path, sizeof(id->cert_path), "/tmp/kw-tls13-test-XXXXXX");
	int fd = mkstemp(id->cert_path);
	cr_assert(fd >= 0);
	FILE *f = fdopen(fd, "w");
	cr_assert_not_null(f);
	cr_assert_eq(PEM_write_X509(f, id->cert), 1);
	fclose(f);
	BIO *mem = BIO_new(BIO_s_mem());
	cr_assert_eq(PEM_write_bio_X509(mem, id->cert), 1);
	int n = BIO_read(mem, id->cert_pem, sizeof(id->cert_pem) - 1);
	cr_assert(n > 0);
	id->cert_pem[n] = '\0';
	BIO_free(mem);
}

static inline void
test_identity_free(struct test_identity *id)
{
	unlink(id->cert_path);
	X509_free(id->cert);
	EVP_PKEY_free(id->key);
}

#endif

/*
 * test_signer_keys.c - the signer's key loading: every supported key type, and each
 * bad key or certificate refused with a message naming the file.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "err.h"
#include "signer/keys.h"

#define CERTS    TEST_DATA_DIR "/certs/"
#define PATH_LEN 256

static char tmp_dir[] = "/tmp/kw-signer-keys-XXXXXX";

static void
make_tmp_dir(void)
{
	cr_assert_not_null(mkdtemp(tmp_dir));
}

static void
remove_tmp_dir(void)
{
	DIR *d = opendir(tmp_dir);
	struct dirent *e;
	char path[PATH_LEN * 2];

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmp_dir, e->d_name);
		if (unlink(path) != 0)
			rmdir(path);
	}
	closedir(d);
	rmdir(tmp_dir);
}

TestSuite(signer_keys, .init = make_tmp_dir, .fini = remove_tmp_dir);

static void
tmp_path(char out[PATH_LEN], const char *name)
{
	snprintf(out, PATH_LEN, "%s/%s", tmp_dir, name);
}

static void
write_key(char out[PATH_LEN], const char *name, EVP_PKEY *key, const char *passphrase)
{
	FILE *f;

	tmp_path(out, name);
	f = fopen(out, "w");
	cr_assert_not_null(f);
	cr_assert_eq(PEM_write_PrivateKey(f, key, passphrase ? EVP_aes_256_cbc() : NULL,
	                                  (unsigned char *)passphrase,
	                                  passphrase ? (int)strlen(passphrase) : 0, NULL, NULL),
	             1);
	fclose(f);
}

/* A self-signed certificate for key. */
static void
write_cert(char out[PATH_LEN], const char *name, EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *subject = X509_NAME_new();
	const EVP_MD *md = EVP_PKEY_is_a(key, "ED25519") ? NULL : EVP_sha256();
	FILE *f;

	cr_assert(x && subject);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
	                           -1, -1, 0);
	X509_set_subject_name(x, subject);
	X509_set_issuer_name(x, subject);
	X509_set_pubkey(x, key);
	cr_assert_gt(X509_sign(x, key, md), 0);

	tmp_path(out, name);
	f = fopen(out, "w");
	cr_assert_not_null(f);
	cr_assert_eq(PEM_write_X509(f, x), 1);
	fclose(f);
	X509_NAME_free(subject);
	X509_free(x);
}

/* Writes a fresh key and its certificate as NAME.key and NAME.crt. */
static void
write_pair(char key_path[PATH_LEN], char cert_path[PATH_LEN], const char *name, EVP_PKEY *key)
{
	char file[64];

	snprintf(file, sizeof(file), "%s.key", name);
	write_key(key_path, file, key, NULL);
	snprintf(file, sizeof(file), "%s.crt", name);
	write_cert(cert_path, file, key);
}

static void
write_text(char out[PATH_LEN], const char *name, const char *text, size_t len)
{
	FILE *f;

	tmp_path(out, name);
	f = fopen(out, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(text, 1, len, f), len);
	fclose(f);
}

static char *
read_text(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *text = calloc(1, 65536);

	cr_assert(f && text);
	*len = fread(text, 1, 65535, f);
	fclose(f);
	return text;
}

/*
 * Loads keys from (key, cert) path pairs, with the certificates captured as the
 * configuration loader does (a missing one is not captured); *out is left as is on
 * failure.
 */
static int
load(struct kw_key *list, size_t n, struct signer_keys *out, char *err, size_t err_len)
{
	struct kw_file files[8];
	struct kw_config cfg = {.keys = list, .n_keys = n, .files = files};
	size_t len;
	int rc;

	cr_assert_leq(n, 8);
	for (size_t i = 0; i < n; i++) {
		if (access(list[i].certificate, R_OK) != 0)
			continue;
		files[cfg.n_files].path = list[i].certificate;
		files[cfg.n_files++].text = read_text(list[i].certificate, &len);
	}
	rc = signer_keys_load(&cfg, out, err, err_len);
	for (size_t i = 0; i < cfg.n_files; i++)
		free(files[i].text);
	return rc;
}

static void
expect_failure(char *key_path, char *cert_path, int code, const char *file, const char *words)
{
	struct kw_key list[1] = {{key_path, cert_path}};
	struct signer_keys keys = {.keys = NULL, .n = 99};
	char err[512] = "";

	cr_expect_eq(load(list, 1, &keys, err, sizeof(err)), code, "%s", err);
	cr_expect_eq(keys.n, 99, "nothing returned on failure");
	cr_expect_not_null(strstr(err, file), "error \"%s\" names %s", err, file);
	cr_expect_not_null(strstr(err, words), "error \"%s\" says \"%s\"", err, words);
}

Test(signer_keys, loads_the_test_rsa_key)
{
	struct kw_key list[1] = {{CERTS "server_key.pem", CERTS "server_cert.pem"}};
	struct signer_keys keys = {0};
	char err[512] = "";

	cr_assert_eq(load(list, 1, &keys, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(keys.n, 1);
	cr_expect_eq(keys.keys[0].scheme, TT_SCHEME_RSA_PSS_SHA256);
	cr_expect(EVP_PKEY_is_a(keys.keys[0].pkey, "RSA"));
	signer_keys_free(&keys);
	cr_expect_eq(keys.n, 0);
	cr_expect_null(keys.keys);
}

Test(signer_keys, loads_every_scheme_in_key_id_order)
{
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	char ec_key[PATH_LEN], ec_cert[PATH_LEN], ed_key[PATH_LEN], ed_cert[PATH_LEN];
	struct signer_keys keys = {0};
	char err[512] = "";

	cr_assert(ec && ed);
	write_pair(ec_key, ec_cert, "ec", ec);
	write_pair(ed_key, ed_cert, "ed", ed);
	struct kw_key list[3] = {
	    {ed_key, ed_cert},
	    {CERTS "server_key.pem", CERTS "server_cert.pem"},
	    {ec_key, ec_cert},
	};

	cr_assert_eq(load(list, 3, &keys, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(keys.n, 3);
	cr_expect_eq(keys.keys[0].scheme, TT_SCHEME_ED25519);
	cr_expect_eq(keys.keys[1].scheme, TT_SCHEME_RSA_PSS_SHA256);
	cr_expect_eq(keys.keys[2].scheme, TT_SCHEME_ECDSA_P256_SHA256);
	cr_expect_eq(EVP_PKEY_eq(keys.keys[0].pkey, ed), 1);
	cr_expect_eq(EVP_PKEY_eq(keys.keys[2].pkey, ec), 1);
	signer_keys_free(&keys);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(ed);
}

Test(signer_keys, no_keys_is_fine)
{
	struct signer_keys keys = {.n = 99};
	char err[512] = "";

	cr_expect_eq(load(NULL, 0, &keys, err, sizeof(err)), 0);
	cr_expect_eq(keys.n, 0);
	signer_keys_free(&keys);
}

Test(signer_keys, key_not_matching_certificate)
{
	expect_failure(TEST_DATA_DIR "/reference-certs/server_key.pem", CERTS "server_cert.pem",
	               KW_ERR_ARGUMENT, "reference-certs/server_key.pem", "does not match");
}

Test(signer_keys, missing_key_file)
{
	expect_failure(CERTS "no_such_key.pem", CERTS "server_cert.pem", KW_ERR_ARGUMENT,
	               "no_such_key.pem", "cannot open");
}

Test(signer_keys, missing_certificate)
{
	expect_failure(CERTS "server_key.pem", CERTS "no_such_cert.pem", KW_ERR_ARGUMENT,
	               "no_such_cert.pem", "not in the configuration");
}

Test(signer_keys, certificate_is_not_a_key)
{
	expect_failure(CERTS "server_cert.pem", CERTS "server_cert.pem", KW_ERR_ARGUMENT,
	               "server_cert.pem", "not a PEM private key");
}

Test(signer_keys, key_is_not_a_certificate)
{
	expect_failure(CERTS "server_key.pem", CERTS "server_key.pem", KW_ERR_ARGUMENT,
	               "server_key.pem", "not a PEM certificate");
}

Test(signer_keys, truncated_key)
{
	char path[PATH_LEN];
	size_t len;
	char *text = read_text(CERTS "server_key.pem", &len);

	write_text(path, "half.pem", text, len / 2);
	free(text);
	expect_failure(path, CERTS "server_cert.pem", KW_ERR_ARGUMENT, "half.pem",
	               "not a PEM private key");
}

Test(signer_keys, empty_key_file)
{
	char path[PATH_LEN];

	write_text(path, "empty.pem", "", 0);
	expect_failure(path, CERTS "server_cert.pem", KW_ERR_ARGUMENT, "empty.pem",
	               "not a regular file");
}

Test(signer_keys, key_path_is_a_directory)
{
	expect_failure(TEST_DATA_DIR "/certs", CERTS "server_cert.pem", KW_ERR_ARGUMENT,
	               TEST_DATA_DIR "/certs", "not a regular file");
}

Test(signer_keys, encrypted_key_refused_without_prompting)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	char key_path[PATH_LEN], cert_path[PATH_LEN];

	cr_assert_not_null(key);
	write_key(key_path, "locked.key", key, "passphrase");
	write_cert(cert_path, "locked.crt", key);
	expect_failure(key_path, cert_path, KW_ERR_ARGUMENT, "locked.key", "encrypted");
	EVP_PKEY_free(key);
}

Test(signer_keys, unsupported_curve)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	char key_path[PATH_LEN], cert_path[PATH_LEN];

	cr_assert_not_null(key);
	write_pair(key_path, cert_path, "p384", key);
	expect_failure(key_path, cert_path, KW_ERR_UNSUPPORTED_KEY, "p384.key",
	               "unsupported key type");
	EVP_PKEY_free(key);
}

Test(signer_keys, rsa_key_too_small)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	char key_path[PATH_LEN], cert_path[PATH_LEN];

	cr_assert_not_null(key);
	write_pair(key_path, cert_path, "rsa1024", key);
	expect_failure(key_path, cert_path, KW_ERR_UNSUPPORTED_KEY, "rsa1024.key",
	               "unsupported key type");
	EVP_PKEY_free(key);
}

Test(signer_keys, one_bad_key_fails_the_whole_table)
{
	struct kw_key list[2] = {
	    {CERTS "server_key.pem", CERTS "server_cert.pem"},
	    {TEST_DATA_DIR "/reference-certs/server_key.pem", CERTS "server_cert.pem"},
	};
	struct signer_keys keys = {.n = 99};
	char err[512] = "";

	cr_expect_eq(load(list, 2, &keys, err, sizeof(err)), KW_ERR_ARGUMENT);
	cr_expect_eq(keys.n, 99);
	cr_expect_not_null(strstr(err, "reference-certs/server_key.pem"), "%s", err);
}

Test(signer_keys, exposed_key_files)
{
	static const struct {
		mode_t mode;
		bool exposed;
	} cases[] = {{0600, false}, {0400, false}, {0700, false}, {0640, true},
	             {0604, true},  {0610, true},  {0602, true},  {0644, true}};
	char path[PATH_LEN], why[512];

	write_text(path, "mode.pem", "x", 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char mode[16];

		cr_assert_eq(chmod(path, cases[i].mode), 0);
		why[0] = '\0';
		cr_expect_eq(signer_key_exposed(path, why, sizeof(why)), cases[i].exposed, "mode %o",
		             (unsigned)cases[i].mode);
		snprintf(mode, sizeof(mode), "mode %04o", (unsigned)cases[i].mode);
		if (cases[i].exposed)
			cr_expect_not_null(strstr(why, mode), "%s", why);
	}
	cr_expect_not(signer_key_exposed(CERTS "no_such_key.pem", why, sizeof(why)));
}

/*
 * keys.c - loads the signer's private keys, before any privilege drop or sandbox,
 * with kw_private_key_load (no copy of the key bytes outlives the EVP_PKEY objects),
 * checks each against its certificate and signs once with it.
 */
#include "keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>

#include "err.h"
#include "keyfile.h"
#include "log.h"

/* Any input works for the test signature: the X25519 base point, twice. */
static const uint8_t probe_pub[TT_X25519_LEN] = {9};

/* Checks a loaded key against its certificate and signs once with it. */
static int
check_key(const struct kw_config *cfg, const struct kw_key *conf, struct signer_key *key, char *err,
          size_t err_len)
{
	uint8_t sig[TT_MAX_SIGNATURE_LEN];
	size_t sig_len = 0;
	EVP_PKEY *pub = NULL;
	int rc = tt_scheme_for_key(key->pkey, &key->scheme);

	if (rc) {
		snprintf(err, err_len,
		         "key %s: unsupported key type (RSA of 2048 to 4096 bits, EC P-256 or "
		         "Ed25519 are)",
		         conf->path);
		return rc;
	}
	rc = kw_certificate_key_parse(kw_config_file_text(cfg, conf->certificate),
	                              conf->certificate, &pub, err, err_len);
	if (rc)
		return rc;
	if (EVP_PKEY_eq(pub, key->pkey) != 1) {
		rc = KW_ERR_ARGUMENT;
		snprintf(err, err_len, "key %s does not match the public key of certificate %s",
		         conf->path, conf->certificate);
		goto out;
	}
	rc = tt_sign(key->pkey, probe_pub, probe_pub, sig, &sig_len);
	if (rc == 0)
		rc = tt_verify(pub, probe_pub, probe_pub, sig, sig_len);
	if (rc) {
		snprintf(err, err_len, "key %s: test signature (%s) failed: %s", conf->path,
		         tt_scheme_name(key->scheme), kw_strerror(rc));
		rc = KW_ERR_INTERNAL;
	}
out:
	EVP_PKEY_free(pub);
	return rc;
}

/* Loads and checks cfg->keys[i] into key (key->pkey stays NULL on failure). */
static int
load_key(const struct kw_config *cfg, size_t i, struct signer_key *key, char *err, size_t err_len)
{
	int rc = kw_private_key_load(cfg->keys[i].path, &key->pkey, err, err_len);

	if (rc == 0)
		rc = check_key(cfg, &cfg->keys[i], key, err, err_len);
	ERR_clear_error();
	return rc;
}

bool
signer_key_exposed(const char *path, char *why, size_t why_len)
{
	struct stat st;

	if (stat(path, &st) != 0 || (st.st_mode & (S_IRWXG | S_IRWXO)) == 0)
		return false;
	snprintf(why, why_len,
	         "key %s: mode %04o lets other users than its owner read or change it "
	         "(chmod 600 it)",
	         path, (unsigned)(st.st_mode & 07777));
	return true;
}

int
signer_keys_load(const struct kw_config *cfg, struct signer_keys *out, char *err, size_t err_len)
{
	struct signer_keys keys = {.keys =
	                               calloc(cfg->n_keys ? cfg->n_keys : 1, sizeof(*keys.keys))};
	char why[512];
	int rc = 0;

	if (!keys.keys) {
		snprintf(err, err_len, "out of memory for %zu keys", cfg->n_keys);
		return KW_ERR_NOMEM;
	}
	for (; rc == 0 && keys.n < cfg->n_keys; keys.n++) {
		rc = load_key(cfg, keys.n, &keys.keys[keys.n], err, err_len);
		if (rc == 0 && signer_key_exposed(cfg->keys[keys.n].path, why, sizeof(why)))
			kw_log_warn("%s", why);
	}
	if (rc)
		signer_keys_free(&keys);
	else
		*out = keys;
	return rc;
}

/* The line of the first server block that names key i, for messages. */
static int
key_line(const struct kw_config *cfg, size_t i)
{
	for (size_t s = 0; s < cfg->n_servers; s++) {
		const struct kw_server *srv = &cfg->servers[s];

		if (srv->has_tls && srv->key_id == i)
			return srv->line;
	}
	return 0;
}

int
signer_keys_check(const struct kw_config *cfg)
{
	char err[512];
	int failed = 0;

	for (size_t i = 0; i < cfg->n_keys; i++) {
		struct signer_key key = {0};
		int rc = load_key(cfg, i, &key, err, sizeof(err));

		EVP_PKEY_free(key.pkey);
		if (rc) {
			kw_print_error("%s:%d: %s", cfg->path, key_line(cfg, i), err);
			failed = KW_ERR_ARGUMENT;
		} else if (signer_key_exposed(cfg->keys[i].path, err, sizeof(err))) {
			fprintf(stderr, "keyward: %s:%d: warning: %s\n", cfg->path,
			        key_line(cfg, i), err);
		}
	}
	return failed;
}

void
signer_keys_free(struct signer_keys *keys)
{
	for (size_t i = 0; i < keys->n; i++)
		EVP_PKEY_free(keys->keys[i].pkey);
	free(keys->keys);
	keys->keys = NULL;
	keys->n = 0;
}

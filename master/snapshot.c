/*
 * snapshot.c - the configuration as every process sees it: the master reads the
 * file's text once, checks it, and hands children the same text in a sealed memfd,
 * with the certificate files it read (so that a respawned child needs none of them).
 */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "proc.h"

int
snapshot_load(const char *path, char **text, struct kw_config **cfg, char *err, size_t err_len)
{
	char *buf = NULL;
	struct stat st;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, err_len, "%s: cannot open: %s", path, strerror(errno));
		return KW_ERR_ARGUMENT;
	}
	if (fstat(fd, &st) == 0 && st.st_size > MASTER_CONFIG_MAX) {
		snprintf(err, err_len, "%s: larger than %d bytes", path, MASTER_CONFIG_MAX);
		rc = KW_ERR_ARGUMENT;
		goto out;
	}
	errno = 0;
	buf = kw_proc_read_fd(fd, MASTER_CONFIG_MAX, NULL);
	if (!buf) {
		snprintf(err, err_len, "%s: cannot read: %s", path,
		         errno ? strerror(errno) : "file grew too large");
		rc = KW_ERR_ARGUMENT;
		goto out;
	}
	rc = kw_config_load_string(buf, path, cfg, err, err_len);
	if (rc < 0)
		goto out;
	rc = kw_config_check_host(*cfg, err, err_len);
	if (rc < 0) {
		kw_config_free(*cfg);
		*cfg = NULL;
		goto out;
	}
	*text = buf;
	buf = NULL;

out:
	free(buf);
	close(fd);
	return rc;
}

int
snapshot_seal(const struct kw_config *cfg, const char *text, char *err, size_t err_len)
{
	size_t len = 0, done = 0;
	char *snap = NULL;
	int fd;

	if (kw_config_snapshot_encode(cfg, text, &snap, &len) < 0) {
		snprintf(err, err_len, "out of memory for the configuration snapshot");
		return KW_ERR_NOMEM;
	}
	if (len > KW_CONFIG_SNAPSHOT_MAX) {
		snprintf(err, err_len,
		         "%s: the configuration and its certificates take %zu bytes, more than the "
		         "%u a child reads",
		         cfg->path, len, KW_CONFIG_SNAPSHOT_MAX);
		free(snap);
		return KW_ERR_ARGUMENT;
	}
	fd = memfd_create("keyward.conf", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		snprintf(err, err_len, "memfd_create: %s", strerror(errno));
		free(snap);
		return KW_ERR_INTERNAL;
	}
	while (done < len) {
		ssize_t n = write(fd, snap + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, err_len, "writing the configuration snapshot: %s",
			         n < 0 ? strerror(errno) : "short write");
			goto fail;
		}
		done += (size_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		snprintf(err, err_len, "sealing the configuration snapshot: %s", strerror(errno));
		goto fail;
	}
	free(snap);
	return fd;

fail:
	free(snap);
	close(fd);
	return KW_ERR_INTERNAL;
}

/*
 * check.c - `keyward -t` (and -T): everything a start checks, short of binding the listeners
 * and serving. The master reads the file, the certificates and opens the log files
 * as it would at start, and warns when the descriptor limit cannot fit; the keys are
 * loaded by keyward-signer in check mode, since the master never reads a key.
 */
#include "master.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "err.h"
#include "log.h"

#define ERR_LEN 1024

int
master_check(const char *path, bool dump)
{
	struct master m = {.epoll_fd = -1, .signal_fd = -1, .log_fd = -1};
	struct kw_config *cfg = NULL;
	struct generation *gen = NULL;
	char err[ERR_LEN], *text = NULL;
	int rc;

	rc = snapshot_load(path, &text, &cfg, err, sizeof(err));
	if (rc == 0)
		rc = gen_create(0, cfg, text, &gen, err, sizeof(err));
	free(text);
	if (rc == 0 && nofile_fit(gen->cfg, err, sizeof(err)) == NOFILE_SHORT)
		fprintf(stderr, "keyward: warning: %s\n", err);
	if (rc == 0)
		rc = children_prepare(&m, err, sizeof(err));
	if (rc < 0)
		kw_print_error("%s", err);
	if (rc == 0)
		rc = child_run_check(&m, gen);
	if (rc == 0 && dump && config_print(stdout, gen->cfg) < 0) {
		kw_print_error("cannot write the configuration to stdout");
		rc = -EIO;
	}
	children_release(&m);
	if (gen)
		gen_free(gen);
	if (rc < 0) {
		kw_print_error("configuration %s test failed", path);
		return EXIT_FAILURE;
	}
	fprintf(dump ? stderr : stdout, "keyward: configuration %s is ok\n", path);
	return EXIT_SUCCESS;
}

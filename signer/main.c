/*
 * main.c - keyward-signer: the only process that holds private keys.
 *
 * Started by the master with the descriptors of proc.h: it reads the configuration
 * snapshot, loads every key, enters its sandbox (empty root, its own user, no
 * filesystem), starts its signing threads, locks the sandbox (seccomp), says
 * CTL_READY and serves worker channels until the master goes away or stops it.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "err.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "proc.h"
#include "sandbox.h"
#include "service.h"

static void
usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: keyward-signer --config PATH [--generation G] [--metrics-slot M] [--check]\n"
	    "\n"
	    "Holds keyward's private keys and answers the workers' signing requests.\n"
	    "Started by keyward (the master) with its control channel on fd %d and\n"
	    "the configuration snapshot on fd %d; not meant to be run by hand.\n"
	    "\n"
	    "  --config PATH     path of the configuration file the snapshot came from\n"
	    "  --generation G    configuration generation, for logs\n"
	    "  --metrics-slot M  its slot of the shared counters (fd %d)\n"
	    "  --check           load and check every key, print what is wrong to\n"
	    "                    stderr, and exit 0 (all good) or 1 (keyward -t runs it)\n"
	    "  --help            show this help\n",
	    KW_FD_CONTROL, KW_FD_CONFIG, KW_FD_METRICS);
}

/*
 * Maps the shared counters the master handed over (KW_FD_METRICS, closed then), before
 * the sandbox: counting needs no system call afterwards. *region stays NULL (and the
 * result too) without that descriptor. Returns the slot, or NULL.
 */
static struct kw_metrics_signer *
attach_metrics(const struct kw_child_options *opt, struct kw_metrics_region **region)
{
	if (fcntl(KW_FD_METRICS, F_GETFD) < 0)
		return NULL;
	int rc = kw_metrics_attach(KW_FD_METRICS, region);
	close(KW_FD_METRICS);
	if (rc) {
		kw_log_err(
		    "attach_metrics: the shared counters cannot be mapped (%s): not counting",
		    rc == KW_ERR_ARGUMENT ? "not a region of this build" : strerror(-rc));
		return NULL;
	}
	struct kw_metrics_signer *slot = kw_metrics_signer_slot(
	    *region, opt->metrics_slot ? (unsigned)atoi(opt->metrics_slot) : 0);
	if (slot == NULL)
		kw_log_err("attach_metrics: no slot %s: not counting", opt->metrics_slot);
	return slot;
}

static int
run(const struct kw_child_options *opt)
{
	struct signer_keys keys = {0};
	struct signer_service *svc = NULL;
	struct kw_metrics_region *region = NULL;
	struct kw_metrics_signer *metrics = attach_metrics(opt, &region);
	struct kw_config *cfg;
	char err[512];
	int rc, status = KW_EXIT_RUNTIME;

	cfg = kw_proc_read_config(opt->config);
	if (!cfg)
		return KW_EXIT_FATAL_CONFIG;
	rc = signer_keys_load(cfg, &keys, err, sizeof(err));
	if (rc) {
		kw_log_err("%s", err);
		status = rc == KW_ERR_NOMEM || rc == KW_ERR_INTERNAL ? KW_EXIT_RUNTIME
		                                                     : KW_EXIT_FATAL_CONFIG;
		goto out;
	}
	rc = signer_sandbox_enter(cfg->signer.user, err, sizeof(err));
	if (rc) {
		kw_log_err("sandbox: %s", err);
		status = rc == KW_ERR_ARGUMENT ? KW_EXIT_FATAL_CONFIG : KW_EXIT_RUNTIME;
		goto out;
	}
	if (signer_service_start(cfg, &keys, KW_FD_CONTROL, metrics, &svc) != 0)
		goto out;
	if (signer_sandbox_lock(err, sizeof(err)) != 0) {
		kw_log_err("sandbox: %s", err);
		goto out;
	}
	rc = ctl_send(KW_FD_CONTROL, &(struct ctl_msg){.type = CTL_READY}, NULL, 0);
	if (rc) {
		kw_log_err("run: sending READY: %s", strerror(-rc));
		goto out;
	}
	kw_log_info("run: generation %s: %zu keys, %u signing threads, ready",
	            opt->generation ? opt->generation : "?", keys.n, cfg->signer.threads);
	kw_config_free(cfg);
	cfg = NULL;
	if (signer_service_run(svc) == 0)
		status = 0;
out:
	if (svc)
		signer_service_free(svc);
	signer_keys_free(&keys);
	kw_config_free(cfg);
	kw_metrics_unmap(region);
	return status;
}

/* keyward -t: every key loaded and checked, as at start, from the snapshot on fd 4. */
static int
check(const struct kw_child_options *opt)
{
	struct kw_config *cfg;
	int rc;

	kw_log_init("signer", STDERR_FILENO, KW_LOG_WARN);
	cfg = kw_proc_read_config(opt->config);
	if (!cfg)
		return EXIT_FAILURE;
	rc = signer_keys_check(cfg);
	kw_config_free(cfg);
	return rc ? EXIT_FAILURE : EXIT_SUCCESS;
}

int
main(int argc, char **argv)
{
	struct kw_child_options opt = {0};
	int rc = kw_proc_child_start(argc, argv, "signer", false, usage, &opt);

	if (rc)
		return rc;
	return opt.check ? check(&opt) : run(&opt);
}

/*
 * keyward-inspect - shows the processes of a running keyward and proves (or
 * disproves) that the private keys are isolated in the signer.
 *
 * It finds the master (--pid, --pid-file or the configuration's pid_file), reads
 * /proc for the master and each of its children, scans their memory for fragments
 * of the configured private keys when run as root, judges the isolation promises
 * (inspect_promises.c) and prints a table or JSON (inspect_report.c).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "confine.h"
#include "err.h"
#include "inspect.h"
#include "kw_build_config.h"

enum {
	EXIT_INSPECT = 2, /* bad usage, or keyward could not be inspected */
};

struct options {
	const char *config;
	const char *pid_file;
	pid_t pid;
	const char **keys;
	size_t n_keys;
	bool json;
};

static void
usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: keyward-inspect (-c FILE | --pid PID | --pid-file FILE) [--key FILE]... "
	    "[--json]\n"
	    "\n"
	    "Shows the processes of a running keyward: the master (given by its pid, its pid\n"
	    "file or the pid_file of its configuration) and its children (signers, workers,\n"
	    "of every generation), each with its uids and gids (real/effective/saved),\n"
	    "effective and bounding capabilities, seccomp mode and filter count,\n"
	    "no_new_privs, dumpable, root directory and open files, and for workers the\n"
	    "Landlock ABI their title says confines them. Then it checks the isolation\n"
	    "promises:\n"
	    "  - there is a signer; every signer is seccomp-filtered in all its threads, is\n"
	    "    not dumpable and has no effective capabilities;\n"
	    "  - no worker runs as root or shares a uid with a signer, and no worker has\n"
	    "    effective capabilities;\n"
	    "  - every worker has a seccomp filter of its own in all its threads and, when\n"
	    "    the kernel has Landlock, says it is confined by it;\n"
	    "  - no process but a signer holds a private key file open;\n"
	    "  - no process but a signer has fragments of a private key in its memory.\n"
	    "\n"
	    "The memory scan needs root: it reads every readable mapping of each process\n"
	    "(/proc/PID/mem) and looks for 16-byte windows of the keys' secret values (RSA d,\n"
	    "p, q, dP, dQ, qInv, big- and little-endian; the ECDSA private scalar; the raw\n"
	    "Ed25519 private key), never of their public parts. A signer holding its keys\n"
	    "shows hits; any other process showing hits breaks the promise.\n"
	    "Dumpable is read from the owner of /proc/PID/status, which the kernel sets to\n"
	    "root for a process that is not dumpable; with effective uid 0 it shows as\n"
	    "unknown.\n"
	    "\n"
	    "  -c, --config FILE    keyward's configuration: its pid_file names the master,\n"
	    "                       its certificate_key files are the keys looked for\n"
	    "  -p, --pid PID        the master's pid (instead of the configuration's pid_file)\n"
	    "      --pid-file FILE  read the master's pid from FILE\n"
	    "  -k, --key FILE       a PEM private key to look for, repeatable (added to the\n"
	    "                       configuration's keys)\n"
	    "      --json           print one JSON object instead of the table\n"
	    "  -h, --help           this text\n"
	    "  -v, --version        print the version\n"
	    "\n"
	    "Exit status: 0 when every promise was checked and holds; 1 when a promise failed\n"
	    "(each printed as \"FAIL: ...\"); 2 on bad usage, when keyward could not be\n"
	    "inspected, or when a promise could not be checked (printed as \"UNCHECKED: ...\":\n"
	    "without root, or without -c or --key).\n");
}

static int
parse_pid(const char *s, pid_t *pid)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	end += strspn(end, " \t\n");
	if (errno || end == s || *end || v <= 0 || v > INT_MAX)
		return KW_ERR_ARGUMENT;
	*pid = (pid_t)v;
	return 0;
}

/* Returns -1 to go on, or the exit status. */
static int
parse_options(int argc, char **argv, struct options *opt)
{
	enum { OPT_PID_FILE = 256, OPT_JSON };
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"pid", required_argument, NULL, 'p'},
	    {"pid-file", required_argument, NULL, OPT_PID_FILE},
	    {"key", required_argument, NULL, 'k'},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'v'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	opt->keys = calloc((size_t)argc, sizeof(*opt->keys));
	if (!opt->keys) {
		fprintf(stderr, "keyward-inspect: out of memory\n");
		return EXIT_INSPECT;
	}
	while ((c = getopt_long(argc, argv, "c:p:k:hv", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			opt->config = optarg;
			break;
		case 'p':
			if (parse_pid(optarg, &opt->pid) != 0) {
				fprintf(stderr, "keyward-inspect: --pid %s: not a process id\n",
				        optarg);
				return EXIT_INSPECT;
			}
			break;
		case OPT_PID_FILE:
			opt->pid_file = optarg;
			break;
		case 'k':
			opt->keys[opt->n_keys++] = optarg;
			break;
		case OPT_JSON:
			opt->json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'v':
			printf("keyward-inspect %s\n", KW_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_INSPECT;
		}
	}
	if (optind != argc || (!opt->config && !opt->pid && !opt->pid_file) ||
	    (opt->pid && opt->pid_file)) {
		usage(stderr);
		return EXIT_INSPECT;
	}
	return -1;
}

static int
read_pid_file(const char *path, pid_t *pid, char *err, size_t err_len)
{
	char buf[32];
	size_t n;
	FILE *f = fopen(path, "re");

	if (!f) {
		snprintf(err, err_len, "pid file %s: %s", path, strerror(errno));
		return KW_ERR_ARGUMENT;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (parse_pid(buf, pid) != 0) {
		snprintf(err, err_len, "pid file %s: no pid in it", path);
		return KW_ERR_ARGUMENT;
	}
	return 0;
}

static int
find_master(const struct options *opt, const struct kw_config *cfg, pid_t *pid, char *err,
            size_t err_len)
{
	if (opt->pid) {
		*pid = opt->pid;
		return 0;
	}
	return read_pid_file(opt->pid_file ? opt->pid_file : cfg->pid_file, pid, err, err_len);
}

static void
add_key(struct inspection *in, const char *path)
{
	struct inspect_key *key;
	struct stat st;

	for (size_t i = 0; i < in->n_keys; i++)
		if (strcmp(in->keys[i].path, path) == 0)
			return;
	key = &in->keys[in->n_keys++];
	*key = (struct inspect_key){.path = path};
	if (stat(path, &st) == 0) {
		key->have_inode = true;
		key->dev = st.st_dev;
		key->ino = st.st_ino;
	}
}

/* The key list (config's, then --key's) and, as root, their fragment windows. */
static int
collect_keys(const struct options *opt, const struct kw_config *cfg, struct inspection *in,
             char *err, size_t err_len)
{
	const size_t n_cfg = cfg ? cfg->n_keys : 0;
	int rc;

	in->keys_known = cfg || opt->n_keys;
	in->keys = calloc(n_cfg + opt->n_keys + 1, sizeof(*in->keys));
	if (!in->keys) {
		snprintf(err, err_len, "out of memory");
		return KW_ERR_NOMEM;
	}
	for (size_t i = 0; i < n_cfg; i++)
		add_key(in, cfg->keys[i].path);
	for (size_t i = 0; i < opt->n_keys; i++)
		add_key(in, opt->keys[i]);
	if (!in->n_keys)
		return 0;
	if (geteuid() != 0) {
		in->scan_skipped = "the memory scan needs root: key fragments in memory were not "
		                   "looked for";
		return 0;
	}
	in->frags = frag_set_new();
	if (!in->frags) {
		snprintf(err, err_len, "out of memory");
		return KW_ERR_NOMEM;
	}
	for (size_t i = 0; i < in->n_keys; i++) {
		rc = frag_set_add_key(in->frags, in->keys[i].path, i, err, err_len);
		if (rc)
			return rc;
	}
	return 0;
}

/* The master, then each of its children (except this process) that still exists. */
static int
gather_processes(struct inspection *in, char *err, size_t err_len)
{
	pid_t *children = NULL;
	size_t n_children = 0;
	int rc;

	rc = proc_list_children(in->master, &children, &n_children, err, err_len);
	if (rc)
		return rc;
	in->procs = calloc(n_children + 1, sizeof(*in->procs));
	if (!in->procs) {
		snprintf(err, err_len, "out of memory");
		rc = KW_ERR_NOMEM;
		goto out;
	}
	rc = proc_info_read(in->master, &in->procs[0].info, err, err_len);
	if (rc && (errno == ENOENT || errno == ESRCH))
		snprintf(err, err_len, "no process %ld (is keyward running?)", (long)in->master);
	if (rc)
		goto out;
	in->procs[0].info.role = ROLE_MASTER;
	in->n_procs = 1;
	for (size_t i = 0; i < n_children; i++) {
		struct inspect_entry *e = &in->procs[in->n_procs];
		if (children[i] == getpid())
			continue;
		rc = proc_info_read(children[i], &e->info, err, err_len);
		if (rc && (errno == ENOENT || errno == ESRCH))
			continue;
		if (rc)
			goto out;
		e->info.role = proc_role_from_comm(e->info.comm);
		in->n_procs++;
	}
out:
	free(children);
	return rc;
}

static void
scan_processes(struct inspection *in)
{
	for (size_t i = 0; in->frags && i < in->n_procs; i++) {
		struct inspect_entry *e = &in->procs[i];
		e->scanned = scan_process(in->frags, e->info.pid, &e->scan, e->scan_error,
		                          sizeof(e->scan_error)) == 0;
	}
}

static void
inspection_dispose(struct inspection *in)
{
	for (size_t i = 0; i < in->n_procs; i++) {
		proc_info_dispose(&in->procs[i].info);
		scan_result_dispose(&in->procs[i].scan);
	}
	free(in->procs);
	free(in->keys);
	frag_set_free(in->frags);
	msg_list_dispose(&in->failures);
	msg_list_dispose(&in->unchecked);
}

/* Inspects and reports; sets *status to the exit status of the report. */
static int
run(const struct options *opt, struct inspection *in, int *status, char *err, size_t err_len)
{
	struct kw_config *cfg = NULL;
	int rc = 0;

	if (opt->config)
		rc = kw_config_load_file(opt->config, &cfg, err, err_len);
	if (rc || (rc = find_master(opt, cfg, &in->master, err, err_len)) != 0 ||
	    (rc = collect_keys(opt, cfg, in, err, err_len)) != 0 ||
	    (rc = gather_processes(in, err, err_len)) != 0)
		goto out;
	scan_processes(in);
	in->kernel_landlock = kw_landlock_abi();
	rc = inspection_check(in);
	if (rc) {
		snprintf(err, err_len, "out of memory");
		goto out;
	}
	if (opt->json)
		report_json(in);
	else
		report_table(in);
	*status = inspection_exit_code(in);
out:
	kw_config_free(cfg);
	return rc;
}

int
main(int argc, char **argv)
{
	struct options opt = {0};
	struct inspection in = {0};
	char err[512];
	int status = parse_options(argc, argv, &opt);

	if (status < 0 && run(&opt, &in, &status, err, sizeof(err)) != 0) {
		fprintf(stderr, "keyward-inspect: cannot inspect: %s\n", err);
		status = EXIT_INSPECT;
	}
	inspection_dispose(&in);
	free(opt.keys);
	return status;
}

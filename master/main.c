/*
 * main.c - keyward's command line: run the master, check a configuration, signal
 * a running master, print the version or the usage.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "kw_build_config.h"
#include "log.h"
#include "master.h"

#define EXIT_USAGE 2
#define ERR_LEN    1024

static const struct {
	const char *name;
	int signo;
} signal_names[] = {
    {"reload", SIGHUP},
    {"stop", SIGTERM},
    {"quit", SIGQUIT},
    {"reopen", SIGUSR1},
};

static void
usage(FILE *out)
{
	fprintf(out,
	        "Usage: keyward [-c FILE] [-t | -T | -s SIGNAL]\n"
	        "       keyward -v | -h\n"
	        "\n"
	        "Runs the keyward web server in the foreground: a master process, one signer\n"
	        "process holding the private keys, and worker processes serving HTTP.\n"
	        "\n"
	        "Options:\n"
	        "  -c, --config FILE   configuration file (default: %s)\n"
	        "  -t, --test          check the configuration as a start would (certificates,\n"
	        "                      keys through keyward-signer, log files) and exit\n"
	        "  -T, --dump          check as -t does, then print the configuration resolved\n"
	        "                      (defaults filled in, paths absolute) on stdout\n"
	        "  -s, --signal SIGNAL send SIGNAL to the master named by the configuration's\n"
	        "                      pid_file, and exit:\n"
	        "                        reload  re-read the configuration (SIGHUP)\n"
	        "                        stop    fast stop (SIGTERM)\n"
	        "                        quit    graceful stop (SIGQUIT)\n"
	        "                        reopen  reopen the log files (SIGUSR1)\n"
	        "  -v, --version       print the version and exit\n"
	        "  -h, --help          print this help and exit\n"
	        "\n"
	        "Signals to a running master: SIGHUP reload, SIGTERM/SIGINT fast stop,\n"
	        "SIGQUIT graceful stop, SIGUSR1 reopen logs.\n"
	        "\n"
	        "Exit status:\n"
	        "  0  success (the master stopped on request, the configuration is ok,\n"
	        "     the signal was sent)\n"
	        "  1  failure (invalid configuration, startup failed, no running master)\n"
	        "  2  invalid command line\n",
	        KW_SYSCONFDIR "/keyward.conf");
}

static int
send_signal(const char *path, int signo)
{
	struct kw_config *cfg = NULL;
	char err[ERR_LEN], *text = NULL;
	pid_t pid;

	if (snapshot_load(path, &text, &cfg, err, sizeof(err)) < 0) {
		kw_print_error("%s", err);
		return EXIT_FAILURE;
	}
	free(text);
	pid = pidfile_live_master(cfg->pid_file, err, sizeof(err));
	kw_config_free(cfg);
	if (pid == 0) {
		kw_print_error("no running master (%s)", err);
		return EXIT_FAILURE;
	}
	if (kill(pid, signo) < 0) {
		kw_print_error("kill %ld: %s", (long)pid, strerror(errno));
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"config", required_argument, NULL, 'c'}, {"test", no_argument, NULL, 't'},
	    {"dump", no_argument, NULL, 'T'},
	    {"signal", required_argument, NULL, 's'}, {"version", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	const char *path = KW_SYSCONFDIR "/keyward.conf", *sig = NULL;
	bool test = false, dump = false;
	int opt, signo = 0;

	while ((opt = getopt_long(argc, argv, "c:tTs:vh", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test = true;
			break;
		case 'T':
			test = dump = true;
			break;
		case 's':
			sig = optarg;
			break;
		case 'v':
			printf("keyward " KW_VERSION "\n");
			return EXIT_SUCCESS;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		default:
			fprintf(stderr, "Try 'keyward --help'.\n");
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		kw_print_error("unexpected argument \"%s\"; try 'keyward --help'.", argv[optind]);
		return EXIT_USAGE;
	}
	if (test && sig) {
		kw_print_error("-t or -T and -s cannot be used together");
		return EXIT_USAGE;
	}
	if (sig) {
		for (size_t i = 0; i < sizeof(signal_names) / sizeof(signal_names[0]); i++) {
			if (strcmp(sig, signal_names[i].name) == 0)
				signo = signal_names[i].signo;
		}
		if (!signo) {
			fprintf(stderr,
			        "keyward: unknown signal \"%s\" (use reload, stop, quit or "
			        "reopen)\n",
			        sig);
			return EXIT_USAGE;
		}
		return send_signal(path, signo);
	}
	if (test)
		return master_check(path, dump);

	return master_run(path, argc, argv);
}

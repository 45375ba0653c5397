/*
 * nofile.c - the descriptor limit a worker needs: one socket and at most one open
 * file per connection, its listeners, and a fixed reserve for the loop, the logs
 * and the channels. The master raises its soft RLIMIT_NOFILE (and the hard one, when
 * it may) before it starts a generation, so that every child inherits it, and says
 * with figures when the configuration cannot fit.
 */
#include "master.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "proc.h"

#define FILE_MAX_PATH "/proc/sys/fs/file-max"

unsigned long long
nofile_needed(const struct kw_config *cfg)
{
	return 2ULL * cfg->http.max_connections + cfg->n_listeners + KW_NOFILE_RESERVE;
}

/* The system-wide maximum of open files, or 0 when unknown. */
static unsigned long long
system_file_max(void)
{
	unsigned long long max = 0;
	FILE *f = fopen(FILE_MAX_PATH, "re");

	if (f) {
		if (fscanf(f, "%llu", &max) != 1)
			max = 0;
		fclose(f);
	}
	return max;
}

int
nofile_fit(const struct kw_config *cfg, char *msg, size_t msg_len)
{
	unsigned long long need = nofile_needed(cfg), total = need * cfg->workers;
	unsigned long long file_max = system_file_max();
	struct rlimit lim;
	int rc = NOFILE_FITS;

	msg[0] = '\0';
	if (getrlimit(RLIMIT_NOFILE, &lim) < 0) {
		snprintf(msg, msg_len, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return NOFILE_SHORT;
	}
	if (lim.rlim_cur == RLIM_INFINITY || lim.rlim_cur >= need) {
		/* enough already */
	} else if (lim.rlim_max == RLIM_INFINITY || lim.rlim_max >= need) {
		rlim_t was = lim.rlim_cur;

		lim.rlim_cur = (rlim_t)need;
		if (setrlimit(RLIMIT_NOFILE, &lim) == 0) {
			snprintf(msg, msg_len,
			         "raised the descriptor limit (RLIMIT_NOFILE) from %llu to %llu",
			         (unsigned long long)was, need);
			rc = NOFILE_RAISED;
		}
	} else {
		struct rlimit want = {(rlim_t)need, (rlim_t)need};

		if (setrlimit(RLIMIT_NOFILE, &want) == 0) {
			snprintf(msg, msg_len,
			         "raised the descriptor limit (RLIMIT_NOFILE) from %llu (hard "
			         "%llu) to %llu",
			         (unsigned long long)lim.rlim_cur, (unsigned long long)lim.rlim_max,
			         need);
			rc = NOFILE_RAISED;
		} else {
			lim.rlim_cur = lim.rlim_max;
			setrlimit(RLIMIT_NOFILE, &lim);
			snprintf(
			    msg, msg_len,
			    "each worker needs up to %llu descriptors (http.max_connections %u x 2 "
			    "for a socket and a file, %zu listeners, %d for logs, channels and the "
			    "loop), but RLIMIT_NOFILE allows %llu (its hard limit): a full worker "
			    "pauses accepting at about %llu connections; raise the limit "
			    "(LimitNOFILE=, ulimit -n) or lower http.max_connections",
			    need, cfg->http.max_connections, cfg->n_listeners, KW_NOFILE_RESERVE,
			    (unsigned long long)lim.rlim_max,
			    lim.rlim_max > (rlim_t)(cfg->n_listeners + KW_NOFILE_RESERVE)
			        ? (unsigned long long)(lim.rlim_max - cfg->n_listeners -
			                               KW_NOFILE_RESERVE) /
			              2
			        : 0ULL);
			return NOFILE_SHORT;
		}
	}
	if (file_max && total > file_max) {
		snprintf(
		    msg, msg_len,
		    "%u workers x %llu descriptors (http.max_connections %u x 2, listeners and "
		    "reserve) = %llu exceed the system's %llu (" FILE_MAX_PATH
		    "): raise fs.file-max or lower workers or http.max_connections",
		    cfg->workers, need, cfg->http.max_connections, total, file_max);
		return NOFILE_SHORT;
	}
	return rc;
}

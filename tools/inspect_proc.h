/*
 * inspect_proc.h - what /proc says about one process's isolation: credentials,
 * capabilities, seccomp, no_new_privs, dumpable, root directory, open files and
 * mapped files.
 *
 * Credentials, capabilities, seccomp and no_new_privs belong to each thread in
 * Linux, so every thread (/proc/PID/task/TID/status) is read and the weakest value
 * is kept: a process counts as filtered only when all its threads are.
 */
#ifndef KW_INSPECT_PROC_H
#define KW_INSPECT_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum proc_role {
	ROLE_MASTER, /* the process given by --pid, --pid-file or the config's pid_file */
	ROLE_SIGNER, /* a child titled "keyward: signer" */
	ROLE_WORKER, /* a child titled "keyward: worker" */
	ROLE_OTHER,  /* any other child */
};

enum proc_dumpable {
	DUMPABLE_NO,
	DUMPABLE_YES,
	DUMPABLE_UNKNOWN, /* effective uid 0: the owner of /proc/PID/status cannot tell */
};

/** Indices into proc_info.uid and proc_info.gid, in /proc/PID/status order. */
enum { ID_REAL, ID_EFFECTIVE, ID_SAVED, ID_FS, ID_COUNT };

/** An open descriptor, or a file-backed mapping. */
struct proc_file {
	int fd;          /* descriptor number; -1 for a mapping */
	char *target;    /* readlink of /proc/PID/fd/N, or the mapping's path */
	bool have_inode; /* dev and ino below are valid */
	dev_t dev;
	ino_t ino;
};

struct proc_info {
	pid_t pid;
	pid_t ppid;
	enum proc_role role;
	char comm[32]; /* /proc/PID/comm without its newline */
	long landlock; /* the Landlock ABI a worker's title says confines it ("(landlock ABI
	                  N)"), 0 for "(landlock off)", -1 when the title says nothing */
	unsigned threads;
	uid_t uid[ID_COUNT]; /* the main thread's */
	gid_t gid[ID_COUNT];
	bool creds_differ;   /* some thread's Uid or Gid line differs from the main thread's */
	uint64_t cap_eff;    /* CapEff, union over threads */
	uint64_t cap_bnd;    /* CapBnd, union over threads */
	int seccomp;         /* Seccomp mode, lowest over threads (0 off, 1 strict, 2 filter) */
	int seccomp_filters; /* Seccomp_filters, lowest over threads; -1 when not shown */
	bool no_new_privs;   /* set in every thread */
	enum proc_dumpable dumpable;
	char *root; /* readlink of /proc/PID/root, or NULL (root_errno says why) */
	int root_errno;
	struct proc_file *fds; /* open descriptors, by number */
	size_t n_fds;
	int fds_errno;          /* nonzero when /proc/PID/fd could not be listed */
	struct proc_file *maps; /* files mapped (/proc/PID/maps), each file once */
	size_t n_maps;
	int maps_errno; /* nonzero when /proc/PID/maps could not be read */
};

/**
 * Reads everything above about pid (role is set by the caller). Returns 0 with *out
 * filled (dispose it), or a negative code with the reason in err; errno is ENOENT
 * or ESRCH then when the process is gone. An unreadable root, fd list or map is not a
 * failure: it is recorded in root_errno, fds_errno or maps_errno.
 */
int proc_info_read(pid_t pid, struct proc_info *out, char *err, size_t err_len);

/** Frees what a proc_info owns. */
void proc_info_dispose(struct proc_info *info);

/**
 * What a worker's title (the first string of /proc/PID/cmdline) says of its Landlock
 * domain: the ABI for "keyward: worker (landlock ABI N)", 0 for "(landlock off)", -1
 * for anything else.
 */
long proc_landlock_from_title(const char *title);

/** The role a child's title (comm) names: ROLE_SIGNER, ROLE_WORKER or ROLE_OTHER. */
enum proc_role proc_role_from_comm(const char *comm);

/** "master", "signer", "worker" or "other". */
const char *proc_role_name(enum proc_role role);

/**
 * Lists the pids whose parent is parent, ascending, in a heap array the caller
 * frees. Returns 0 or a negative code with the reason in err.
 */
int proc_list_children(pid_t parent, pid_t **out, size_t *n_out, char *err, size_t err_len);

#endif

/*
 * shared_fd.h - an open file descriptor shared by reference count: the file cache of
 * one loop turn and the responses that send the file hold the same open file, and
 * the last of them to let go closes it. No dup(2), no second close(2) per response.
 */
#ifndef KW_SHARED_FD_H
#define KW_SHARED_FD_H

struct shared_fd {
	int fd;
	unsigned refs;
};

/** Takes fd over with one reference. NULL when out of memory (fd is then left open). */
struct shared_fd *shared_fd_new(int fd);

/** Adds a reference; returns s. */
struct shared_fd *shared_fd_hold(struct shared_fd *s);

/** Drops a reference; the last one closes the descriptor. NULL is fine. */
void shared_fd_release(struct shared_fd *s);

#endif

#include "shared_fd.h"

#include <stdlib.h>
#include <unistd.h>

struct shared_fd *
shared_fd_new(int fd)
{
	struct shared_fd *s = malloc(sizeof(*s));
	if (s != NULL)
		*s = (struct shared_fd){.fd = fd, .refs = 1};
	return s;
}

struct shared_fd *
shared_fd_hold(struct shared_fd *s)
{
	s->refs++;
	return s;
}

void
shared_fd_release(struct shared_fd *s)
{
	if (s == NULL || --s->refs > 0)
		return;
	close(s->fd);
	free(s);
}

#include "http_path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)

/* Decodes one segment raw[0, len) into out, *out_len bytes; returns 0 or -400. */
static int
decode_segment(const char *raw, size_t len, char *out, size_t *out_len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)raw[i];
		if (c == '%') {
			if (i + 2 >= len)
				return -400;
			int hi = OPENSSL_hexchar2int((unsigned char)raw[i + 1]);
			int lo = OPENSSL_hexchar2int((unsigned char)raw[i + 2]);
			if (hi < 0 || lo < 0)
				return -400;
			c = hi << 4 | lo;
			if (c == '/')
				return -400;
			i += 2;
		}
		if (c == '\0')
			return -400;
		out[n++] = (char)c;
	}
	*out_len = n;
	return 0;
}

int
http_path_normalise(const char *raw, size_t len, char *out, size_t *out_len)
{
	if (len == 0 || raw[0] != '/')
		return -400;
	size_t w = 0;
	bool trailing = true;
	size_t i = 1;
	while (i <= len) {
		const char *end = memchr(raw + i, '/', len - i);
		size_t seg_len = end ? (size_t)(end - (raw + i)) : len - i;
		size_t n;
		out[w] = '/';
		if (decode_segment(raw + i, seg_len, out + w + 1, &n) < 0)
			return -400;
		trailing = true;
		if (n == 2 && out[w + 1] == '.' && out[w + 2] == '.') {
			if (w == 0)
				return -400;
			while (out[--w] != '/')
				;
		} else if (!(n == 0 || (n == 1 && out[w + 1] == '.'))) {
			w += 1 + n;
			trailing = false;
		}
		i += seg_len + 1;
	}
	if (trailing || w == 0)
		out[w++] = '/';
	out[w] = '\0';
	*out_len = w;
	return 0;
}

int
http_path_errno_status(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
	case ENAMETOOLONG:
		return -404;
	case EACCES:
	case EPERM:
	case ELOOP:
	case EXDEV:
		return -403;
	case EMFILE:
	case ENFILE:
		return -503;
	default:
		return -500;
	}
}

static bool
has_dotdot(const char *rel)
{
	for (const char *p = rel; (p = strstr(p, "..")) != NULL; p += 2)
		if ((p == rel || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
			return true;
	return false;
}

int
http_path_open_walk(int root_fd, const char *rel, int *fd_out)
{
	int dir = root_fd;
	int err = 0;
	const char *p = rel;
	const char *slash;
	char name[NAME_MAX + 1];
	if (has_dotdot(rel))
		return -403;
	while ((slash = strchr(p, '/')) != NULL) {
		size_t n = (size_t)(slash - p);
		if (n > NAME_MAX) {
			err = -404;
			goto out;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		int next = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			err = http_path_errno_status(errno);
			goto out;
		}
		if (dir != root_fd)
			close(dir);
		dir = next;
		struct stat st;
		if (fstat(dir, &st) < 0) {
			err = -500;
			goto out;
		}
		if (!S_ISDIR(st.st_mode)) {
			err = S_ISLNK(st.st_mode) ? -403 : -404;
			goto out;
		}
		p = slash + 1;
	}
	int fd = openat(dir, *p ? p : ".", OPEN_FLAGS | O_NOFOLLOW);
	if (fd < 0)
		err = http_path_errno_status(errno);
	else
		*fd_out = fd;
out:
	if (dir != root_fd)
		close(dir);
	return err;
}

/* The path /proc gives for fd, in buf; false when it cannot be read. */
static bool
fd_path(int fd, char *buf, size_t len)
{
	char link[32];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, len - 1);
	if (n <= 0 || (size_t)n >= len - 1)
		return false;
	buf[n] = '\0';
	return true;
}

/*
 * RESOLVE_BENEATH refuses every absolute symlink, even one that names a file inside
 * the root; without openat2 (an old kernel, or the worker's sandbox without Landlock)
 * no symlink can be followed beneath the root at all. Such a path is resolved
 * without that rule, as an O_PATH descriptor (no open side effects), and accepted
 * only when the file it reaches lies beneath the root; the file is then opened
 * beneath the root by that symlink-free path (openat2 refusing symlinks, or the
 * walk), so that a symlink swapped in meanwhile is refused rather than followed.
 */
static int
open_resolved_beneath(int root_fd, const char *rel, bool have_openat2, int *fd_out)
{
	char root[PATH_MAX], real[PATH_MAX];
	struct open_how find = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_NO_MAGICLINKS};
	struct open_how how = {
	    .flags = OPEN_FLAGS,
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS,
	};
	long path_fd = have_openat2 ? syscall(SYS_openat2, root_fd, rel, &find, sizeof(find))
	                            : openat(root_fd, *rel ? rel : ".", O_PATH | O_CLOEXEC);
	size_t root_len;
	bool inside;
	long fd;

	if (path_fd < 0)
		return http_path_errno_status(errno);
	inside = fd_path(root_fd, root, sizeof(root)) && fd_path((int)path_fd, real, sizeof(real));
	close((int)path_fd);
	root_len = strlen(root);
	if (root_len == 1)
		root_len = 0; /* the root is "/": every path is beneath it */
	if (!inside || strncmp(real, root, root_len) != 0 ||
	    (real[root_len] != '/' && real[root_len] != '\0'))
		return -403;
	rel = real[root_len] == '\0' || real[root_len + 1] == '\0' ? "." : real + root_len + 1;
	if (!have_openat2)
		return http_path_open_walk(root_fd, strcmp(rel, ".") == 0 ? "" : rel, fd_out);
	fd = syscall(SYS_openat2, root_fd, rel, &how, sizeof(how));
	if (fd < 0)
		return http_path_errno_status(errno);
	*fd_out = (int)fd;
	return 0;
}

int
http_path_open_without_openat2(int root_fd, const char *rel, bool follow_symlinks, int *fd_out)
{
	if (!follow_symlinks || rel[0] == '/' || has_dotdot(rel))
		return http_path_open_walk(root_fd, rel, fd_out);
	return open_resolved_beneath(root_fd, rel, false, fd_out);
}

int
http_path_open_beneath(int root_fd, const char *rel, bool follow_symlinks, int *fd_out)
{
	struct open_how how = {
	    .flags = OPEN_FLAGS,
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
	               (follow_symlinks ? 0 : RESOLVE_NO_SYMLINKS),
	};
	long fd = syscall(SYS_openat2, root_fd, *rel ? rel : ".", &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		return http_path_open_without_openat2(root_fd, rel, follow_symlinks, fd_out);
	if (fd < 0 && errno == EXDEV && follow_symlinks && rel[0] != '/')
		return open_resolved_beneath(root_fd, rel, true, fd_out);
	if (fd < 0)
		return http_path_errno_status(errno);
	*fd_out = (int)fd;
	return 0;
}

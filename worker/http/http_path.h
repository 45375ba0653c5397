/*
 * http_path.h - request paths: percent-decoding and normalising the path of a
 * request target, and opening the file it names beneath a root directory so that
 * no path or symlink can lead outside that root.
 *
 * Failures are negative HTTP statuses, as the parser's: the caller answers with them.
 */
#ifndef KW_HTTP_PATH_H
#define KW_HTTP_PATH_H

#include <stdbool.h>
#include <stddef.h>

/**
 * Percent-decodes and normalises raw[0, len), the path part of a request target
 * (everything before '?'), which must start with '/'. out must hold len + 1 bytes
 * and receives a NUL-terminated path that starts with '/' and contains no "//",
 * "/./", "/../" nor NUL; "." and ".." segments are resolved, repeated slashes merged,
 * and a trailing slash (also one implied by a final "." or "..") is kept. *out_len
 * receives its length. Returns 0, or -400 for a path that does not start with '/',
 * a malformed %XX escape, a decoded NUL, an encoded slash (%2F, refused rather than
 * decoded) or a ".." climbing above "/"; out is unspecified then.
 */
int http_path_normalise(const char *raw, size_t len, char *out, size_t *out_len);

/**
 * Opens rel (a normalised path without its leading '/'; "" names the root itself)
 * read-only beneath the directory root_fd, with openat2(RESOLVE_BENEATH), plus
 * RESOLVE_NO_SYMLINKS when follow_symlinks is false; symlinks that lead outside the
 * root are always refused. With follow_symlinks, an absolute symlink (which
 * RESOLVE_BENEATH refuses) is followed when the file it leads to lies beneath the
 * root (checked on the resolved descriptor's path). Falls back to
 * http_path_open_without_openat2() when openat2 is missing. On success *fd_out receives a new
 * O_CLOEXEC descriptor owned by the caller. Returns 0, -404 (missing, or a non-directory in the
 * middle), -403 (permission denied, refused symlink), -503 (out of descriptors) or -500 (any other
 * failure).
 */
int http_path_open_beneath(int root_fd, const char *rel, bool follow_symlinks, int *fd_out);

/**
 * The status for a failed open or stat: -404, -403 or -500, as http_path_open_beneath(),
 * and -503 when the process or the system is out of descriptors (EMFILE, ENFILE): the
 * request may succeed a moment later, and the server should accept less meanwhile.
 */
int http_path_errno_status(int err_no);

/**
 * http_path_open_beneath() where openat2 is missing (an old kernel, or the worker's
 * sandbox without Landlock): http_path_open_walk(), except that with follow_symlinks
 * a path with symlinks is resolved first and accepted only when the file it reaches
 * lies beneath the root, then opened by its symlink-free path with the walk. Same
 * results and ownership.
 */
int http_path_open_without_openat2(int root_fd, const char *rel, bool follow_symlinks, int *fd_out);

/**
 * The symlink-refusing walk: opens rel one component at a time with
 * O_NOFOLLOW, refusing every symlink and ".." component (-403) whatever the
 * location allows. Same results and ownership otherwise.
 */
int http_path_open_walk(int root_fd, const char *rel, int *fd_out);

#endif

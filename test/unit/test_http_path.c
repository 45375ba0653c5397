/*
 * Request paths: percent-decoding and normalisation, and opening files beneath a
 * root with openat2 and with the component walk that replaces it on old kernels.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http_path.h"

static char out[256];

static int
norm(const char *raw)
{
	size_t n = 0;
	memset(out, 'X', sizeof(out));
	int rc = http_path_normalise(raw, strlen(raw), out, &n);
	if (rc == 0)
		cr_assert_eq(n, strlen(out), "length of %s", raw);
	return rc;
}

#define ASSERT_NORM(raw, want)                                                                     \
	do {                                                                                       \
		cr_assert_eq(norm(raw), 0, "%s refused", raw);                                     \
		cr_assert_str_eq(out, want, "%s", raw);                                            \
	} while (0)

#define ASSERT_REFUSED(raw) cr_assert_eq(norm(raw), -400, "%s accepted", raw)

Test(normalise, plain_paths_unchanged)
{
	ASSERT_NORM("/", "/");
	ASSERT_NORM("/a", "/a");
	ASSERT_NORM("/a/b.html", "/a/b.html");
}

Test(normalise, trailing_slash_kept)
{
	ASSERT_NORM("/a/b/", "/a/b/");
}

Test(normalise, dotdot_resolved)
{
	ASSERT_NORM("/a/../b", "/b");
	ASSERT_NORM("/a/b/../../c", "/c");
	ASSERT_NORM("/a/b/../c/./d", "/a/c/d");
}

Test(normalise, final_dotdot_keeps_slash)
{
	ASSERT_NORM("/a/..", "/");
	ASSERT_NORM("/a/b/..", "/a/");
}

Test(normalise, dot_segments_dropped)
{
	ASSERT_NORM("/./a/.", "/a/");
	ASSERT_NORM("/a/./b", "/a/b");
	ASSERT_NORM("/.", "/");
}

Test(normalise, repeated_slashes_merged)
{
	ASSERT_NORM("//a///b", "/a/b");
	ASSERT_NORM("//", "/");
	ASSERT_NORM("/a//", "/a/");
}

Test(normalise, dots_inside_names_are_names)
{
	ASSERT_NORM("/..a", "/..a");
	ASSERT_NORM("/a../b", "/a../b");
	ASSERT_NORM("/.hidden/", "/.hidden/");
	ASSERT_NORM("/.../x", "/.../x");
}

Test(normalise, percent_decoding)
{
	ASSERT_NORM("/%41%62c", "/Abc");
	ASSERT_NORM("/a%20b", "/a b");
	ASSERT_NORM("/%e2%82%ac", "/\xe2\x82\xac");
	ASSERT_NORM("/%25", "/%");
}

Test(normalise, encoded_dots_are_dot_segments)
{
	ASSERT_NORM("/a/%2e", "/a/");
	ASSERT_NORM("/a/%2e%2E/b", "/b");
	ASSERT_NORM("/a/.%2e/b", "/b");
}

Test(normalise, climbing_above_root_refused)
{
	ASSERT_REFUSED("/..");
	ASSERT_REFUSED("/../a");
	ASSERT_REFUSED("/a/../..");
	ASSERT_REFUSED("/a/../../b");
	ASSERT_REFUSED("/%2e%2e/x");
	ASSERT_REFUSED("/%2E%2E");
}

Test(normalise, encoded_slash_refused)
{
	ASSERT_REFUSED("/a%2fb");
	ASSERT_REFUSED("/a%2Fb");
	ASSERT_REFUSED("/..%2f");
}

Test(normalise, decoded_nul_refused)
{
	ASSERT_REFUSED("/a%00");
	ASSERT_REFUSED("/%00/a");
}

Test(normalise, raw_nul_refused)
{
	size_t n;
	cr_assert_eq(http_path_normalise("/a\0b", 4, out, &n), -400);
}

Test(normalise, bad_escapes_refused)
{
	ASSERT_REFUSED("%zz");
	ASSERT_REFUSED("/%zz");
	ASSERT_REFUSED("/%");
	ASSERT_REFUSED("/a%4");
	ASSERT_REFUSED("/%4g");
	ASSERT_REFUSED("/%g4");
	ASSERT_REFUSED("/%%41");
}

Test(normalise, must_start_with_slash)
{
	ASSERT_REFUSED("");
	ASSERT_REFUSED("a/b");
	ASSERT_REFUSED(".");
}

Test(normalise, output_never_longer_than_input_plus_nul)
{
	size_t n;
	char small[4];
	cr_assert_eq(http_path_normalise("/a/", 3, small, &n), 0);
	cr_assert_str_eq(small, "/a/");
	cr_assert_eq(http_path_normalise("/a/.", 4, small, &n), 0);
	cr_assert_str_eq(small, "/a/");
}

Test(normalise, length_bounded_by_len_argument)
{
	size_t n;
	cr_assert_eq(http_path_normalise("/abc/def", 4, out, &n), 0);
	cr_assert_str_eq(out, "/abc");
	cr_assert_eq(n, 4);
}

/* A tree for the open tests:
 *   base/outside.txt
 *   base/root/file ("file data"), dir/f2, link_in -> file, link_out -> ../outside.txt,
 *   link_abs -> base/outside.txt, dirlink -> dir, dir/up -> ../file
 */
static char base[64];
static char rootdir[128];
static int root_fd = -1;

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

static void
make_tree(void)
{
	char p[256];
	strcpy(base, "/tmp/kw-path-XXXXXX");
	cr_assert_not_null(mkdtemp(base));
	snprintf(rootdir, sizeof(rootdir), "%s/root", base);
	cr_assert_eq(mkdir(rootdir, 0755), 0);
	snprintf(p, sizeof(p), "%s/outside.txt", base);
	write_file(p, "secret");
	snprintf(p, sizeof(p), "%s/file", rootdir);
	write_file(p, "file data");
	snprintf(p, sizeof(p), "%s/dir", rootdir);
	cr_assert_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/dir/f2", rootdir);
	write_file(p, "f2 data");
	snprintf(p, sizeof(p), "%s/link_in", rootdir);
	cr_assert_eq(symlink("file", p), 0);
	snprintf(p, sizeof(p), "%s/link_out", rootdir);
	cr_assert_eq(symlink("../outside.txt", p), 0);
	char target[256];
	snprintf(target, sizeof(target), "%s/outside.txt", base);
	snprintf(p, sizeof(p), "%s/link_abs", rootdir);
	cr_assert_eq(symlink(target, p), 0);
	snprintf(p, sizeof(p), "%s/dirlink", rootdir);
	cr_assert_eq(symlink("dir", p), 0);
	snprintf(target, sizeof(target), "%s/file", rootdir);
	snprintf(p, sizeof(p), "%s/link_abs_in", rootdir);
	cr_assert_eq(symlink(target, p), 0);
	snprintf(target, sizeof(target), "%s/dir", rootdir);
	snprintf(p, sizeof(p), "%s/dirlink_abs", rootdir);
	cr_assert_eq(symlink(target, p), 0);
	snprintf(target, sizeof(target), "%s/root/../outside.txt", base);
	snprintf(p, sizeof(p), "%s/link_abs_back_out", rootdir);
	cr_assert_eq(symlink(target, p), 0);
	snprintf(target, sizeof(target), "%s", base);
	snprintf(p, sizeof(p), "%s/link_abs_parent", rootdir);
	cr_assert_eq(symlink(target, p), 0);
	snprintf(p, sizeof(p), "%s/rootx", base);
	cr_assert_eq(mkdir(p, 0755), 0);
	snprintf(target, sizeof(target), "%s/rootx/file", base);
	write_file(target, "sibling");
	snprintf(p, sizeof(p), "%s/link_abs_sibling", rootdir);
	cr_assert_eq(symlink(target, p), 0);
	snprintf(p, sizeof(p), "%s/rooy", base);
	cr_assert_eq(mkdir(p, 0755), 0);
	snprintf(target, sizeof(target), "%s/rooy/file", base);
	write_file(target, "same length");
	snprintf(p, sizeof(p), "%s/link_abs_same_length", rootdir);
	cr_assert_eq(symlink(target, p), 0);
	snprintf(p, sizeof(p), "%s/dir/up", rootdir);
	cr_assert_eq(symlink("../file", p), 0);
	root_fd = open(rootdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(root_fd, 0);
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
remove_tree(void)
{
	if (root_fd >= 0)
		close(root_fd);
	nftw(base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *
read_fd(int fd)
{
	static char buf[64];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	cr_assert_geq(n, 0);
	buf[n] = '\0';
	return buf;
}

typedef int (*open_fn)(int, const char *, bool, int *);

static int
walk(int dir, const char *rel, bool follow, int *fd)
{
	return http_path_open_walk(dir, rel, fd);
}

static void
assert_opens(open_fn fn, const char *rel, bool follow, const char *want)
{
	int fd = -1;
	cr_assert_eq(fn(root_fd, rel, follow, &fd), 0, "%s not opened", rel);
	cr_assert_str_eq(read_fd(fd), want, "%s", rel);
	close(fd);
}

static void
assert_refused(open_fn fn, const char *rel, bool follow, int status)
{
	int fd = -1;
	cr_assert_eq(fn(root_fd, rel, follow, &fd), status, "%s", rel);
	cr_assert_eq(fd, -1, "%s left an fd", rel);
}

TestSuite(open_beneath, .init = make_tree, .fini = remove_tree);

Test(open_beneath, opens_files)
{
	assert_opens(http_path_open_beneath, "file", false, "file data");
	assert_opens(http_path_open_beneath, "dir/f2", false, "f2 data");
}

Test(open_beneath, empty_rel_is_the_root)
{
	int fd = -1;
	struct stat st;
	cr_assert_eq(http_path_open_beneath(root_fd, "", false, &fd), 0);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	close(fd);
}

Test(open_beneath, missing_is_404)
{
	assert_refused(http_path_open_beneath, "nope", true, -404);
	assert_refused(http_path_open_beneath, "nope/x", true, -404);
}

Test(open_beneath, file_used_as_directory_is_404)
{
	assert_refused(http_path_open_beneath, "file/x", true, -404);
	assert_refused(http_path_open_beneath, "file/", true, -404);
}

Test(open_beneath, symlink_inside_followed_when_allowed)
{
	assert_opens(http_path_open_beneath, "link_in", true, "file data");
	assert_opens(http_path_open_beneath, "dirlink/f2", true, "f2 data");
	assert_opens(http_path_open_beneath, "dir/up", true, "file data");
}

Test(open_beneath, absolute_symlink_inside_followed_when_allowed)
{
	assert_opens(http_path_open_beneath, "link_abs_in", true, "file data");
	assert_opens(http_path_open_beneath, "dirlink_abs/f2", true, "f2 data");
	assert_opens(http_path_open_beneath, "dirlink_abs/up", true, "file data");
	assert_refused(http_path_open_beneath, "link_abs_in", false, -403);
	assert_refused(http_path_open_beneath, "dirlink_abs/f2", false, -403);
	assert_refused(http_path_open_beneath, "dirlink_abs/missing", true, -404);
}

Test(open_beneath, absolute_symlink_out_of_root_refused)
{
	assert_refused(http_path_open_beneath, "link_abs_back_out", true, -403);
	assert_refused(http_path_open_beneath, "link_abs_parent/outside.txt", true, -403);
	assert_refused(http_path_open_beneath, "link_abs_parent", true, -403);
	/* a sibling whose name starts with the root's name is not beneath the root */
	assert_refused(http_path_open_beneath, "link_abs_sibling", true, -403);
	/* nor one whose name is as long as the root's, though "file" exists in both */
	assert_refused(http_path_open_beneath, "link_abs_same_length", true, -403);
}

Test(open_beneath, symlink_refused_when_not_allowed)
{
	assert_refused(http_path_open_beneath, "link_in", false, -403);
	assert_refused(http_path_open_beneath, "dirlink/f2", false, -403);
	assert_refused(http_path_open_beneath, "dir/up", false, -403);
}

Test(open_beneath, symlink_out_of_root_always_refused)
{
	assert_refused(http_path_open_beneath, "link_out", true, -403);
	assert_refused(http_path_open_beneath, "link_out", false, -403);
	assert_refused(http_path_open_beneath, "link_abs", true, -403);
	assert_refused(http_path_open_beneath, "link_abs", false, -403);
}

Test(open_beneath, dotdot_never_escapes)
{
	assert_refused(http_path_open_beneath, "../outside.txt", true, -403);
	assert_refused(http_path_open_beneath, "dir/../../outside.txt", true, -403);
}

Test(open_beneath, absolute_rel_refused)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/outside.txt", base);
	assert_refused(http_path_open_beneath, p, true, -403);
}

/* Where openat2 is missing: the same symlink rules, by resolving and then walking. */
Test(open_beneath, without_openat2_symlinks_inside_followed_when_allowed)
{
	assert_opens(http_path_open_without_openat2, "file", true, "file data");
	assert_opens(http_path_open_without_openat2, "link_in", true, "file data");
	assert_opens(http_path_open_without_openat2, "dirlink/f2", true, "f2 data");
	assert_opens(http_path_open_without_openat2, "dir/up", true, "file data");
	assert_opens(http_path_open_without_openat2, "link_abs_in", true, "file data");
	assert_opens(http_path_open_without_openat2, "dirlink_abs/up", true, "file data");
	assert_refused(http_path_open_without_openat2, "dirlink_abs/missing", true, -404);
}

Test(open_beneath, without_openat2_symlinks_refused_when_not_allowed)
{
	assert_refused(http_path_open_without_openat2, "link_in", false, -403);
	assert_refused(http_path_open_without_openat2, "dirlink/f2", false, -403);
	assert_refused(http_path_open_without_openat2, "link_abs_in", false, -403);
}

Test(open_beneath, without_openat2_symlinks_out_of_root_refused)
{
	assert_refused(http_path_open_without_openat2, "link_out", true, -403);
	assert_refused(http_path_open_without_openat2, "link_abs", true, -403);
	assert_refused(http_path_open_without_openat2, "link_abs_back_out", true, -403);
	assert_refused(http_path_open_without_openat2, "link_abs_parent/outside.txt", true, -403);
	assert_refused(http_path_open_without_openat2, "link_abs_sibling", true, -403);
	assert_refused(http_path_open_without_openat2, "link_abs_same_length", true, -403);
	assert_refused(http_path_open_without_openat2, "../outside.txt", true, -403);
}

Test(open_beneath, walk_opens_files)
{
	assert_opens(walk, "file", false, "file data");
	assert_opens(walk, "dir/f2", false, "f2 data");
}

Test(open_beneath, walk_opens_directories)
{
	int fd = -1;
	struct stat st;
	cr_assert_eq(http_path_open_walk(root_fd, "dir/", &fd), 0);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	close(fd);
	cr_assert_eq(http_path_open_walk(root_fd, "", &fd), 0);
	close(fd);
}

Test(open_beneath, walk_missing_is_404)
{
	assert_refused(walk, "nope", false, -404);
	assert_refused(walk, "nope/x", false, -404);
	assert_refused(walk, "file/x", false, -404);
}

Test(open_beneath, walk_refuses_every_symlink)
{
	assert_refused(walk, "link_in", true, -403);
	assert_refused(walk, "dirlink/f2", true, -403);
	assert_refused(walk, "link_out", true, -403);
	assert_refused(walk, "link_abs", true, -403);
}

Test(open_beneath, walk_refuses_dotdot)
{
	assert_refused(walk, "..", false, -403);
	assert_refused(walk, "../outside.txt", false, -403);
	assert_refused(walk, "dir/../file", false, -403);
}

Test(open_beneath, walk_name_too_long_is_404)
{
	char rel[400];
	memset(rel, 'a', 300);
	strcpy(rel + 300, "/x");
	assert_refused(walk, rel, false, -404);
}

Test(errno_status, mapping)
{
	cr_assert_eq(http_path_errno_status(ENOENT), -404);
	cr_assert_eq(http_path_errno_status(ENOTDIR), -404);
	cr_assert_eq(http_path_errno_status(ENAMETOOLONG), -404);
	cr_assert_eq(http_path_errno_status(EACCES), -403);
	cr_assert_eq(http_path_errno_status(EPERM), -403);
	cr_assert_eq(http_path_errno_status(ELOOP), -403);
	cr_assert_eq(http_path_errno_status(EXDEV), -403);
	cr_assert_eq(http_path_errno_status(EIO), -500);
	cr_assert_eq(http_path_errno_status(EMFILE), -503);
	cr_assert_eq(http_path_errno_status(ENFILE), -503);
}

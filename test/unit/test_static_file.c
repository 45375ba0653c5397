/*
 * The MIME table and the static-file responder, against a directory tree made
 * for each test.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "error_page.h"
#include "header_rules.h"
#include "http_response.h"
#include "static_file.h"

#define MIME_FILE  TEST_DATA_DIR "/../../etc/mime.types"
#define NOW        ((time_t)1800000000)
#define MTIME      ((time_t)1700000000)
#define MTIME_DATE "Tue, 14 Nov 2023 22:13:20 GMT"
#define HELLO_ETAG "\"6553f100-e\""
#define DATA_ETAG  "\"6553f100-64\""

/* MIME table. */

static struct mime_table *table;
static char err[512];

static void
mime_teardown(void)
{
	mime_table_free(table);
	table = NULL;
}

static int
load_text(const char *text)
{
	static char path[64];
	strcpy(path, "/tmp/kw-mime-XXXXXX");
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	mime_table_free(table);
	table = NULL;
	int rc = mime_table_load(path, &table, err, sizeof(err));
	unlink(path);
	if (rc != 0) {
		cr_assert_null(table);
		char *colon = strchr(err, ':');
		cr_assert_not_null(colon);
		memmove(err, colon, strlen(colon) + 1);
	}
	return rc;
}

#define ASSERT_TYPE(name, want) cr_assert_str_eq(mime_lookup(table, name, "dflt"), want, "%s", name)

TestSuite(mime, .fini = mime_teardown);

Test(mime, shipped_file)
{
	cr_assert_eq(mime_table_load(MIME_FILE, &table, err, sizeof(err)), 0, "%s", err);
	ASSERT_TYPE("index.html", "text/html");
	ASSERT_TYPE("a.htm", "text/html");
	ASSERT_TYPE("style.css", "text/css");
	ASSERT_TYPE("app.js", "text/javascript");
	ASSERT_TYPE("data.json", "application/json");
	ASSERT_TYPE("notes.txt", "text/plain");
	ASSERT_TYPE("p.png", "image/png");
	ASSERT_TYPE("p.jpg", "image/jpeg");
	ASSERT_TYPE("p.jpeg", "image/jpeg");
	ASSERT_TYPE("p.gif", "image/gif");
	ASSERT_TYPE("p.svg", "image/svg+xml");
	ASSERT_TYPE("favicon.ico", "image/x-icon");
	ASSERT_TYPE("p.webp", "image/webp");
	ASSERT_TYPE("f.woff", "font/woff");
	ASSERT_TYPE("f.woff2", "font/woff2");
	ASSERT_TYPE("d.pdf", "application/pdf");
	ASSERT_TYPE("feed.xml", "text/xml");
	ASSERT_TYPE("m.wasm", "application/wasm");
	ASSERT_TYPE("v.mp4", "video/mp4");
	ASSERT_TYPE("w.docx",
	            "application/vnd.openxmlformats-officedocument.wordprocessingml.document");
	ASSERT_TYPE("setup.exe", "application/octet-stream");
}

Test(mime, builtin_table)
{
	cr_assert_eq(mime_table_load(NULL, &table, err, sizeof(err)), 0, "%s", err);
	ASSERT_TYPE("index.html", "text/html");
	ASSERT_TYPE("style.css", "text/css");
	ASSERT_TYPE("app.js", "text/javascript");
	ASSERT_TYPE("data.json", "application/json");
	ASSERT_TYPE("notes.txt", "text/plain");
	ASSERT_TYPE("p.png", "image/png");
	ASSERT_TYPE("p.jpg", "image/jpeg");
	ASSERT_TYPE("p.svg", "image/svg+xml");
	ASSERT_TYPE("m.wasm", "application/wasm");
	ASSERT_TYPE("f.woff2", "font/woff2");
}

Test(mime, case_insensitive)
{
	cr_assert_eq(mime_table_load(NULL, &table, err, sizeof(err)), 0);
	ASSERT_TYPE("INDEX.HTML", "text/html");
	ASSERT_TYPE("Photo.PnG", "image/png");
}

Test(mime, default_type)
{
	cr_assert_eq(mime_table_load(NULL, &table, err, sizeof(err)), 0);
	ASSERT_TYPE("README", "dflt");
	ASSERT_TYPE("file.unknownext", "dflt");
	ASSERT_TYPE("trailing.", "dflt");
	ASSERT_TYPE("/dir.html/file", "dflt");
	ASSERT_TYPE("/a/b.c/d.css", "text/css");
	ASSERT_TYPE("x.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "dflt");
}

Test(mime, long_and_dotted_extensions)
{
	cr_assert_eq(load_text("text/long\taaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaAAAAA\n"
	                       "application/x-tar+gz tar.gz\napplication/gzip gz\n"),
	             0, "%s", err);
	ASSERT_TYPE("x.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "text/long");
	ASSERT_TYPE("x.tar.gz", "application/gzip");
	ASSERT_TYPE("x.tar", "dflt");
}

Test(mime, system_mime_types_if_present)
{
	if (access("/etc/mime.types", R_OK) != 0)
		cr_skip_test("no /etc/mime.types");
	cr_assert_eq(mime_table_load("/etc/mime.types", &table, err, sizeof(err)), 0, "%s", err);
	ASSERT_TYPE("index.html", "text/html");
	ASSERT_TYPE("p.png", "image/png");
}

Test(mime, nginx_format_with_comments)
{
	cr_assert_eq(load_text("# types\ntypes {\n  text/a  aa AB; # comment\n"
	                       "  text/b bb;text/c\n cc\n  dd;\n}\n"),
	             0, "%s", err);
	ASSERT_TYPE("x.aa", "text/a");
	ASSERT_TYPE("x.ab", "text/a");
	ASSERT_TYPE("x.bb", "text/b");
	ASSERT_TYPE("x.cc", "text/c");
	ASSERT_TYPE("x.dd", "text/c");
}

Test(mime, later_duplicate_wins)
{
	cr_assert_eq(load_text("types { text/a x; text/b x y; text/c z; }"), 0, "%s", err);
	ASSERT_TYPE("f.x", "text/b");
	ASSERT_TYPE("f.y", "text/b");
	ASSERT_TYPE("f.z", "text/c");
}

Test(mime, system_format)
{
	cr_assert_eq(load_text("# mime.types\ntext/a\t\taa ab\napplication/none\n\nimage/b bb\n"),
	             0, "%s", err);
	ASSERT_TYPE("f.aa", "text/a");
	ASSERT_TYPE("f.ab", "text/a");
	ASSERT_TYPE("f.bb", "image/b");
	ASSERT_TYPE("f.none", "dflt");
}

Test(mime, errors_name_file_and_line)
{
	cr_assert_eq(load_text("types {\n text/a aa\n}\n"), KW_ERR_ARGUMENT);
	cr_assert_str_eq(err, ":3: expected ';'");
	cr_assert_eq(load_text("types {\n text/a aa;\n"), KW_ERR_ARGUMENT);
	cr_assert_str_eq(err, ":3: expected a MIME type or '}'");
	cr_assert_eq(load_text("types {\n text/a aa"), KW_ERR_ARGUMENT);
	cr_assert_str_eq(err, ":2: unexpected end of file");
	cr_assert_eq(load_text("types {\n\n texta aa;\n}"), KW_ERR_ARGUMENT);
	cr_assert_str_eq(err, ":3: a MIME type needs a '/'");
	cr_assert_eq(load_text("types {\n text/a;\n}"), KW_ERR_ARGUMENT);
	cr_assert_str_eq(err, ":2: a type without extensions");
	cr_assert_eq(load_text("types {\n text/a a/b;\n}"), KW_ERR_ARGUMENT);
	cr_assert_str_eq(err, ":2: an extension has no '/'");
	cr_assert_eq(load_text("types { text/a a; }\nx"), KW_ERR_ARGUMENT);
	cr_assert_str_eq(err, ":2: text after '}'");
	cr_assert_eq(load_text("types { text/a a; } }"), KW_ERR_ARGUMENT);
	cr_assert_str_eq(err, ":1: text after '}'");
	cr_assert_eq(load_text("text/a a;\n"), KW_ERR_ARGUMENT);
	cr_assert_str_eq(err, ":1: expected ';'");
	cr_assert_eq(load_text("text/a a\n{\n"), KW_ERR_ARGUMENT);
	cr_assert_str_eq(err, ":2: expected a MIME type");
}

Test(mime, error_message_starts_with_the_path)
{
	cr_assert_eq(mime_table_load("/nonexistent/mime.types", &table, err, sizeof(err)),
	             KW_ERR_INTERNAL);
	cr_assert_str_eq(err, "/nonexistent/mime.types:0: No such file or directory");
	cr_assert_eq(mime_table_load("/tmp", &table, err, sizeof(err)), KW_ERR_ARGUMENT);
	cr_assert_str_eq(err, "/tmp:0: not a regular file of at most 1 MiB");
}

Test(mime, nul_byte_refused)
{
	char path[] = "/tmp/kw-mime-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_eq(write(fd, "types {\0}", 9), 9);
	close(fd);
	cr_assert_eq(mime_table_load(path, &table, err, sizeof(err)), KW_ERR_ARGUMENT);
	unlink(path);
	cr_assert_not_null(strstr(err, ":0: NUL byte in the file"));
}

Test(mime, free_null)
{
	mime_table_free(NULL);
}

/* The responder. */

static char base[64];
static char root[128], imgroot[128], dirroot[128];
static struct kw_location locations[4];
static char *index_two[] = {"index.html", "index.htm"};
static char *index_one[] = {"index.html"};
static struct kw_server srv;
static struct kw_config cfg;
static struct http_response resp;

static void
write_at(const char *dir, const char *name, const char *text, size_t len)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0, "%s: %s", p, strerror(errno));
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	struct timespec t[2] = {{.tv_sec = MTIME}, {.tv_sec = MTIME}};
	cr_assert_eq(futimens(fd, t), 0);
	close(fd);
}

static void
write_str(const char *dir, const char *name, const char *text)
{
	write_at(dir, name, text, strlen(text));
}

static void
mkdir_at(const char *dir, const char *name)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	cr_assert_eq(mkdir(p, 0755), 0, "%s", p);
}

static void
symlink_at(const char *dir, const char *name, const char *target)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	cr_assert_eq(symlink(target, p), 0, "%s", p);
}

static char data[100];

/*
 * base/outside.txt
 * base/root: index.html, hello.txt, data.bin (100 bytes), empty.txt, Photo.PNG,
 *   noext, dir/ (no index), dir/f.txt, sub/index.htm, idx/index.html/ (a directory)
 *   with idx/index.htm, sp ace"%/, images/y.txt, link_in -> hello.txt,
 *   link_out -> ../outside.txt, fifo
 * base/img: x.png
 */
static void
setup(void)
{
	strcpy(base, "/tmp/kw-static-XXXXXX");
	cr_assert_not_null(mkdtemp(base));
	snprintf(root, sizeof(root), "%s/root", base);
	snprintf(imgroot, sizeof(imgroot), "%s/img", base);
	snprintf(dirroot, sizeof(dirroot), "%s/root/dir", base);
	mkdir_at(base, "root");
	mkdir_at(base, "img");
	write_str(base, "outside.txt", "outside");
	write_str(root, "index.html", "<h1>home</h1>\n");
	write_str(root, "hello.txt", "Hello, world!\n");
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)('a' + i % 26);
	write_at(root, "data.bin", data, sizeof(data));
	write_str(root, "empty.txt", "");
	write_str(root, "Photo.PNG", "png");
	write_str(root, "noext", "x");
	mkdir_at(root, "dir");
	write_str(root, "dir/f.txt", "dir f");
	mkdir_at(root, "sub");
	write_str(root, "sub/index.htm", "sub index");
	mkdir_at(root, "idx");
	mkdir_at(root, "idx/index.html");
	write_str(root, "idx/index.htm", "idx htm");
	mkdir_at(root, "sp ace\"%");
	mkdir_at(root, "images");
	write_str(root, "images/y.txt", "root images");
	symlink_at(root, "link_in", "hello.txt");
	symlink_at(root, "link_out", "../outside.txt");
	char p[256];
	snprintf(p, sizeof(p), "%s/fifo", root);
	cr_assert_eq(mkfifo(p, 0644), 0);
	write_str(imgroot, "x.png", "img x");
	write_str(root, "img.txt", "root img.txt");

	locations[0] = (struct kw_location){.prefix = "/",
	                                    .root = root,
	                                    .index = index_two,
	                                    .n_index = 2,
	                                    .follow_symlinks = false};
	locations[1] = (struct kw_location){.prefix = "/img",
	                                    .root = imgroot,
	                                    .index = index_one,
	                                    .n_index = 1,
	                                    .follow_symlinks = true};
	locations[2] = (struct kw_location){.prefix = "/follow/",
	                                    .root = root,
	                                    .index = index_one,
	                                    .n_index = 1,
	                                    .follow_symlinks = true};
	locations[3] = (struct kw_location){.prefix = "/img/deep",
	                                    .root = dirroot,
	                                    .index = index_one,
	                                    .n_index = 1,
	                                    .follow_symlinks = false};
	srv = (struct kw_server){.locations = locations, .n_locations = 4};
	cfg = (struct kw_config){.default_type = "application/octet-stream"};
	cr_assert_eq(mime_table_load(NULL, &table, err, sizeof(err)), 0);
	http_response_init(&resp);
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
teardown(void)
{
	http_response_dispose(&resp);
	mime_table_free(table);
	table = NULL;
	nftw(base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static struct http_request
get(const char *path)
{
	return (struct http_request){
	    .method = HTTP_GET, .version_minor = 1, .keep_alive = true, .path = (char *)path};
}

static void
respond(const struct http_request *req)
{
	http_response_dispose(&resp);
	static_respond(&cfg, &srv, table, req, NOW, &resp);
}

static int
respond_path(const char *path)
{
	struct http_request r = get(path);
	respond(&r);
	return resp.status;
}

static char *
head_text(void)
{
	static char buf[4096];
	size_t n = kw_buf_size(&resp.head);
	cr_assert_lt(n, sizeof(buf));
	memcpy(buf, kw_buf_head(&resp.head), n);
	buf[n] = '\0';
	return buf;
}

/* The value of a response header, or NULL. */
static char *
header(const char *name)
{
	static char value[512];
	char key[128];
	snprintf(key, sizeof(key), "\r\n%s: ", name);
	char *h = strstr(head_text(), key);
	if (h == NULL)
		return NULL;
	h += strlen(key);
	size_t n = strcspn(h, "\r");
	memcpy(value, h, n);
	value[n] = '\0';
	return value;
}

/* The body as the connection would send it: memory and file segments in order. */
static char *
body(size_t *len)
{
	static char buf[8192];
	size_t n = 0;
	for (size_t i = 0; i < resp.n_segments; i++) {
		const struct http_segment *s = &resp.segments[i];
		cr_assert_lt(n + s->len, sizeof(buf));
		if (s->from_file) {
			cr_assert_eq(pread(resp.fd, buf + n, s->len, (off_t)s->off),
			             (ssize_t)s->len);
		} else {
			cr_assert_leq(s->off + s->len, kw_buf_size(&resp.mem));
			memcpy(buf + n, resp.mem.data + s->off, s->len);
		}
		n += s->len;
	}
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static void
assert_body(const char *want)
{
	size_t n;
	char *b = body(&n);
	cr_assert_eq(n, strlen(want));
	cr_assert_eq(memcmp(b, want, n), 0, "body %s", b);
	cr_assert_eq(resp.body_len, n);
}

TestSuite(static_respond, .init = setup, .fini = teardown);

Test(static_respond, regular_file)
{
	cr_assert_eq(respond_path("/hello.txt"), 200);
	cr_assert(strncmp(head_text(), "HTTP/1.1 200 OK\r\n", 17) == 0);
	cr_assert_str_eq(header("Server"), "keyward");
	cr_assert_str_eq(header("Date"), "Fri, 15 Jan 2027 08:00:00 GMT");
	cr_assert_str_eq(header("Content-Type"), "text/plain");
	cr_assert_str_eq(header("Content-Length"), "14");
	cr_assert_str_eq(header("Last-Modified"), MTIME_DATE);
	cr_assert_str_eq(header("ETag"), HELLO_ETAG);
	cr_assert_str_eq(header("Accept-Ranges"), "bytes");
	cr_assert_null(header("Connection"));
	cr_assert_null(header("Content-Range"));
	cr_assert_eq(resp.n_segments, 1);
	cr_assert(resp.segments[0].from_file);
	cr_assert_eq(resp.segments[0].off, 0);
	cr_assert_eq(resp.segments[0].len, 14);
	cr_assert_geq(resp.fd, 0);
	cr_assert_not(resp.close);
	assert_body("Hello, world!\n");
	cr_assert_not_null(strstr(head_text(), "\r\n\r\n"));
	cr_assert_eq(strstr(head_text(), "\r\n\r\n") + 4, head_text() + strlen(head_text()));
}

Test(static_respond, head_request)
{
	struct http_request r = get("/hello.txt");
	r.method = HTTP_HEAD;
	respond(&r);
	cr_assert_eq(resp.status, 200);
	cr_assert_str_eq(header("Content-Length"), "14");
	cr_assert_eq(resp.n_segments, 0);
	cr_assert_eq(resp.body_len, 14);
}

Test(static_respond, empty_file)
{
	cr_assert_eq(respond_path("/empty.txt"), 200);
	cr_assert_str_eq(header("Content-Length"), "0");
	cr_assert_eq(resp.n_segments, 0);
	cr_assert_eq(resp.body_len, 0);
}

Test(static_respond, content_types)
{
	respond_path("/Photo.PNG");
	cr_assert_str_eq(header("Content-Type"), "image/png");
	respond_path("/noext");
	cr_assert_str_eq(header("Content-Type"), "application/octet-stream");
	respond_path("/index.html");
	cr_assert_str_eq(header("Content-Type"), "text/html");
}

Test(static_respond, missing_is_404)
{
	cr_assert_eq(respond_path("/nope.txt"), 404);
	cr_assert_str_eq(header("Content-Type"), "text/html");
	cr_assert_not_null(strstr(body(NULL), "404 Not Found"));
	cr_assert_eq(resp.fd, -1);
	cr_assert_eq(respond_path("/nope/deeper"), 404);
}

Test(static_respond, file_with_trailing_slash_is_404)
{
	cr_assert_eq(respond_path("/hello.txt/"), 404);
	cr_assert_eq(respond_path("/hello.txt/x"), 404);
}

Test(static_respond, fifo_is_404)
{
	cr_assert_eq(respond_path("/fifo"), 404);
}

Test(static_respond, directory_redirect)
{
	cr_assert_eq(respond_path("/dir"), 301);
	cr_assert_str_eq(header("Location"), "/dir/");
	cr_assert_str_eq(header("Content-Type"), "text/html");
	cr_assert_not_null(strstr(body(NULL), "301 Moved Permanently"));
	cr_assert_not(resp.close);
}

Test(static_respond, directory_redirect_keeps_query)
{
	struct http_request r = get("/dir");
	r.query = "a=1&b=%20";
	respond(&r);
	cr_assert_eq(resp.status, 301);
	cr_assert_str_eq(header("Location"), "/dir/?a=1&b=%20");
}

Test(static_respond, directory_redirect_escapes)
{
	cr_assert_eq(respond_path("/sp ace\"%"), 301);
	cr_assert_str_eq(header("Location"), "/sp%20ace%22%25/");
}

Test(static_respond, location_escape_set)
{
	struct http_request r = get("/x\r\nSet-Cookie: a\x7f\xc3\xa9?#<>\\^`{|}");
	respond(&r);
	cr_assert_eq(resp.status, 404);
	char p[256];
	snprintf(p, sizeof(p), "%s/x\r\nSet-Cookie: a\x7f\xc3\xa9?#<>\\^`{|}", root);
	cr_assert_eq(mkdir(p, 0755), 0);
	respond(&r);
	cr_assert_eq(resp.status, 301);
	cr_assert_str_eq(header("Location"),
	                 "/x%0D%0ASet-Cookie:%20a%7F%C3%A9%3F%23%3C%3E%5C%5E%60%7B%7C%7D/");
	cr_assert_null(header("Set-Cookie"));
}

Test(static_respond, index_file)
{
	cr_assert_eq(respond_path("/"), 200);
	cr_assert_str_eq(header("Content-Type"), "text/html");
	assert_body("<h1>home</h1>\n");
}

Test(static_respond, second_index_file)
{
	cr_assert_eq(respond_path("/sub/"), 200);
	cr_assert_str_eq(header("Content-Type"), "text/html");
	assert_body("sub index");
}

Test(static_respond, index_that_is_a_directory_skipped)
{
	cr_assert_eq(respond_path("/idx/"), 200);
	assert_body("idx htm");
}

Test(static_respond, directory_without_index_is_403)
{
	cr_assert_eq(respond_path("/dir/"), 403);
	cr_assert_not_null(strstr(body(NULL), "403 Forbidden"));
	cr_assert_not(resp.close);
}

Test(static_respond, other_methods_405)
{
	struct http_request r = get("/hello.txt");
	r.method = HTTP_OTHER;
	respond(&r);
	cr_assert_eq(resp.status, 405);
	cr_assert_str_eq(header("Allow"), "GET, HEAD");
	cr_assert_eq(resp.fd, -1);
}

Test(static_respond, symlink_refused_without_follow)
{
	cr_assert_eq(respond_path("/link_in"), 403);
	cr_assert_eq(resp.fd, -1);
}

Test(static_respond, symlink_followed_within_root)
{
	cr_assert_eq(respond_path("/follow/link_in"), 200);
	assert_body("Hello, world!\n");
	cr_assert_str_eq(header("Content-Type"), "application/octet-stream");
}

Test(static_respond, symlink_out_of_root_refused)
{
	cr_assert_eq(respond_path("/link_out"), 403);
	cr_assert_eq(respond_path("/follow/link_out"), 403);
}

Test(static_respond, dotdot_never_escapes)
{
	cr_assert_eq(respond_path("/../outside.txt"), 403);
	cr_assert_eq(respond_path("/follow/../outside.txt"), 403);
	cr_assert_eq(respond_path("/img/../root/hello.txt"), 403);
}

Test(static_respond, longest_prefix)
{
	cr_assert_eq(respond_path("/img/x.png"), 200);
	assert_body("img x");
	cr_assert_eq(respond_path("/img/deep/f.txt"), 200);
	assert_body("dir f");
	cr_assert_eq(respond_path("/images/y.txt"), 200);
	assert_body("root images");
	cr_assert_eq(respond_path("/img.txt"), 200, "a prefix matches whole segments only");
	assert_body("root img.txt");
	cr_assert_eq(respond_path("/img"), 301);
	cr_assert_str_eq(header("Location"), "/img/");
	cr_assert_eq(respond_path("/follow"), 301);
	cr_assert_str_eq(header("Location"), "/follow/");
}

Test(static_respond, no_matching_location_is_404)
{
	srv.locations = &locations[1];
	srv.n_locations = 1;
	cr_assert_eq(respond_path("/hello.txt"), 404);
}

Test(static_respond, missing_root)
{
	locations[1].root = "/nonexistent-keyward-root";
	cr_assert_eq(respond_path("/img/x.png"), 404);
}

Test(static_respond, not_keep_alive_closes)
{
	struct http_request r = get("/hello.txt");
	r.keep_alive = false;
	respond(&r);
	cr_assert_eq(resp.status, 200);
	cr_assert(resp.close);
	cr_assert_str_eq(header("Connection"), "close");
}

Test(static_respond, http10_keep_alive)
{
	struct http_request r = get("/hello.txt");
	r.version_minor = 0;
	respond(&r);
	cr_assert_not(resp.close);
	cr_assert_str_eq(header("Connection"), "keep-alive");
}

/* Conditional requests. */

static int
conditional_req(struct http_request *r)
{
	respond(r);
	return resp.status;
}

Test(static_respond, if_none_match)
{
	struct http_request r = get("/hello.txt");
	r.if_none_match = HELLO_ETAG;
	cr_assert_eq(conditional_req(&r), 304);
	cr_assert_str_eq(header("ETag"), HELLO_ETAG);
	cr_assert_str_eq(header("Last-Modified"), MTIME_DATE);
	cr_assert_null(header("Content-Length"));
	cr_assert_eq(resp.n_segments, 0);
	cr_assert_eq(resp.body_len, 0);
	cr_assert_eq(resp.fd, -1);
}

Test(static_respond, if_none_match_forms)
{
	struct http_request r = get("/hello.txt");
	r.if_none_match = "W/" HELLO_ETAG;
	cr_assert_eq(conditional_req(&r), 304);
	r.if_none_match = "*";
	cr_assert_eq(conditional_req(&r), 304);
	r.if_none_match = "\"a\", " HELLO_ETAG " ,\"b\"";
	cr_assert_eq(conditional_req(&r), 304);
	r.if_none_match = "\"other\"";
	cr_assert_eq(conditional_req(&r), 200);
	r.if_none_match = "\"a\", \"b\"";
	cr_assert_eq(conditional_req(&r), 200);
	r.if_none_match = "6553f100-e";
	cr_assert_eq(conditional_req(&r), 200);
	r.if_none_match = "\"a\" junk, " HELLO_ETAG;
	cr_assert_eq(conditional_req(&r), 200);
}

Test(static_respond, if_none_match_head)
{
	struct http_request r = get("/hello.txt");
	r.method = HTTP_HEAD;
	r.if_none_match = HELLO_ETAG;
	cr_assert_eq(conditional_req(&r), 304);
}

Test(static_respond, if_modified_since)
{
	struct http_request r = get("/hello.txt");
	r.if_modified_since = MTIME_DATE;
	cr_assert_eq(conditional_req(&r), 304);
	r.if_modified_since = "Wed, 15 Nov 2023 00:00:00 GMT";
	cr_assert_eq(conditional_req(&r), 304);
	r.if_modified_since = "Tue, 14 Nov 2023 22:13:19 GMT";
	cr_assert_eq(conditional_req(&r), 200);
}

Test(static_respond, if_modified_since_other_date_forms)
{
	struct http_request r = get("/hello.txt");
	r.if_modified_since = "Tuesday, 14-Nov-23 22:13:20 GMT";
	cr_assert_eq(conditional_req(&r), 304);
	r.if_modified_since = "Tuesday, 14-Nov-23 22:13:19 GMT";
	cr_assert_eq(conditional_req(&r), 200);
	r.if_modified_since = "Tue Nov 14 22:13:20 2023";
	cr_assert_eq(conditional_req(&r), 304);
	r.if_modified_since = "Tue Nov 14 22:13:19 2023";
	cr_assert_eq(conditional_req(&r), 200);
}

Test(static_respond, if_modified_since_invalid_ignored)
{
	struct http_request r = get("/hello.txt");
	static const char *bad[] = {"yesterday",
	                            "Tue, 14 Nov 2023 22:13:20 GMT junk",
	                            "Tue, 14 Foo 2023 22:13:20 GMT",
	                            "Tue, 32 Nov 2023 22:13:20 GMT",
	                            "Tue, 14 Nov 2023 25:13:20 GMT",
	                            ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r.if_modified_since = (char *)bad[i];
		cr_assert_eq(conditional_req(&r), 200, "%s", bad[i]);
	}
}

Test(static_respond, if_none_match_overrides_if_modified_since)
{
	struct http_request r = get("/hello.txt");
	r.if_none_match = "\"other\"";
	r.if_modified_since = MTIME_DATE;
	cr_assert_eq(conditional_req(&r), 200);
}

Test(static_respond, if_match)
{
	struct http_request r = get("/hello.txt");
	r.if_match = HELLO_ETAG;
	cr_assert_eq(conditional_req(&r), 200);
	r.if_match = "*";
	cr_assert_eq(conditional_req(&r), 200);
	r.if_match = "\"x\", " HELLO_ETAG;
	cr_assert_eq(conditional_req(&r), 200);
	r.if_match = "\"other\"";
	cr_assert_eq(conditional_req(&r), 412);
	cr_assert_not_null(strstr(body(NULL), "412 Precondition Failed"));
	cr_assert_eq(resp.fd, -1);
	r.if_match = "W/" HELLO_ETAG;
	cr_assert_eq(conditional_req(&r), 412);
}

Test(static_respond, if_unmodified_since)
{
	struct http_request r = get("/hello.txt");
	r.if_unmodified_since = MTIME_DATE;
	cr_assert_eq(conditional_req(&r), 200);
	r.if_unmodified_since = "Tue, 14 Nov 2023 22:13:19 GMT";
	cr_assert_eq(conditional_req(&r), 412);
	r.if_unmodified_since = "garbage";
	cr_assert_eq(conditional_req(&r), 200);
}

Test(static_respond, if_match_overrides_if_unmodified_since)
{
	struct http_request r = get("/hello.txt");
	r.if_match = HELLO_ETAG;
	r.if_unmodified_since = "Tue, 14 Nov 2023 22:13:19 GMT";
	cr_assert_eq(conditional_req(&r), 200);
}

Test(static_respond, precondition_before_not_modified)
{
	struct http_request r = get("/hello.txt");
	r.if_match = "\"other\"";
	r.if_none_match = HELLO_ETAG;
	cr_assert_eq(conditional_req(&r), 412);
}

/* Ranges over data.bin: 100 bytes, 'a' + i % 26. */

static int
ranged(const char *range)
{
	struct http_request r = get("/data.bin");
	r.range = (char *)range;
	respond(&r);
	return resp.status;
}

static void
assert_single_range(size_t first, size_t last)
{
	char want[64];
	cr_assert_eq(resp.status, 206);
	snprintf(want, sizeof(want), "bytes %zu-%zu/100", first, last);
	cr_assert_str_eq(header("Content-Range"), want);
	snprintf(want, sizeof(want), "%zu", last - first + 1);
	cr_assert_str_eq(header("Content-Length"), want);
	cr_assert_str_eq(header("Content-Type"), "application/octet-stream");
	cr_assert_eq(resp.n_segments, 1);
	cr_assert_eq(resp.segments[0].off, first);
	cr_assert_eq(resp.segments[0].len, last - first + 1);
	char part[101];
	memcpy(part, data + first, last - first + 1);
	part[last - first + 1] = '\0';
	assert_body(part);
}

Test(static_respond, range_closed)
{
	ranged("bytes=0-9");
	assert_single_range(0, 9);
	cr_assert_str_eq(header("ETag"), DATA_ETAG);
	cr_assert_str_eq(header("Accept-Ranges"), "bytes");
}

Test(static_respond, range_open)
{
	ranged("bytes=90-");
	assert_single_range(90, 99);
}

Test(static_respond, range_suffix)
{
	ranged("bytes=-10");
	assert_single_range(90, 99);
	ranged("bytes=-500");
	assert_single_range(0, 99);
}

Test(static_respond, range_clamped_to_length)
{
	ranged("bytes=95-200");
	assert_single_range(95, 99);
	ranged("bytes=99-99");
	assert_single_range(99, 99);
}

/* A last byte at the file's size and one past it is clipped to the last byte there is. */
Test(static_respond, range_last_byte_at_and_past_the_size)
{
	ranged("bytes=0-99");
	assert_single_range(0, 99);
	ranged("bytes=0-100");
	assert_single_range(0, 99);
	ranged("bytes=0-101");
	assert_single_range(0, 99);
	ranged("bytes=99-100");
	assert_single_range(99, 99);
	ranged("bytes=-100");
	assert_single_range(0, 99);
	ranged("bytes=-101");
	assert_single_range(0, 99);
	cr_assert_eq(ranged("bytes=100-100"), 416);
}

Test(static_respond, range_unit_case_and_spaces)
{
	ranged("Bytes=1-2");
	assert_single_range(1, 2);
	ranged("bytes= 3-4 ,");
	assert_single_range(3, 4);
}

Test(static_respond, range_unsatisfiable)
{
	cr_assert_eq(ranged("bytes=100-"), 416);
	cr_assert_str_eq(header("Content-Range"), "bytes */100");
	cr_assert_not_null(strstr(body(NULL), "416 Range Not Satisfiable"));
	cr_assert_eq(resp.fd, -1);
	cr_assert_not(resp.close);
	cr_assert_eq(ranged("bytes=-0"), 416);
	cr_assert_eq(ranged("bytes=200-300, 100-"), 416);
}

Test(static_respond, range_on_empty_file)
{
	struct http_request r = get("/empty.txt");
	r.range = "bytes=0-";
	respond(&r);
	cr_assert_eq(resp.status, 416);
	cr_assert_str_eq(header("Content-Range"), "bytes */0");
	r.range = "bytes=-5";
	respond(&r);
	cr_assert_eq(resp.status, 416);
}

Test(static_respond, range_invalid_ignored)
{
	static const char *bad[] = {
	    "bytes=5-2", "items=0-1",   "bytes=",    "bytes=a-b",   "bytes=1",
	    "bytes=-",   "bytes=1-2-3", "bytes 0-1", "bytes=0-1;x", "bytes=99999999999999999999-"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(ranged(bad[i]), 200, "%s", bad[i]);
		cr_assert_str_eq(header("Content-Length"), "100");
	}
}

Test(static_respond, range_ignored_for_head)
{
	struct http_request r = get("/data.bin");
	r.method = HTTP_HEAD;
	r.range = "bytes=0-9";
	respond(&r);
	cr_assert_eq(resp.status, 200);
	cr_assert_str_eq(header("Content-Length"), "100");
}

Test(static_respond, overlapping_ranges_merged)
{
	ranged("bytes=5-14,0-9");
	assert_single_range(0, 14);
	ranged("bytes=0-9,10-19");
	assert_single_range(0, 19);
	ranged("bytes=0-9,0-9,0-9");
	assert_single_range(0, 9);
}

static char *
boundary_of_response(void)
{
	static char boundary[128];
	const char *ct = header("Content-Type");
	const char *prefix = "multipart/byteranges; boundary=";
	cr_assert_not_null(ct);
	cr_assert(strncmp(ct, prefix, strlen(prefix)) == 0, "%s", ct);
	strcpy(boundary, ct + strlen(prefix));
	cr_assert_gt(strlen(boundary), 8);
	return boundary;
}

Test(static_respond, multipart_ranges)
{
	cr_assert_eq(ranged("bytes=20-29, 0-4"), 206);
	char *b = boundary_of_response();
	char want[1024];
	snprintf(want, sizeof(want),
	         "\r\n--%s\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes "
	         "0-4/100\r\n\r\nabcde"
	         "\r\n--%s\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes "
	         "20-29/100\r\n\r\nuvwxyzabcd"
	         "\r\n--%s--\r\n",
	         b, b, b);
	assert_body(want);
	char len[32];
	snprintf(len, sizeof(len), "%zu", strlen(want));
	cr_assert_str_eq(header("Content-Length"), len);
	cr_assert_null(header("Content-Range"));
	cr_assert_eq(resp.n_segments, 5);
	cr_assert(resp.segments[1].from_file);
	cr_assert(resp.segments[3].from_file);
}

Test(static_respond, multipart_unsatisfiable_parts_dropped)
{
	cr_assert_eq(ranged("bytes=0-0,500-600,-1"), 206);
	char *b = boundary_of_response();
	char want[1024];
	snprintf(want, sizeof(want),
	         "\r\n--%s\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes "
	         "0-0/100\r\n\r\na"
	         "\r\n--%s\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes "
	         "99-99/100\r\n\r\nv"
	         "\r\n--%s--\r\n",
	         b, b, b);
	assert_body(want);
}

static char *
many_ranges(size_t n)
{
	static char buf[1024];
	size_t w = (size_t)sprintf(buf, "bytes=");
	for (size_t i = 0; i < n; i++)
		w += (size_t)sprintf(buf + w, "%s%zu-%zu", i ? "," : "", 3 * i, 3 * i);
	return buf;
}

Test(static_respond, range_count_limit)
{
	cr_assert_eq(ranged(many_ranges(21)), 206);
	cr_assert_eq(resp.n_segments, 43);
	cr_assert_leq(resp.n_segments, HTTP_MAX_SEGMENTS);
	cr_assert_eq(ranged(many_ranges(22)), 200);
	cr_assert_str_eq(header("Content-Length"), "100");
}

Test(static_respond, if_range_etag)
{
	struct http_request r = get("/data.bin");
	r.range = "bytes=0-9";
	r.if_range = DATA_ETAG;
	respond(&r);
	assert_single_range(0, 9);
	r.if_range = "\"other\"";
	respond(&r);
	cr_assert_eq(resp.status, 200);
	cr_assert_str_eq(header("Content-Length"), "100");
	r.if_range = "W/" DATA_ETAG;
	respond(&r);
	cr_assert_eq(resp.status, 200);
}

Test(static_respond, if_range_date)
{
	struct http_request r = get("/data.bin");
	r.range = "bytes=0-9";
	r.if_range = MTIME_DATE;
	respond(&r);
	assert_single_range(0, 9);
	r.if_range = "Wed, 15 Nov 2023 00:00:00 GMT";
	respond(&r);
	cr_assert_eq(resp.status, 200);
	r.if_range = "not a date";
	respond(&r);
	cr_assert_eq(resp.status, 200);
}

Test(static_respond, if_range_without_range)
{
	struct http_request r = get("/data.bin");
	r.if_range = DATA_ETAG;
	respond(&r);
	cr_assert_eq(resp.status, 200);
}

/* The per-turn cache: what one loop turn opened serves the requests after it in that turn. */

static struct static_cache cache;

static int
respond_cached(const char *path)
{
	struct http_request r = get(path);
	http_response_dispose(&resp);
	static_respond_cached(&cfg, &srv, table, &r, NOW, &cache, &resp);
	return resp.status;
}

static void
cache_setup(void)
{
	setup();
	static_cache_init(&cache);
}

static void
cache_teardown(void)
{
	static_cache_clear(&cache);
	teardown();
}

TestSuite(static_cache, .init = cache_setup, .fini = cache_teardown);

Test(static_cache, same_turn_shares_the_open_file)
{
	char p[512];
	cr_assert_eq(respond_cached("/hello.txt"), 200);
	cr_assert_eq(cache.n_files, 1);
	cr_assert_eq(cache.n_roots, 1);
	snprintf(p, sizeof(p), "%s/hello.txt", root);
	cr_assert_eq(unlink(p), 0);
	cr_assert_eq(respond_cached("/hello.txt"), 200);
	assert_body("Hello, world!\n");
	cr_assert_eq(cache.n_files, 1);
	static_cache_clear(&cache);
	cr_assert_eq(cache.n_files, 0);
	cr_assert_eq(respond_cached("/hello.txt"), 404);
}

/* A response shares the cache's open file: no second descriptor, and the file stays
 * open until both the turn has ended and the response is done, whichever comes last. */
Test(static_cache, response_shares_the_cached_file)
{
	cr_assert_eq(respond_cached("/data.bin"), 200);
	cr_assert_geq(resp.fd, 0);
	cr_assert_not_null(resp.fd_shared);
	cr_assert_eq(resp.fd_shared, cache.files[0].file);
	cr_assert_eq(resp.fd, cache.files[0].file->fd);
	cr_assert_eq(cache.files[0].file->refs, 2);
	int fd = resp.fd;

	static_cache_clear(&cache); /* the turn ends: the response still sends the file */
	cr_assert_geq(fcntl(fd, F_GETFD), 0);
	size_t n;
	const char *b = body(&n);
	cr_assert_eq(n, sizeof(data));
	cr_assert_eq(memcmp(b, data, n), 0);
	http_response_dispose(&resp); /* the last reference closes it */
	cr_assert_eq(fcntl(fd, F_GETFD), -1);
	cr_assert_eq(errno, EBADF);
}

/* The other order: the response is done first, the cache keeps the file for the turn. */
Test(static_cache, cache_outlives_a_done_response)
{
	cr_assert_eq(respond_cached("/data.bin"), 200);
	int fd = resp.fd;
	http_response_dispose(&resp);
	cr_assert_geq(fcntl(fd, F_GETFD), 0, "the cache still holds the file");
	cr_assert_eq(cache.files[0].file->refs, 1);
	cr_assert_eq(respond_cached("/data.bin"), 200);
	cr_assert_eq(resp.fd, fd, "the next request of the turn sends the same open file");
	http_response_dispose(&resp);
	static_cache_clear(&cache);
	cr_assert_eq(fcntl(fd, F_GETFD), -1);
}

/* Without a cache, the response owns its descriptor outright. */
Test(static_cache, uncached_response_owns_its_descriptor)
{
	cr_assert_eq(respond_path("/data.bin"), 200);
	cr_assert_geq(resp.fd, 0);
	cr_assert_null(resp.fd_shared);
}

Test(static_cache, locations_do_not_share_entries)
{
	cr_assert_eq(respond_cached("/follow/link_in"), 200);
	cr_assert_eq(respond_cached("/link_in"), 403);
	cr_assert_eq(respond_cached("/follow/link_in"), 200);
	assert_body("Hello, world!\n");
}

Test(static_cache, index_and_head_through_the_cache)
{
	cr_assert_eq(respond_cached("/sub/"), 200);
	assert_body("sub index");
	cr_assert_eq(respond_cached("/sub/"), 200);
	assert_body("sub index");
	struct http_request r = get("/hello.txt");
	r.method = HTTP_HEAD;
	http_response_dispose(&resp);
	static_respond_cached(&cfg, &srv, table, &r, NOW, &cache, &resp);
	cr_assert_eq(resp.status, 200);
	cr_assert_eq(resp.n_segments, 0);
}

Test(static_cache, full_cache_and_long_paths_still_serve)
{
	char name[200], p[512];
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	write_str(root, name, "long");
	snprintf(p, sizeof(p), "/%s", name);
	cr_assert_eq(respond_cached(p), 200);
	assert_body("long");
	cr_assert_eq(cache.n_files, 0);
	for (int i = 0; i < STATIC_CACHE_FILES + 4; i++) {
		snprintf(name, sizeof(name), "f%d.txt", i);
		write_str(root, name, name);
		snprintf(p, sizeof(p), "/%s", name);
		cr_assert_eq(respond_cached(p), 200);
		assert_body(name);
	}
	cr_assert_eq(cache.n_files, STATIC_CACHE_FILES);
}

Test(static_cache, missing_root_is_not_cached)
{
	char moved[512];
	snprintf(moved, sizeof(moved), "%s/moved", base);
	cr_assert_eq(rename(imgroot, moved), 0);
	cr_assert_eq(respond_cached("/img/x.png"), 404);
	cr_assert_eq(cache.n_roots, 0);
	cr_assert_eq(rename(moved, imgroot), 0);
	cr_assert_eq(respond_cached("/img/x.png"), 200);
	assert_body("img x");
}

/* Out of descriptors is 503 (try again), not 500: the worker accepts less meanwhile. */
Test(static_respond, out_of_descriptors_is_503)
{
	struct rlimit lim, was;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	cr_assert_geq(fd, 0);
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &was), 0);
	lim = was;
	lim.rlim_cur = (rlim_t)fd; /* every descriptor from fd up is over the limit */
	close(fd);
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &lim), 0);
	cr_assert_eq(respond_path("/hello.txt"), 503);
	cr_assert_eq(resp.fd, -1);
	cr_assert_eq(resp.sys_errno, EMFILE);
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &was), 0);
	cr_assert_eq(respond_path("/hello.txt"), 200);
	cr_assert_eq(resp.sys_errno, 0);
}

/* Precompressed variants beside the file: hello.txt.gz and hello.txt.br. */

static void
set_mtime(const char *name, time_t t)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", root, name);
	struct timespec ts[2] = {{.tv_sec = t}, {.tv_sec = t}};
	cr_assert_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
}

static void
precompressed_setup(void)
{
	setup();
	locations[0].precompressed = true;
	write_str(root, "hello.txt.gz", "gzip bytes");
	write_str(root, "hello.txt.br", "br");
	write_str(root, "index.html.gz", "gz index");
}

static int
respond_accepting(const char *path, const char *accept)
{
	struct http_request r = get(path);
	r.accept_encoding = (char *)accept;
	respond(&r);
	return resp.status;
}

TestSuite(precompressed, .init = precompressed_setup, .fini = teardown);

Test(precompressed, br_preferred_among_equals)
{
	cr_assert_eq(respond_accepting("/hello.txt", "gzip, deflate, br"), 200);
	assert_body("br");
	cr_assert_str_eq(header("Content-Encoding"), "br");
	cr_assert_str_eq(header("Vary"), "Accept-Encoding");
	cr_assert_str_eq(header("Content-Type"), "text/plain");
	cr_assert_str_eq(header("Content-Length"), "2");
	cr_assert_str_eq(header("ETag"), "\"6553f100-2-br\"");
}

Test(precompressed, gzip_variant)
{
	cr_assert_eq(respond_accepting("/hello.txt", "gzip"), 200);
	assert_body("gzip bytes");
	cr_assert_str_eq(header("Content-Encoding"), "gzip");
	cr_assert_str_eq(header("ETag"), "\"6553f100-a-gzip\"");
	cr_assert_eq(respond_accepting("/hello.txt", "br;q=0.5, gzip"), 200);
	assert_body("gzip bytes");
	cr_assert_eq(respond_accepting("/hello.txt", "x-gzip, br;q=0"), 200);
	assert_body("gzip bytes");
}

Test(precompressed, identity_with_vary_when_not_accepted)
{
	const char *refusals[] = {NULL,
	                          "",
	                          "deflate",
	                          "gzip;q=0, br;q=0",
	                          "*;q=0, identity",
	                          "gzip;q=0.5, br;q=0.5, identity"};
	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		cr_assert_eq(respond_accepting("/hello.txt", refusals[i]), 200);
		assert_body("Hello, world!\n");
		cr_assert_null(header("Content-Encoding"), "%s", refusals[i]);
		cr_assert_str_eq(header("Vary"), "Accept-Encoding");
		cr_assert_str_eq(header("ETag"), HELLO_ETAG);
	}
}

Test(precompressed, off_by_default)
{
	locations[0].precompressed = false;
	cr_assert_eq(respond_accepting("/hello.txt", "gzip, br"), 200);
	assert_body("Hello, world!\n");
	cr_assert_null(header("Content-Encoding"));
	cr_assert_null(header("Vary"));
}

Test(precompressed, older_variant_ignored_same_second_served)
{
	set_mtime("hello.txt.br", MTIME - 1);
	cr_assert_eq(respond_accepting("/hello.txt", "br, gzip"), 200);
	assert_body("gzip bytes");
	set_mtime("hello.txt.gz", MTIME - 1);
	cr_assert_eq(respond_accepting("/hello.txt", "br, gzip"), 200);
	assert_body("Hello, world!\n");
	set_mtime("hello.txt.gz", MTIME + 1);
	cr_assert_eq(respond_accepting("/hello.txt", "br, gzip"), 200);
	assert_body("gzip bytes");
}

Test(precompressed, variant_that_is_a_directory_ignored)
{
	mkdir_at(root, "data.bin.gz");
	cr_assert_eq(respond_accepting("/data.bin", "gzip"), 200);
	cr_assert_null(header("Content-Encoding"));
	cr_assert_str_eq(header("Content-Length"), "100");
}

Test(precompressed, index_file_variant)
{
	cr_assert_eq(respond_accepting("/", "gzip"), 200);
	assert_body("gz index");
	cr_assert_str_eq(header("Content-Type"), "text/html");
	cr_assert_str_eq(header("Content-Encoding"), "gzip");
}

Test(precompressed, head_agrees_with_get)
{
	cr_assert_eq(respond_accepting("/hello.txt", "gzip"), 200);
	char get_head[1024];
	snprintf(get_head, sizeof(get_head), "%s", head_text());
	struct http_request r = get("/hello.txt");
	r.method = HTTP_HEAD;
	r.accept_encoding = "gzip";
	respond(&r);
	cr_assert_str_eq(head_text(), get_head);
	cr_assert_eq(resp.n_segments, 0);
}

Test(precompressed, conditionals_apply_to_the_variant)
{
	struct http_request r = get("/hello.txt");
	r.accept_encoding = "gzip";
	r.if_none_match = "\"6553f100-a-gzip\"";
	respond(&r);
	cr_assert_eq(resp.status, 304);
	cr_assert_str_eq(header("Vary"), "Accept-Encoding");
	cr_assert_str_eq(header("ETag"), "\"6553f100-a-gzip\"");
	r.if_none_match = HELLO_ETAG;
	respond(&r);
	cr_assert_eq(resp.status, 200);
	assert_body("gzip bytes");
	r.accept_encoding = NULL;
	respond(&r);
	cr_assert_eq(resp.status, 304);
	r.if_none_match = NULL;
	r.if_match = "\"6553f100-a-gzip\"";
	respond(&r);
	cr_assert_eq(resp.status, 412);
}

Test(precompressed, range_applies_to_the_variant)
{
	struct http_request r = get("/hello.txt");
	r.accept_encoding = "gzip";
	r.range = "bytes=5-";
	respond(&r);
	cr_assert_eq(resp.status, 206);
	assert_body("bytes");
	cr_assert_str_eq(header("Content-Range"), "bytes 5-9/10");
	cr_assert_str_eq(header("Content-Encoding"), "gzip");
	r.range = "bytes=10-";
	respond(&r);
	cr_assert_eq(resp.status, 416);
	cr_assert_str_eq(header("Content-Range"), "bytes */10");
	r.range = "bytes=9-";
	r.if_range = HELLO_ETAG;
	respond(&r);
	cr_assert_eq(resp.status, 200);
	assert_body("gzip bytes");
}

/* Headers, expires and HSTS from the server block and the location. */

static char *server_lines[] = {"X-Frame-Options: DENY", "Link: </a.css>; rel=preload"};
static char *location_lines[] = {"Cache-Control:  public"};

static void
rules_setup(void)
{
	setup();
	srv.rules = (struct kw_header_rules){.headers = server_lines,
	                                     .n_headers = 2,
	                                     .headers_line = 1,
	                                     .expires = KW_EXPIRES_SECONDS,
	                                     .expires_s = 3600};
	srv.hsts = "max-age=60; includeSubDomains";
	locations[1].rules = (struct kw_header_rules){.headers = location_lines,
	                                              .n_headers = 1,
	                                              .headers_line = 2,
	                                              .expires = KW_EXPIRES_OFF};
	locations[2].rules =
	    (struct kw_header_rules){.headers_line = 3, .expires = KW_EXPIRES_EPOCH};
	locations[3].rules = (struct kw_header_rules){.expires = KW_EXPIRES_MAX};
}

TestSuite(header_rules, .init = rules_setup, .fini = teardown);

Test(header_rules, server_rules_on_success)
{
	cr_assert_eq(respond_path("/hello.txt"), 200);
	cr_assert_str_eq(header("X-Frame-Options"), "DENY");
	cr_assert_str_eq(header("Link"), "</a.css>; rel=preload");
	cr_assert_str_eq(header("Expires"), "Fri, 15 Jan 2027 09:00:00 GMT");
	cr_assert_str_eq(header("Cache-Control"), "max-age=3600");
	cr_assert_null(header("Strict-Transport-Security"));
	cr_assert_not_null(strstr(head_text(), "\r\n\r\n"));
	assert_body("Hello, world!\n");
}

Test(header_rules, location_replaces_server)
{
	cr_assert_eq(respond_path("/img/x.png"), 200);
	cr_assert_str_eq(header("Cache-Control"), "public");
	cr_assert_null(header("X-Frame-Options"));
	cr_assert_null(header("Expires"));
	cr_assert_eq(respond_path("/follow/hello.txt"), 200);
	cr_assert_null(header("X-Frame-Options"));
	cr_assert_str_eq(header("Expires"), "Thu, 01 Jan 1970 00:00:01 GMT");
	cr_assert_str_eq(header("Cache-Control"), "no-cache");
	cr_assert_eq(respond_path("/img/deep/f.txt"), 200);
	cr_assert_str_eq(header("X-Frame-Options"), "DENY");
	cr_assert_str_eq(header("Expires"), "Thu, 31 Dec 2037 23:55:55 GMT");
	cr_assert_str_eq(header("Cache-Control"), "max-age=315360000");
}

Test(header_rules, statuses)
{
	cr_assert(header_rules_status_applies(200));
	cr_assert(header_rules_status_applies(304));
	cr_assert(header_rules_status_applies(308));
	cr_assert_not(header_rules_status_applies(404));
	cr_assert_not(header_rules_status_applies(416));
	cr_assert_not(header_rules_status_applies(500));
	cr_assert_eq(respond_path("/missing"), 404);
	cr_assert_null(header("X-Frame-Options"));
	cr_assert_null(header("Expires"));
	cr_assert_eq(respond_path("/dir"), 301);
	cr_assert_str_eq(header("X-Frame-Options"), "DENY");
	struct http_request r = get("/hello.txt");
	r.if_none_match = HELLO_ETAG;
	respond(&r);
	cr_assert_eq(resp.status, 304);
	cr_assert_str_eq(header("Cache-Control"), "max-age=3600");
}

Test(header_rules, hsts_only_over_tls_on_every_status)
{
	struct http_request r = get("/hello.txt");
	r.tls = true;
	respond(&r);
	cr_assert_str_eq(header("Strict-Transport-Security"), "max-age=60; includeSubDomains");
	r.path = "/missing";
	respond(&r);
	cr_assert_eq(resp.status, 404);
	cr_assert_str_eq(header("Strict-Transport-Security"), "max-age=60; includeSubDomains");
	r.tls = false;
	respond(&r);
	cr_assert_null(header("Strict-Transport-Security"));
	srv.hsts = NULL;
	r.tls = true;
	respond(&r);
	cr_assert_null(header("Strict-Transport-Security"));
}

/* A location's return: redirects and fixed answers, before any file. */

static void
return_setup(void)
{
	setup();
	srv.names = index_one; /* "index.html" stands for the server's first name */
	srv.n_names = 1;
	locations[1].ret =
	    (struct kw_return){.status = 301, .location = "${scheme}://$host$uri?$args"};
	locations[2].ret = (struct kw_return){.status = 410, .body = "gone: $uri"};
	locations[3].ret = (struct kw_return){.status = 503};
}

TestSuite(fixed_return, .init = return_setup, .fini = teardown);

Test(fixed_return, redirect_with_variables)
{
	struct http_request r = get("/img/a b");
	r.host = "example.com";
	r.query = "q=1";
	respond(&r);
	cr_assert_eq(resp.status, 301);
	cr_assert_str_eq(header("Location"), "http://example.com/img/a%20b?q=1");
	cr_assert_str_eq(header("Content-Type"), "text/html");
	r.tls = true;
	r.host = NULL;
	r.query = NULL;
	respond(&r);
	cr_assert_str_eq(header("Location"), "https://index.html/img/a%20b?");
}

Test(fixed_return, injection_through_the_request_is_encoded)
{
	struct http_request r = get("/img/x\r\nSet-Cookie: a=1");
	r.host = "h\r\nX: y";
	r.query = "\r\n";
	respond(&r);
	cr_assert_eq(resp.status, 301);
	cr_assert_str_eq(header("Location"),
	                 "http://h%0D%0AX:%20y/img/x%0D%0ASet-Cookie:%20a=1?%0D%0A");
	cr_assert_null(header("Set-Cookie"));
	cr_assert_null(header("X"));
}

Test(fixed_return, fixed_body_any_method_head_without_body)
{
	struct http_request r = get("/follow/old");
	r.method = HTTP_OTHER;
	respond(&r);
	cr_assert_eq(resp.status, 410);
	assert_body("gone: /follow/old");
	cr_assert_str_eq(header("Content-Type"), "text/plain; charset=utf-8");
	cr_assert_str_eq(header("Content-Length"), "17");
	cr_assert_not(resp.close);
	r.method = HTTP_HEAD;
	respond(&r);
	cr_assert_eq(resp.n_segments, 0);
	cr_assert_str_eq(header("Content-Length"), "17");
}

Test(fixed_return, status_alone_gets_the_builtin_page)
{
	cr_assert_eq(respond_path("/img/deep/f.txt"), 503);
	cr_assert(strncmp(head_text(), "HTTP/1.1 503 Service Unavailable\r\n", 34) == 0);
	cr_assert_not_null(strstr(body(NULL), "503 Service Unavailable"));
	cr_assert_eq(respond_path("/hello.txt"), 200);
}

/* Custom error pages from the server block and the location. */

static struct kw_error_page server_pages[] = {
    {.status = 404, .uri = "/index.html"}, {.status = 403, .uri = "/no-such-page.html"},
    {.status = 405, .uri = "/link_out"},   {.status = 410, .uri = "/img/x.png"},
    {.status = 500, .uri = "/dir"},        {.status = 503, .uri = "/img/deep/missing"},
};
static struct kw_error_page img_pages[] = {{.status = 404, .uri = "/img/x.png"}};

static void
pages_setup(void)
{
	setup();
	srv.errors = (struct kw_error_pages){.pages = server_pages, .n = 6, .line = 1};
	locations[1].errors = (struct kw_error_pages){.pages = img_pages, .n = 1, .line = 2};
	locations[2].errors = (struct kw_error_pages){.line = 3};
}

TestSuite(error_pages, .init = pages_setup, .fini = teardown);

Test(error_pages, selection)
{
	cr_assert_str_eq(error_page_uri(&srv, &locations[0], 404), "/index.html");
	cr_assert_str_eq(error_page_uri(&srv, NULL, 503), "/img/deep/missing");
	cr_assert_null(error_page_uri(&srv, &locations[0], 400));
	cr_assert_str_eq(error_page_uri(&srv, &locations[1], 404), "/img/x.png");
	cr_assert_null(error_page_uri(&srv, &locations[1], 403));
	cr_assert_null(error_page_uri(&srv, &locations[2], 404));
}

Test(error_pages, listed_status_serves_the_page)
{
	cr_assert_eq(respond_path("/missing"), 404);
	cr_assert(strncmp(head_text(), "HTTP/1.1 404 Not Found\r\n", 24) == 0);
	assert_body("<h1>home</h1>\n");
	cr_assert_str_eq(header("Content-Type"), "text/html");
	cr_assert_str_eq(header("Content-Length"), "14");
	cr_assert_null(header("ETag"));
	cr_assert_null(header("Last-Modified"));
	cr_assert_null(header("Accept-Ranges"));
	cr_assert_not(resp.close);
	struct http_request r = get("/missing");
	r.method = HTTP_HEAD;
	respond(&r);
	cr_assert_eq(resp.status, 404);
	cr_assert_eq(resp.n_segments, 0);
	cr_assert_str_eq(header("Content-Length"), "14");
}

Test(error_pages, location_replaces_server)
{
	cr_assert_eq(respond_path("/img/nothing"), 404);
	assert_body("img x");
	cr_assert_str_eq(header("Content-Type"), "image/png");
	cr_assert_eq(respond_path("/follow/nothing"), 404);
	cr_assert_not_null(strstr(body(NULL), "404 Not Found</h1>"));
}

Test(error_pages, unlisted_or_unservable_pages_fall_back)
{
	cr_assert_eq(respond_path("/dir/"), 403);
	cr_assert_not_null(strstr(body(NULL), "403 Forbidden</h1>"));
	cr_assert_str_eq(header("Content-Type"), "text/html");
	struct http_request r = get("/hello.txt");
	r.method = HTTP_OTHER;
	respond(&r);
	cr_assert_eq(resp.status, 405);
	cr_assert_not_null(strstr(body(NULL), "405 Method Not Allowed</h1>"));
	cr_assert_str_eq(header("Allow"), "GET, HEAD");
	locations[0].root = "/nonexistent-keyward-root";
	cr_assert_eq(respond_path("/x"), 404);
	cr_assert_not_null(strstr(body(NULL), "404 Not Found</h1>"));
}

Test(error_pages, a_page_that_is_a_directory_falls_back)
{
	srv.errors.pages[1].uri = "/dir";
	cr_assert_eq(respond_path("/dir/"), 403);
	cr_assert_not_null(strstr(body(NULL), "403 Forbidden</h1>"));
	srv.errors.pages[1].uri = "/sub/";
	cr_assert_eq(respond_path("/dir/"), 403);
	assert_body("sub index");
	srv.errors.pages[1].uri = "/no-such-page.html";
}

Test(error_pages, return_without_body)
{
	static struct kw_error_page gone[] = {{.status = 503, .uri = "/hello.txt"}};
	locations[3].ret = (struct kw_return){.status = 503};
	locations[3].errors = (struct kw_error_pages){.pages = gone, .n = 1, .line = 4};
	cr_assert_eq(respond_path("/img/deep/f.txt"), 503);
	assert_body("Hello, world!\n");
	cr_assert_str_eq(header("Content-Type"), "text/plain");
	locations[3].ret.body = "down";
	cr_assert_eq(respond_path("/img/deep/f.txt"), 503);
	assert_body("down");
	locations[3].ret = (struct kw_return){.status = 410};
	locations[3].errors = (struct kw_error_pages){0};
	cr_assert_eq(respond_path("/img/deep/f.txt"), 410);
	assert_body("img x");
}

Test(error_pages, a_page_under_a_return_falls_back)
{
	srv.errors.pages[0].uri = "/img/deep/f.txt";
	cr_assert_eq(respond_path("/missing"), 404);
	assert_body("dir f");
	locations[3].ret = (struct kw_return){.status = 503};
	cr_assert_eq(respond_path("/missing"), 404);
	cr_assert_not_null(strstr(body(NULL), "404 Not Found</h1>"));
	srv.errors.pages[0].uri = "/index.html";
}

Test(error_pages, a_closing_status_still_closes)
{
	http_response_dispose(&resp);
	cr_assert_eq(http_error_head(500, NOW, &resp), 0);
	cr_assert(resp.close);
	http_response_dispose(&resp);
	cr_assert_eq(http_error_head(405, NOW, &resp), 0);
	cr_assert_not(resp.close);
	cr_assert_str_eq(header("Allow"), "GET, HEAD");
	cr_assert_eq(resp.n_segments, 0);
}

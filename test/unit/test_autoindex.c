/*
 * test_autoindex.c - directory listings: HTML escaping and percent-encoding of
 * names, the order (directories first, then bytewise), hidden names, symlinks by
 * the location's policy, other file types left out, the JSON form of odd names,
 * the same bytes whatever the step size, and the entry bound at and one past it.
 */
#include "autoindex.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "err.h"

static char root[64];
static int root_fd = -1;

static void
make(const char *rel, const char *text)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0, "%s", p);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	struct timespec t[2] = {{.tv_sec = 86400}, {.tv_sec = 86400}};
	cr_assert_eq(futimens(fd, t), 0);
	close(fd);
}

static void
make_dir(const char *rel)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	cr_assert_eq(mkdir(p, 0755), 0, "%s", p);
}

static void
setup(void)
{
	strcpy(root, "/tmp/test_autoindex.XXXXXX");
	cr_assert_not_null(mkdtemp(root));
	root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(root_fd, 0);
}

static void
teardown(void)
{
	char cmd[128];
	if (root_fd >= 0)
		close(root_fd);
	root_fd = -1;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(autoindex, .init = setup, .fini = teardown);

static struct kw_location
location(const char *format, bool hidden, bool follow)
{
	return (struct kw_location){.autoindex = true,
	                            .autoindex_format = (char *)format,
	                            .autoindex_hidden = hidden,
	                            .follow_symlinks = follow};
}

/* Lists rel beneath the root in steps of room bytes: 0 and the text, or produce()'s error. */
static int
list(const struct kw_location *loc, const char *rel, size_t max, size_t room, char **text)
{
	struct body_producer p = {0};
	int fd = openat(root_fd, rel[0] ? rel : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(autoindex_producer_new(fd, root_fd, rel, "/d/<x>&/", loc, max, &p), 0);
	size_t cap = 1 << 16, n = 0;
	char *out = malloc(cap);
	uint8_t *buf = malloc(room);
	int err = 0;
	for (unsigned steps = 0;; steps++) {
		cr_assert_lt(steps, 100000u);
		struct body_step st = {0};
		err = p.produce(p.ctx, buf, room, &st);
		if (err)
			break;
		cr_assert_leq(st.len, room);
		if (n + st.len + 1 > cap)
			out = realloc(out, cap *= 2);
		memcpy(out + n, buf, st.len);
		n += st.len;
		if (st.end)
			break;
	}
	out[n] = '\0';
	body_producer_dispose(&p);
	free(buf);
	*text = out;
	return err;
}

/* Whether the needles occur in text in their order. */
static bool
in_order(const char *text, const char *const *needles, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *hit = strstr(text, needles[i]);
		if (hit == NULL)
			return false;
		text = hit + strlen(needles[i]);
	}
	return true;
}

Test(autoindex, html_escape_every_special_character)
{
	char out[128];
	const char in[] = "<script>alert('x')&\"y\"</script>";
	size_t n = autoindex_html_escape(out, in, strlen(in));
	out[n] = '\0';
	cr_assert_str_eq(out, "&lt;script&gt;alert(&#39;x&#39;)&amp;&quot;y&quot;&lt;/script&gt;");
}

Test(autoindex, percent_encode_keeps_unreserved_only)
{
	char out[128];
	const char in[] = "aZ09-._~ %#?/:\n\xff&";
	size_t n = autoindex_percent_encode(out, in, strlen(in));
	out[n] = '\0';
	cr_assert_str_eq(out, "aZ09-._~%20%25%23%3F%2F%3A%0A%FF%26");
}

Test(autoindex, html_sorted_escaped_hidden_left_out)
{
	make("b", "bb");
	make("a&b", "1");
	make("<s>", "123");
	make(".hidden", "");
	make_dir("z");
	make_dir("A");
	struct kw_location loc = location("html", false, true);
	char *text;
	cr_assert_eq(list(&loc, "", AUTOINDEX_MAX_ENTRIES, 4096, &text), 0);
	const char *const order[] = {
	    "<title>Index of /d/&lt;x&gt;&amp;/</title>",
	    "<a href=\"A/\">A/</a>",
	    "<a href=\"z/\">z/</a>",
	    "<a href=\"%3Cs%3E\">&lt;s&gt;</a></td><td>1970-01-02 00:00</td><td>3</td>",
	    "<a href=\"a%26b\">a&amp;b</a>",
	    "<a href=\"b\">b</a></td><td>1970-01-02 00:00</td><td>2</td>",
	    "</html>\n",
	};
	cr_assert(in_order(text, order, 7), "%s", text);
	cr_assert_null(strstr(text, "hidden"));
	cr_assert_null(strstr(text, "../"), "no parent link at the location's root");
	free(text);
}

Test(autoindex, hidden_listed_when_asked_and_parent_link_below_root)
{
	make_dir("sub");
	make("sub/.hidden", "x");
	struct kw_location loc = location("html", true, true);
	char *text;
	cr_assert_eq(list(&loc, "sub/", AUTOINDEX_MAX_ENTRIES, 4096, &text), 0);
	const char *const order[] = {"<a href=\"../\">../</a>", "<a href=\".hidden\">.hidden</a>"};
	cr_assert(in_order(text, order, 2), "%s", text);
	cr_assert_null(strstr(text, "href=\".\""));
	cr_assert_null(strstr(text, "href=\"..\""));
	free(text);
}

Test(autoindex, same_bytes_at_every_step_size)
{
	char name[64];
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "file-%03d-<&>\"'", i);
		make(name, "x");
	}
	struct kw_location loc = location("html", false, true);
	char *big, *small;
	cr_assert_eq(list(&loc, "", AUTOINDEX_MAX_ENTRIES, 1 << 16, &big), 0);
	cr_assert_eq(list(&loc, "", AUTOINDEX_MAX_ENTRIES, BODY_PRODUCER_MIN_CAP, &small), 0);
	cr_assert_str_eq(big, small);
	const char *const order[] = {"file-000-", "file-001-", "file-298-", "file-299-"};
	cr_assert(in_order(big, order, 4));
	free(big);
	free(small);
}

Test(autoindex, json_escapes_odd_names)
{
	make("q\"\\\n\x01\xff\xc3\xa9", "abcd");
	make_dir("d");
	struct kw_location loc = location("json", false, true);
	char *text;
	cr_assert_eq(list(&loc, "", AUTOINDEX_MAX_ENTRIES, 4096, &text), 0);
	const char *const order[] = {
	    "[\n{\"name\":\"d\",\"type\":\"directory\",",
	    ",\n{\"name\":\"q\\\"\\\\\\n\\u0001\\u00ff\xc3\xa9\",\"type\":\"file\",\"size\":4,"
	    "\"mtime\":86400}",
	    "\n]\n",
	};
	cr_assert(in_order(text, order, 3), "%s", text);
	cr_assert_str_eq(autoindex_type(&loc), "application/json");
	free(text);
}

Test(autoindex, symlinks_follow_the_policy_other_types_left_out)
{
	char p[256];
	make("target", "12345");
	snprintf(p, sizeof(p), "%s/link", root);
	cr_assert_eq(symlink("target", p), 0);
	snprintf(p, sizeof(p), "%s/outside", root);
	cr_assert_eq(symlink("/etc/passwd", p), 0);
	snprintf(p, sizeof(p), "%s/dangling", root);
	cr_assert_eq(symlink("nothing", p), 0);
	snprintf(p, sizeof(p), "%s/fifo", root);
	cr_assert_eq(mkfifo(p, 0644), 0);
	char *text;
	struct kw_location follow = location("html", false, true);
	cr_assert_eq(list(&follow, "", AUTOINDEX_MAX_ENTRIES, 4096, &text), 0);
	cr_assert_not_null(strstr(text, ">link</a></td><td>1970-01-02 00:00</td><td>5<"), "%s",
	                   text);
	cr_assert_null(strstr(text, "outside"));
	cr_assert_null(strstr(text, "dangling"));
	cr_assert_null(strstr(text, "fifo"));
	free(text);
	struct kw_location no_follow = location("html", false, false);
	cr_assert_eq(list(&no_follow, "", AUTOINDEX_MAX_ENTRIES, 4096, &text), 0);
	cr_assert_null(strstr(text, "link"));
	cr_assert_not_null(strstr(text, ">target</a>"));
	free(text);
}

Test(autoindex, entry_bound_at_and_one_past)
{
	make("a", "");
	make("b", "");
	make("c", "");
	make(".hidden", ""); /* left out: does not count */
	struct kw_location loc = location("json", false, true);
	char *text;
	cr_assert_eq(list(&loc, "", 3, 4096, &text), 0);
	cr_assert_not_null(strstr(text, "\"c\""));
	free(text);
	cr_assert_eq(list(&loc, "", 2, 4096, &text), KW_ERR_STATE);
	free(text);
}

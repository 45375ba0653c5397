#!/usr/bin/python3
"""Directory listings over plain HTTP, toy-TLS and TLS 1.3, from the normal (sandboxed)
worker: hostile names (markup, quotes, '&', a literal %00, a newline, non-UTF-8 bytes,
spaces, '#' and '?') escaped in the HTML text, percent-encoded in the links and escaped
in JSON; directories first, then bytewise order; hidden names left out or listed; the
symlink policy; HEAD agreeing with GET; HTTP/1.0 close-delimited; HTTP/2 with curl; a
directory of 20000 entries listed whole and sorted while another connection of the same
worker is answered; autoindex off still 403."""

import html
import json
import os
import re
import socket
import subprocess
import unittest
import urllib.parse

import kwtest
from test_compress import dechunk
from test_static_config import TRANSPORTS, ConfigSite

NAMES = [b"<script>alert(1)<%2Fscript>", b"a&b", b"quote\"s", b"it's", b"%00", b"new\nline",
         b"\xff\xfe-latin", b"sp ace #?", b"caf\xc3\xa9", b"Zed"]
DIRS = [b"sub dir", b"<dir>"]
BIG = 20000
# long enough that the big listing outgrows what the kernel can buffer between the
# worker and a client that stops reading (see the test that fetches it)
BIG_SUFFIX = b"-" + b"x" * 100


def big_name(i):
    return b"f%05d" % i + BIG_SUFFIX


def listing_links(body):
    """[(href, text)] of the HTML listing's links, both decoded to bytes."""
    text = body.decode("latin-1")
    return [(urllib.parse.unquote_to_bytes(h), html.unescape(t).encode("latin-1"))
            for h, t in re.findall(r'<a href="([^"]*)">([^<]*)</a>', text)]


def json_name(name):
    """The string a JSON listing gives for name: UTF-8 as it is, other bytes as U+00XX."""
    try:
        return name.decode("utf-8")
    except UnicodeDecodeError:
        return name.decode("latin-1")


class Autoindex(kwtest.SiteTestCase):
    site_class = ConfigSite
    site_args = {"workers": 1, "locations":
                 '{ prefix = "/"; root = "www"; autoindex = true; }, '
                 '{ prefix = "/json/"; root = "www/list"; autoindex = true; '
                 'autoindex_format = "json"; }, '
                 '{ prefix = "/hidden/"; root = "www/list"; autoindex = true; '
                 'autoindex_hidden = true; }, '
                 '{ prefix = "/nolink/"; root = "www/list"; autoindex = true; '
                 'follow_symlinks = false; }, '
                 '{ prefix = "/off/"; root = "www/list"; }'}

    @classmethod
    def prepare(cls, site):
        site.put("index.html", b"<h1>hello</h1>\n")
        base = os.fsencode(os.path.join(site.www, "list"))
        for n in NAMES:
            site.put(os.fsdecode(os.path.join(b"list", n)), b"x" * len(n))
        site.put("list/.hidden", b"secret")
        for d in DIRS:
            os.mkdir(os.path.join(base, d))
        os.symlink(b"a&b", os.path.join(base, b"link"))
        os.mkfifo(os.path.join(base, b"fifo"))
        big = os.path.join(site.www, "big")
        os.mkdir(big)
        for i in reversed(range(BIG)):
            os.close(os.open(os.path.join(big.encode(), big_name(i)), os.O_CREAT | os.O_WRONLY,
                             0o644))
        os.chmod(big, 0o755)

    def fetch(self, transport, path, head=False):
        """site.fetch() with the chunked body (every HTTP/1.1 listing) decoded."""
        status, fields, body = self.site.fetch(transport, path, head=head)
        if fields.get("transfer-encoding") == ["chunked"] and not head:
            body = dechunk(body)
        return status, fields, body

    def expected(self, hidden=False, link=True):
        files = NAMES + ([b".hidden"] if hidden else []) + ([b"link"] if link else [])
        return sorted(d + b"/" for d in DIRS) + sorted(files)

    def test_the_worker_is_sandboxed(self):
        pid = self.site.children("worker")[0]
        with open("/proc/%d/status" % pid) as f:
            self.assertRegex(f.read(), r"Seccomp:\s+2")

    def test_html_escaped_encoded_sorted(self):
        for transport in TRANSPORTS:
            with self.subTest(transport=transport):
                status, fields, body = self.fetch(transport, "/list/")
                self.assertEqual(status, 200)
                self.assertEqual(fields["content-type"], ["text/html; charset=utf-8"])
                for name in ("etag", "last-modified", "content-length"):
                    self.assertNotIn(name, fields)
                self.assertNotIn(b"<script", body)
                links = listing_links(body)
                self.assertEqual(links[0], (b"../", b"../"))
                self.assertEqual([h for h, _ in links[1:]], self.expected())
                self.assertEqual([t for _, t in links[1:]], self.expected())
                for href in re.findall(r'<a href="([^"]*)">', body.decode("latin-1")):
                    self.assertRegex(href, r"^[A-Za-z0-9._~%-]*/?$")
                self.assertTrue(body.endswith(b"</html>\n"))

    def test_links_are_followed(self):
        status, _, body = self.fetch("plain", "/list/")
        for href, name in listing_links(body)[1:]:
            with self.subTest(name=name):
                quoted = urllib.parse.quote(href, safe="/")
                status, _, got = self.fetch("plain", "/list/" + quoted)
                self.assertEqual(status, 200)
                if not name.endswith(b"/"):
                    self.assertEqual(len(got), len(open(os.path.join(
                        os.fsencode(self.site.www), b"list", href), "rb").read()))

    def test_json(self):
        for transport in TRANSPORTS:
            with self.subTest(transport=transport):
                status, fields, body = self.fetch(transport, "/json/")
                self.assertEqual(status, 200)
                self.assertEqual(fields["content-type"], ["application/json"])
                body.decode("utf-8")  # every byte escaped that is not UTF-8
                entries = json.loads(body)
                self.assertEqual([e["name"] for e in entries],
                                 [json_name(n.rstrip(b"/")) for n in self.expected()])
                types = {e["name"]: e["type"] for e in entries}
                self.assertEqual(types["sub dir"], "directory")
                self.assertEqual(types["new\nline"], "file")
                sizes = {e["name"]: e["size"] for e in entries}
                self.assertEqual(sizes["\u00ff\u00fe-latin"], len(b"\xff\xfe-latin"))
                self.assertEqual(sizes["link"], 3)
                st = os.stat(os.path.join(self.site.www, "list", "a&b"))
                self.assertEqual({e["name"]: e["mtime"] for e in entries}["a&b"],
                                 int(st.st_mtime))

    def test_hidden_listed_when_asked_no_parent_at_the_root(self):
        status, _, body = self.fetch("plain", "/hidden/")
        self.assertEqual(status, 200)
        self.assertEqual([h for h, _ in listing_links(body)], self.expected(hidden=True))

    def test_symlinks_left_out_when_not_followed(self):
        status, _, body = self.fetch("toy", "/nolink/")
        self.assertEqual([h for h, _ in listing_links(body)], self.expected(link=False))

    def test_off_is_403_and_index_still_wins(self):
        for transport in TRANSPORTS:
            with self.subTest(transport=transport):
                self.assertEqual(self.fetch(transport, "/off/")[0], 403)
                status, _, body = self.fetch(transport, "/")
                self.assertEqual((status, body), (200, b"<h1>hello</h1>\n"))

    def test_head_agrees_with_get(self):
        for path in ("/list/", "/json/"):
            for transport in TRANSPORTS:
                with self.subTest(transport=transport, path=path):
                    _, get_fields, _ = self.fetch(transport, path)
                    status, head_fields, body = self.fetch(transport, path, True)
                    self.assertEqual((status, body), (200, b""))
                    for name in ("content-type", "transfer-encoding", "content-length", "etag"):
                        self.assertEqual(head_fields.get(name), get_fields.get(name), name)

    def test_http10_close_delimited(self):
        data = self.site.raw(b"GET /list/ HTTP/1.0\r\n\r\n")
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.0 200") or head.startswith(b"HTTP/1.1 200"))
        self.assertNotIn(b"Transfer-Encoding", head)
        self.assertNotIn(b"Content-Length", head)
        self.assertEqual(body, self.fetch("plain", "/list/")[2])

    def test_http2_with_curl(self):
        port = self.site.tls13_port
        res = subprocess.run(
            ["curl", "-sS", "--http2", "--cacert", self.site.root_pem, "--resolve",
             "localhost:%d:127.0.0.1" % port, "-w", "%{http_version} %{http_code}",
             "-o", os.path.join(self.site.dir, "h2out"), "https://localhost:%d/list/" % port],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout, b"2 200")
        with open(os.path.join(self.site.dir, "h2out"), "rb") as f:
            self.assertEqual(f.read(), self.fetch("tls13", "/list/")[2])

    def test_big_directory_while_another_connection_is_served(self):
        """The client of the listing reads its first bytes only, through a small receive
        buffer, while the one worker answers another connection: the listing is larger
        than the most the kernel buffers for it (checked below), so it is still being
        sent then, and it arrives whole and sorted afterwards."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(30)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", self.site.plain_port))
            s.sendall(b"GET /big/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            first = s.recv(4096)
            self.assertTrue(first.startswith(b"HTTP/1.1 200"), first[:100])
            status, _, body = self.fetch("plain", "/index.html")
            self.assertEqual((status, body), (200, b"<h1>hello</h1>\n"))
            buffered = s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
            data = first + kwtest.read_until_eof(s)
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            send_max = int(f.read().split()[2])
        self.assertGreater(len(data), send_max + buffered + len(first),
                           "the listing fits in the kernel's buffers: the test proves nothing")
        head, _, chunked = data.partition(b"\r\n\r\n")
        self.assertIn(b"Transfer-Encoding: chunked", head)
        links = listing_links(dechunk(chunked))
        self.assertEqual([h for h, _ in links], [b"../"] + [big_name(i) for i in range(BIG)])

if __name__ == "__main__":
    kwtest.main()

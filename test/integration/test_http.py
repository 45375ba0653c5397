#!/usr/bin/python3
"""HTTP/1.1 as nginx users expect it, over both transports of the real server:
validators and conditional requests, ranges, directories and index files, MIME
types, the symlink policy, and strict parsing of hostile requests.

Every exchange runs over plain TCP and over toy-TLS (through the independent
client of toytls_ref.py) with the same request bytes. The helpers at the top
(Client, both_transports, ...) are shared with test_limits.py.
"""

import ctypes
import functools
import os
import random
import re
import socket
import struct
import time

import kwtest
import toytls_ref as ref

TRANSPORTS = ("plain", "toytls")
MAX_RECORD_PLAINTEXT = 16384  # the largest plaintext keyward accepts in one toy-TLS record
FILE = bytes((i * 7 + 3) % 256 for i in range(1000))
OLD_DATE = "Sun, 06 Nov 1994 08:49:37 GMT"
NEXT = b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
INDEX = b"<h1>hello</h1>\n"


class Response:
    """One parsed response: status, headers (lower-case names, in order), body."""

    def __init__(self, head, body):
        lines = head.decode("latin-1").split("\r\n")
        self.status_line = lines[0]
        self.status = int(lines[0].split(" ", 2)[1])
        self.fields = [tuple(s.strip() for s in line.split(":", 1)) for line in lines[1:] if line]
        self.fields = [(name.lower(), value) for name, value in self.fields]
        self.head = head
        self.body = body

    def header(self, name):
        values = [v for n, v in self.fields if n == name.lower()]
        if len(values) > 1:
            raise AssertionError("%s appears %d times" % (name, len(values)))
        return values[0] if values else None

    def closes(self):
        return (self.header("connection") or "").lower() == "close"

    def __repr__(self):
        return "<%s, %d body bytes>" % (self.head[:400], len(self.body))


class Client:
    """One connection to the site over plain TCP or toy-TLS, with the same calls on both."""

    def __init__(self, site, transport, timeout=10, rcvbuf=None, handshake=True):
        self.transport = transport
        port = site.plain_port if transport == "plain" else site.tls_port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.tls = None
        self.buf = b""
        if transport == "toytls":
            with open(site.root_pem, "rb") as f:
                self.tls = ref.Client(self.sock, root_pem=f.read())
            if handshake:
                self.tls.handshake()

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        """Sends plaintext bytes; over toy-TLS, in records of at most 16 KiB."""
        if self.tls is None:
            self.sock.sendall(data)
            return
        for off in range(0, len(data), MAX_RECORD_PLAINTEXT):
            self.tls.send(data[off:off + MAX_RECORD_PLAINTEXT])

    def recv(self):
        """Some plaintext bytes, or b"" at EOF (a reset counts as EOF)."""
        try:
            if self.tls is None:
                return self.sock.recv(65536)
            return self.tls.recv()
        except ConnectionResetError:
            return b""

    def recv_all(self):
        out = b""
        while True:
            chunk = self.recv()
            if not chunk:
                return out
            out += chunk

    def _fill(self):
        chunk = self.recv()
        if not chunk:
            raise EOFError("connection closed; unparsed: %r" % self.buf[:200])
        self.buf += chunk

    def response(self, head_request=False):
        """The next response; its body framed by Content-Length (none for HEAD, 304)."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        end = self.buf.index(b"\r\n\r\n") + 4
        r = Response(self.buf[:end - 4], b"")
        self.buf = self.buf[end:]
        length = 0 if head_request or r.status == 304 else int(r.header("content-length"))
        while len(self.buf) < length:
            self._fill()
        r.body, self.buf = self.buf[:length], self.buf[length:]
        return r

    def responses_until_eof(self, head_requests=()):
        """Every response until the server closes; the n-th is bodiless if n in head_requests."""
        out = []
        while True:
            if not self.buf:
                chunk = self.recv()
                if not chunk:
                    return out
                self.buf += chunk
            out.append(self.response(len(out) in head_requests))

    def wait_eof(self, limit):
        """Reads until EOF, at most limit seconds: (seconds it took, bytes read)."""
        start = time.monotonic()
        self.sock.settimeout(limit)
        data = self.buf + self.recv_all()
        self.buf = b""
        return time.monotonic() - start, data


def exchange(site, transport, data, head_requests=()):
    """Sends data on a new connection and returns every response until the server closes."""
    with Client(site, transport) as c:
        c.send(data)
        return c.responses_until_eof(head_requests)


def one(site, transport, data, head_request=False):
    """The only response to data (which should end with Connection: close)."""
    responses = exchange(site, transport, data, (0,) if head_request else ())
    if len(responses) != 1:
        raise AssertionError("expected one response, got %r" % responses)
    return responses[0]


def get(path, *headers, method="GET", close=True):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: localhost", *headers]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def both_transports(test):
    """Decorator: runs test(self, transport) once per transport, each as its own subtest."""

    @functools.wraps(test)
    def run(self):
        for transport in TRANSPORTS:
            with self.subTest(transport=transport):
                test(self, transport)
    return run


class RefusalMixin:
    def assert_refused(self, request, status, transport):
        """request gets status with Connection: close, and the request after it is ignored."""
        responses = exchange(self.site, transport, request + NEXT)
        self.assertEqual([r.status for r in responses], [status], (request, responses))
        self.assertTrue(responses[0].closes(), responses[0])
        return responses[0]


class FeaturesTest(kwtest.SiteTestCase):
    """Validators, ranges, directories, index lists, MIME types, symlinks."""

    site_args = {
        "extra": 'mime_types = "%s";\ndefault_type = "text/x-kw-default";'
                 % os.path.abspath(os.path.join(kwtest.SOURCE, "etc", "mime.types")),
    }

    @classmethod
    def prepare(cls, site):
        site.put("index.html", INDEX)
        site.put("file.bin", FILE)
        site.put("empty.txt", b"")
        for name in ("page.html", "style.css", "cal.ics", "notes.log", "blob.kwunknown",
                     "README"):
            site.put(name, name.encode())
        site.put("dir/index.html", b"dir index\n")
        site.put("noindex/file.txt", b"no index here\n")
        site.put('a b"<c>\r\nX-Injected: 1/index.html', b"odd\n")
        os.symlink("file.bin", os.path.join(site.www, "link.bin"))
        os.symlink("dir", os.path.join(site.www, "linkdir"))
        with open(os.path.join(site.dir, "secret.txt"), "w") as f:
            f.write("outside the root\n")
        os.chmod(os.path.join(site.dir, "secret.txt"), 0o644)
        os.symlink("../secret.txt", os.path.join(site.www, "out.txt"))
        os.symlink(os.path.join(site.www, "file.bin"), os.path.join(site.www, "abs.bin"))
        os.symlink(os.path.join(site.www, "dir"), os.path.join(site.www, "absdir"))
        os.symlink(os.path.join(site.dir, "secret.txt"), os.path.join(site.www, "abs-out.txt"))
        for rel, data in (("custom/start.txt", b"start\n"), ("custom/sub/index.html", b"sub\n"),
                          ("custom/none/other.txt", b"other\n"), ("nf/real.txt", b"real\n"),
                          ("nf/sub/x.txt", b"x\n")):
            path = os.path.join(site.dir, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
            os.chmod(path, 0o644)
        os.symlink("real.txt", os.path.join(site.dir, "nf", "link.txt"))
        os.symlink("sub", os.path.join(site.dir, "nf", "linkdir"))
        os.symlink(os.path.join(site.dir, "nf", "real.txt"),
                   os.path.join(site.dir, "nf", "abs.txt"))
        site.write_config(locations="""
            { prefix = "/"; root = "www"; },
            { prefix = "/custom/"; root = "custom"; index = [ "start.txt", "index.html" ]; },
            { prefix = "/nofollow/"; root = "nf"; follow_symlinks = false; }""")

    def validators(self):
        r = one(self.site, "plain", get("/file.bin"))
        self.assertEqual(r.status, 200)
        return r.header("etag"), r.header("last-modified")

    # -- validators and conditional requests ---------------------------------------------

    @both_transports
    def test_validators_are_sent(self, tr):
        r = one(self.site, tr, get("/file.bin"))
        self.assertEqual((r.status, r.body), (200, FILE))
        self.assertRegex(r.header("etag"), r'^"[0-9a-f]+-[0-9a-f]+"$')
        mtime = os.stat(os.path.join(self.site.www, "file.bin")).st_mtime
        self.assertEqual(r.header("last-modified"),
                         time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(mtime)))
        self.assertEqual(r.header("accept-ranges"), "bytes")
        self.assertEqual(r.header("content-length"), "1000")

    @both_transports
    def test_not_modified(self, tr):
        etag, lm = self.validators()
        t = time.strptime(lm, "%a, %d %b %Y %H:%M:%S GMT")
        rfc850 = time.strftime("%A, %d-%b-%y %H:%M:%S GMT", t)
        asctime = time.strftime("%a %b %e %H:%M:%S %Y", t)
        cases = [
            (("If-None-Match: " + etag,), 304),
            (('If-None-Match: "nope", ' + etag,), 304),
            (("If-None-Match: W/" + etag,), 304),
            (("If-None-Match: *",), 304),
            (('If-None-Match: "nope"',), 200),
            (("If-Modified-Since: " + lm,), 304),
            (("If-Modified-Since: " + rfc850,), 304),
            (("If-Modified-Since: " + asctime,), 304),
            (("If-Modified-Since: " + OLD_DATE,), 200),
            (("If-Modified-Since: yesterday",), 200),
            (('If-None-Match: "nope"', "If-Modified-Since: " + lm), 200),
        ]
        for headers, status in cases:
            for method in ("GET", "HEAD"):
                r = one(self.site, tr, get("/file.bin", *headers, method=method),
                        head_request=method == "HEAD")
                self.assertEqual(r.status, status, (headers, method, r))
                if status == 304:
                    self.assertEqual(r.header("etag"), etag)
                    self.assertEqual(r.header("last-modified"), lm)
                    self.assertEqual(r.body, b"")
                elif method == "GET":
                    self.assertEqual(r.body, FILE)

    @both_transports
    def test_304_keeps_the_connection_in_step(self, tr):
        etag, _ = self.validators()
        responses = exchange(self.site, tr, get("/file.bin", "If-None-Match: " + etag,
                                                close=False) + get("/index.html"))
        self.assertEqual([(r.status, r.body) for r in responses],
                         [(304, b""), (200, INDEX)])

    @both_transports
    def test_precondition_failed(self, tr):
        etag, lm = self.validators()
        cases = [
            (("If-Match: " + etag,), 200),
            (('If-Match: "a", ' + etag,), 200),
            (("If-Match: *",), 200),
            (('If-Match: "nope"',), 412),
            (("If-Match: W/" + etag,), 412),
            (("If-Unmodified-Since: " + lm,), 200),
            (("If-Unmodified-Since: " + OLD_DATE,), 412),
            (("If-Match: " + etag, "If-Unmodified-Since: " + OLD_DATE), 200),
            (('If-Match: "nope"', "If-None-Match: " + etag), 412),
        ]
        for headers, status in cases:
            r = one(self.site, tr, get("/file.bin", *headers))
            self.assertEqual(r.status, status, (headers, r))
            if status == 412:
                self.assertNotEqual(r.body, FILE)

    # -- ranges ------------------------------------------------------------------------------

    @both_transports
    def test_single_ranges(self, tr):
        cases = [("bytes=0-9", 0, 9), ("bytes=990-", 990, 999), ("bytes=-10", 990, 999),
                 ("bytes=-5000", 0, 999), ("bytes=995-5000", 995, 999), ("bytes=5-5", 5, 5),
                 ("bytes=0-5,3-8", 0, 8), ("bytes=10-19, 20-29", 10, 29)]
        for spec, first, last in cases:
            r = one(self.site, tr, get("/file.bin", "Range: " + spec))
            self.assertEqual(r.status, 206, (spec, r))
            self.assertEqual(r.header("content-range"), "bytes %d-%d/1000" % (first, last))
            self.assertEqual(r.header("content-length"), str(last - first + 1))
            self.assertEqual(r.body, FILE[first:last + 1], spec)

    def parts(self, r):
        match = re.fullmatch(r"multipart/byteranges; boundary=(\S+)", r.header("content-type"))
        self.assertIsNotNone(match, r)
        delimiter = b"\r\n--" + match.group(1).encode()
        self.assertEqual(int(r.header("content-length")), len(r.body))
        pieces = r.body.split(delimiter)
        self.assertEqual((pieces[0], pieces[-1]), (b"", b"--\r\n"))
        out = []
        for piece in pieces[1:-1]:
            head, data = piece.split(b"\r\n\r\n", 1)
            fields = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
            out.append((fields["Content-Type"], fields["Content-Range"], data))
        return out

    @both_transports
    def test_multiple_ranges(self, tr):
        r = one(self.site, tr, get("/file.bin", "Range: bytes=500-509,0-1,-3"))
        self.assertEqual(r.status, 206)
        self.assertIsNone(r.header("content-range"))
        self.assertEqual(self.parts(r), [
            ("application/octet-stream", "bytes 0-1/1000", FILE[0:2]),
            ("application/octet-stream", "bytes 500-509/1000", FILE[500:510]),
            ("application/octet-stream", "bytes 997-999/1000", FILE[997:]),
        ])
        r = one(self.site, tr, get("/page.html", "Range: bytes=0-1,4-"))
        self.assertEqual(self.parts(r), [("text/html", "bytes 0-1/9", b"pa"),
                                         ("text/html", "bytes 4-8/9", b".html")])

    @both_transports
    def test_many_ranges_send_the_whole_file(self, tr):
        many = ",".join("%d-%d" % (i, i) for i in range(0, 100, 2))
        r = one(self.site, tr, get("/file.bin", "Range: bytes=" + many))
        self.assertEqual((r.status, r.body), (200, FILE))
        overlapping = ",".join("0-%d" % i for i in range(10))
        r = one(self.site, tr, get("/file.bin", "Range: bytes=" + overlapping))
        self.assertEqual((r.status, r.header("content-range"), r.body),
                         (206, "bytes 0-9/1000", FILE[:10]))

    @both_transports
    def test_empty_file(self, tr):
        r = one(self.site, tr, get("/empty.txt"))
        self.assertEqual((r.status, r.header("content-length"), r.body), (200, "0", b""))
        r = one(self.site, tr, get("/empty.txt", "Range: bytes=0-"))
        self.assertEqual((r.status, r.header("content-range")), (416, "bytes */0"))

    @both_transports
    def test_unsatisfiable_range(self, tr):
        for spec in ("bytes=1000-", "bytes=5000-6000", "bytes=-0", "bytes=1000-,2000-"):
            r = one(self.site, tr, get("/file.bin", "Range: " + spec))
            self.assertEqual(r.status, 416, spec)
            self.assertEqual(r.header("content-range"), "bytes */1000")
            self.assertNotEqual(r.body, FILE)

    @both_transports
    def test_ignored_ranges_send_the_whole_file(self, tr):
        for spec in ("items=0-1", "bytes=5-2", "bytes=x-1", "bytes=", "bytes=0-1;x"):
            r = one(self.site, tr, get("/file.bin", "Range: " + spec))
            self.assertEqual((r.status, r.body), (200, FILE), spec)
        r = one(self.site, tr, get("/file.bin", "Range: bytes=0-9", method="HEAD"),
                head_request=True)
        self.assertEqual((r.status, r.header("content-length")), (200, "1000"))

    @both_transports
    def test_if_range(self, tr):
        etag, lm = self.validators()
        cases = [(etag, 206), ('"other"', 200), ("W/" + etag, 200), (lm, 206), (OLD_DATE, 200)]
        for value, status in cases:
            r = one(self.site, tr, get("/file.bin", "Range: bytes=1-2", "If-Range: " + value))
            self.assertEqual(r.status, status, value)
            self.assertEqual(r.body, FILE[1:3] if status == 206 else FILE)
        r = one(self.site, tr, get("/file.bin", "Range: bytes=1-2",
                                   "If-None-Match: " + etag))
        self.assertEqual(r.status, 304)

    # -- directories, index files, MIME types ---------------------------------------------

    @both_transports
    def test_directory_redirect(self, tr):
        for target, location in (("/dir", "/dir/"), ("/dir?a=1&b", "/dir/?a=1&b"),
                                 ("/noindex", "/noindex/"), ("/custom/sub", "/custom/sub/"),
                                 ("/./dir/../dir", "/dir/")):
            r = one(self.site, tr, get(target))
            self.assertEqual((r.status, r.header("location")), (301, location), target)
            self.assertIn(b"301", r.body)

    @both_transports
    def test_location_is_escaped(self, tr):
        target = "/a%20b%22%3Cc%3E%0D%0AX-Injected:%201"
        r = one(self.site, tr, get(target))
        self.assertEqual(r.status, 301)
        self.assertEqual(r.header("location"), "/a%20b%22%3Cc%3E%0D%0AX-Injected:%201/")
        self.assertIsNone(r.header("x-injected"))
        self.assertEqual(one(self.site, tr, get(target + "/")).body, b"odd\n")

    @both_transports
    def test_index_files(self, tr):
        cases = [("/", 200, INDEX), ("/dir/", 200, b"dir index\n"), ("/noindex/", 403, None),
                 ("/custom/", 200, b"start\n"), ("/custom/sub/", 200, b"sub\n"),
                 ("/custom/none/", 403, None), ("/custom/start.txt", 200, b"start\n")]
        for path, status, body in cases:
            r = one(self.site, tr, get(path))
            self.assertEqual(r.status, status, path)
            if body is not None:
                self.assertEqual(r.body, body, path)
            else:
                self.assertNotIn(b"file.txt", r.body)
                self.assertNotIn(b"other.txt", r.body)
        r = one(self.site, tr, get("/custom/sub/"))
        self.assertEqual(r.header("content-type"), "text/html")

    @both_transports
    def test_mime_types_from_the_file(self, tr):
        cases = {"/page.html": "text/html", "/style.css": "text/css", "/cal.ics": "text/calendar",
                 "/notes.log": "text/plain", "/blob.kwunknown": "text/x-kw-default",
                 "/README": "text/x-kw-default", "/custom/start.txt": "text/plain"}
        for path, mime in cases.items():
            r = one(self.site, tr, get(path))
            self.assertEqual((r.status, r.header("content-type")), (200, mime), path)

    @both_transports
    def test_symlinks_followed_by_default(self, tr):
        self.assertEqual(one(self.site, tr, get("/link.bin")).body, FILE)
        self.assertEqual(one(self.site, tr, get("/linkdir/")).body, b"dir index\n")
        self.assertEqual(one(self.site, tr, get("/abs.bin")).body, FILE)
        self.assertEqual(one(self.site, tr, get("/absdir/")).body, b"dir index\n")
        for path in ("/out.txt", "/abs-out.txt"):
            r = one(self.site, tr, get(path))
            self.assertEqual(r.status, 403, path)
            self.assertNotIn(b"outside the root", r.body)

    @both_transports
    def test_symlinks_refused_when_off(self, tr):
        cases = [("/nofollow/real.txt", 200), ("/nofollow/sub/x.txt", 200),
                 ("/nofollow/link.txt", 403), ("/nofollow/abs.txt", 403),
                 ("/nofollow/linkdir/x.txt", 403),
                 ("/nofollow/linkdir/", 403), ("/nofollow/linkdir", 403)]
        for path, status in cases:
            self.assertEqual(one(self.site, tr, get(path)).status, status, path)

    # -- methods and bodies ----------------------------------------------------------------

    @both_transports
    def test_head(self, tr):
        responses = exchange(self.site, tr, get("/file.bin", method="HEAD", close=False) +
                             get("/index.html"), head_requests=(0,))
        self.assertEqual([(r.status, r.body) for r in responses], [(200, b""), (200, INDEX)])
        self.assertEqual(responses[0].header("content-length"), "1000")

    @both_transports
    def test_other_methods_get_405_and_the_next_request_is_parsed(self, tr):
        requests = [
            b"POST /index.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\n\r\n"
            b"GET / HTTP/",
            b"PUT /x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1;q=\"a b\"\r\nGET /\r\n6\r\n HTTP/\r\n0\r\nTrailer: x\r\n\r\n",
            b"DELETE /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n",
            b"OPTIONS / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n",
            b"get / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        ]
        for request in requests:
            responses = exchange(self.site, tr, request + get("/index.html"))
            self.assertEqual([r.status for r in responses], [405, 200], request)
            self.assertEqual(responses[0].header("allow"), "GET, HEAD")
            self.assertFalse(responses[0].closes())
            self.assertEqual(responses[1].body, INDEX)

    @both_transports
    def test_body_sent_in_pieces_is_discarded(self, tr):
        with Client(self.site, tr) as c:
            c.send(b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n")
            self.assertEqual(c.response().status, 405)
            for piece in (b"3", b"\r\nabc", b"\r", b"\n", b"0\r\n", b"\r\n"):
                c.send(piece)
            c.send(get("/index.html"))
            self.assertEqual(c.response().body, INDEX)

    @both_transports
    def test_get_with_a_body(self, tr):
        requests = (b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
                    b"Content-Length: 5\r\n\r\nhello" +
                    b"GET /index.html HTTP/1.1\r\nHost: localhost\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n" +
                    get("/index.html"))
        responses = exchange(self.site, tr, requests)
        self.assertEqual([(r.status, r.body) for r in responses], [(200, INDEX)] * 3)

    @both_transports
    def test_http10(self, tr):
        r = one(self.site, tr, b"GET /index.html HTTP/1.0\r\n\r\n")
        self.assertEqual((r.status, r.body), (200, INDEX))
        self.assertTrue(r.closes())
        with Client(self.site, tr) as c:
            c.send(b"GET /index.html HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            r = c.response()
            self.assertEqual(r.header("connection"), "keep-alive")
            c.send(b"GET /dir/ HTTP/1.0\r\n\r\n")
            self.assertEqual(c.response().body, b"dir index\n")
            self.assertEqual(c.recv_all(), b"")

    @both_transports
    def test_absolute_form(self, tr):
        for target in ("http://localhost/index.html", "HTTP://LOCALHOST:80/index.html",
                       "https://localhost/index.html?x=1", "http://localhost"):
            r = one(self.site, tr, get(target))
            self.assertEqual((r.status, r.body), (200, INDEX), target)


class StrictParsingTest(RefusalMixin, kwtest.SiteTestCase):
    """Smuggling and injection attempts: refused with the right status, then closed."""

    @both_transports
    def test_content_length_with_transfer_encoding(self, tr):
        for fields in (b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                       b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                       b"Transfer-Encoding: chunked\r\nContent-Length: 0\r\n"):
            self.assert_refused(b"POST / HTTP/1.1\r\nHost: localhost\r\n" + fields +
                                b"\r\n0\r\n\r\n", 400, tr)

    @both_transports
    def test_bad_content_length(self, tr):
        values = [b"+5", b"-1", b"1,2", b"5, 5", b"0x5", b"5 5", b"", b"5a",
                  b"99999999999999999999", b"18446744073709551616", b"9223372036854775808"]
        for value in values:
            with self.subTest(value=value):
                self.assert_refused(b"GET / HTTP/1.1\r\nHost: localhost\r\nContent-Length: " +
                                    value + b"\r\n\r\nhello", 400, tr)
        self.assert_refused(b"GET / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
                            b"Content-Length: 6\r\n\r\nhello!", 400, tr)

    @both_transports
    def test_transfer_encoding(self, tr):
        for value in (b"gzip", b"gzip, chunked", b"chunked, gzip", b"identity",
                      b"xchunked", b"chunked, chunked"):
            with self.subTest(value=value):
                self.assert_refused(b"POST / HTTP/1.1\r\nHost: localhost\r\n"
                                    b"Transfer-Encoding: " + value + b"\r\n\r\n0\r\n\r\n",
                                    501, tr)
        self.assert_refused(b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: "
                            b"chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, tr)
        self.assert_refused(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"0\r\n\r\n", 400, tr)

    def assert_body_ends_connection(self, head, body, tr):
        """A malformed body: at most the answer to its own request, then the connection ends."""
        responses = exchange(self.site, tr, head + body + NEXT)
        self.assertLessEqual(len(responses), 1, responses)
        if responses:
            self.assertIn(responses[0].status, (200, 400, 405, 413))

    @both_transports
    def test_bad_chunked_bodies(self, tr):
        bodies = {
            "17 hex digits": b"00000000000000001\r\nx\r\n0\r\n\r\n",
            "2^64": b"10000000000000000\r\n",
            "over max_body_size": b"FFFFFFFFFFFF\r\n",
            "not hex": b"zz\r\nhello\r\n0\r\n\r\n",
            "no size": b";ext\r\n",
            "data longer than its size": b"3\r\nhello\r\n0\r\n\r\n",
            "bare LF after size": b"3\nabc\r\n0\r\n\r\n",
            "long extension": b"3;" + b"e" * 5000 + b"\r\nabc\r\n0\r\n\r\n",
            "control byte in extension": b"3;e\x01\r\nabc\r\n0\r\n\r\n",
            "long trailer": b"0\r\nX: " + b"t" * 5000 + b"\r\n\r\n",
            "long trailer section": b"0\r\n" + (b"X: " + b"t" * 1500 + b"\r\n") * 3 + b"\r\n",
        }
        for name, body in bodies.items():
            for method in (b"GET", b"POST"):
                with self.subTest(name=name, method=method):
                    self.assert_body_ends_connection(
                        method + b" / HTTP/1.1\r\nHost: localhost\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n", body, tr)

    @both_transports
    def test_field_syntax(self, tr):
        fields = {
            "space before colon": b"Host : localhost\r\n",
            "tab before colon": b"X-A\t: 1\r\n",
            "obsolete folding": b"X-A: 1\r\n  continued\r\n",
            "folding after the request line": b" X-A: 1\r\n",
            "NUL in a value": b"X-A: a\x00b\r\n",
            "NUL in a name": b"X-\x00A: 1\r\n",
            "CR in a value": b"X-A: a\rb\r\n",
            "LF in a value": b"X-A: a\nb\r\n",
            "DEL in a value": b"X-A: a\x7fb\r\n",
            "no colon": b"X-A 1\r\n",
            "empty name": b": 1\r\n",
            "non-token name": b"X(A): 1\r\n",
        }
        for name, field in fields.items():
            with self.subTest(name=name):
                request = b"GET / HTTP/1.1\r\nHost: localhost\r\n" + field + b"\r\n"
                if name == "folding after the request line":
                    request = b"GET / HTTP/1.1\r\n" + field + b"Host: localhost\r\n\r\n"
                self.assert_refused(request, 400, tr)

    @both_transports
    def test_host(self, tr):
        for fields in (b"", b"Host: localhost\r\nHost: localhost\r\n", b"Host: a/b\r\n",
                       b"Host: a b\r\n", b"Host: a@b\r\n", b"Host: \r\n"):
            with self.subTest(fields=fields):
                self.assert_refused(b"GET / HTTP/1.1\r\n" + fields + b"\r\n", 400, tr)
        self.assert_refused(b"GET http://localhost/ HTTP/1.1\r\n\r\n", 400, tr)
        r = one(self.site, tr, b"GET / HTTP/1.1\r\nHost: localhost:8080\r\n"
                               b"Connection: close\r\n\r\n")
        self.assertEqual((r.status, r.body), (200, INDEX))

    @both_transports
    def test_versions_and_request_lines(self, tr):
        lines = {
            b"GET / HTTP/2.0": 505, b"GET / HTTP/1.2": 505, b"GET / HTTP/0.9": 505,
            b"GET / HTTP/3.0": 505, b"GET / HTTP/1.10": 400, b"GET / HTTP/11": 400,
            b"GET / http/1.1": 400, b"GET /": 400, b"GET  / HTTP/1.1": 400,
            b"GET / HTTP/1.1 ": 400, b"GET\t/ HTTP/1.1": 400, b"GET /\r HTTP/1.1": 400,
            b"GET /a\x7f HTTP/1.1": 400, b"GET /\xc3\xa9 HTTP/1.1": 400,
            b"GET /#frag HTTP/1.1": 400, b"G(T / HTTP/1.1": 400,
            b"GETTINGSOMETHINGS / HTTP/1.1": 501,
            b"GET ftp://localhost/ HTTP/1.1": 400, b"GET http:///index.html HTTP/1.1": 400,
            b"GET * HTTP/1.1": 400,
        }
        for line, status in lines.items():
            with self.subTest(line=line):
                self.assert_refused(line + b"\r\nHost: localhost\r\n\r\n", status, tr)

    @both_transports
    def test_percent_encoding(self, tr):
        for target in (b"/%zz", b"/%4", b"/%", b"/index.html%", b"/%2F", b"/a%2fb", b"/%00",
                       b"/%g0", b"/../index.html"):
            with self.subTest(target=target):
                self.assert_refused(b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\n\r\n",
                                    400, tr)
        r = one(self.site, tr, get("/%69ndex%2Ehtml"))
        self.assertEqual((r.status, r.body), (200, INDEX))

    @both_transports
    def test_bare_lf_and_leading_empty_lines(self, tr):
        r = one(self.site, tr, b"\r\n\r\nGET /index.html HTTP/1.1\nHost: localhost\n"
                               b"Connection: close\n\n")
        self.assertEqual((r.status, r.body), (200, INDEX))

    def test_mutated_requests_never_hurt(self):
        """Seeded random mutations of valid requests: every answer is a well-formed response,
        no worker dies, and the server keeps serving."""
        workers = self.site.children("worker")
        rng = random.Random(9112)
        seeds = [get("/index.html", close=False) + get("/"),
                 b"POST /x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"5;e=1\r\nhello\r\n0\r\nT: 1\r\n\r\n" + NEXT,
                 b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n"
                 b"Range: bytes=0-1,3-\r\nIf-None-Match: \"a\"\r\n\r\nabc" + NEXT,
                 b"GET http://localhost/%69ndex.html?q=%zz HTTP/1.0\r\n\r\n"]
        special = b"\r\n\x00 \t:;,%/\"\x7f\xff-0123456789aF"
        for tr in TRANSPORTS:
            for _ in range(150):
                data = bytearray(rng.choice(seeds))
                for _ in range(rng.randint(1, 4)):
                    pos = rng.randrange(len(data))
                    op = rng.randrange(4)
                    if op == 0:
                        data[pos] = rng.choice(special)
                    elif op == 1:
                        data.insert(pos, rng.choice(special))
                    elif op == 2:
                        del data[pos]
                    else:
                        data[pos:pos] = data[pos:pos + rng.randint(1, 40)]
                with Client(self.site, tr) as c:
                    c.send(bytes(data))
                    c.sock.shutdown(socket.SHUT_WR)
                    for r in c.responses_until_eof():
                        self.assertRegex(r.status_line, r"^HTTP/1\.1 [1-5][0-9][0-9] [A-Z]",
                                         bytes(data))
        self.assertEqual(self.site.children("worker"), workers)
        self.assertEqual(one(self.site, "toytls", get("/")).body, INDEX)

    @both_transports
    def test_server_keeps_serving(self, tr):
        for _ in range(3):
            self.assert_refused(b"\x00\xff garbage\r\n\r\n", 400, tr)
        self.assertEqual(one(self.site, tr, get("/")).body, INDEX)


class SegmentCapture:
    """TCP segments on the loopback interface from one port, as they leave (needs
    CAP_NET_RAW). A socket filter keeps only that port's segments, so that other
    traffic on lo (tests run in parallel) cannot fill the capture's buffer."""

    SO_ATTACH_FILTER = 26

    def __init__(self, src_port):
        self.src_port = src_port
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        # IPv4, TCP, source port == src_port (classic BPF over the Ethernet frame of lo)
        program = [
            (0x28, 0, 0, 12), (0x15, 0, 5, 0x0800),     # ldh [12]; jeq IPv4
            (0x30, 0, 0, 23), (0x15, 0, 3, 6),          # ldb [23]; jeq TCP
            (0xB1, 0, 0, 14), (0x48, 0, 0, 14),         # ldxb 4*([14]&0xf); ldh [x+14]
            (0x15, 1, 0, src_port),                     # jeq src_port
            (0x06, 0, 0, 0), (0x06, 0, 0, 0x40000),     # ret 0; ret whole frame
        ]
        self.filter = ctypes.create_string_buffer(
            b"".join(struct.pack("HBBI", *insn) for insn in program))
        fprog = struct.pack("HL", len(program), ctypes.addressof(self.filter))
        self.sock.setsockopt(socket.SOL_SOCKET, self.SO_ATTACH_FILTER, fprog)
        self.sock.bind(("lo", 0))
        while True:  # frames queued before the filter was attached
            try:
                self.sock.recv(65600, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break

    def close(self):
        self.sock.close()

    def until(self, dst_port, predicate, timeout=10):
        """Segments (flags, payload length) to dst_port, read until one satisfies
        predicate or timeout seconds pass; every one seen is returned."""
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                frame, addr = self.sock.recvfrom(65600)
            except socket.timeout:
                break
            if addr[2] != socket.PACKET_OUTGOING:
                continue
            ihl = (frame[14] & 0x0F) * 4
            total = int.from_bytes(frame[16:18], "big")
            tcp = frame[14 + ihl:]
            if (int.from_bytes(tcp[0:2], "big"), int.from_bytes(tcp[2:4], "big")) != \
                    (self.src_port, dst_port):
                continue
            segment = (tcp[13], total - ihl - (tcp[12] >> 4) * 4)
            seen.append(segment)
            if predicate(segment):
                break
        return seen


class SegmentsTest(kwtest.SiteTestCase):
    """What goes on the wire, segment by segment (loopback capture, as root)."""

    FIN = 0x01

    def capture(self, port):
        try:
            return SegmentCapture(port)
        except PermissionError:
            self.skipTest("capturing on lo needs CAP_NET_RAW")

    @both_transports
    def test_closing_response_carries_the_fin(self, tr):
        # The end of a response the connection closes after leaves in the segment
        # that carries the FIN: one segment fewer for every such connection.
        port = self.site.plain_port if tr == "plain" else self.site.tls_port
        capture = self.capture(port)
        try:
            with Client(self.site, tr) as c:
                client_port = c.sock.getsockname()[1]
                c.send(get("/index.html"))
                self.assertEqual([r.body for r in c.responses_until_eof()], [INDEX])
            seen = capture.until(client_port, lambda s: s[0] & self.FIN)
        finally:
            capture.close()
        fins = [s for s in seen if s[0] & self.FIN]
        self.assertEqual(len(fins), 1, seen)
        self.assertGreater(fins[0][1], 0, "the FIN came in a segment of its own: %r" % seen)

    @both_transports
    def test_keep_alive_responses_are_not_held_back(self, tr):
        # A keep-alive response must leave at once: held back (corked) it would wait
        # for the kernel's probe timer, 200 ms or more. Exchanges on loopback take a
        # millisecond or so; the median of seven must stay far below 200 ms.
        took = []
        with Client(self.site, tr) as c:
            for _ in range(7):
                start = time.monotonic()
                c.send(get("/index.html", close=False))
                self.assertEqual(c.response().body, INDEX)
                took.append(time.monotonic() - start)
        took.sort()
        self.assertLess(took[3], 0.15, "keep-alive exchanges took %r s" % took)


if __name__ == "__main__":
    kwtest.main()

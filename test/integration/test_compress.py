#!/usr/bin/python3
"""On-the-fly compression over plain HTTP, toy-TLS and TLS 1.3: gzip (zlib) and br
(libbrotli) chosen by Accept-Encoding, decompressed here with Python's gzip and brotli
and by curl --compressed; chunked framing read byte by byte; HTTP/1.0 close-delimited;
HEAD agreeing with GET; no compression for ranges, other types, small files or when a
precompressed variant is served; a weak ETag of its own; a slow reader of a compressed
stream that leaves the worker's memory bounded and other clients served; the per-worker
stream cap at and one past its limit, HEAD and conditionals deciding as GET does there."""

import gzip
import os
import re
import socket
import subprocess
import time
import unittest

import brotli

import kwtest
from test_static_config import TRANSPORTS, ConfigSite

PAGE = b"".join(b"<p>line %d of a page that compresses well</p>\n" % i for i in range(4000))
SMALL = b"<p>short</p>\n"


def dechunk(body):
    """The data of a chunked body, checking its framing exactly: lower-case hex sizes
    without leading zeros, CRLFs, one last chunk, no trailer, nothing after it."""
    out, pos = bytearray(), 0
    while True:
        m = re.compile(rb"([0-9a-f]+)\r\n").match(body, pos)
        if m is None:
            raise AssertionError("bad chunk size line at %d: %r" % (pos, body[pos:pos + 20]))
        size = int(m.group(1), 16)
        if size and m.group(1).startswith(b"0"):
            raise AssertionError("leading zero in chunk size")
        pos = m.end()
        if size == 0:
            if body[pos:] != b"\r\n":
                raise AssertionError("after the last chunk: %r" % body[pos:pos + 20])
            return bytes(out)
        out += body[pos:pos + size]
        if body[pos + size:pos + size + 2] != b"\r\n":
            raise AssertionError("chunk data not followed by CRLF")
        pos += size + 2


def decode(coding, data):
    return {"gzip": gzip.decompress, "br": brotli.decompress, None: lambda d: d}[coding](data)


class Compress(kwtest.SiteTestCase):
    site_class = ConfigSite
    site_args = {"locations":
                 '{ prefix = "/"; root = "www"; compress = true; compress_min_size = 100; '
                 'compress_types = [ "text/html", "text/*" ]; gzip_level = 6; '
                 'brotli_quality = 4; }, '
                 '{ prefix = "/pre/"; root = "www/pre"; compress = true; precompressed = true; }, '
                 '{ prefix = "/off/"; root = "www"; }'}

    @classmethod
    def prepare(cls, site):
        site.put("page.html", PAGE)
        site.put("small.html", SMALL)
        site.put("pic.png", PAGE)
        site.put("pre/page.html", PAGE)
        site.put("pre/page.html.gz", gzip.compress(PAGE))

    def fetch_all(self, path, headers=(), head=False):
        for transport in TRANSPORTS:
            with self.subTest(transport=transport):
                yield transport, self.site.fetch(transport, path, headers, head)

    def test_codings_by_accept_encoding_decompress_to_the_file(self):
        cases = [("gzip", "gzip"), ("gzip, deflate, br", "br"), ("br;q=0.5, gzip", "gzip"),
                 ("*", "br"), ("gzip;q=0, br;q=0", None), ("deflate", None)]
        for accept, coding in cases:
            for transport, (status, fields, body) in self.fetch_all(
                    "/page.html", ["Accept-Encoding: " + accept]):
                self.assertEqual(status, 200)
                self.assertEqual(fields["vary"], ["Accept-Encoding"])
                self.assertEqual(fields["content-type"], ["text/html"])
                if coding is None:
                    self.assertNotIn("content-encoding", fields)
                    self.assertEqual(fields["content-length"], [str(len(PAGE))])
                    self.assertEqual(body, PAGE)
                    continue
                self.assertEqual(fields["content-encoding"], [coding], accept)
                self.assertEqual(fields["transfer-encoding"], ["chunked"])
                self.assertNotIn("content-length", fields)
                self.assertNotIn("accept-ranges", fields)
                self.assertRegex(fields["etag"][0], r'^W/"[0-9a-f]+-[0-9a-f]+-%s"$' % coding)
                data = dechunk(body)
                self.assertLess(len(data), len(PAGE) // 4)
                self.assertEqual(decode(coding, data), PAGE)

    def test_head_gets_the_same_head(self):
        for accept in ("gzip", "br", "identity"):
            for transport in TRANSPORTS:
                with self.subTest(transport=transport, accept=accept):
                    ae = ["Accept-Encoding: " + accept]
                    _, get_fields, _ = self.site.fetch(transport, "/page.html", ae)
                    status, head_fields, body = self.site.fetch(transport, "/page.html", ae,
                                                                head=True)
                    self.assertEqual((status, body), (200, b""))
                    get_fields.pop("date")
                    head_fields.pop("date")
                    self.assertEqual(head_fields, get_fields)

    def test_weak_etag_revalidates_only_its_own_representation(self):
        for transport in TRANSPORTS:
            with self.subTest(transport=transport):
                _, fields, _ = self.site.fetch(transport, "/page.html", ["Accept-Encoding: br"])
                etag = fields["etag"][0]
                status, f304, body = self.site.fetch(
                    transport, "/page.html", ["Accept-Encoding: br", "If-None-Match: " + etag])
                self.assertEqual((status, body), (304, b""))
                self.assertEqual(f304["etag"], [etag])
                self.assertEqual(f304["vary"], ["Accept-Encoding"])
                status, _, body = self.site.fetch(transport, "/page.html",
                                                  ["If-None-Match: " + etag])
                self.assertEqual((status, body), (200, PAGE), "identity has another tag")

    def test_never_for_ranges_small_files_other_types_or_off(self):
        ae = "Accept-Encoding: gzip, br"
        for _, (status, fields, body) in self.fetch_all("/page.html", [ae, "Range: bytes=5-9"]):
            self.assertEqual((status, body), (206, PAGE[5:10]))
            self.assertNotIn("content-encoding", fields)
        for path, data, vary in (("/small.html", SMALL, None), ("/pic.png", PAGE, None),
                                 ("/off/page.html", PAGE, None)):
            for _, (status, fields, body) in self.fetch_all(path, [ae]):
                self.assertEqual((status, body), (200, data), path)
                self.assertNotIn("content-encoding", fields)
                self.assertNotIn("vary", fields)

    def test_a_precompressed_variant_is_served_as_it_is(self):
        for _, (status, fields, body) in self.fetch_all("/pre/page.html",
                                                        ["Accept-Encoding: gzip"]):
            self.assertEqual(status, 200)
            self.assertEqual(fields["content-encoding"], ["gzip"])
            self.assertEqual(fields["content-length"], [str(len(body))])
            self.assertFalse(fields["etag"][0].startswith("W/"))
            self.assertEqual(gzip.decompress(body), PAGE)
        for _, (status, fields, body) in self.fetch_all("/pre/page.html",
                                                        ["Accept-Encoding: br"]):
            self.assertEqual(fields["content-encoding"], ["br"], "no .br: made on the fly")
            self.assertEqual(brotli.decompress(dechunk(body)), PAGE)

    def test_http10_is_close_delimited(self):
        for accept, coding in (("gzip", "gzip"), ("br", "br")):
            data = self.site.raw(b"GET /page.html HTTP/1.0\r\nAccept-Encoding: %s\r\n"
                                 b"Connection: keep-alive\r\n\r\n" % accept.encode())
            head, _, body = data.partition(b"\r\n\r\n")
            self.assertIn(b"\r\nContent-Encoding: " + coding.encode(), head)
            self.assertIn(b"\r\nConnection: close", head)
            self.assertNotIn(b"Transfer-Encoding", head)
            self.assertNotIn(b"Content-Length", head)
            self.assertEqual(decode(coding, body), PAGE)

    def test_curl_compressed(self):
        urls = [["http://127.0.0.1:%d/page.html" % self.site.plain_port],
                ["--cacert", self.site.root_pem, "--resolve",
                 "localhost:%d:127.0.0.1" % self.site.tls13_port,
                 "https://localhost:%d/page.html" % self.site.tls13_port]]
        for args in urls:
            for accept in ("gzip", "br"):
                with self.subTest(url=args[-1], accept=accept):
                    res = subprocess.run(
                        ["curl", "-sS", "--compressed", "-H", "Accept-Encoding: " + accept,
                         "-D", "-", "-o", os.path.join(self.site.dir, "out"), *args],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
                    self.assertEqual(res.returncode, 0, res.stderr)
                    self.assertIn(b"content-encoding: " + accept.encode(), res.stdout.lower())
                    with open(os.path.join(self.site.dir, "out"), "rb") as f:
                        self.assertEqual(f.read(), PAGE)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


class SlowReader(kwtest.SiteTestCase):
    """One worker allowed one compressed stream; a reader that stops reading."""

    site_class = ConfigSite
    site_args = {"workers": 1, "extra": "http = { compress_streams = 1; send_timeout = \"60s\"; };",
                 "locations": '{ prefix = "/"; root = "www"; compress = true; }'}
    BIG = 32 << 20  # more than the socket buffers hold, compressed

    @classmethod
    def prepare(cls, site):
        # text that compresses to about three quarters: a compressed stream of ~18 MiB
        site.put("big.html", b"".join(
            os.urandom(3 << 10).hex().encode()[:4096] + b"\n" for _ in range(cls.BIG // 4097)))
        site.put("page.html", PAGE)

    def test_a_slow_reader_holds_little_and_others_are_served(self):
        worker = self.site.children("worker")[0]
        before = rss_kib(worker)
        slow = socket.create_connection(("127.0.0.1", self.site.plain_port))
        slow.sendall(b"GET /big.html HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\n"
                     b"Connection: close\r\n\r\n")
        try:
            first = slow.recv(4096)
            self.assertIn(b"Content-Encoding: gzip", first)
            # the stream is in progress and stuck: the cap is reached, so the next
            # compressible response goes as it is, with its length, and a HEAD says so
            for transport in TRANSPORTS:
                status, fields, body = self.site.fetch(transport, "/page.html",
                                                       ["Accept-Encoding: gzip"])
                self.assertEqual((status, body), (200, PAGE), transport)
                self.assertNotIn("content-encoding", fields)
                self.assertEqual(fields["vary"], ["Accept-Encoding"])
                self.assertFalse(fields["etag"][0].startswith("W/"))
                self.assertEqual(fields["content-length"], [str(len(PAGE))])
                status, head_fields, body = self.site.fetch(
                    transport, "/page.html", ["Accept-Encoding: gzip"], head=True)
                self.assertEqual((status, body), (200, b""), transport)
                fields.pop("date")
                head_fields.pop("date")
                self.assertEqual(head_fields, fields, transport)
                # the identity ETag revalidates the identity representation sent
                status, _, _ = self.site.fetch(transport, "/page.html", [
                    "Accept-Encoding: gzip", "If-None-Match: " + fields["etag"][0]])
                self.assertEqual(status, 304, transport)
            grown = rss_kib(worker) - before
            self.assertLess(grown, 8 << 10, "worker grew by %d KiB" % grown)
            data = bytearray(first)
            slow.settimeout(30)
            while True:
                chunk = slow.recv(1 << 16)
                if not chunk:
                    break
                data += chunk
        finally:
            slow.close()
        with open(os.path.join(self.site.www, "big.html"), "rb") as f:
            big = f.read()
        head, _, body = bytes(data).partition(b"\r\n\r\n")
        self.assertEqual(gzip.decompress(dechunk(body)), big)
        # the stream is over: its slot is free again
        deadline = time.monotonic() + 10
        while True:
            status, fields, body = self.site.fetch("plain", "/page.html", ["Accept-Encoding: br"])
            if "content-encoding" in fields or time.monotonic() > deadline:
                break
        self.assertEqual(fields.get("content-encoding"), ["br"])
        self.assertEqual(brotli.decompress(dechunk(body)), PAGE)
        # below the cap a HEAD announces the compressed representation, as a GET sends it
        status, fields, body = self.site.fetch("plain", "/page.html", ["Accept-Encoding: br"],
                                               head=True)
        self.assertEqual((status, body, fields.get("content-encoding")), (200, b"", ["br"]))
        self.assertNotIn("content-length", fields)


if __name__ == "__main__":
    kwtest.main()

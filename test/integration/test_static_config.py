#!/usr/bin/python3
"""What a location and a server block configure beyond the files themselves, over plain
HTTP, toy-TLS and TLS 1.3 alike: precompressed variants chosen by Accept-Encoding; added
headers, expires and HSTS (this one over the TLS transports only); a location's return
(redirects with variables, fixed answers), with header injection through the request refused;
custom error pages, and the built-in page when one cannot be served."""

import socket

import email.utils
import time

import os
import subprocess
import unittest

import kwtest

TRANSPORTS = ("plain", "toy", "tls13")
HELLO = b"Hello, precompressed world!\n" * 10
GZ = b"\x1f\x8b pretend gzip bytes"
BR = b"pretend brotli"


class ConfigSite(kwtest.Site):
    """One server on three ports (plain, toy-TLS, TLS 1.3) with the locations given."""

    def __init__(self, locations="", server_extra="", **kwargs):
        self.locations_text = locations
        super().__init__(server_extra=server_extra, **kwargs)

    def pick_ports(self):
        super().pick_ports()
        self.tls13_port = kwtest.free_port()

    def write_config(self, locations=None, server_extra=None):
        user, signer_user = self.users()
        text = self.settings() + """servers = (
  {
    server_name = [ "localhost" ];
    listen = (
      { address = "127.0.0.1"; port = %d; },
      { address = "127.0.0.1"; port = %d; tls = "toy"; },
      { address = "127.0.0.1"; port = %d; tls = "tls13"; }
    );
    certificate = "certs/server_cert.pem";
    certificate_key = "certs/server_key.pem";
    certificate_chain = [ "certs/intermediate_cert.pem" ];
    locations = ( %s );
    %s
  }
);
""" % (self.plain_port, self.tls_port, self.tls13_port, self.locations_text,
            self.server_extra)
        with open(self.conf, "w") as f:
            f.write(text)

    def fetch(self, transport, path, headers=(), head=False):
        """(status, {lower-case name: [values]}, body) from keyward-get -i."""
        port = {"plain": self.plain_port, "toy": self.tls_port, "tls13": self.tls13_port}
        scheme = {"plain": "http", "toy": "toytls", "tls13": "https"}[transport]
        cmd = [kwtest.KEYWARD_GET, "-I" if head else "-i"]
        if transport != "plain":
            cmd += ["--root", self.root_pem, "--name", "localhost"]
        for h in headers:
            cmd += ["-H", h]
        cmd.append("%s://127.0.0.1:%d%s" % (scheme, port[transport], path))
        res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        if res.returncode not in (0, 1):
            raise AssertionError("%s: %s" % (" ".join(cmd), res.stderr.decode()))
        head_text, _, body = res.stdout.partition(b"\r\n\r\n")
        lines = head_text.decode("latin-1").split("\r\n")
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields.setdefault(name.strip().lower(), []).append(value.strip())
        return int(lines[0].split(" ")[1]), fields, body


class ConfigCase(kwtest.SiteTestCase):
    site_class = ConfigSite

    def each_transport(self, path, headers=(), head=False):
        for transport in TRANSPORTS:
            with self.subTest(transport=transport):
                yield self.site.fetch(transport, path, headers, head)


class Precompressed(ConfigCase):
    site_args = {"locations": '{ prefix = "/"; root = "www"; precompressed = true; }, '
                              '{ prefix = "/plain/"; root = "www"; }'}

    @classmethod
    def prepare(cls, site):
        site.put("hello.txt", HELLO)
        site.put("hello.txt.gz", GZ)
        site.put("hello.txt.br", BR)
        site.put("only.txt", HELLO)
        site.put("only.txt.gz", GZ)
        old = os.path.join(site.www, "only.txt.gz")
        os.utime(old, (1, 1))

    def test_br_gzip_identity_by_accept_encoding(self):
        cases = [("gzip, deflate, br", BR, "br"), ("gzip", GZ, "gzip"),
                 ("br;q=0.5, gzip", GZ, "gzip"), ("gzip;q=0, br;q=0", HELLO, None),
                 ("identity", HELLO, None), ("*", BR, "br"), ("*;q=0, identity", HELLO, None),
                 ("gzip;q=0.001", GZ, "gzip"), ("gzip;q=1.001", HELLO, None),
                 ("br;q=0.4, identity;q=0.5", HELLO, None)]
        etags = {}
        for accept, body, coding in cases:
            for status, fields, got in self.each_transport(
                    "/hello.txt", ["Accept-Encoding: " + accept]):
                self.assertEqual((status, got), (200, body), accept)
                self.assertEqual(fields.get("content-encoding"), [coding] if coding else None)
                self.assertEqual(fields["vary"], ["Accept-Encoding"])
                self.assertEqual(fields["content-length"], [str(len(body))])
                self.assertEqual(fields["content-type"], ["text/plain"])
                etags.setdefault(coding, set()).update(fields["etag"])
        self.assertEqual(len(etags), 3)
        self.assertTrue(all(len(tags) == 1 for tags in etags.values()))
        self.assertEqual(len(set().union(*etags.values())), 3)

    def test_no_header_gets_identity_with_vary(self):
        for status, fields, body in self.each_transport("/hello.txt"):
            self.assertEqual((status, body), (200, HELLO))
            self.assertNotIn("content-encoding", fields)
            self.assertEqual(fields["vary"], ["Accept-Encoding"])

    def test_older_variant_is_stale(self):
        for status, fields, body in self.each_transport("/only.txt", ["Accept-Encoding: gzip"]):
            self.assertEqual((status, body), (200, HELLO))
            self.assertNotIn("content-encoding", fields)

    def test_off_in_other_location(self):
        for status, fields, body in self.each_transport("/plain/hello.txt",
                                                        ["Accept-Encoding: br, gzip"]):
            self.assertEqual((status, body), (200, HELLO))
            self.assertNotIn("content-encoding", fields)
            self.assertNotIn("vary", fields)

    def test_head_agrees_with_get_and_range_and_conditionals(self):
        ae = "Accept-Encoding: gzip"
        for transport in TRANSPORTS:
            with self.subTest(transport=transport):
                status, get_fields, body = self.site.fetch(transport, "/hello.txt", [ae])
                status, head_fields, head_body = self.site.fetch(transport, "/hello.txt", [ae],
                                                                 head=True)
                self.assertEqual(head_body, b"")
                for name in ("content-length", "content-encoding", "etag", "vary"):
                    self.assertEqual(head_fields[name], get_fields[name])
                etag = get_fields["etag"][0]
                status, fields, body = self.site.fetch(transport, "/hello.txt",
                                                       [ae, "Range: bytes=2-5"])
                self.assertEqual((status, body), (206, GZ[2:6]))
                self.assertEqual(fields["content-range"], ["bytes 2-5/%d" % len(GZ)])
                self.assertEqual(fields["content-encoding"], ["gzip"])
                status, fields, body = self.site.fetch(transport, "/hello.txt",
                                                       [ae, "If-None-Match: " + etag])
                self.assertEqual(status, 304)
                status, fields, body = self.site.fetch(transport, "/hello.txt",
                                                       ["If-None-Match: " + etag])
                self.assertEqual((status, body), (200, HELLO))


class HeaderRules(ConfigCase):
    site_args = {
        "server_extra": 'headers = [ "X-Frame-Options: DENY", "Cache-Control: no-store" ];\n'
                        '    hsts = "max-age=31536000; includeSubDomains";',
        "locations": '{ prefix = "/"; root = "www"; }, '
                     '{ prefix = "/assets/"; root = "www"; expires = "1d"; '
                     'headers = [ "X-Asset: yes", "Link: </a.css>; rel=preload" ]; }, '
                     '{ prefix = "/never/"; root = "www"; expires = "epoch"; headers = []; }'}

    @classmethod
    def prepare(cls, site):
        site.put("index.html", b"home\n")
        site.put("app.js", b"js\n")
        site.put("x.txt", b"x\n")

    def test_server_headers(self):
        for transport in TRANSPORTS:
            with self.subTest(transport=transport):
                status, fields, body = self.site.fetch(transport, "/index.html")
                self.assertEqual((status, body), (200, b"home\n"))
                self.assertEqual(fields["x-frame-options"], ["DENY"])
                self.assertEqual(fields["cache-control"], ["no-store"])
                self.assertNotIn("expires", fields)
                hsts = fields.get("strict-transport-security")
                self.assertEqual(hsts, None if transport == "plain"
                                 else ["max-age=31536000; includeSubDomains"])

    def test_location_headers_and_expires(self):
        for transport in TRANSPORTS:
            with self.subTest(transport=transport):
                before = int(time.time())
                status, fields, body = self.site.fetch(transport, "/assets/app.js")
                after = int(time.time())
                self.assertEqual((status, body), (200, b"js\n"))
                self.assertEqual(fields["x-asset"], ["yes"])
                self.assertEqual(fields["link"], ["</a.css>; rel=preload"])
                self.assertNotIn("x-frame-options", fields)
                self.assertEqual(fields["cache-control"], ["max-age=86400"])
                expires = email.utils.parsedate_to_datetime(fields["expires"][0]).timestamp()
                self.assertTrue(before + 86400 <= expires <= after + 86400, fields["expires"])
                status, fields, body = self.site.fetch(transport, "/never/x.txt")
                self.assertEqual(fields["expires"], ["Thu, 01 Jan 1970 00:00:01 GMT"])
                self.assertEqual(fields["cache-control"], ["no-cache"])
                self.assertNotIn("x-frame-options", fields)

    def test_errors_get_hsts_but_not_the_added_headers(self):
        for transport in TRANSPORTS:
            with self.subTest(transport=transport):
                status, fields, body = self.site.fetch(transport, "/assets/missing.js")
                self.assertEqual(status, 404)
                self.assertNotIn("x-asset", fields)
                self.assertNotIn("expires", fields)
                self.assertEqual("strict-transport-security" in fields, transport != "plain")

    def test_head_and_304_carry_them(self):
        for transport in TRANSPORTS:
            with self.subTest(transport=transport):
                status, fields, body = self.site.fetch(transport, "/assets/app.js", head=True)
                self.assertEqual((status, body), (200, b""))
                self.assertEqual(fields["x-asset"], ["yes"])
                status, fields, body = self.site.fetch(
                    transport, "/assets/app.js", ["If-None-Match: " + fields["etag"][0]])
                self.assertEqual(status, 304)
                self.assertEqual(fields["cache-control"], ["max-age=86400"])


class Return(ConfigCase):
    site_args = {
        "locations": '{ prefix = "/"; root = "www"; }, '
                     '{ prefix = "/old/"; root = "www"; '
                     'return = { status = 301; location = "$scheme://$host/new$uri?$args"; }; }, '
                     '{ prefix = "/gone"; root = "www"; '
                     'return = { status = 410; body = "$uri is gone"; }; }, '
                     '{ prefix = "/teapot"; root = "www"; return = { status = 503; }; }'}

    def test_redirect_per_transport(self):
        for transport in TRANSPORTS:
            with self.subTest(transport=transport):
                status, fields, body = self.site.fetch(transport, "/old/a%20b.html?x=1")
                scheme = "http" if transport == "plain" else "https"
                port = {"plain": self.site.plain_port, "toy": self.site.tls_port,
                        "tls13": self.site.tls13_port}[transport]
                host = "%s:%d" % ("127.0.0.1" if transport == "plain" else "localhost", port)
                self.assertEqual(status, 301)
                self.assertEqual(fields["location"],
                                 ["%s://%s/new/old/a%%20b.html?x=1" % (scheme, host)])

    def test_fixed_body_and_builtin_page(self):
        for transport in TRANSPORTS:
            with self.subTest(transport=transport):
                status, fields, body = self.site.fetch(transport, "/gone/x")
                self.assertEqual((status, body), (410, b"/gone/x is gone"))
                self.assertEqual(fields["content-type"], ["text/plain; charset=utf-8"])
                status, fields, body = self.site.fetch(transport, "/gone/x", head=True)
                self.assertEqual((status, body), (410, b""))
                self.assertEqual(fields["content-length"], ["15"])
                status, fields, body = self.site.fetch(transport, "/teapot")
                self.assertEqual(status, 503)
                self.assertIn(b"503 Service Unavailable", body)
                status, fields, body = self.site.fetch(transport, "/teapotx")
                self.assertEqual(status, 404)

    def test_injection_through_the_path(self):
        request = (b"GET /old/x%0d%0aSet-Cookie:%20a=1?q=%0d%0a HTTP/1.1\r\n"
                   b"Host: h\r\nConnection: close\r\n\r\n")
        with socket.create_connection(("127.0.0.1", self.site.plain_port), timeout=10) as s:
            s.sendall(request)
            data = kwtest.read_until_eof(s)
        head = data.split(b"\r\n\r\n")[0].decode("latin-1")
        self.assertTrue(head.startswith("HTTP/1.1 301 "), head)
        self.assertNotIn("\nSet-Cookie", head)
        location = [l for l in head.split("\r\n") if l.startswith("Location: ")]
        self.assertEqual(len(location), 1, head)
        self.assertRegex(location[0], r"^Location: [\x21-\x7e]+$")
        self.assertIn("/x%0D%0ASet-Cookie:%20a=1", location[0])

    def test_query_with_encoded_crlf(self):
        request = (b"GET /old/p?q=%0d%0aX:%20y HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        with socket.create_connection(("127.0.0.1", self.site.plain_port), timeout=10) as s:
            s.sendall(request)
            data = kwtest.read_until_eof(s)
        head = data.split(b"\r\n\r\n")[0].decode("latin-1")
        self.assertIn("\r\nLocation: http://h/new/old/p?q=%0d%0aX:%20y\r\n", head)
        self.assertNotIn("\r\nX: y", head)


PAGE_404 = b"<html><body>custom not found</body></html>\n"
PAGE_LOC = b"location page\n"
PAGE_503 = b"back soon\n"


class ErrorPages(ConfigCase):
    site_args = {
        "server_extra": 'error_pages = ( { status = 404; uri = "/pages/404.html"; },\n'
                        '      { status = 403; uri = "/pages/missing.html"; },\n'
                        '      { status = 503; uri = "/pages/503.txt"; } );\n'
                        '    hsts = "max-age=60";',
        "locations": '{ prefix = "/"; root = "www"; }, '
                     '{ prefix = "/loc/"; root = "www"; '
                     'error_pages = ( { status = 404; uri = "/pages/loc.txt"; } ); }, '
                     '{ prefix = "/none/"; root = "www"; error_pages = (); }, '
                     '{ prefix = "/loop/"; root = "www"; '
                     'error_pages = ( { status = 404; uri = "/loop/absent.html"; } ); }, '
                     '{ prefix = "/strict/"; root = "www"; follow_symlinks = false; }, '
                     '{ prefix = "/deny/"; root = "www"; '
                     'error_pages = ( { status = 404; uri = "/strict/link.html"; } ); }, '
                     '{ prefix = "/out/"; root = "www"; '
                     'error_pages = ( { status = 404; uri = "/outside.html"; } ); }, '
                     '{ prefix = "/fixed/"; root = "www"; return = { status = 503; }; }'}

    @classmethod
    def prepare(cls, site):
        site.put("pages/404.html", PAGE_404)
        site.put("pages/loc.txt", PAGE_LOC)
        site.put("pages/503.txt", PAGE_503)
        site.put("dir/x.txt", b"x\n")
        site.put("strict/real.html", PAGE_404)
        os.symlink("real.html", os.path.join(site.www, "strict", "link.html"))
        with open(os.path.join(site.dir, "outside.html"), "wb") as f:
            f.write(PAGE_404)
        os.symlink("../outside.html", os.path.join(site.www, "outside.html"))

    def assert_builtin(self, fields, body, status, reason):
        self.assertEqual(fields["content-type"], ["text/html"])
        self.assertIn(b"<h1>%d %s</h1>" % (status, reason), body)

    def test_custom_page_with_the_original_status(self):
        for status, fields, body in self.each_transport("/nothing.html"):
            self.assertEqual((status, body), (404, PAGE_404))
            self.assertEqual(fields["content-type"], ["text/html"])
            self.assertEqual(fields["content-length"], [str(len(PAGE_404))])
            for name in ("etag", "last-modified", "accept-ranges"):
                self.assertNotIn(name, fields)
        for status, fields, body in self.each_transport("/nothing.html", head=True):
            self.assertEqual((status, body), (404, b""))
            self.assertEqual(fields["content-length"], [str(len(PAGE_404))])

    def test_location_list_replaces_the_server_list(self):
        for status, fields, body in self.each_transport("/loc/nothing"):
            self.assertEqual((status, body), (404, PAGE_LOC))
            self.assertEqual(fields["content-type"], ["text/plain"])
        for status, fields, body in self.each_transport("/none/nothing"):
            self.assertEqual(status, 404)
            self.assert_builtin(fields, body, 404, b"Not Found")

    def test_unservable_pages_fall_back_to_the_builtin_page(self):
        for path in ("/loop/nothing", "/deny/nothing", "/out/nothing"):
            for status, fields, body in self.each_transport(path):
                with self.subTest(path=path):
                    self.assertEqual(status, 404)
                    self.assert_builtin(fields, body, 404, b"Not Found")
        for status, fields, body in self.each_transport("/dir/"):
            self.assertEqual(status, 403)
            self.assert_builtin(fields, body, 403, b"Forbidden")

    def test_return_without_body_and_hsts(self):
        for transport in TRANSPORTS:
            with self.subTest(transport=transport):
                status, fields, body = self.site.fetch(transport, "/fixed/x")
                self.assertEqual((status, body), (503, PAGE_503))
                self.assertEqual("strict-transport-security" in fields, transport != "plain")

    def test_http2(self):
        res = subprocess.run(
            ["curl", "-sS", "--http2", "--cacert", self.site.root_pem, "--resolve",
             "localhost:%d:127.0.0.1" % self.site.tls13_port, "-w", "%{http_code} %{http_version}",
             "https://localhost:%d/nothing.html" % self.site.tls13_port],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout, PAGE_404 + b"404 2")


class ErrorPagesRefused(unittest.TestCase):
    """keyward -t names the file and line of an error page it cannot take."""

    def check(self, pages, words):
        site = ConfigSite(locations='{ prefix = "/"; root = "www";\nerror_pages = ( %s ); }'
                          % pages)
        try:
            res = subprocess.run([kwtest.KEYWARD, "-t", "-c", site.conf],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(res.returncode, 1)
            self.assertRegex(res.stderr.decode() + res.stdout.decode(),
                             r"keyward\.conf:\d+: .*" + words)
        finally:
            site.cleanup()

    def test_check_refuses(self):
        self.check('{ status = 600; uri = "/e.html"; }', r"'status' must be between 400 and 599")
        self.check('{ status = 404; uri = "e.html"; }', r"must start with '/'")
        self.check('{ status = 404; uri = "/a"; }, { status = 404; uri = "/b"; }',
                   r"duplicate status 404")


class HeaderRulesRefused(unittest.TestCase):
    """keyward -t names the file and line of a header that could break a response."""

    def test_check_refuses(self):
        site = ConfigSite(locations='{ prefix = "/"; root = "www";\n'
                                    'headers = [ "X-A: 1", "Transfer-Encoding: chunked" ]; }')
        try:
            res = subprocess.run([kwtest.KEYWARD, "-t", "-c", site.conf],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(res.returncode, 1)
            text = res.stderr.decode() + res.stdout.decode()
            self.assertRegex(text, r"keyward\.conf:\d+: 'headers' = \"Transfer-Encoding: "
                                   r"chunked\": names a header")
        finally:
            site.cleanup()


if __name__ == "__main__":
    kwtest.main()

#!/usr/bin/python3
"""HTTP/2 over TLS 1.3 (ALPN) and with prior knowledge on a plain port (h2c).

Real clients (curl --http2, nghttp, h2load) fetch files byte for byte; the same request
handling answers as for HTTP/1.1 (conditionals, ranges, error pages, HEAD); flow control
holds both ways with many concurrent streams; a listener with http2 = false and a plain
listener without it stay HTTP/1.1. Hostile clients (raw frames where the h2 library will
not misbehave) flood resets, CONTINUATION frames, PING/SETTINGS/empty DATA frames,
overflow the header list (an HPACK bomb), hold a zero window and never acknowledge
SETTINGS: each gets GOAWAY and the connection closes, at the limit and one past it, while
the workers stay the same processes. A graceful stop or a reload lets an open stream finish.
"""

import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import time
import unittest

import h2.config
import h2.connection
import h2.events
import h2.settings
import hpack

import kwtest

BIG = bytes((i * 7 + i // 251) % 256 for i in range(300000))
INDEX = b"<h1>hello over HTTP/2</h1>\n"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = (
    0, 1, 2, 3, 4, 6, 7, 8, 9)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
ENHANCE_YOUR_CALM, SETTINGS_TIMEOUT = 0xb, 0x4

MAX_BODY = 1024
LIMITS = {"max_resets": 20, "max_control_frames": 100, "max_continuations": 8,
          "max_header_list_size": 4096}


def run(args, timeout=60, check=True):
    res = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(args), res.returncode,
                                                     res.stderr.decode(errors="replace")))
    return res


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(
        ">I", stream) + payload


class Http2Site(kwtest.Site):
    """A TLS 1.3 port (HTTP/2 by default), a TLS 1.3 port with http2 = false, a plain
    port with http2 = true (h2c) and the default plain port (HTTP/1.1 only)."""

    def pick_ports(self):
        super().pick_ports()
        self.h1_tls_port = kwtest.free_port()
        self.h2c_port = kwtest.free_port()

    def write_config(self, locations=None, server_extra=None):
        text = self.settings() + """access_log = "access.log";
http = { send_timeout = "2s"; keepalive_timeout = "3s"; max_body_size = %(max_body)d; };
http2 = { max_resets = %(max_resets)d; reset_interval = "60s";
          max_control_frames = %(max_control_frames)d;
          max_continuations = %(max_continuations)d;
          max_header_list_size = %(max_header_list_size)d; settings_timeout = "1s"; };
servers = (
  {
    server_name = [ "localhost" ];
    listen = (
      { address = "127.0.0.1"; port = %(plain)d; },
      { address = "127.0.0.1"; port = %(tls)d; tls = "tls13"; },
      { address = "127.0.0.1"; port = %(h1tls)d; tls = "tls13"; http2 = false; },
      { address = "127.0.0.1"; port = %(h2c)d; http2 = true; }
    );
    certificate = "certs/server_cert.pem";
    certificate_key = "certs/server_key.pem";
    certificate_chain = [ "certs/intermediate_cert.pem" ];
    locations = ( { prefix = "/"; root = "www"; } );
  }
);
""" % dict(LIMITS, max_body=MAX_BODY, plain=self.plain_port, tls=self.tls_port, h1tls=self.h1_tls_port,
           h2c=self.h2c_port)
        with open(self.conf, "w") as f:
            f.write(text)


class Client:
    """A raw HTTP/2 client: TLS with ALPN h2, or h2c; frames sent as given."""

    def __init__(self, site, tls=True, settings=b"", ack=True, preface=True):
        port = site.tls_port if tls else site.h2c_port
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if tls:
            ctx = ssl.create_default_context(cafile=site.root_pem)
            ctx.set_alpn_protocols(["h2"])
            sock = ctx.wrap_socket(sock, server_hostname="localhost")
            assert sock.selected_alpn_protocol() == "h2"
        self.sock = sock
        self.ack = ack
        self.buf = b""
        self.enc = hpack.Encoder()
        if preface:
            self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0, settings))

    def send(self, data):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass

    def headers(self, stream, path="/index.html", extra=(), flags=END_STREAM | END_HEADERS):
        block = self.enc.encode([(":method", "GET"), (":scheme", "https"),
                                 (":authority", "localhost"), (":path", path), *extra])
        return frame(HEADERS, flags, stream, block)

    def frames(self, until=None, timeout=10):
        """Frames received until EOF, or until one makes until(frame) true."""
        out = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) < 9 + n:
                    break
                f = (self.buf[3], self.buf[4], int.from_bytes(self.buf[5:9], "big") & 0x7fffffff,
                     self.buf[9:9 + n])
                self.buf = self.buf[9 + n:]
                out.append(f)
                if f[0] == SETTINGS and not f[1] & ACK and self.ack:
                    self.send(frame(SETTINGS, ACK, 0))
                if until is not None and until(f):
                    return out, False
            try:
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                data = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                return out, True
            except socket.timeout:
                break
            if not data:
                return out, True
            self.buf += data
        return out, False

    def close(self):
        self.sock.close()


def goaway_code(frames):
    codes = [int.from_bytes(f[3][4:8], "big") for f in frames if f[0] == GOAWAY]
    return codes[-1] if codes else None


class Http2Test(kwtest.SiteTestCase):
    site_class = Http2Site

    @classmethod
    def prepare(cls, site):
        site.put("index.html", INDEX)
        site.put("big.bin", BIG)

    def setUp(self):
        self.workers = sorted(self.site.children("worker"))

    def tearDown(self):
        self.assertEqual(sorted(self.site.children("worker")), self.workers,
                         "a worker was replaced")

    def url(self, path, port=None, scheme="https"):
        return "%s://localhost:%d%s" % (scheme, port or self.site.tls_port, path)

    def curl(self, *args):
        port_args = []
        for port in (self.site.tls_port, self.site.h1_tls_port, self.site.h2c_port,
                     self.site.plain_port):
            port_args += ["--resolve", "localhost:%d:127.0.0.1" % port]
        return run(["curl", "-sS", "--cacert", self.site.root_pem, *port_args, *args])

    # -- real clients -----------------------------------------------------------------

    def test_curl_negotiates_h2_by_alpn(self):
        res = self.curl("--http2", "-w", "%{http_version}", self.url("/index.html"))
        self.assertEqual(res.stdout, INDEX + b"2")
        res = self.curl("--http2", self.url("/big.bin"))
        self.assertEqual(res.stdout, BIG)

    def test_listener_with_http2_off_speaks_http11(self):
        res = self.curl("--http2", "-w", "%{http_version}", "-o", "/dev/null",
                        self.url("/index.html", self.site.h1_tls_port))
        self.assertEqual(res.stdout, b"1.1")

    def test_h2c_prior_knowledge_only_where_configured(self):
        res = self.curl("--http2-prior-knowledge", "-w", "%{http_version}",
                        self.url("/big.bin", self.site.h2c_port, "http"))
        self.assertEqual(res.stdout, BIG + b"2")
        res = self.curl("--http1.1", "-w", "%{http_version}",
                        self.url("/index.html", self.site.h2c_port, "http"))
        self.assertEqual(res.stdout, INDEX + b"1.1")
        res = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null",
                              self.url("/index.html", self.site.plain_port, "http")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        self.assertNotEqual(res.returncode, 0)

    def test_nghttp(self):
        res = run(["nghttp", "-nv", "https://127.0.0.1:%d/index.html" % self.site.tls_port],
                  check=False)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn(b":status: 200", res.stdout)
        self.assertIn(b"content-length: %d" % len(INDEX), res.stdout)

    def test_h2load_no_failure(self):
        url = "https://127.0.0.1:%d" % self.site.tls_port
        res = run(["h2load", "-n", "10000", "-c", "10", "-m", "100", url + "/index.html"],
                  timeout=120)
        self.assertRegex(res.stdout, rb"10000 succeeded, 0 failed, 0 errored, 0 timeout")
        res = run(["h2load", "-n", "100", "-c", "2", "-m", "10", url + "/big.bin"],
                  timeout=120)
        self.assertRegex(res.stdout, rb"100 succeeded, 0 failed, 0 errored, 0 timeout")

    def test_access_log_says_http2(self):
        self.curl("--http2", "-o", "/dev/null", self.url("/index.html?log"))
        path = os.path.join(self.site.dir, "access.log")
        kwtest.wait_until(lambda: b"/index.html?log HTTP/2.0\" 200" in open(path, "rb").read(),
                          what="the access log line")

    # -- one request handler, HTTP/2 framing -------------------------------------------

    def h2_get(self, headers, window=None):
        """One request through the h2 library; returns (response headers, body)."""
        c = Client(self.site, preface=False)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8"))
        conn.initiate_connection()
        if window is not None:
            conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        c.sock.sendall(conn.data_to_send())
        conn.send_headers(1, [(":method", headers.pop(":method", "GET")), (":scheme", "https"),
                              (":authority", "localhost"), (":path", headers.pop(":path")),
                              *headers.items()], end_stream=True)
        c.sock.sendall(conn.data_to_send())
        head, body = None, b""
        while True:
            data = c.sock.recv(65536)
            self.assertTrue(data, "connection closed before the stream ended")
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    head = dict(ev.headers)
                elif isinstance(ev, h2.events.DataReceived):
                    body += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    c.close()
                    return head, body
            c.sock.sendall(conn.data_to_send())

    def test_same_handler_as_http11(self):
        head, body = self.h2_get({":path": "/index.html"})
        self.assertEqual(head[":status"], "200")
        self.assertEqual(body, INDEX)
        for name in head:
            self.assertEqual(name, name.lower())
        self.assertNotIn("connection", head)
        head2, body = self.h2_get({":path": "/index.html", "if-none-match": head["etag"]})
        self.assertEqual((head2[":status"], body), ("304", b""))
        head, body = self.h2_get({":path": "/big.bin", "range": "bytes=10-19"})
        self.assertEqual((head[":status"], body), ("206", BIG[10:20]))
        head, body = self.h2_get({":path": "/missing"})
        self.assertEqual(head[":status"], "404")
        self.assertIn(b"404 Not Found", body)
        head, body = self.h2_get({":path": "/big.bin", ":method": "HEAD"})
        self.assertEqual((head[":status"], head["content-length"], body),
                         ("200", str(len(BIG)), b""))

    def response_status(self, c, stream):
        frames, _ = c.frames(until=lambda f: f[0] == HEADERS and f[2] == stream)
        block = [f[3] for f in frames if f[0] == HEADERS and f[2] == stream]
        self.assertTrue(block, "no response")
        return dict(hpack.Decoder().decode(block[0]))[":status"]

    def test_request_body_limit(self):
        for length, status in ((MAX_BODY, "404"), (MAX_BODY + 1, "413")):
            c = Client(self.site)
            c.send(c.headers(1, "/missing", extra=[("content-length", str(length))],
                             flags=END_HEADERS))
            self.assertEqual(self.response_status(c, 1), status)
            c.close()
        for length, reset in ((MAX_BODY, False), (MAX_BODY + 1, True)):
            c = Client(self.site)
            # stream 3's answer comes after whatever stream 1's body made the server send
            c.send(c.headers(1, "/index.html", flags=END_HEADERS) +
                   frame(DATA, 0, 1, b"x" * (length - 1)) + frame(DATA, END_STREAM, 1, b"x") +
                   c.headers(3))
            frames, _ = c.frames(until=lambda f: f[2] == 3 and f[0] == DATA and f[1] & END_STREAM)
            c.close()
            self.assertTrue(any(f[2] == 3 and f[0] == DATA for f in frames))
            self.assertEqual(any(f[0] == RST_STREAM and f[2] == 1 for f in frames), reset)

    def test_concurrent_streams_with_small_windows(self):
        c = Client(self.site, preface=False)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 4096})
        streams = list(range(1, 40, 2))
        for sid in streams:
            conn.send_headers(sid, [(":method", "GET"), (":scheme", "https"),
                                    (":authority", "localhost"), (":path", "/big.bin")],
                              end_stream=True)
        c.sock.sendall(conn.data_to_send())
        bodies = {sid: b"" for sid in streams}
        ended = set()
        while len(ended) < len(streams):
            data = c.sock.recv(65536)
            self.assertTrue(data)
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.DataReceived):
                    self.assertLessEqual(len(bodies[ev.stream_id]) + len(ev.data), len(BIG))
                    bodies[ev.stream_id] += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    ended.add(ev.stream_id)
            c.sock.sendall(conn.data_to_send())
        c.close()
        for sid in streams:
            self.assertEqual(bodies[sid], BIG, sid)

    # -- hostile clients ---------------------------------------------------------------

    def assert_goaway(self, c, code):
        frames, closed = c.frames()
        c.close()
        self.assertEqual(goaway_code(frames), code)
        self.assertTrue(closed, "the connection stayed open")

    def assert_served(self, c, stream):
        frames, _ = c.frames(until=lambda f: f[2] == stream and f[1] & END_STREAM)
        c.close()
        self.assertIsNone(goaway_code(frames))
        self.assertTrue(any(f[0] == DATA and f[2] == stream for f in frames))

    def test_rapid_reset(self):
        # per reset_interval (60 s here): the limit passes, one more ends the connection
        for n, refused in ((LIMITS["max_resets"], False), (LIMITS["max_resets"] + 1, True)):
            c = Client(self.site)
            out = b""
            for i in range(n):
                out += c.headers(1 + 2 * i, "/big.bin") + frame(RST_STREAM, 0, 1 + 2 * i,
                                                                 struct.pack(">I", 8))
            c.send(out)
            if refused:
                self.assert_goaway(c, ENHANCE_YOUR_CALM)
            else:
                c.send(c.headers(1 + 2 * n))
                self.assert_served(c, 1 + 2 * n)

    def test_continuation_flood(self):
        for n, refused in ((LIMITS["max_continuations"], False),
                           (LIMITS["max_continuations"] + 1, True)):
            c = Client(self.site)
            block = c.enc.encode([(":method", "GET"), (":scheme", "https"),
                                  (":authority", "localhost"), (":path", "/index.html")])
            pad = c.enc.encode([("x-pad", "p" * 10)])
            out = frame(HEADERS, END_STREAM, 1, block)
            for i in range(n):
                out += frame(CONTINUATION, END_HEADERS if i == n - 1 and not refused else 0, 1,
                             pad)
            c.send(out)
            if refused:
                self.assert_goaway(c, ENHANCE_YOUR_CALM)
            else:
                self.assert_served(c, 1)

    def control_flood(self, make):
        limit = LIMITS["max_control_frames"]
        for n, refused in ((limit, False), (limit + 1, True)):
            c = Client(self.site)
            c.frames(until=lambda f: f[0] == SETTINGS and f[1] & ACK)
            c.send(b"".join(make(i) for i in range(n)))
            if refused:
                self.assert_goaway(c, ENHANCE_YOUR_CALM)
            else:
                c.send(c.headers(1))
                self.assert_served(c, 1)

    def test_ping_flood(self):
        self.control_flood(lambda i: frame(PING, 0, 0, struct.pack(">Q", i)))

    def test_settings_flood(self):
        self.control_flood(lambda i: frame(SETTINGS, 0, 0))

    def test_empty_data_flood(self):
        # stream 1 stays open for its request body: empty DATA frames that carry nothing
        c = Client(self.site)
        c.send(c.headers(1, flags=END_HEADERS) +
               b"".join(frame(DATA, 0, 1) for _ in range(LIMITS["max_control_frames"] + 1)))
        self.assert_goaway(c, ENHANCE_YOUR_CALM)

    def test_header_list_size_hpack_bomb(self):
        # one 1000-byte field indexed once, then referenced: a few bytes each on the wire
        base = len(":method") + 3 + len(":scheme") + 5 + len(":authority") + 9 + len(
            ":path") + len("/index.html") + 4 * 32
        limit = LIMITS["max_header_list_size"]
        for extra_len, refused in ((limit - base, False), (limit - base + 1, True)):
            c = Client(self.site)
            fields = []
            left = extra_len
            while left > 0:
                value_len = min(1000, left - 38)
                fields.append(("x-bomb", "b" * value_len))
                left -= 38 + value_len
            self.assertEqual(left, 0)
            c.send(c.headers(1, extra=fields))
            if refused:
                self.assert_goaway(c, ENHANCE_YOUR_CALM)
            else:
                self.assert_served(c, 1)

    def test_zero_window_held(self):
        c = Client(self.site, settings=struct.pack(">HI", 4, 0))
        c.send(c.headers(1, "/big.bin"))
        start = time.monotonic()
        frames, closed = c.frames(timeout=20)
        c.close()
        self.assertTrue(closed, "a zero window held the stream forever")
        self.assertFalse(any(f[0] == DATA for f in frames))
        self.assertEqual(goaway_code(frames), ENHANCE_YOUR_CALM)
        self.assertGreater(time.monotonic() - start, 1.5)

    def test_idle_connection_closes_after_keepalive_timeout(self):
        c = Client(self.site)
        c.send(c.headers(1))
        start = time.monotonic()
        frames, closed = c.frames(timeout=15)
        c.close()
        self.assertTrue(closed, "an idle HTTP/2 connection stayed open")
        self.assertEqual(goaway_code(frames), 0)
        self.assertGreater(time.monotonic() - start, 2.5)
        self.assertTrue(any(f[0] == DATA and f[2] == 1 for f in frames))

    def test_before_the_first_request_the_header_timeout_applies(self):
        # keepalive_timeout (3 s) counts from a finished response, not from the preface
        c = Client(self.site)
        frames, closed = c.frames(timeout=4)
        self.assertFalse(closed)
        self.assertIsNone(goaway_code(frames))
        c.send(c.headers(1))
        self.assert_served(c, 1)

    def test_settings_never_acknowledged(self):
        c = Client(self.site, ack=False)
        self.assert_goaway(c, SETTINGS_TIMEOUT)
        c = Client(self.site)
        c.send(c.headers(1))
        self.assert_served(c, 1)


class GracefulEndTest(unittest.TestCase):
    """A graceful stop (SIGQUIT) or a reload (SIGHUP) while a download is under way: the
    old worker sends GOAWAY (NO_ERROR), the open stream finishes, then the connection
    closes."""

    def download_across(self, sig):
        site = Http2Site()
        self.addCleanup(site.cleanup)
        site.put("big.bin", BIG)
        site.start()
        c = Client(site)
        c.send(c.headers(1, "/big.bin"))
        body, goaway, ended, signalled, unacked = b"", False, False, False, 0
        while not ended:
            # after the signal, nothing is acknowledged until GOAWAY: the stream waits on
            # its window meanwhile, so it is still open when the old worker is told to end
            frames, closed = c.frames(until=lambda f: True, timeout=30)
            self.assertFalse(closed, "closed before the stream ended")
            self.assertTrue(frames, "no frame in time")
            ftype, flags, stream, payload = frames[-1]
            if ftype == GOAWAY:
                goaway = True
                self.assertEqual(int.from_bytes(payload[4:8], "big"), 0)
            if ftype == DATA and stream == 1:
                body += payload
                if not signalled:
                    signalled = True
                    site.proc.send_signal(sig)
                ended = bool(flags & END_STREAM)
                unacked += len(payload)
            if unacked and (goaway or not signalled):
                c.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", unacked)) +
                       frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", unacked)))
                unacked = 0
        frames, closed = c.frames(timeout=10)
        c.close()
        self.assertTrue(goaway, "no GOAWAY before the end")
        self.assertEqual(body, BIG)
        self.assertTrue(closed, "the connection stayed open after its last stream")
        return site

    def test_stop(self):
        site = self.download_across(signal.SIGQUIT)
        self.assertEqual(site.proc.wait(timeout=30), 0)

    def test_reload(self):
        site = self.download_across(signal.SIGHUP)
        site.log.wait_for(r"ready: generation 2")
        res = run(["curl", "-sS", "--http2", "--cacert", site.root_pem, "--resolve",
                   "localhost:%d:127.0.0.1" % site.tls_port, "-w", "%{http_version}",
                   "-o", "/dev/null", "https://localhost:%d/big.bin" % site.tls_port])
        self.assertEqual(res.stdout, b"2")


if __name__ == "__main__":
    kwtest.main()

#!/usr/bin/python3
"""Limits and timeouts of the real server, on both transports: request line, head
size and field count, body size, the header, body, send, keep-alive and handshake
deadlines, keepalive_requests, max_connections with idle connections reclaimed
first, and 300 slow clients that do not stop normal ones from being served.

Timeouts are configured short (1 s) and each closing is measured: it must come
after the timeout and within it plus MARGIN, never sooner.
"""

import resource
import selectors
import socket
import threading
import time

import kwtest
import toytls_ref as ref
from test_http import INDEX, TRANSPORTS, Client, RefusalMixin, both_transports, exchange, get, one

MARGIN = 3.0
BIG_SIZE = 16 * 1024 * 1024
SHORT = """http = {
  max_request_line = 100; max_header_size = 512; max_header_count = 5; max_body_size = 100;
  client_header_timeout = "1s"; client_body_timeout = "1s"; send_timeout = "1s";
  keepalive_timeout = "1s"; keepalive_requests = 3; handshake_timeout = "1s";
};"""


CLOSE_FIELDS = b"Host: localhost\r\nConnection: close\r\n"


def line_of_length(n):
    """A GET whose request line, CRLF excluded, is n bytes long."""
    path = b"/" + b"a" * (n - len(b"GET / HTTP/1.1"))
    return b"GET " + path + b" HTTP/1.1\r\n" + CLOSE_FIELDS + b"\r\n"


def head_of_length(n):
    """A GET whose whole head, request line and final empty line included, is n bytes long."""
    head = b"GET / HTTP/1.1\r\n" + CLOSE_FIELDS + b"X-Pad: \r\n\r\n"
    return head[:-4] + b"p" * (n - len(head)) + b"\r\n\r\n"


def with_fields(n):
    """A GET with n header fields."""
    return (b"GET / HTTP/1.1\r\n" + CLOSE_FIELDS +
            b"".join(b"X-F%d: %d\r\n" % (i, i) for i in range(n - 2)) + b"\r\n")


class SizeChecks(RefusalMixin):
    """The four size limits, checked at their exact boundary."""

    line, head, count, body = 0, 0, 0, 0

    @both_transports
    def test_request_line(self, tr):
        self.assertEqual(one(self.site, tr, line_of_length(self.line)).status, 404)
        self.assert_refused(line_of_length(self.line + 1), 414, tr)
        self.assert_refused(line_of_length(self.line * 4), 414, tr)

    @both_transports
    def test_header_size(self, tr):
        self.assertEqual(one(self.site, tr, head_of_length(self.head)).status, 200)
        self.assert_refused(head_of_length(self.head + 1), 431, tr)
        self.assert_refused(b"GET / HTTP/1.1\r\nX-Long: " + b"x" * self.head * 2, 431, tr)

    @both_transports
    def test_header_count(self, tr):
        self.assertEqual(one(self.site, tr, with_fields(self.count)).status, 200)
        self.assert_refused(with_fields(self.count + 1), 431, tr)

    @both_transports
    def test_body_size(self, tr):
        head = b"GET / HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n"
        responses = exchange(self.site, tr, head % self.body + b"b" * self.body + get("/"))
        self.assertEqual([r.status for r in responses], [200, 200])
        self.assert_refused(head % (self.body + 1) + b"b" * (self.body + 1), 413, tr)
        chunked = (b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"%x\r\n" % self.body + b"c" * self.body + b"\r\n1\r\nc\r\n0\r\n\r\n")
        responses = exchange(self.site, tr, chunked + get("/"))
        self.assertEqual([r.status for r in responses], [405], responses)
        ok = chunked.replace(b"\r\n1\r\nc\r\n", b"\r\n")
        responses = exchange(self.site, tr, ok + get("/"))
        self.assertEqual([r.status for r in responses], [405, 200], responses)


class DefaultLimitsTest(SizeChecks, kwtest.SiteTestCase):
    """Without an http section: 8k request line, 32k head, 100 fields, 1m body."""

    line, head, count, body = 8192, 32768, 100, 1024 * 1024


class ShortLimitsTest(SizeChecks, kwtest.SiteTestCase):
    """Small sizes and 1 s timeouts, from the http section."""

    site_args = {"extra": SHORT}
    line, head, count, body = 100, 512, 5, 100

    @classmethod
    def prepare(cls, site):
        site.put("index.html", INDEX)
        with open(site.put("big.bin", b""), "wb") as f:
            f.truncate(BIG_SIZE)

    def assert_closed_in_time(self, elapsed, timeout=1.0):
        self.assertGreaterEqual(elapsed, timeout * 0.9)
        self.assertLess(elapsed, timeout + MARGIN)

    def trickle(self, c, data, started, limit):
        """Sends data one byte every 0.2 s until the server closes, for at most limit seconds
        after started; returns (seconds since started, bytes received)."""
        received = b""
        c.sock.settimeout(0.2)
        for byte in data:
            if time.monotonic() - started > limit:
                break
            try:
                c.send(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                chunk = c.recv()
            except socket.timeout:
                continue
            received += chunk
            if not chunk:
                break
        _, rest = c.wait_eof(limit)
        return time.monotonic() - started, received + rest

    @both_transports
    def test_header_deadline_is_not_extended_by_partial_bytes(self, tr):
        with Client(self.site, tr) as c:
            started = time.monotonic()
            elapsed, data = self.trickle(c, b"GET / HTTP/1.1\r\nHost: localhost\r\n" * 10,
                                         started, 1 + MARGIN)
        self.assert_closed_in_time(elapsed)
        self.assertTrue(data.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), data)
        self.assertIn(b"Connection: close\r\n", data)

    @both_transports
    def test_header_deadline_on_a_keepalive_connection(self, tr):
        with Client(self.site, tr) as c:
            c.send(get("/", close=False))
            self.assertEqual(c.response().body, INDEX)
            c.send(b"GET / HTTP/1.1\r\n")
            started = time.monotonic()
            elapsed, data = self.trickle(c, b"Host: localhost\r\n" * 10, started, 1 + MARGIN)
        self.assert_closed_in_time(elapsed)
        self.assertTrue(data.startswith(b"HTTP/1.1 408 "), data)

    @both_transports
    def test_silent_connection_is_closed(self, tr):
        """Plain: the header deadline runs from accept; toy-TLS: the handshake deadline runs
        until the first request byte."""
        started = time.monotonic()
        with Client(self.site, tr) as c:
            _, data = c.wait_eof(1 + MARGIN)
        self.assert_closed_in_time(time.monotonic() - started)
        self.assertEqual(data, b"")

    def test_handshake_deadline(self):
        with open(self.site.root_pem, "rb") as f:
            hello = ref.Client(None, root_pem=f.read()).client_hello()
        for sent in (b"", hello[:10]):
            with self.subTest(sent=sent), \
                    socket.create_connection(("127.0.0.1", self.site.tls_port)) as s:
                s.sendall(sent)
                started = time.monotonic()
                s.settimeout(1 + MARGIN)
                self.assertEqual(kwtest.read_until_eof(s), b"")
                self.assert_closed_in_time(time.monotonic() - started)

    @both_transports
    def test_body_deadline_between_reads(self, tr):
        with Client(self.site, tr) as c:
            c.send(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 60\r\n\r\n")
            self.assertEqual(c.response().status, 405)
            for _ in range(5):
                c.send(b"b" * 10)
                time.sleep(0.4)
            c.send(b"b" * 10 + get("/"))
            self.assertEqual(c.response().body, INDEX)
        with Client(self.site, tr) as c:
            c.send(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 60\r\n\r\n" + b"b")
            self.assertEqual(c.response().status, 405)
            elapsed, data = c.wait_eof(1 + MARGIN)
        self.assert_closed_in_time(elapsed)
        self.assertEqual(data, b"")

    @both_transports
    def test_send_deadline(self, tr):
        with Client(self.site, tr, rcvbuf=16384) as c:
            port = c.sock.getsockname()[1]
            mark = self.site.log.mark()
            c.send(get("/big.bin"))
            started = time.monotonic()
            self.site.log.wait_for(r"from 127\.0\.0\.1:%d: send timed out" % port, since=mark,
                                   timeout=1 + MARGIN)
            self.assert_closed_in_time(time.monotonic() - started)
            _, data = c.wait_eof(10)
        self.assertTrue(data.startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertLess(len(data), BIG_SIZE)

    @both_transports
    def test_keepalive_deadline(self, tr):
        with Client(self.site, tr) as c:
            c.send(get("/", close=False))
            r = c.response()
            started = time.monotonic()
            self.assertEqual(r.body, INDEX)
            self.assertFalse(r.closes())
            _, data = c.wait_eof(1 + MARGIN)
        self.assert_closed_in_time(time.monotonic() - started)
        self.assertEqual(data, b"")

    @both_transports
    def test_keepalive_requests(self, tr):
        responses = exchange(self.site, tr, get("/", close=False) * 4)
        self.assertEqual([r.status for r in responses], [200, 200, 200])
        self.assertEqual([r.closes() for r in responses], [False, False, True])


class NoKeepaliveTest(kwtest.SiteTestCase):
    site_args = {"extra": 'http = { keepalive_timeout = 0; };'}

    @both_transports
    def test_every_response_closes(self, tr):
        responses = exchange(self.site, tr, get("/", close=False) * 2)
        self.assertEqual([(r.status, r.closes()) for r in responses], [(200, True)])


class MaxConnectionsTest(kwtest.SiteTestCase):
    """One worker with room for 8 connections."""

    site_args = {"workers": 1, "extra": 'http = { max_connections = 8; };'}

    def setUp(self):
        self.mark = self.site.log.mark()
        self.clients = []
        self.ports = []

    def tearDown(self):
        """Closes this test's connections and waits until the worker has closed them too."""
        for c in self.clients:
            c.close()
        for port in self.ports:
            self.site.log.wait_for(r"closing connection from 127\.0\.0\.1:%d: " % port,
                                   since=self.mark)

    def connect(self, transport, **kwargs):
        c = Client(self.site, transport, **kwargs)
        self.clients.append(c)
        self.ports.append(c.sock.getsockname()[1])
        return c

    def fill(self, idle, transports=TRANSPORTS, proven=True):
        """8 connections, alternating transports: idle after a request, or busy in a head
        (of a second request when proven, else of their first)."""
        out = []
        for i in range(8):
            c = self.connect(transports[i % len(transports)])
            if idle or proven:
                c.send(get("/", close=False))
                self.assertEqual(c.response().body, INDEX)
            if not idle:
                c.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
            out.append(c)
        return out

    def test_idle_keepalive_connections_are_reclaimed_first(self):
        idle = self.fill(idle=True)
        for i, tr in enumerate(TRANSPORTS):
            mark = self.site.log.mark()
            c = self.connect(tr)
            c.send(get("/", close=False))
            self.assertEqual(c.response().body, INDEX)
            self.site.log.wait_for("idle connection closed to make room", since=mark)
            _, data = idle[i].wait_eof(5)
            self.assertEqual(data, b"")
        for c in self.clients[2:]:
            c.send(get("/", close=False))
            self.assertEqual(c.response().body, INDEX)

    def test_busy_connections_are_not_reclaimed(self):
        busy = self.fill(idle=False)
        waiting = self.connect("plain", timeout=0.5)
        waiting.send(get("/"))
        self.site.log.wait_for("full: 8 connections, none idle or without a request to evict: "
                               "not accepting until one closes", since=self.mark)
        with self.assertRaises(socket.timeout):
            waiting.recv()
        busy[0].send(b"Connection: close\r\n\r\n")
        self.assertEqual(busy[0].response().body, INDEX)
        busy[0].close()
        waiting.sock.settimeout(10)
        self.assertEqual(waiting.response().body, INDEX)
        for c in busy[1:]:
            c.send(b"\r\n")
            self.assertEqual(c.response().body, INDEX)

    def test_connection_turning_idle_is_reclaimed(self):
        busy = self.fill(idle=False)
        waiting = self.connect("toytls", handshake=False)
        self.site.log.wait_for("full: 8 connections, none idle or without a request to evict: "
                               "not accepting until one closes", since=self.mark)
        busy[0].send(b"\r\n")
        self.assertEqual(busy[0].response().body, INDEX)
        waiting.tls.handshake()
        waiting.send(get("/"))
        self.assertEqual(waiting.response().body, INDEX)
        _, data = busy[0].wait_eof(5)
        self.assertEqual(data, b"")
        for c in busy[1:]:
            c.send(b"\r\n")
            self.assertEqual(c.response().body, INDEX)


    def test_connections_without_a_request_are_evicted_oldest_first(self):
        """Full of plain connections in their first head: a new one on either port is
        served, and one of the plain ones is closed for it, the oldest first."""
        fresh = self.fill(idle=False, transports=("plain",), proven=False)
        fresh_ports = self.ports[:8]
        evicted = []
        for tr in TRANSPORTS:
            mark = self.site.log.mark()
            c = self.connect(tr)
            c.send(get("/", close=False))
            self.assertEqual(c.response().body, INDEX)
            c.send(b"GET / HTTP/1.1\r\n")  # busy, not idle: the next one evicts a fresh one
            line = self.site.log.wait_for(r"closing connection from 127\.0\.0\.1:\d+: closed to "
                                          r"make room: no request yet", since=mark)
            evicted.append(int(line.split(":")[-3]))
        self.assertEqual(evicted, fresh_ports[:2])
        for c in fresh[:2]:
            _, data = c.wait_eof(5)
            self.assertEqual(data, b"")
        for c in fresh[2:]:
            c.send(b"\r\n")
            self.assertEqual(c.response().body, INDEX)
        for c in self.clients[8:]:
            c.send(b"Host: localhost\r\n\r\n")
            self.assertEqual(c.response().body, INDEX)

    def test_a_flooded_port_gives_up_its_own_connections(self):
        """7 plain connections without a request and 1 toy-TLS one in its handshake: a
        new plain connection evicts the oldest plain one, not the toy-TLS one, which
        holds fewer connections on its listener."""
        tls = self.connect("toytls", handshake=False)
        fresh = [self.connect("plain") for _ in range(7)]
        for c in fresh:
            c.send(b"GET / HTTP/1.1\r\n")
        mark = self.site.log.mark()
        c = self.connect("plain")
        c.send(get("/", close=False))
        self.assertEqual(c.response().body, INDEX)
        self.site.log.wait_for(r"closing connection from 127\.0\.0\.1:%d: closed to make "
                               r"room: no request yet" % self.ports[1], since=mark)
        tls.tls.handshake()
        tls.send(get("/", close=False))
        self.assertEqual(tls.response().body, INDEX)


class SlowClientsTest(kwtest.SiteTestCase):
    """300 connections that send one header byte a second, half of them over toy-TLS."""

    HEADER_TIMEOUT = 5.0
    site_args = {"extra": 'http = { client_header_timeout = "5s"; };'}

    @classmethod
    def setUpClass(cls):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < 4096:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
        super().setUpClass()

    def normal_client(self, tr, results, i):
        try:
            with Client(self.site, tr) as c:
                for _ in range(3):
                    c.send(get("/", close=False))
                    self.assertEqual(c.response().body, INDEX)
            results[i] = time.monotonic()
        except Exception as e:  # collected and asserted by the test
            results[i] = e

    def test_slow_clients_do_not_block_normal_ones(self):
        slow = []
        sel = selectors.DefaultSelector()
        try:
            for i in range(300):
                c = Client(self.site, TRANSPORTS[1 - i // 150], timeout=20)
                c.started = time.monotonic()
                c.raw = b""
                c.closed_at = None
                c.sock.setblocking(False)
                slow.append(c)
                sel.register(c.sock, selectors.EVENT_READ, c)
            pattern = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"s" * 40

            def send_round(k):
                for c in slow:
                    if c.closed_at is None:
                        if c.transport == "toytls" and k == 0:
                            c.started = time.monotonic()
                        try:
                            c.send(pattern[k:k + 1])
                        except (BrokenPipeError, ConnectionResetError):
                            pass

            send_round(0)
            results = [None] * 20
            threads = [threading.Thread(target=self.normal_client,
                                        args=(TRANSPORTS[i % 2], results, i))
                       for i in range(20)]
            for t in threads:
                t.start()

            k = 1
            next_round = time.monotonic() + 1
            deadline = time.monotonic() + self.HEADER_TIMEOUT + MARGIN + 2
            while any(c.closed_at is None for c in slow) and time.monotonic() < deadline:
                for key, _ in sel.select(timeout=max(0, next_round - time.monotonic())):
                    c = key.data
                    try:
                        chunk = c.sock.recv(65536)
                    except BlockingIOError:
                        continue
                    except ConnectionResetError:
                        chunk = b""
                    c.raw += chunk
                    if not chunk:
                        c.closed_at = time.monotonic()
                        sel.unregister(c.sock)
                if time.monotonic() >= next_round:
                    send_round(k)
                    k += 1
                    next_round += 1
            for t in threads:
                t.join(timeout=30)
            for c in slow:
                if c.transport == "toytls":
                    c.tls.buf = c.raw
                    c.raw = c.tls.recv_all()
        finally:
            sel.close()
            for c in slow:
                c.close()

        first_slow_close = min(c.closed_at or float("inf") for c in slow)
        for r in results:
            self.assertIsInstance(r, float, r)
            self.assertLess(r, first_slow_close, "a normal client waited for the slow ones")
        for c in slow:
            self.assertIsNotNone(c.closed_at, "a slow connection outlived its header deadline")
            self.assertGreaterEqual(c.closed_at - c.started, self.HEADER_TIMEOUT * 0.9)
            self.assertLess(c.closed_at - c.started, self.HEADER_TIMEOUT + MARGIN)
            self.assertTrue(c.raw.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), c.raw)


if __name__ == "__main__":
    kwtest.main()

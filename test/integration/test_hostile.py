#!/usr/bin/python3
"""Hostile clients cannot starve the others: while a flood process holds thousands of
connections that send nothing (or stop in the middle of a toy-TLS handshake) and
reopens each one the server closes, a well-behaved client on each transport is served,
every time, within 1 s. The server is full, so it evicts the oldest connection that has
not sent a request yet, from the listener that holds the most connections; never a
handshake that waits for its signature."""

import os
import re
import signal
import socket
import ssl
import time

import kwtest
import toytls_ref as ref
from flood import STALLED_HELLO, Flood, raise_nofile
from test_reload import PAGE, parse_response, request_bytes, tls_get

FLOOD = 3000          # connections held by the flood, as in the report that found it
PROBE_SECONDS = 12    # of probing per flood (each probe must take less than PROBE_LIMIT)
PROBE_LIMIT = 1.0
PROBE_EVERY = 0.2


class HostileSite(kwtest.Site):
    """2 workers, the default limits, and three ports: plain, toy-TLS and TLS 1.3."""

    def pick_ports(self):
        super().pick_ports()
        self.tls13_port = kwtest.free_port()

    def write_config(self, locations=None, server_extra=None):
        self.write_servers([kwtest.server_block(
            ["localhost"], [(self.plain_port, False), (self.tls_port, True),
                            (self.tls13_port, "tls13")],
            self.www, certs=self.certs, default=True)])


class HostileCase(kwtest.SiteTestCase):
    """One HostileSite serving /page.txt."""

    site_class = HostileSite
    site_args = {"workers": 2}

    @classmethod
    def prepare(cls, site):
        site.put("page.txt", PAGE)


# A TLS record header announcing a 512-byte ClientHello, then 10 bytes of it.
STALLED_TLS13_HELLO = b"\x16\x03\x01\x02\x00" + bytes(10)


def wait_evicting(site, mark):
    """Waits until both workers are full and evict: each says so after mark."""
    pattern = re.compile(r"worker\[(\d+)\]: worker: full: \d+ connections; evicting")
    kwtest.wait_until(lambda: len({m.group(1) for m in map(pattern.search, site.log.lines[mark:])
                                   if m}) == 2,
                      what="both workers evicting")


def tls13_hello(root_pem):
    """A TLS 1.3 ClientHello for localhost, as a client sends it first."""
    ctx = ssl.create_default_context(cafile=root_pem)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        client.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def tls13_probe(port, root_pem):
    ctx = ssl.create_default_context(cafile=root_pem)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    with socket.create_connection(("127.0.0.1", port), timeout=PROBE_LIMIT) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(request_bytes("/page.txt"))
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            return parse_response(data)


def plain_probe(port):
    with socket.create_connection(("127.0.0.1", port), timeout=PROBE_LIMIT) as s:
        s.sendall(request_bytes("/page.txt"))
        return parse_response(kwtest.read_until_eof(s))


class FloodTest(HostileCase):
    @classmethod
    def setUpClass(cls):
        raise_nofile(FLOOD + 1024)
        super().setUpClass()
        with open(cls.site.root_pem, "rb") as f:
            cls.root = f.read()

    def probe_under(self, flood):
        """Probes both transports for PROBE_SECONDS; every probe must be served in time."""
        slow = []
        probes = 0
        end = time.monotonic() + PROBE_SECONDS
        probes_by = {
            "plain": lambda: plain_probe(self.site.plain_port),
            "toy-TLS": lambda: tls_get(self.site.tls_port, self.root)[:2],
            "TLS 1.3": lambda: tls13_probe(self.site.tls13_port, self.site.root_pem),
        }
        while time.monotonic() < end:
            for name, probe in probes_by.items():
                start = time.monotonic()
                try:
                    status, body = probe()
                    elapsed = time.monotonic() - start
                    if (status, body) != (200, PAGE) or elapsed >= PROBE_LIMIT:
                        slow.append((name, status, elapsed))
                except (OSError, AssertionError) as e:
                    slow.append((name, repr(e), time.monotonic() - start))
                probes += 1
            time.sleep(PROBE_EVERY)
        self.assertGreater(flood.closed.value, 0, "the server evicted no flood connection")
        self.assertEqual(slow, [], "%d of %d probes failed or were slow" % (len(slow), probes))
        self.assertTrue(flood.proc.is_alive())

    def flood(self, port, first_bytes):
        mark = self.site.log.mark()
        with Flood(port, FLOOD, first_bytes) as flood:
            flood.wait_open()
            wait_evicting(self.site, mark)
            self.probe_under(flood)

    def test_silent_connections_on_the_plain_port(self):
        self.flood(self.site.plain_port, b"")

    def test_stalled_handshakes_on_the_toytls_port(self):
        self.flood(self.site.tls_port, STALLED_HELLO)

    def test_stalled_handshakes_on_the_tls13_port(self):
        self.flood(self.site.tls13_port, STALLED_TLS13_HELLO)


class ParkedTest(HostileCase):
    """A handshake that waits for its signature waits on the server, not on the client: a
    flood that turns over every connection the workers hold does not evict it (it did,
    within a fraction of a second, when a busy signer was slow). The signer is stopped,
    and its timeout (60 s here) outlasts the test."""

    site_args = {"workers": 2, "signer_extra": 'timeout = "60s";'}

    @classmethod
    def setUpClass(cls):
        raise_nofile(FLOOD + 1024)
        super().setUpClass()

    def parked_under_flood(self, port, flood_bytes, hello):
        mark = self.site.log.mark()
        with Flood(port, FLOOD, flood_bytes) as flood:
            flood.wait_open()
            wait_evicting(self.site, mark)
            [signer] = self.site.children("signer")
            kwtest.stop_process(signer)
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                    s.sendall(hello)
                    # twice FLOOD evictions: every connection a worker held went, and
                    # without the fix this one too, as the oldest without a request
                    closed = flood.closed.value
                    kwtest.wait_until(lambda: flood.closed.value > closed + 2 * FLOOD,
                                      what="the flood turning over")
                    os.kill(signer, signal.SIGCONT)
                    self.assertNotEqual(s.recv(1), b"", "closed instead of the flight")
            finally:
                os.kill(signer, signal.SIGCONT)

    def test_toytls_handshake_waiting_for_its_signature_is_not_evicted(self):
        with open(self.site.root_pem, "rb") as f:
            hello = ref.Client(None, root_pem=f.read()).client_hello()
        self.parked_under_flood(self.site.tls_port, STALLED_HELLO, hello)

    def test_tls13_handshake_waiting_for_its_signature_is_not_evicted(self):
        self.parked_under_flood(self.site.tls13_port, STALLED_TLS13_HELLO,
                                tls13_hello(self.site.root_pem))


class RecordLayerTest(HostileCase):
    """A toy-TLS request followed by a bad record is answered, then the connection
    closes; a run of empty records closes the connection at once, not at a timeout."""

    def client(self):
        c = ref.connect(self.site.tls_port, timeout=10)
        self.addCleanup(c.sock.close)
        return c

    def good_then_bad(self, in_pieces):
        c = self.client()
        good = ref.seal(c.client_key, 0, request_bytes("/page.txt").replace(
            b"Connection: close", b"Connection: keep-alive"))
        bad = bytearray(ref.seal(c.client_key, 1, b"GET / HTTP/1.1\r\n\r\n"))
        bad[-1] ^= 1
        mark = self.site.log.mark()
        wire = good + bytes(bad)
        if in_pieces:
            for i in range(len(wire)):
                c.sock.send(wire[i:i + 1])
        else:
            c.sock.sendall(wire)
        status, body = parse_response(c.recv_all())
        self.assertEqual((status, body), (200, PAGE))
        self.site.log.wait_for(r"closing connection from 127\.0\.0\.1:%d: toy-TLS: "
                               % c.sock.getsockname()[1], since=mark)

    def test_a_request_then_a_bad_record_in_one_write_is_answered(self):
        self.good_then_bad(False)

    def test_a_request_then_a_bad_record_in_pieces_is_answered(self):
        self.good_then_bad(True)

    def empty_records(self, n):
        c = self.client()
        c.sock.sendall(b"".join(ref.seal(c.client_key, i, b"") for i in range(n)))
        return c

    def test_empty_records_in_a_row_are_bounded(self):
        start = time.monotonic()
        c = self.empty_records(33)
        self.assertEqual(c.recv_all(), b"")  # closed, with no response
        self.assertLess(time.monotonic() - start, 5)
        # 32 are accepted: the request that follows them is served
        c = self.empty_records(32)
        c.send_seq = 32
        c.send(request_bytes("/page.txt"))
        self.assertEqual(parse_response(c.recv_all()), (200, PAGE))


if __name__ == "__main__":
    kwtest.main()

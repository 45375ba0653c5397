#!/usr/bin/env python3
"""PROXY protocol listeners, driven by hand-made headers: v1 and v2 headers give the
access log the client address they carry (sent in the same segment as the first
request or ClientHello, and in pieces), LOCAL and UNKNOWN keep the peer, every
malformed header and a missing one close the connection with a line at info saying
why, the length limits hold at and one past the bound, a header that does not come
in time is dropped, and a listener without proxy_protocol is untouched."""

import os
import socket
import struct
import threading

import kwtest

SIG = b"\r\n\r\n\x00\r\nQUIT\n"
GET = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
PAGE = b"<h1>proxied</h1>\n"


def v2(command, family, block):
    return SIG + bytes([0x20 | command, family]) + struct.pack(">H", len(block)) + block


def v2_tcp4(src, sport, tlvs=b""):
    return v2(1, 0x11, socket.inet_aton(src) + socket.inet_aton("127.0.0.1")
              + struct.pack(">HH", sport, 80) + tlvs)


def unknown_v1(total):
    """A v1 UNKNOWN line of exactly total bytes, CRLF included."""
    return b"PROXY UNKNOWN " + b"x" * (total - 16) + b"\r\n"


def noop_padded_v2(block_len):
    """A TCP4 v2 header whose block (address and one NOOP TLV) is block_len bytes."""
    return v2_tcp4("192.0.2.77", 4242, b"\x04" + struct.pack(">H", block_len - 15)
                   + b"\0" * (block_len - 15))


class HeaderRelay:
    """A stand-in for a load balancer: accepts on a free port and, for each client,
    connects to the target port and sends header followed by the client's first bytes
    in one send (so that the server reads both at once), then relays both ways."""

    def __init__(self, target_port, header):
        self.target_port = target_port
        self.header = header
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.threads = []
        self.accepter = threading.Thread(target=self._accept, daemon=True)
        self.accepter.start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(client,), daemon=True)
            t.start()
            self.threads.append(t)

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _serve(self, client):
        with client, socket.create_connection(("127.0.0.1", self.target_port)) as up:
            first = client.recv(65536)
            up.sendall(self.header + first)
            back = threading.Thread(target=self._pipe, args=(up, client), daemon=True)
            back.start()
            self._pipe(client, up)
            back.join(timeout=30)

    def close(self):
        self.sock.close()
        self.accepter.join(timeout=5)
        for t in self.threads:
            t.join(timeout=30)


class ProxySite(kwtest.Site):
    """Plain, toy-TLS and TLS 1.3 listeners with proxy_protocol, and one plain without."""

    def __init__(self, handshake_timeout="10s", **kwargs):
        self.handshake_timeout = handshake_timeout
        super().__init__(**kwargs)

    def pick_ports(self):
        super().pick_ports()
        self.proxy_ports = {"plain": kwtest.free_port(), "toy": kwtest.free_port(),
                            "tls13": kwtest.free_port()}

    def settings(self):
        return super().settings() + (
            'access_log = "access.log";\nhttp = { handshake_timeout = "%s"; };\n'
            % self.handshake_timeout)

    def write_config(self, locations=None, server_extra=None):
        listen = ['{ address = "127.0.0.1"; port = %d; }' % self.plain_port] + [
            '{ address = "127.0.0.1"; port = %d;%s proxy_protocol = true; }'
            % (port, ' tls = "%s";' % kind if kind != "plain" else "")
            for kind, port in self.proxy_ports.items()]
        text = self.settings() + """servers = (
  {
    server_name = [ "localhost" ];
    listen = ( %s );
    certificate = "certs/server_cert.pem";
    certificate_key = "certs/server_key.pem";
    certificate_chain = [ "certs/intermediate_cert.pem" ];
    locations = ( { prefix = "/"; root = "www"; } );
  }
);
""" % ",\n      ".join(listen)
        with open(self.conf, "w") as f:
            f.write(text)

    def access_lines(self):
        path = os.path.join(self.dir, "access.log")
        if not os.path.exists(path):
            return []
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()

    def wait_access(self, count):
        """The first count access-log lines, once they are written."""
        return kwtest.wait_until(lambda: self.access_lines()[:count]
                                 if len(self.access_lines()) >= count else None,
                                 what="%d access log lines" % count)

    def send(self, data, kind="plain", pieces=None, timeout=20):
        """Sends data (in pieces, if given) to a PROXY listener; returns all until EOF."""
        with socket.create_connection(("127.0.0.1", self.proxy_ports[kind]),
                                      timeout=timeout) as s:
            for piece in pieces or [data]:
                s.sendall(piece)
            return kwtest.read_until_eof(s)


class ProxyProtocolTest(kwtest.SiteTestCase):
    site_class = ProxySite

    @classmethod
    def prepare(cls, site):
        site.put("index.html", PAGE)

    def exchange(self, data, address, **kwargs):
        """data (a header and GET) is answered with the page; the access log's new line
        begins with address."""
        before = len(self.site.access_lines())
        reply = self.site.send(data, **kwargs)
        self.assertTrue(reply.startswith(b"HTTP/1.1 200 "), reply[:200])
        self.assertTrue(reply.endswith(PAGE))
        line = self.site.wait_access(before + 1)[before]
        self.assertEqual(line.split(" ")[0], address, line)

    def refused(self, data, why, kind="plain"):
        """data closes the connection without a byte of answer, logged at info with why."""
        mark = self.site.log.mark()
        self.assertEqual(self.site.send(data, kind=kind), b"", data[:40])
        self.site.log.wait_for(r"\[info\].*missing or malformed PROXY protocol header: "
                               + why.replace("(", r"\(").replace(")", r"\)")
                               .replace(".", r"\."), since=mark)

    def test_v1_tcp4_and_tcp6_give_the_client_address(self):
        self.exchange(b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 80\r\n" + GET, "203.0.113.7")
        self.exchange(b"PROXY TCP6 2001:db8::7 ::1 40000 80\r\n" + GET, "2001:db8::7")

    def test_v2_tcp4_tcp6_and_tlvs(self):
        self.exchange(v2_tcp4("198.51.100.9", 5555) + GET, "198.51.100.9")
        block6 = (socket.inet_pton(socket.AF_INET6, "2001:db8::99")
                  + socket.inet_pton(socket.AF_INET6, "::1") + struct.pack(">HH", 1, 2))
        self.exchange(v2(1, 0x21, block6) + GET, "2001:db8::99")
        tlvs = b"\x01\x00\x08http/1.1" + b"\x05\x00\x04abcd"
        self.exchange(v2_tcp4("198.51.100.10", 5556, tlvs) + GET, "198.51.100.10")

    def test_local_unknown_and_unspec_keep_the_peer(self):
        self.exchange(v2(0, 0x00, b"") + GET, "127.0.0.1")
        self.exchange(v2(0, 0x11, b"\x01" * 12) + GET, "127.0.0.1")
        self.exchange(v2(1, 0x00, b"") + GET, "127.0.0.1")
        self.exchange(b"PROXY UNKNOWN\r\n" + GET, "127.0.0.1")

    def test_header_in_pieces(self):
        data = b"PROXY TCP4 192.0.2.200 127.0.0.1 1 2\r\n" + GET
        self.exchange(data, "192.0.2.200", pieces=[data[:3], data[3:20], data[20:45], data[45:]])
        data = v2_tcp4("192.0.2.201", 9) + GET
        self.exchange(data, "192.0.2.201", pieces=[data[:13], data[13:16], data[16:]])

    def test_length_limits_at_and_one_past_the_bound(self):
        self.exchange(unknown_v1(107) + GET, "127.0.0.1")
        self.refused(unknown_v1(108) + GET, "v1: no CRLF within 107 bytes")
        self.exchange(noop_padded_v2(2048) + GET, "192.0.2.77")
        self.refused(noop_padded_v2(2049) + GET, "v2: address block longer than 2048 bytes")

    def test_malformed_headers_close_the_connection(self):
        cases = [
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "v1: LF without CR"),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX\n", "v1: CR not followed by LF"),
            (b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "v1: protocol neither TCP4, TCP6 nor UNKNOWN"),
            (b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", "v1: fields not separated by exactly one space"),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "v1: fewer than four fields"),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "v1: more than four fields"),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
             "v1: port not a decimal 0..65535 without leading zeros"),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n",
             "v1: port not a decimal 0..65535 without leading zeros"),
            (b"PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n", "v1: TCP4 address not a dotted quad"),
            (b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", "v1: TCP6 address not an IPv6 address"),
            (SIG + b"\x11\x11\x00\x0c" + b"\0" * 12, "v2: version is not 2"),
            (SIG + b"\x23\x11\x00\x0c" + b"\0" * 12, "v2: command neither LOCAL nor PROXY"),
            (v2(1, 0x12, b"\0" * 12),
             "v2: family and protocol not TCP over IPv4 or IPv6, UNIX stream, nor UNSPEC"),
            (v2(1, 0x11, b"\0" * 11), "v2: address block shorter than its family's addresses"),
            (v2(1, 0x21, b"\0" * 35), "v2: address block shorter than its family's addresses"),
            (v2_tcp4("1.2.3.4", 1, b"\x04\x00"), "v2: truncated TLV header"),
            (v2_tcp4("1.2.3.4", 1, b"\x04\x00\x02x"), "v2: TLV runs past the address block"),
            (b"\r\n\r\n\x00\r\nQUIX\n" + b"\x21\x11\x00\x00", "no PROXY header"),
        ]
        for data, why in cases:
            with self.subTest(why=why, data=data[:20]):
                self.refused(data + GET, why)

    def test_missing_header_is_refused_on_every_transport(self):
        self.refused(GET, "no PROXY header")
        self.refused(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "no PROXY header",
                     kind="tls13")
        self.refused(b"\x01\x00\x00\x10", "no PROXY header", kind="toy")

    def test_peer_closing_before_the_header(self):
        mark = self.site.log.mark()
        with socket.create_connection(("127.0.0.1", self.site.proxy_ports["plain"]),
                                      timeout=20) as s:
            s.sendall(b"PROXY TCP4 1.2")
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(kwtest.read_until_eof(s), b"")
        self.site.log.wait_for(r"closed the connection before the PROXY header", since=mark)

    def through_relay(self, kind, scheme, header, address):
        """keyward-get over scheme through a HeaderRelay sending header to kind's listener:
        the page, and an access-log line for address."""
        relay = HeaderRelay(self.site.proxy_ports[kind], header)
        try:
            before = len(self.site.access_lines())
            res = kwtest.subprocess.run(
                [kwtest.KEYWARD_GET, "--root", self.site.root_pem, "--name", "localhost",
                 "%s://127.0.0.1:%d/" % (scheme, relay.port)],
                stdout=kwtest.subprocess.PIPE, stderr=kwtest.subprocess.PIPE, timeout=60)
            self.assertEqual(res.returncode, 0, res.stderr)
            self.assertEqual(res.stdout, PAGE)
            self.assertEqual(self.site.wait_access(before + 1)[before].split(" ")[0], address)
        finally:
            relay.close()

    def test_toy_tls_after_a_header_in_the_same_segment(self):
        self.through_relay("toy", "toytls", v2_tcp4("192.0.2.150", 3000), "192.0.2.150")

    def test_tls13_after_a_header_in_the_same_segment(self):
        self.through_relay("tls13", "https", b"PROXY TCP6 2001:db8::151 ::1 3001 443\r\n",
                           "2001:db8::151")

    def test_listener_without_proxy_protocol_is_untouched(self):
        before = len(self.site.access_lines())
        reply = self.site.raw(GET)
        self.assertTrue(reply.startswith(b"HTTP/1.1 200 "), reply[:100])
        self.assertEqual(self.site.wait_access(before + 1)[before].split(" ")[0], "127.0.0.1")
        reply = self.site.raw(b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 80\r\n" + GET)
        self.assertTrue(reply.startswith(b"HTTP/1.1 400 "), reply[:100])


class SlowHeaderTest(kwtest.SiteTestCase):
    """A header that has not come by the handshake timeout closes the connection."""
    site_class = ProxySite
    site_args = {"handshake_timeout": "1s", "workers": 1}

    def test_slow_header_hits_the_deadline(self):
        for partial in (b"", b"PROXY TCP4 192.0.2.1 ", SIG + b"\x21"):
            with self.subTest(partial=partial):
                mark = self.site.log.mark()
                with socket.create_connection(("127.0.0.1", self.site.proxy_ports["plain"]),
                                              timeout=20) as s:
                    s.sendall(partial)
                    self.assertEqual(kwtest.read_until_eof(s), b"")
                self.site.log.wait_for(r"\[info\].*no PROXY protocol header in time",
                                       since=mark)


if __name__ == "__main__":
    kwtest.main()

#!/usr/bin/python3
"""A burst of toy-TLS handshakes far larger than signer.max_inflight: every one succeeds.

The workers keep at most max_inflight signing requests on their signer channel and
queue the rest, so the signer never answers BUSY and no handshake is refused.
"""

import socket

import kwtest
import toytls_ref as ref

BURST = 300
MAX_INFLIGHT = 8
REQUEST = b"GET /page.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


class EarlyHelloClient(ref.Client):
    """Sends its ClientHello as soon as it is made; handshake() then reads the server's flight."""

    def __init__(self, sock, root_pem):
        super().__init__(sock, root_pem)
        self.sock.sendall(super().client_hello())

    def client_hello(self):
        return b""


class BurstTest(kwtest.SiteTestCase):
    site_args = {
        "signer_extra": 'max_inflight = %d; timeout = "60s";' % MAX_INFLIGHT,
        "extra": 'http = { handshake_timeout = "120s"; };',
    }

    @classmethod
    def prepare(cls, site):
        site.put("page.txt", b"page\n")

    def test_burst_beyond_max_inflight_all_succeed(self):
        with open(self.site.root_pem, "rb") as f:
            root = f.read()
        mark = self.site.log.mark()
        socks = [socket.create_connection(("127.0.0.1", self.site.tls_port), timeout=120)
                 for _ in range(BURST)]
        try:
            clients = [EarlyHelloClient(s, root) for s in socks]
            failures = []
            for i, c in enumerate(clients):
                try:
                    c.handshake()
                    c.send(REQUEST)
                    status, _, body = kwtest.split_responses(c.recv_all())[0]
                    if (status, body) != (200, b"page\n"):
                        failures.append("%d: %d %r" % (i, status, body))
                except (OSError, ref.ProtocolError, ValueError) as e:
                    failures.append("%d: %r" % (i, e))
        finally:
            for s in socks:
                s.close()
        self.assertEqual(failures, [], "%d of %d handshakes failed" % (len(failures), BURST))
        refused = [line for line in self.site.log.lines[mark:] if "refused" in line]
        self.assertEqual(refused, [])


if __name__ == "__main__":
    kwtest.main()

#!/usr/bin/python3
"""Serving files over plain HTTP and toy-TLS from the real master, workers and signer."""

import json
import os
import signal
import socket
import struct
import threading
import time

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

import kwtest
import toytls_ref as ref

BIG = os.urandom(5 * 1024 * 1024)
MEDIUM = os.urandom(150_000)

with open(os.path.join(kwtest.TEST_DATA, "v1-vectors.json")) as f:
    V = {k: bytes.fromhex(v) for k, v in json.load(f).items()}


def tls_request(site, request, server_name=None, client=None):
    with open(site.root_pem, "rb") as f:
        root = f.read()
    c = client or ref.connect(site.tls_port, root_pem=root, server_name=server_name)
    c.send(request)
    data = c.recv_all()
    c.sock.close()
    return data


class ServeTest(kwtest.SiteTestCase):
    @classmethod
    def prepare(cls, site):
        site.put("index.html", b"<h1>hello</h1>\n")
        site.put("medium.bin", MEDIUM)
        site.put("big.bin", BIG)
        site.put("dir/page.txt", b"page\n")
        outside = os.path.join(site.dir, "secret.txt")
        with open(outside, "w") as f:
            f.write("outside the root\n")

    def test_same_bytes_over_both_transports(self):
        plain = self.site.get("/medium.bin").stdout
        tls = self.site.get("/medium.bin", tls=True).stdout
        self.assertEqual(plain, MEDIUM)
        self.assertEqual(tls, MEDIUM)

    def test_index_and_headers(self):
        res = self.site.get("/", args=["-i"])
        head, body = res.stdout.split(b"\r\n\r\n", 1)
        self.assertTrue(head.startswith(b"HTTP/1.1 200 OK"), head)
        self.assertIn(b"Content-Type: text/html", head)
        self.assertIn(b"Server: keyward", head)
        self.assertIn(b"Last-Modified: ", head)
        self.assertIn(b"Date: ", head)
        self.assertEqual(body, b"<h1>hello</h1>\n")

    def test_keyward_get_headers_replace_its_own(self):
        for tls in (False, True):
            res = self.site.get("/", tls=tls, args=["-i", "-H", "Host: LOCALHOST",
                                                    "-H", "Connection: keep-alive"])
            self.assertTrue(res.stdout.startswith(b"HTTP/1.1 200 OK"), res.stdout)
            self.assertTrue(res.stdout.endswith(b"<h1>hello</h1>\n"))

    def test_not_found(self):
        for tls in (False, True):
            res = self.site.get("/nope.html", tls=tls, args=["-i"], check=False)
            self.assertEqual(res.returncode, 1)
            self.assertTrue(res.stdout.startswith(b"HTTP/1.1 404 Not Found"), res.stdout)

    def test_head(self):
        for tls in (False, True):
            res = self.site.get("/medium.bin", tls=tls, args=["-I"])
            self.assertIn(b"Content-Length: %d" % len(MEDIUM), res.stdout)
            self.assertTrue(res.stdout.endswith(b"\r\n\r\n"))

    def test_pipelining_and_keep_alive_plain(self):
        reqs = (b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
                b"GET /dir/page.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"
                b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        responses = kwtest.split_responses(self.site.raw(reqs))
        self.assertEqual([r[0] for r in responses], [200, 200, 200])
        self.assertEqual([r[2] for r in responses], [b"<h1>hello</h1>\n", b"page\n",
                                                     b"<h1>hello</h1>\n"])
        with socket.create_connection(("127.0.0.1", self.site.plain_port), timeout=10) as s:
            for _ in range(3):
                s.sendall(b"GET /dir/page.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
                data = b""
                while not data.endswith(b"page\n"):
                    chunk = s.recv(4096)
                    self.assertTrue(chunk, "connection closed on a keep-alive request")
                    data += chunk
                self.assertTrue(data.startswith(b"HTTP/1.1 200"))

    def test_pipelining_over_toytls(self):
        reqs = (b"GET /dir/page.txt HTTP/1.1\r\nHost: localhost\r\n\r\n" * 2 +
                b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        responses = kwtest.split_responses(tls_request(self.site, reqs))
        self.assertEqual([r[2] for r in responses], [b"page\n", b"page\n", b"<h1>hello</h1>\n"])

    def test_request_split_across_records(self):
        with open(self.site.root_pem, "rb") as f:
            c = ref.connect(self.site.tls_port, root_pem=f.read())
        for byte in b"GET /dir/page.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n":
            c.send(bytes([byte]))
        status, _, body = kwtest.split_responses(c.recv_all())[0]
        c.sock.close()
        self.assertEqual((status, body), (200, b"page\n"))

    def test_five_mib_both_transports(self):
        self.assertEqual(self.site.get("/big.bin").stdout, BIG)
        self.assertEqual(self.site.get("/big.bin", tls=True).stdout, BIG)
        data = tls_request(self.site, b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n"
                                      b"Connection: close\r\n\r\n")
        self.assertEqual(kwtest.split_responses(data)[0][2], BIG)

    def test_vector_client_hello_end_to_end(self):
        """The vectors' ClientHello, byte for byte, completes a handshake with keyward."""
        with open(self.site.root_pem, "rb") as f:
            root = f.read()
        sock = socket.create_connection(("127.0.0.1", self.site.tls_port), timeout=20)
        c = ref.Client(sock, root_pem=root,
                       private=X25519PrivateKey.from_private_bytes(V["client_x25519_private"]))
        self.assertEqual(c.client_hello(), V["client_hello_wire"])
        c.handshake()
        c.send(V["client_record_seq0_plaintext"])
        status, _, body = kwtest.split_responses(c.recv_all())[0]
        sock.close()
        self.assertEqual((status, body), (200, b"<h1>hello</h1>\n"))

    def test_hundred_concurrent_toytls_clients(self):
        with open(self.site.root_pem, "rb") as f:
            root = f.read()
        results = [None] * 100

        def one(i):
            try:
                c = ref.connect(self.site.tls_port, root_pem=root, timeout=60)
                results[i] = tls_request(self.site, b"GET /dir/page.txt HTTP/1.1\r\n"
                                         b"Host: localhost\r\nConnection: close\r\n\r\n",
                                         client=c)
            except Exception as e:  # collected and asserted below
                results[i] = e

        threads = [threading.Thread(target=one, args=(i,)) for i in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        for r in results:
            self.assertIsInstance(r, bytes, r)
            self.assertEqual(kwtest.split_responses(r)[0][2], b"page\n")

    def test_path_traversal_never_leaves_the_root(self):
        attempts = [b"/../secret.txt", b"/dir/../../secret.txt", b"/%2e%2e/secret.txt",
                    b"/dir/%2e%2e/%2e%2e/secret.txt", b"/..%2fsecret.txt", b"/%2fetc/passwd",
                    b"/secret.txt%00.html", b"/..\\secret.txt", b"/./../secret.txt"]
        for path in attempts:
            data = self.site.raw(b"GET " + path + b" HTTP/1.1\r\nHost: localhost\r\n"
                                 b"Connection: close\r\n\r\n")
            self.assertNotIn(b"outside the root", data, path)
            status = int(data.split(b" ", 2)[1])
            self.assertIn(status, (400, 403, 404), path)


    def test_workers_and_signer_have_no_new_privs(self):
        """Each worker and the signer set no_new_privs, each on its own code path."""
        workers = self.site.children("worker")
        signers = self.site.children("signer")
        self.assertEqual(len(workers), 2)
        self.assertEqual(len(signers), 1)
        for pid in workers + signers:
            with open("/proc/%d/status" % pid) as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            self.assertEqual(fields["NoNewPrivs"].strip(), "1", "pid %d" % pid)


class BadToyTlsInputTest(kwtest.SiteTestCase):
    """Each malformed toy-TLS input closes its connection; the server keeps serving."""

    def send_and_expect_close(self, data):
        with socket.create_connection(("127.0.0.1", self.site.tls_port), timeout=10) as s:
            s.sendall(data)
            received = kwtest.read_until_eof(s)
        self.assertNotIn(b"HTTP/1.1", received)
        self.assertEqual(self.site.get("/", tls=True).stdout, b"<h1>hello</h1>\n")

    def established(self):
        with open(self.site.root_pem, "rb") as f:
            return ref.connect(self.site.tls_port, root_pem=f.read())

    def test_handshake_garbage(self):
        pub = os.urandom(32)
        cases = {
            "length over the limit": struct.pack(">I", 0x7FFFFFFF) + b"x" * 16,
            "truncated field": ref.record(struct.pack(">HI", 0x10, 32) + b"\x01" * 10),
            "no X25519 field": ref.record(ref.field(0x20, b"cert")),
            "31-byte key": ref.record(ref.field(0x10, b"\x09" * 31)),
            "33-byte key": ref.record(ref.field(0x10, b"\x09" * 33)),
            "all-zero key": ref.record(ref.field(0x10, bytes(32))),
            "low-order key": ref.record(ref.field(0x10, bytes.fromhex(
                "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"))),
            "empty server name": ref.record(ref.field(0x10, pub) + ref.field(0x11, b"")),
        }
        for name, data in cases.items():
            with self.subTest(name):
                self.send_and_expect_close(data)

    def app_record_case(self, mutate):
        c = self.established()
        wire = ref.seal(c.client_key, 0, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        c.sock.sendall(mutate(c, wire))
        self.assertEqual(c.recv_all(), b"")
        c.sock.close()
        self.assertEqual(self.site.get("/", tls=True).stdout, b"<h1>hello</h1>\n")

    def test_tampered_records(self):
        def flip(pos):
            return lambda c, w: w[:pos] + bytes([w[pos] ^ 1]) + w[pos + 1:]
        cases = {
            "tampered ciphertext": flip(4 + 8 + 12 + 3),
            "tampered tag": lambda c, w: w[:-1] + bytes([w[-1] ^ 1]),
            "skipped sequence": lambda c, w: ref.seal(c.client_key, 1, b"GET / HTTP/1.1\r\n\r\n"),
            "replayed sequence": None,
            "record shorter than 36 bytes": lambda c, w: ref.record(bytes(35)),
        }
        for name, mutate in cases.items():
            with self.subTest(name):
                if name == "replayed sequence":
                    c = self.established()
                    first = ref.seal(c.client_key, 0, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                    c.sock.sendall(first)
                    response = b""
                    while not response.endswith(b"<h1>hello</h1>\n"):
                        response += c.recv()
                    c.sock.sendall(first)
                    self.assertEqual(c.recv_all(), b"")
                    c.sock.close()
                else:
                    self.app_record_case(mutate)


class RespawnTest(kwtest.SiteTestCase):
    site_args = {"signer_extra": 'timeout = "1s";'}

    def test_worker_killed_is_replaced(self):
        workers = self.site.children("worker")
        self.assertEqual(len(workers), 2)
        os.kill(workers[0], signal.SIGKILL)
        kwtest.wait_until(lambda: len(self.site.children("worker")) == 2
                   and workers[0] not in self.site.children("worker"), what="a new worker")
        for _ in range(10):
            self.assertEqual(self.site.get("/").stdout, b"<h1>hello</h1>\n")
            self.assertEqual(self.site.get("/", tls=True).stdout, b"<h1>hello</h1>\n")

    def test_signer_killed_is_replaced(self):
        [signer] = self.site.children("signer")
        mark = self.site.log.mark()
        os.kill(signer, signal.SIGKILL)
        self.assertEqual(self.site.get("/").stdout, b"<h1>hello</h1>\n")
        kwtest.wait_until(lambda: [p for p in self.site.children("signer") if p != signer],
                   what="a new signer")
        self.site.log.wait_for(r"signer .*ready|ready: generation", since=mark)
        for _ in range(10):
            self.assertEqual(self.site.get("/", tls=True).stdout, b"<h1>hello</h1>\n")
        self.assertEqual(self.site.get("/").stdout, b"<h1>hello</h1>\n")

    def test_signer_stopped_fails_handshakes_only(self):
        [signer] = self.site.children("signer")
        kwtest.stop_process(signer)
        try:
            start = time.monotonic()
            res = self.site.get("/", tls=True, check=False)
            elapsed = time.monotonic() - start
            self.assertEqual(res.returncode, 2, res.stderr)
            self.assertLess(elapsed, 30)
            for _ in range(5):
                self.assertEqual(self.site.get("/").stdout, b"<h1>hello</h1>\n")
        finally:
            os.kill(signer, signal.SIGCONT)
        self.assertEqual(self.site.get("/", tls=True).stdout, b"<h1>hello</h1>\n")


if __name__ == "__main__":
    kwtest.main()

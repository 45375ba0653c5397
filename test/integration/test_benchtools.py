#!/usr/bin/python3
"""The benchmark tools against a real server: keyward-bench loads both transports
(keep-alive and one connection per request, the toy-TLS client verifying every
handshake signature with its cached leaf key) and checks every response;
keyward-bench-floor prints the crypto floor of a handshake for each key type and
the AES-256-GCM floor of 1 MiB. Nothing here is timed: the figures are only checked
for their shape.
"""

import json
import os
import subprocess
import tempfile
import unittest

import kwtest

BENCH = os.path.join(kwtest.BUILD, "tools", "keyward-bench")
FLOOR = os.path.join(kwtest.BUILD, "tools", "keyward-bench-floor")
BODY = bytes(range(256)) * 4


def run(argv, timeout=120):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


class BenchTest(kwtest.SiteTestCase):
    @classmethod
    def prepare(cls, site):
        site.put("1k.bin", BODY)

    def load(self, url, *extra, n=200):
        p = run([BENCH, "--json", "-c", "4", "-n", str(n), *extra, url])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        line = next(l for l in p.stdout.splitlines() if l.startswith("{"))
        return json.loads(line)

    def assert_all_served(self, j, n, handshakes):
        self.assertEqual(j["responses"], n, j)
        self.assertEqual(j["errors"]["total"], 0, j)
        self.assertEqual(j["handshakes"], handshakes, j)

    def test_plain_keep_alive_and_new_connections(self):
        url = "http://127.0.0.1:%d/1k.bin" % self.site.plain_port
        self.assert_all_served(self.load(url), 200, 0)
        self.assert_all_served(self.load(url, "--new-connection"), 200, 0)

    def test_toytls_new_connections_with_the_cached_leaf_key(self):
        url = "toytls://127.0.0.1:%d/1k.bin" % self.site.tls_port
        self.assert_all_served(self.load(url, "--new-connection", "--insecure"), 200, 200)

    def test_toytls_with_chain_verification(self):
        url = "toytls://127.0.0.1:%d/1k.bin" % self.site.tls_port
        j = self.load(url, "--new-connection", "--root", self.site.root_pem, "--name",
                      "localhost", n=50)
        self.assert_all_served(j, 50, 50)

    def test_wrong_root_fails_every_handshake(self):
        # The leaf of another chain: verification refuses it, every connection fails.
        other = kwtest.make_certs(os.path.join(self.site.dir, "other"), key="ecdsa")
        url = "toytls://127.0.0.1:%d/1k.bin" % self.site.tls_port
        p = run([BENCH, "--json", "-c", "2", "-n", "10", "--new-connection", "--root",
                 os.path.join(other, "root_cert.pem"), "--name", "localhost", url])
        self.assertNotEqual(p.returncode, 0, p.stdout)
        line = next(l for l in p.stdout.splitlines() if l.startswith("{"))
        j = json.loads(line)
        self.assertEqual(j["responses"], 0, j)
        self.assertEqual(j["handshakes"], 0, j)
        self.assertEqual(j["errors"]["handshake"], 10, j)
        self.assertEqual(j["errors"]["total"], 10, j)


class FloorTest(unittest.TestCase):
    def test_every_key_type(self):
        with tempfile.TemporaryDirectory() as d:
            keys = []
            for key in ("rsa", "ecdsa", "ed25519"):
                certs = kwtest.make_certs(os.path.join(d, key), key=key)
                keys.append(os.path.join(certs, "server_key.pem"))
            p = run([FLOOR, "--json", "-n", "5"] + keys)
            self.assertEqual(p.returncode, 0, p.stderr)
            out = json.loads(p.stdout)
        self.assertEqual([j["scheme"] for j in out],
                         ["rsa-pss-sha256", "ecdsa-p256-sha256", "ed25519"])
        for j in out:
            steps = [j[k] for k in ("x25519_keygen_us", "x25519_derive_us", "hkdf_x2_us",
                                    "sign_us", "aead_setup_x2_us")]
            self.assertTrue(all(v >= 0 for v in steps), j)
            self.assertAlmostEqual(j["total_us"], sum(steps), delta=0.05)
            self.assertGreater(j["sign_us"], 0, j)

    def test_bulk(self):
        p = run([FLOOR, "--json", "--bulk", "-n", "3"])
        self.assertEqual(p.returncode, 0, p.stderr)
        j = json.loads(p.stdout)
        self.assertEqual(j["iterations"], 3)
        self.assertGreater(j["seal_1mib_us"], 0)

    def test_usage_errors(self):
        for argv in ([], ["--bulk", "key.pem"], ["-n", "0", "--bulk"], ["-n", "x", "--bulk"]):
            p = run([FLOOR] + argv)
            self.assertEqual(p.returncode, 2, argv)
            self.assertIn("usage:", p.stderr)
        p = run([FLOOR, "/nonexistent/key.pem"])
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot load or use this key", p.stderr)


if __name__ == "__main__":
    kwtest.main()

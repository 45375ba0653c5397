#!/usr/bin/python3
"""The benchmark tools against a real server: keyward-bench loads both transports
(keep-alive and one connection per request, the toy-TLS client verifying every
handshake signature with its cached leaf key) and checks every response;
keyward-bench-floor prints the crypto floor of a handshake for each key type (toy-TLS,
and libssl's TLS 1.3 server handshake in process), the AES-256-GCM floor of 1 MiB and the
round trip of a signing request and its reply between two processes (--ipc);
tools/bench's compress rows make the same page every time and check the coding of a
server's answer before loading it; its targets table judges each target at and one past
its limit, and its resumption row fails a run whose handshakes were not resumed. Nothing
here is timed: the figures are only checked for their shape.
"""

import gzip
import hashlib
import importlib.machinery
import importlib.util
import json
import os
import subprocess
import tempfile
import types
import unittest

import kwtest
from test_static_config import ConfigSite

BENCH = os.path.join(kwtest.BUILD, "tools", "keyward-bench")
FLOOR = os.path.join(kwtest.BUILD, "tools", "keyward-bench-floor")
BODY = bytes(range(256)) * 4
PAGE_SHA256_PREFIX = "8c92bbe147d0c1bc"  # tools/bench's 1m.html


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

    def test_paced_requests(self):
        # every connection up first, then 50 requests at 1000/s: all served, and the
        # latency (from each request's turn) in percentiles that only grow
        url = "http://127.0.0.1:%d/1k.bin" % self.site.plain_port
        p = run([BENCH, "--json", "-c", "4", "-t", "2", "-n", "50", "--rate", "1000", url])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("holding 4 connections", p.stderr)
        j = json.loads(next(l for l in p.stdout.splitlines() if l.startswith("{")))
        self.assert_all_served(j, 50, 0)
        self.assertEqual(j["connects"], 4, j)
        self.assertEqual(j["rate_per_s"], 1000, j)
        lat = j["latency_us"]
        self.assertTrue(0 < lat["p50"] <= lat["p99"] <= lat["p999"] <= lat["max"], lat)

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

    def test_tls13_every_key_type(self):
        with tempfile.TemporaryDirectory() as d:
            out = []
            for key in ("rsa", "ecdsa", "ed25519"):
                certs = kwtest.make_certs(os.path.join(d, key), key=key)
                p = run([FLOOR, "--json", "-n", "3", "--tls13",
                         os.path.join(certs, "server_cert.pem"),
                         os.path.join(certs, "server_key.pem"), os.path.join(certs, "chain.pem")])
                self.assertEqual(p.returncode, 0, p.stderr)
                out += json.loads(p.stdout)
            # without the chain file too
            p = run([FLOOR, "-n", "2", "--tls13", os.path.join(certs, "server_cert.pem"),
                     os.path.join(certs, "server_key.pem")])
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertRegex(p.stdout, r"^tls13 ed25519 +[0-9.]+ us: ssl_new ")
        self.assertEqual([j["scheme"] for j in out],
                         ["rsa-pss-sha256", "ecdsa-p256-sha256", "ed25519"])
        for j in out:
            self.assertEqual((j["transport"], j["suite"], j["iterations"]),
                             ("tls13", "TLS_AES_256_GCM_SHA384", 3), j)
            steps = [j[k] for k in ("ssl_new_us", "handshake_us", "ssl_free_us")]
            self.assertTrue(all(v >= 0 for v in steps), j)
            self.assertAlmostEqual(j["total_us"], sum(steps), delta=0.05)
            self.assertGreater(j["handshake_us"], 0, j)
            self.assertFalse(j["resumed"], j)

    def test_tls13_resumed(self):
        """--resume: every timed handshake resumes (the tool fails otherwise)."""
        with tempfile.TemporaryDirectory() as d:
            certs = kwtest.make_certs(os.path.join(d, "ecdsa"), key="ecdsa")
            files = [os.path.join(certs, f) for f in ("server_cert.pem", "server_key.pem")]
            p = run([FLOOR, "--json", "-n", "3", "--tls13", "--resume"] + files)
            self.assertEqual(p.returncode, 0, p.stderr)
            [j] = json.loads(p.stdout)
            self.assertEqual((j["scheme"], j["resumed"], j["iterations"]),
                             ("ecdsa-p256-sha256", True, 3), j)
            self.assertGreater(j["handshake_us"], 0, j)
            p = run([FLOOR, "-n", "2", "--resume", "--tls13"] + files)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertRegex(p.stdout, r"^tls13 resumed ecdsa-p256-sha256 +[0-9.]+ us: ")

    def test_ipc(self):
        """--ipc: a direct and a signer row per key, the reply sized for the key's longest
        signature (12-byte header, status and length, then the signature)."""
        with tempfile.TemporaryDirectory() as d:
            keys = []
            for key in ("rsa", "ecdsa"):
                certs = kwtest.make_certs(os.path.join(d, key), key=key)
                keys.append(os.path.join(certs, "server_key.pem"))
            p = run([FLOOR, "--json", "-n", "20", "--ipc"] + keys)
            self.assertEqual(p.returncode, 0, p.stderr)
            out = json.loads(p.stdout)
            p = run([FLOOR, "-n", "5", "--ipc", keys[1]])
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertRegex(p.stdout, r"^ipc direct ecdsa-p256-sha256 +[0-9.]+ us: worker ")
            self.assertRegex(p.stdout, r"\nipc signer ecdsa-p256-sha256 +[0-9.]+ us: worker ")
            # --cpus: both processes on one CPU this process may run on; a CPU it may not
            # run on is an error before any round trip
            allowed = sorted(os.sched_getaffinity(0))
            cpus = "%d,%d" % (allowed[0], allowed[0])
            p = run([FLOOR, "--json", "-n", "5", "--ipc", "--cpus", cpus, keys[1]])
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual([j["cpus"] for j in json.loads(p.stdout)], [cpus, cpus])
            p = run([FLOOR, "-n", "5", "--ipc", "--cpus", cpus, keys[1]])
            self.assertTrue(p.stdout.endswith(" on CPUs %s\n" % cpus), p.stdout)
            p = run([FLOOR, "-n", "5", "--ipc", "--cpus", "%d,%d" % (allowed[0],
                                                                    allowed[-1] + 1), keys[1]])
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn("cannot run on CPU %d" % (allowed[-1] + 1), p.stderr)
            self.assertEqual(p.stdout, "")
        self.assertEqual([j["cpus"] for j in out], [None] * 4)
        self.assertEqual([(j["scheme"], j["variant"], j["reply_bytes"]) for j in out],
                         [("rsa-pss-sha256", "direct", 16 + 256),
                          ("rsa-pss-sha256", "signer", 16 + 256),
                          ("ecdsa-p256-sha256", "direct", 16 + 72),
                          ("ecdsa-p256-sha256", "signer", 16 + 72)])
        for j in out:
            self.assertEqual((j["iterations"], j["request_bytes"]), (20, 12 + 8 + 48), j)
            self.assertGreater(j["worker_cpu_us"], 0, j)
            self.assertGreater(j["signer_cpu_us"], 0, j)
            self.assertGreater(j["wall_us"], 0, j)
            self.assertAlmostEqual(j["cpu_us"], j["worker_cpu_us"] + j["signer_cpu_us"],
                                   delta=0.02)
            self.assertTrue(all(j[k] >= 0 for k in ("worker_csw", "signer_csw",
                                                    "involuntary_csw")), j)

    def test_usage_errors(self):
        for argv in ([], ["--bulk", "key.pem"], ["-n", "0", "--bulk"], ["-n", "x", "--bulk"],
                     ["--tls13"], ["--tls13", "cert.pem"], ["--tls13", "--bulk", "c", "k"],
                     ["--tls13", "c.pem", "k.pem", "chain.pem", "more.pem"],
                     ["-n", "0", "--tls13", "c.pem", "k.pem"], ["--resume", "key.pem"],
                     ["--resume", "--bulk"], ["--ipc"], ["--ipc", "--bulk"],
                     ["--ipc", "--tls13", "c.pem", "k.pem"], ["--ipc", "--resume", "k.pem"],
                     ["-n", "0", "--ipc", "k.pem"], ["-n", "-3", "--ipc", "k.pem"],
                     ["--cpus", "0,0", "k.pem"], ["--cpus", "0,0", "--bulk"]):
            p = run([FLOOR] + argv)
            self.assertEqual(p.returncode, 2, argv)
            self.assertIn("usage:", p.stderr)
        for cpus in ("0", "0,", "0,x", "0,1,2", ",1", "-1,0", "0,-1", "1024,0", "0,1 "):
            p = run([FLOOR, "--ipc", "--cpus", cpus, "k.pem"])
            self.assertEqual(p.returncode, 2, cpus)
            self.assertIn("--cpus takes two CPU numbers", p.stderr)
        for argv in (["/nonexistent/key.pem"], ["--ipc", "/nonexistent/key.pem"]):
            p = run([FLOOR] + argv)
            self.assertEqual(p.returncode, 1, argv)
            self.assertIn("cannot load or use this key", p.stderr)
            self.assertEqual(p.stdout, "", argv)
        with tempfile.TemporaryDirectory() as d:
            rsa = kwtest.make_certs(os.path.join(d, "rsa"), key="rsa")
            ecdsa = kwtest.make_certs(os.path.join(d, "ecdsa"), key="ecdsa")
            for argv in (["/nonexistent/cert.pem", os.path.join(rsa, "server_key.pem")],
                         [os.path.join(rsa, "server_cert.pem"),
                          os.path.join(ecdsa, "server_key.pem")],  # not the leaf's key
                         [os.path.join(rsa, "server_cert.pem"),
                          os.path.join(rsa, "server_key.pem"), "/nonexistent/chain.pem"]):
                p = run([FLOOR, "-n", "1", "--tls13"] + argv)
                self.assertEqual(p.returncode, 1, argv)
                self.assertIn("cannot load or use this certificate", p.stderr)


class BenchUsageTest(unittest.TestCase):
    """keyward-bench's command line: --rate's bad values and the options it does not go
    with are usage errors (exit 2); its largest value is taken."""

    def test_rate_errors(self):
        url = "http://127.0.0.1:9/"
        for value in ("0", "-1", "x", "1e", "nan", "inf", "10000000.5", ""):
            p = run([BENCH, "--rate", value, url])
            self.assertEqual(p.returncode, 2, value)
            self.assertIn("--rate takes requests per second", p.stderr, value)
        for other in (["--new-connection"], ["--hold", "1"]):
            p = run([BENCH, "--rate", "10", *other, url])
            self.assertEqual(p.returncode, 2, other)
            self.assertIn("--rate takes neither --new-connection nor --hold", p.stderr)

    def test_largest_rate_is_taken_and_the_wait_for_connections_is_bounded(self):
        # nothing listens on the discard port: the connections never come up, and the
        # run gives up after --timeout instead of waiting for them forever
        p = run([BENCH, "--rate", "10000000", "--timeout", "0.5", "-c", "2",
                 "http://127.0.0.1:9/"], timeout=30)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("not all established within the timeout", p.stderr)


def load_tools_bench():
    """tools/bench (a script without a .py suffix) as a module; its main() does not run."""
    path = os.path.join(kwtest.SOURCE, "tools", "bench")
    loader = importlib.machinery.SourceFileLoader("tools_bench", path)
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


class BenchCompressRows(kwtest.SiteTestCase):
    """The page of tools/bench --rows compress and the check before each of its runs."""

    site_class = ConfigSite
    site_args = {"locations": '{ prefix = "/"; root = "www"; compress = true; '
                              'compress_types = [ "text/html" ]; }'}

    @classmethod
    def prepare(cls, site):
        cls.bench = load_tools_bench()
        cls.page = cls.bench.text_page(cls.bench.TEXT_SIZE)
        site.put(cls.bench.TEXT_FILE, cls.page)

    def test_the_page_is_the_same_in_every_run(self):
        self.assertEqual(len(self.page), 1 << 20)
        self.assertEqual(self.bench.text_page(1 << 20), self.page)
        self.assertTrue(self.page.startswith(b"<!DOCTYPE html>"))
        # the same bytes as when the README's figures were taken (187810 bytes at gzip -6)
        self.assertEqual(hashlib.sha256(self.page).hexdigest()[:16], PAGE_SHA256_PREFIX)
        self.assertEqual(len(gzip.compress(self.page, 6, mtime=0)) // 1000, 187)

    def test_each_coding_is_checked_before_a_run(self):
        server = types.SimpleNamespace(name="keyward", ports={"plain": self.site.plain_port})
        sizes = {c: self.bench.Bench.check_coding(server, c, self.page)
                 for c in (None, "gzip", "br")}
        self.assertEqual(sizes[None], len(self.page))
        self.assertLess(sizes["gzip"], len(self.page) // 4)
        self.assertLess(sizes["br"], len(self.page) // 4)
        for coding in (None, "gzip", "br"):
            with self.subTest(coding=coding):
                with self.assertRaises(self.bench.BenchError):
                    self.bench.Bench.check_coding(server, coding, self.page[:-1])


class BenchTargets(unittest.TestCase):
    """tools/bench's targets table, read by row name, at and one past each limit."""

    @classmethod
    def setUpClass(cls):
        cls.bench = load_tools_bench()

    def table(self, **rows):
        """The targets table of results given as row=(server: fields) dicts."""
        results = {(row, server): fields for row, servers in rows.items()
                   for server, fields in servers.items()}
        lines = self.bench.targets_table(types.SimpleNamespace(results=results)).splitlines()
        return {line.split(" | ")[0].lstrip("| "): line for line in lines[2:]}

    def verdict(self, lines, start):
        line = next(v for k, v in lines.items() if k.startswith(start))
        return line.rstrip(" |").rsplit(" | ", 1)[1]

    def test_every_target_not_measured_without_its_rows(self):
        lines = self.table()
        self.assertEqual(len(lines), 15)
        for line in lines.values():
            self.assertTrue(line.endswith("| not measured in this run |"), line)

    def test_a_factor_of_nginx_at_and_past_the_limit(self):
        def cpu(kw, nginx, h2o):
            return {"keyward": {"us_per_req": kw}, "nginx": {"us_per_req": nginx},
                    "h2o": {"us_per_req": h2o}}
        hs = "TLS 1.3 full handshake + 1 KiB GET per connection, ECDSA"
        self.assertEqual(self.verdict(self.table(t13_hs_ecdsa=cpu(340.0, 400.0, 341.0)), hs),
                         "holds")
        self.assertEqual(self.verdict(self.table(t13_hs_ecdsa=cpu(340.1, 400.0, 341.0)), hs),
                         "does not hold (nginx)")
        # below h2o: equal is not below
        self.assertEqual(self.verdict(self.table(t13_hs_ecdsa=cpu(340.0, 400.0, 340.0)), hs),
                         "does not hold (h2o)")
        ka = "TLS 1.3 keep-alive 1 KiB"
        self.assertEqual(self.verdict(self.table(t13_ka_1k=cpu(18.0, 20.0, 18.0)), ka), "holds")
        self.assertEqual(self.verdict(self.table(t13_ka_1k=cpu(18.0, 20.0, 17.9)), ka),
                         "does not hold (h2o)")

    def test_a_peer_left_out_or_a_run_with_errors(self):
        rows = {"keyward": {"us_per_req": 10.0}, "nginx": {"us_per_req": 20.0}}
        self.assertEqual(self.verdict(self.table(t13_ka_1k=rows), "TLS 1.3 keep-alive 1 KiB"),
                         "holds; h2o: not measured in this run")
        self.assertEqual(self.verdict(self.table(t13_resume={"keyward": rows["keyward"]}),
                                      "TLS 1.3 resumed"), "not measured in this run")
        rows["nginx"] = {"us_per_req": 20.0, "errors": 3}
        self.assertTrue(self.verdict(self.table(t13_resume=rows), "TLS 1.3 resumed")
                        .startswith("no verdict: a run had errors"))

    def test_fixed_limits(self):
        def kib(v):
            return {"keyward": {"kib_per_conn": v, "requests": 1000},
                    "nginx": {"kib_per_conn": 14.0, "requests": 1000}}
        idle = "memory per idle TLS 1.3 connection"
        self.assertEqual(self.verdict(self.table(mem_tls13=kib(8.0)), idle), "holds")
        self.assertEqual(self.verdict(self.table(mem_tls13=kib(8.01)), idle), "does not hold")
        line = next(v for k, v in self.table(mem_tls13=kib(8.0)).items() if k.startswith(idle))
        self.assertIn("| 8.00 KiB (nginx 14.00) with 1000 connections |", line)
        parked = "memory per parked TLS 1.3 handshake"
        self.assertEqual(self.verdict(self.table(mem_parked=kib(125.0)), parked), "holds")
        self.assertEqual(self.verdict(self.table(mem_parked=kib(125.1)), parked),
                         "does not hold")  # 125.1 KiB is 128.1 KB
        self.assertEqual(self.verdict(self.table(mem_parked={"keyward": {
            "kib_per_conn": 10.0, "requests": 999}}), parked),
            "not measured in this run (it held 999 connections, not 1000)")
        scale = "10,000 concurrent keep-alive connections, TLS 1.3"
        p99 = {"keyward": {"p99_ms": 49.9, "connections": 10000}}
        self.assertEqual(self.verdict(self.table(scale_t13=p99), scale), "holds")
        p99["keyward"]["p99_ms"] = 50.0
        self.assertEqual(self.verdict(self.table(scale_t13=p99), scale), "does not hold")
        p99["keyward"].update(p99_ms=1.0, connections=9999)
        self.assertEqual(self.verdict(self.table(scale_t13=p99), scale),
                         "not measured in this run (it held 9999 connections, not 10000)")

    def test_signer_round_trip_above_floor_and_plain_connection(self):
        def rows(hs):
            return dict(t13_hs_rsa={"keyward": {"us_per_req": hs}},
                        floor_t13_rsa={"keyward": {"total_us": 400.0}},
                        cc_plain={"keyward": {"us_per_req": 30.0}})
        what = "signer round trip, TLS 1.3 RSA-2048"
        self.assertEqual(self.verdict(self.table(**rows(470.0)), what), "holds")
        self.assertEqual(self.verdict(self.table(**rows(470.5)), what), "does not hold")
        self.assertEqual(self.verdict(self.table(**rows(470.0)), "signer round trip, toy-TLS"),
                         "not measured in this run")

    def test_what_is_left_beyond_the_ipc_floor(self):
        """The IPC floor of the key's reply is shown and taken off what is left; the verdict
        stays the target's (above the crypto floor + a plain connection); without the IPC
        floor, "Above the floor" says n/a in its two columns."""
        rows = dict(t13_hs_rsa={"keyward": {"us_per_req": 470.5}},
                    floor_t13_rsa={"keyward": {"total_us": 400.0}},
                    cc_plain={"keyward": {"us_per_req": 30.0}})
        results = {(row, "keyward"): r["keyward"] for row, r in rows.items()}
        bench = types.SimpleNamespace(results=results)
        overhead = self.bench.overhead_table(bench).splitlines()[2]
        self.assertTrue(overhead.endswith("| 40.5 us | n/a | n/a |"), overhead)
        rows["floor_ipc_rsa"] = {"keyward": {"total_us": 25.0}}
        results[("floor_ipc_rsa", "keyward")] = {"total_us": 25.0}
        line = next(v for k, v in self.table(**rows).items()
                    if k.startswith("signer round trip, TLS 1.3 RSA-2048"))
        self.assertIn("(470.5 - floor 400.0 - plain 30.0; IPC floor 25.0, beyond it 15.5 us)",
                      line)
        self.assertTrue(line.endswith("| does not hold |"), line)
        overhead = self.bench.overhead_table(bench).splitlines()[2]
        self.assertEqual(overhead, "| TLS 1.3, RSA-2048 | 400.0 us | 470.5 us (1.18 x) | "
                                   "70.5 us | 30.0 us | 40.5 us | 25.0 us | 15.5 us |")

    def test_a_run_whose_handshakes_were_not_resumed_fails(self):
        def run_of(handshakes, resumed):
            r = dict(handshakes=handshakes, resumed=resumed, errors=0, error_detail="")
            self.bench.check_resumed(r, 32)
            return r
        self.assertEqual(run_of(1032, 1000)["errors"], 0)  # each slot's first connection
        r = run_of(1033, 1000)
        self.assertEqual(r["errors"], 33)
        self.assertEqual(r["error_detail"], "only 1000 of 1033 handshakes resumed")
        self.assertEqual(run_of(10, 0)["errors"], 10)


if __name__ == "__main__":
    kwtest.main()

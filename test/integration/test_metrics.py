#!/usr/bin/python3
"""The status page: Prometheus text format 0.0.4 parsed by Debian's prometheus_client,
counters that move with plain, toy-TLS and TLS 1.3 traffic by exact amounts, the
signer's counters with each handshake that needs a signature (and not with a resumed
one), the allow list (403 to others), and totals that never go down across a reload, a
worker respawn and a signer respawn, scraped while they happen."""

import os
import signal
import socket
import ssl
import subprocess
import threading

from prometheus_client.parser import text_string_to_metric_families

import kwtest

INDEX = b"<h1>metrics</h1>\n"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MetricsSite(kwtest.Site):
    """Plain, toy-TLS and TLS 1.3 listeners; /metrics for loopback (the default), two
    status locations whose lists leave 127.0.0.1 out."""

    def pick_ports(self):
        super().pick_ports()
        self.tls13_port = kwtest.free_port()

    def write_config(self, locations=None, server_extra=None):
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
    locations = (
      { prefix = "/"; root = "www"; },
      { prefix = "/metrics"; status = true; },
      { prefix = "/elsewhere"; status = true; status_allow = [ "10.0.0.0/8", "::1/128" ]; },
      { prefix = "/near"; status = true; status_allow = "127.0.0.2/31"; }
    );
  }
);
""" % (self.plain_port, self.tls_port, self.tls13_port)
        with open(self.conf, "w") as f:
            f.write(text)


def samples(text):
    """{(sample name, sorted label items): value} of an exposition, via prometheus_client."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def key(name, **labels):
    return (name, tuple(sorted(labels.items())))


class MetricsTest(kwtest.SiteTestCase):
    site_class = MetricsSite
    site_args = {"workers": 2}

    @classmethod
    def prepare(cls, site):
        site.put("index.html", INDEX)
        cls.scraped = []  # body length of every scrape, in order

    # -- clients ----------------------------------------------------------------------

    def http(self, path, version="1.1", method="GET"):
        """One request on its own plain connection: (status, headers, body)."""
        req = "%s %s HTTP/%s\r\nHost: localhost\r\nConnection: close\r\n\r\n" % (
            method, path, version)
        data = self.site.raw(req.encode())
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:])
        return int(lines[0].split()[1]), headers, body

    def scrape(self):
        """The status page's samples. Each scrape is an HTTP/1.0 request over plain, so it
        never counts among the HTTP/1.1 requests the tests make; its length is kept."""
        status, headers, body = self.http("/metrics", version="1.0")
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["Content-Type"], CONTENT_TYPE)
        self.scraped.append(len(body))
        return samples(body.decode())

    def scrape_when(self, predicate, what):
        """Scrapes until predicate(samples) holds (a worker counts an exchange right after
        its last byte, so another worker's scrape may come a moment earlier)."""
        box = {}

        def ready():
            box["s"] = self.scrape()
            return predicate(box["s"])

        kwtest.wait_until(ready, timeout=20, what=what)
        return box["s"]

    def toytls_get(self, n):
        for _ in range(n):
            self.assertEqual(self.site.get("/index.html", tls=True).stdout, INDEX)

    def tls13_context(self):
        ctx = ssl.create_default_context(cafile=self.site.root_pem)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        return ctx

    def tls13_get(self, ctx, session=None):
        """One TLS 1.3 GET; returns (body, the session for resumption, resumed)."""
        with socket.create_connection(("127.0.0.1", self.site.tls13_port), timeout=30) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as s:
                s.sendall(b"GET /index.html HTTP/1.1\r\nHost: localhost\r\n"
                          b"Connection: close\r\n\r\n")
                data = kwtest.read_until_eof(s)
                return data.partition(b"\r\n\r\n")[2], s.session, s.session_reused

    # -- the format -------------------------------------------------------------------

    def test_format_parses_with_help_type_and_cumulative_buckets(self):
        status, headers, body = self.http("/metrics")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], CONTENT_TYPE)
        self.assertEqual(int(headers["Content-Length"]), len(body))
        self.assertIn("no-store", headers["Cache-Control"])
        families = {f.name: f for f in text_string_to_metric_families(body.decode())}
        # the parser names counter families without _total; every sample keeps it
        for name in ("keyward_http_requests", "keyward_connections_accepted",
                     "keyward_handshakes", "keyward_handshake_failures",
                     "keyward_tls_resumed_handshakes", "keyward_signer_requests",
                     "keyward_signer_signatures", "keyward_signer_refusals",
                     "keyward_reloads", "keyward_worker_restarts", "keyward_signer_restarts",
                     "keyward_http_response_body_bytes"):
            self.assertEqual(families[name].type, "counter", name)
            self.assertTrue(all(s.name == name + "_total" for s in families[name].samples))
        for name in ("keyward_connections", "keyward_connections_active",
                     "keyward_signer_in_flight", "keyward_generation", "keyward_workers",
                     "keyward_uptime_seconds", "keyward_start_time_seconds"):
            self.assertEqual(families[name].type, "gauge", name)
        hist = families["keyward_signer_round_trip_seconds"]
        self.assertEqual(hist.type, "histogram")
        buckets = [(float(s.labels["le"]), s.value) for s in hist.samples
                   if s.name.endswith("_bucket")]
        self.assertEqual(buckets[-1][0], float("inf"))
        self.assertEqual([b[0] for b in buckets], sorted(b[0] for b in buckets))
        self.assertEqual([b[1] for b in buckets], sorted(b[1] for b in buckets))
        count = [s.value for s in hist.samples if s.name.endswith("_count")][0]
        self.assertEqual(buckets[-1][1], count)
        s = samples(body.decode())
        self.assertEqual(s[key("keyward_workers")], 2)
        self.assertGreaterEqual(s[key("keyward_generation")], 1)
        self.assertEqual(set(l[1] for (n, labels) in s for l in labels if l[0] == "transport"),
                         {"plain", "toytls", "tls13"})
        # HEAD: the head alone, with the length of the page
        status, headers, body = self.http("/metrics", method="HEAD")
        self.assertEqual(status, 200)
        self.assertEqual(body, b"")
        self.assertGreater(int(headers["Content-Length"]), 1000)
        status, _, _ = self.http("/metrics", method="DELETE")
        self.assertEqual(status, 405)

    def test_allow_list_refuses_other_clients(self):
        # neither 10.0.0.0/8 nor ::1 is 127.0.0.1; 127.0.0.2/31 ends at 127.0.0.3
        for path in ("/elsewhere", "/elsewhere/x", "/near"):
            status, headers, body = self.http(path)
            self.assertEqual(status, 403, path)
            self.assertNotIn(b"keyward_", body)
        status, _, _ = self.http("/metrics/anything")
        self.assertEqual(status, 200)

    # -- counters move with traffic ---------------------------------------------------

    def test_plain_counters_move_by_exact_amounts(self):
        before = self.scrape()
        first = len(self.scraped) - 1  # the scrapes from this one on are counted
        for _ in range(3):
            self.assertEqual(self.http("/index.html")[0], 200)
        status, _, missing = self.http("/missing")
        self.assertEqual(status, 404)

        def plain(labels_name, **labels):
            return key(labels_name, transport="plain", **labels)

        ok = plain("keyward_http_requests_total", protocol="HTTP/1.1", code="2xx")
        nf = plain("keyward_http_requests_total", protocol="HTTP/1.1", code="4xx")
        s10 = plain("keyward_http_requests_total", protocol="HTTP/1.0", code="2xx")
        acc = plain("keyward_connections_accepted_total")
        body = plain("keyward_http_response_body_bytes_total")

        def expected():
            """What the last scrape should show: its own request is not counted yet, the
            scrapes before it are (HTTP/1.0), and its connection is accepted."""
            earlier = self.scraped[first:-1]
            return {ok: 3, nf: 1, s10: len(earlier), acc: 4 + len(earlier),
                    body: 3 * len(INDEX) + len(missing) + sum(earlier)}

        after = self.scrape_when(
            lambda s: all(s[k] - before[k] >= v for k, v in expected().items()),
            "the plain exchanges counted")
        for k, v in expected().items():
            self.assertEqual(after[k] - before[k], v, k)

    def test_toytls_counters_and_signer_counters_move_with_handshakes(self):
        before = self.scrape()
        self.toytls_get(3)
        ok = key("keyward_http_requests_total", transport="toytls", protocol="HTTP/1.1",
                 code="2xx")
        after = self.scrape_when(lambda s: s[ok] >= before[ok] + 3, "3 toy-TLS 2xx counted")
        self.assertEqual(after[ok] - before[ok], 3)
        for name, labels, delta in (
                ("keyward_handshakes_total", {"transport": "toytls"}, 3),
                ("keyward_connections_accepted_total", {"transport": "toytls"}, 3),
                ("keyward_http_response_body_bytes_total", {"transport": "toytls"},
                 3 * len(INDEX)),
                ("keyward_signer_requests_total", {}, 3),
                ("keyward_signer_signatures_total", {"key_type": "rsa"}, 3),
                ("keyward_signer_signatures_total", {"key_type": "ecdsa"}, 0),
                ("keyward_signer_round_trip_seconds_count", {}, 3),
                ("keyward_signer_refusals_total", {"reason": "busy"}, 0)):
            k = key(name, **labels)
            self.assertEqual(after[k] - before[k], delta, k)
        self.assertGreater(after[key("keyward_signer_round_trip_seconds_sum")],
                           before[key("keyward_signer_round_trip_seconds_sum")])

    def test_tls13_counters_resumption_needs_no_signature(self):
        before = self.scrape()
        ctx = self.tls13_context()
        body, session, resumed = self.tls13_get(ctx)
        self.assertEqual(body, INDEX)
        self.assertFalse(resumed)
        body, _, resumed = self.tls13_get(ctx, session=session)
        self.assertEqual(body, INDEX)
        self.assertTrue(resumed, "the second handshake resumed the session")
        ok = key("keyward_http_requests_total", transport="tls13", protocol="HTTP/1.1",
                 code="2xx")
        after = self.scrape_when(lambda s: s[ok] >= before[ok] + 2, "2 TLS 1.3 2xx counted")
        for name, labels, delta in (
                ("keyward_http_requests_total", {"transport": "tls13", "protocol": "HTTP/1.1",
                                                 "code": "2xx"}, 2),
                ("keyward_handshakes_total", {"transport": "tls13"}, 2),
                ("keyward_tls_resumed_handshakes_total", {"transport": "tls13"}, 1),
                ("keyward_signer_signatures_total", {"key_type": "rsa"}, 1),
                ("keyward_signer_requests_total", {}, 1),
                ("keyward_http_response_body_bytes_total", {"transport": "tls13"},
                 2 * len(INDEX))):
            k = key(name, **labels)
            self.assertEqual(after[k] - before[k], delta, k)

    def test_connections_held_by_keyward_bench_finish_their_handshakes(self):
        # keyward-bench --hold over https:// sends its Finished: the server counts the
        # connections it holds as idle TLS 1.3 connections, not as handshaking ones
        bench = os.path.join(kwtest.BUILD, "tools", "keyward-bench")
        before = self.scrape()
        p = subprocess.Popen([bench, "--hold", "60", "-c", "3", "--insecure",
                              "https://127.0.0.1:%d/" % self.site.tls13_port],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            self.assertIn("holding 3 connections", p.stderr.readline())
            idle = key("keyward_connections", transport="tls13", state="idle")
            done = key("keyward_handshakes_total", transport="tls13")
            after = self.scrape_when(lambda s: s[idle] == 3 and s[done] == before[done] + 3,
                                     "3 idle TLS 1.3 connections, their handshakes done")
            self.assertEqual(after[key("keyward_connections", transport="tls13",
                                       state="handshaking")], 0)
        finally:
            p.terminate()
            p.communicate(timeout=30)

    def test_http2_streams_counted_under_their_protocol(self):
        before = self.scrape()
        res = subprocess.run(
            ["curl", "-sS", "--http2", "--cacert", self.site.root_pem, "--resolve",
             "localhost:%d:127.0.0.1" % self.site.tls13_port, "-w", "%{http_version}",
             "https://localhost:%d/index.html" % self.site.tls13_port,
             "https://localhost:%d/missing" % self.site.tls13_port],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, check=True)
        self.assertTrue(res.stdout.startswith(INDEX), res.stdout)
        self.assertTrue(res.stdout.endswith(b"2"), res.stdout)
        ok = key("keyward_http_requests_total", transport="tls13", protocol="HTTP/2.0",
                 code="2xx")
        nf = key("keyward_http_requests_total", transport="tls13", protocol="HTTP/2.0",
                 code="4xx")
        after = self.scrape_when(lambda s: s[ok] > before[ok] and s[nf] > before[nf],
                                 "the HTTP/2 streams counted")
        self.assertEqual(after[ok] - before[ok], 1)
        self.assertEqual(after[nf] - before[nf], 1)
        k = key("keyward_handshakes_total", transport="tls13")
        self.assertEqual(after[k] - before[k], 1, "one connection for both streams")

    def test_failed_handshakes_counted_by_reason(self):
        before = self.scrape()
        for port in (self.site.tls_port, self.site.tls13_port):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"GET / HTTP/1.1\r\n\r\n" + b"\0" * 64)
                kwtest.read_until_eof(s)
            socket.create_connection(("127.0.0.1", port), timeout=10).close()
        want = {(t, r): 1 for t in ("toytls", "tls13") for r in ("protocol", "client_closed")}

        def counted(s):
            return all(s[key("keyward_handshake_failures_total", transport=t, reason=r)] -
                       before[key("keyward_handshake_failures_total", transport=t, reason=r)]
                       >= n for (t, r), n in want.items())

        after = self.scrape_when(counted, "the failed handshakes counted")
        for (t, r), n in want.items():
            k = key("keyward_handshake_failures_total", transport=t, reason=r)
            self.assertEqual(after[k] - before[k], n, k)
        for t in ("toytls", "tls13"):
            k = key("keyward_handshakes_total", transport=t)
            self.assertEqual(after[k], before[k], k)

    # -- totals across reload and respawn ---------------------------------------------

    def test_totals_never_go_down_across_reload_and_respawns(self):
        self.toytls_get(2)
        self.http("/index.html")
        first = self.scrape()
        history = [first]
        stop = threading.Event()
        phase = ["reload"]
        errors = []

        def scraper():
            while not stop.is_set():
                try:
                    history.append(self.scrape())
                except (OSError, ValueError, IndexError, AssertionError) as e:
                    # a killed worker takes its connections along; a reload must not
                    errors.append((phase[0], e))

        thread = threading.Thread(target=scraper)
        thread.start()
        try:
            mark = self.site.log.mark()
            self.site.proc.send_signal(signal.SIGHUP)
            self.site.log.wait_for(r"ready: generation \d+, 2 workers", since=mark)
            self.site.log.wait_for(r"generation \d+: every process exited", since=mark)
            self.toytls_get(1)
            phase[0] = "respawn"
            for role in ("worker", "signer"):
                mark = self.site.log.mark()
                os.kill(self.site.children(role)[0], signal.SIGKILL)
                self.site.log.wait_for(r"%s.* ready: pid" % role, since=mark)
            self.toytls_get(1)
        finally:
            stop.set()
            thread.join(timeout=60)
        self.assertEqual([e for e in errors if e[0] == "reload"], [])
        last = self.scrape()
        history.append(last)
        self.assertGreater(len(history), 3)
        for prev, cur in zip(history, history[1:]):
            for k, v in prev.items():
                if k[0].endswith("_total") or k[0].endswith("_count") or \
                        k[0].endswith("_bucket"):
                    self.assertGreaterEqual(cur[k], v, k)
        self.assertEqual(last[key("keyward_reloads_total")] -
                         first[key("keyward_reloads_total")], 1)
        self.assertEqual(last[key("keyward_generation")], first[key("keyward_generation")] + 1)
        self.assertEqual(last[key("keyward_worker_restarts_total")] -
                         first[key("keyward_worker_restarts_total")], 1)
        self.assertEqual(last[key("keyward_signer_restarts_total")] -
                         first[key("keyward_signer_restarts_total")], 1)
        sig = key("keyward_signer_signatures_total", key_type="rsa")
        self.assertEqual(last[sig] - first[sig], 2)
        self.assertEqual(last[key("keyward_start_time_seconds")],
                         first[key("keyward_start_time_seconds")])
        self.assertEqual(last[key("keyward_signer_in_flight")], 0)


if __name__ == "__main__":
    kwtest.main()

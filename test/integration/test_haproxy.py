#!/usr/bin/env python3
"""keyward behind Debian's haproxy, the scale-out shape: haproxy in TCP mode sends the
PROXY protocol (v2, and v1 on one frontend) to two keyward instances. Clients bound to
127.0.0.2 talk plain HTTP, toy-TLS and TLS 1.3 through it; each access-log line must
show 127.0.0.2, not haproxy's 127.0.0.1. Then one instance stops: once haproxy's
health check has marked it DOWN (read from haproxy's stats socket), no request is
lost."""

import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import unittest

import kwtest
import toytls_ref
from test_proxy_protocol import ProxySite

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
CLIENT = "127.0.0.2"  # not haproxy's source address: the check cannot pass by accident
PAGE = b"<h1>behind haproxy</h1>\n"
KINDS = ("plain", "toy", "tls13", "v1")


def request(host="localhost"):
    return ("GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host).encode()


def client_socket(port):
    s = socket.socket()
    s.settimeout(30)
    s.bind((CLIENT, 0))
    s.connect(("127.0.0.1", port))
    return s


def fetch(kind, port, root_pem):
    """One GET through haproxy's frontend port over kind's transport; the response."""
    s = client_socket(port)
    try:
        if kind == "toy":
            with open(root_pem, "rb") as f:
                c = toytls_ref.Client(s, f.read())
            c.handshake()
            c.send(request())
            return c.recv_all()
        if kind == "tls13":
            ctx = ssl.create_default_context(cafile=root_pem)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
            with ctx.wrap_socket(s, server_hostname="localhost") as t:
                t.sendall(request())
                return kwtest.read_until_eof(t)
        s.sendall(request())
        return kwtest.read_until_eof(s)
    finally:
        s.close()


class Haproxy:
    """haproxy started on a generated configuration, reaped by stop()."""

    def __init__(self, sites):
        self.dir = tempfile.mkdtemp(prefix="keyward-haproxy-")
        self.stats = os.path.join(self.dir, "stats.sock")
        self.ports = {kind: kwtest.free_port() for kind in KINDS}
        lines = ["global", "    stats socket %s mode 600 level admin" % self.stats,
                 "defaults", "    mode tcp", "    timeout connect 5s",
                 "    timeout client 30s", "    timeout server 30s"]
        for kind in KINDS:
            target = "plain" if kind == "v1" else kind
            send = "send-proxy" if kind == "v1" else "send-proxy-v2"
            lines += ["frontend fe_%s" % kind,
                      "    bind 127.0.0.1:%d" % self.ports[kind],
                      "    default_backend be_%s" % kind,
                      "backend be_%s" % kind,
                      "    balance roundrobin",
                      "    option httpchk GET /",
                      "    http-check expect status 200"]
            for i, site in enumerate(sites):
                lines.append("    server k%d 127.0.0.1:%d %s check check-send-proxy port %d "
                             "inter 100 fall 1 rise 1"
                             % (i, site.proxy_ports[target], send, site.proxy_ports["plain"]))
        self.conf = os.path.join(self.dir, "haproxy.cfg")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        check = subprocess.run([HAPROXY, "-c", "-f", self.conf], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
        if check.returncode != 0:
            raise AssertionError("haproxy -c: " + check.stdout.decode(errors="replace"))
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", self.conf],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self.log = kwtest.LogWatcher(self.proc.stderr)

    def command(self, cmd):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(self.stats)
            s.sendall(cmd.encode() + b"\n")
            return kwtest.read_until_eof(s).decode()

    def states(self):
        """{(backend, server): status} from `show stat`; {} while the socket is not up."""
        try:
            text = self.command("show stat")
        except OSError:
            return {}
        rows = [line.split(",") for line in text.splitlines() if line]
        if not rows or not rows[0][0].startswith("# "):
            return {}
        header = rows[0]
        header[0] = header[0][2:]
        col = {name: i for i, name in enumerate(header)}
        return {(r[col["pxname"]], r[col["svname"]]): r[col["status"]] for r in rows[1:]
                if r[col["svname"]] not in ("FRONTEND", "BACKEND")}

    def wait_servers(self, want, what):
        """Until every server k<i> is in state want[i] on every backend."""
        def reached():
            states = self.states()
            return states and all(states.get(("be_" + kind, "k%d" % i)) == s
                                  for kind in KINDS for i, s in enumerate(want))
        kwtest.wait_until(reached, timeout=30, what=what)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.thread.join(timeout=5)
        shutil.rmtree(self.dir, ignore_errors=True)


class HaproxyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sites = []
        cls.haproxy = None
        try:
            for _ in range(2):
                site = ProxySite(workers=1)
                cls.sites.append(site)
                site.put("index.html", PAGE)
                site.start()
            cls.haproxy = Haproxy(cls.sites)
            cls.haproxy.wait_servers(["UP", "UP"], "both instances UP in haproxy")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.haproxy is not None:
            cls.haproxy.stop()
        for site in cls.sites:
            site.cleanup()

    def client_lines(self, site):
        return [line for line in site.access_lines() if line.split(" ")[0] == CLIENT]

    def run_requests(self, rounds):
        """rounds GETs on every frontend; each must be answered with the page."""
        for kind in KINDS:
            for _ in range(rounds):
                reply = fetch(kind, self.haproxy.ports[kind], self.sites[0].root_pem)
                self.assertTrue(reply.startswith(b"HTTP/1.1 200 "), (kind, reply[:200]))
                self.assertTrue(reply.endswith(PAGE), kind)

    def wait_client_lines(self, total):
        def count():
            n = sum(len(self.client_lines(site)) for site in self.sites if site.proc)
            return n >= total and n
        return kwtest.wait_until(count, what="%d access log lines from %s" % (total, CLIENT))

    def test_1_client_address_reaches_both_instances(self):
        before = [len(self.client_lines(s)) for s in self.sites]
        self.run_requests(4)
        self.assertEqual(self.wait_client_lines(sum(before) + 4 * len(KINDS)),
                         sum(before) + 4 * len(KINDS))
        for i, site in enumerate(self.sites):
            self.assertGreater(len(self.client_lines(site)), before[i],
                               "instance %d got no request" % i)
            for line in site.access_lines():
                self.assertIn(line.split(" ")[0], (CLIENT, "127.0.0.1"), line)
        # haproxy's own health checks (v2 LOCAL) keep its address; nothing else does
        self.assertNotIn("malformed PROXY", self.sites[0].log.text())

    def test_2_stopping_an_instance_loses_nothing_once_haproxy_knows(self):
        self.sites[1].stop()
        self.haproxy.wait_servers(["UP", "DOWN"], "instance 1 DOWN in haproxy")
        before = len(self.client_lines(self.sites[0]))
        self.run_requests(5)
        lines = kwtest.wait_until(
            lambda: len(self.client_lines(self.sites[0])) >= before + 5 * len(KINDS)
            and self.client_lines(self.sites[0]), what="every request at instance 0")
        self.assertEqual(len(lines), before + 5 * len(KINDS))


if __name__ == "__main__":
    kwtest.main()

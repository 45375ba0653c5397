#!/usr/bin/python3
"""TLS 1.3 with the key in the signer: three sites (RSA-2048, ECDSA P-256, Ed25519, each
from its own root) on one TLS 1.3 port, chosen by SNI, and a plain port.

Real clients (curl, openssl s_client, gnutls-cli, Python's ssl, wget, keyward-get) fetch
a file byte for byte from each site; TLS 1.2 gets a protocol_version alert; a wrong SNI
gets the default site; tickets resume without a signature; a stopped signer fails full
handshakes within the signing timeout while resumed ones and plain HTTP go on; 300
handshakes parked at once all complete; hostile clients offering every signature scheme
and group alone (and none in common) get alerts while no worker or signer is replaced; a
reload rotates the leaf with no failed request; after 100 handshakes keyward-inspect
finds key fragments in the signer only; bytes sent while a handshake is parked stay unread
in the socket without the worker spinning; a closing response's end, its close_notify and
the FIN leave in one segment.
"""

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import unittest

import kwtest
from test_http import SegmentCapture

# name -> key type for keyward-certs
SITES = {"localhost": "rsa", "ec.test": "ecdsa", "ed.test": "ed25519"}
DEFAULT = "localhost"
BIG = bytes((i * 7 + i // 251) % 256 for i in range(300000))

SCHEMES = ["ecdsa_secp256r1_sha256", "ecdsa_secp384r1_sha384", "ecdsa_secp521r1_sha512",
           "ed25519", "ed448", "rsa_pss_pss_sha256", "rsa_pss_pss_sha384",
           "rsa_pss_pss_sha512", "rsa_pss_rsae_sha256", "rsa_pss_rsae_sha384",
           "rsa_pss_rsae_sha512", "rsa_pkcs1_sha256", "rsa_pkcs1_sha384", "rsa_pkcs1_sha512",
           "ecdsa_sha224", "rsa_pkcs1_sha1", "ecdsa_sha1"]
GROUPS = ["X25519", "P-256", "P-384", "P-521", "X448", "ffdhe2048", "ffdhe3072", "ffdhe4096",
          "ffdhe6144", "ffdhe8192"]


def page(name):
    return ("<h1>%s over TLS 1.3</h1>\n" % name).encode()


def run(args, check=True, timeout=60, input=None):
    res = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                         input=input)
    if check and res.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(args), res.returncode,
                                                     res.stderr.decode(errors="replace")))
    return res


def unread_bytes(local_port, peer_port):
    """Bytes received and not yet read by the server's end of a 127.0.0.1 connection."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if (int(fields[1].split(":")[1], 16) == local_port
                    and int(fields[2].split(":")[1], 16) == peer_port):
                return int(fields[4].split(":")[1], 16)
    return None


def cpu_seconds(pid):
    """User and system time of a process."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Tls13Site(kwtest.Site):
    """One TLS 1.3 port and one plain port shared by three sites; rsa.test is the default.
    The log level is debug, so that each signature the signer makes is counted."""

    def __init__(self, tls13="", **kwargs):
        self.tls13 = tls13
        self.certs_of = None
        super().__init__(**kwargs)
        self.certs_of = {}
        self.roots = {}
        for name, key in SITES.items():
            label = name.replace(".", "-")
            self.certs_of[name] = kwtest.make_certs(os.path.join(self.dir, "certs-" + label),
                                                    key=key, name=name)
            self.roots[name] = self.add_root("www-" + label,
                                             {"index.html": page(name), "big.bin": BIG})
        self.write_config()

    def write_config(self, locations=None, server_extra=None):
        """The three sites on this site's ports (again after a port was taken)."""
        if not self.certs_of:
            return super().write_config(locations, server_extra)
        return self.write_servers([kwtest.server_block(
            [name], [(self.plain_port, False), (self.tls_port, "tls13")], self.roots[name],
            certs=self.certs_of[name], default=name == DEFAULT) for name in SITES])

    def settings(self):
        return super().settings().replace('log_level = "info";', 'log_level = "debug";') + (
            "tls13 = { %s };\n" % self.tls13)

    def root_file(self, name):
        return os.path.join(self.certs_of[name], "root_cert.pem")

    def signatures(self):
        return len(re.findall(r"sign_stub: TLS 1\.3 CertificateVerify signed", self.log.text()))

    def s_client(self, name, *args, sess_out=None, sess_in=None, request=None, timeout=30):
        cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.tls_port,
               "-servername", name, "-CAfile", self.root_file(name), "-verify_return_error",
               *args]
        if sess_out:
            cmd += ["-sess_out", sess_out]
        if sess_in:
            cmd += ["-sess_in", sess_in]
        data = request if request is not None else (
            "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % name).encode()
        return run(cmd + ["-ign_eof"], check=False, timeout=timeout, input=data)


class Tls13Test(kwtest.SiteTestCase):
    site_class = Tls13Site
    site_args = {"signer_extra": 'timeout = "2s";'}

    def url(self, name, path="/"):
        return "https://%s:%d%s" % (name, self.site.tls_port, path)

    def resolve(self, name):
        return "%s:%d:127.0.0.1" % (name, self.site.tls_port)

    def pids(self):
        return sorted(self.site.children("worker")), self.site.children("signer")

    # -- every client, every key ------------------------------------------------------

    def test_curl(self):
        for name in SITES:
            res = run(["curl", "-sS", "--tlsv1.3", "--cacert", self.site.root_file(name),
                       "--resolve", self.resolve(name), self.url(name, "/big.bin")])
            self.assertEqual(res.stdout, BIG, name)
            res = run(["curl", "-sS", "--cacert", self.site.root_file(name), "-w",
                       "%{http_version} %{ssl_verify_result}", "-o", "/dev/null",
                       "--resolve", self.resolve(name), self.url(name)])
            self.assertEqual(res.stdout, b"2 0", name)

    def test_openssl_s_client(self):
        for name in SITES:
            res = self.site.s_client(name, "-tls1_3", "-quiet", request=(
                "GET /big.bin HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                % name).encode())
            self.assertEqual(res.returncode, 0, res.stderr)
            self.assertTrue(res.stdout.endswith(b"\r\n\r\n" + BIG), name)

    @unittest.skipUnless(shutil.which("gnutls-cli"), "gnutls-cli (gnutls-bin) is missing")
    def test_gnutls_cli(self):
        for name in SITES:
            res = run(["gnutls-cli", "--x509cafile", self.site.root_file(name),
                       "--sni-hostname", name, "--verify-hostname", name,
                       "--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.3", "--logfile", "/dev/null",
                       "-p", str(self.site.tls_port), "127.0.0.1"],
                      input=("GET /big.bin HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                             % name).encode())
            self.assertTrue(res.stdout.endswith(b"\r\n\r\n" + BIG), name)

    def test_python_ssl(self):
        for name in SITES:
            ctx = ssl.create_default_context(cafile=self.site.root_file(name))
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
            ctx.set_alpn_protocols(["http/1.1"])
            with socket.create_connection(("127.0.0.1", self.site.tls_port), timeout=30) as raw:
                with ctx.wrap_socket(raw, server_hostname=name) as s:
                    self.assertEqual(s.version(), "TLSv1.3")
                    self.assertEqual(s.selected_alpn_protocol(), "http/1.1")
                    s.sendall(("GET /big.bin HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                               % name).encode())
                    data = kwtest.read_until_eof(s)
            status, _, body = kwtest.split_responses(data)[0]
            self.assertEqual(status, 200)
            self.assertEqual(body, BIG, name)

    @unittest.skipUnless(shutil.which("wget"), "wget is missing")
    def test_wget(self):
        # wget cannot point a name at an address: it fetches the site named localhost
        res = run(["wget", "-q", "-O", "-", "--secure-protocol=TLSv1_3", "--ca-certificate",
                   self.site.root_file(DEFAULT),
                   "https://localhost:%d/big.bin" % self.site.tls_port])
        self.assertEqual(res.stdout, BIG)

    def test_keyward_get(self):
        for name in SITES:
            res = run([kwtest.KEYWARD_GET, "--root", self.site.root_file(name), "--name", name,
                       "https://127.0.0.1:%d/big.bin" % self.site.tls_port])
            self.assertEqual(res.stdout, BIG, name)
        # another site's root does not verify this one's chain
        res = run([kwtest.KEYWARD_GET, "--root", self.site.root_file("ec.test"), "--name",
                   "rsa.test", "https://127.0.0.1:%d/" % self.site.tls_port], check=False)
        self.assertEqual(res.returncode, 2)
        self.assertIn(b"certificate", res.stderr)

    def test_keyward_bench(self):
        bench = os.path.join(kwtest.BUILD, "tools", "keyward-bench")
        for mode in ([], ["--new-connection"]):
            res = run([bench, "-c", "2", "-n", "30", "--json", *mode, "--root",
                       self.site.root_file("ed.test"), "--name", "ed.test",
                       "https://127.0.0.1:%d/" % self.site.tls_port])
            report = json.loads(res.stdout)
            self.assertEqual(report["responses"], 30, mode)
            self.assertGreaterEqual(report["handshakes"], 30 if mode else 2, mode)
            self.assertEqual(report["errors"]["total"], 0, report)

    def test_keyward_bench_resumes(self):
        bench = os.path.join(kwtest.BUILD, "tools", "keyward-bench")
        before = self.site.signatures()
        res = run([bench, "-c", "1", "-n", "30", "--json", "--new-connection", "--resume",
                   "--root", self.site.root_file("ec.test"), "--name", "ec.test",
                   "https://127.0.0.1:%d/" % self.site.tls_port])
        report = json.loads(res.stdout)
        self.assertEqual(report["errors"]["total"], 0, report)
        self.assertEqual(report["handshakes"], 30)
        self.assertEqual(report["resumed"], 29, "every handshake but the first resumes")
        self.assertEqual(self.site.signatures(), before + 1)

    # -- what is refused --------------------------------------------------------------

    def test_tls12_and_older_get_protocol_version(self):
        res = self.site.s_client(DEFAULT, "-tls1_2")
        self.assertNotEqual(res.returncode, 0)
        self.assertIn(b"alert protocol version", res.stderr)
        ctx = ssl.create_default_context(cafile=self.site.root_file(DEFAULT))
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        with socket.create_connection(("127.0.0.1", self.site.tls_port), timeout=30) as raw:
            with self.assertRaisesRegex(ssl.SSLError, "PROTOCOL_VERSION"):
                ctx.wrap_socket(raw, server_hostname=DEFAULT)

    def test_wrong_sni_gets_the_default_site_and_a_wrong_host_421(self):
        res = run(["curl", "-sS", "-k", "--resolve", "nosuch.test:%d:127.0.0.1"
                   % self.site.tls_port, self.url("nosuch.test")])
        self.assertEqual(res.stdout, page(DEFAULT))
        res = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.site.tls_port,
                   "-servername", "nosuch.test", "-showcerts"], check=False,
                  input=b"", timeout=30)
        self.assertIn(b"CN = localhost", res.stdout)
        res = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
                   self.site.root_file("ec.test"), "-H", "Host: ed.test", "--resolve",
                   self.resolve("ec.test"), self.url("ec.test")])
        self.assertEqual(res.stdout, b"421")

    def test_hostile_schemes_and_groups_alert_and_replace_nothing(self):
        before = self.pids()
        mark = self.site.log.mark()
        outcomes = {}
        for name in SITES:
            for scheme in SCHEMES:
                res = self.site.s_client(name, "-tls1_3", "-sigalgs", scheme, timeout=30)
                outcomes[(name, scheme)] = res.returncode == 0
            for group in GROUPS:
                res = self.site.s_client(name, "-tls1_3", "-groups", group, timeout=30)
                outcomes[(name, group)] = res.returncode == 0
        # exactly the schemes each key signs with are served, and some group is
        self.assertTrue(outcomes[(DEFAULT, "rsa_pss_rsae_sha256")])
        self.assertTrue(outcomes[(DEFAULT, "rsa_pss_rsae_sha512")])
        self.assertTrue(outcomes[("ec.test", "ecdsa_secp256r1_sha256")])
        self.assertTrue(outcomes[("ed.test", "ed25519")])
        self.assertFalse(outcomes[(DEFAULT, "rsa_pkcs1_sha256")])
        self.assertFalse(outcomes[("ec.test", "ecdsa_secp384r1_sha384")])
        self.assertFalse(outcomes[("ed.test", "ed448")])
        self.assertTrue(outcomes[("ec.test", "X25519")])
        # no scheme in common: a handshake_failure alert
        res = self.site.s_client("ed.test", "-tls1_3", "-sigalgs", "rsa_pss_rsae_sha256")
        self.assertIn(b"handshake failure", res.stderr)
        self.assertEqual(self.pids(), before)
        self.assertNotRegex("\n".join(self.site.log.lines[mark:]), r"broke the signer protocol")
        self.assertEqual(self.site.get("/").stdout, page(DEFAULT))

    # -- resumption ---------------------------------------------------------------------

    def test_resumption_makes_no_signature(self):
        tmp = tempfile.mkdtemp(prefix="keyward-sess-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        for name in SITES:
            sess = os.path.join(tmp, name)
            res = self.site.s_client(name, "-tls1_3", sess_out=sess)
            self.assertEqual(res.returncode, 0, res.stderr)
            self.assertIn(b"New, TLSv1.3", res.stdout)
            before = self.site.signatures()
            res = self.site.s_client(name, "-tls1_3", sess_in=sess)
            self.assertEqual(res.returncode, 0, res.stderr)
            self.assertIn(b"Reused, TLSv1.3", res.stdout)
            self.assertIn(page(name), res.stdout)
            self.assertEqual(self.site.signatures(), before,
                             "a resumed handshake made the signer sign")

    def test_stopped_signer_fails_full_handshakes_only(self):
        tmp = tempfile.mkdtemp(prefix="keyward-sess-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        sess = os.path.join(tmp, "sess")
        self.assertEqual(self.site.s_client("ec.test", "-tls1_3", sess_out=sess).returncode, 0)
        [signer] = self.site.children("signer")
        kwtest.stop_process(signer)
        try:
            mark = self.site.log.mark()
            res = self.site.s_client("ec.test", "-tls1_3", timeout=20)
            self.assertNotEqual(res.returncode, 0)
            self.site.log.wait_for(r"signer did not answer in time", since=mark)
            res = self.site.s_client("ec.test", "-tls1_3", sess_in=sess, timeout=20)
            self.assertIn(b"Reused, TLSv1.3", res.stdout)
            self.assertIn(page("ec.test"), res.stdout)
            self.assertEqual(self.site.get("/").stdout, page(DEFAULT))
        finally:
            os.kill(signer, signal.SIGCONT)
        res = self.site.s_client("ec.test", "-tls1_3")
        self.assertEqual(res.returncode, 0, res.stderr)
    def test_closing_response_carries_the_close_notify_and_the_fin(self):
        """The end of a response the connection closes after, the close_notify and the FIN
        leave in one segment."""
        try:
            capture = SegmentCapture(self.site.tls_port)
        except PermissionError:
            self.skipTest("capturing on lo needs CAP_NET_RAW")
        ctx = ssl.create_default_context(cafile=self.site.root_file("ec.test"))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        try:
            with socket.create_connection(("127.0.0.1", self.site.tls_port), timeout=30) as raw:
                client_port = raw.getsockname()[1]
                with ctx.wrap_socket(raw, server_hostname="ec.test") as s:
                    s.sendall(b"GET / HTTP/1.1\r\nHost: ec.test\r\nConnection: close\r\n\r\n")
                    body = kwtest.split_responses(kwtest.read_until_eof(s))[0][2]
            seen = capture.until(client_port, lambda seg: seg[0] & 0x01)
        finally:
            capture.close()
        self.assertEqual(body, page("ec.test"))
        fins = [seg for seg in seen if seg[0] & 0x01]
        self.assertEqual(len(fins), 1, seen)
        # the response's last record and the close_notify (24 bytes) ride with the FIN
        self.assertGreater(fins[0][1], 24, "the FIN did not carry the response's end: %r" % seen)

class ParkedTest(kwtest.SiteTestCase):
    """Handshakes parked while the signer is stopped: 300 of them (past the job cap they
    queue) all complete once it goes on, and a parked one leaves what its client sends in
    the socket. The signing timeout is long enough for any of that."""

    site_class = Tls13Site
    site_args = {"signer_extra": 'timeout = "60s";', "tls13": "max_parked = 64;"}

    def test_300_parked_handshakes_complete(self):
        [signer] = self.site.children("signer")
        ctx = ssl.create_default_context(cafile=self.site.root_file("ec.test"))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.options |= ssl.OP_NO_TICKET
        results = []
        lock = threading.Lock()
        connected = threading.Semaphore(0)

        def one():
            try:
                with socket.create_connection(("127.0.0.1", self.site.tls_port),
                                              timeout=60) as raw:
                    connected.release()
                    with ctx.wrap_socket(raw, server_hostname="ec.test") as s:
                        s.sendall(b"GET / HTTP/1.1\r\nHost: ec.test\r\n"
                                  b"Connection: close\r\n\r\n")
                        body = kwtest.split_responses(kwtest.read_until_eof(s))[0][2]
                with lock:
                    results.append(body)
            except OSError as e:
                connected.release()
                with lock:
                    results.append(e)

        kwtest.stop_process(signer)
        threads = [threading.Thread(target=one) for _ in range(300)]
        try:
            for t in threads:
                t.start()
            for _ in threads:
                connected.acquire(timeout=60)
        finally:
            os.kill(signer, signal.SIGCONT)
        for t in threads:
            t.join(timeout=120)
        self.assertEqual(len(results), 300)
        failures = [r for r in results if r != page("ec.test")]
        self.assertEqual(failures, [])

    def test_input_while_parked_waits_in_the_socket(self):
        """Bytes that come while the handshake waits for its signature stay in the socket,
        unwatched (the worker does not spin on them), and are read once it goes on. The name
        is one no other connection sends, so the log line that says the ClientHello was read
        is this connection's; the signer's timeout (60 s here) cannot end the wait first."""
        ctx = ssl.create_default_context(cafile=self.site.root_file("ec.test"))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        client = ctx.wrap_bio(incoming, outgoing, server_hostname="parked.test")
        with self.assertRaises(ssl.SSLWantReadError):
            client.do_handshake()
        hello, junk = outgoing.read(), b"\x17\x03\x03\x00\x05hello"
        [signer] = self.site.children("signer")
        workers = self.site.children("worker")
        kwtest.stop_process(signer)
        try:
            with socket.create_connection(("127.0.0.1", self.site.tls_port),
                                          timeout=30) as s:
                port = s.getsockname()[1]
                mark = self.site.log.mark()
                s.sendall(hello)
                self.site.log.wait_for(r'tls13_select: server_name "parked\.test"', since=mark)
                s.sendall(junk)  # the handshake is parked: the signer is stopped
                kwtest.wait_until(
                    lambda: unread_bytes(self.site.tls_port, port) == len(junk),
                    what="the bytes in the server's socket, unread")
                cpu = sum(cpu_seconds(pid) for pid in workers)
                threading.Event().wait(0.3)  # a worker spinning on the socket shows here
                self.assertLess(sum(cpu_seconds(pid) for pid in workers) - cpu, 0.1)
                os.kill(signer, signal.SIGCONT)
                got = kwtest.read_until_eof(s)
        finally:
            os.kill(signer, signal.SIGCONT)
        self.assertEqual(got[:1], b"\x16")  # the server's flight, then the junk refused
        self.assertEqual(self.site.children("signer"), [signer])
        self.assertEqual(self.site.children("worker"), workers)



def leaf_der_over_tls13(port, name, cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as s:
            s.sendall(("GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                       % name).encode())
            status, _, body = kwtest.split_responses(kwtest.read_until_eof(s))[0]
            return status, body, s.getpeercert(binary_form=True)


class ReloadTest(kwtest.SiteTestCase):
    """A reload with a new leaf and key: TLS 1.3 serves the new leaf, and requests made
    all through the reload, resumed ones included, never fail."""

    site_class = Tls13Site

    def test_reload_rotates_the_leaf_without_a_failed_request(self):
        name, certs = "ec.test", self.site.certs_of["ec.test"]
        cafile = os.path.join(certs, "root_cert.pem")
        _, _, old_leaf = leaf_der_over_tls13(self.site.tls_port, name, cafile)
        fresh = tempfile.mkdtemp(prefix="keyward-rotated-")
        self.addCleanup(shutil.rmtree, fresh, True)
        run([kwtest.KEYWARD_CERTS, fresh, "--name", name, "--key", "ecdsa"])
        stop = threading.Event()
        failures, done = [], []

        def load():
            while not stop.is_set():
                try:
                    # the root changes with the leaf: trust both while they change
                    roots = b""
                    for path in (cafile, os.path.join(fresh, "root_cert.pem")):
                        with open(path, "rb") as f:
                            roots += f.read()
                    ctx = ssl.create_default_context(cadata=roots.decode())
                    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
                    with socket.create_connection(("127.0.0.1", self.site.tls_port),
                                                  timeout=30) as raw:
                        with ctx.wrap_socket(raw, server_hostname=name) as s:
                            s.sendall(b"GET / HTTP/1.1\r\nHost: ec.test\r\n"
                                      b"Connection: close\r\n\r\n")
                            body = kwtest.split_responses(kwtest.read_until_eof(s))[0][2]
                    (done if body == page(name) else failures).append(body)
                except (OSError, ValueError) as e:
                    failures.append(e)

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            kwtest.wait_until(lambda: len(done) >= 20, what="requests before the reload")
            for f in ("server_cert.pem", "server_key.pem", "intermediate_cert.pem"):
                shutil.copyfile(os.path.join(fresh, f), os.path.join(certs, f))
            os.chmod(os.path.join(certs, "server_key.pem"), 0o600)
            mark = self.site.log.mark()
            self.site.proc.send_signal(signal.SIGHUP)
            self.site.log.wait_for(r"ready: generation 2, %d workers" % self.site.workers,
                                   since=mark)
            self.site.log.wait_for(r"generation 1: every process exited", since=mark)
            count = len(done)
            kwtest.wait_until(lambda: len(done) >= count + 20, what="requests after it")
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
        self.assertEqual(failures, [])
        shutil.copyfile(os.path.join(fresh, "root_cert.pem"), cafile)
        status, body, leaf = leaf_der_over_tls13(self.site.tls_port, name, cafile)
        self.assertEqual((status, body), (200, page(name)))
        self.assertNotEqual(leaf, old_leaf)


@unittest.skipUnless(kwtest.IS_ROOT and kwtest.user_exists(kwtest.WORKER_USER)
                     and kwtest.user_exists(kwtest.SIGNER_USER),
                     "keyward-inspect's memory scan needs root and the system users")
class InspectTest(kwtest.SiteTestCase):
    """After 100 TLS 1.3 handshakes (every key type), keyward-inspect finds key fragments
    in the signer only: the workers' provider keys hold public halves."""

    site_class = Tls13Site

    def test_no_key_fragment_outside_the_signer(self):
        names = list(SITES)
        for i in range(100):
            name = names[i % len(names)]
            status, body, _ = leaf_der_over_tls13(self.site.tls_port, name,
                                                  self.site.root_file(name))
            self.assertEqual((status, body), (200, page(name)))
        self.assertGreaterEqual(self.site.signatures(), 100)
        inspect = os.path.join(kwtest.BUILD, "tools", "keyward-inspect")
        res = run([inspect, "--json", "-c", self.site.conf], check=False, timeout=300)
        report = json.loads(res.stdout)
        self.assertTrue(report["memory_scan"]["performed"])
        self.assertEqual(report["failures"], [], res.stderr)
        for proc in report["processes"]:
            frags = proc["key_fragments"]
            self.assertTrue(frags["scanned"], frags["error"])
            if proc["role"] == "signer":
                self.assertGreaterEqual(frags["hits"], 1, "the scanner's positive control")
            else:
                self.assertEqual(frags["hits"], 0, proc)


class TicketsOffTest(kwtest.SiteTestCase):
    """tls13.session_tickets = false: no ticket, so no resumption."""

    site_class = Tls13Site
    site_args = {"tls13": "session_tickets = false;"}

    def test_no_resumption(self):
        tmp = tempfile.mkdtemp(prefix="keyward-sess-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        sess = os.path.join(tmp, "sess")
        res = self.site.s_client(DEFAULT, "-tls1_3", sess_out=sess)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn(page(DEFAULT), res.stdout)
        self.assertNotIn(b"New Session Ticket", res.stdout)
        self.assertFalse(os.path.exists(sess), "a session was saved without a ticket")


if __name__ == "__main__":
    kwtest.main()

#!/usr/bin/python3
"""Reloads (SIGHUP) of the real master: under continuous load on both transports, with
a rotated key, with a broken configuration, with downloads in flight, with listeners
that change, and with a second SIGHUP arriving during a reload.

The helpers at the top (OpsSite, Load, downloads) are shared with test_ops.py.
"""

import errno
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

import kwtest
import toytls_ref as ref

PAGE = b"<h1>served by keyward</h1>\n"
BIG_SIZE = 80 * 1024 * 1024
REQUEST_TIMEOUT = 20


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class FileLog:
    """An error log written to a file: tests wait for lines the way LogWatcher does."""

    def __init__(self, path):
        self.path = path

    def text(self):
        try:
            with open(self.path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def mark(self):
        return len(self.text().splitlines())

    def wait_for(self, pattern, since=0, timeout=30):
        regex = re.compile(pattern)

        def found():
            for line in self.text().splitlines()[since:]:
                if regex.search(line):
                    return line
            return None
        try:
            return kwtest.wait_until(found, timeout, "a line matching %r in %s" % (pattern, self.path))
        except AssertionError:
            raise AssertionError("no line matching %r in %s:\n%s"
                                 % (pattern, self.path, self.text()[-4000:]))


class OpsSite(kwtest.Site):
    """A Site whose configuration can list several listeners, log to files, and change
    between reloads; the configuration file is replaced atomically on every write."""

    def __init__(self, workers=2, **options):
        self.options = {
            "plain_ports": None, "tls_ports": None, "root": "www", "error_log": "stderr",
            "access_log": "off", "shutdown_timeout": "60s", "pid_file": "keyward.pid",
            "mime_types": None, "top": "",
        }
        self.options.update(options)
        super().__init__(workers=workers)
        with open(os.path.join(self.www, "page.txt"), "wb") as f:
            f.write(PAGE)

    def write_config(self, workers=None, **changes):
        if workers is not None:
            self.workers = workers
        self.options.update(changes)
        o = self.options
        plain = o["plain_ports"] or [self.plain_port]
        tls = o["tls_ports"] or [self.tls_port]
        user, signer_user = self.users()
        listen = ",\n      ".join(
            ['{ address = "127.0.0.1"; port = %d; }' % p for p in plain] +
            ['{ address = "127.0.0.1"; port = %d; tls = "toy"; }' % p for p in tls])
        lines = [
            "workers = %d;" % self.workers,
            user,
            'error_log = "%s";' % o["error_log"],
            'access_log = "%s";' % o["access_log"],
            'log_level = "info";',
            'pid_file = "%s";' % o["pid_file"] if o["pid_file"] else "",
            'shutdown_timeout = "%s";' % o["shutdown_timeout"],
            'mime_types = "%s";' % o["mime_types"] if o["mime_types"] else "",
            o["top"],
            "signer = { %s threads = 2; };" % signer_user,
            "servers = (",
            "  {",
            '    server_name = [ "localhost" ];',
            "    listen = (\n      %s\n    );" % listen,
            '    certificate = "certs/server_cert.pem";',
            '    certificate_key = "certs/server_key.pem";',
            '    certificate_chain = [ "certs/intermediate_cert.pem" ];',
            '    locations = ( { prefix = "/"; root = "%s"; } );' % o["root"],
            "  }",
            ");",
        ]
        self.write_text("\n".join(line for line in lines if line) + "\n")

    def write_text(self, text):
        tmp = self.conf + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.conf)

    def start(self, wait=True, env=None):
        self.proc = subprocess.Popen([kwtest.KEYWARD, "-c", self.conf], env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self.log = kwtest.LogWatcher(self.proc.stderr)
        if wait:
            self.events().wait_for(r"ready: generation 1, %d workers" % self.workers)
        return self

    def stop(self):
        proc = self.proc
        super().stop()
        if proc is not None and proc.stderr is not None:
            proc.stderr.close()

    def events(self):
        """Where the master's lines go: its stderr, or the error log file."""
        if self.options["error_log"] == "stderr":
            return self.log
        return FileLog(os.path.join(self.dir, self.options["error_log"]))

    def signal(self, sig):
        self.proc.send_signal(sig)

    def reload(self, generation):
        """SIGHUP, then waits until generation serves."""
        events = self.events()
        mark = events.mark()
        self.signal(signal.SIGHUP)
        events.wait_for(r"ready: generation %d, %d workers" % (generation, self.workers),
                        since=mark)

    def wait_exit(self, timeout=30):
        """Waits for the master to exit on its own; returns its exit status."""
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.log.thread.join(timeout=5)

    def tls_port_at(self, i=0):
        return (self.options["tls_ports"] or [self.tls_port])[i]

    def plain_port_at(self, i=0):
        return (self.options["plain_ports"] or [self.plain_port])[i]

    def root_pem_bytes(self):
        with open(self.root_pem, "rb") as f:
            return f.read()


def request_bytes(path):
    return ("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % path).encode()


def parse_response(data):
    """(status, body) of one Content-Length framed response that ends at EOF."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise AssertionError("no complete response head in %r" % data[:200])
    status = int(head.split(b" ", 2)[1])
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    if not length or int(length.group(1)) != len(body):
        raise AssertionError("body of %d bytes, head %r" % (len(body), head))
    return status, body


def plain_get(port, path="/page.txt"):
    with socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT) as s:
        s.sendall(request_bytes(path))
        return parse_response(kwtest.read_until_eof(s))


def tls_get(port, root_pem, path="/page.txt"):
    """(status, body, leaf DER) over toy-TLS with the independent client."""
    client = ref.connect(port, root_pem=root_pem, timeout=REQUEST_TIMEOUT)
    try:
        client.send(request_bytes(path))
        status, body = parse_response(client.recv_all())
        return status, body, client.certificates[0]
    finally:
        client.sock.close()


def leaf_der(pem_path):
    with open(pem_path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read()).public_bytes(Encoding.DER)


class Load:
    """Client threads that each loop one request per connection, checking every
    response, until stopped (and at most max_seconds): plain, toy-TLS, or both."""

    def __init__(self, site, plain=2, tls=2, max_seconds=180, body=PAGE):
        self.site = site
        self.body = body
        self.root = site.root_pem_bytes()
        self.stop_event = threading.Event()
        self.deadline = time.monotonic() + max_seconds
        self.lock = threading.Lock()
        self.failures = []
        self.names = ["plain%d" % i for i in range(plain)] + ["tls%d" % i for i in range(tls)]
        self.counts = {name: 0 for name in self.names}
        self.threads = [threading.Thread(target=self.loop, args=(name, name.startswith("tls")))
                        for name in self.names]

    def one(self, tls):
        if tls:
            status, body, _ = tls_get(self.site.tls_port_at(), self.root)
        else:
            status, body = plain_get(self.site.plain_port_at())
        if (status, body) != (200, self.body):
            raise AssertionError("status %d, body %r" % (status, body[:80]))

    def loop(self, name, tls):
        while not self.stop_event.is_set() and time.monotonic() < self.deadline:
            try:
                self.one(tls)
            except Exception as e:  # every failure is collected and asserted on
                with self.lock:
                    self.failures.append("%s: %r" % (name, e))
                continue
            with self.lock:
                self.counts[name] += 1

    def start(self):
        for t in self.threads:
            t.start()
        self.wait_progress(3)
        return self

    def snapshot(self):
        with self.lock:
            return dict(self.counts)

    def wait_progress(self, n):
        """Waits until every thread has made n more successful requests."""
        before = self.snapshot()
        kwtest.wait_until(lambda: all(count >= before[name] + n
                               for name, count in self.snapshot().items()),
                   timeout=60, what="progress of every load thread")

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=REQUEST_TIMEOUT * 2)
        return self.snapshot(), list(self.failures)


def make_big_file(site, name="big.bin", size=BIG_SIZE):
    """A sparse file with random blocks spread through it; returns its sha256."""
    path = os.path.join(site.www, name)
    with open(path, "wb") as f:
        f.truncate(size)
        for offset in range(0, size, size // 7):
            f.seek(offset)
            f.write(os.urandom(256 * 1024)[:max(0, min(256 * 1024, size - offset))])
    os.chmod(path, 0o644)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Download:
    """A large GET read in two parts: the first part_bytes now, the rest on finish()."""

    def __init__(self, site, path, tls, part_bytes=1 << 20):
        self.tls = tls
        self.buf = b""
        self.digest = hashlib.sha256()
        self.received = 0
        if tls:
            self.client = ref.connect(site.tls_port_at(), root_pem=site.root_pem_bytes(),
                                      timeout=60)
            self.sock = self.client.sock
            self.client.send(request_bytes(path))
        else:
            self.sock = socket.create_connection(("127.0.0.1", site.plain_port_at()),
                                                 timeout=60)
            self.sock.sendall(request_bytes(path))
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.read()
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        self.head = head.decode("latin-1")
        self.length = int(re.search(r"(?im)^content-length:\s*(\d+)", self.head).group(1))
        self.take(rest)
        while self.received < part_bytes:
            self.take(self.read())

    def read(self):
        data = self.client.recv() if self.tls else self.sock.recv(1 << 20)
        if not data:
            raise AssertionError("EOF after %d body bytes of %d" % (self.received,
                                                                    self.length))
        return data

    def take(self, data):
        self.digest.update(data)
        self.received += len(data)

    def finish(self):
        """Reads to EOF; returns (body length, sha256 hex)."""
        while True:
            data = self.client.recv() if self.tls else self.sock.recv(1 << 20)
            if not data:
                break
            self.take(data)
        self.sock.close()
        return self.received, self.digest.hexdigest()


class OpsTestCase(unittest.TestCase):
    """A test case with a fresh, started OpsSite per test (override site_args, prepare)."""

    site_class = OpsSite
    site_args = {}

    @classmethod
    def prepare(cls, site):
        pass

    def setUp(self):
        self.site = self.site_class(**self.site_args)
        self.prepare(self.site)
        self.addCleanup(self.site.cleanup)
        self.site.start()

    def assert_serves(self, body=PAGE):
        self.assertEqual(plain_get(self.site.plain_port_at()), (200, body))
        status, got, _ = tls_get(self.site.tls_port_at(), self.site.root_pem_bytes())
        self.assertEqual((status, got), (200, body))


class ReloadUnderLoadTest(OpsTestCase):
    def test_six_reloads_under_plain_and_toytls_load(self):
        load = Load(self.site, plain=2, tls=2)
        load.start()
        try:
            for generation in range(2, 8):
                self.site.reload(generation)
                load.wait_progress(3)
            for generation in range(1, 7):
                self.site.log.wait_for(r"generation %d: every process exited" % generation)
            load.wait_progress(2)
        finally:
            counts, failures = load.stop()
        self.assertEqual(failures, [])
        self.assertGreater(sum(counts.values()), 50, counts)
        self.assertEqual(len(self.site.children("worker")), 2)
        self.assertEqual(len(self.site.children("signer")), 1)


class KeyRotationTest(OpsTestCase):
    def test_replaced_certificate_and_key_are_served_after_reload(self):
        certs = self.site.certs
        status, _, old_leaf = tls_get(self.site.tls_port, self.site.root_pem_bytes())
        self.assertEqual(status, 200)
        self.assertEqual(leaf_der(os.path.join(certs, "server_cert.pem")), old_leaf)
        [old_signer] = self.site.children("signer")

        fresh = tempfile.mkdtemp(prefix="keyward-rotated-")
        self.addCleanup(shutil.rmtree, fresh, True)
        subprocess.run([kwtest.KEYWARD_CERTS, fresh, "--name", "localhost", "--key", "ecdsa"],
                       check=True, stdout=subprocess.DEVNULL)
        for name in ("server_cert.pem", "server_key.pem", "intermediate_cert.pem",
                     "root_cert.pem"):
            shutil.copyfile(os.path.join(fresh, name), os.path.join(certs, name))
        os.chmod(os.path.join(certs, "server_key.pem"), 0o600)
        new_leaf = leaf_der(os.path.join(fresh, "server_cert.pem"))
        self.assertNotEqual(new_leaf, old_leaf)

        self.site.reload(2)
        # until they exit, old workers may still answer a connection with the old identity
        self.site.log.wait_for(r"generation 1: every process exited")
        status, body, leaf = tls_get(self.site.tls_port, self.site.root_pem_bytes())
        self.assertEqual((status, body), (200, PAGE))
        self.assertEqual(leaf, new_leaf)
        self.assertFalse(pid_alive(old_signer))
        [new_signer] = self.site.children("signer")
        self.assertNotEqual(new_signer, old_signer)
        for _ in range(5):
            self.assertEqual(tls_get(self.site.tls_port, self.site.root_pem_bytes())[2],
                             new_leaf)


class BrokenReloadTest(OpsTestCase):
    def check_refused(self, pattern):
        before = self.site.children()
        mark = self.site.log.mark()
        self.site.signal(signal.SIGHUP)
        line = self.site.log.wait_for(r"reload failed: ", since=mark)
        self.assertRegex(line, pattern)
        self.assertEqual(self.site.children(), before)
        self.assert_serves()
        self.assertNotRegex("\n".join(self.site.log.lines[mark:]), r"started: pid")
        return line

    def test_syntax_error_keeps_the_same_processes(self):
        with open(self.site.conf) as f:
            good = f.read()
        lines = good.splitlines()
        lines.insert(3, "workers = ;")
        self.site.write_text("\n".join(lines) + "\n")
        self.check_refused(r"reload failed: %s:4: " % re.escape(self.site.conf))
        self.site.write_text(good)
        self.site.reload(2)
        self.assert_serves()

    def test_invalid_value_names_its_line(self):
        with open(self.site.conf) as f:
            good = f.read()
        bad = good.replace('log_level = "info";', 'log_level = "loud";')
        line = bad.splitlines().index('log_level = "loud";') + 1
        self.site.write_text(bad)
        self.check_refused(r"reload failed: %s:%d: .*log_level" % (re.escape(self.site.conf),
                                                                   line))

    def test_port_in_use_keeps_the_same_processes(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            self.site.write_config(plain_ports=[self.site.plain_port, port])
            self.check_refused(r"reload failed: %s:\d+: cannot listen on 127\.0\.0\.1:%d: "
                               r"Address already in use" % (re.escape(self.site.conf), port))

    def test_log_file_that_cannot_be_opened_keeps_the_same_processes(self):
        missing = os.path.join(self.site.dir, "no-such-dir", "access.log")
        self.site.write_config(access_log=missing)
        self.check_refused(r"reload failed: %s:\d+: access_log %s: No such file or directory$"
                           % (re.escape(self.site.conf), re.escape(missing)))

    def test_signer_that_cannot_start_leaves_the_old_generation(self):
        """A key that does not match its certificate passes the master's check (which
        never reads keys); the new signer refuses it and generation 1 keeps serving."""
        before = self.site.children()
        other = tempfile.mkdtemp(prefix="keyward-other-")
        self.addCleanup(shutil.rmtree, other, True)
        subprocess.run([kwtest.KEYWARD_CERTS, other, "--key", "ecdsa"], check=True,
                       stdout=subprocess.DEVNULL)
        key = os.path.join(self.site.certs, "server_key.pem")
        shutil.copyfile(os.path.join(other, "server_key.pem"), key)
        os.chmod(key, 0o600)
        mark = self.site.log.mark()
        self.site.signal(signal.SIGHUP)
        self.site.log.wait_for(r"reload failed: generation 2: signer \(pid \d+\) exited with "
                               r"status \d+ during startup", since=mark)
        self.site.log.wait_for(r"generation 2: every process exited", since=mark)
        self.assertEqual(self.site.children(), before)
        self.assert_serves()


class DownloadDuringReloadTest(OpsTestCase):
    @classmethod
    def prepare(cls, site):
        cls.digest = make_big_file(site)

    def test_downloads_survive_a_reload_to_the_last_byte(self):
        downloads = [Download(self.site, "/big.bin", tls=False),
                     Download(self.site, "/big.bin", tls=True)]
        old_workers = self.site.children("worker")
        mark = self.site.log.mark()
        self.site.reload(2)
        self.site.log.wait_for(r"graceful shutdown, [1-9]\d* connections open", since=mark)
        self.assertTrue(any(pid_alive(p) for p in old_workers))
        self.assert_serves()
        for d in downloads:
            self.assertEqual(d.finish(), (BIG_SIZE, self.digest))
        self.site.log.wait_for(r"generation 1: every process exited", since=mark)
        self.assertFalse(any(pid_alive(p) for p in old_workers))


class ConfigChangeTest(OpsTestCase):
    def setUp(self):
        self.site_args = {"plain_ports": [kwtest.free_port(), kwtest.free_port()]}
        super().setUp()

    def test_added_removed_and_kept_listeners(self):
        kept, removed = self.site.options["plain_ports"]
        added = kwtest.free_port()
        self.assertEqual(plain_get(removed), (200, PAGE))
        with self.assertRaises(ConnectionRefusedError):
            plain_get(added)

        stop = threading.Event()
        outcome = {"ok": 0, "refused": 0, "other": []}

        def prober():
            deadline = time.monotonic() + 120
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    if plain_get(kept) == (200, PAGE):
                        outcome["ok"] += 1
                    else:
                        outcome["other"].append("bad response")
                except ConnectionRefusedError:
                    outcome["refused"] += 1
                except Exception as e:  # collected and asserted on
                    outcome["other"].append(repr(e))

        threads = [threading.Thread(target=prober) for _ in range(2)]
        for t in threads:
            t.start()
        try:
            kwtest.wait_until(lambda: outcome["ok"] >= 10, what="probes before the reload")
            self.site.write_config(plain_ports=[kept, added])
            self.site.reload(2)
            self.assertEqual(plain_get(added), (200, PAGE))
            self.site.log.wait_for(r"generation 1: every process exited")
            ok_after = outcome["ok"]
            kwtest.wait_until(lambda: outcome["ok"] >= ok_after + 10, what="probes after the reload")
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
        self.assertEqual((outcome["refused"], outcome["other"]), (0, []))
        with self.assertRaises(ConnectionRefusedError):
            plain_get(removed)
        self.assertEqual(plain_get(added), (200, PAGE))
        self.assertEqual(tls_get(self.site.tls_port, self.site.root_pem_bytes())[:2],
                         (200, PAGE))

    def test_worker_count_and_pid_file_changes(self):
        old = self.site.children("worker")
        self.site.write_config(workers=3, pid_file="other.pid")
        self.site.reload(2)
        self.site.log.wait_for(r"generation 1: every process exited")
        new = self.site.children("worker")
        self.assertEqual(len(new), 3)
        self.assertFalse(set(old) & set(new))
        self.assertRegex(self.site.log.text(), r"pid_file changed to %s: takes effect at the "
                         r"next start" % re.escape(os.path.join(self.site.dir, "other.pid")))
        self.assertTrue(os.path.exists(os.path.join(self.site.dir, "keyward.pid")))
        self.assertFalse(os.path.exists(os.path.join(self.site.dir, "other.pid")))
        self.assert_serves()


class QueuedReloadTest(OpsTestCase):
    @classmethod
    def prepare(cls, site):
        for name in ("www-a", "www-b"):
            os.mkdir(os.path.join(site.dir, name))
            with open(os.path.join(site.dir, name, "page.txt"), "wb") as f:
                f.write(b"site " + name.encode() + b"\n")
            os.chmod(os.path.join(site.dir, name), 0o755)

    def test_two_sighups_back_to_back_serve_the_last_config(self):
        mark = self.site.log.mark()
        self.site.write_config(root="www-a")
        self.site.signal(signal.SIGHUP)
        self.site.log.wait_for(r"reloading configuration", since=mark)
        self.site.write_config(root="www-b")
        self.site.signal(signal.SIGHUP)
        kwtest.wait_until(lambda: plain_get(self.site.plain_port) == (200, b"site www-b\n"),
                   what="the second configuration served")
        log = "\n".join(self.site.log.lines[mark:])
        last = 3 if "reload requested during a reload: queued" in log else 2
        self.site.log.wait_for(r"ready: generation %d, " % last, since=mark)
        self.site.log.wait_for(r"generation %d: every process exited" % (last - 1), since=mark)
        self.assertEqual(plain_get(self.site.plain_port), (200, b"site www-b\n"))

    def test_sighup_while_a_generation_starts_is_run_after_it(self):
        """Generation 2's workers are held in open() of a FIFO named as mime_types, so the
        second SIGHUP surely arrives during the reload; generation 2 then fails, and the
        queued reload starts generation 3 with the last configuration."""
        fifo = os.path.join(self.site.dir, "held.types")
        os.mkfifo(fifo, 0o644)
        mark = self.site.log.mark()
        self.site.write_config(root="www-a", mime_types=fifo)
        self.site.signal(signal.SIGHUP)
        self.site.log.wait_for(r"worker 1 started: pid \d+, generation 2", since=mark)
        self.site.write_config(root="www-b", mime_types=None)
        self.site.signal(signal.SIGHUP)
        self.site.log.wait_for(r"reload requested during a reload: queued", since=mark)
        self.assertEqual(plain_get(self.site.plain_port), (200, PAGE))

        writers = []

        def release():
            try:
                writers.append(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError as e:
                if e.errno != errno.ENXIO:
                    raise
            return "reload failed: generation 2" in "\n".join(self.site.log.lines[mark:])
        try:
            kwtest.wait_until(release, what="generation 2 to fail")
        finally:
            for fd in writers:
                os.close(fd)
        self.site.log.wait_for(r"ready: generation 3, 2 workers", since=mark)
        # Until they have read their stop message, generation 1's workers may still accept.
        self.site.log.wait_for(r"generation 1: every process exited", since=mark)
        self.site.log.wait_for(r"generation 2: every process exited", since=mark)
        self.assertEqual(plain_get(self.site.plain_port), (200, b"site www-b\n"))


if __name__ == "__main__":
    kwtest.main()

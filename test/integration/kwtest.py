"""Harness for keyward's integration tests: real processes on loopback.

A test makes a Site (a temporary directory with certificates, a web root and a
configuration on free ports), starts the real master on it, waits for the events it
logs (never for a fixed time), talks to it over real sockets, and stops it. Every
process started is reaped, pass or fail.
"""

import fcntl
import os
import pwd
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import termios
import threading
import time
import unittest

BUILD = os.environ.get("KEYWARD_BUILD_ROOT", os.path.join(os.path.dirname(__file__), "../../build"))
SOURCE = os.environ.get("KEYWARD_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "../.."))
KEYWARD = os.path.join(BUILD, "master", "keyward")
KEYWARD_GET = os.path.join(BUILD, "tools", "keyward-get")
KEYWARD_CERTS = os.path.join(SOURCE, "tools", "keyward-certs")
TEST_DATA = os.path.join(SOURCE, "test", "data")

IS_ROOT = os.geteuid() == 0
WORKER_USER = "keyward"
SIGNER_USER = "keyward-signer"

_certs_cache = {}


def wait_until(predicate, timeout=30, what="condition"):
    """Polls a condition about processes or files that no log line announces,
    bounded in time; returns the predicate's first true value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def stop_process(pid):
    """SIGSTOP to pid, returning once every thread of it has stopped. The kill alone
    returns before that: the thread that takes the signal stops the others when it next
    runs, and on a busy machine a thread woken meanwhile by a socket still serves it."""
    os.kill(pid, signal.SIGSTOP)

    def stopped():
        try:
            for tid in os.listdir("/proc/%d/task" % pid):
                with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                    if f.read().rsplit(")", 1)[1].split()[0] != "T":
                        return False
        except FileNotFoundError:
            return False
        return True
    wait_until(stopped, what="pid %d to stop" % pid)


def unread_bytes_of(fd):
    """Bytes in a pipe (or socket) not read yet."""
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, bytes(4)))[0]


def listening(port):
    """Whether a process still holds a socket listening on 127.0.0.1:port (/proc/net/tcp)."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            address, state = fields[1], fields[3]
            if state == "0A" and address == "0100007F:%04X" % port:
                return True
    return False


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def free_port():
    """A port the kernel just handed out on 127.0.0.1 and took back."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certs(directory, key="rsa", name="localhost"):
    """Root, intermediate and leaf made by tools/keyward-certs (cached per key and name)."""
    cache_key = (key, name)
    if cache_key not in _certs_cache:
        cached = tempfile.mkdtemp(prefix="keyward-certs-")
        subprocess.run([KEYWARD_CERTS, cached, "--name", name, "--key", key], check=True,
                       stdout=subprocess.DEVNULL)
        _certs_cache[cache_key] = cached
    shutil.copytree(_certs_cache[cache_key], directory, dirs_exist_ok=True)
    os.chmod(os.path.join(directory, "server_key.pem"), 0o600)
    return directory


class NotifySocket:
    """A systemd notify socket of the test's own, removed when the test ends: start a
    master with env() and read what it announces with message()."""

    def __init__(self, test):
        directory = tempfile.mkdtemp(prefix="keyward-notify-")
        test.addCleanup(shutil.rmtree, directory, True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        test.addCleanup(self.sock.close)
        self.path = os.path.join(directory, "notify")
        self.sock.bind(self.path)
        self.sock.settimeout(30)

    def env(self):
        """The test's environment with NOTIFY_SOCKET pointing here."""
        return dict(os.environ, NOTIFY_SOCKET=self.path)

    def message(self):
        """The next notification, as a dict of its KEY=VALUE lines."""
        data = self.sock.recv(4096).decode()
        return dict(line.split("=", 1) for line in data.splitlines() if "=" in line)


class LogWatcher:
    """Collects a process's stderr lines in a thread; tests wait for patterns.

    A line written before mark(), text() or settle() is called is in lines when it
    returns: the thread reads and appends under the lock, and those wait until the pipe
    holds nothing unread. (Else a line of an earlier connection, written before a mark
    but read after it, would seem to come after it.)"""

    def __init__(self, stream):
        self.lines = []
        self.cond = threading.Condition()
        self.closed = False
        self.stream = stream
        self.thread = threading.Thread(target=self._read, args=(stream.fileno(),),
                                       daemon=True)
        self.thread.start()

    def _read(self, fd):
        partial = b""
        while True:
            select.select([fd], [], [])
            with self.cond:
                data = os.read(fd, 65536)  # readable: it does not block
                whole = (partial + data).split(b"\n")
                partial = whole.pop() if data else b""
                self.lines.extend(raw.decode("utf-8", "replace") for raw in whole if data or raw)
                self.closed = not data
                self.cond.notify_all()
                if self.closed:
                    return

    def settle(self, timeout=30):
        """Returns once every line written before the call is in lines (or the stream
        ended, or the test closed it); fails the test if the pipe was not drained within
        timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while (not self.closed and not self.stream.closed
                   and unread_bytes_of(self.stream.fileno()) > 0):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("the log was not read within %d s" % timeout)
                self.cond.wait(remaining)

    def mark(self):
        self.settle()
        with self.cond:
            return len(self.lines)

    def wait_for(self, pattern, since=0, timeout=30):
        """The first line matching pattern after index since; fails the test on timeout."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines[since:]:
                    if regex.search(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed:
                    raise AssertionError("no log line matching %r; log:\n%s"
                                         % (pattern, "\n".join(self.lines[-40:])))
                self.cond.wait(remaining)

    def text(self):
        self.settle()
        with self.cond:
            return "\n".join(self.lines)


class Site:
    """A temporary site: certificates, web root, configuration on free ports."""

    def __init__(self, workers=2, key="rsa", extra="", server_extra="", signer_extra=""):
        self.dir = tempfile.mkdtemp(prefix="keyward-it-")
        os.chmod(self.dir, 0o755)
        self.www = os.path.join(self.dir, "www")
        os.mkdir(self.www)
        self.certs = make_certs(os.path.join(self.dir, "certs"), key=key)
        self.root_pem = os.path.join(self.certs, "root_cert.pem")
        self.pick_ports()
        self.workers = workers
        self.extra = extra
        self.server_extra = server_extra
        self.signer_extra = signer_extra
        self.conf = os.path.join(self.dir, "keyward.conf")
        self.write_config()
        self.proc = None
        self.log = None
        self.keyward = KEYWARD  # the master's executable; its helpers are found beside it

    def pick_ports(self):
        """Picks every port the site listens on, each free when picked; start() picks them
        again when one was taken before the master bound it. A site with more ports
        picks them here too."""
        self.plain_port = free_port()
        self.tls_port = free_port()

    def users(self):
        if IS_ROOT:
            return 'user = "%s";\n' % WORKER_USER, 'user = "%s";' % SIGNER_USER
        return "", ""

    def settings(self):
        """The configuration's settings before its servers."""
        user, signer_user = self.users()
        return """workers = %d;
%serror_log = "stderr";
log_level = "info";
pid_file = "keyward.pid";
%s
signer = { %s threads = 2; %s };
""" % (self.workers, user, self.extra, signer_user, self.signer_extra)

    def write_config(self, locations=None, server_extra=None):
        locations = locations or '{ prefix = "/"; root = "www"; }'
        text = self.settings() + """servers = (
  {
    server_name = [ "localhost" ];
    listen = (
      { address = "127.0.0.1"; port = %d; },
      { address = "127.0.0.1"; port = %d; tls = "toy"; }
    );
    certificate = "certs/server_cert.pem";
    certificate_key = "certs/server_key.pem";
    certificate_chain = [ "certs/intermediate_cert.pem" ];
    locations = ( %s );
    %s
  }
);
""" % (self.plain_port, self.tls_port, locations,
       self.server_extra if server_extra is None else server_extra)
        with open(self.conf, "w") as f:
            f.write(text)

    def write_servers(self, blocks):
        """Writes a configuration with several server blocks (each from server_block())."""
        text = self.settings() + "servers = (\n%s\n);\n" % ",\n".join(blocks)
        with open(self.conf, "w") as f:
            f.write(text)

    def add_root(self, name, files):
        """A web root named name in the site's directory, holding files {relpath: bytes}."""
        root = os.path.join(self.dir, name)
        for relpath, data in files.items():
            path = os.path.join(root, relpath)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
            os.chmod(path, 0o644)
        os.chmod(root, 0o755)
        return root

    def put(self, relpath, data):
        path = os.path.join(self.www, relpath)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o644)
        return path

    # -- the server -------------------------------------------------------------------

    def start(self, wait=True, attempts=3):
        """Starts the master; with wait, until it is ready. A port that another test
        took between free_port() and the master's bind is replaced and tried again."""
        for attempt in range(attempts):
            self.proc = subprocess.Popen([self.keyward, "-c", self.conf], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            self.log = LogWatcher(self.proc.stderr)
            if not wait:
                return self
            try:
                self.log.wait_for(r"ready: generation \d+, %d workers" % self.workers)
                return self
            except AssertionError:
                taken = "Address already in use" in self.log.text()
                self.stop()
                if not taken or attempt == attempts - 1:
                    raise
                self.pick_ports()
                self.write_config()
        return self

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.thread.join(timeout=5)
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def children(self, role=None):
        """Pids of the master's children, optionally only those whose title is role."""
        out = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as f:
                    stat = f.read()
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    cmdline = f.read().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.proc.pid and (role is None or cmdline.startswith("keyward: " + role)):
                out.append(int(entry))
        return sorted(out)

    # -- clients ----------------------------------------------------------------------

    def get(self, path="/", tls=False, args=(), check=True):
        """Runs keyward-get; returns the CompletedProcess (stdout bytes)."""
        if tls:
            url = "toytls://127.0.0.1:%d%s" % (self.tls_port, path)
            cmd = [KEYWARD_GET, "--root", self.root_pem, "--name", "localhost", *args, url]
        else:
            url = "http://127.0.0.1:%d%s" % (self.plain_port, path)
            cmd = [KEYWARD_GET, *args, url]
        res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        if check and res.returncode != 0:
            raise AssertionError("%s failed (%d): %s" % (" ".join(cmd), res.returncode,
                                                         res.stderr.decode(errors="replace")))
        return res

    def raw(self, data, timeout=10):
        """Sends bytes on a plain connection and returns everything until EOF."""
        with socket.create_connection(("127.0.0.1", self.plain_port), timeout=timeout) as s:
            s.sendall(data)
            return read_until_eof(s)


def server_block(names, listen, root, certs=None, default=False, extra=""):
    """One server block's text: names, listen as [(port, tls)] (tls: False, True for toy-TLS
    or the listener's tls string), root a directory, certs a directory made by make_certs()
    (for a TLS listener)."""
    lines = ["    server_name = [ %s ];" % ", ".join('"%s"' % n for n in names),
             "    listen = ( %s );" % ", ".join(
                 '{ address = "127.0.0.1"; port = %d;%s }' % (
                     port, ' tls = "%s";' % (tls if isinstance(tls, str) else "toy") if tls else "")
                 for port, tls in listen)]
    if certs is not None:
        lines += ['    certificate = "%s/server_cert.pem";' % certs,
                  '    certificate_key = "%s/server_key.pem";' % certs,
                  '    certificate_chain = [ "%s/intermediate_cert.pem" ];' % certs]
    if default:
        lines.append("    default = true;")
    lines.append('    locations = ( { prefix = "/"; root = "%s"; } );' % root)
    if extra:
        lines.append("    " + extra)
    return "  {\n%s\n  }" % "\n".join(lines)


def read_until_eof(sock):
    out = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return out
        if not chunk:
            return out
        out += chunk


def split_responses(data):
    """Splits a byte stream of HTTP/1.1 responses (Content-Length framed)."""
    responses = []
    while data:
        head_end = data.index(b"\r\n\r\n") + 4
        head = data[:head_end].decode("latin-1")
        status = int(head.split(" ", 2)[1])
        match = re.search(r"(?im)^content-length:\s*(\d+)", head)
        length = int(match.group(1)) if match else 0
        if head.startswith("HEAD") or status in (204, 304):
            length = 0
        responses.append((status, head, data[head_end:head_end + length]))
        data = data[head_end + length:]
    return responses


class SiteTestCase(unittest.TestCase):
    """A test case with one started Site per class (override site_class, site_args)."""

    site_class = Site
    site_args = {}

    @classmethod
    def setUpClass(cls):
        cls.site = cls.site_class(**cls.site_args)
        cls.prepare(cls.site)
        try:
            cls.site.start()
        except BaseException:
            cls.site.cleanup()
            raise

    @classmethod
    def prepare(cls, site):
        site.put("index.html", b"<h1>hello</h1>\n")

    @classmethod
    def tearDownClass(cls):
        cls.site.cleanup()


def main():
    unittest.main(verbosity=2)

#!/usr/bin/python3
"""Descriptor limits: at start the master raises the soft RLIMIT_NOFILE to what a worker
may need (2 x http.max_connections, the listeners and a reserve of 64), within the hard
limit, and warns with the figures when that cannot fit; `keyward -t` warns the same way.
"""

import re
import resource
import socket
import subprocess
import threading
import unittest

import kwtest

MAX_CONNECTIONS = 100
LISTENERS = 2
RESERVE = 64
NEEDED = 2 * MAX_CONNECTIONS + LISTENERS + RESERVE


# Without CAP_SYS_RESOURCE, which would let a root master raise its hard limit too.
NO_RAISE = ["setpriv", "--bounding-set=-sys_resource"] if kwtest.IS_ROOT else []


def limited(soft, hard):
    """A preexec_fn that sets RLIMIT_NOFILE to (soft, hard) in the child."""
    def apply():
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return apply


def nofile_of(pid):
    """(soft, hard) RLIMIT_NOFILE of a running process."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError("no open-files line for pid %d" % pid)


class LimitedSite(kwtest.Site):
    """A Site whose master starts under a given RLIMIT_NOFILE."""

    def __init__(self, soft, hard):
        self.soft, self.hard = soft, hard
        super().__init__(extra="http = { max_connections = %d; };\n" % MAX_CONNECTIONS)
        self.put("index.html", b"<h1>hello</h1>\n")

    def start(self, wait=True, attempts=1):
        self.proc = subprocess.Popen(NO_RAISE + [kwtest.KEYWARD, "-c", self.conf],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE,
                                     preexec_fn=limited(self.soft, self.hard))
        self.log = kwtest.LogWatcher(self.proc.stderr)
        self.log.wait_for(r"ready: generation 1, %d workers" % self.workers)
        return self


class MasterLimitTest(unittest.TestCase):
    def site(self, soft, hard):
        site = LimitedSite(soft, hard)
        self.addCleanup(site.cleanup)
        return site.start()

    def test_soft_limit_raised_to_what_a_worker_needs(self):
        site = self.site(128, NEEDED)
        site.log.wait_for(r"\[notice\] master\[\d+\]: raised the descriptor limit "
                          r"\(RLIMIT_NOFILE\) from 128 to %d$" % NEEDED)
        for pid in site.children("worker"):
            self.assertEqual(nofile_of(pid), (NEEDED, NEEDED))
        self.assertNotRegex(site.log.text(), r"\[warn\] master")
        self.assertEqual(site.get("/").returncode, 0)

    def test_hard_limit_one_short_is_a_warning_with_figures(self):
        site = self.site(128, NEEDED - 1)
        line = site.log.wait_for(r"\[warn\] master\[\d+\]: each worker needs up to ")
        self.assertIn("each worker needs up to %d descriptors (http.max_connections %d x 2 "
                      "for a socket and a file, %d listeners, %d for logs, channels and the "
                      "loop), but RLIMIT_NOFILE allows %d (its hard limit): a full worker "
                      "pauses accepting at about %d connections"
                      % (NEEDED, MAX_CONNECTIONS, LISTENERS, RESERVE, NEEDED - 1,
                         (NEEDED - 1 - LISTENERS - RESERVE) // 2), line)
        for pid in site.children("worker"):
            self.assertEqual(nofile_of(pid), (NEEDED - 1, NEEDED - 1))
        self.assertEqual(site.get("/").returncode, 0)

    def test_enough_already_says_nothing(self):
        site = self.site(NEEDED, NEEDED)
        self.assertNotRegex(site.log.text(), r"descriptor limit|descriptors")
        for pid in site.children("worker"):
            self.assertEqual(nofile_of(pid), (NEEDED, NEEDED))

    def test_check_warns_with_the_same_figures(self):
        site = LimitedSite(64, NEEDED - 1)
        self.addCleanup(site.cleanup)
        res = subprocess.run(NO_RAISE + [kwtest.KEYWARD, "-t", "-c", site.conf], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, timeout=60,
                             preexec_fn=limited(64, NEEDED - 1))
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertRegex(res.stderr, r"^keyward: warning: each worker needs up to %d "
                         r"descriptors .* allows %d" % (NEEDED, NEEDED - 1))
        res = subprocess.run(NO_RAISE + [kwtest.KEYWARD, "-t", "-c", site.conf], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, timeout=60,
                             preexec_fn=limited(64, NEEDED))
        self.assertEqual((res.returncode, res.stderr), (0, ""))


class WorkerLimitTest(unittest.TestCase):
    """RLIMIT_NOFILE 256 with the default http.max_connections (1024): each worker
    accepts at most what the limit leaves room for, so 300 clients at once never meet
    EMFILE: none gets a 500, and nothing is logged per failure."""

    SOFT = 256
    ROOM = (SOFT - LISTENERS - RESERVE) // 2
    CLIENTS = 300

    def test_a_low_limit_caps_connections_instead_of_failing_them(self):
        site = kwtest.Site(workers=2)
        self.addCleanup(site.cleanup)
        site.put("page.txt", b"x" * 100)
        site.proc = subprocess.Popen(NO_RAISE + [kwtest.KEYWARD, "-c", site.conf],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE,
                                     preexec_fn=limited(self.SOFT, self.SOFT))
        site.log = kwtest.LogWatcher(site.proc.stderr)
        site.log.wait_for(r"ready: generation 1, 2 workers")
        site.log.wait_for(r"\[warn\] master\[\d+\]: each worker needs up to ")
        self.assertEqual(len(re.findall(
            r"worker: RLIMIT_NOFILE %d leaves room for %d connections \(a socket and a file "
            r"each\): accepting at most that many, below http.max_connections"
            % (self.SOFT, self.ROOM), site.log.text())), 2)
        results = []
        lock = threading.Lock()

        def client():
            try:
                with socket.create_connection(("127.0.0.1", site.plain_port), timeout=30) as s:
                    s.sendall(b"GET /page.txt HTTP/1.1\r\nHost: localhost\r\n"
                              b"Connection: close\r\n\r\n")
                    data = kwtest.read_until_eof(s)
                outcome = int(data.split(b" ", 2)[1]) if data else "closed"
            except OSError as e:
                outcome = type(e).__name__
            with lock:
                results.append(outcome)

        threads = [threading.Thread(target=client) for _ in range(self.CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        self.assertEqual(len(results), self.CLIENTS)
        self.assertNotIn(500, results)
        self.assertNotIn(503, results)
        self.assertGreaterEqual(results.count(200), self.ROOM, results)
        self.assertNotIn("Too many open files", site.log.text())


if __name__ == "__main__":
    kwtest.main()

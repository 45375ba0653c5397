#!/usr/bin/python3
"""A worker taken over tries what its sandbox forbids: reading /etc/passwd and a file
outside every root, running /bin/sh, connecting to a loopback port. Each attempt is
refused (Landlock says EACCES) or kills the worker (seccomp: SIGSYS), the master says
so and respawns it, and the site is served throughout. A reload's new workers read the
new roots and no longer the removed ones.

The attempts come from keyward-worker-probe, the test build of the real worker (its
sandbox on its configuration), copied beside a copy of the master, which starts the
helpers it finds beside itself."""

import os
import shutil
import signal
import socket
import subprocess
import unittest

import kwtest

PROBE = os.path.join(kwtest.BUILD, "test", "keyward-worker-probe")
SIGSYS = 31


def landlock_abi():
    """The running kernel's Landlock ABI (landlock_create_ruleset's version query), 0: none."""
    import ctypes
    return max(ctypes.CDLL(None, use_errno=True).syscall(444, None, 0, 1), 0)


class ProbeSite(kwtest.Site):
    """A site served by the probe worker, with the attempts in its environment."""

    def __init__(self, attempts, **kwargs):
        super().__init__(**kwargs)
        bin_dir = os.path.join(self.dir, "bin")
        os.mkdir(bin_dir)
        for src, name in ((kwtest.KEYWARD, "keyward"), (PROBE, "keyward-worker"),
                          (os.path.join(kwtest.BUILD, "signer", "keyward-signer"),
                           "keyward-signer")):
            shutil.copy2(src, os.path.join(bin_dir, name))
        self.keyward = os.path.join(bin_dir, "keyward")
        self.attempts = attempts

    def start(self, **kwargs):
        os.environ["KW_SANDBOX_PROBE"] = " ".join(self.attempts)
        try:
            return super().start(**kwargs)
        finally:
            del os.environ["KW_SANDBOX_PROBE"]

    def probe(self, pid, k, since):
        """Makes worker pid try attempt k; returns its verdict line (or None if it died)."""
        os.kill(pid, signal.SIGRTMIN + k)
        what = self.attempts[k]
        self.log.wait_for(r"worker\[%d\]: sandbox probe: %d %s: trying" % (pid, k, what), since)
        line = self.log.wait_for(r"worker\[%d\]: sandbox probe: %d \S+: (refused|allowed)|"
                                 r"\(pid %d, generation \d+\) killed by signal" % (pid, k, pid),
                                 since)
        return line


class ProductionWorkerTest(unittest.TestCase):

    def test_the_installed_worker_has_no_probe(self):
        symbols = subprocess.run(["nm", os.path.join(kwtest.BUILD, "worker", "keyward-worker")],
                                 stdout=subprocess.PIPE, check=True).stdout
        self.assertIn(b"worker_sandbox_enter", symbols)
        self.assertNotIn(b"sandbox_probe", symbols)


@unittest.skipUnless(os.path.exists(PROBE), "no keyward-worker-probe in this build")
class ForbiddenAttemptsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.catcher = socket.socket()
        cls.catcher.bind(("127.0.0.1", 0))
        cls.catcher.listen(8)
        cls.catcher.setblocking(False)
        port = cls.catcher.getsockname()[1]
        cls.site = ProbeSite(["open:/etc/passwd", "open:OUTSIDE", "open:INSIDE",
                              "execve:/bin/sh", "connect:%d" % port])
        cls.outside = os.path.join(cls.site.dir, "outside.txt")
        with open(cls.outside, "w") as f:
            f.write("not served\n")
        os.chmod(cls.outside, 0o644)
        cls.inside = cls.site.put("index.html", b"<h1>confined</h1>\n")
        cls.site.attempts[1] = "open:" + cls.outside
        cls.site.attempts[2] = "open:" + cls.inside
        try:
            cls.site.start()
        except BaseException:
            cls.site.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.site.cleanup()
        cls.catcher.close()

    def serves(self):
        self.assertEqual(self.site.get("/index.html").stdout, b"<h1>confined</h1>\n")

    def test_files_outside_the_roots_are_refused_and_the_worker_serves_on(self):
        if not landlock_abi():
            self.skipTest("no Landlock: files are limited by the user's permissions only")
        [pid, _] = self.site.children("worker")
        mark = self.site.log.mark()
        self.assertRegex(self.site.probe(pid, 0, mark), r"refused \(Permission denied\)$")
        self.assertRegex(self.site.probe(pid, 1, mark), r"refused \(Permission denied\)$")
        # the control: the same worker, the same call, beneath its root
        self.assertRegex(self.site.probe(pid, 2, mark), r": allowed$")
        self.assertIn(pid, self.site.children("worker"))
        self.serves()
        self.serves()

    def killed_and_replaced(self, k):
        """Attempt k kills a worker with SIGSYS; the master respawns it; serving goes on."""
        before = self.site.children("worker")
        pid = before[-1]
        mark = self.site.log.mark()
        line = self.site.probe(pid, k, mark)
        self.assertRegex(line, r"killed by signal %d \(SIGSYS\); respawning" % SIGSYS)
        self.serves()
        kwtest.wait_until(lambda: len(self.site.children("worker")) == len(before)
                          and pid not in self.site.children("worker"),
                          what="the worker respawned")
        self.assertNotIn("allowed", "".join(
            l for l in self.site.log.lines[mark:] if "sandbox probe" in l))
        self.serves()

    def test_execve_kills_the_worker(self):
        self.killed_and_replaced(3)

    def test_connect_kills_the_worker_before_any_connection(self):
        self.killed_and_replaced(4)
        # a connect that had reached the kernel would be queued already: nothing is
        with self.assertRaises(BlockingIOError):
            self.catcher.accept()


@unittest.skipUnless(os.path.exists(PROBE), "no keyward-worker-probe in this build")
@unittest.skipUnless(landlock_abi(), "no Landlock on this kernel")
class ReloadRootsTest(unittest.TestCase):
    """A reload's workers read the new configuration's roots, and only those."""

    def setUp(self):
        self.site = ProbeSite(["open:A", "open:B"])
        self.addCleanup(self.site.cleanup)
        a = self.site.add_root("a", {"index.html": b"root a\n"})
        b = self.site.add_root("b", {"index.html": b"root b\n"})
        self.site.attempts[:] = ["open:" + os.path.join(a, "index.html"),
                                 "open:" + os.path.join(b, "index.html")]

    def reload(self, locations, generation):
        self.site.write_config(locations=locations)
        mark = self.site.log.mark()
        self.site.proc.send_signal(signal.SIGHUP)
        self.site.log.wait_for(r"ready: generation %d," % generation, mark)
        kwtest.wait_until(lambda: len(self.site.children("worker")) == self.site.workers,
                          what="the old generation gone")

    def verdicts(self):
        pid = self.site.children("worker")[0]
        mark = self.site.log.mark()
        return [self.site.probe(pid, k, mark).rsplit(": ", 1)[1] for k in (0, 1)]

    def test_added_root_served_removed_root_unreadable(self):
        self.site.write_config(locations='{ prefix = "/a/"; root = "a"; }')
        self.site.start()
        self.assertEqual(self.verdicts(), ["allowed", "refused (Permission denied)"])
        self.assertNotEqual(self.site.get("/b/index.html", check=False).stdout, b"root b\n")

        self.reload('{ prefix = "/a/"; root = "a"; }, { prefix = "/b/"; root = "b"; }', 2)
        self.assertEqual(self.site.get("/b/index.html").stdout, b"root b\n")
        self.assertEqual(self.verdicts(), ["allowed", "allowed"])

        self.reload('{ prefix = "/b/"; root = "b"; }', 3)
        self.assertEqual(self.verdicts(), ["refused (Permission denied)", "allowed"])
        self.assertEqual(self.site.get("/b/index.html").stdout, b"root b\n")


if __name__ == "__main__":
    kwtest.main()

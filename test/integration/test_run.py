#!/usr/bin/python3
"""tools/run, as a first-time user meets it: --help starts nothing; the banner comes once
the server is ready and names what it serves and where everything is; a demo
configuration the user edited is kept (--reset writes it again); a start that fails says
so, with keyward's reason, and no banner."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import unittest

import kwtest

RUN = os.path.join(kwtest.SOURCE, "tools", "run")
WAIT = 120


class RunTest(unittest.TestCase):
    def setUp(self):
        self.demo = tempfile.mkdtemp(prefix="keyward-run-")
        self.plain, self.toy = kwtest.free_port(), kwtest.free_port()
        self.tls13 = kwtest.free_port()
        self.env = dict(os.environ, KW_BUILD_DIR=os.path.realpath(kwtest.BUILD),
                        KW_DEMO_DIR=self.demo, KW_RUN_PLAIN_PORT=str(self.plain),
                        KW_RUN_TOY_PORT=str(self.toy), KW_RUN_TLS13_PORT=str(self.tls13))
        self.conf = os.path.join(self.demo, "keyward.conf")

    def tearDown(self):
        shutil.rmtree(self.demo, ignore_errors=True)

    def start(self, *args):
        proc = subprocess.Popen([RUN, *args], env=self.env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        return proc, kwtest.LogWatcher(proc.stderr)

    def stop(self, proc, log):
        """Ctrl-C as a terminal sends it to tools/run; returns its exit status."""
        try:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            try:
                return proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                ps = subprocess.run(["ps", "-o", "pid,ppid,stat,wchan:20,args", "-s",
                                     str(proc.pid)], stdout=subprocess.PIPE, text=True)
                raise AssertionError("tools/run did not stop within %d s of Ctrl-C; its "
                                     "processes:\n%s\nwhat it printed:\n%s"
                                     % (WAIT, ps.stdout, "\n".join(log.lines)))
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.thread.join(timeout=10)
            proc.stderr.close()
            proc.stdout.close()

    def test_help_starts_nothing(self):
        res = subprocess.run([RUN, "--help"], env=self.env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertRegex(res.stdout, r"^usage: tools/run")
        self.assertIn("--reset", res.stdout)
        self.assertEqual(os.listdir(self.demo), [], "--help made a demo")
        res = subprocess.run([RUN, "--bogus"], env=self.env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(res.returncode, 2)
        self.assertIn("unknown argument: --bogus", res.stderr)

    def test_banner_when_ready_then_edits_kept(self):
        proc, log = self.start()
        try:
            log.wait_for(r"^stop        Ctrl-C", timeout=WAIT)
            text = log.text()
            self.assertLess(text.index("ready: generation 1,"), text.index("keyward is ready"))
            self.assertRegex(text, r"keyward: built in \d+ s")
            self.assertIn("plain HTTP  curl http://127.0.0.1:%d/" % self.plain, text)
            self.assertIn("toytls://localhost:%d/" % self.toy, text)
            self.assertIn("curl --cacert %s https://localhost:%d/"
                          % (os.path.join(self.demo, "certs", "root_cert.pem"), self.tls13), text)
            for what in ("binary      %s" % os.path.join(os.path.realpath(kwtest.BUILD),
                                                         "master", "keyward"),
                         "config      %s" % self.conf,
                         "requests: %s" % os.path.join(self.demo, "access.log"),
                         "reload      ", "stop        Ctrl-C"):
                self.assertIn(what, text)
            index = open(os.path.join(kwtest.SOURCE, "www", "index.html"), "rb").read()
            for args in (["http://127.0.0.1:%d/" % self.plain],
                         ["--root", os.path.join(self.demo, "certs", "root_cert.pem"),
                          "--name", "localhost", "toytls://127.0.0.1:%d/" % self.toy],
                         ["--root", os.path.join(self.demo, "certs", "root_cert.pem"),
                          "--name", "localhost", "https://127.0.0.1:%d/" % self.tls13]):
                res = subprocess.run([kwtest.KEYWARD_GET, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, timeout=60)
                self.assertEqual((res.returncode, res.stdout), (0, index), res.stderr)
        finally:
            status = self.stop(proc, log)
        self.assertEqual(status, 0, log.text())
        self.assertRegex(log.text(), r"master\[\d+\]: stopped")
        with open(os.path.join(self.demo, "access.log")) as f:
            self.assertEqual(len(re.findall(r'"GET / HTTP/1\.1" 200 ', f.read())), 3)

        with open(self.conf, "a") as f:
            f.write("log_level = \"info\";   # an edit\n")
        edited = open(self.conf).read()
        proc, log = self.start()
        try:
            log.wait_for(r"^stop        Ctrl-C", timeout=WAIT)
        finally:
            self.stop(proc, log)
        self.assertIn("using %s as it is (tools/run --reset writes it again)" % self.conf,
                      log.text())
        self.assertEqual(open(self.conf).read(), edited)

        proc, log = self.start("--reset")
        try:
            log.wait_for(r"^stop        Ctrl-C", timeout=WAIT)
        finally:
            self.stop(proc, log)
        self.assertIn("wrote %s" % self.conf, log.text())
        self.assertNotIn("an edit", open(self.conf).read())

    def test_a_port_in_use_is_an_error_without_banner(self):
        with socket.socket() as busy:
            busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            busy.bind(("127.0.0.1", self.plain))
            busy.listen()
            proc, log = self.start()
            try:
                status = proc.wait(timeout=WAIT)
            finally:
                self.stop(proc, log)
        text = log.text()
        self.assertEqual(status, 1, text)
        self.assertNotIn("keyward is ready", text)
        self.assertIn("127.0.0.1:%d" % self.plain, text)
        self.assertRegex(text, r"keyward: the server did not start \(exit status 1\): "
                               r"see the lines above")


if __name__ == "__main__":
    kwtest.main()

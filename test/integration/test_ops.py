#!/usr/bin/python3
"""Operating the real master: graceful and fast stops, log reopening, systemd
notifications, `keyward -s` and `-t`, and the default run-state directory."""

import os
import re
import shutil
import signal
import stat
import subprocess
import time
import unittest

import kwtest
from kwtest import wait_until
from test_reload import (BIG_SIZE, PAGE, Download, FileLog, OpsSite, OpsTestCase, make_big_file,
                         pid_alive, plain_get, tls_get)

MASTER_KILL_GRACE = 2.0


def keyward(*args, timeout=30):
    return subprocess.run([kwtest.KEYWARD, *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout)


class GracefulStopTest(OpsTestCase):
    @classmethod
    def prepare(cls, site):
        cls.digest = make_big_file(site)

    def test_downloads_in_flight_finish_before_the_master_exits(self):
        downloads = [Download(self.site, "/big.bin", tls=False),
                     Download(self.site, "/big.bin", tls=True)]
        children = self.site.children()
        mark = self.site.log.mark()
        self.site.signal(signal.SIGQUIT)
        self.site.log.wait_for(r"graceful stop: ", since=mark)
        wait_until(lambda: len(re.findall(r"graceful shutdown, \d+ connections open",
                                          self.site.log.text())) == 2,
                   what="both workers told to shut down")
        # each logs that before it closes its copy of the listening socket
        wait_until(lambda: not kwtest.listening(self.site.plain_port),
                   what="every process to close the plain listener")
        with self.assertRaises(ConnectionRefusedError):
            plain_get(self.site.plain_port)
        self.assertIsNone(self.site.proc.poll())
        for d in downloads:
            self.assertEqual(d.finish(), (BIG_SIZE, self.digest))
        self.assertEqual(self.site.wait_exit(), 0)
        self.assertFalse(any(pid_alive(p) for p in children))
        self.assertFalse(os.path.exists(os.path.join(self.site.dir, "keyward.pid")))
        self.assertRegex(self.site.log.text(), r"generation 1: every process exited")


class FastStopTest(OpsTestCase):
    def test_sigterm_stops_every_process(self):
        children = self.site.children()
        self.assertEqual(len(children), 3)
        start = time.monotonic()
        self.site.signal(signal.SIGTERM)
        self.assertEqual(self.site.wait_exit(timeout=MASTER_KILL_GRACE + 5), 0)
        self.assertLess(time.monotonic() - start, MASTER_KILL_GRACE + 1)
        self.assertFalse(any(pid_alive(p) for p in children))
        self.assertFalse(os.path.exists(os.path.join(self.site.dir, "keyward.pid")))
        self.assertRegex(self.site.log.text(), r"fast stop \(SIGTERM\)")
        self.assertRegex(self.site.log.text(), r"stopped\n?$")

    def test_a_stuck_worker_is_killed_at_the_end_of_the_grace(self):
        """A stopped worker cannot hold the stop up past the grace.

        Whether the kernel lets the pending SIGTERM kill a stopped process at once
        depends on where it runs (it does in some containers); either way the master
        must be done within the grace, with every child gone."""
        download = Download(self.site, "/page.txt", tls=False, part_bytes=0)
        download.finish()
        workers = self.site.children("worker")
        kwtest.stop_process(workers[0])
        start = time.monotonic()
        self.site.signal(signal.SIGTERM)
        self.assertEqual(self.site.wait_exit(timeout=MASTER_KILL_GRACE + 10), 0)
        elapsed = time.monotonic() - start
        self.assertLess(elapsed, MASTER_KILL_GRACE + 2)
        if elapsed >= MASTER_KILL_GRACE - 0.1:
            self.assertRegex(self.site.log.text(),
                             r"worker \d \(pid %d, generation 1\) did not exit in time: "
                             r"killing it" % workers[0])
        self.assertFalse(any(pid_alive(p) for p in workers))

    def test_sigint_is_a_fast_stop_too(self):
        children = self.site.children()
        self.site.signal(signal.SIGINT)
        self.assertEqual(self.site.wait_exit(timeout=MASTER_KILL_GRACE + 5), 0)
        self.assertRegex(self.site.log.text(), r"fast stop \(SIGINT\)")
        self.assertFalse(any(pid_alive(p) for p in children))


class MasterKilledTest(OpsTestCase):
    def test_children_exit_with_the_master_and_a_new_one_starts(self):
        children = self.site.children()
        self.site.proc.kill()
        self.site.wait_exit()
        wait_until(lambda: not any(pid_alive(p) for p in children), timeout=10,
                   what="the children of a killed master to exit")
        pid_file = os.path.join(self.site.dir, "keyward.pid")
        self.assertTrue(os.path.exists(pid_file))
        res = keyward("-s", "reload", "-c", self.site.conf)
        self.assertEqual(res.returncode, 1)
        self.assertIn("stale, no keyward master runs as pid %d" % self.site.proc.pid, res.stderr)
        self.site.stop()
        self.site.start()
        self.assert_serves()
        with open(pid_file) as f:
            self.assertEqual(f.read(), "%d\n" % self.site.proc.pid)


class LogReopenTest(OpsTestCase):
    site_args = {"error_log": "logs/error.log", "access_log": "logs/access.log"}

    @classmethod
    def prepare(cls, site):
        os.mkdir(os.path.join(site.dir, "logs"))

    def path(self, name):
        return os.path.join(self.site.dir, "logs", name)

    def access_lines(self, name):
        with open(self.path(name)) as f:
            return f.read().splitlines()

    def request_logged(self, marker, tls=False):
        """Makes one request whose target contains marker; returns nothing."""
        if tls:
            status, _, _ = tls_get(self.site.tls_port, self.site.root_pem_bytes(),
                                   "/page.txt?" + marker)
        else:
            status, _ = plain_get(self.site.plain_port, "/page.txt?" + marker)
        self.assertEqual(status, 200)

    def rotate_and_check(self, reopen, suffix):
        error_log = FileLog(self.path("error.log"))
        worker_pids = self.site.children("worker")
        [signer_pid] = self.site.children("signer")
        os.rename(self.path("error.log"), self.path("error.log." + suffix))
        os.rename(self.path("access.log"), self.path("access.log." + suffix))
        self.request_logged("before-" + suffix)
        reopen()
        error_log.wait_for(r"master\[%d\]: log files reopened" % self.site.proc.pid)
        for pid in worker_pids:
            error_log.wait_for(r"worker\[%d\]: worker: logs reopened" % pid)
        error_log.wait_for(r"signer\[%d\]: .*reopened" % signer_pid)
        for tls in (False, True):
            self.request_logged("after-%s-%s" % (suffix, tls), tls)
        wait_until(lambda: len(self.access_lines("access.log")) == 2,
                   what="two lines in the new access log")
        new = self.access_lines("access.log")
        old = self.access_lines("access.log." + suffix)
        self.assertRegex(new[0], r'^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] '
                                 r'"GET /page\.txt\?after-%s-False HTTP/1\.1" 200 %d "-" "-"$'
                         % (suffix, len(PAGE)))
        self.assertIn("after-%s-True" % suffix, new[1])
        self.assertIn("before-" + suffix, old[-1])
        self.assertNotIn("after-" + suffix, "\n".join(old))
        self.assertNotRegex(FileLog(self.path("error.log." + suffix)).text(),
                            r"log files reopened|logs reopened")

    def test_sigusr1_reopens_every_log(self):
        self.request_logged("first")
        self.assertIn("first", self.access_lines("access.log")[0])
        self.rotate_and_check(lambda: self.site.signal(signal.SIGUSR1), "1")

    def test_keyward_s_reopen(self):
        def reopen():
            res = keyward("-s", "reopen", "-c", self.site.conf)
            self.assertEqual(res.returncode, 0, res.stderr)
        self.rotate_and_check(reopen, "2")

    def test_a_log_that_cannot_be_reopened_stays_on_the_old_file(self):
        old_dir = os.path.join(self.site.dir, "logs.old")
        os.rename(os.path.join(self.site.dir, "logs"), old_dir)
        self.site.signal(signal.SIGUSR1)
        old_log = FileLog(os.path.join(old_dir, "error.log"))
        old_log.wait_for(r"log files reopened, except those named above")
        for key in ("error_log", "access_log"):
            old_log.wait_for(r"cannot reopen a log file, the old one stays in use: %s:\d+: %s %s: "
                             r"No such file or directory" % (re.escape(self.site.conf), key,
                                                            re.escape(self.path(key[:-4] +
                                                                                ".log"))))
        self.request_logged("still-old")
        wait_until(lambda: "still-old" in FileLog(os.path.join(old_dir, "access.log")).text(),
                   what="the request logged in the old access log")
        os.mkdir(os.path.join(self.site.dir, "logs"))
        self.site.signal(signal.SIGUSR1)
        FileLog(self.path("error.log")).wait_for(r"master\[\d+\]: log files reopened$")
        self.request_logged("new-again")
        wait_until(lambda: os.path.exists(self.path("access.log")) and
                   "new-again" in FileLog(self.path("access.log")).text(),
                   what="the request logged in the new access log")

    @unittest.skipUnless(shutil.which("logrotate"), "logrotate is missing (apt-get install logrotate)")
    def test_the_installed_logrotate_file_rotates_and_reopens(self):
        """etc/keyward.logrotate as the build configured it, pointed at this site's logs,
        master and configuration: logrotate renames the files and keyward -s reopen makes
        every process write to new ones."""
        with open(os.path.join(kwtest.BUILD, "etc", "keyward.logrotate")) as f:
            template = f.read()
        match = re.search(r"(?m)^\s*(/\S+/keyward) -s reopen -c (/\S+) ", template)
        self.assertIsNotNone(match, template)
        self.assertIn("/var/log/keyward/*.log {", template)
        text = template.replace("/var/log/keyward/*.log", self.path("*.log"))
        text = text.replace(match[1] + " ", kwtest.KEYWARD + " ")
        text = text.replace(" -c " + match[2] + " ", " -c " + self.site.conf + " ")
        conf = os.path.join(self.site.dir, "logrotate.conf")
        with open(conf, "w") as f:
            f.write(text)
        os.chmod(conf, 0o644)
        self.request_logged("before-logrotate")
        wait_until(lambda: any("before-logrotate" in line
                               for line in self.access_lines("access.log")),
                   what="the request in the access log")
        res = subprocess.run(["logrotate", "-f", "-s", os.path.join(self.site.dir, "lr.state"),
                              conf], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=60)
        self.assertEqual(res.returncode, 0, res.stdout)
        FileLog(self.path("error.log")).wait_for(r"master\[%d\]: log files reopened$"
                                                 % self.site.proc.pid)
        self.request_logged("after-logrotate")
        wait_until(lambda: os.path.exists(self.path("access.log")) and
                   any("after-logrotate" in line for line in self.access_lines("access.log")),
                   what="the request in the new access log")
        self.assertIn("before-logrotate", "\n".join(self.access_lines("access.log.1")))
        self.assertNotIn("before-logrotate", "\n".join(self.access_lines("access.log")))
        self.assertTrue(os.path.exists(self.path("error.log.1")))

    def test_reopen_after_a_reload(self):
        self.site.reload(2)
        self.site.events().wait_for(r"generation 1: every process exited")
        self.rotate_and_check(lambda: self.site.signal(signal.SIGUSR1), "3")


class StderrLogReopenTest(OpsTestCase):
    def test_reopen_with_stderr_keeps_every_signer_channel(self):
        """With error_log = "stderr" every child still gets CTL_REOPEN_LOGS; none may lose
        a descriptor it serves with (the signer's worker channels above all)."""
        mark = self.site.log.mark()
        self.site.signal(signal.SIGUSR1)
        self.site.log.wait_for(r"log files reopened", since=mark)
        for pid in self.site.children("worker"):
            self.site.log.wait_for(r"worker\[%d\]: worker: logs reopened" % pid, since=mark)
        self.site.log.wait_for(r"signer\[\d+\]: .*reopened", since=mark)
        for _ in range(10):
            self.assert_serves()
        self.assertNotRegex("\n".join(self.site.log.lines[mark:]),
                            r"signer channel lost|channel of worker \d+ closed")


class NotifyTest(OpsTestCase):
    def setUp(self):
        self.notify = kwtest.NotifySocket(self)
        self.site = OpsSite()
        self.addCleanup(self.site.cleanup)
        self.site.start(env=self.notify.env())

    def message(self):
        return self.notify.message()

    def test_ready_reloading_stopping(self):
        ready = self.message()
        self.assertEqual(ready.get("READY"), "1")
        self.assertRegex(ready.get("STATUS", ""), r"^generation 1, 2 workers")
        for pid in self.site.children():
            with open("/proc/%d/environ" % pid, "rb") as f:
                self.assertNotIn(b"NOTIFY_SOCKET=", f.read())

        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.site.signal(signal.SIGHUP)
        reloading = self.message()
        after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.assertEqual(reloading.get("RELOADING"), "1")
        self.assertLessEqual(before, int(reloading["MONOTONIC_USEC"]))
        self.assertLessEqual(int(reloading["MONOTONIC_USEC"]), after)
        ready = self.message()
        self.assertEqual(ready.get("READY"), "1")
        self.assertRegex(ready.get("STATUS", ""), r"^generation 2, 2 workers")
        self.site.log.wait_for(r"ready: generation 2")

        with open(self.site.conf) as f:
            good = f.read()
        self.site.write_text(good + "bogus = 1;\n")
        self.site.signal(signal.SIGHUP)
        self.assertEqual(self.message().get("RELOADING"), "1")
        ready = self.message()
        self.assertEqual(ready.get("READY"), "1")
        self.assertIn("reload failed", ready.get("STATUS", ""))

        self.site.signal(signal.SIGTERM)
        self.assertEqual(self.message().get("STOPPING"), "1")
        self.assertEqual(self.site.wait_exit(), 0)


class SignalCommandTest(OpsTestCase):
    def test_reload_reopen_and_quit_through_the_pid_file(self):
        with open(os.path.join(self.site.dir, "keyward.pid")) as f:
            self.assertEqual(f.read(), "%d\n" % self.site.proc.pid)
        mark = self.site.log.mark()
        res = keyward("-s", "reload", "-c", self.site.conf)
        self.assertEqual((res.returncode, res.stdout, res.stderr), (0, "", ""))
        self.site.log.wait_for(r"ready: generation 2, 2 workers", since=mark)
        res = keyward("-s", "reopen", "-c", self.site.conf)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.site.log.wait_for(r"log files reopened", since=mark)
        self.assert_serves()
        res = keyward("-s", "quit", "-c", self.site.conf)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(self.site.wait_exit(), 0)
        self.assertRegex(self.site.log.text(), r"graceful stop")

        res = keyward("-s", "reload", "-c", self.site.conf)
        self.assertEqual(res.returncode, 1)
        self.assertRegex(res.stderr, r"^keyward: no running master \(pid file .*keyward\.pid: "
                                     r"No such file or directory\)\n$")

    def test_stop_through_the_pid_file(self):
        res = keyward("-s", "stop", "-c", self.site.conf)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(self.site.wait_exit(), 0)
        self.assertRegex(self.site.log.text(), r"fast stop \(SIGTERM\)")

    def test_stale_pid_file_is_no_master(self):
        pid_file = os.path.join(self.site.dir, "keyward.pid")
        self.site.stop()
        for content in ("%d\n" % os.getpid(), "garbage\n"):
            with open(pid_file, "w") as f:
                f.write(content)
            for sig in ("reload", "stop", "quit", "reopen"):
                res = keyward("-s", sig, "-c", self.site.conf)
                self.assertEqual(res.returncode, 1, res)
                self.assertRegex(res.stderr, r"^keyward: no running master \(pid file %s: "
                                 % re.escape(pid_file))

    def test_second_master_refuses_to_start(self):
        res = keyward("-c", self.site.conf)
        self.assertEqual(res.returncode, 1)
        self.assertIn("another keyward master runs as pid %d" % self.site.proc.pid, res.stderr)
        self.assert_serves()

    def test_bad_signal_name_is_a_usage_error(self):
        res = keyward("-s", "restart", "-c", self.site.conf)
        self.assertEqual(res.returncode, 2)
        self.assertIn('unknown signal "restart"', res.stderr)


class ConfigTestTest(OpsTestCase):
    def setUp(self):
        self.site = OpsSite()
        self.addCleanup(self.site.cleanup)

    def test_good_config(self):
        res = keyward("-t", "-c", self.site.conf)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout, "keyward: configuration %s is ok\n" % self.site.conf)

    def test_bad_config_names_file_and_line(self):
        with open(self.site.conf) as f:
            lines = f.read().splitlines()
        lines.insert(2, 'workers = "many";')
        self.site.write_text("\n".join(lines) + "\n")
        res = keyward("-t", "-c", self.site.conf)
        self.assertEqual(res.returncode, 1)
        self.assertRegex(res.stderr, r"^keyward: %s:3: " % re.escape(self.site.conf))
        self.assertIn("test failed", res.stderr)

    def test_missing_config(self):
        missing = os.path.join(self.site.dir, "missing.conf")
        res = keyward("-t", "-c", missing)
        self.assertEqual(res.returncode, 1)
        self.assertIn("%s: cannot open: No such file or directory" % missing, res.stderr)


def private_run_available():
    if not kwtest.IS_ROOT or not shutil.which("unshare") or not shutil.which("nsenter"):
        return False
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "--", "mount",
                            "-t", "tmpfs", "tmpfs", "/run"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return probe.returncode == 0


@unittest.skipUnless(private_run_available(), "needs root and a private mount namespace")
class DefaultRunDirTest(unittest.TestCase):
    """As root without pid_file, the master creates the missing /run/keyward (mode 0755,
    whatever the umask) for its pid file: here in a mount namespace with its own /run."""

    def test_missing_run_dir_is_created(self):
        site = OpsSite(pid_file=None)
        self.addCleanup(site.cleanup)
        script = 'mount -t tmpfs -o mode=0755 tmpfs /run && umask 077 && exec "$0" -c "$1"'
        site.proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--",
                                      "sh", "-c", script, kwtest.KEYWARD, site.conf],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        site.log = kwtest.LogWatcher(site.proc.stderr)
        site.log.wait_for(r"ready: generation 1, 2 workers")
        self.assertRegex(site.log.text(), r"created /run/keyward")
        run_dir = "/proc/%d/root/run/keyward" % site.proc.pid
        st = os.stat(run_dir)
        self.assertTrue(stat.S_ISDIR(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o755)
        with open(os.path.join(run_dir, "keyward.pid")) as f:
            self.assertEqual(f.read(), "%d\n" % site.proc.pid)
        self.assertEqual(plain_get(site.plain_port), (200, PAGE))
        res = subprocess.run(["nsenter", "-t", str(site.proc.pid), "-m", kwtest.KEYWARD, "-s",
                              "stop", "-c", site.conf], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(site.wait_exit(), 0)


if __name__ == "__main__":
    kwtest.main()

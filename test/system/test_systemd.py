#!/usr/bin/python3
"""keyward under a real systemd: installed by `meson install` (prefix /usr) into a fresh
Debian 12 container booted by systemd-nspawn, its users made by its sysusers.d file, and
driven as an administrator would, with systemctl and journalctl: the installed package
serving its site on port 80 with no edit, start, the processes' users, cgroup and hardening, keyward-inspect, reloads (a new location, a rotated
certificate, a broken edit), journal priorities, stop, a start that fails its
configuration check, and systemd-analyze security.

Skipped (exit 77) unless root with systemd-nspawn; the first run makes the container's
root file system with debootstrap (see container.py)."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import container
import kwtest
from test_install import MAX_EXPOSURE, with_ports

PREFIX_USR_BUILD = os.environ.get("KEYWARD_SYSTEM_BUILD",
                                  os.path.join(kwtest.BUILD, "test", "system", "prefix-usr"))
CONF = "/etc/keyward/keyward.conf"
CERTS = "/etc/keyward/certs"
EXTRA_ROOT = "/srv/keyward-extra"
UNIT = "keyward"
WAIT = 30
# The leaf, its key and the chain the configuration names; the CA keys stay on the host.
SERVED_CERT_FILES = ("server_cert.pem", "server_key.pem", "chain.pem")
LEVELS = {"error": 3, "warn": 4, "notice": 5, "info": 6, "debug": 7}

_running = []


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# How the suite configures its build: as README.md's Install section says (checked).
SETUP_OPTIONS = ("--prefix=/usr", "--sysconfdir=/etc", "--localstatedir=/var")


def readme_install_commands():
    """The commands of README.md's Install block, comments dropped."""
    with open(os.path.join(kwtest.SOURCE, "README.md")) as f:
        match = re.search(r"(?ms)^## Install\n\n```sh\n(.*?)^```", f.read())
    if match is None:
        raise AssertionError("README.md has no Install block")
    return [line.split("#", 1)[0].strip() for line in match[1].splitlines()
            if line.split("#", 1)[0].strip()]


def build_prefix_usr():
    """A build configured as a distribution would (prefix /usr, /etc, /var), beside this
    build's own; configured once, then rebuilt incrementally."""
    quiet = dict(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if not os.path.exists(os.path.join(PREFIX_USR_BUILD, "build.ninja")):
        res = subprocess.run(["meson", "setup", *SETUP_OPTIONS, "-Dtests=false",
                              "-Dfuzzers=disabled",
                              PREFIX_USR_BUILD, kwtest.SOURCE], **quiet)
        if res.returncode != 0:
            shutil.rmtree(PREFIX_USR_BUILD, ignore_errors=True)
            raise AssertionError("meson setup of %s failed:\n%s" % (PREFIX_USR_BUILD, res.stdout))
    res = subprocess.run(["ninja", "-C", PREFIX_USR_BUILD], **quiet)
    if res.returncode != 0:
        raise AssertionError("ninja -C %s failed:\n%s" % (PREFIX_USR_BUILD, res.stdout[-6000:]))


def installed_executables():
    """The executables meson installs from the distribution-like build."""
    res = subprocess.run(["meson", "introspect", "--targets", PREFIX_USR_BUILD],
                         stdout=subprocess.PIPE, check=True, text=True)
    return [name for target in json.loads(res.stdout)
            if target["type"] == "executable" and target["installed"]
            for name in target["filename"]]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    os.chmod(path, mode)


def make_pki(directory, key):
    subprocess.run([kwtest.KEYWARD_CERTS, directory, "--name", "localhost", "--key", key],
                   check=True, stdout=subprocess.DEVNULL)
    return directory


def message(entry):
    text = entry.get("MESSAGE", "")
    if isinstance(text, list):
        text = bytes(text).decode("utf-8", "replace")
    return text or ""


class SystemdTest(unittest.TestCase):
    """One container for the class; every test starts from the installed configuration
    and certificates, with keyward freshly started."""

    @classmethod
    def setUpClass(cls):
        cls.box = None
        cls.scratch = tempfile.mkdtemp(prefix="keyward-system-")
        try:
            cls.prepare()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def prepare(cls):
        started = time.monotonic()
        build_prefix_usr()
        packages = container.runtime_packages(installed_executables())
        cached = os.path.isdir(container.rootfs_path(packages))
        base = container.rootfs(packages)
        log("\nroot file system %s (%s)" % (base, "cached" if cached else "made by debootstrap"))
        cls.box = box = container.Container(base)
        _running.append(box)
        res = subprocess.run(["meson", "install", "-C", PREFIX_USR_BUILD, "--destdir", box.root,
                              "--no-rebuild", "--quiet"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if res.returncode != 0:
            raise AssertionError("meson install into the container failed:\n" + res.stdout)

        cls.index = read(os.path.join(kwtest.SOURCE, "www", "index.html"))
        cls.pristine_conf = read(box.path(CONF)).decode()

        state = box.boot()
        log("container %s booted (%s) in %.1f s since the suite started"
            % (box.name, state, time.monotonic() - started))
        if state != "running":
            log(box.run("systemctl", "--failed", "--no-pager", check=False).stdout)
        cls.as_installed = cls.start_as_installed()

        # The administrator's part, for the other tests: certificates in /etc/keyward/certs
        # (the CA keys kept elsewhere) and the toy-TLS listener enabled as the installed
        # configuration's comments say, on other ports.
        cls.pki = make_pki(os.path.join(cls.scratch, "pki"), "rsa")
        cls.root_pem = os.path.join(cls.pki, "root_cert.pem")
        cls.plain_port, cls.tls_port = kwtest.free_port(), kwtest.free_port()
        cls.installed_conf = with_ports(cls.pristine_conf, cls.plain_port, cls.tls_port)
        write(box.path(EXTRA_ROOT + "/hello.txt"), "hello from a new location\n")
        cls.no_memlock = cls.why_no_memlock()
        if cls.no_memlock:
            log("the signer's locked memory is not checked: " + cls.no_memlock)

    @classmethod
    def start_as_installed(cls):
        """What a fresh install does with no edit at all: the commands of README.md's
        Install block that run on the installed system (its meson commands are what
        prepare() did on the host), `systemctl is-active keyward`, and GET
        http://127.0.0.1/ (port 80) from inside the container's network. Stops keyward
        again; returns {readme, enabled, state, get, journal, conf_after, certs}."""
        box = cls.box
        commands = readme_install_commands()
        readme = {"setup": [c for c in commands if c.startswith("meson setup ")],
                  "install": [c for c in commands if c.startswith("meson install ")],
                  "ran": []}
        for command in commands:
            if not command.startswith("meson "):
                readme["ran"].append((command, box.run("sh", "-c", command, check=False,
                                                       timeout=60)))
        enabled = box.run("systemctl", "is-enabled", UNIT, check=False)
        state = box.run("systemctl", "is-active", UNIT, check=False).stdout.strip()
        get = box.run_in_network(kwtest.KEYWARD_GET, "http://127.0.0.1/")
        journal = box.run("journalctl", "-u", UNIT, "--no-pager", "-n", "40",
                          check=False).stdout
        box.run("systemctl", "stop", UNIT, check=False, timeout=60)
        return {"readme": readme, "enabled": enabled, "state": state, "get": get,
                "journal": journal,
                "conf_after": read(box.path(CONF)).decode(),
                "certs": os.path.exists(box.path(CERTS))}

    @classmethod
    def why_no_memlock(cls):
        """Why the host keeps the signer from locking its memory whatever the unit says,
        or ""."""
        limits = cls.box.run("cat", "/proc/1/limits").stdout
        if not re.search(r"(?m)^Max locked memory\s+\S+\s+unlimited", limits):
            return ("the host caps the container's memory-lock limit (no CAP_SYS_RESOURCE): "
                    "LimitMEMLOCK=infinity cannot apply")
        with open("/proc/self/status") as f:
            if not re.search(r"(?m)^Seccomp:\s+0$", f.read()):
                return ("this suite runs under a system call filter (in a container?) that "
                        "may refuse mlockall to everything below it")
        return ""

    @classmethod
    def tearDownClass(cls):
        if cls.box is not None:
            cls.box.stop()
            _running.remove(cls.box)
        shutil.rmtree(cls.scratch, ignore_errors=True)

    # -- helpers --------------------------------------------------------------------------

    def setUp(self):
        self.restore()
        self.since = self.cursor()
        res = self.systemctl("start", check=False)
        if res.returncode != 0:
            self.fail_with("systemctl start %s failed: %s" % (UNIT, res.stderr))
        self.assertEqual(self.state(), "active", "not active once systemctl start returned")
        self.wait_journal(r"ready: generation 1, \d+ workers")

    def restore(self):
        """The installed configuration on free ports and the original certificates; keyward
        stopped, its failures forgotten."""
        box = self.box
        self.systemctl("stop", check=False)
        self.systemctl("reset-failed", check=False)
        self.write_conf(self.installed_conf)
        for name in SERVED_CERT_FILES:
            src = os.path.join(self.pki, name)
            write(box.path(CERTS + "/" + name), read(src), os.stat(src).st_mode & 0o777)

    def write_conf(self, text):
        write(self.box.path(CONF), text)

    def systemctl(self, *args, check=True, timeout=60):
        res = self.box.run("systemctl", "--no-pager", *args, UNIT, check=False, timeout=timeout)
        if check and res.returncode != 0:
            self.fail_with("systemctl %s %s exited %d: %s"
                           % (" ".join(args), UNIT, res.returncode, res.stderr))
        return res

    def state(self):
        return self.systemctl("is-active", check=False).stdout.strip()

    def show(self, prop):
        return self.systemctl("show", "-p", prop, "--value").stdout.strip()

    def wait_state(self, want):
        deadline = time.monotonic() + WAIT
        while True:
            state = self.state()
            if state == want:
                return
            if time.monotonic() > deadline:
                self.fail_with("%s is %s, not %s, after %d s" % (UNIT, state, want, WAIT))
            time.sleep(0.1)

    def cursor(self):
        """The journal's position now: entries after it are this test's."""
        out = self.box.run("journalctl", "-n", "1", "-o", "json", "--no-pager").stdout
        return json.loads(out.splitlines()[-1])["__CURSOR"]

    def journal(self, *args):
        """The unit's journal entries since the test started (JSON objects). From the
        cursor's entry on, not after it: journalctl 252 --after-cursor with matches drops
        the first matching entry when the cursor's own entry does not match."""
        out = self.box.run("journalctl", "-u", UNIT, "--cursor", self.since, "-o", "json",
                           "--no-pager", *args).stdout
        entries = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        return [e for e in entries if e["__CURSOR"] != self.since]

    def messages(self, *args):
        return [message(e) for e in self.journal(*args)]

    def wait_journal(self, pattern, timeout=WAIT):
        """The first message since the test started that matches pattern."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for text in self.messages():
                if regex.search(text):
                    return text
            if time.monotonic() > deadline:
                self.fail_with("no journal message matching %r in %d s" % (pattern, timeout))
            time.sleep(0.1)

    def fail_with(self, msg):
        """Fails with the unit's status and the end of its journal."""
        status = self.box.run("systemctl", "--no-pager", "status", UNIT, check=False).stdout
        tail = self.box.run("journalctl", "-u", UNIT, "-n", "60", "--no-pager",
                            check=False).stdout
        raise AssertionError("%s\n--- systemctl status %s:\n%s\n--- journalctl -u %s:\n%s"
                             % (msg, UNIT, status, UNIT, tail))

    def get(self, path="/", tls=False, root=None, name="localhost"):
        if tls:
            cmd = [kwtest.KEYWARD_GET, "--root", root or self.root_pem, "--name", name,
                   "toytls://127.0.0.1:%d%s" % (self.tls_port, path)]
        else:
            cmd = [kwtest.KEYWARD_GET, "http://127.0.0.1:%d%s" % (self.plain_port, path)]
        return self.box.run_in_network(*cmd)

    def assert_served(self, path, body, **kw):
        res = self.get(path, **kw)
        if res.returncode != 0 or res.stdout != body:
            self.fail_with("GET %s (%s) gave %d, %r: %s"
                           % (path, kw, res.returncode, res.stdout[:200],
                              res.stderr.decode(errors="replace")))

    def assert_serves_site(self):
        for tls in (False, True):
            self.assert_served("/", self.index, tls=tls)

    def processes(self):
        """{pid: (user, title)} of the processes titled "keyward: ..." in the container."""
        out = self.box.run("ps", "-e", "-o", "pid=,user:32=,args=").stdout
        procs = {}
        for line in out.splitlines():
            pid, user, args = line.split(None, 2)
            if args.startswith("keyward: "):
                procs[int(pid)] = (user, args)
        return procs

    def proc_files(self, pids, name):
        """{pid: text of /proc/PID/NAME} read inside the container."""
        paths = ["/proc/%d/%s" % (pid, name) for pid in pids]
        out = self.box.run("grep", "-H", "", *paths, check=False).stdout
        files = {pid: "" for pid in pids}
        for line in out.splitlines():
            path, _, text = line.partition(":")
            files[int(path.split("/")[2])] += text + "\n"
        return files

    def broken_conf(self, base):
        """base with a syntax error on a line of its own; returns (text, line number)."""
        text = base.rstrip("\n") + "\n"
        return text + "workers = ;\n", text.count("\n") + 1

    def with_extra_location(self):
        return self.installed_conf.replace(
            "locations = (", 'locations = (\n      { prefix = "/extra/"; root = "%s"; },'
            % EXTRA_ROOT, 1)

    # -- start ----------------------------------------------------------------------------

    def test_installed_package_serves_at_once(self):
        """README's Install commands, no edit: the default site on port 80."""
        got = self.as_installed
        readme = got["readme"]
        self.assertEqual(len(readme["setup"]), 1, readme)
        self.assertEqual(tuple(a for a in readme["setup"][0].split() if a.startswith("--")),
                         SETUP_OPTIONS, "the suite configures its build otherwise")
        self.assertEqual(len(readme["install"]), 1, readme)
        self.assertRegex(readme["ran"][-1][0], r"^systemctl enable --now keyward$")
        for command, res in readme["ran"]:
            self.assertEqual(res.returncode, 0, "%s: %s%s\n%s" % (command, res.stdout, res.stderr,
                                                                 got["journal"]))
        self.assertEqual(got["enabled"].stdout.strip(), "enabled")
        self.assertEqual(got["state"], "active", got["journal"])
        self.assertEqual(got["get"].returncode, 0,
                         "GET http://127.0.0.1/ failed: %s\n%s"
                         % (got["get"].stderr.decode(errors="replace"), got["journal"]))
        self.assertEqual(got["get"].stdout, self.index)
        self.assertEqual(got["conf_after"], self.pristine_conf, "the configuration changed")
        self.assertFalse(got["certs"], "certificates appeared")

    def test_start_serves_plain_http_and_toy_tls(self):
        self.assert_serves_site()
        self.assertEqual(self.show("Type"), "notify")
        self.assertEqual(self.show("SubState"), "running")

    def test_start_is_clean(self):
        """A start under the unit's hardening logs no error and no warning: every sandbox
        step of the signer succeeds (seccomp, Landlock, locked memory)."""
        noisy = [m for m in self.messages() if re.search(r"\[(error|warn)\]", m)
                 and not (self.no_memlock and "lock_memory: mlockall" in m)]
        self.assertEqual(noisy, [], "errors or warnings while starting")

    def test_users_made_by_sysusers(self):
        out = self.box.run("getent", "passwd", kwtest.WORKER_USER, kwtest.SIGNER_USER).stdout
        users = {line.split(":")[0]: line.split(":") for line in out.splitlines()}
        self.assertEqual(sorted(users), sorted([kwtest.WORKER_USER, kwtest.SIGNER_USER]))
        self.assertEqual(users[kwtest.WORKER_USER][4], "keyward web server workers")
        self.assertEqual(users[kwtest.SIGNER_USER][4], "keyward key signer")

    def test_processes_run_as_their_users_in_the_unit_cgroup(self):
        procs = self.processes()
        main_pid = int(self.show("MainPID"))
        roles = sorted((user, title.split()[1]) for user, title in procs.values())
        workers = int(re.search(r"(\d+) workers", self.wait_journal(r"ready: generation 1"))[1])
        self.assertEqual(roles, sorted([("root", "master"), (kwtest.SIGNER_USER, "signer")]
                                       + [(kwtest.WORKER_USER, "worker")] * workers), procs)
        self.assertEqual(procs[main_pid][1], "keyward: master")
        for pid, text in self.proc_files(procs, "cgroup").items():
            # cgroup v2, or the systemd hierarchy of a v1/hybrid host (nested containers)
            self.assertRegex(text, r"(?m)^(0:|\d+:name=systemd):/system\.slice/keyward\.service$",
                             "%s not in the unit's cgroup" % (procs[pid],))

    def test_processes_run_under_the_units_hardening(self):
        procs = self.processes()
        status = self.proc_files(procs, "status")
        mounts = self.proc_files(procs, "mountinfo")
        for pid, (user, title) in procs.items():
            with self.subTest(process=title, pid=pid):
                fields = dict(re.findall(r"(?m)^(\w+):\s*(.*)$", status[pid]))
                self.assertEqual(fields["NoNewPrivs"], "1")
                self.assertEqual(fields["Seccomp"], "2")
                if title != "keyward: master":
                    self.assertEqual(int(fields["CapEff"], 16), 0)
                if title == "keyward: signer" and not self.no_memlock:
                    self.assertGreater(int(fields["VmLck"].split()[0]), 0, "memory not locked")
                if title == "keyward: signer":
                    continue  # chrooted to an empty directory: no mount is in its view
                by_point = {line.split()[4]: line for line in mounts[pid].splitlines()}
                self.assertRegex(by_point["/proc"], r"hidepid=invisible", "ProtectProc")
                self.assertRegex(by_point["/proc"], r"subset=pid", "ProcSubset")
                self.assertRegex(by_point["/"].split()[5], r"(^|,)ro(,|$)", "ProtectSystem")

    def test_keyward_inspect_passes(self):
        self.assert_served("/", self.index, tls=True)
        res = self.box.run("keyward-inspect", "-c", CONF, check=False, timeout=300)
        if res.returncode != 0:
            self.fail_with("keyward-inspect -c %s exited %d:\n%s%s"
                           % (CONF, res.returncode, res.stdout, res.stderr))
        self.assertNotRegex(res.stdout, r"FAIL|UNCHECKED")

    def test_security_exposure(self):
        res = self.box.run("systemd-analyze", "security", "--no-pager", UNIT, check=False)
        match = re.search(r"Overall exposure level for keyward\.service: (\d+\.\d+)", res.stdout)
        self.assertIsNotNone(match, res.stdout + res.stderr)
        exposure = float(match[1])
        log("\nsystemd-analyze security keyward (running, in the container): exposure %.1f"
            % exposure)
        self.assertLessEqual(exposure, MAX_EXPOSURE, res.stdout)

    # -- reload ---------------------------------------------------------------------------

    def reload(self):
        main_pid = self.show("MainPID")
        self.systemctl("reload")
        return main_pid

    def assert_still_running(self, main_pid):
        self.wait_state("active")
        self.assertEqual(self.show("MainPID"), main_pid, "the master was replaced")

    def test_reload_serves_a_new_location(self):
        body = read(self.box.path(EXTRA_ROOT + "/hello.txt"))
        self.assertEqual(self.get("/extra/hello.txt").returncode, 1)
        self.write_conf(self.with_extra_location())
        main_pid = self.reload()
        self.wait_journal(r"ready: generation 2, \d+ workers")
        # until they exit, old workers may still take a connection, with the old configuration
        self.wait_journal(r"generation 1: every process exited")
        self.assert_still_running(main_pid)
        for tls in (False, True):
            self.assert_served("/extra/hello.txt", body, tls=tls)
        self.assert_serves_site()

    def test_reload_serves_a_rotated_certificate(self):
        """New key (ECDSA), leaf and chain from another CA: after the reload only the new
        root verifies the server."""
        new_pki = make_pki(os.path.join(self.scratch, "pki-rotated"), "ecdsa")
        new_root = os.path.join(new_pki, "root_cert.pem")
        self.assertEqual(self.get(tls=True, root=new_root).returncode, 2)
        for name in SERVED_CERT_FILES:
            src = os.path.join(new_pki, name)
            write(self.box.path(CERTS + "/" + name), read(src), os.stat(src).st_mode & 0o777)
        main_pid = self.reload()
        self.wait_journal(r"ready: generation 2, \d+ workers")
        # until they exit, old workers may still take a connection, with the old configuration
        self.wait_journal(r"generation 1: every process exited")
        self.assert_still_running(main_pid)
        self.assert_served("/", self.index, tls=True, root=new_root)
        res = self.get(tls=True)
        self.assertEqual(res.returncode, 2, "the old certificate is still served")
        self.assertIn(b"certificate", res.stderr)

    def test_broken_reload_keeps_the_old_configuration(self):
        text, line = self.broken_conf(self.with_extra_location())
        self.write_conf(text)
        main_pid = self.reload()
        failed = self.wait_journal(r"reload failed: ")
        self.assertIn("%s:%d: " % (CONF, line), failed)
        self.assert_still_running(main_pid)
        self.assert_serves_site()
        self.assertEqual(self.get("/extra/hello.txt").returncode, 1, "the edit was applied")
        self.assertFalse([m for m in self.messages() if "ready: generation 2" in m])

    # -- the journal ----------------------------------------------------------------------

    def test_journal_priorities_follow_the_log_levels(self):
        """Lines of the master, the signer and the workers reach the journal with the
        priority of their level, so that journalctl -p err shows errors only."""
        self.write_conf(self.broken_conf(self.installed_conf)[0])
        self.reload()
        self.wait_journal(r"reload failed: ")
        signer = [pid for pid, (_, title) in self.processes().items() if "signer" in title]
        self.assertEqual(len(signer), 1)
        self.box.run("kill", "-KILL", str(signer[0]))
        self.wait_journal(r"\[warn\] worker\[\d+\]: .*signer channel lost")
        # the new signer's line: the one that started the service matches "signer ready" too
        self.wait_journal(r"signer ready: pid (?!%d,)\d+" % signer[0])
        self.assert_serves_site()

        seen = set()
        for entry in self.journal():
            if entry.get("SYSLOG_IDENTIFIER") != "keyward":
                continue
            text = message(entry)
            if text.startswith("keyward: "):
                continue  # the output of ExecStartPre's keyward -t
            match = re.match(r"\[(\w+)\] (master|signer|worker)\[\d+\]: ", text)
            self.assertIsNotNone(match, "no level prefix, or a raw <N> one: %r" % text)
            self.assertEqual(int(entry["PRIORITY"]), LEVELS[match[1]], text)
            seen.add((match[2], match[1]))
        # The master's respawn line is an error since a respawn is a failure; warn is
        # the worker's line about the lost signer channel.
        for role_level in (("master", "error"), ("master", "notice"), ("worker", "warn")):
            self.assertIn(role_level, seen)

        errors = "\n".join(self.messages("-p", "err"))
        self.assertRegex(errors, r"\[error\] master\[\d+\]: reload failed: ")
        self.assertNotRegex(errors, r"\[(warn|notice|info|debug)\]")

    # -- stop and failed start ------------------------------------------------------------

    def test_stop_leaves_no_process(self):
        pids = set(self.processes())
        self.systemctl("stop")
        self.assertEqual(self.state(), "inactive")
        self.assertEqual(self.show("Result"), "success")
        self.assertEqual(self.show("ExecMainStatus"), "0")
        left = self.box.run("sh", "-c", "grep -l keyward.service /proc/[0-9]*/cgroup",
                            check=False).stdout
        self.assertEqual(left, "", "processes left in the unit's cgroup")
        self.assertFalse(pids & set(self.processes()))
        self.assertFalse(os.path.exists(self.box.path("/run/keyward")),
                         "the runtime directory was not removed")
        self.wait_journal(r"\[notice\] master\[\d+\]: stopped$")

    def failed_start(self):
        """Stops keyward, breaks the configuration and starts: returns the line of the
        error and the start's journal messages."""
        self.systemctl("stop")
        self.since = self.cursor()
        text, line = self.broken_conf(self.installed_conf)
        self.write_conf(text)
        res = self.systemctl("start", check=False)
        self.assertNotEqual(res.returncode, 0, "a broken configuration started")
        self.wait_journal(r"configuration %s test failed" % re.escape(CONF))
        self.assertEqual(self.show("Result"), "exit-code")
        self.assertRegex(self.show("ExecStartPre"), r"\bstatus=1\b")
        self.systemctl("stop")
        return line

    def test_start_with_a_broken_configuration_fails_in_exec_start_pre(self):
        line = self.failed_start()
        messages = self.messages()
        self.assertIn("keyward: %s:%d: syntax error" % (CONF, line), messages)
        self.assertFalse([m for m in messages if "starting keyward" in m],
                         "ExecStart ran: %s" % messages)
        self.assertEqual(self.state(), "inactive")

    def test_start_failure_reason_is_an_error_in_the_journal(self):
        """journalctl -p err -u keyward tells why the start failed."""
        line = self.failed_start()
        reason = "%s:%d: syntax error" % (CONF, line)
        logged = [e for e in self.journal() if reason in message(e)]
        self.assertTrue(logged, "the configuration error is not in the journal")
        self.assertEqual([int(e["PRIORITY"]) for e in logged], [LEVELS["error"]],
                         "priority of %r: journalctl -p err -u %s leaves it out"
                         % (message(logged[0]), UNIT))
        self.assertIn(reason, "\n".join(self.messages("-p", "err")))


def interrupt(signo, frame):
    """meson test ends a test that runs too long with SIGTERM: the test stops as on
    Ctrl-C, and the container is stopped and removed on the way out."""
    raise KeyboardInterrupt


if __name__ == "__main__":
    reason = container.unavailable()
    if reason:
        print("skipped: " + reason)
        sys.exit(77)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        kwtest.main()
    finally:
        for box in list(_running):
            box.stop()

#!/usr/bin/python3
"""meson install: where every file lands, the installed configuration, the sysusers.d
file, and the systemd unit as systemd-analyze sees it (no warning; exposure score)."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

import kwtest

# The exposure score of the unit (systemd-analyze security) must not grow past this.
MAX_EXPOSURE = 3.0

HAVE_ANALYZE = shutil.which("systemd-analyze") is not None
HAVE_SYSUSERS = shutil.which("systemd-sysusers") is not None


def with_ports(text, plain_port, tls_port=None):
    """The installed configuration on other ports; with tls_port, its toy-TLS listener
    and certificate lines uncommented as its comments tell an administrator to do."""
    listen = '{ address = "*"; port = 80; }'
    if text.count(listen) != 1:
        raise AssertionError("the installed configuration does not listen on port 80 once:\n"
                             + text)
    text = text.replace(listen, '{ address = "*"; port = %d; }' % plain_port)
    if tls_port is None:
        return text
    tls = '#{ address = "*"; port = 443; tls = "toy"; },'
    if text.count(tls) != 1:
        raise AssertionError("no commented toy-TLS listener on port 443:\n" + text)
    text = text.replace(tls, '{ address = "*"; port = %d; tls = "toy"; },' % tls_port)
    text, n = re.subn(r"(?m)^(\s*)#(certificate(_key|_chain)? = )", r"\1\2", text)
    if n != 3:
        raise AssertionError("%d commented certificate lines, not 3:\n%s" % (n, text))
    return text


def meson_info(name):
    with open(os.path.join(kwtest.BUILD, "meson-info", "intro-%s.json" % name)) as f:
        return json.load(f)


def build_options():
    return {o["name"]: o["value"] for o in meson_info("buildoptions")}


def build_unbuilt_install_targets():
    """meson test builds only what the tests depend on: builds whatever else installs,
    so that `meson install --no-rebuild` finds every file."""
    build = os.path.realpath(kwtest.BUILD)
    missing = [os.path.relpath(path, build) for path in meson_info("installed")
               if path.startswith(build + os.sep) and not os.path.exists(path)]
    if missing:
        subprocess.run(["ninja", "-C", build, *missing], check=True, stdout=subprocess.DEVNULL)


def systemd_dir(option, prefix, pkg_variable, fallback):
    """Where the build says a systemd file installs: the option, else pkg-config's
    directory when the prefix is /usr, else under the prefix."""
    if option:
        return option
    if prefix == "/usr" and shutil.which("pkg-config"):
        res = subprocess.run(["pkg-config", "--variable=" + pkg_variable, "systemd"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if res.returncode == 0 and res.stdout.strip():
            return res.stdout.strip()
    return os.path.join(prefix, fallback)


class Layout:
    """The documented install locations for this build's options."""

    def __init__(self):
        opts = build_options()
        self.prefix = opts["prefix"]

        def under(name):
            return os.path.join(self.prefix, opts[name])

        self.sbindir = under("sbindir")
        self.bindir = under("bindir")
        self.logrotate = os.path.join(under("sysconfdir"), "logrotate.d", "keyward")
        self.libexec = os.path.join(under("libexecdir"), "keyward")
        self.sysconf = os.path.join(under("sysconfdir"), "keyward")
        self.www = os.path.join(under("datadir"), "keyward", "www")
        self.certs = os.path.join(self.sysconf, "certs")
        self.unitdir = systemd_dir(opts["systemdunitdir"], self.prefix, "systemdsystemunitdir",
                                   "lib/systemd/system")
        self.sysusersdir = systemd_dir(opts["sysusersdir"], self.prefix, "sysusersdir",
                                       "lib/sysusers.d")
        self.keyward = os.path.join(self.sbindir, "keyward")
        self.conf = os.path.join(self.sysconf, "keyward.conf")
        self.unit = os.path.join(self.unitdir, "keyward.service")
        self.sysusers = os.path.join(self.sysusersdir, "keyward.conf")
        self.mandir = under("mandir")

    def expected(self):
        """{installed path: source file or None (a built program)}."""
        files = {
            self.keyward: None,
            os.path.join(self.libexec, "keyward-worker"): None,
            os.path.join(self.libexec, "keyward-signer"): None,
            self.conf: None,
            self.unit: None,
            self.sysusers: os.path.join(kwtest.SOURCE, "etc", "keyward.sysusers"),
            self.logrotate: None,
            os.path.join(self.bindir, "keyward-certs"): os.path.join(kwtest.SOURCE, "tools",
                                                                     "keyward-certs"),
        }
        for tool in ("keyward-get", "keyward-bench", "keyward-bench-floor", "keyward-inspect"):
            files[os.path.join(self.bindir, tool)] = None
        if os.path.exists(os.path.join(kwtest.BUILD, "keyward.8")):
            for page in ("keyward.8", "keyward.conf.5", "keyward-get.1", "keyward-bench.1",
                         "keyward-certs.1", "keyward-inspect.8"):
                files[os.path.join(self.mandir, "man" + page[-1], page)] = \
                    os.path.join(kwtest.BUILD, page)
            files[os.path.join(self.mandir, "man1", "keyward-bench-floor.1")] = \
                os.path.join(kwtest.SOURCE, "tools", "keyward-bench-floor.1")
        mime = os.path.join(kwtest.SOURCE, "etc", "mime.types")
        if os.path.exists(mime):
            files[os.path.join(self.sysconf, "mime.types")] = mime
        site = os.path.join(kwtest.SOURCE, "www")
        for top, _, names in os.walk(site):
            for name in names:
                if name != "meson.build":
                    src = os.path.join(top, name)
                    files[os.path.join(self.www, os.path.relpath(src, site))] = src
        return files


def read(path):
    with open(path, "rb") as f:
        return f.read()


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        build_unbuilt_install_targets()
        cls.layout = Layout()
        cls.destdir = tempfile.mkdtemp(prefix="keyward-install-")
        os.chmod(cls.destdir, 0o755)
        cls.scratch = tempfile.mkdtemp(prefix="keyward-install-scratch-")
        res = subprocess.run(["meson", "install", "-C", kwtest.BUILD, "--destdir", cls.destdir,
                              "--no-rebuild", "--quiet"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if res.returncode != 0:
            cls.tearDownClass()
            raise AssertionError("meson install failed:\n" + res.stdout)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.destdir, ignore_errors=True)
        shutil.rmtree(cls.scratch, ignore_errors=True)

    def staged(self, path):
        """Where an installed path is under DESTDIR."""
        return os.path.join(self.destdir, path.lstrip("/"))

    def staged_text(self, text):
        """text with every installed path in it moved under DESTDIR."""
        lay = self.layout
        for path in sorted({lay.sbindir, lay.libexec, lay.sysconf, lay.www}, key=len,
                           reverse=True):
            text = re.sub(r"(?<![\w/])" + re.escape(path) + r"(?=[/\s\"]|$)",
                          self.staged(path), text)
        return text

    def staged_certs(self):
        certs = self.staged(self.layout.certs)
        if not os.path.exists(os.path.join(certs, "server_key.pem")):
            kwtest.make_certs(certs)
        return certs

    # -- where files land ---------------------------------------------------------------

    def test_every_file_lands_where_documented(self):
        lay = self.layout
        for path, source in lay.expected().items():
            with self.subTest(path=path):
                staged = self.staged(path)
                self.assertTrue(os.path.isfile(staged), "not installed: " + path)
                if source is not None:
                    self.assertEqual(read(staged), read(source))
        for path in (lay.keyward, os.path.join(lay.libexec, "keyward-worker"),
                     os.path.join(lay.libexec, "keyward-signer"),
                     *(os.path.join(lay.bindir, tool) for tool in
                       ("keyward-certs", "keyward-get", "keyward-bench", "keyward-bench-floor",
                        "keyward-inspect"))):
            self.assertTrue(os.access(self.staged(path), os.X_OK), path + " is not executable")

    def test_nothing_installed_elsewhere(self):
        lay = self.layout
        roots = (lay.prefix, lay.sysconf, lay.unitdir, lay.sysusersdir,
                 os.path.dirname(lay.logrotate))
        for top, _, names in os.walk(self.destdir):
            for name in names:
                path = "/" + os.path.relpath(os.path.join(top, name), self.destdir)
                self.assertTrue(any(path.startswith(r.rstrip("/") + "/") for r in roots),
                                "installed outside the documented directories: " + path)

    # -- the installed configuration ------------------------------------------------------

    def test_installed_config_is_the_sample_with_installed_paths(self):
        lay = self.layout
        text = read(self.staged(lay.conf)).decode()
        self.assertRegex(text, r'(?m)^\s*root = "%s";' % re.escape(lay.www))
        certs = re.escape(lay.certs)
        for key in ("certificate", "certificate_key"):
            self.assertRegex(text, r'(?m)^\s*#%s = "%s/[^"/]+\.pem";' % (key, certs))
        self.assertRegex(text, r'(?m)^\s*#certificate_chain = \[ "%s/' % certs)
        self.assertNotIn("../", text)
        sample = read(os.path.join(kwtest.SOURCE, "etc", "keyward.conf")).decode()
        back = text.replace(lay.www, "../www").replace('"%s/' % lay.certs, '"certs/')
        back = back.replace(lay.sysconf, "/etc/keyward")
        mime = os.path.join(lay.sysconf, "mime.types")
        if os.path.exists(self.staged(mime)):
            line = 'mime_types = "%s";' % mime
            self.assertRegex(text, r"(?m)^" + re.escape(line) + "$")
            back = back.replace(line.replace(lay.sysconf, "/etc/keyward"),
                                '#mime_types = "/etc/mime.types";')
        self.assertEqual(back, sample, "the installed configuration differs from the sample "
                         "in more than its paths")

    def check_installed_config(self, text):
        """keyward -t on text, in the installed tree at its prefix (-t runs the installed
        keyward-signer to check the keys)."""
        self.need_prefix_namespace()
        conf = os.path.join(self.scratch, "check.conf")
        with open(conf, "w") as f:
            f.write(self.staged_text(text))
        return subprocess.run(self.at_prefix(self.layout.keyward, "-t", "-c", conf),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    @unittest.skipUnless(kwtest.IS_ROOT, "needs root: a mount namespace and the users")
    def test_installed_config_checks_without_certificates(self):
        """As installed it needs nothing else: plain HTTP on port 80, toy-TLS commented."""
        text = read(self.staged(self.layout.conf)).decode()
        installed = meson_info("installed").values()
        self.assertFalse([p for p in installed if p.startswith(self.layout.certs + "/")],
                         "certificates installed")
        self.assertRegex(text, r'(?m)^      \{ address = "\*"; port = 80; \}$')
        self.assertNotRegex(text, r'(?m)^\s*[^#\s].*tls = ')
        res = self.check_installed_config(text)
        self.assertEqual(res.returncode, 0, res.stdout)
        self.assertIn("is ok", res.stdout)

    @unittest.skipUnless(kwtest.IS_ROOT, "needs root: a mount namespace and the users")
    def test_installed_config_with_toy_tls_enabled_as_its_comments_say(self):
        text = with_ports(read(self.staged(self.layout.conf)).decode(), 80, 443)
        if not os.path.exists(self.staged(self.layout.certs)):
            res = self.check_installed_config(text)
            self.assertEqual(res.returncode, 1, "checks without certificates: " + res.stdout)
            self.assertIn("server_cert.pem", res.stdout)
        self.staged_certs()
        res = self.check_installed_config(text)
        self.assertEqual(res.returncode, 0, res.stdout)
        self.assertIn("is ok", res.stdout)

    @unittest.skipUnless(shutil.which("man"), "man is missing (apt-get install man-db)")
    def test_installed_man_pages_are_found_by_name(self):
        mandir = self.staged(self.layout.mandir)
        if not os.path.isdir(mandir):
            self.skipTest("no man pages built (scdoc)")
        for section, name, title in (("8", "keyward", "keyward"),
                                     ("5", "keyward.conf", "keyward.conf"),
                                     ("1", "keyward-get", "keyward-get"),
                                     ("1", "keyward-bench", "keyward-bench"),
                                     ("1", "keyward-bench-floor", "keyward-bench"),
                                     ("1", "keyward-certs", "keyward-certs"),
                                     ("8", "keyward-inspect", "keyward-inspect")):
            with self.subTest(page=name):
                res = subprocess.run(["man", "--warnings", "-M", mandir, section, name],
                                     env=dict(os.environ, MANWIDTH="80"),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                self.assertEqual((res.returncode, res.stderr), (0, ""))
                self.assertRegex(res.stdout, r"(?m)^NAME\n\s+%s\b" % re.escape(title))

    def test_logrotate_reopens_the_installed_master(self):
        lay = self.layout
        text = read(self.staged(lay.logrotate)).decode()
        self.assertIn("%s -s reopen -c %s " % (lay.keyward, lay.conf), text)
        if shutil.which("logrotate"):
            res = subprocess.run(["logrotate", "--debug", self.staged(lay.logrotate)],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            self.assertEqual(res.returncode, 0, res.stdout)
            self.assertNotRegex(res.stdout, r"(?i)error", res.stdout)

    # -- sysusers.d -----------------------------------------------------------------------

    @unittest.skipUnless(HAVE_SYSUSERS, "systemd-sysusers is missing (apt-get install systemd)")
    def test_sysusers_creates_both_users_without_home_or_shell(self):
        root = os.path.join(self.scratch, "sysusers-root")
        os.makedirs(os.path.join(root, "etc"))
        res = subprocess.run(["systemd-sysusers", "--root=" + root,
                              self.staged(self.layout.sysusers)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.assertEqual(res.returncode, 0, res.stdout)
        self.assertNotRegex(res.stdout, r"(?i)warn|ignor|fail|invalid", res.stdout)
        with open(os.path.join(root, "etc", "passwd")) as f:
            users = {line.split(":")[0]: line.rstrip("\n").split(":") for line in f}
        self.assertEqual(sorted(users), [kwtest.WORKER_USER, kwtest.SIGNER_USER])
        for name, fields in users.items():
            with self.subTest(user=name):
                self.assertLess(int(fields[2]), 1000, "not a system user")
                self.assertEqual(fields[5:], ["/nonexistent", "/usr/sbin/nologin"])

    # -- the systemd unit -----------------------------------------------------------------

    def unit_lines(self, key):
        text = read(self.staged(self.layout.unit)).decode()
        return re.findall(r"(?m)^%s=(.*)$" % key, text)

    def test_unit_runs_the_installed_master_on_the_installed_config(self):
        lay = self.layout
        self.assertEqual(self.unit_lines("ExecStartPre"),
                         ["%s -t -c %s" % (lay.keyward, lay.conf)])
        self.assertEqual(self.unit_lines("ExecStart"), ["%s -c %s" % (lay.keyward, lay.conf)])
        self.assertEqual(self.unit_lines("Type"), ["notify"])
        self.assertEqual(self.unit_lines("RuntimeDirectory"), ["keyward"])
        self.assertNotIn("@", read(self.staged(lay.unit)).decode().replace("@system-service", ""))

    def test_unit_documentation_and_ordering(self):
        self.assertEqual(self.unit_lines("Documentation"), ["man:keyward(8) man:keyward.conf(5)"])
        self.assertEqual(self.unit_lines("After"),
                         ["network-online.target remote-fs.target nss-lookup.target"])
        self.assertEqual(self.unit_lines("Wants"), ["network-online.target"])

    @unittest.skipUnless(HAVE_ANALYZE, "systemd-analyze is missing (apt-get install systemd)")
    def test_systemd_analyze_verify_is_silent(self):
        # verify checks that the commands exist: a copy of the unit points at the files
        # installed under DESTDIR and is otherwise the same.
        unit_dir = os.path.join(self.scratch, "verify")
        os.makedirs(unit_dir)
        unit = os.path.join(unit_dir, "keyward.service")
        with open(unit, "w") as f:
            f.write(self.staged_text(read(self.staged(self.layout.unit)).decode()))
        self.assertNotEqual(read(unit), read(self.staged(self.layout.unit)))
        # Documentation=man:... is checked with man: the pages installed under DESTDIR.
        res = subprocess.run(["systemd-analyze", "verify", unit], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True,
                             env=dict(os.environ, MANPATH=self.staged(self.layout.mandir)))
        self.assertEqual(res.returncode, 0, res.stdout)
        self.assertEqual(res.stdout.strip(), "", "systemd-analyze verify warns")

    @unittest.skipUnless(HAVE_ANALYZE, "systemd-analyze is missing (apt-get install systemd)")
    def test_systemd_analyze_security_exposure(self):
        res = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager",
                              self.staged(self.layout.unit)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = res.stdout.decode("utf-8", "replace")
        match = re.search(r"Overall exposure level for keyward\.service: (\d+\.\d+)", out)
        self.assertIsNotNone(match, out)
        exposure = float(match.group(1))
        print("\nsystemd-analyze security: exposure %.1f" % exposure, file=sys.stderr)
        self.assertLessEqual(exposure, MAX_EXPOSURE, out)

    # -- the installed tree serving -------------------------------------------------------

    def need_prefix_namespace(self):
        """Skips unless DESTDIR's prefix can be bind-mounted over the prefix in a private
        mount namespace (root, a prefix other than /usr, the users, unshare)."""
        lay = self.layout
        if lay.prefix == "/usr" or not os.path.isdir(lay.prefix):
            self.skipTest("the prefix %s cannot be replaced by a bind mount" % lay.prefix)
        for d in (lay.sbindir, lay.libexec, lay.sysconf, lay.www):
            if not d.startswith(lay.prefix.rstrip("/") + "/"):
                self.skipTest("%s is outside the prefix" % d)
        for user in (kwtest.WORKER_USER, kwtest.SIGNER_USER):
            if not kwtest.user_exists(user):
                self.skipTest("user %s is missing" % user)
        probe = subprocess.run(["unshare", "--mount", "--", "mount", "--version"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) \
            if shutil.which("unshare") else None
        if not probe or probe.returncode != 0:
            self.skipTest("no mount namespace here (unshare --mount, mount)")

    def at_prefix(self, program, *args):
        """The command line that runs program with args in a private mount namespace
        where DESTDIR's prefix is mounted over the prefix."""
        script = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
        return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script,
                "sh", self.staged(self.layout.prefix), self.layout.prefix, program, *args]

    @unittest.skipUnless(kwtest.IS_ROOT, "needs root: a mount namespace and the users")
    def test_installed_tree_serves_the_installed_site(self):
        """In a private mount namespace where DESTDIR's prefix is the prefix, the master
        in sbindir finds its helpers in libexecdir and serves the installed site."""
        lay = self.layout
        self.need_prefix_namespace()
        certs = self.staged_certs()
        plain, tls = kwtest.free_port(), kwtest.free_port()
        text = with_ports(read(self.staged(lay.conf)).decode(), plain, tls)
        # Not /run/keyward: outside systemd nothing creates it.
        text += '\npid_file = "%s";\n' % os.path.join(self.scratch, "keyward.pid")
        conf = os.path.join(self.scratch, "serve.conf")
        with open(conf, "w") as f:
            f.write(text)
        proc = subprocess.Popen(self.at_prefix(lay.keyward, "-c", conf),
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        log = kwtest.LogWatcher(proc.stderr)
        try:
            log.wait_for(r"ready: generation \d+, \d+ workers")
            index = read(os.path.join(kwtest.SOURCE, "www", "index.html"))
            for url, args in (("http://127.0.0.1:%d/" % plain, []),
                              ("toytls://127.0.0.1:%d/" % tls,
                               ["--root", os.path.join(certs, "root_cert.pem"),
                                "--name", "localhost"])):
                res = subprocess.run([kwtest.KEYWARD_GET, *args, url], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, timeout=60)
                self.assertEqual(res.returncode, 0, res.stderr)
                self.assertEqual(res.stdout, index)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.thread.join(timeout=5)
            proc.stderr.close()
        self.assertEqual(proc.returncode, 0, log.text())


if __name__ == "__main__":
    kwtest.main()

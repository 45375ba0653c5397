#!/usr/bin/python3
"""keyward -T: the configuration checked as -t checks it, then printed resolved (defaults
filled in, "auto" counted, paths absolute, durations in milliseconds, sizes in bytes).
The output is a configuration that -t accepts and that -T prints again unchanged, and it
names every key the loader knows."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

import kwtest
from test_manpages import config_keys

# Keys printed only when set (no value stands for their default).
ONLY_WHEN_SET = {"mime_types", "ciphersuites", "groups"}


def keyward(*args):
    return subprocess.run([kwtest.KEYWARD, *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=60)


def body(dump):
    """The dump without its first comment lines (which name the file it came from)."""
    return "\n".join(line for line in dump.splitlines() if not line.startswith("#"))


class DumpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="keyward-dump-")
        os.chmod(cls.dir, 0o755)
        kwtest.make_certs(os.path.join(cls.dir, "certs"))
        # A root whose name needs escaping in a libconfig string.
        cls.odd_root = os.path.join(cls.dir, 'site "one" \\ here')
        os.makedirs(cls.odd_root)
        os.makedirs(os.path.join(cls.dir, "www"))
        shutil.copy(os.path.join(kwtest.SOURCE, "etc", "mime.types"),
                    os.path.join(cls.dir, "mime.types"))
        cls.plain, cls.tls, cls.tls13 = kwtest.free_port(), kwtest.free_port(), kwtest.free_port()
        cls.conf = os.path.join(cls.dir, "keyward.conf")
        with open(cls.conf, "w") as f:
            f.write("""
workers = "auto";
access_log = "logs/access.log";
mime_types = "mime.types";
shutdown_timeout = "3s";
signer = { threads = 1; timeout = "1500ms"; };
http = { max_body_size = "5g"; max_header_size = "64k"; keepalive_timeout = 0; };
tls13 = { groups = "X25519:P-256"; ticket_rotation = "2h"; };
servers = (
  {
    server_name = [ "example.com", "*.example.com" ];
    default = true;
    listen = (
      { address = "127.0.0.1"; port = %d; },
      { address = "127.0.0.1"; port = %d; tls = "toy"; },
      { address = "127.0.0.1"; port = %d; tls = "tls13"; }
    );
    certificate = "certs/server_cert.pem";
    certificate_key = "certs/server_key.pem";
    certificate_chain = [ "certs/chain.pem" ];
    locations = (
      { prefix = "/"; root = "www"; },
      { prefix = "/odd/"; root = "%s"; index = [ "a.html", "b.html" ];
        follow_symlinks = false; precompressed = true; expires = "1h";
        headers = [ "X-Odd: \\"quoted\\"" ];
        error_pages = ( { status = 404; uri = "/odd/404.html"; }, { status = 503; uri = "/e"; } ); },
      { prefix = "/status"; status = true; status_allow = [ "10.0.0.0/8", "::1" ]; },
      { prefix = "/r/"; root = "www"; return = { status = 302; location = "$scheme://$host/"; }; },
      { prefix = "/b/"; root = "www"; return = { status = 200; body = "ok \\"$uri\\""; }; }
    );
    headers = [ "X-Frame-Options: DENY" ];
    expires = "epoch";
    hsts = "max-age=60; includeSubDomains";
    error_pages = ( { status = 404; uri = "/404.html"; } );
  },
  {
    listen = ( { address = "127.0.0.1"; port = %d; } );
    locations = ( { prefix = "/"; root = "www"; }, { prefix = "/metrics"; status = true; } );
  }
);
""" % (cls.plain, cls.tls, cls.tls13, cls.odd_root.replace("\\", "\\\\").replace('"', '\\"'), cls.plain))
        os.makedirs(os.path.join(cls.dir, "logs"))
        res = keyward("-T", "-c", cls.conf)
        if res.returncode != 0:
            raise AssertionError("keyward -T failed: %s" % res.stderr)
        cls.dump, cls.dump_err = res.stdout, res.stderr

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setting(self, name):
        match = re.search(r"(?m)^\s*%s = (.*);$" % re.escape(name), self.dump)
        self.assertIsNotNone(match, "%s not in the dump:\n%s" % (name, self.dump))
        return match[1]

    def test_values_are_resolved(self):
        self.assertEqual(self.setting("workers"), str(min(os.cpu_count(), 64)))
        self.assertEqual(self.setting("shutdown_timeout"), "3000")
        self.assertEqual(self.setting("timeout"), "1500")
        self.assertEqual(self.setting("max_body_size"), "5368709120L")
        self.assertEqual(self.setting("max_header_size"), "65536")
        self.assertEqual(self.setting("keepalive_timeout"), "0")
        self.assertEqual(self.setting("groups"), '"X25519:P-256"')
        self.assertEqual(self.setting("ticket_rotation"), "7200000")
        self.assertIn("# ciphersuites: not set, OpenSSL's default", self.dump)
        self.assertIn('{ address = "127.0.0.1"; port = %d; tls = "toy"; proxy_protocol = false; },'
                      % self.tls, self.dump)
        self.assertIn('{ address = "127.0.0.1"; port = %d; tls = "tls13"; proxy_protocol = false; }'
                      % self.tls13, self.dump)
        self.assertIn('access_log_format = "combined";', self.dump)
        self.assertEqual(self.setting("access_log"),
                         '"%s"' % os.path.join(self.dir, "logs", "access.log"))
        self.assertEqual(self.setting("mime_types"), '"%s"' % os.path.join(self.dir,
                                                                           "mime.types"))
        self.assertIn('certificate_key = "%s";' % os.path.join(self.dir, "certs",
                                                               "server_key.pem"), self.dump)
        self.assertIn('root = "%s";' % os.path.realpath(os.path.join(self.dir, "www")),
                      self.dump)
        self.assertIn('status_allow = [ "10.0.0.0/8", "::1/128" ];', self.dump)
        # a status location without a list: loopback only
        self.assertIn('status_allow = [ "127.0.0.0/8", "::1/128" ];', self.dump)

    def test_defaults_are_filled_in(self):
        self.assertEqual(self.setting("max_header_count"), "100")
        self.assertEqual(self.setting("max_inflight"), "64")
        self.assertEqual(self.setting("error_log"), '"stderr"')
        self.assertEqual(self.setting("log_level"), '"notice"')
        self.assertIn('index = [ "index.html" ];', self.dump)
        self.assertIn("follow_symlinks = true;", self.dump)
        self.assertIn("precompressed = false;", self.dump)
        self.assertIn("precompressed = true;", self.dump)
        self.assertIn('headers = [ "X-Odd: \\"quoted\\"" ];', self.dump)
        self.assertIn("expires = 3600;", self.dump)
        self.assertIn('expires = "epoch";', self.dump)
        self.assertIn('hsts = "max-age=60; includeSubDomains";', self.dump)
        self.assertIn('error_pages = ( { status = 404; uri = "/404.html"; } );', self.dump)
        self.assertIn('error_pages = ( { status = 404; uri = "/odd/404.html"; }, '
                      '{ status = 503; uri = "/e"; } );', self.dump)
        self.assertIn('return = { status = 302; location = "$scheme://$host/"; };', self.dump)
        self.assertIn('return = { status = 200; body = "ok \\"$uri\\""; };', self.dump)
        self.assertIn("server_name = [ ];", self.dump)
        expected_pid = ("/run/keyward/keyward.pid" if kwtest.IS_ROOT
                        else os.path.join(self.dir, "keyward.pid"))
        self.assertEqual(self.setting("pid_file"), '"%s"' % expected_pid)

    def test_every_key_of_the_loader_is_printed(self):
        for table, keys in config_keys().items():
            for key in keys:
                if key in ONLY_WHEN_SET:
                    continue
                with self.subTest(table=table, key=key):
                    self.assertRegex(self.dump, r"(?m)(^\s*|\{ |; )%s = " % re.escape(key))

    def test_the_dump_is_a_configuration_that_prints_the_same(self):
        again = os.path.join(self.dir, "again.conf")
        with open(again, "w") as f:
            f.write(self.dump)
        res = keyward("-t", "-c", again)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout, "keyward: configuration %s is ok\n" % again)
        res = keyward("-T", "-c", again)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(body(res.stdout), body(self.dump))
        self.assertIn('"/odd/"', res.stdout)
        self.assertIn(os.path.realpath(self.odd_root).replace("\\", "\\\\").replace('"', '\\"'),
                      res.stdout)

    def test_stdout_holds_the_configuration_alone(self):
        self.assertTrue(self.dump.startswith("# %s, as keyward resolves it" % self.conf))
        self.assertEqual(self.dump_err, "keyward: configuration %s is ok\n" % self.conf)

    def test_a_configuration_that_fails_prints_nothing(self):
        bad = os.path.join(self.dir, "bad.conf")
        with open(bad, "w") as f:
            f.write("workers = ;\n")
        res = keyward("-T", "-c", bad)
        self.assertEqual(res.returncode, 1)
        self.assertEqual(res.stdout, "")
        self.assertIn("%s:1: syntax error" % bad, res.stderr)

    def test_dump_and_signal_do_not_mix(self):
        res = keyward("-T", "-s", "reload", "-c", self.conf)
        self.assertEqual(res.returncode, 2)
        self.assertEqual(res.stdout, "")


if __name__ == "__main__":
    kwtest.main()

#!/usr/bin/python3
"""`keyward -t` checks what a start checks, without the master reading a key: every key
is loaded by keyward-signer in check mode (encrypted, mismatched and unreadable keys
fail), the log files are opened as at start, and the certificate chain must verify from
the leaf through its intermediates. Each failure names the file and line; a key that
other users may read draws a warning."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

from cryptography.hazmat.primitives import serialization

import kwtest

SERVER_LINE = 7  # the line of the server block in every configuration written here
NOBODY = 65534


class CheckTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="keyward-check-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        os.chmod(self.dir, 0o755)
        self.certs = kwtest.make_certs(os.path.join(self.dir, "certs"))
        os.chmod(self.certs, 0o755)
        os.mkdir(os.path.join(self.dir, "www"))
        os.mkdir(os.path.join(self.dir, "logs"))
        self.conf = os.path.join(self.dir, "keyward.conf")
        self.key = os.path.join(self.certs, "server_key.pem")

    def write(self, key="certs/server_key.pem", chain="certs/intermediate_cert.pem",
              access_log="logs/access.log", error_log="stderr", second=""):
        user, signer_user = kwtest.Site.users(None)
        text = ("workers = 1;\n%s"
                'error_log = "%s";\n'
                'access_log = "%s";\n'
                "signer = { %s };\n"
                "servers = (\n"
                "  { listen = ( { address = \"127.0.0.1\"; port = %d; tls = \"toy\"; } );\n"
                '    certificate = "certs/server_cert.pem"; certificate_key = "%s";\n'
                '    certificate_chain = [ "%s" ];\n'
                '    locations = ( { prefix = "/"; root = "www"; } ); }%s\n'
                ");\n") % (user or "\n", error_log, access_log, signer_user,
                           kwtest.free_port(), key, chain, second)
        self.assertEqual(text.splitlines()[SERVER_LINE - 1].strip()[:1], "{")
        with open(self.conf, "w") as f:
            f.write(text)

    def check(self, user=None):
        cmd = [kwtest.KEYWARD, "-t", "-c", self.conf]
        if user is not None:
            cmd = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user, "--clear-groups"] + cmd
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=60)

    def assert_fails(self, pattern, user=None):
        res = self.check(user)
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertRegex(res.stderr, pattern)
        self.assertIn("configuration %s test failed" % self.conf, res.stderr)
        self.assertNotIn("is ok", res.stdout)
        return res

    def key_line(self, path):
        return r"keyward: %s:%d: key %s:? " % (re.escape(self.conf), SERVER_LINE,
                                               re.escape(path))

    def test_a_good_configuration_is_ok(self):
        self.write()
        res = self.check()
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout, "keyward: configuration %s is ok\n" % self.conf)
        self.assertEqual(res.stderr, "")

    def test_encrypted_key(self):
        with open(self.key, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
        locked = os.path.join(self.certs, "locked.pem")
        with open(locked, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.BestAvailableEncryption(b"secret")))
        os.chmod(locked, 0o600)
        self.write(key="certs/locked.pem")
        self.assert_fails(self.key_line(locked) + r"not a PEM private key \(or an encrypted one")

    def test_key_that_does_not_match_its_certificate(self):
        other = kwtest.make_certs(os.path.join(self.dir, "other"), key="ecdsa")
        self.write(key="other/server_key.pem")
        self.assert_fails(self.key_line(os.path.join(other, "server_key.pem")) +
                          r"does not match the public key of certificate")

    def test_unreadable_key(self):
        if kwtest.IS_ROOT:
            # the file is root's, mode 0600: a master started by another user cannot read it
            for path in (self.dir, self.certs):
                os.chmod(path, 0o755)
            os.chmod(os.path.join(self.dir, "logs"), 0o777)
            self.write()
            self.assert_fails(self.key_line(self.key) + r"cannot open: Permission denied",
                              user=NOBODY)
        else:
            os.chmod(self.key, 0)
            self.write()
            self.assert_fails(self.key_line(self.key) + r"cannot open: Permission denied")

    def test_every_bad_key_is_reported(self):
        other = kwtest.make_certs(os.path.join(self.dir, "other"), key="ecdsa")
        second = (',\n  { listen = ( { address = "127.0.0.1"; port = %d; tls = "toy"; } );\n'
                  '    certificate = "certs/server_cert.pem"; '
                  'certificate_key = "certs/missing.pem";\n'
                  '    locations = ( { prefix = "/"; root = "www"; } ); }'
                  % kwtest.free_port())
        with open(os.path.join(self.certs, "missing.pem"), "w") as f:
            f.write("not a key\n")
        os.chmod(os.path.join(self.certs, "missing.pem"), 0o600)
        self.write(key="other/server_key.pem", second=second)
        res = self.assert_fails(r"does not match")
        self.assertRegex(res.stderr, r"keyward: %s:%d: key %s: not a PEM private key"
                         % (re.escape(self.conf), SERVER_LINE + 4,
                            re.escape(os.path.join(self.certs, "missing.pem"))))
        self.assertNotIn(other, res.stdout)

    def test_access_log_in_a_missing_directory(self):
        self.write(access_log="no-such-dir/access.log")
        self.assert_fails(r"keyward: %s:4: access_log %s: No such file or directory"
                          % (re.escape(self.conf),
                             re.escape(os.path.join(self.dir, "no-such-dir", "access.log"))))

    def test_error_log_that_cannot_be_opened(self):
        self.write(error_log="logs")
        self.assert_fails(r"keyward: %s:3: error_log %s: Is a directory"
                          % (re.escape(self.conf), re.escape(os.path.join(self.dir, "logs"))))

    def test_log_opened_as_the_user_that_starts(self):
        if not kwtest.IS_ROOT:
            self.skipTest("needs root to switch users")
        os.chmod(os.path.join(self.dir, "logs"), 0o755)
        os.chmod(self.key, 0o644)  # readable by nobody: only the log file may fail
        self.write()
        self.assert_fails(r"keyward: %s:4: access_log %s: Permission denied"
                          % (re.escape(self.conf),
                             re.escape(os.path.join(self.dir, "logs", "access.log"))),
                          user=NOBODY)

    def test_chain_that_does_not_verify_from_the_leaf(self):
        self.write(chain="certs/root_cert.pem")
        self.assert_fails(r"keyward: %s:%d: 'certificate_chain': %s does not verify %s: "
                          % (re.escape(self.conf), SERVER_LINE + 2,
                             re.escape(os.path.join(self.certs, "root_cert.pem")),
                             re.escape(os.path.join(self.certs, "server_cert.pem"))))

    def test_key_readable_by_other_users_is_a_warning(self):
        os.chmod(self.key, 0o644)
        self.write()
        res = self.check()
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("is ok", res.stdout)
        self.assertRegex(res.stderr, r"keyward: %s:%d: warning: key %s: mode 0644 lets other "
                         r"users than its owner read or change it"
                         % (re.escape(self.conf), SERVER_LINE, re.escape(self.key)))
        os.chmod(self.key, 0o640)
        self.assertIn("mode 0640", self.check().stderr)
        os.chmod(self.key, 0o600)
        self.assertEqual(self.check().stderr, "")

    def test_what_check_refuses_start_refuses_too(self):
        other = kwtest.make_certs(os.path.join(self.dir, "other"), key="ecdsa")
        self.write(key="other/server_key.pem")
        self.assertEqual(self.check().returncode, 1)
        res = subprocess.run([kwtest.KEYWARD, "-c", self.conf], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(res.returncode, 1)
        self.assertIn("does not match the public key of certificate", res.stderr)
        self.assertIn(os.path.join(other, "server_key.pem"), res.stderr)


if __name__ == "__main__":
    kwtest.main()

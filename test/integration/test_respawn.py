#!/usr/bin/python3
"""Respawn while files change under the master: a worker needs no certificate file
(the configuration snapshot carries the certificates), a signer whose key file is
gone is retried with a capped backoff (each failure logged at error level and in
systemd's STATUS line) and serves again once the file is back, while plain HTTP
goes on being served."""

import os
import re
import shutil
import signal
import subprocess
import unittest

import kwtest
from test_reload import PAGE, OpsSite, leaf_der, plain_get, tls_get


class RespawnTest(unittest.TestCase):
    def setUp(self):
        self.notify = kwtest.NotifySocket(self)
        self.site = OpsSite()
        self.addCleanup(self.site.cleanup)
        self.site.start(env=self.notify.env())
        self.assertEqual(self.message().get("READY"), "1")

    def message(self):
        return self.notify.message()

    def status_matching(self, pattern):
        """The next STATUS= that matches pattern (other messages are skipped)."""
        for _ in range(50):
            status = self.message().get("STATUS")
            if status is not None and re.search(pattern, status):
                return status
        raise AssertionError("no STATUS matching %r" % pattern)

    def rotate(self, name):
        """Writes a fresh identity into the directory name, points the configuration at
        it (new file names), reloads, and waits until the old generation is gone."""
        certs = os.path.join(self.site.dir, name)
        subprocess.run([kwtest.KEYWARD_CERTS, certs, "--name", "localhost", "--key", "ecdsa"],
                       check=True, stdout=subprocess.DEVNULL)
        os.chmod(os.path.join(certs, "server_key.pem"), 0o600)
        with open(self.site.conf) as f:
            text = f.read()
        self.site.write_text(text.replace('"certs/', '"%s/' % name))
        mark = self.site.log.mark()
        self.site.reload(2)
        self.site.log.wait_for(r"generation 1: every process exited", since=mark)
        self.site.root_pem = os.path.join(certs, "root_cert.pem")
        return certs

    def kill_child(self, role):
        pid = self.site.children(role)[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def test_rotated_and_deleted_files_do_not_stop_a_respawn(self):
        certs = self.rotate("certs-2")
        new_leaf = leaf_der(os.path.join(certs, "server_cert.pem"))
        shutil.rmtree(self.site.certs)
        # even the current certificate files may go: the snapshot carries them
        os.unlink(os.path.join(certs, "server_cert.pem"))
        os.unlink(os.path.join(certs, "intermediate_cert.pem"))

        mark = self.site.log.mark()
        worker = self.kill_child("worker")
        signer = self.kill_child("signer")
        self.site.log.wait_for(r"worker \d+ ready: pid \d+, generation 2", since=mark)
        self.site.log.wait_for(r"signer ready: pid \d+, generation 2", since=mark)
        children = self.site.children()
        self.assertNotIn(worker, children)
        self.assertNotIn(signer, children)
        self.assertEqual(len(children), 3)
        for _ in range(6):
            self.assertEqual(plain_get(self.site.plain_port), (200, PAGE))
            status, body, leaf = tls_get(self.site.tls_port, self.site.root_pem_bytes())
            self.assertEqual((status, body, leaf), (200, PAGE, new_leaf))

    def test_a_signer_without_its_key_is_retried_until_the_key_is_back(self):
        certs = self.rotate("certs-2")
        key = os.path.join(certs, "server_key.pem")
        hidden = key + ".away"
        os.rename(key, hidden)

        mark = self.site.log.mark()
        self.kill_child("signer")
        self.site.log.wait_for(r"\[error\] signer\[\d+\]: key %s: cannot open: No such file"
                               % re.escape(key), since=mark)
        self.site.log.wait_for(r"\[error\] master\[\d+\]: signer \(pid \d+, generation 2\) "
                               r"killed by signal 9 \(SIGKILL\); respawning in 100 ms", since=mark)
        self.site.log.wait_for(r"\[error\] master\[\d+\]: signer \(pid \d+, generation 2\) "
                               r"exited with status 78 \(configuration unusable\); "
                               r"respawning in 200 ms", since=mark)
        self.status_matching(r"^generation 2, 2 workers; signer exited with status 78 "
                             r"\(configuration unusable\), respawning in \d+ ms$")
        # retried, with a growing delay, and never given up
        self.site.log.wait_for(r"signer \(pid \d+, generation 2\) exited with status 78 "
                               r"\(configuration unusable\); respawning in 400 ms", since=mark)
        self.assertNotIn("not respawned", self.site.log.text())

        # plain HTTP is served meanwhile, by a respawned worker too
        worker_mark = self.site.log.mark()
        self.kill_child("worker")
        self.site.log.wait_for(r"worker \d+ ready: pid \d+, generation 2", since=worker_mark)
        for _ in range(6):
            self.assertEqual(plain_get(self.site.plain_port), (200, PAGE))

        os.rename(hidden, key)
        self.site.log.wait_for(r"signer ready: pid \d+, generation 2", since=mark)
        self.status_matching(r"^generation 2, 2 workers$")
        status, body, _ = tls_get(self.site.tls_port, self.site.root_pem_bytes())
        self.assertEqual((status, body), (200, PAGE))


if __name__ == "__main__":
    kwtest.main()

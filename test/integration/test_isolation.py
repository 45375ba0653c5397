#!/usr/bin/python3
"""keyward-inspect proves the signer's isolation on the real master, workers and
signer, and reports each broken promise on a process tree built to break them."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import kwtest
import toytls_ref as ref

KEYWARD_INSPECT = os.path.join(kwtest.BUILD, "tools", "keyward-inspect")
NOBODY = 65534


def landlock_abi():
    """The running kernel's Landlock ABI (landlock_create_ruleset's version query), 0: none."""
    import ctypes
    abi = ctypes.CDLL(None, use_errno=True).syscall(444, None, 0, 1)
    return max(abi, 0)

# A stand-in for a keyward master: one child per argument, titled "keyward: ROLE".
# "worker+key" opens the key file (argv[1]), keeps it open and keeps the parsed key
# (OpenSSL BIGNUMs) and its DER bytes in memory; "+map" maps the key file and closes
# it; "+nobody" drops to uid/gid 65534
# and makes itself dumpable again. Each child says "ready SPEC PID" on stdout, then waits
# for stdin to close; the parent waits for its children.
FAKE_TREE = r"""
import ctypes, os, sys
PR_SET_DUMPABLE, PR_SET_NAME = 4, 15

def child(spec):
    role, *traits = spec.split("+")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_NAME, ("keyward: " + role).encode(), 0, 0, 0)
    held = []
    if "key" in traits:
        from cryptography.hazmat.primitives import serialization as ser
        f = open(sys.argv[1], "rb")
        key = ser.load_pem_private_key(f.read(), None)
        der = key.private_bytes(ser.Encoding.DER, ser.PrivateFormat.TraditionalOpenSSL,
                                ser.NoEncryption())
        held += [f, key, der]
    if "map" in traits:
        import mmap
        with open(sys.argv[1], "rb") as f:
            held.append(mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ))
    if "nobody" in traits:
        os.setgroups([])
        os.setresgid(65534, 65534, 65534)
        os.setresuid(65534, 65534, 65534)
        libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
    os.write(1, ("ready %s %d\n" % (spec, os.getpid())).encode())
    sys.stdin.read()
    os._exit(0)

pids = []
for spec in sys.argv[2:]:
    pid = os.fork()
    if pid == 0:
        child(spec)
    pids.append(pid)
for pid in pids:
    os.waitpid(pid, 0)
"""


def run_inspect(*args):
    if not os.path.exists(KEYWARD_INSPECT):
        raise AssertionError("%s is not built (ninja -C %s)" % (KEYWARD_INSPECT, kwtest.BUILD))
    return subprocess.run([KEYWARD_INSPECT, *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=300)


def inspect_json(*args):
    res = run_inspect("--json", *args)
    try:
        report = json.loads(res.stdout)
    except ValueError as e:
        raise AssertionError("no JSON from keyward-inspect (%d): %s\n%s"
                             % (res.returncode, e, res.stderr.decode(errors="replace")))
    return res, report


def by_role(report, role):
    return [p for p in report["processes"] if p["role"] == role]


def uids(proc):
    return set(proc["uid"].values())


def needs_root_and_users():
    if not kwtest.IS_ROOT:
        return "keyward-inspect's memory scan and keyward's privilege drops need root"
    for user in (kwtest.WORKER_USER, kwtest.SIGNER_USER):
        if not kwtest.user_exists(user):
            return "system user %s is missing (tools/test creates it)" % user
    return None


SKIP = needs_root_and_users()


@unittest.skipIf(SKIP, SKIP)
class RealServerTest(kwtest.SiteTestCase):
    """100 toy-TLS handshakes, then every promise holds and the scanner sees the keys."""

    key = "rsa"

    @classmethod
    def setUpClass(cls):
        cls.site_args = {"key": cls.key}
        super().setUpClass()
        try:
            cls.handshakes(100)
            cls.result, cls.report = inspect_json("-c", cls.site.conf)
        except BaseException:
            cls.site.cleanup()
            raise

    @classmethod
    def handshakes(cls, count):
        with open(cls.site.root_pem, "rb") as f:
            root = f.read()
        for _ in range(count):
            c = ref.connect(cls.site.tls_port, root_pem=root, timeout=30)
            c.send(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            status = kwtest.split_responses(c.recv_all())[0][0]
            c.sock.close()
            if status != 200:
                raise AssertionError("toy-TLS request answered %d" % status)

    def test_every_promise_holds(self):
        self.assertEqual(self.report["failures"], [], self.result.stderr)
        self.assertEqual(self.report["unchecked"], [])
        self.assertEqual(self.report["result"], "pass")
        self.assertEqual(self.result.returncode, 0, self.result.stderr)

    def test_the_processes_found(self):
        self.assertEqual(self.report["master_pid"], self.site.proc.pid)
        self.assertEqual(len(by_role(self.report, "master")), 1)
        self.assertEqual(len(by_role(self.report, "signer")), 1)
        self.assertEqual(sorted(p["pid"] for p in by_role(self.report, "worker")),
                         self.site.children("worker"))
        self.assertTrue(self.report["memory_scan"]["performed"])

    def test_key_fragments_only_in_the_signer(self):
        for proc in self.report["processes"]:
            frags = proc["key_fragments"]
            self.assertTrue(frags["scanned"], frags["error"])
            self.assertGreater(frags["bytes_read"], 0)
            if proc["role"] == "signer":
                self.assertGreaterEqual(frags["hits"], 1, "the scanner's positive control")
            else:
                self.assertEqual(frags["hits"], 0, proc)

    def test_signer_sandbox(self):
        [signer] = by_role(self.report, "signer")
        self.assertEqual(signer["seccomp"]["mode"], 2)
        self.assertIs(signer["dumpable"], False)
        self.assertEqual(int(signer["cap_eff"], 16), 0)
        self.assertFalse(signer["creds_differ_between_threads"])

    def test_workers_apart_from_the_signer(self):
        [signer] = by_role(self.report, "signer")
        for worker in by_role(self.report, "worker"):
            self.assertNotIn(0, uids(worker))
            self.assertFalse(uids(worker) & uids(signer), (worker["uid"], signer["uid"]))
            self.assertEqual(int(worker["cap_eff"], 16), 0)
            self.assertFalse(any(f["key_file"] for f in worker["open_files"]))

    def test_workers_sandboxed(self):
        """Each worker has a seccomp filter of its own and the kernel's Landlock."""
        [master] = by_role(self.report, "master")
        abi = landlock_abi()
        for worker in by_role(self.report, "worker"):
            self.assertEqual(worker["seccomp"]["mode"], 2, worker)
            self.assertGreater(worker["seccomp"]["filters"], master["seccomp"]["filters"] or 0)
            self.assertEqual(worker["landlock"], {"abi": abi}, worker)
        self.assertIsNone(master["landlock"])

    def test_table_says_the_same(self):
        res = run_inspect("-c", self.site.conf)
        self.assertEqual(res.returncode, 0, res.stdout)
        out = res.stdout.decode()
        self.assertIn("  landlock: ABI %d" % landlock_abi() if landlock_abi() else
                      "  landlock: off (title)", out)
        self.assertIn("OK: every isolation promise holds", out)
        self.assertRegex(out, r"(?m)^signer\s+%d\s" % by_role(self.report, "signer")[0]["pid"])
        self.assertNotIn("FAIL:", out)


class EcdsaServerTest(RealServerTest):
    key = "ecdsa"


class Ed25519ServerTest(RealServerTest):
    key = "ed25519"


@unittest.skipIf(not kwtest.IS_ROOT, "keyward-inspect's memory scan needs root")
class BrokenPromisesTest(unittest.TestCase):
    """The negative controls: a fake tree whose children break the promises."""

    @classmethod
    def setUpClass(cls):
        cls.dir = kwtest.make_certs(os.path.join(tempfile.mkdtemp(prefix="keyward-it-"), "certs"))
        cls.key = os.path.join(cls.dir, "server_key.pem")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)

    def fake_tree(self, *children):
        proc = subprocess.Popen([sys.executable, "-c", FAKE_TREE, self.key, *children],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        def stop():
            proc.stdin.close()
            proc.wait(timeout=30)
            proc.stdout.close()
        self.addCleanup(stop)
        pids = {}
        for _ in children:
            line = proc.stdout.readline().decode().split()
            self.assertEqual(line[0] if line else None, "ready", "fake tree did not start")
            pids.setdefault(line[1], []).append(int(line[2]))
        return proc.pid, pids

    def check(self, master, expected):
        """Runs keyward-inspect on the tree; asserts exit 1 and each expected FAIL line."""
        res = run_inspect("--pid", str(master), "--key", self.key)
        out = res.stdout.decode()
        self.assertEqual(res.returncode, 1, out + res.stderr.decode())
        for pattern in expected:
            self.assertRegex(out, r"(?m)^FAIL: " + pattern)
        jres, report = inspect_json("--pid", str(master), "--key", self.key)
        self.assertEqual(jres.returncode, 1)
        self.assertEqual(report["result"], "fail")
        self.assertEqual(["FAIL: " + f for f in report["failures"]],
                         re.findall(r"(?m)^FAIL: .*$", out))
        return report

    def test_key_outside_the_signer_and_unsandboxed_signer(self):
        master, pids = self.fake_tree("signer+nobody", "worker+key", "worker+nobody",
                                      "worker+map")
        [signer] = pids["signer+nobody"]
        [holder] = pids["worker+key"]
        [twin] = pids["worker+nobody"]
        [mapper] = pids["worker+map"]
        key = re.escape(self.key)
        report = self.check(master, [
            r"key fragments found outside the signer: worker %d holds \d+ windows of %s "
            % (holder, key),
            r"worker %d holds key file %s open \(fd \d+\)$" % (holder, key),
            r"worker %d maps key file %s$" % (mapper, key),
            r"worker %d runs as root " % holder,
            r"worker %d runs as the signer's user \(uid %d, as signer %d\)$"
            % (twin, NOBODY, signer),
            # in a container every process may inherit the container's filters
            r"signer %d (is not seccomp-filtered \(Seccomp: 0\)|has no seccomp filter of its "
            r"own \(\d+ filters, as its master\))$" % signer,
            r"signer %d is dumpable$" % signer,
            r"worker %d (is not seccomp-filtered \(Seccomp: 0\)|has no seccomp filter of its "
            r"own \(\d+ filters, as its master\))$" % mapper,
        ] + ([r"worker %d is not confined by Landlock \(its title says nothing; the kernel "
              r"has ABI %d\)$" % (mapper, landlock_abi())] if landlock_abi() else []))
        [holder_report] = [p for p in report["processes"] if p["pid"] == holder]
        self.assertTrue(any(f["key_file"] for f in holder_report["open_files"]))
        matches = holder_report["key_fragments"]["matches"]
        self.assertEqual({m["order"] for m in matches}, {"be", "le"}, matches)
        self.assertNotIn("no signer", " ".join(report["failures"]))
        self.assertEqual(by_role(report, "master")[0]["key_fragments"]["hits"], 0)

    def test_no_signer(self):
        master, _ = self.fake_tree("worker")
        self.check(master, [r"no signer: no child of %d is titled \"keyward: signer\"$" % master])

    def test_usage_and_missing_master(self):
        self.assertEqual(run_inspect().returncode, 2)
        self.assertEqual(run_inspect("--pid", "abc").returncode, 2)
        self.assertEqual(run_inspect("--pid", "1", "--pid-file", "/nonexistent").returncode, 2)
        res = run_inspect("--pid-file", "/nonexistent/keyward.pid")
        self.assertEqual(res.returncode, 2)
        self.assertIn(b"cannot inspect: pid file /nonexistent/keyward.pid", res.stderr)
        gone = subprocess.Popen(["true"])
        gone.wait()
        res = run_inspect("--pid", str(gone.pid))
        self.assertEqual(res.returncode, 2)
        self.assertIn(b"cannot inspect: no process %d " % gone.pid, res.stderr)
        res = run_inspect("--help")
        self.assertEqual(res.returncode, 0)
        self.assertIn(b"Exit status:", res.stdout)


if __name__ == "__main__":
    kwtest.main()

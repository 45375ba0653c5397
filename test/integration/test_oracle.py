#!/usr/bin/python3
"""A compromised worker cannot turn the signer into a signing oracle.

As root, the test takes a copy of a running worker's channel to the signer
(pidfd_getfd) and writes on it what a compromised worker could: a raw digest,
wrong lengths, an unknown type, a huge length field, an unknown key id, a
replayed request id, a TLS 1.3 request with a scheme the key does not sign with, a
hash of no suite's length or the whole content to sign, a flood. Malformed input closes that channel and the master
replaces the worker; a flood is refused with a status; the other worker, plain
HTTP and toy-TLS keep working throughout.
"""

import ctypes
import errno
import os
import re
import signal
import socket
import struct
import unittest

import kwtest

SYS_pidfd_getfd = 438
KW_FD_CONTROL = 3
KW_FD_SIGNER = 5
HEADER = struct.Struct(">BBHII")  # version, type, reserved, request id, payload length
SIGN_TOYTLS_V1 = 1
CONTROL = struct.Struct(">II")  # control message: type, argument
CTL_WORKER_BROKE = 5
VALID_KEY = bytes(range(1, 33))


SIGN_TLS13_CV_V1 = 3


def tls13_request(request_id, scheme, hash_bytes, key_id=0):
    """A TLS 1.3 CertificateVerify request: key id, scheme, transcript hash."""
    payload = struct.pack(">IHH", key_id, scheme, len(hash_bytes)) + hash_bytes
    return HEADER.pack(1, SIGN_TLS13_CV_V1, 0, request_id, len(payload)) + payload


def request(request_id, key_id=0, client=VALID_KEY, server=VALID_KEY[::-1]):
    payload = struct.pack(">I", key_id) + client + server
    return HEADER.pack(1, SIGN_TOYTLS_V1, 0, request_id, len(payload)) + payload


def steal_channel(pid, target=KW_FD_SIGNER):
    """A copy of descriptor target of process pid: by default a worker's end of its
    signer channel."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        fd = libc.syscall(SYS_pidfd_getfd, pidfd, target, 0)
        if fd < 0 and ctypes.get_errno() == errno.EPERM:
            raise unittest.SkipTest("pidfd_getfd needs ptrace rights over the process "
                                    "(CAP_SYS_PTRACE), which this container does not give")
        if fd < 0:
            raise OSError(ctypes.get_errno(), "pidfd_getfd")
    finally:
        os.close(pidfd)
    return socket.socket(fileno=fd)


@unittest.skipUnless(kwtest.IS_ROOT, "taking a worker's descriptor needs root")
class AbuseTestCase(kwtest.SiteTestCase):
    """A site whose workers the tests abuse; each test class has its own, so that the
    respawn backoff of one class's replaced workers does not slow the next."""
    site_args = {"signer_extra": "rate_limit = 100;"}

    def workers_oldest_first(self):
        """The workers, the one that started first first: the victim, so that each slot in
        turn is replaced and none is replaced again and again, its respawn backoff doubling
        up to 30 s (by pid, a pid that wrapped around picked the same slot every time)."""
        def started(pid):
            with open("/proc/%d/stat" % pid) as f:
                return int(f.read().rsplit(")", 1)[1].split()[19])
        return sorted(self.site.children("worker"), key=started)

    def check_serving(self):
        self.assertEqual(self.site.get("/").stdout, b"<h1>hello</h1>\n")
        self.assertEqual(self.site.get("/", tls=True).stdout, b"<h1>hello</h1>\n")

    def abuse(self, *messages):
        """Sends messages as the worker that started first; asserts it is replaced and the
        other one is not."""
        victim, bystander = self.workers_oldest_first()
        mark = self.site.log.mark()
        with steal_channel(victim) as chan:
            for m in messages:
                chan.send(m)
        self.site.log.wait_for(r"worker \d \(pid %d, generation \d+\) broke the signer "
                               r"protocol: killing it" % victim, since=mark)
        self.site.log.wait_for(r"worker \d ready: pid \d+", since=mark)
        workers = self.site.children("worker")
        self.assertNotIn(victim, workers)
        self.assertIn(bystander, workers)
        self.check_serving()


@unittest.skipUnless(kwtest.IS_ROOT, "taking a worker's descriptor needs root")
class OracleTest(AbuseTestCase):
    def test_raw_digest(self):
        self.abuse(os.urandom(32))

    def test_one_byte_short_and_long(self):
        self.abuse(request(0x7ffffff0)[:-1])
        self.abuse(request(0x7ffffff1) + b"\0")

    def test_one_byte_long_with_a_matching_header(self):
        """Only the datagram's size is wrong: its header counts the extra byte."""
        msg = request(0x7ffffff8) + b"\0"
        self.abuse(msg[:8] + struct.pack(">I", len(msg) - HEADER.size) + msg[12:])

    def test_unknown_type_and_version(self):
        good = request(0x7ffffff2)
        self.abuse(good[:1] + b"\x09" + good[2:])
        self.abuse(b"\x02" + good[1:])

    def test_huge_length_field(self):
        good = request(0x7ffffff3)
        self.abuse(good[:8] + struct.pack(">I", 0xFFFFFFFF) + good[12:])

    def test_unknown_key_id(self):
        self.abuse(request(0x7ffffff4, key_id=7))

    def test_small_order_point(self):
        self.abuse(request(0x7ffffff5, client=bytes(32)))
        self.abuse(request(0x7ffffff6, server=b"\x01" + bytes(31)))

    def test_same_request_id_twice(self):
        self.abuse(request(0x7ffffff7), request(0x7ffffff7))

    def test_only_the_signer_reports_a_broken_worker(self):
        """A worker that says on its control channel that another broke is not believed."""
        victim, bystander = self.workers_oldest_first()
        slot = int(re.search(r"worker (\d+) ready: pid %d\b" % bystander,
                             self.site.log.text()).group(1))
        mark = self.site.log.mark()
        with steal_channel(victim, KW_FD_CONTROL) as ctl:
            ctl.send(CONTROL.pack(CTL_WORKER_BROKE, slot))
        self.site.log.wait_for(r"control channel of worker \d+ \(pid %d\): unknown message "
                               r"type %d" % (victim, CTL_WORKER_BROKE), since=mark)
        self.assertIn(bystander, self.site.children("worker"))
        self.assertNotIn("broke the signer protocol",
                         "\n".join(self.site.log.text().split("\n")[mark:]))
        # The master closed that worker's control channel; replace it, as compromised.
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.site.log.wait_for(r"worker \d ready: pid \d+", since=mark)
        self.check_serving()

    def test_signer_report_of_a_slot_out_of_range(self):
        """The signer naming a worker slot past the last is logged and otherwise ignored."""
        [signer] = self.site.children("signer")
        workers = self.site.children("worker")
        mark = self.site.log.mark()
        with steal_channel(signer, KW_FD_CONTROL) as ctl:
            for slot in (len(workers), 0xFFFFFFFF):
                ctl.send(CONTROL.pack(CTL_WORKER_BROKE, slot))
        for slot in (len(workers), 0xFFFFFFFF):
            self.site.log.wait_for(r"signer \(pid %d\) reported worker %d, which is not running"
                                   % (signer, slot), since=mark)
        self.assertEqual(self.site.children("worker"), workers)
        self.assertEqual(self.site.children("signer"), [signer])
        self.check_serving()

    def test_flood_is_refused_not_signed(self):
        """Past the in-flight cap and the rate limit, requests get a refusal status."""
        victim, bystander = self.workers_oldest_first()
        mark = self.site.log.mark()
        with steal_channel(victim) as chan:
            for i in range(150):
                chan.send(request(0x60000000 + i))
        self.site.log.wait_for(r"stub_admit: channel of worker \d over 100 requests/s: "
                               r"\d+ refused", since=mark)
        [signer] = self.site.children("signer")
        self.assertIn(bystander, self.site.children("worker"))
        # The injected ids are newer than the victim's own: its next request would be
        # refused as a replay. It is the compromised process here; replace it.
        os.kill(victim, signal.SIGKILL)
        self.site.log.wait_for(r"worker \d ready: pid \d+", since=mark)
        self.assertEqual(self.site.children("signer"), [signer])
        self.check_serving()

    def test_flood_past_what_the_channel_holds(self):
        """A worker that does not read its replies has its channel closed and is replaced."""
        victim, bystander = self.workers_oldest_first()
        mark = self.site.log.mark()
        kwtest.stop_process(victim)
        try:
            with steal_channel(victim) as chan:
                chan.settimeout(10)
                try:
                    for i in range(100000):
                        chan.send(request(0x50000000 + i))
                except (BrokenPipeError, ConnectionResetError):
                    pass
        finally:
            try:
                os.kill(victim, signal.SIGCONT)
            except ProcessLookupError:
                pass  # already killed by the master
        self.site.log.wait_for(r"worker \d \(pid %d, generation \d+\) broke the signer "
                               r"protocol: killing it" % victim, since=mark)
        self.site.log.wait_for(r"worker \d ready: pid \d+", since=mark)
        self.assertIn(bystander, self.site.children("worker"))
        self.check_serving()


@unittest.skipUnless(kwtest.IS_ROOT, "taking a worker's descriptor needs root")
class Tls13OracleTest(AbuseTestCase):
    """TLS 1.3 requests the signer refuses: the worker is replaced, the rest serves."""

    def test_tls13_scheme_that_does_not_fit_the_key(self):
        # the site's key is RSA: an ECDSA scheme is not one it signs with
        self.abuse(tls13_request(0x7ffffff8, 0x0403, bytes(range(32))))

    def test_tls13_whole_content_instead_of_the_hash(self):
        # the content to sign instead of its hash: no hash is that long
        content = b" " * 64 + b"TLS 1.3, server CertificateVerify\0" + bytes(range(32))
        self.abuse(tls13_request(0x7ffffffc, 0x0804, content))


if __name__ == "__main__":
    kwtest.main()

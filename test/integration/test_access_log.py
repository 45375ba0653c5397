#!/usr/bin/env python3
"""Access log formats per server block: one block logs JSON to its own file (parsed
here with Python's json), one inherits the top-level combined file, one is off; JSON
lines carry the transport and TLS details of plain, toy-TLS and TLS 1.3 requests and
escape what the client sent; SIGUSR1 reopens every file."""

import datetime
import json
import os
import signal
import socket
import subprocess

import kwtest

PAGE = b"<h1>logged</h1>\n"


class LogSite(kwtest.Site):
    """localhost (plain, toy-TLS, TLS 1.3; JSON to json.log), b.test (the top-level
    access.log, combined) and c.test (off), all on the plain port."""

    def pick_ports(self):
        super().pick_ports()
        self.tls13_port = kwtest.free_port()

    def settings(self):
        return super().settings() + 'access_log = "access.log";\n'

    def write_config(self, locations=None, server_extra=None):
        www = os.path.join(self.dir, "www")
        self.write_servers([
            kwtest.server_block(["localhost"], [(self.plain_port, False), (self.tls_port, True),
                                                (self.tls13_port, "tls13")], www,
                                certs=self.certs, default=True,
                                extra='access_log = "json.log"; access_log_format = "json";'),
            kwtest.server_block(["b.test"], [(self.plain_port, False)], www),
            kwtest.server_block(["c.test"], [(self.plain_port, False)], www,
                                extra='access_log = "off";'),
        ])

    def lines(self, name):
        path = os.path.join(self.dir, name)
        if not os.path.exists(path):
            return []
        with open(path, "rb") as f:
            return f.read().decode("utf-8").splitlines()

    def wait_lines(self, name, count):
        return kwtest.wait_until(lambda: len(self.lines(name)) >= count and self.lines(name),
                                 what="%d lines in %s" % (count, name))


class AccessLogTest(kwtest.SiteTestCase):
    site_class = LogSite

    @classmethod
    def prepare(cls, site):
        site.put("index.html", PAGE)

    def plain(self, host, agent=b"t"):
        req = (b"GET / HTTP/1.1\r\nHost: " + host + b"\r\nUser-Agent: " + agent
               + b"\r\nConnection: close\r\n\r\n")
        reply = self.site.raw(req)
        self.assertTrue(reply.startswith(b"HTTP/1.1 200 "), reply[:100])

    def get(self, scheme, port):
        res = subprocess.run([kwtest.KEYWARD_GET, "--root", self.site.root_pem, "--name",
                              "localhost", "%s://127.0.0.1:%d/" % (scheme, port)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(res.returncode, 0, res.stderr)

    def last_json(self, before):
        line = self.site.wait_lines("json.log", before + 1)[before]
        return json.loads(line)

    def test_json_line_escapes_and_describes_a_plain_request(self):
        before = len(self.site.lines("json.log"))
        self.plain(b"localhost", b'a"b\\c \xc3\xa9 \xff\xc0\xaf')
        obj = self.last_json(before)
        self.assertEqual(obj["user_agent"], 'a"b\\c \u00e9 \u00ff\u00c0\u00af')
        self.assertEqual(obj["server"], "localhost")
        self.assertEqual(obj["addr"], "127.0.0.1")
        self.assertEqual((obj["method"], obj["target"], obj["protocol"]), ("GET", "/", "HTTP/1.1"))
        self.assertEqual((obj["status"], obj["bytes"]), (200, len(PAGE)))
        self.assertIsInstance(obj["duration_ms"], float)
        self.assertGreaterEqual(obj["duration_ms"], 0)
        self.assertIsNone(obj["referer"])
        self.assertEqual(obj["transport"], "plain")
        self.assertIsNone(obj["tls_version"])
        self.assertIsNone(obj["tls_resumed"])
        self.assertRegex(obj["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        when = datetime.datetime.strptime(obj["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
        delta = abs((datetime.datetime.utcnow() - when).total_seconds())
        self.assertLess(delta, 60)

    def test_json_lines_of_toy_tls_and_tls13(self):
        before = len(self.site.lines("json.log"))
        self.get("toytls", self.site.tls_port)
        obj = self.last_json(before)
        self.assertEqual((obj["transport"], obj["tls_version"], obj["tls_cipher"],
                          obj["tls_resumed"]), ("toy-TLS", "toy-TLS v1", "AES-256-GCM", False))
        self.get("https", self.site.tls13_port)
        obj = self.last_json(before + 1)
        self.assertEqual((obj["transport"], obj["tls_version"], obj["tls_resumed"]),
                         ("TLS 1.3", "TLSv1.3", False))
        self.assertTrue(obj["tls_cipher"].startswith("TLS_"), obj["tls_cipher"])

    def test_each_server_its_own_file_and_off_writes_nothing(self):
        json_before = len(self.site.lines("json.log"))
        combined_before = len(self.site.lines("access.log"))
        self.plain(b"c.test", b"off-agent")
        self.plain(b"b.test", b"combined-agent")
        line = self.site.wait_lines("access.log", combined_before + 1)[combined_before]
        self.assertRegex(line, r'^127\.0\.0\.1 - - \[.*\] "GET / HTTP/1\.1" 200 \d+ "-" '
                               r'"combined-agent"$')
        self.plain(b"localhost", b"json-agent")
        objs = [json.loads(x) for x in self.site.wait_lines("json.log", json_before + 1)]
        self.assertEqual([o["user_agent"] for o in objs[json_before:]], ["json-agent"])
        for name in ("access.log", "json.log"):
            self.assertNotIn("off-agent", "\n".join(self.site.lines(name)))

    def test_sigusr1_reopens_every_file(self):
        for name in ("access.log", "json.log"):
            os.rename(os.path.join(self.site.dir, name), os.path.join(self.site.dir, name + ".1"))
        mark = self.site.log.mark()
        self.site.proc.send_signal(signal.SIGUSR1)
        self.site.log.wait_for(r"log files reopened", since=mark)
        workers = len(self.site.children("worker"))
        kwtest.wait_until(lambda: sum("worker: access log 1 reopened" in line for line in
                                      self.site.log.text().splitlines()[mark:]) == workers,
                          what="every worker's second file reopened")
        self.plain(b"b.test", b"after-reopen")
        self.plain(b"localhost", b"after-reopen")
        self.assertIn("after-reopen", self.site.wait_lines("access.log", 1)[0])
        self.assertEqual(json.loads(self.site.wait_lines("json.log", 1)[0])["user_agent"],
                         "after-reopen")


if __name__ == "__main__":
    kwtest.main()

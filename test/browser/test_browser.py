#!/usr/bin/python3
"""A real browser over TLS 1.3: headless Chromium, trusting the test root through an NSS
database made with certutil, loads the default site over https from keyward, and the test
reads what it rendered (--dump-dom), the page's own report that it came over HTTP/2 (h2 by
ALPN) included. Without the root in its database, the same load shows
no page: the trust is what lets it in."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import kwtest  # noqa: E402

CHROMIUM = shutil.which("chromium")
CERTUTIL = shutil.which("certutil")
MARKER = "keyward over TLS 1.3, seen by a browser"
PAGE = ("<!doctype html><title>kw</title><p id=\"m\">%s</p>"
        "<script>const m = document.getElementById('m'); m.dataset.js = 'ran';"
        "m.dataset.proto = performance.getEntriesByType('navigation')[0].nextHopProtocol;"
        "</script>\n" % MARKER).encode()
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class BrowserSite(kwtest.Site):
    """The default site (localhost, RSA) on a TLS 1.3 port and a plain one; the log level is
    debug, so that the signer's signatures show."""

    def settings(self):
        return super().settings().replace('log_level = "info";', 'log_level = "debug";')

    def write_config(self, locations=None, server_extra=None):
        super().write_config(locations, server_extra)
        with open(self.conf) as f:
            text = f.read()
        with open(self.conf, "w") as f:
            f.write(text.replace('tls = "toy";', 'tls = "tls13";'))


@unittest.skipUnless(CHROMIUM and CERTUTIL, "chromium and certutil (libnss3-tools) are needed")
class ChromiumTest(kwtest.SiteTestCase):

    @classmethod
    def setUpClass(cls):
        cls.site = BrowserSite()
        cls.site.put("index.html", PAGE)
        try:
            cls.site.start()
        except BaseException:
            cls.site.cleanup()
            raise

    def dump_dom(self, trust):
        """Chromium's DOM of https://localhost:PORT/, with a fresh profile and HOME whose NSS
        database trusts the test root when trust is true."""
        home = tempfile.mkdtemp(prefix="keyward-browser-")
        self.addCleanup(shutil.rmtree, home, ignore_errors=True)
        nssdb = os.path.join(home, ".pki", "nssdb")
        os.makedirs(nssdb)
        subprocess.run([CERTUTIL, "-N", "-d", "sql:" + nssdb, "--empty-password"], check=True)
        if trust:
            subprocess.run([CERTUTIL, "-A", "-d", "sql:" + nssdb, "-n", "keyward test root",
                            "-t", "C,,", "-i", self.site.root_pem], check=True)
        env = dict(os.environ, HOME=home)
        res = subprocess.run([CHROMIUM, *FLAGS, "--user-data-dir=" + os.path.join(home, "profile"),
                              "--dump-dom", "https://localhost:%d/" % self.site.tls_port],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                             timeout=120)
        return res.stdout.decode(errors="replace"), res.stderr.decode(errors="replace")

    def test_chromium_renders_the_site_over_tls13(self):
        mark = self.site.log.mark()
        dom, err = self.dump_dom(trust=True)
        self.assertIn(MARKER, dom, err[-2000:])
        self.assertIn('data-js="ran"', dom, "the page's script did not run")
        self.assertIn('data-proto="h2"', dom, "the page did not come over HTTP/2")
        # the browser's handshake was a full one, signed by the signer
        self.site.log.wait_for(r"sign_stub: TLS 1\.3 CertificateVerify signed", since=mark)

    def test_without_the_root_chromium_shows_no_page(self):
        dom, _ = self.dump_dom(trust=False)
        self.assertNotIn(MARKER, dom)


if __name__ == "__main__":
    kwtest.main()

#!/usr/bin/python3
"""Several sites on one port: the toy-TLS server_name picks the certificate (RSA, ECDSA
P-256, Ed25519, each from its own root) and the key the signer signs with; the Host
header picks the site on plain and toy-TLS listeners alike; a Host naming another
site than the handshake's gets 421; a reload adds a site without a restart."""

import os
import signal
import socket
import subprocess

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

import kwtest
import toytls_ref as ref

# name -> (key type, the public key class of its leaf)
SITES = {
    "rsa.test": ("rsa", rsa.RSAPublicKey),
    "ec.test": ("ecdsa", ec.EllipticCurvePublicKey),
    "ed.test": ("ed25519", ed25519.Ed25519PublicKey),
}
WILD = "*.wild.test"


def page(name):
    return ("<h1>%s</h1>\n" % name).encode()


def keyward_get(args, check=True):
    res = subprocess.run([kwtest.KEYWARD_GET, *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, timeout=60)
    if check and res.returncode != 0:
        raise AssertionError("keyward-get %s failed (%d): %s" % (
            " ".join(args), res.returncode, res.stderr.decode(errors="replace")))
    return res


def read(path):
    with open(path, "rb") as f:
        return f.read()


def status_and_body(data):
    responses = kwtest.split_responses(data)
    return responses[0][0], responses[0][2]


class MultiSite(kwtest.Site):
    """One toy-TLS port and one plain port shared by every site; the first is the default."""

    def __init__(self, names, **kwargs):
        super().__init__(**kwargs)
        self.certs_of = {}
        self.roots = {}
        self.blocks = []
        for name in names:
            self.add_site(name)

    def add_site(self, name, default=False):
        key = SITES[name][0] if name in SITES else "ecdsa"
        label = name.replace("*", "star")
        self.certs_of[name] = kwtest.make_certs(os.path.join(self.dir, "certs-" + label),
                                                key=key, name=name)
        self.roots[name] = read(os.path.join(self.certs_of[name], "root_cert.pem"))
        root = self.add_root("www-" + label, {"index.html": page(name)})
        self.blocks.append(kwtest.server_block(
            [name], [(self.plain_port, False), (self.tls_port, True)], root,
            certs=self.certs_of[name], default=default))
        self.write_servers(self.blocks)

    def root_file(self, name):
        return os.path.join(self.certs_of[name], "root_cert.pem")

    def fetch_tls(self, name, root=None, check=True):
        """keyward-get by name, verifying the chain against root (default: that site's own)."""
        return keyward_get(["--root", self.root_file(root or name), "--name", name,
                            "toytls://127.0.0.1:%d/" % self.tls_port], check=check)

    def ref_request(self, host, server_name=None, verify_as=None):
        """The independent client: optional server_name, the chain checked as verify_as's
        (its root and name), then one GET with this Host. Returns (client, status, body)."""
        root = self.roots[verify_as] if verify_as else None
        client = ref.connect(self.tls_port, root_pem=root, name=verify_as,
                             server_name=server_name)
        request = "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host
        client.send(request.encode())
        data = client.recv_all()
        client.sock.close()
        status, body = status_and_body(data)
        return client, status, body

    def plain(self, host_line):
        head = "GET / HTTP/1.1\r\n%sConnection: close\r\n\r\n" % host_line
        return status_and_body(self.raw(head.encode()))


class SniTest(kwtest.SiteTestCase):
    @classmethod
    def setUpClass(cls):
        cls.site = MultiSite(list(SITES) + [WILD])
        try:
            cls.site.start()
        except BaseException:
            cls.site.cleanup()
            raise

    def test_each_site_by_name_with_its_own_root(self):
        for name in SITES:
            with self.subTest(name=name):
                self.assertEqual(self.site.fetch_tls(name).stdout, page(name))

    def test_each_leaf_has_its_key_type_and_signs_the_handshake(self):
        for name, (_, key_class) in SITES.items():
            with self.subTest(name=name):
                client, status, body = self.site.ref_request(name, server_name=name,
                                                             verify_as=name)
                leaf = x509.load_der_x509_certificate(client.certificates[0])
                self.assertIsInstance(leaf.public_key(), key_class)
                self.assertEqual((status, body), (200, page(name)))

    def test_another_sites_root_does_not_verify(self):
        res = self.site.fetch_tls("ec.test", root="rsa.test", check=False)
        self.assertEqual(res.returncode, 2, res.stderr)

    def test_no_sni_gets_the_default_site(self):
        res = keyward_get(["--no-sni", "--root", self.site.root_file("rsa.test"), "--name",
                           "rsa.test", "toytls://127.0.0.1:%d/" % self.site.tls_port])
        self.assertEqual(res.stdout, page("rsa.test"))
        res = keyward_get(["--no-sni", "--root", self.site.root_file("ed.test"), "--name",
                           "ed.test", "toytls://127.0.0.1:%d/" % self.site.tls_port], check=False)
        self.assertEqual(res.returncode, 2, "without SNI the default's certificate is sent")

    def test_reference_client_without_sni(self):
        _, status, body = self.site.ref_request("rsa.test", verify_as="rsa.test")
        self.assertEqual((status, body), (200, page("rsa.test")))
        _, status, body = self.site.ref_request("127.0.0.1:%d" % self.site.tls_port,
                                                verify_as="rsa.test")
        self.assertEqual((status, body), (200, page("rsa.test")))

    def test_unknown_name_gets_the_default_site(self):
        _, status, body = self.site.ref_request("unknown.test", server_name="unknown.test",
                                                verify_as="rsa.test")
        self.assertEqual((status, body), (200, page("rsa.test")))
        res = keyward_get(["--insecure", "--name", "unknown.test",
                           "toytls://127.0.0.1:%d/" % self.site.tls_port])
        self.assertEqual(res.stdout, page("rsa.test"))

    def test_name_and_host_ignore_case_and_port(self):
        _, status, body = self.site.ref_request("EC.Test:%d" % self.site.tls_port,
                                                server_name="Ec.TEST", verify_as="ec.test")
        self.assertEqual((status, body), (200, page("ec.test")))

    def test_host_naming_another_site_than_sni_is_misdirected(self):
        for sni, host in (("ec.test", "ed.test"), ("ec.test", "rsa.test"),
                          ("ec.test", "unknown.test"), ("unknown.test", "ed.test"),
                          (None, "ec.test")):
            with self.subTest(sni=sni, host=host):
                _, status, body = self.site.ref_request(host, server_name=sni)
                self.assertEqual(status, 421)
                self.assertIn(b"Misdirected Request", body)

    def test_misdirected_request_keeps_the_connection(self):
        client = ref.connect(self.site.tls_port, root_pem=self.site.roots["ed.test"],
                             name="ed.test", server_name="ed.test")
        client.send(b"GET / HTTP/1.1\r\nHost: ec.test\r\n\r\n"
                    b"GET / HTTP/1.1\r\nHost: ed.test\r\nConnection: close\r\n\r\n")
        responses = kwtest.split_responses(client.recv_all())
        client.sock.close()
        self.assertEqual([r[0] for r in responses], [421, 200])
        self.assertEqual(responses[1][2], page("ed.test"))

    def test_malformed_server_name_closes_the_connection(self):
        for name in ("", "caf\u00e9.test", "a" * 256, "rsa.test.", "has space.test"):
            with self.subTest(name=name):
                mark = self.site.log.mark()
                with socket.create_connection(("127.0.0.1", self.site.tls_port),
                                              timeout=20) as sock:
                    client = ref.Client(sock, server_name=name)
                    with self.assertRaises(ConnectionError):
                        client.handshake()
                self.site.log.wait_for(r"closing connection .*toy-TLS: malformed server_name",
                                       since=mark)
        self.assertEqual(self.site.fetch_tls("ed.test").stdout, page("ed.test"))

    def test_wildcard_matches_one_label(self):
        res = self.site.fetch_tls("www.wild.test", root=WILD)
        self.assertEqual(res.stdout, page(WILD))
        _, status, body = self.site.ref_request("a.b.wild.test", server_name="a.b.wild.test",
                                                verify_as="rsa.test")
        self.assertEqual((status, body), (200, page("rsa.test")))
        self.assertEqual(self.site.plain("Host: X.Wild.Test\r\n"), (200, page(WILD)))
        self.assertEqual(self.site.plain("Host: wild.test\r\n"), (200, page("rsa.test")))

    def test_plain_virtual_hosts_by_host(self):
        for name in SITES:
            with self.subTest(name=name):
                res = keyward_get(["--name", name, "http://127.0.0.1:%d/" % self.site.plain_port])
                self.assertEqual(res.stdout, page(name))
        self.assertEqual(self.site.plain("Host: ED.TEST.:80\r\n"), (200, page("ed.test")))
        self.assertEqual(self.site.plain("Host: nowhere.test\r\n"), (200, page("rsa.test")))
        self.assertEqual(self.site.plain("Host: [::1]:80\r\n"), (200, page("rsa.test")))
        data = self.site.raw(b"GET / HTTP/1.0\r\n\r\n")
        self.assertEqual(status_and_body(data), (200, page("rsa.test")))
        data = self.site.raw(b"GET http://ec.test/ HTTP/1.1\r\nHost: ed.test\r\n"
                             b"Connection: close\r\n\r\n")
        self.assertEqual(status_and_body(data), (200, page("ec.test")),
                         "the absolute-form authority wins over Host")


class DefaultServerTest(kwtest.SiteTestCase):
    """default = true makes a later block the listeners' default."""

    @classmethod
    def setUpClass(cls):
        cls.site = MultiSite(["rsa.test"])
        cls.site.add_site("ed.test", default=True)
        try:
            cls.site.start()
        except BaseException:
            cls.site.cleanup()
            raise

    def test_marked_default_answers_unknown_and_missing_names(self):
        _, status, body = self.site.ref_request("ed.test", verify_as="ed.test")
        self.assertEqual((status, body), (200, page("ed.test")))
        _, status, body = self.site.ref_request("other.test", server_name="other.test",
                                                verify_as="ed.test")
        self.assertEqual((status, body), (200, page("ed.test")))
        self.assertEqual(self.site.plain("Host: other.test\r\n"), (200, page("ed.test")))
        self.assertEqual(self.site.fetch_tls("rsa.test").stdout, page("rsa.test"))


class ReloadAddsSiteTest(kwtest.SiteTestCase):
    @classmethod
    def setUpClass(cls):
        cls.site = MultiSite(["rsa.test"])
        try:
            cls.site.start()
        except BaseException:
            cls.site.cleanup()
            raise

    def test_reload_adds_a_site(self):
        site = self.site
        site.add_site("ed.test")
        res = site.fetch_tls("ed.test", check=False)
        self.assertEqual(res.returncode, 2, "before the reload the default's certificate comes")
        master = site.proc.pid
        mark = site.log.mark()
        site.proc.send_signal(signal.SIGHUP)
        site.log.wait_for(r"ready: generation 2, %d workers" % site.workers, since=mark)
        # until they exit, old workers may still take a connection with the old sites
        site.log.wait_for(r"generation 1: every process exited", since=mark)
        self.assertEqual(site.proc.pid, master)
        self.assertIsNone(site.proc.poll())
        self.assertEqual(site.fetch_tls("ed.test").stdout, page("ed.test"))
        self.assertEqual(site.fetch_tls("rsa.test").stdout, page("rsa.test"))
        res = keyward_get(["--name", "ed.test", "http://127.0.0.1:%d/" % site.plain_port])
        self.assertEqual(res.stdout, page("ed.test"))


if __name__ == "__main__":
    kwtest.main()

#!/usr/bin/python3
"""container.py's choice of mirror: the machine's own apt sources, one-line and deb822,
with what apt ignores ignored (comments, deb-src, disabled paragraphs, other suites)."""

import os
import shutil
import tempfile
import unittest

import container

DEB822 = """\
# a comment paragraph

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
Enabled: no

Types: deb deb-src
URIs: http://first.example/debian
 http://second.example/debian
Suites: bookworm-updates
 bookworm
Components: main

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
"""

ONE_LINE = """\
# deb http://commented.example/debian bookworm main
deb-src http://src.example/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://line.example/debian bookworm main
deb http://other.example/apt cloud-sdk-bookworm main
"""


class MirrorTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="keyward-apt-")
        self.listd = os.path.join(self.dir, "sources.list.d")
        os.makedirs(self.listd)
        self.list = os.path.join(self.dir, "sources.list")
        self.saved = os.environ.pop("KW_DEBIAN_MIRROR", None)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.saved is not None:
            os.environ["KW_DEBIAN_MIRROR"] = self.saved

    def write(self, path, text):
        with open(path, "w") as f:
            f.write(text)

    def paths(self):
        return (self.list, self.listd)

    def test_deb822_sources(self):
        self.write(os.path.join(self.listd, "debian.sources"), DEB822)
        self.assertEqual(container.apt_sources(self.paths()), [
            ("http://first.example/debian", ["bookworm-updates", "bookworm"]),
            ("http://second.example/debian", ["bookworm-updates", "bookworm"]),
            ("http://security.example/debian-security", ["bookworm-security"])])
        self.assertEqual(container.mirror(self.paths()), "http://first.example/debian")

    def test_one_line_sources_come_first(self):
        self.write(os.path.join(self.listd, "debian.sources"), DEB822)
        self.write(self.list, ONE_LINE)
        self.assertEqual(container.apt_sources([self.list]), [
            ("http://line.example/debian", ["bookworm"]),
            ("http://other.example/apt", ["cloud-sdk-bookworm"])])
        self.assertEqual(container.mirror(self.paths()), "http://line.example/debian")

    def test_no_source_for_the_suite(self):
        self.write(self.list, "deb http://other.example/apt cloud-sdk-bookworm main\n")
        self.write(os.path.join(self.listd, "x.sources"),
                   "Types: deb\nURIs: http://s.example/d\nSuites: bookworm-security\n")
        self.assertIsNone(container.mirror(self.paths()))
        self.assertIsNone(container.mirror([os.path.join(self.dir, "missing")]))

    def test_the_environment_overrides(self):
        self.write(self.list, ONE_LINE)
        os.environ["KW_DEBIAN_MIRROR"] = "http://env.example/debian"
        self.assertEqual(container.mirror(self.paths()), "http://env.example/debian")

    def test_no_host_in_the_source(self):
        with open(container.__file__) as f:
            self.assertNotRegex(f.read(), r"https?://[a-z0-9.-]+\.[a-z]{2,}/")


if __name__ == "__main__":
    unittest.main(verbosity=2)

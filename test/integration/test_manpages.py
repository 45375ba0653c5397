#!/usr/bin/python3
"""The man pages: each renders without a warning, keyward.conf(5) has an entry, with its
default, for every key the configuration loader knows (read from its key tables in
common/config.c, so that a new key without an entry fails here), and each program's page
names every option its --help lists."""

import os
import re
import shutil
import subprocess
import unittest

import kwtest

PAGES = {
    "keyward.8": ("master/keyward.8.scd", kwtest.KEYWARD),
    "keyward.conf.5": ("etc/keyward.conf.5.scd", None),
    "keyward-get.1": ("tools/keyward-get.1.scd", kwtest.KEYWARD_GET),
    "keyward-bench.1": ("tools/keyward-bench.1.scd",
                        os.path.join(kwtest.BUILD, "tools", "keyward-bench")),
    "keyward-certs.1": ("tools/keyward-certs.1.scd", kwtest.KEYWARD_CERTS),
    "keyward-inspect.8": ("tools/keyward-inspect.8.scd",
                          os.path.join(kwtest.BUILD, "tools", "keyward-inspect")),
}
# The key tables of common/config.c and the man page section that documents each, with
# the prefix its entries carry.
SECTIONS = {"top": ("GLOBAL KEYS", ""), "signer": ("SIGNER", "signer."),
            "http": ("HTTP", "http."), "http2": ("HTTP/2", "http2."), "tls13": ("TLS 1.3", "tls13."),
            "server": ("SERVERS", ""), "listen": ("LISTEN", ""),
            "location": ("LOCATIONS", ""), "return": ("RETURN", ""),
            "error_page": ("ERROR PAGES", "")}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def config_keys():
    """{table: [key names]} of the `static const struct key NAME_keys[]` tables."""
    text = read(os.path.join(kwtest.SOURCE, "common", "config.c"))
    tables = {}
    for match in re.finditer(r"static const struct key (\w+)_keys\[\] = \{(.*?)\n\};", text,
                             re.S):
        tables[match[1]] = re.findall(r'KEY\("([^"]+)"', match[2])
    return tables


def sections(source):
    """{heading: text} of an scdoc page's level-1 sections."""
    parts = re.split(r"(?m)^# (.+)$", source)
    return dict(zip(parts[1::2], parts[2::2]))


def entries(section, prefix=""):
    """{key: text of its entry} of the *key* = ... entries of a section."""
    found = {}
    for match in re.finditer(r"(?ms)^\*([\w.]+)\*( = [^\n]*)?\n((?:\t[^\n]*\n?)+)", section):
        if match[1].startswith(prefix):
            found[match[1][len(prefix):]] = match[3]
    return found


class ManPageTest(unittest.TestCase):
    def page(self, name):
        path = os.path.join(kwtest.BUILD, name)
        if not os.path.exists(path):
            self.skipTest("%s is not built (meson -Dman=enabled needs scdoc)" % name)
        return path

    @unittest.skipUnless(shutil.which("man"), "man is missing (apt-get install man-db)")
    def test_every_page_renders_without_warnings(self):
        for name in PAGES:
            with self.subTest(page=name):
                res = subprocess.run(["man", "--warnings", "-l", self.page(name)],
                                     env=dict(os.environ, MANWIDTH="80", MAN_KEEP_STDERR="1"),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                self.assertEqual(res.returncode, 0, res.stderr)
                self.assertEqual(res.stderr, "", "warnings while rendering %s" % name)
                title = name.rsplit(".", 1)[0]
                self.assertRegex(res.stdout, r"(?m)^NAME\n\s+%s\b" % re.escape(title))

    def test_config_page_has_every_key_with_its_default(self):
        source = sections(read(os.path.join(kwtest.SOURCE, PAGES["keyward.conf.5"][0])))
        tables = config_keys()
        self.assertEqual(sorted(tables), sorted(SECTIONS), "key tables of common/config.c")
        for table, keys in tables.items():
            heading, prefix = SECTIONS[table]
            self.assertIn(heading, source)
            documented = entries(source[heading], prefix)
            for key in keys:
                with self.subTest(key=prefix + key, section=heading):
                    self.assertIn(key, documented, "no entry in keyward.conf(5)")
                    self.assertRegex(documented[key], r"(Default|Required)",
                                     "the entry says neither its default nor that it is "
                                     "required")
            self.assertEqual(sorted(set(documented) - set(keys)), [],
                             "entries for keys the loader does not know")

    def test_program_pages_name_every_option_of_their_help(self):
        for name, (source, program) in PAGES.items():
            if program is None:
                continue
            with self.subTest(page=name):
                res = subprocess.run([program, "--help"], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
                self.assertEqual(res.returncode, 0, res.stdout)
                options = set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", res.stdout))
                page = read(os.path.join(kwtest.SOURCE, source))
                named = set(re.findall(r"\*(--?[a-zA-Z][\w-]*)\*", page))
                self.assertEqual(sorted(options - named), [],
                                 "options in %s --help but not in %s" % (program, name))


if __name__ == "__main__":
    kwtest.main()

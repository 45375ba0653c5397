#!/usr/bin/python3
"""Only the signer (and keyward-inspect, which looks for key material) contain code
that loads private keys: the worker, the master and keyward-get must not, so that a
compromised worker has no way to read a key file even if it could open one. Checked
on the built binaries with nm(1): their static symbols (the project's own loader)
and their dynamic imports (libcrypto's)."""

import os
import re
import subprocess
import unittest

import kwtest

# libcrypto's ways into a private key, and the project's own loader.
KEY_LOADERS = {
    "PEM_read_bio_PrivateKey",
    "PEM_read_bio_PrivateKey_ex",
    "PEM_read_PrivateKey",
    "PEM_read_PrivateKey_ex",
    "d2i_PrivateKey",
    "d2i_PrivateKey_ex",
    "d2i_AutoPrivateKey",
    "d2i_PrivateKey_bio",
    "d2i_PrivateKey_fp",
    "OSSL_DECODER_CTX_new_for_pkey",
    "kw_private_key_load",
}

# Production binaries that must not load keys.
WITHOUT = ["worker/keyward-worker", "master/keyward", "tools/keyward-get"]
# Binaries that do: they show that the check sees such symbols at all.
WITH = ["signer/keyward-signer", "tools/keyward-inspect"]


def symbols(path):
    """Every symbol name nm lists for path, static and dynamic, without versions."""
    names = set()
    for args in (["nm", path], ["nm", "-D", path]):
        res = subprocess.run(args, capture_output=True, text=True, timeout=60)
        if res.returncode != 0 and "no symbols" not in res.stderr:
            raise AssertionError("%s: %s" % (" ".join(args), res.stderr.strip()))
        for line in res.stdout.splitlines():
            fields = line.split()
            if fields:
                names.add(re.sub(r"@.*", "", fields[-1]))
    return names


class KeySymbolsTest(unittest.TestCase):
    def binary(self, rel):
        path = os.path.join(kwtest.BUILD, rel)
        self.assertTrue(os.path.isfile(path), "%s is built" % path)
        return path

    def test_production_binaries_have_no_key_loading_code(self):
        for rel in WITHOUT:
            with self.subTest(binary=rel):
                found = sorted(symbols(self.binary(rel)) & KEY_LOADERS)
                self.assertEqual(found, [], "%s contains private-key loading code" % rel)

    def test_the_signer_and_inspect_have_it(self):
        for rel in WITH:
            with self.subTest(binary=rel):
                names = symbols(self.binary(rel))
                self.assertIn("kw_private_key_load", names)
                self.assertIn("PEM_read_bio_PrivateKey", names)


if __name__ == "__main__":
    kwtest.main()

#!/usr/bin/python3
"""The independent toy-TLS client reproduces the protocol vectors byte for byte,
so that it can stand in for the reference client against a running keyward."""

import json
import os
import unittest

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

import kwtest
import toytls_ref as ref

with open(os.path.join(kwtest.TEST_DATA, "v1-vectors.json")) as f:
    V = {k: bytes.fromhex(v) for k, v in json.load(f).items()}


class VectorTest(unittest.TestCase):
    def setUp(self):
        self.client = X25519PrivateKey.from_private_bytes(V["client_x25519_private"])
        self.server = X25519PrivateKey.from_private_bytes(V["server_x25519_private"])

    def test_client_hello(self):
        c = ref.Client(None, private=self.client)
        self.assertEqual(c.client_hello(), V["client_hello_wire"])

    def test_keys_and_records(self):
        server_pub = ref.parse_fields(V["server_hello_wire"][4:])[0][1]
        shared = self.client.exchange(X25519PublicKey.from_public_bytes(server_pub))
        self.assertEqual(shared, V["shared_secret"])
        ck, sk = ref.derive_keys(shared)
        self.assertEqual(ck, V["client_write_key"])
        self.assertEqual(sk, V["server_write_key"])
        self.assertEqual(ref.seal(ck, 0, V["client_record_seq0_plaintext"],
                                  V["client_record_seq0_nonce"]), V["client_record_seq0_wire"])
        self.assertEqual(ref.open_payload(sk, 0, V["server_record_seq0_wire"][4:]),
                         V["server_record_seq0_plaintext"])

    def test_server_auth_records_verify(self):
        for wire, certs in (("server_auth_wire", "certs"),
                            ("reference_server_auth_wire", "reference-certs")):
            fields = ref.parse_fields(wire and V[wire][4:])
            ders = [v for t, v in fields if t == ref.TAG_CERTIFICATE]
            sig = [v for t, v in fields if t == ref.TAG_CERT_VERIFY][0]
            with open(os.path.join(kwtest.TEST_DATA, certs, "root_cert.pem"), "rb") as f:
                leaf = ref.verify_chain(ders, f.read(), "localhost")
            ref.verify_signature(leaf, sig, V["signature_input"])
            with self.assertRaises(Exception):
                ref.verify_signature(leaf, sig, V["signature_input"][::-1])


if __name__ == "__main__":
    kwtest.main()

"""An independent toy-TLS v1 client, written from the protocol description alone.

It follows the reference implementation's choices (RSA-PSS with SHA-256 and the
maximum salt length, HKDF-SHA256 without salt, AES-256-GCM with random nonces) and
is checked against the protocol vectors before it is used against keyward, so a
keyward server that talks to it talks to the reference client too.
"""

import os
import socket
import struct

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TAG_X25519 = 0x0010
TAG_SERVER_NAME = 0x0011
TAG_CERTIFICATE = 0x0020
TAG_CERT_VERIFY = 0x0021


class ProtocolError(Exception):
    pass


def record(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def field(tag: int, value: bytes) -> bytes:
    return struct.pack(">HI", tag, len(value)) + value


def parse_fields(payload: bytes):
    fields, pos = [], 0
    while pos < len(payload):
        if pos + 6 > len(payload):
            raise ProtocolError("truncated field header")
        tag, length = struct.unpack_from(">HI", payload, pos)
        pos += 6
        if pos + length > len(payload):
            raise ProtocolError("truncated field value")
        fields.append((tag, payload[pos:pos + length]))
        pos += length
    return fields


def derive_keys(shared: bytes):
    if shared == bytes(32):
        raise ProtocolError("all-zero shared secret")
    def hkdf(label):
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(shared)
    return hkdf(b"toy tls client write key"), hkdf(b"toy tls server write key")


def seal(key: bytes, seq: int, plaintext: bytes, nonce: bytes = None) -> bytes:
    nonce = nonce if nonce is not None else os.urandom(12)
    aad = struct.pack(">Q", seq)
    return record(aad + nonce + AESGCM(key).encrypt(nonce, plaintext, aad))


def open_payload(key: bytes, expected_seq: int, payload: bytes) -> bytes:
    if len(payload) < 36:
        raise ProtocolError("record shorter than 36 bytes")
    (seq,) = struct.unpack_from(">Q", payload, 0)
    if seq != expected_seq:
        raise ProtocolError("unexpected sequence number %d" % seq)
    return AESGCM(key).decrypt(payload[8:20], payload[20:], payload[:8])


def verify_signature(public_key, signature: bytes, data: bytes):
    if isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, data,
                          padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                      salt_length=padding.PSS.MAX_LENGTH),
                          hashes.SHA256())
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    elif isinstance(public_key, ed25519.Ed25519PublicKey):
        public_key.verify(signature, data)
    else:
        raise ProtocolError("unsupported key type")


def _verify_issued(cert, issuer):
    key = issuer.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                   cert.signature_hash_algorithm)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes,
                   ec.ECDSA(cert.signature_hash_algorithm))
    else:
        key.verify(cert.signature, cert.tbs_certificate_bytes)


def verify_chain(ders, root_pem: bytes, name: str):
    """Checks leaf -> intermediates -> root signatures and the leaf's DNS name."""
    certs = [x509.load_der_x509_certificate(d) for d in ders]
    root = x509.load_pem_x509_certificate(root_pem)
    for cert, issuer in zip(certs, certs[1:] + [root]):
        _verify_issued(cert, issuer)
    san = certs[0].extensions.get_extension_for_class(x509.SubjectAlternativeName)
    if name not in san.value.get_values_for_type(x509.DNSName):
        raise ProtocolError("certificate is not for %s" % name)
    return certs[0].public_key()


class Client:
    """A blocking toy-TLS client over a socket."""

    def __init__(self, sock, root_pem=None, name="localhost", server_name=None, private=None):
        self.sock = sock
        self.root_pem = root_pem
        self.name = name
        self.server_name = server_name
        self.private = private or X25519PrivateKey.generate()
        self.buf = b""
        self.send_seq = 0
        self.recv_seq = 0

    def client_hello(self) -> bytes:
        pub = self.private.public_key().public_bytes(serialization.Encoding.Raw,
                                                     serialization.PublicFormat.Raw)
        payload = field(TAG_X25519, pub)
        if self.server_name is not None:
            payload += field(TAG_SERVER_NAME, self.server_name.encode())
        return record(payload)

    def read_record(self) -> bytes:
        while True:
            if len(self.buf) >= 4:
                (length,) = struct.unpack_from(">I", self.buf)
                if len(self.buf) >= 4 + length:
                    payload = self.buf[4:4 + length]
                    self.buf = self.buf[4 + length:]
                    return payload
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self.buf += chunk

    def handshake(self):
        self.sock.sendall(self.client_hello())
        hello = parse_fields(self.read_record())
        server_pub = next(v for t, v in hello if t == TAG_X25519)
        if len(server_pub) != 32:
            raise ProtocolError("server key share is not 32 bytes")
        auth = parse_fields(self.read_record())
        ders = [v for t, v in auth if t == TAG_CERTIFICATE]
        sigs = [v for t, v in auth if t == TAG_CERT_VERIFY]
        if not ders or not sigs:
            raise ProtocolError("ServerAuth without certificate or signature")
        if self.root_pem is not None:
            leaf_key = verify_chain(ders, self.root_pem, self.name)
        else:
            leaf_key = x509.load_der_x509_certificate(ders[0]).public_key()
        client_pub = self.private.public_key().public_bytes(serialization.Encoding.Raw,
                                                            serialization.PublicFormat.Raw)
        verify_signature(leaf_key, sigs[0], client_pub + server_pub)
        shared = self.private.exchange(X25519PublicKey.from_public_bytes(server_pub))
        self.client_key, self.server_key = derive_keys(shared)
        self.certificates = ders

    def send(self, plaintext: bytes):
        self.sock.sendall(seal(self.client_key, self.send_seq, plaintext))
        self.send_seq += 1

    def recv(self) -> bytes:
        """One record's plaintext, or b"" at a clean EOF."""
        try:
            payload = self.read_record()
        except ConnectionError:
            if self.buf:
                raise ProtocolError("connection closed inside a record")
            return b""
        plaintext = open_payload(self.server_key, self.recv_seq, payload)
        self.recv_seq += 1
        return plaintext

    def recv_all(self) -> bytes:
        """Every plaintext byte until the server closes the connection."""
        out = b""
        while True:
            try:
                payload = self.read_record()
            except ConnectionError:
                if self.buf:
                    raise ProtocolError("connection closed inside a record")
                return out
            out += open_payload(self.server_key, self.recv_seq, payload)
            self.recv_seq += 1


def connect(port, root_pem=None, name="localhost", server_name=None, host="127.0.0.1",
            timeout=20):
    sock = socket.create_connection((host, port), timeout=timeout)
    client = Client(sock, root_pem, name, server_name)
    client.handshake()
    return client

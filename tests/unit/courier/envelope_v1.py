#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""
An independent implementation of the courier's version 1 envelope and
receipt (Documentation/courier.rst) with python3-cryptography, written from
that document and the Noise Protocol Framework (revision 34), not from
agent/proto/courier/*.c. It prints the known answers that test_crypto.c
and test_receipt.c must reproduce byte for byte:

    envelope_v1.py            the C constants (vectors.h)
    envelope_v1.py --check    compare with vectors.h in this directory

Covered: the header (Noise_Xpsk1 with the LTK as PSK, the payload key),
the chunks (nonce = 11-byte index || last flag) of a 70,000-byte payload
and of an empty one, the derived Ed25519 identity key and one receipt.
The archive and compression layers are libarchive's and zstd's and are
checked by round trips instead.

Not needed by "make check"; needs python3-cryptography.
"""
import hashlib
import hmac
import os
import sys
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey, X25519PublicKey)
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives import serialization

RAW = serialization.Encoding.Raw
PUB = serialization.PublicFormat.Raw
PRIV = serialization.PrivateFormat.Raw
NOENC = serialization.NoEncryption()


def sha256(b):
    return hashlib.sha256(b).digest()


def hkdf(salt, ikm, info, length):
    prk = hmac.new(salt if salt else bytes(32), ikm, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:length]


def x_pub(priv):
    return X25519PrivateKey.from_private_bytes(priv).public_key().public_bytes(RAW, PUB)


def dh(priv, pub):
    return X25519PrivateKey.from_private_bytes(priv).exchange(
        X25519PublicKey.from_public_bytes(pub))


class Symmetric:
    def __init__(self, name):
        self.h = name.ljust(32, b"\0") if len(name) <= 32 else sha256(name)
        self.ck = self.h
        self.k = None
        self.n = 0

    def mix_hash(self, data):
        self.h = sha256(self.h + data)

    def mix_key(self, ikm):
        out = hkdf(self.ck, ikm, b"", 64)
        self.ck, self.k, self.n = out[:32], out[32:], 0

    def mix_key_and_hash(self, ikm):
        out = hkdf(self.ck, ikm, b"", 96)
        self.ck = out[:32]
        self.mix_hash(out[32:64])
        self.k, self.n = out[64:], 0

    def encrypt_and_hash(self, pt):
        nonce = bytes(4) + self.n.to_bytes(8, "little")
        ct = ChaCha20Poly1305(self.k).encrypt(nonce, pt, self.h)
        self.n += 1
        self.mix_hash(ct)
        return ct


def xpsk1(prologue, s, rs, psk, e, payload):
    """Noise_Xpsk1 message 1: -> e, es, s, ss, psk (pre-message <- s)."""
    ss = Symmetric(b"Noise_Xpsk1_25519_ChaChaPoly_SHA256")
    ss.mix_hash(prologue)
    ss.mix_hash(rs)
    e_pub = x_pub(e)
    msg = e_pub
    ss.mix_hash(e_pub)
    ss.mix_key(e_pub)                     # psk modifier
    ss.mix_key(dh(e, rs))                 # es
    msg += ss.encrypt_and_hash(x_pub(s))  # s
    ss.mix_key(dh(s, rs))                 # ss
    ss.mix_key_and_hash(psk)              # psk
    msg += ss.encrypt_and_hash(payload)
    return msg, ss


def seal(s, rs, psk, e, env_id, sender, recipient, created, payload):
    clear = b"SEALENV" + bytes([1]) + env_id
    inner = sender + recipient + created.to_bytes(8, "big", signed=True) + bytes([1])
    msg, ss = xpsk1(clear, s, rs, psk, e, inner)
    key = hkdf(ss.ck, ss.h, b"sealine v1 envelope payload", 32)
    chunks = []
    n = max(1, (len(payload) + 65535) // 65536)
    for i in range(n):
        last = i == n - 1
        nonce = i.to_bytes(11, "big") + bytes([1 if last else 0])
        chunks.append(ChaCha20Poly1305(key).encrypt(
            nonce, payload[i * 65536:(i + 1) * 65536], None))
    return clear + msg, key, chunks


def label(s):
    return sha256(b"sealine courier test " + s)


S_PRIV = label(b"sender static")
R_PRIV = label(b"recipient static")
E_PRIV = label(b"ephemeral")
LTK = label(b"ltk")
ENV_ID = bytes(range(0x10, 0x20))
SENDER = b"000000000001"
RECIPIENT = b"000000000002"
CREATED = 1700000000
PAYLOAD = bytes((i * 7 + 3) & 0xFF for i in range(70000))


def receipt(envelope, chunks_bytes):
    seed = hkdf(b"", R_PRIV, b"sealine v1 receipt signing key" + RECIPIENT, 32)
    key = Ed25519PrivateKey.from_private_bytes(seed)
    pub = key.public_key().public_bytes(RAW, PUB)
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1700000100))
    body = ("sealine-receipt 1\n"
            f"envelope {ENV_ID.hex()}\n"
            f"sha256 {sha256(envelope).hex()}\n"
            f"size {len(envelope)}\n"
            f"sender {SENDER.decode()}\n"
            f"recipient {RECIPIENT.decode()}\n"
            f"delivered {when}\n"
            "files 3\n"
            "bytes 70000\n"
            f"key {pub.hex()}\n").encode()
    sig = key.sign(body)
    return seed, pub, body + f"signature {sig.hex()}\n".encode()


def c_hex(name, b):
    h = b.hex()
    lines = [h[i:i + 64] for i in range(0, len(h), 64)]
    body = "\n".join(f'\t"{l}"' for l in lines)
    return f"static const char {name}[] =\n{body};\n"


def c_str(name, s):
    lines = s.decode().split("\n")[:-1]
    body = "\n".join(f'\t"{l}\\n"' for l in lines)
    return f"static const char {name}[] =\n{body};\n"


def vectors():
    header, key, chunks = seal(S_PRIV, x_pub(R_PRIV), LTK, E_PRIV, ENV_ID,
                               SENDER, RECIPIENT, CREATED, PAYLOAD)
    envelope = header + b"".join(chunks)
    _, _, e_chunks = seal(S_PRIV, x_pub(R_PRIV), LTK, E_PRIV,
                                     ENV_ID, SENDER, RECIPIENT, CREATED, b"")
    seed, pub, text = receipt(envelope, b"".join(chunks))
    out = ["/* SPDX-License-Identifier: GPL-2.0 */",
           "/* Generated by envelope_v1.py: do not edit. */",
           "/* Inputs: label(x) = SHA-256(\"sealine courier test \" || x). */",
           c_hex("V_HEADER", header),
           c_hex("V_PAYLOAD_KEY", key),
           f"#define V_ENVELOPE_LEN {len(envelope)}",
           c_hex("V_ENVELOPE_SHA256", sha256(envelope)),
           c_hex("V_CHUNK0_SHA256", sha256(chunks[0])),
           c_hex("V_CHUNK1_SHA256", sha256(chunks[1])),
           c_hex("V_CHUNK1_TAG", chunks[1][-16:]),
           c_hex("V_EMPTY_CHUNK", e_chunks[0]),
           c_hex("V_SIGN_SEED", seed),
           c_hex("V_SIGN_PUB", pub),
           c_str("V_RECEIPT", text)]
    return "\n".join(out)


def main():
    text = vectors()
    if len(sys.argv) > 1 and sys.argv[1] == "--check":
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors.h")
        with open(path) as f:
            if f.read() != text:
                print("vectors.h differs from envelope_v1.py's output")
                sys.exit(1)
        print("vectors.h matches the independent implementation")
        return
    print(text, end="")


if __name__ == "__main__":
    main()

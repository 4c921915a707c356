"""Double Ratchet speed for 200-byte messages, printed as JSON, three ways in one run:

- phone_tui's ratchet (``phone_tui.crypto.ratchet``);
- the floor: the raw ``cryptography`` calls the scheme needs per message, timed inline (one
  HMAC pair for the chain step, one HKDF for the message key, one AES-GCM, and for a round
  trip the two X25519 exchanges and two root-chain HKDFs of each DH ratchet step);
- the ``doubleratchet`` package (Syndace's python-doubleratchet, benchmark-only dependency)
  configured with the equivalent primitives: Curve25519, HKDF-SHA-256 root chain, HMAC chain,
  its recommended AES-CBC+HMAC AEAD.

One-way: Alice encrypts N messages and Bob decrypts them. Ping-pong: alternate senders, so
every message is a DH ratchet step. Targets: ≥ 3× doubleratchet and ≥ 50 % of the floor.

    pip install doubleratchet   # only for this benchmark
    python benchmarks/ratchet.py [--messages 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from phone_tui.core.entropy import SystemEntropy
from phone_tui.crypto.ratchet import Ratchet, pad

MESSAGE = os.urandom(200)
AD = os.urandom(64)


def ours(count: int, ping_pong: bool) -> float:
    entropy = SystemEntropy()
    bob_spk = X25519PrivateKey.generate()
    from phone_tui.crypto.identity import raw_public

    sk = os.urandom(32)
    alice = Ratchet.initiator(sk, AD, raw_public(bob_spk.public_key()), entropy)
    bob = Ratchet.responder(sk, AD, bob_spk)
    bob.decrypt(*alice.encrypt(b"hello"), entropy)
    start = time.perf_counter()
    for index in range(count):
        sender, receiver = (alice, bob) if not ping_pong or index % 2 == 0 else (bob, alice)
        receiver.decrypt(*sender.encrypt(MESSAGE), entropy)
    return count / (time.perf_counter() - start)


def floor(count: int, ping_pong: bool) -> float:
    """The primitives alone, no state handling."""
    ck, rk = os.urandom(32), os.urandom(32)
    ours_priv, theirs_pub = X25519PrivateKey.generate(), X25519PrivateKey.generate().public_key()
    start = time.perf_counter()
    for _ in range(count):
        for _side in ("encrypt", "decrypt"):
            if ping_pong and _side == "decrypt":
                # A DH ratchet step: two exchanges, two root-chain HKDFs, one new key pair.
                dh = ours_priv.exchange(theirs_pub)
                HKDF(hashes.SHA256(), 64, salt=rk, info=b"WhisperRatchet").derive(dh)
                fresh = X25519PrivateKey.generate()
                dh = fresh.exchange(theirs_pub)
                HKDF(hashes.SHA256(), 64, salt=rk, info=b"WhisperRatchet").derive(dh)
            mk = hmac.new(ck, b"\x01", hashlib.sha256).digest()
            hmac.new(ck, b"\x02", hashlib.sha256).digest()
            out = HKDF(hashes.SHA256(), 44, salt=b"\x00" * 32,
                       info=b"WhisperMessageKeys").derive(mk)
            aead = AESGCM(out[:32])
            if _side == "encrypt":
                sealed = aead.encrypt(out[32:], pad(MESSAGE), AD)
            else:
                aead.decrypt(out[32:], sealed, AD)
    return count / (time.perf_counter() - start)


def doubleratchet_package(count: int, ping_pong: bool) -> float | None:
    try:
        from doubleratchet import DoubleRatchet as Base
        from doubleratchet import Header
        from doubleratchet.recommended import (
            HashFunction,
            aead_aes_hmac,
            diffie_hellman_ratchet_curve25519,
            kdf_hkdf,
            kdf_separate_hmacs,
        )
    except ImportError:
        return None

    class DoubleRatchet(Base):
        @staticmethod
        def _build_associated_data(associated_data: bytes, header: Header) -> bytes:
            return (associated_data + header.ratchet_pub + header.sending_chain_length.to_bytes(
                4, "big") + header.previous_sending_chain_length.to_bytes(4, "big"))

    class AEAD(aead_aes_hmac.AEAD):
        @staticmethod
        def _get_hash_function() -> HashFunction:
            return HashFunction.SHA_256

        @staticmethod
        def _get_info() -> bytes:
            return b"WhisperMessageKeys"

    class RootKDF(kdf_hkdf.KDF):
        @staticmethod
        def _get_hash_function() -> HashFunction:
            return HashFunction.SHA_256

        @staticmethod
        def _get_info() -> bytes:
            return b"WhisperRatchet"

    class ChainKDF(kdf_separate_hmacs.KDF):
        @staticmethod
        def _get_hash_function() -> HashFunction:
            return HashFunction.SHA_256

    config = dict(diffie_hellman_ratchet_class=diffie_hellman_ratchet_curve25519
                  .DiffieHellmanRatchet, root_chain_kdf=RootKDF, message_chain_kdf=ChainKDF,
                  message_chain_constant=b"\x01\x02", dos_protection_threshold=1000,
                  max_num_skipped_message_keys=1000, aead=AEAD)

    async def run() -> float:
        sk = os.urandom(32)
        bob_priv = X25519PrivateKey.generate()
        from cryptography.hazmat.primitives.serialization import (
            Encoding,
            NoEncryption,
            PrivateFormat,
        )

        from phone_tui.crypto.identity import raw_public

        bob_priv_bytes = bob_priv.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        alice, first = await DoubleRatchet.encrypt_initial_message(
            shared_secret=sk, recipient_ratchet_pub=raw_public(bob_priv.public_key()),
            message=b"hello", associated_data=AD, **config)
        bob, _ = await DoubleRatchet.decrypt_initial_message(
            shared_secret=sk, own_ratchet_priv=bob_priv_bytes, message=first,
            associated_data=AD, **config)
        start = time.perf_counter()
        for index in range(count):
            sender, receiver = (alice, bob) if not ping_pong or index % 2 == 0 else (bob, alice)
            encrypted = await sender.encrypt_message(MESSAGE, AD)
            await receiver.decrypt_message(encrypted, AD)
        return count / (time.perf_counter() - start)

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    results: dict[str, dict[str, float | None]] = {}
    for mode, ping_pong in (("one_way", False), ("ping_pong", True)):
        mine = ours(args.messages, ping_pong)
        base = floor(args.messages, ping_pong)
        package = doubleratchet_package(args.messages, ping_pong)
        results[mode] = {
            "phone_tui_msgs_per_s": round(mine),
            "floor_msgs_per_s": round(base),
            "doubleratchet_msgs_per_s": round(package) if package else None,
            "ratio_to_floor": round(mine / base, 3),
            "ratio_to_doubleratchet": round(mine / package, 2) if package else None,
        }
    print(json.dumps({"benchmark": "Double Ratchet, 200-byte messages, encrypt + decrypt",
                      "messages": args.messages, "results": results,
                      "targets": {"ratio_to_floor": 0.5, "ratio_to_doubleratchet": 3.0}},
                     indent=2))


if __name__ == "__main__":
    main()

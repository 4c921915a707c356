"""Double Ratchet speed for 200-byte messages, printed as JSON, three ways in one run:

- phone_tui's ratchet (``phone_tui.crypto.ratchet``);
- the floor: the same ``cryptography`` calls phone_tui's ratchet makes per message, in the same
  pattern, with no state handling (no state copy, no skipped-key bookkeeping, locals instead
  of a dataclass): chain step = two ``hmac.digest`` (0x02 next chain key, 0x01 message key),
  the header packed with the same ``struct`` (ratchet key, pn, n), message keys = one HKDF-SHA256
  (44 bytes, info "WhisperMessageKeys"), one AES-256-GCM with AD ‖ header, the same 160-byte
  padding; on receipt the header unpacked, and where a DH ratchet step occurs (ping-pong: every
  message) the peer's key parsed, two X25519 exchanges, two HKDF "WhisperRatchet" root steps, a
  new key pair from 32 random bytes and its public key encoded. Before timing, the floor is run
  beside phone_tui's ratchet from the same state and the same random bytes: their transcripts
  must be byte for byte equal (so the floor provably makes the same calls);
- the ``doubleratchet`` package (Syndace's python-doubleratchet, benchmark-only dependency)
  with Curve25519, HKDF-SHA-256 root chain, HMAC chain and its recommended AEAD. NOT like for
  like: that AEAD is AES-256-CBC + HMAC-SHA-256 (not AES-GCM), and its API is async (every
  encrypt and decrypt is a coroutine awaited on an event loop). Skipped when not installed.

One-way: Alice encrypts N messages and Bob decrypts them. Ping-pong: alternate senders, so
every message is a DH ratchet step. Each of --rounds rounds runs every implementation once per
mode, in an order rotated each round; rates are messages per CPU second of this process (also
per wall second), ratios taken per round, median and min–max printed. Targets: ≥ 3×
doubleratchet and ≥ 50 % of the floor.

    pip install doubleratchet   # only for the third column
    python benchmarks/ratchet.py [--messages 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import os
import random
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from spread import ratio_spread, rotated, spread, timed

from phone_tui.core.entropy import SystemEntropy
from phone_tui.crypto.identity import raw_public
from phone_tui.crypto.ratchet import _HEADER, Ratchet, pad, unpad

MESSAGE = os.urandom(200)
AD = os.urandom(64)


class ByteStream:
    """Entropy for the transcript check: the same bytes for the ratchet and the floor."""

    secure = False

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def token_bytes(self, n: int) -> bytes:
        return self._rng.randbytes(n)

    def rng(self, name: str) -> random.Random:
        return random.Random(name)


def session_pair(entropy: object) -> tuple[Ratchet, Ratchet]:
    """Alice and Bob after Bob has read Alice's first message: both can send."""
    bob_spk = X25519PrivateKey.generate()
    sk = os.urandom(32)
    alice = Ratchet.initiator(sk, AD, raw_public(bob_spk.public_key()), entropy)  # type: ignore[arg-type]
    bob = Ratchet.responder(sk, AD, bob_spk)
    bob.decrypt(*alice.encrypt(b"hello"), entropy)  # type: ignore[arg-type]
    return alice, bob


def copy_pair(alice: Ratchet, bob: Ratchet) -> tuple[Ratchet, Ratchet]:
    return Ratchet.from_dict(alice.to_dict()), Ratchet.from_dict(bob.to_dict())


def ours(alice: Ratchet, bob: Ratchet, count: int, ping_pong: bool, entropy: object,
         transcript: list[bytes] | None = None) -> None:
    for index in range(count):
        sender, receiver = (alice, bob) if not ping_pong or index % 2 == 0 else (bob, alice)
        header, sealed = sender.encrypt(MESSAGE)
        if transcript is not None:
            transcript.append(header + sealed)
        receiver.decrypt(header, sealed, entropy)  # type: ignore[arg-type]


def floor(alice: Ratchet, bob: Ratchet, count: int, ping_pong: bool,
          token: Callable[[int], bytes], transcript: list[bytes] | None = None) -> None:
    """phone_tui's per-message calls, nothing else. Starts from (and leaves untouched) the
    state of ``alice`` and ``bob``; each side's state is a list [dhs, dhs_pub, dhr, rk, cks,
    ckr, ns, nr, pn]."""
    sides = [[r.dhs, r.dhs_pub, r.dhr, r.rk, r.cks, r.ckr, r.ns, r.nr, r.pn] for r in (alice, bob)]
    pack, unpack, digest = _HEADER.pack, _HEADER.unpack, hmac.digest
    sha256, raw = hashes.SHA256, Encoding.Raw
    zero = b"\x00" * 32
    plaintext = MESSAGE
    for index in range(count):
        s, r = (sides[0], sides[1]) if not ping_pong or index % 2 == 0 else (sides[1], sides[0])
        # ---- the sender: encrypt
        if s[1] is None:  # the public key of a new ratchet key pair, once per ratchet step
            s[1] = s[0].public_key().public_bytes(raw, PublicFormat.Raw)
        ck = s[4]
        s[4], mk = digest(ck, b"\x02", "sha256"), digest(ck, b"\x01", "sha256")
        header = pack(s[1], s[8], s[6])
        s[6] += 1
        out = HKDF(sha256(), 44, salt=zero, info=b"WhisperMessageKeys").derive(mk)
        sealed = AESGCM(out[:32]).encrypt(out[32:], pad(plaintext), AD + header)
        if transcript is not None:
            transcript.append(header + sealed)
        # ---- the receiver: decrypt
        dh, _pn, _n = unpack(header)
        if dh != r[2]:  # a DH ratchet step
            their = X25519PublicKey.from_public_bytes(dh)
            r[8], r[6], r[7], r[2] = r[6], 0, 0, dh
            out = HKDF(sha256(), 64, salt=r[3], info=b"WhisperRatchet").derive(
                r[0].exchange(their))
            r[3], r[5] = out[:32], out[32:]
            r[0] = X25519PrivateKey.from_private_bytes(token(32))
            r[1] = None
            out = HKDF(sha256(), 64, salt=r[3], info=b"WhisperRatchet").derive(
                r[0].exchange(their))
            r[3], r[4] = out[:32], out[32:]
        ck = r[5]
        r[5], mk = digest(ck, b"\x02", "sha256"), digest(ck, b"\x01", "sha256")
        r[7] += 1
        out = HKDF(sha256(), 44, salt=zero, info=b"WhisperMessageKeys").derive(mk)
        unpad(AESGCM(out[:32]).decrypt(out[32:], sealed, AD + header))


def check_floor(count: int = 12) -> dict[str, bool]:
    """The floor and phone_tui's ratchet, from one state and one stream of random bytes, must
    send byte-for-byte the same messages (both modes)."""
    result = {}
    for mode, ping_pong in (("one_way", False), ("ping_pong", True)):
        alice, bob = session_pair(SystemEntropy())
        mine: list[bytes] = []
        theirs: list[bytes] = []
        ours(*copy_pair(alice, bob), count, ping_pong, ByteStream(7), mine)
        floor(alice, bob, count, ping_pong, ByteStream(7).token_bytes, theirs)
        result[mode] = mine == theirs
    if not all(result.values()):
        raise SystemExit(f"the floor no longer makes phone_tui's ratchet calls: {result}")
    return result


def doubleratchet_runner() -> Callable[[int, bool], tuple[float, float]] | None:
    """A function timing ``count`` messages through python-doubleratchet, or None."""
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
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

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

    async def pair():  # noqa: ANN202
        sk = os.urandom(32)
        bob_priv = X25519PrivateKey.generate()
        bob_priv_bytes = bob_priv.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        alice, first = await DoubleRatchet.encrypt_initial_message(
            shared_secret=sk, recipient_ratchet_pub=raw_public(bob_priv.public_key()),
            message=b"hello", associated_data=AD, **config)
        bob, _ = await DoubleRatchet.decrypt_initial_message(
            shared_secret=sk, own_ratchet_priv=bob_priv_bytes, message=first,
            associated_data=AD, **config)
        return alice, bob

    def run(count: int, ping_pong: bool) -> tuple[float, float]:
        loop = asyncio.new_event_loop()
        try:
            alice, bob = loop.run_until_complete(pair())

            async def messages() -> None:
                for index in range(count):
                    sender, receiver = ((alice, bob) if not ping_pong or index % 2 == 0
                                        else (bob, alice))
                    encrypted = await sender.encrypt_message(MESSAGE, AD)
                    await receiver.decrypt_message(encrypted, AD)

            return timed(lambda: loop.run_until_complete(messages()))
        finally:
            loop.close()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000, help="messages per run")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.rounds < 1 or args.messages < 2:
        parser.error("at least one round of two messages")
    checked = check_floor()
    package = doubleratchet_runner()
    entropy = SystemEntropy()

    def run_ours(count: int, ping_pong: bool) -> tuple[float, float]:
        alice, bob = session_pair(entropy)
        return timed(lambda: ours(alice, bob, count, ping_pong, entropy))

    def run_floor(count: int, ping_pong: bool) -> tuple[float, float]:
        alice, bob = session_pair(entropy)
        return timed(lambda: floor(alice, bob, count, ping_pong, os.urandom))

    runners = {"phone_tui": run_ours, "floor": run_floor}
    if package is not None:
        runners["doubleratchet"] = package
    modes = (("one_way", False), ("ping_pong", True))
    rates: dict[str, dict[str, dict[str, list[float]]]] = {
        mode: {name: {"cpu": [], "wall": []} for name in runners} for mode, _ in modes}
    for round_index in range(args.rounds):
        for mode, ping_pong in modes:
            for name in rotated(list(runners), round_index):
                wall, cpu = runners[name](args.messages, ping_pong)
                rates[mode][name]["cpu"].append(args.messages / cpu)
                rates[mode][name]["wall"].append(args.messages / wall)

    results: dict[str, object] = {}
    for mode, _ in modes:
        figures = rates[mode]
        entry: dict[str, object] = {}
        for clock in ("cpu", "wall"):
            mine = figures["phone_tui"][clock]
            entry[clock] = {
                "phone_tui_msgs_per_s": spread(mine, 0),
                "floor_msgs_per_s": spread(figures["floor"][clock], 0),
                "doubleratchet_msgs_per_s": (spread(figures["doubleratchet"][clock], 0)
                                             if package else None),
                "ratio_to_floor": ratio_spread(mine, figures["floor"][clock], 3),
                "ratio_to_doubleratchet": (ratio_spread(mine, figures["doubleratchet"][clock], 2)
                                           if package else None),
            }
        results[mode] = entry
    print(json.dumps({
        "benchmark": "Double Ratchet, 200-byte messages, encrypt + decrypt",
        "messages": args.messages,
        "rounds": args.rounds,
        "interleaving": "each round runs every implementation once per mode, order rotated "
                        "each round; ratios per round, then median and min–max",
        "rates": "cpu: messages per CPU second of this process (steadier on a shared machine); "
                 "wall: per wall-clock second",
        "floor": "the same cryptography calls as phone_tui.crypto.ratchet (hmac.digest chain "
                 "step, struct header, HKDF message keys, AES-256-GCM over AD + header, "
                 "160-byte padding; X25519 exchanges and HKDF root steps on a DH ratchet step) "
                 "without its state handling",
        "floor_transcript_matches_phone_tui": checked,
        "doubleratchet_package": (
            "installed" if package else "not installed (pip install doubleratchet): its "
            "column is null"),
        "doubleratchet_not_like_for_like": (
            "python-doubleratchet encrypts with AES-256-CBC + HMAC-SHA-256 (its recommended "
            "AEAD), not AES-256-GCM, and its encrypt/decrypt are async coroutines awaited on "
            "an event loop: the ratio to it is not a like-for-like comparison"),
        "results": results,
        "targets": {"ratio_to_floor": 0.5, "ratio_to_doubleratchet": 3.0},
    }, indent=2))


if __name__ == "__main__":
    main()

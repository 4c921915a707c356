"""Safety numbers: Signal's numeric fingerprint (version 1 display), so two phones, or a phone
and a Signal client, show the same 60 digits for the same keys and numbers.

For each side: SHA-512 over (version 0x0000 ‖ key ‖ number ‖ key), then 5 199 more rounds of
SHA-512(previous ‖ key), where key is the 33-byte 0x05-prefixed Curve25519 identity key. The
first 30 bytes become six 5-digit groups (each 5-byte big-endian chunk mod 100 000). The two
30-digit halves are joined lower first.
"""

from __future__ import annotations

import hashlib

ITERATIONS = 5200
DJB_TYPE = b"\x05"


def identity_bytes(identity: bytes) -> bytes:
    """The 33-byte form: a raw 32-byte X25519 key gets Signal's 0x05 type prefix."""
    if len(identity) == 32:
        return DJB_TYPE + identity
    if len(identity) == 33 and identity[:1] == DJB_TYPE:
        return identity
    raise ValueError("an identity key is 32 raw bytes, or 33 starting with 0x05")


def stable_identifier(number: str) -> bytes:
    """The phone number in E.164 (no spaces), as Signal uses it."""
    return "".join(number.split()).encode()


def _half(number: str, identity: bytes, iterations: int) -> str:
    key = identity_bytes(identity)
    digest = hashlib.sha512(b"\x00\x00" + key + stable_identifier(number) + key).digest()
    for _ in range(1, iterations):
        digest = hashlib.sha512(digest + key).digest()
    return "".join(f"{int.from_bytes(digest[i:i + 5], 'big') % 100_000:05d}"
                   for i in range(0, 30, 5))


def safety_number(local_number: str, local_identity: bytes, remote_number: str,
                  remote_identity: bytes) -> str:
    """60 digits, no spaces; the same on both phones."""
    local = _half(local_number, local_identity, ITERATIONS)
    remote = _half(remote_number, remote_identity, ITERATIONS)
    return local + remote if local < remote else remote + local


def grouped(number: str) -> list[str]:
    """12 groups of 5 digits, for display."""
    return [number[i:i + 5] for i in range(0, len(number), 5)]

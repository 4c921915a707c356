"""A call's key agreement after ZRTP (RFC 6189), over the messenger's end-to-end signalling.

The caller commits to its ephemeral X25519 key (a hash of it, bound to the call id) in the
offer; the callee answers with its own ephemeral key; only then does the caller reveal its key,
which the callee checks against the commitment. A man in the middle who wants the two legs to
agree on one short authentication string must pick its keys before it sees the caller's (the
commitment, section 4.4.1.1): it gets one try at a 16-bit match. Both sides then derive, with
HKDF-SHA256 over the X25519 secret, both identity keys, both ephemerals and the call id, one
AES-256-GCM key, salt and SSRC per direction and the SAS, read aloud as two PGP words (B256).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from phone_tui.crypto.pgp_words import EVEN, ODD

KEY_SIZE = 32  # X25519 public keys and the AES-256 media keys
SALT_SIZE = 12  # the RFC 7714 per-direction salt
COMMIT_SIZE = 32
_COMMIT_LABEL = b"phone-tui zrtp commit v1\x00"
_SALT_LABEL = b"phone-tui zrtp salt v1\x00"
_INFO_LABEL = b"phone-tui zrtp keys v1\x00"
_SIDE = KEY_SIZE + SALT_SIZE + 4  # key | salt | ssrc u32
_OUTPUT = 2 * _SIDE + 2  # caller side | callee side | sas


class ZrtpError(ValueError):
    """Key material that cannot make a call (a wrong length, a low-order point)."""


@dataclass(frozen=True)
class DirectionKeys:
    """What seals the frames one side sends: AES-256-GCM key, RFC 7714 salt, SSRC."""

    key: bytes
    salt: bytes
    ssrc: int

    def __repr__(self) -> str:  # never in a log
        return f"DirectionKeys(ssrc={self.ssrc:#010x})"


@dataclass(frozen=True)
class SideKeys:
    """One side's media keys, with the fields of ``media.stream.MediaKeys``."""

    send_key: bytes
    send_salt: bytes
    send_ssrc: int
    recv_key: bytes
    recv_salt: bytes
    recv_ssrc: int

    def __repr__(self) -> str:
        return f"SideKeys(send_ssrc={self.send_ssrc:#010x}, recv_ssrc={self.recv_ssrc:#010x})"


@dataclass(frozen=True)
class CallSecrets:
    """A call's derived secrets: per-direction keys (``caller`` seals what the caller sends)
    and the SAS, two bytes and their two words."""

    caller: DirectionKeys
    callee: DirectionKeys
    sas: bytes
    words: tuple[str, str]

    def for_side(self, *, caller: bool) -> SideKeys:
        """The media keys of one side: the caller sends with ``caller`` and receives with
        ``callee``; the callee the reverse."""
        send, recv = (self.caller, self.callee) if caller else (self.callee, self.caller)
        return SideKeys(send.key, send.salt, send.ssrc, recv.key, recv.salt, recv.ssrc)

    def __repr__(self) -> str:
        return "CallSecrets(<hidden>)"


def commitment(call_id: str, ephemeral_public: bytes) -> bytes:
    """The caller's hash commitment to its ephemeral key (SHA-256, domain-separated, bound to
    the call id so it cannot be replayed into another call)."""
    _check(ephemeral_public, KEY_SIZE, "ephemeral key")
    encoded = call_id.encode()
    return hashlib.sha256(_COMMIT_LABEL + len(encoded).to_bytes(2, "big") + encoded
                          + ephemeral_public).digest()


def commitment_matches(call_id: str, commit: bytes, ephemeral_public: bytes) -> bool:
    """Whether the revealed key is the one committed to (compared in constant time)."""
    if len(commit) != COMMIT_SIZE or len(ephemeral_public) != KEY_SIZE:
        return False
    return hmac.compare_digest(commit, commitment(call_id, ephemeral_public))


def new_ephemeral() -> X25519PrivateKey:
    """A fresh ephemeral key for one call (from the OS's randomness)."""
    return X25519PrivateKey.generate()


def ephemeral_from(seed: bytes) -> X25519PrivateKey:
    """An ephemeral key from 32 bytes of the caller's entropy (deterministic runs)."""
    _check(seed, KEY_SIZE, "ephemeral seed")
    return X25519PrivateKey.from_private_bytes(seed)


def public_bytes(private: X25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return private.public_key().public_bytes(serialization.Encoding.Raw,
                                             serialization.PublicFormat.Raw)


def agree(private: X25519PrivateKey, peer_public: bytes) -> bytes:
    """The X25519 shared secret with the peer's ephemeral key; ZrtpError for a key that is
    not one (wrong length, or a low-order point that gives the all-zero secret)."""
    _check(peer_public, KEY_SIZE, "peer's ephemeral key")
    try:
        return private.exchange(X25519PublicKey.from_public_bytes(peer_public))
    except ValueError:
        raise ZrtpError("the peer's ephemeral key is not usable") from None


def derive(shared_secret: bytes, *, call_id: str, caller_identity: bytes,
           callee_identity: bytes, caller_ephemeral: bytes,
           callee_ephemeral: bytes) -> CallSecrets:
    """Both directions' media keys and the SAS. HKDF-SHA256: salt = SHA-256 of the call id,
    info = both identity keys and both ephemerals in caller, callee order, so a different key
    anywhere (a man in the middle's on either leg) gives other keys and other words."""
    _check(shared_secret, KEY_SIZE, "shared secret")
    if not any(shared_secret):
        raise ZrtpError("the shared secret is all zeros")
    for value, what in ((caller_identity, "caller's identity key"),
                        (callee_identity, "callee's identity key"),
                        (caller_ephemeral, "caller's ephemeral key"),
                        (callee_ephemeral, "callee's ephemeral key")):
        _check(value, KEY_SIZE, what)
    encoded = call_id.encode()
    salt = hashlib.sha256(_SALT_LABEL + encoded).digest()
    info = (_INFO_LABEL + len(encoded).to_bytes(2, "big") + encoded + caller_identity
            + callee_identity + caller_ephemeral + callee_ephemeral)
    okm = HKDF(algorithm=hashes.SHA256(), length=_OUTPUT, salt=salt, info=info).derive(
        shared_secret)
    caller, callee = _side(okm[:_SIDE]), _side(okm[_SIDE:2 * _SIDE])
    if callee.ssrc == caller.ssrc:  # one chance in 2**32: each direction keeps its own SSRC
        callee = DirectionKeys(callee.key, callee.salt, callee.ssrc ^ 1)
    sas = okm[2 * _SIDE:]
    return CallSecrets(caller, callee, sas, sas_words(sas))


def sas_words(sas: bytes) -> tuple[str, str]:
    """RFC 6189 section 5.1.6 B256: the first byte from the even list, the second from the odd."""
    if len(sas) < 2:
        raise ZrtpError("a SAS is two bytes")
    return EVEN[sas[0]], ODD[sas[1]]


def _side(data: bytes) -> DirectionKeys:
    return DirectionKeys(data[:KEY_SIZE], data[KEY_SIZE:KEY_SIZE + SALT_SIZE],
                         int.from_bytes(data[KEY_SIZE + SALT_SIZE:], "big"))


def _check(value: bytes, size: int, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != size:
        raise ZrtpError(f"the {what} is not {size} bytes")

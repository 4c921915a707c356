"""X3DH key agreement (Signal's spec: the signed prekey is verified under the identity key by
XEdDSA).

SK = HKDF(F ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4]) with F = 32 × 0xFF, salt = 32 zero bytes; the associated
data that binds every later message to both identities is AD = IK_A ‖ IK_B.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from phone_tui.core.entropy import Entropy
from phone_tui.crypto.identity import IdentityKeys, InvalidBundle, PrekeyBundle, raw_public
from phone_tui.crypto.identity import x25519_private as _new_key

INFO = b"phone-tui X3DH"


@dataclass(frozen=True)
class InitialMessage:
    """What the initiator sends with its first message so the responder can run X3DH too."""

    identity_dh: bytes
    ephemeral: bytes
    spk_id: int
    opk_id: int | None


def _kdf(material: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=b"\x00" * 32, info=INFO).derive(b"\xff" * 32 + material)


def initiate(ours: IdentityKeys, bundle: PrekeyBundle,
             entropy: Entropy) -> tuple[bytes, bytes, InitialMessage]:
    """Alice's side: returns (SK, AD, the header Bob needs)."""
    bundle.verify()
    try:
        their_identity = X25519PublicKey.from_public_bytes(bundle.identity_dh)
        their_spk = X25519PublicKey.from_public_bytes(bundle.spk)
        their_opk = X25519PublicKey.from_public_bytes(bundle.opk) if bundle.opk else None
    except ValueError:
        raise InvalidBundle("a public key in the bundle is malformed") from None
    ephemeral = _new_key(entropy)
    try:
        material = (ours.dh.exchange(their_spk) + ephemeral.exchange(their_identity)
                    + ephemeral.exchange(their_spk))
        if their_opk is not None:
            material += ephemeral.exchange(their_opk)
    except ValueError:
        # A low-order point (all-zero shared secret): pyca refuses it, and so do we. A peer
        # can sign such a prekey with its own identity key, so the signature does not help.
        raise InvalidBundle("a public key in the bundle is a low-order point") from None
    header = InitialMessage(ours.public_dh, raw_public(ephemeral.public_key()), bundle.spk_id,
                            bundle.opk_id)
    return _kdf(material), ours.public_dh + bundle.identity_dh, header


def respond(ours: IdentityKeys, header: InitialMessage) -> tuple[bytes, bytes]:
    """Bob's side: returns (SK, AD). Changes nothing: the caller removes the one-time prekey
    (``ours.opks``) only once the first message decrypted, as libsignal does, so garbage
    claiming to be a first message cannot burn prekeys."""
    spk = ours.signed_prekey(header.spk_id)
    if spk is None:
        raise InvalidBundle(f"unknown signed prekey {header.spk_id}")
    try:
        their_identity = X25519PublicKey.from_public_bytes(header.identity_dh)
        ephemeral = X25519PublicKey.from_public_bytes(header.ephemeral)
    except ValueError:
        raise InvalidBundle("a public key in the initial message is malformed") from None
    opk = None
    if header.opk_id is not None:
        opk = ours.opks.get(header.opk_id)
        if opk is None:
            raise InvalidBundle(f"one-time prekey {header.opk_id} was already used")
    try:
        material = (spk.exchange(their_identity) + ours.dh.exchange(ephemeral)
                    + spk.exchange(ephemeral))
        if opk is not None:
            material += opk.exchange(ephemeral)
    except ValueError:
        raise InvalidBundle("a public key in the initial message is a low-order point") from None
    return _kdf(material), header.identity_dh + ours.public_dh

"""Identity and prekeys (Signal's design): one X25519 identity key, which also signs the signed
prekey through XEdDSA, and one-time prekeys; bundles published to the key directory.

One key, as in Signal: the safety number covers everything that vouches for the prekeys, so a
key directory cannot re-sign a prekey of its own for someone else's identity.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from phone_tui.core.entropy import Entropy

ONE_TIME_PREKEYS = 100
# One-time prekeys kept, handed out or not. Anyone may fetch a bundle, so a phone that drains
# the directory all day would otherwise grow the keystore without end; past this the oldest
# go (a first message made with one of them fails, asks for a resend and heals).
MAX_ONE_TIME_KEPT = 4 * ONE_TIME_PREKEYS
REFILL_BELOW = 99
SIGNED_PREKEY_LIFETIME = 7 * 24 * 3600.0
# A replaced signed prekey still answers first messages for this long (libsignal keeps old ones
# for days): one sent from a bundle fetched just before the weekly rotation still decrypts.
SIGNED_PREKEY_GRACE = 30 * 24 * 3600.0
KEY_TYPE_DJB = b"\x05"  # Signal's prefix of a serialised Curve25519 public key


class InvalidBundle(ValueError):
    """A prekey bundle that is malformed or whose signed prekey's signature does not verify."""


def raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def raw_private(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def x25519_private(entropy: Entropy) -> X25519PrivateKey:
    # From the entropy source rather than generate(): deterministic runs get seeded keys.
    return X25519PrivateKey.from_private_bytes(entropy.token_bytes(32))


def xeddsa_sign(identity: X25519PrivateKey, message: bytes, randomness: bytes) -> bytes:
    """An XEdDSA signature (64 bytes) of ``message`` by the X25519 ``identity`` key;
    ``randomness``: 32 bytes from the entropy source."""
    import xeddsa

    # XEdDSA wants a 64-byte random nonce; SHA-512 of 32 random bytes gives it and keeps a
    # deterministic run drawing exactly the bytes it drew before XEdDSA (then an Ed25519 key).
    nonce = hashlib.sha512(randomness).digest()
    return bytes(xeddsa.ed25519_priv_sign(
        xeddsa.priv_force_sign(raw_private(identity), False), message, nonce))


def xeddsa_verify(identity: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is ``identity``'s (an X25519 public key) XEdDSA signature."""
    import xeddsa

    if len(identity) != 32 or len(signature) != 64:
        return False
    try:
        return bool(xeddsa.ed25519_verify(
            signature, xeddsa.curve25519_pub_to_ed25519_pub(identity, False), message))
    except (xeddsa.XEdDSAException, ValueError, TypeError):
        return False


def signed_prekey_message(spk: bytes) -> bytes:
    """What the identity key signs: the 33-byte serialised signed prekey, as Signal does."""
    return KEY_TYPE_DJB + spk


@dataclass(frozen=True)
class PrekeyBundle:
    """What the key directory hands to someone who wants to start a session with us."""

    identity_dh: bytes
    spk_id: int
    spk: bytes
    spk_signature: bytes
    opk_id: int | None = None
    opk: bytes | None = None

    def verify(self) -> None:
        if not xeddsa_verify(self.identity_dh, signed_prekey_message(self.spk),
                             self.spk_signature):
            raise InvalidBundle("the signed prekey's signature does not verify under its "
                                "identity key")

    def with_one_time(self, opk_id: int, opk: bytes) -> PrekeyBundle:
        return PrekeyBundle(self.identity_dh, self.spk_id, self.spk, self.spk_signature,
                            opk_id, opk)

    def encode(self) -> bytes:
        return json.dumps({key: (value.hex() if isinstance(value, bytes) else value)
                           for key, value in self.__dict__.items()}).encode()

    @classmethod
    def decode(cls, data: bytes) -> PrekeyBundle:
        try:
            raw = json.loads(data)
            if "identity_sign" in raw:
                raise InvalidBundle("a prekey bundle in the old format (signed by a second "
                                    "key, not the identity key)")
            fields = {key: bytes.fromhex(raw[key]) for key in
                      ("identity_dh", "spk", "spk_signature")}
            opk = bytes.fromhex(raw["opk"]) if raw.get("opk") else None
            opk_id = raw.get("opk_id")
            if opk_id is not None and (not isinstance(opk_id, int) or isinstance(opk_id, bool)):
                raise TypeError
            return cls(spk_id=int(raw["spk_id"]), opk_id=opk_id, opk=opk, **fields)
        except (ValueError, KeyError, TypeError, AttributeError) as problem:
            if isinstance(problem, InvalidBundle):
                raise
            raise InvalidBundle("malformed prekey bundle") from None


@dataclass
class IdentityKeys:
    """Our long-term keys and prekeys (kept in the persona's keystore)."""

    dh: X25519PrivateKey
    spk_id: int
    spk: X25519PrivateKey
    spk_created: float
    spk_signature: bytes | None  # None only for keys saved before XEdDSA, until signed again
    opks: dict[int, X25519PrivateKey] = field(default_factory=dict)
    next_id: int = 1
    # Replaced signed prekeys, kept for SIGNED_PREKEY_GRACE: id -> (key, when replaced).
    old_spks: dict[int, tuple[X25519PrivateKey, float]] = field(default_factory=dict)

    @classmethod
    def generate(cls, entropy: Entropy, now: float) -> IdentityKeys:
        dh = x25519_private(entropy)
        # The signature's randomness is drawn where the separate Ed25519 key used to be, so
        # deterministic runs keep their identity and prekeys (and safety numbers).
        randomness = entropy.token_bytes(32)
        keys = cls(dh=dh, spk_id=1, spk=x25519_private(entropy), spk_created=now,
                   spk_signature=None, next_id=2)
        keys.spk_signature = xeddsa_sign(dh, signed_prekey_message(keys.public_spk),
                                         randomness)
        keys.refill(entropy)
        return keys

    @property
    def public_dh(self) -> bytes:
        return raw_public(self.dh.public_key())

    @property
    def public_spk(self) -> bytes:
        return raw_public(self.spk.public_key())

    def sign_prekey(self, entropy: Entropy) -> None:
        """Sign the current signed prekey with the identity key (XEdDSA)."""
        self.spk_signature = xeddsa_sign(self.dh, signed_prekey_message(self.public_spk),
                                         entropy.token_bytes(32))

    def refill(self, entropy: Entropy) -> bool:
        """Top the one-time prekeys up to 100 when fewer than 99 remain; True if it did."""
        if len(self.opks) >= REFILL_BELOW:
            return False
        while len(self.opks) < ONE_TIME_PREKEYS:
            self.opks[self.next_id] = x25519_private(entropy)
            self.next_id += 1
        return True

    def add_one_time(self, entropy: Entropy, count: int) -> list[int]:
        """Make ``count`` new one-time prekeys (new ids); returns their ids."""
        ids = []
        for _ in range(count):
            self.opks[self.next_id] = x25519_private(entropy)
            ids.append(self.next_id)
            self.next_id += 1
        for old in sorted(self.opks)[:max(0, len(self.opks) - MAX_ONE_TIME_KEPT)]:
            del self.opks[old]
        return ids

    def signed_prekey(self, spk_id: int) -> X25519PrivateKey | None:
        """The current signed prekey or a replaced one still in its grace period."""
        if spk_id == self.spk_id:
            return self.spk
        old = self.old_spks.get(spk_id)
        return old[0] if old is not None else None

    def forget_old_prekeys(self, now: float) -> bool:
        """Drop replaced signed prekeys past their grace period; True if any went."""
        expired = [key_id for key_id, (_key, replaced) in self.old_spks.items()
                   if now - replaced >= SIGNED_PREKEY_GRACE]
        for key_id in expired:
            del self.old_spks[key_id]
        return bool(expired)

    def rotate_signed_prekey(self, entropy: Entropy, now: float) -> bool:
        """A new signed prekey once a week (the old one answers for SIGNED_PREKEY_GRACE more);
        True if rotated."""
        if now - self.spk_created < SIGNED_PREKEY_LIFETIME:
            return False
        self.old_spks[self.spk_id] = (self.spk, now)
        self.spk_id, self.spk, self.spk_created = self.next_id, x25519_private(entropy), now
        self.next_id += 1
        self.sign_prekey(entropy)
        return True

    def bundle(self, opk_id: int | None = None) -> PrekeyBundle:
        if self.spk_signature is None:
            raise ValueError("the signed prekey is not signed yet (sign_prekey first)")
        opk = raw_public(self.opks[opk_id].public_key()) if opk_id in self.opks else None
        return PrekeyBundle(self.public_dh, self.spk_id, self.public_spk, self.spk_signature,
                            opk_id if opk is not None else None, opk)

    def to_secrets(self) -> dict[str, object]:
        return {"dh": raw_private(self.dh).hex(), "spk_id": self.spk_id,
                "spk": raw_private(self.spk).hex(), "spk_created": self.spk_created,
                "spk_signature": self.spk_signature.hex() if self.spk_signature else None,
                "next_id": self.next_id,
                "opks": {str(key_id): raw_private(key).hex()
                         for key_id, key in self.opks.items()},
                "old_spks": {str(key_id): [raw_private(key).hex(), replaced]
                             for key_id, (key, replaced) in self.old_spks.items()}}

    @classmethod
    def from_secrets(cls, data: dict[str, object]) -> IdentityKeys:
        """Keys as ``to_secrets`` saved them. Keys saved before XEdDSA had a second, Ed25519
        ``sign`` key: it is ignored, and ``spk_signature`` stays None until ``sign_prekey``."""
        def x(value: object) -> X25519PrivateKey:
            return X25519PrivateKey.from_private_bytes(bytes.fromhex(str(value)))

        opks = data.get("opks", {})
        assert isinstance(opks, dict)
        signature = data.get("spk_signature")
        old = data.get("old_spks") or {}
        assert isinstance(old, dict)
        return cls(dh=x(data["dh"]), spk_id=int(str(data["spk_id"])), spk=x(data["spk"]),
                   spk_created=float(str(data["spk_created"])),
                   spk_signature=bytes.fromhex(str(signature)) if signature else None,
                   opks={int(key_id): x(value) for key_id, value in opks.items()},
                   next_id=int(str(data["next_id"])),
                   old_spks={int(key_id): (x(key), float(replaced))
                             for key_id, (key, replaced) in old.items()})

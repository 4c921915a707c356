"""Identity and prekeys (Signal's design): an X25519 identity key for agreement, an Ed25519 key
that signs the signed prekey, and one-time prekeys; bundles published to the key directory."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from phone_tui.core.entropy import Entropy

SPK_SIGNATURE_CONTEXT = b"phone-tui signed prekey v1"
ONE_TIME_PREKEYS = 100
REFILL_BELOW = 99
SIGNED_PREKEY_LIFETIME = 7 * 24 * 3600.0


class InvalidBundle(ValueError):
    """A prekey bundle that is malformed or whose signed prekey's signature does not verify."""


def raw_public(key: X25519PublicKey | Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def x25519_private(entropy: Entropy) -> X25519PrivateKey:
    # From the entropy source rather than generate(): deterministic runs get seeded keys.
    return X25519PrivateKey.from_private_bytes(entropy.token_bytes(32))


@dataclass(frozen=True)
class PrekeyBundle:
    """What the key directory hands to someone who wants to start a session with us."""

    identity_dh: bytes
    identity_sign: bytes
    spk_id: int
    spk: bytes
    spk_signature: bytes
    opk_id: int | None = None
    opk: bytes | None = None

    def verify(self) -> None:
        try:
            Ed25519PublicKey.from_public_bytes(self.identity_sign).verify(
                self.spk_signature, SPK_SIGNATURE_CONTEXT + self.identity_dh + self.spk)
        except (InvalidSignature, ValueError):
            raise InvalidBundle("the signed prekey's signature does not verify") from None

    def encode(self) -> bytes:
        return json.dumps({key: (value.hex() if isinstance(value, bytes) else value)
                           for key, value in self.__dict__.items()}).encode()

    @classmethod
    def decode(cls, data: bytes) -> PrekeyBundle:
        try:
            raw = json.loads(data)
            fields = {key: bytes.fromhex(raw[key]) for key in
                      ("identity_dh", "identity_sign", "spk", "spk_signature")}
            opk = bytes.fromhex(raw["opk"]) if raw.get("opk") else None
            return cls(spk_id=int(raw["spk_id"]), opk_id=raw.get("opk_id"), opk=opk, **fields)
        except (ValueError, KeyError, TypeError):
            raise InvalidBundle("malformed prekey bundle") from None


@dataclass
class IdentityKeys:
    """Our long-term keys and prekeys (kept in the persona's keystore)."""

    dh: X25519PrivateKey
    sign: Ed25519PrivateKey
    spk_id: int
    spk: X25519PrivateKey
    spk_created: float
    opks: dict[int, X25519PrivateKey] = field(default_factory=dict)
    next_id: int = 1

    @classmethod
    def generate(cls, entropy: Entropy, now: float) -> IdentityKeys:
        keys = cls(dh=x25519_private(entropy),
                   sign=Ed25519PrivateKey.from_private_bytes(entropy.token_bytes(32)),
                   spk_id=1, spk=x25519_private(entropy), spk_created=now, next_id=2)
        keys.refill(entropy)
        return keys

    @property
    def public_dh(self) -> bytes:
        return raw_public(self.dh.public_key())

    @property
    def public_sign(self) -> bytes:
        return raw_public(self.sign.public_key())

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
        return ids

    def rotate_signed_prekey(self, entropy: Entropy, now: float) -> bool:
        """A new signed prekey once a week (the old one is forgotten); True if rotated."""
        if now - self.spk_created < SIGNED_PREKEY_LIFETIME:
            return False
        self.spk_id, self.spk, self.spk_created = self.next_id, x25519_private(entropy), now
        self.next_id += 1
        return True

    def bundle(self, opk_id: int | None = None) -> PrekeyBundle:
        spk = raw_public(self.spk.public_key())
        signature = self.sign.sign(SPK_SIGNATURE_CONTEXT + self.public_dh + spk)
        opk = raw_public(self.opks[opk_id].public_key()) if opk_id in self.opks else None
        return PrekeyBundle(self.public_dh, self.public_sign, self.spk_id, spk, signature,
                            opk_id if opk is not None else None, opk)

    def to_secrets(self) -> dict[str, object]:
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        def raw(key: X25519PrivateKey | Ed25519PrivateKey) -> str:
            return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()).hex()

        return {"dh": raw(self.dh), "sign": raw(self.sign), "spk_id": self.spk_id,
                "spk": raw(self.spk), "spk_created": self.spk_created, "next_id": self.next_id,
                "opks": {str(key_id): raw(key) for key_id, key in self.opks.items()}}

    @classmethod
    def from_secrets(cls, data: dict[str, object]) -> IdentityKeys:
        def x(value: object) -> X25519PrivateKey:
            return X25519PrivateKey.from_private_bytes(bytes.fromhex(str(value)))

        opks = data.get("opks", {})
        assert isinstance(opks, dict)
        return cls(dh=x(data["dh"]),
                   sign=Ed25519PrivateKey.from_private_bytes(bytes.fromhex(str(data["sign"]))),
                   spk_id=int(str(data["spk_id"])), spk=x(data["spk"]),
                   spk_created=float(str(data["spk_created"])),
                   opks={int(key_id): x(value) for key_id, value in opks.items()},
                   next_id=int(str(data["next_id"])))

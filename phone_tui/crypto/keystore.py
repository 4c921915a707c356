"""The persona keystore: a PIN-protected file holding the persona's secrets.

Layout (big-endian), every byte covered by the trailing SHA-256 and, from the header on, by
AES-256-GCM authentication::

    header   magic "PTKS" | version u8 | kdf u8 | memory KiB u32 | iterations u32 | lanes u32
             | salt 16 | duress tag 32
    wrap     nonce 12 | AES-GCM(KEK, DEK 32 bytes, aad=header)          (60 bytes)
    payload  nonce 12 | AES-GCM(DEK, JSON secrets, aad=header + wrap)
    trailer  SHA-256 of everything before it

Argon2id(PIN, salt) gives 64 bytes: the first 32 are the key-encryption key (KEK), the last 32
are compared, in constant time, with the duress tag. So one Argon2id run per attempt both tries
the PIN and recognises the duress PIN. Without a duress PIN the tag is random bytes, so a file
does not reveal whether one is set. The trailer tells damage apart from a wrong PIN; the AEAD
catches deliberate changes, including a header rewritten with weaker KDF parameters.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from phone_tui.core.atomic import atomic_write, remove_stale_temps
from phone_tui.core.entropy import Entropy
from phone_tui.errors import (
    KeystoreCorrupt,
    KeystoreDowngrade,
    KeystoreError,
    KeystoreVersionError,
)

MAGIC = b"PTKS"
FORMAT_VERSION = 1
KDF_ARGON2ID = 1
_HEADER = struct.Struct(">4sBBIII16s32s")
HEADER_SIZE = _HEADER.size
NONCE_SIZE = 12
WRAP_SIZE = NONCE_SIZE + 32 + 16
TRAILER_SIZE = 32
MIN_SIZE = HEADER_SIZE + WRAP_SIZE + NONCE_SIZE + 16 + TRAILER_SIZE


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost parameters."""

    memory_kib: int
    iterations: int
    lanes: int

    def at_least(self, other: KdfParams) -> bool:
        return (self.memory_kib >= other.memory_kib and self.iterations >= other.iterations
                and self.lanes >= other.lanes)

    def describe(self) -> str:
        memory = (f"{self.memory_kib // 1024} MiB" if self.memory_kib >= 1024
                  else f"{self.memory_kib} KiB")
        return f"Argon2id m={memory}, t={self.iterations}, p={self.lanes}"


# RFC 9106 section 4, second recommended option: 64 MiB, 3 passes, 4 lanes.
RFC9106_LOW_MEMORY = KdfParams(memory_kib=64 * 1024, iterations=3, lanes=4)
DEFAULT_PARAMS = RFC9106_LOW_MEMORY


# Past these a header is not a real keystore's: refuse rather than try to allocate it.
PLAUSIBLE_MAXIMUM = KdfParams(memory_kib=4 * 1024 * 1024, iterations=64, lanes=64)


@dataclass(frozen=True)
class KdfPolicy:
    """The weakest parameters a keystore header may ask for before it counts as a downgrade."""

    minimum: KdfParams = RFC9106_LOW_MEMORY


DEFAULT_POLICY = KdfPolicy()


@dataclass(frozen=True)
class Header:
    version: int
    params: KdfParams
    salt: bytes
    duress_tag: bytes

    def pack(self) -> bytes:
        return _HEADER.pack(MAGIC, self.version, KDF_ARGON2ID, self.params.memory_kib,
                            self.params.iterations, self.params.lanes, self.salt, self.duress_tag)


class UnlockOutcome(Enum):
    UNLOCKED = "unlocked"
    WRONG_PIN = "wrong_pin"
    DURESS = "duress"


def derive(pin: str, salt: bytes, params: KdfParams) -> bytes:
    """Argon2id(PIN) → 64 bytes: KEK then duress-comparison tag."""
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

    return Argon2id(salt=salt, length=64, iterations=params.iterations, lanes=params.lanes,
                    memory_cost=params.memory_kib).derive(pin.encode("utf-8"))


def _aead(key: bytes):  # noqa: ANN202 - the AESGCM type is imported lazily
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


@dataclass
class _Parsed:
    header: Header
    header_bytes: bytes
    wrap: bytes
    payload: bytes


def _parse(path: Path, blob: bytes, policy: KdfPolicy) -> _Parsed:
    if len(blob) < HEADER_SIZE or blob[:4] != MAGIC:
        if blob[:4] == MAGIC or len(blob) < 4:
            raise KeystoreCorrupt(path, "the keystore is truncated; it was left untouched")
        raise KeystoreCorrupt(path, "not a phone-tui keystore (bad magic bytes); "
                                    "it was left untouched")
    _, version, kdf, memory, iterations, lanes, salt, duress = _HEADER.unpack_from(blob)
    if version != FORMAT_VERSION:
        raise KeystoreVersionError(
            path, f"keystore format version {version} is not supported (this phone-tui reads "
                  f"version {FORMAT_VERSION}); upgrade phone-tui. The file was left untouched")
    if len(blob) < MIN_SIZE:
        raise KeystoreCorrupt(path, "the keystore is truncated; it was left untouched")
    body, trailer = blob[:-TRAILER_SIZE], blob[-TRAILER_SIZE:]
    if not hmac.compare_digest(hashlib.sha256(body).digest(), trailer):
        raise KeystoreCorrupt(path, "the keystore is damaged (checksum mismatch); "
                                    "it was left untouched")
    if kdf != KDF_ARGON2ID:
        raise KeystoreCorrupt(path, f"unknown key-derivation function id {kdf}")
    params = KdfParams(memory_kib=memory, iterations=iterations, lanes=lanes)
    if not PLAUSIBLE_MAXIMUM.at_least(params) or params.iterations < 1 or params.lanes < 1 \
            or params.memory_kib < 8 * params.lanes:
        raise KeystoreCorrupt(path, f"the header asks for {params.describe()}, outside what "
                                    "any real keystore uses; it was left untouched")
    if not params.at_least(policy.minimum):
        raise KeystoreDowngrade(
            path, f"the header asks for {params.describe()}, weaker than the minimum "
                  f"{policy.minimum.describe()}: refusing a possible downgrade; "
                  "the file was left untouched")
    header = Header(version=version, params=params, salt=salt, duress_tag=duress)
    return _Parsed(header=header, header_bytes=blob[:HEADER_SIZE],
                   wrap=blob[HEADER_SIZE:HEADER_SIZE + WRAP_SIZE],
                   payload=body[HEADER_SIZE + WRAP_SIZE:])


def read_header(path: Path, policy: KdfPolicy = DEFAULT_POLICY) -> Header:
    """Check the file's framing and checksum without a PIN (cheap: no KDF)."""
    return _parse(path, _read(path), policy).header


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise KeystoreError(path, "no keystore here; set up this persona first") from None
    except OSError as exc:
        raise KeystoreError(path, f"cannot read the keystore: {exc.strerror}") from None


class Keystore:
    """An unlocked keystore: the data-encryption key and the secrets it protects, in memory."""

    def __init__(self, path: Path, header: Header, kek: bytes, dek: bytes,
                 secrets: dict[str, Any], entropy: Entropy) -> None:
        self.path = path
        self.header = header
        self._kek = bytearray(kek)
        self._dek = bytearray(dek)
        self._secrets = dict(secrets)
        self._entropy = entropy

    # ---- creation and unlocking -------------------------------------------------------------

    @classmethod
    def create(cls, path: Path, pin: str, *, entropy: Entropy,
               secrets: dict[str, Any] | None = None, duress_pin: str | None = None,
               params: KdfParams = DEFAULT_PARAMS) -> Keystore:
        """Write a new keystore at ``path`` and return it unlocked."""
        salt = entropy.token_bytes(16)
        kek = derive(pin, salt, params)[:32]
        duress = derive(duress_pin, salt, params)[32:] if duress_pin else entropy.token_bytes(32)
        header = Header(FORMAT_VERSION, params, salt, duress)
        store = cls(path, header, kek, entropy.token_bytes(32), secrets or {}, entropy)
        store._write()
        return store

    @classmethod
    def unlock(cls, path: Path, pin: str, *, entropy: Entropy,
               policy: KdfPolicy = DEFAULT_POLICY) -> tuple[UnlockOutcome, Keystore | None]:
        """Try ``pin``. Damage, downgrade and unknown versions raise; a wrong PIN does not."""
        from cryptography.exceptions import InvalidTag

        blob = _read(path)
        parsed = _parse(path, blob, policy)
        derived = derive(pin, parsed.header.salt, parsed.header.params)
        kek, tag = derived[:32], derived[32:]
        try:
            dek = _aead(kek).decrypt(parsed.wrap[:NONCE_SIZE], parsed.wrap[NONCE_SIZE:],
                                     parsed.header_bytes)
        except InvalidTag:
            if hmac.compare_digest(tag, parsed.header.duress_tag):
                return UnlockOutcome.DURESS, None
            return UnlockOutcome.WRONG_PIN, None
        try:
            plain = _aead(dek).decrypt(parsed.payload[:NONCE_SIZE], parsed.payload[NONCE_SIZE:],
                                       parsed.header_bytes + parsed.wrap)
            secrets = json.loads(plain)
        except (InvalidTag, ValueError):
            raise KeystoreCorrupt(path, "the keystore's contents fail authentication although "
                                        "the PIN is right; it was left untouched") from None
        remove_stale_temps(path.parent, path.name)
        return UnlockOutcome.UNLOCKED, cls(path, parsed.header, kek, dek, secrets, entropy)

    # ---- use ---------------------------------------------------------------------------------

    @property
    def secrets(self) -> dict[str, Any]:
        return dict(self._secrets)

    def secret(self, name: str) -> Any:
        return self._secrets[name]

    def update(self, **secrets: Any) -> None:
        """Add or replace secrets and save (durably) before returning."""
        self._require_open()
        self._secrets.update(secrets)
        self._write()

    def forget(self, *names: str) -> None:
        """Remove secrets and save (durably) before returning."""
        self._require_open()
        for name in names:
            self._secrets.pop(name, None)
        self._write()

    def derive_pin(self, pin: str) -> bytes:
        """Argon2id of ``pin`` with this keystore's salt and parameters: the slow half of a PIN
        change, safe to run in a worker thread (it reads only the header). The write that
        follows stays on the caller's thread, so two writers never race on the file."""
        self._require_open()
        return derive(pin, self.header.salt, self.header.params)

    def change_pin(self, new_pin: str, *, keep_duress: bool = True,
                   secrets: dict[str, Any] | None = None, derived: bytes | None = None) -> None:
        """Re-wrap the data-encryption key under a new PIN; ``secrets`` are added or replaced
        in the same durable write (so a new PIN and a new store key land together).
        ``derived``: ``derive_pin(new_pin)``, computed beforehand."""
        self._require_open()
        if derived is None:
            derived = derive(new_pin, self.header.salt, self.header.params)
        if hmac.compare_digest(derived[32:], self.header.duress_tag):
            from phone_tui.errors import PinPolicyError

            raise PinPolicyError("The new PIN must differ from the duress PIN.")
        self._kek = bytearray(derived[:32])
        if secrets:
            self._secrets.update(secrets)
        if not keep_duress:
            self.header = Header(self.header.version, self.header.params, self.header.salt,
                                 self._entropy.token_bytes(32))
        self._write()

    def set_duress_pin(self, duress_pin: str | None, *, derived: bytes | None = None) -> None:
        """Set, replace or (with None) clear the duress PIN (``derived``: its
        ``derive_pin``, computed beforehand)."""
        self._require_open()
        if duress_pin and derived is None:
            derived = derive(duress_pin, self.header.salt, self.header.params)
        tag = derived[32:] if duress_pin and derived is not None else \
            self._entropy.token_bytes(32)
        self.header = Header(self.header.version, self.header.params, self.header.salt, tag)
        self._write()

    def close(self) -> None:
        """Forget the keys (best effort in Python: overwrite our own buffers)."""
        for buffer in (self._kek, self._dek):
            for i in range(len(buffer)):
                buffer[i] = 0
        self._kek = bytearray()
        self._dek = bytearray()
        self._secrets = {}

    @property
    def closed(self) -> bool:
        return not self._dek

    def _require_open(self) -> None:
        if self.closed:
            raise KeystoreError(self.path, "the keystore is locked")

    def _write(self) -> None:
        header_bytes = self.header.pack()
        wrap_nonce = self._entropy.token_bytes(NONCE_SIZE)
        wrap = wrap_nonce + _aead(bytes(self._kek)).encrypt(wrap_nonce, bytes(self._dek),
                                                             header_bytes)
        payload_nonce = self._entropy.token_bytes(NONCE_SIZE)
        plain = json.dumps(self._secrets, sort_keys=True).encode()
        payload = payload_nonce + _aead(bytes(self._dek)).encrypt(payload_nonce, plain,
                                                                  header_bytes + wrap)
        body = header_bytes + wrap + payload
        atomic_write(self.path, body + hashlib.sha256(body).digest(), mode=0o600)

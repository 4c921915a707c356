"""The Double Ratchet (Signal's spec) with libsignal's KDF choices, sans-IO.

- Root chain: KDF_RK(rk, dh) = HKDF-SHA256(salt=rk, ikm=dh, info="WhisperRatchet") → rk', ck.
- Symmetric chains: message key = HMAC-SHA256(ck, 0x01), next ck = HMAC-SHA256(ck, 0x02).
- Message keys: HKDF-SHA256(mk, info="WhisperMessageKeys") → AES-256-GCM key and nonce.
- AEAD associated data: AD (both identities, from X3DH) ‖ header.
- Plaintext padded to 160-byte buckets (0x80 then zeros) so length leaks only the bucket.
- Skipped message keys: a frame may make the receiver derive at most MAX_SKIP of them (the
  rest of its old chain plus the new one's, counted together), at most 2 000 are kept. The
  limit bounds one forged frame's work on the event loop (benchmarks/frame_work.py).
- Decryption works on a copy of the state and commits only when the AEAD verifies, so a
  tampered message leaves the session exactly as it was; a replay is a distinct error.
"""

from __future__ import annotations

import hmac
import struct
from collections import OrderedDict
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from phone_tui.core.entropy import Entropy

MAX_SKIP = 1_000  # Signal-derived projects use 1000–2000; see the module docstring
MAX_STORED_KEYS = 2_000
MAX_OLD_CHAINS = 64
PAD_BUCKET = 160
_HEADER = struct.Struct(">32sII")
HEADER_SIZE = _HEADER.size


class RatchetError(Exception):
    """A message this session cannot accept; the session itself is unchanged."""


class DecryptError(RatchetError):
    """Garbled, truncated or tampered: authentication failed."""


class DuplicateMessage(RatchetError):
    """This message was already received (a replay)."""


class TooManySkipped(RatchetError):
    """The message claims a jump past more message keys than a session will skip."""


@dataclass(frozen=True)
class Header:
    dh: bytes
    pn: int  # messages in the previous sending chain
    n: int  # number of this message in its chain

    def encode(self) -> bytes:
        return _HEADER.pack(self.dh, self.pn, self.n)

    @classmethod
    def decode(cls, data: bytes) -> Header:
        if len(data) != HEADER_SIZE:
            raise DecryptError("truncated message header")
        return cls(*_HEADER.unpack(data))


def _pub(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def kdf_rk(rk: bytes, dh_out: bytes) -> tuple[bytes, bytes]:
    out = HKDF(hashes.SHA256(), 64, salt=rk, info=b"WhisperRatchet").derive(dh_out)
    return out[:32], out[32:]


def kdf_ck(ck: bytes) -> tuple[bytes, bytes]:
    """(next chain key, message key)."""
    return hmac.digest(ck, b"\x02", "sha256"), hmac.digest(ck, b"\x01", "sha256")


def message_keys(mk: bytes) -> tuple[bytes, bytes]:
    out = HKDF(hashes.SHA256(), 44, salt=b"\x00" * 32, info=b"WhisperMessageKeys").derive(mk)
    return out[:32], out[32:]


def _check_skip(count: int, limit: int) -> None:
    if count > limit:
        raise TooManySkipped(f"refusing to skip {count} message keys (limit {limit})")


def pad(plaintext: bytes) -> bytes:
    padded = plaintext + b"\x80"
    return padded + b"\x00" * (-len(padded) % PAD_BUCKET)


def unpad(padded: bytes) -> bytes:
    stripped = padded.rstrip(b"\x00")
    if not stripped.endswith(b"\x80"):
        raise DecryptError("bad padding")
    return stripped[:-1]


@dataclass
class Ratchet:
    """One session's state. Keep it encrypted at rest (``to_bytes`` / ``from_bytes``, compact;
    ``to_dict`` / ``from_dict``, the JSON form older stores hold)."""

    ad: bytes
    dhs: X25519PrivateKey
    dhr: bytes | None
    rk: bytes
    cks: bytes | None = None
    ckr: bytes | None = None
    ns: int = 0
    nr: int = 0
    pn: int = 0
    skipped: OrderedDict[tuple[bytes, int], bytes] = field(default_factory=OrderedDict)
    old_chains: OrderedDict[bytes, None] = field(default_factory=OrderedDict)

    # ---- starting a session ------------------------------------------------------------------

    @classmethod
    def initiator(cls, sk: bytes, ad: bytes, their_spk: bytes, entropy: Entropy) -> Ratchet:
        dhs = X25519PrivateKey.from_private_bytes(entropy.token_bytes(32))
        rk, cks = kdf_rk(sk, dhs.exchange(X25519PublicKey.from_public_bytes(their_spk)))
        return cls(ad=ad, dhs=dhs, dhr=their_spk, rk=rk, cks=cks)

    @classmethod
    def responder(cls, sk: bytes, ad: bytes, our_spk: X25519PrivateKey) -> Ratchet:
        return cls(ad=ad, dhs=our_spk, dhr=None, rk=sk)

    # ---- sending -----------------------------------------------------------------------------

    def encrypt(self, plaintext: bytes) -> tuple[bytes, bytes]:
        """(header, ciphertext) for the next message."""
        if self.cks is None:
            raise RatchetError("this side cannot send before it has received a message")
        self.cks, mk = kdf_ck(self.cks)
        header = _HEADER.pack(self.dhs_pub, self.pn, self.ns)
        self.ns += 1
        key, nonce = message_keys(mk)
        return header, AESGCM(key).encrypt(nonce, pad(plaintext), self.ad + header)

    # ---- receiving ---------------------------------------------------------------------------

    def decrypt(self, header_bytes: bytes, ciphertext: bytes, entropy: Entropy, *,
                max_skip: int = MAX_SKIP) -> bytes:
        """The plaintext; on any error the state is left exactly as it was. ``max_skip``: the
        most message keys this attempt may derive for messages not received (refused first,
        before any work, when the header claims more)."""
        header = Header.decode(header_bytes)
        trial = self._copy()
        plaintext = trial._decrypt(header, header_bytes, ciphertext, entropy, max_skip)
        self.__dict__.update(trial.__dict__)
        return plaintext

    def owns(self, ratchet_key: bytes) -> bool:
        """Whether a header's ratchet key belongs to this session: its current receiving
        chain, an old one, or a chain it holds skipped keys for."""
        return (ratchet_key == self.dhr or ratchet_key in self.old_chains
                or any(dh == ratchet_key for dh, _n in self.skipped))

    def copy(self) -> Ratchet:
        """An independent copy of the state (a snapshot to go back to)."""
        return self._copy()

    def _copy(self) -> Ratchet:
        clone = Ratchet.__new__(Ratchet)
        clone.__dict__.update(self.__dict__)
        clone.skipped = OrderedDict(self.skipped)
        clone.old_chains = OrderedDict(self.old_chains)
        return clone

    @property
    def dhs_pub(self) -> bytes:
        """Our current ratchet public key (derived once per ratchet step)."""
        cached = self.__dict__.get("_dhs_pub")
        if cached is None or cached[0] is not self.dhs:
            cached = (self.dhs, _pub(self.dhs))
            self.__dict__["_dhs_pub"] = cached
        return cached[1]

    def _decrypt(self, header: Header, header_bytes: bytes, ciphertext: bytes,
                 entropy: Entropy, max_skip: int) -> bytes:
        mk = self.skipped.pop((header.dh, header.n), None)
        their: X25519PublicKey | None = None  # the peer's new ratchet key (a DH ratchet step)
        if mk is None:
            if header.dh == self.dhr:
                if header.n < self.nr:
                    raise DuplicateMessage("this message was already received")
                _check_skip(header.n - self.nr, max_skip)
            elif header.dh in self.old_chains:
                raise DuplicateMessage("this message was already received")
            else:
                rest_of_old = max(0, header.pn - self.nr) if self.ckr is not None else 0
                _check_skip(rest_of_old + header.n, max_skip)
                self._skip_to(header.pn)
                their = self._dh_ratchet(header)
            self._skip_to(header.n)
            if self.ckr is None:  # a forged header naming the peer's signed prekey
                raise DecryptError("no receiving chain for this ratchet key")
            self.ckr, mk = kdf_ck(self.ckr)
            self.nr += 1
        key, nonce = message_keys(mk)
        try:
            padded = AESGCM(key).decrypt(nonce, ciphertext, self.ad + header_bytes)
        except InvalidTag:
            raise DecryptError("authentication failed: garbled or tampered message") from None
        plaintext = unpad(padded)
        if their is not None:
            # The sending half of the step only once the message is authentic: a frame tried
            # in the wrong session (after both sides started one at once) or forged costs one
            # X25519 exchange, not two and a key generation.
            self._send_step(their, entropy)
        return plaintext

    def _skip_to(self, until: int) -> None:
        if self.ckr is None:
            return
        while self.nr < until:
            self.ckr, mk = kdf_ck(self.ckr)
            self.skipped[(self.dhr or b"", self.nr)] = mk
            self.nr += 1
            if len(self.skipped) > MAX_STORED_KEYS:
                self.skipped.popitem(last=False)

    def _dh_ratchet(self, header: Header) -> X25519PublicKey:
        """The receiving half of a DH ratchet step: the peer's new chain."""
        try:
            their = X25519PublicKey.from_public_bytes(header.dh)
        except ValueError:
            raise DecryptError("malformed ratchet key") from None
        if self.dhr is not None:
            self.old_chains[self.dhr] = None
            while len(self.old_chains) > MAX_OLD_CHAINS:
                self.old_chains.popitem(last=False)
        self.pn, self.ns, self.nr = self.ns, 0, 0
        self.dhr = header.dh
        try:
            self.rk, self.ckr = kdf_rk(self.rk, self.dhs.exchange(their))
        except ValueError:  # a low-order point: the shared secret would be all zeros
            raise DecryptError("low-order ratchet key") from None
        return their

    def _send_step(self, their: X25519PublicKey, entropy: Entropy) -> None:
        """The sending half: a new ratchet key of ours and the chain it starts."""
        self.dhs = X25519PrivateKey.from_private_bytes(entropy.token_bytes(32))
        try:
            self.rk, self.cks = kdf_rk(self.rk, self.dhs.exchange(their))
        except ValueError:  # cannot happen once the receiving half accepted the key
            raise DecryptError("low-order ratchet key") from None

    # ---- persistence -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, object]:
        def hx(value: bytes | None) -> str | None:
            return None if value is None else value.hex()

        return {
            "ad": self.ad.hex(),
            "dhs": self.dhs.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()).hex(),
            "dhr": hx(self.dhr), "rk": self.rk.hex(), "cks": hx(self.cks), "ckr": hx(self.ckr),
            "ns": self.ns, "nr": self.nr, "pn": self.pn,
            "skipped": [[dh.hex(), n, mk.hex()] for (dh, n), mk in self.skipped.items()],
            "old_chains": [dh.hex() for dh in self.old_chains],
        }

    def to_bytes(self) -> bytes:
        """The state in a compact binary form (a version byte, then length-prefixed fields):
        a third of the JSON form's size and several times faster to write."""
        out = bytearray(b"\x01")
        for value in (self.ad, self.dhs.private_bytes(Encoding.Raw, PrivateFormat.Raw,
                                                      NoEncryption()),
                      self.dhr, self.rk, self.cks, self.ckr):
            _put(out, value)
        out += _COUNTS.pack(self.ns, self.nr, self.pn, len(self.skipped), len(self.old_chains))
        for (dh, n), mk in self.skipped.items():
            _put(out, dh)
            out += _INDEX.pack(n)
            _put(out, mk)
        # The old chains' ratchet keys (all 32 bytes) in one field, without a length each.
        chains = b"".join(self.old_chains)
        if len(chains) != 32 * len(self.old_chains):
            raise ValueError("an old chain's ratchet key is not 32 bytes")
        _put(out, chains)
        return bytes(out)

    @classmethod
    def from_bytes(cls, data: bytes) -> Ratchet:
        """The state ``to_bytes`` wrote; ValueError if it is not one."""
        reader = _Reader(data)
        if reader.take(1) != b"\x01":
            raise ValueError("not a ratchet state (unknown format)")
        ad, dhs, dhr, rk, cks, ckr = (reader.value() for _ in range(6))
        ns, nr, pn, skipped_count, old_count = reader.unpack(_COUNTS)
        skipped: OrderedDict[tuple[bytes, int], bytes] = OrderedDict()
        for _ in range(skipped_count):
            dh = reader.value()
            (n,) = reader.unpack(_INDEX)
            skipped[(dh or b"", n)] = reader.value() or b""
        chains = reader.value() or b""
        if len(chains) != 32 * old_count:
            raise ValueError("not a ratchet state (its old chains do not add up)")
        old = OrderedDict((chains[at:at + 32], None) for at in range(0, len(chains), 32))
        reader.end()
        if ad is None or dhs is None or rk is None:
            raise ValueError("not a ratchet state (a key is missing)")
        return cls(ad=ad, dhs=X25519PrivateKey.from_private_bytes(dhs), dhr=dhr, rk=rk,
                   cks=cks, ckr=ckr, ns=ns, nr=nr, pn=pn, skipped=skipped, old_chains=old)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Ratchet:
        def bx(value: object) -> bytes | None:
            return None if value is None else bytes.fromhex(str(value))

        skipped = OrderedDict(((bytes.fromhex(dh), int(n)), bytes.fromhex(mk))
                              for dh, n, mk in data["skipped"])  # type: ignore[union-attr]
        old = OrderedDict((bytes.fromhex(dh), None)
                          for dh in data["old_chains"])  # type: ignore[union-attr]
        return cls(ad=bytes.fromhex(str(data["ad"])),
                   dhs=X25519PrivateKey.from_private_bytes(bytes.fromhex(str(data["dhs"]))),
                   dhr=bx(data["dhr"]), rk=bytes.fromhex(str(data["rk"])), cks=bx(data["cks"]),
                   ckr=bx(data["ckr"]), ns=int(str(data["ns"])), nr=int(str(data["nr"])),
                   pn=int(str(data["pn"])), skipped=skipped, old_chains=old)


_NONE = 0xFFFF  # the length that says "no value"
_LENGTH = struct.Struct(">H")
_INDEX = struct.Struct(">Q")
_COUNTS = struct.Struct(">QQQII")


def _put(out: bytearray, value: bytes | None) -> None:
    """A field: its length (2 bytes; _NONE for None), then its bytes."""
    if value is None:
        out += _LENGTH.pack(_NONE)
    else:
        out += _LENGTH.pack(len(value))
        out += value


class _Reader:
    """Reads fields written by ``_put`` and fixed structs; ValueError past the end."""

    def __init__(self, data: bytes) -> None:
        self._data, self._at = data, 0

    def take(self, size: int) -> bytes:
        end = self._at + size
        if end > len(self._data):
            raise ValueError("truncated state")
        chunk, self._at = self._data[self._at:end], end
        return chunk

    def unpack(self, shape: struct.Struct) -> tuple[int, ...]:
        return shape.unpack(self.take(shape.size))

    def value(self) -> bytes | None:
        (size,) = self.unpack(_LENGTH)
        return None if size == _NONE else self.take(size)

    def end(self) -> None:
        if self._at != len(self._data):
            raise ValueError("trailing bytes after the state")

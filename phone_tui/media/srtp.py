"""Sealing of media frames, after SRTP with AES-256-GCM (RFC 3711, RFC 7714). Sans-IO.

Packet:  flags u8 | payload type u8 | seq u16 | timestamp u32 | ssrc u32 | ciphertext | tag 16
The 12-byte header is the associated data; the nonce is the 12-byte salt XOR
(0x0000 | ssrc | roc | seq) (RFC 7714, 8.1), where roc counts the wraps of the 16-bit seq: the
sender numbers its frames with a 48-bit index (roc << 16 | seq), the receiver estimates roc as
RFC 3711 Appendix A does. Replays and frames older than a 64-frame window are refused (RFC
3711, 3.3.2); the window moves only once a frame's tag verified, so a forged frame cannot move
it. Errors say why a frame was refused, never what it held.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HEADER = struct.Struct(">BBHII")
HEADER_BYTES = HEADER.size  # 12
TAG_BYTES = 16
KEY_BYTES = 32
SALT_BYTES = 12
VERSION = 0x80  # RTP's version 2 in the top two bits of the flags byte
MARKER = 0x01  # the first frame of a talk spurt (and the first after a hold)
WINDOW = 64
MAX_INDEX = (1 << 48) - 1
MAX_PACKET = 1500  # one packet never needs more; longer ones are refused before any work
PT_AUDIO = 96
PT_REPORT = 200  # RTCP's sender-report number: a report inside the sealed stream
# Words spoken, as text: the emulator's stand-in for hearing a person read the SAS aloud (a bot
# "says" its words). Sealed like the voice, so whoever relays the voice relays these too.
PT_CAPTION = 202


class MediaFrameError(ValueError):
    """A media packet refused: the reason only, never its content."""


@dataclass(frozen=True, slots=True)
class MediaFrame:
    """One opened frame. ``seq`` is the extended 48-bit index (roc << 16 | seq)."""

    seq: int
    timestamp: int
    payload: bytes
    marker: bool = False
    payload_type: int = PT_AUDIO


def _check(key: bytes, salt: bytes, ssrc: int) -> None:
    if len(key) != KEY_BYTES:
        raise ValueError(f"a media key is {KEY_BYTES} bytes")
    if len(salt) != SALT_BYTES:
        raise ValueError(f"a media salt is {SALT_BYTES} bytes")
    if not 0 <= ssrc <= 0xFFFFFFFF:
        raise ValueError("an SSRC is a 32-bit number")


class FrameSealer:
    """One direction's sending side: seals frames numbered with an increasing index."""

    def __init__(self, key: bytes, salt: bytes, ssrc: int) -> None:
        _check(key, salt, ssrc)
        self._aead = AESGCM(key)
        self._salt = int.from_bytes(salt, "big")
        self.ssrc = ssrc
        self._ssrc_bits = ssrc << 48
        self._last = -1

    def seal(self, seq: int, timestamp: int, payload: bytes, *, marker: bool = False,
             payload_type: int = PT_AUDIO) -> bytes:
        """The packet for frame ``seq`` (the 48-bit index; each used once, increasing: a nonce
        must never repeat under a key)."""
        if not self._last < seq <= MAX_INDEX:
            raise ValueError("media frame index not increasing (a nonce would repeat)")
        self._last = seq
        header = HEADER.pack(VERSION | (MARKER if marker else 0), payload_type, seq & 0xFFFF,
                             timestamp & 0xFFFFFFFF, self.ssrc)
        nonce = (self._salt ^ self._ssrc_bits ^ seq).to_bytes(12, "big")
        return header + self._aead.encrypt(nonce, payload, header)


class FrameOpener:
    """One direction's receiving side: opens packets of one SSRC, refusing replays."""

    def __init__(self, key: bytes, salt: bytes, ssrc: int) -> None:
        _check(key, salt, ssrc)
        self._aead = AESGCM(key)
        self._salt = int.from_bytes(salt, "big")
        self.ssrc = ssrc
        self._ssrc_bits = ssrc << 48
        self._highest = -1  # the highest index verified
        self._window = 0  # bit i: index highest - i was received

    def open(self, packet: bytes) -> MediaFrame:
        """The frame a packet holds; MediaFrameError if it is malformed, forged, replayed or
        too old."""
        if len(packet) < HEADER_BYTES + TAG_BYTES:
            raise MediaFrameError("short media packet")
        if len(packet) > MAX_PACKET:
            raise MediaFrameError("media packet too long")
        flags, payload_type, seq, timestamp, ssrc = HEADER.unpack_from(packet)
        if flags & 0xC0 != VERSION or flags & 0x3E:
            raise MediaFrameError("unknown media packet version or flags")
        if ssrc != self.ssrc:
            raise MediaFrameError("media packet for another stream (SSRC)")
        index, delta = self._check_index(seq)
        nonce = (self._salt ^ self._ssrc_bits ^ index).to_bytes(12, "big")
        header = packet[:HEADER_BYTES]
        try:
            payload = self._aead.decrypt(nonce, packet[HEADER_BYTES:], header)
        except InvalidTag:
            raise MediaFrameError("media packet failed authentication") from None
        self._accept(index, delta)
        return MediaFrame(index, timestamp, payload, bool(flags & MARKER), payload_type)

    def _check_index(self, seq: int) -> tuple[int, int]:
        """The frame's index and its distance below the highest; refuses old and replayed."""
        index = self._estimate(seq)
        if index < 0:
            raise MediaFrameError("media packet too old")
        delta = self._highest - index
        if delta >= WINDOW:
            raise MediaFrameError("media packet too old")
        if delta >= 0 and self._window >> delta & 1:
            raise MediaFrameError("media packet replayed")
        return index, delta

    def _accept(self, index: int, delta: int) -> None:
        if delta < 0:  # a new highest: the window slides
            shift = -delta
            self._window = ((self._window << shift) | 1) & ((1 << WINDOW) - 1) \
                if shift < WINDOW else 1
            self._highest = index
        else:
            self._window |= 1 << delta

    def _estimate(self, seq: int) -> int:
        """The 48-bit index of a 16-bit seq, guessed from the highest so far (RFC 3711 App. A)."""
        highest = self._highest
        if highest < 0:
            return seq
        roc, s_l = highest >> 16, highest & 0xFFFF
        if s_l < 0x8000:
            v = roc - 1 if seq - s_l > 0x8000 else roc
        else:
            v = roc + 1 if s_l - 0x8000 > seq else roc
        return (v << 16) | seq if v >= 0 else -1

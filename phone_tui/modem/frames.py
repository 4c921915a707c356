"""Wire formats: hop frames (what crosses the radio link) and envelopes (what they carry).

Hop frame:  "PT" | version u8 | kind u8 | session u16 | seq u32 | ack u32 | sack u64
            | length u16 | payload | CRC-32
            (the session changes at every registration, so frames from before it are ignored)
            Every frame, DATA or ACK, carries the sender's acknowledgement state for the other
            direction: ``ack`` is the next seq it expects (all below it are received), bit i of
            ``sack`` says that seq ack + 1 + i was received beyond the gap (RFC 2018 style,
            advisory: only ``ack`` releases a frame). A DATA frame's seq numbers it; an ACK
            carries no payload and its seq is 0.
Envelope:   kind u8 | message id 16 | src length u8 | src | dst length u8 | dst | body
Voice:      "PV" | version u8 | number length u8 | number | packet | CRC-32
            A real-time frame (a call's sealed media packet): no seq, no acknowledgement, never
            retransmitted or stored. ``number`` is the destination on the way up, the source on
            the way down. A corrupted one fails its CRC and is dropped.

The CRC catches corruption on the link (the transport then retransmits); the envelope's body is
opaque to the network (later: Double Ratchet ciphertext). A frame that fails to parse raises
FrameError with the reason, and is counted and dropped by whoever received it. Version 2 added
the ack fields (version 1 acknowledged each DATA frame with an ACK frame of its seq).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from enum import IntEnum

MAGIC = b"PT"
VERSION = 2
_HOP = struct.Struct(">2sBBHIIQH")
_CRC = struct.Struct(">I")
SACK_BITS = 64  # seqs beyond the cumulative ack that one frame can acknowledge
MAX_PAYLOAD = 0xFFFF


VOICE_MAGIC = b"PV"
VOICE_VERSION = 1
_VOICE = struct.Struct(">2sBB")
MAX_VOICE_PACKET = 1500


class FrameError(ValueError):
    """A frame or envelope that cannot be read: garbled, truncated, or of an unknown kind."""


class HopKind(IntEnum):
    DATA = 1
    ACK = 2


class EnvelopeKind(IntEnum):
    MESSAGE = 1
    REPORT = 2
    PING = 3  # keep-alive to the network itself; its acknowledgement measures the round trip
    # Call signalling between two phones (end-to-end encrypted like a message): the carrier's
    # voice switch sees that a call is being set up, as any carrier does, never what it says.
    CALL = 4
    # Plain services between a phone and the carrier itself (not end-to-end; the carrier reads
    # them): an SMS to or from the SMS centre (its TPDU as the body, sms.py / smsc.py), and a
    # plain carrier call's call control with the voice switch (setup, alerting, connect,
    # release; switch.py).
    SMS = 5
    CC = 6


# Envelopes between two phones, with delivery reports and store-and-forward.
PHONE_TO_PHONE = frozenset({EnvelopeKind.MESSAGE, EnvelopeKind.CALL})


class ReportStatus(IntEnum):
    DELIVERED = 1
    FAILED = 2
    # A call's signalling for a line that is not registered (its OS not running, switched off,
    # out of coverage): kept in store-and-forward like a message, and the caller told now.
    UNAVAILABLE = 3


def encode_hop(kind: HopKind, session: int, seq: int, payload: bytes, ack: int,
               sack: int) -> bytes:
    """A hop frame's bytes (what ``HopFrame.encode`` gives, without building the object: the
    channel encodes one per frame it sends)."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    body = _HOP.pack(MAGIC, VERSION, kind, session, seq, ack, sack, len(payload)) + payload
    return body + _CRC.pack(zlib.crc32(body))


@dataclass(frozen=True)
class HopFrame:
    kind: HopKind
    session: int
    seq: int
    payload: bytes = b""
    ack: int = 0  # the next seq the sender of this frame expects from its peer
    sack: int = 0  # bit i: seq ack + 1 + i received too

    def encode(self) -> bytes:
        return encode_hop(self.kind, self.session, self.seq, self.payload, self.ack, self.sack)

    @classmethod
    def decode(cls, data: bytes) -> HopFrame:
        if len(data) < _HOP.size + 4:
            raise FrameError(f"truncated frame ({len(data)} bytes)")
        body, (crc,) = data[:-4], struct.unpack(">I", data[-4:])
        if zlib.crc32(body) != crc:
            raise FrameError("checksum mismatch (corrupted on the link)")
        magic, version, kind, session, seq, ack, sack, length = _HOP.unpack_from(body)
        if magic != MAGIC:
            raise FrameError("bad magic bytes")
        if version != VERSION:
            raise FrameError(f"unknown frame version {version}")
        if len(body) != _HOP.size + length:
            raise FrameError("length field does not match the frame")
        try:
            hop_kind = HopKind(kind)
        except ValueError:
            raise FrameError(f"unknown frame kind {kind}") from None
        if hop_kind is HopKind.ACK and (length or seq):
            raise FrameError("an acknowledgement with a payload or a seq")
        return cls(hop_kind, session, seq, body[_HOP.size:], ack, sack)


def encode_voice(number: str, packet: bytes) -> bytes:
    """A voice frame's bytes: ``number`` (the other end) and the sealed media packet."""
    raw = number.encode()
    if len(raw) > 255 or len(packet) > MAX_VOICE_PACKET:
        raise ValueError("voice frame number or packet too long")
    body = _VOICE.pack(VOICE_MAGIC, VOICE_VERSION, len(raw)) + raw + packet
    return body + _CRC.pack(zlib.crc32(body))


# A media packet's second byte, its payload type, is in the clear (the sealed frames keep
# RTP's header layout; media/srtp.py), so a carrier tells a call's reports from its voice as
# RFC 5761 (section 4) does for RTP and RTCP on one port: 192-223 is RTCP (the reports, 200,
# and the words a bot says, 202), anything else RTP (the voice, 96).
RTCP_TYPES = range(192, 224)
# A plain carrier call's media (media/plain.py) keeps the same 12-byte header, but nothing is
# sealed: the radio hop's cipher is its only protection, so the carrier's switch reads it. Its
# voice says so in the clear payload type: 97 is unsealed voice (96 stays sealed, end-to-end
# voice); its reports are the same clear 200, unsealed, with no tag.
PT_SEALED_VOICE = 96
PT_PLAIN_VOICE = 97
PLAIN_HEADER = struct.Struct(">BBHII")  # flags, payload type, seq, timestamp, ssrc


def media_is_plain(packet: bytes) -> bool:
    """True for a plain call's voice packet (payload type 97: not end-to-end sealed, readable
    by the carrier and whoever holds the radio hop's key); False for sealed voice and for any
    report. Reads only the clear header."""
    return len(packet) >= PLAIN_HEADER.size and packet[1] == PT_PLAIN_VOICE


def plain_voice(packet: bytes) -> tuple[int, int, int, bytes]:
    """A plain voice packet's seq, timestamp, SSRC and codec payload (what a switch or an
    attacker decodes); FrameError if it is not one."""
    if not media_is_plain(packet) or len(packet) > MAX_VOICE_PACKET:
        raise FrameError("not a plain voice packet")
    flags, _type, seq, timestamp, ssrc = PLAIN_HEADER.unpack_from(packet)
    if flags & 0xC0 != 0x80 or flags & 0x3E:
        raise FrameError("plain voice packet of an unknown version or flags")
    return seq, timestamp, ssrc, packet[PLAIN_HEADER.size:]


def media_content(packet: bytes) -> str:
    """What a call's real-time packet is to the carrier: "control" (an RTCP-like report) or
    "voice", from its clear payload-type byte (``media_is_plain`` says whether the voice is
    readable)."""
    return "control" if len(packet) > 1 and packet[1] in RTCP_TYPES else "voice"


def is_voice(data: bytes) -> bool:
    """True for a voice frame (or what was one before corruption): routed apart from hop
    frames."""
    return data[:2] == VOICE_MAGIC


def decode_voice(data: bytes) -> tuple[str, bytes]:
    """The number and the packet of a voice frame; FrameError if it is garbled."""
    if len(data) < _VOICE.size + 4:
        raise FrameError(f"truncated voice frame ({len(data)} bytes)")
    body = data[:-4]
    if zlib.crc32(body) != int.from_bytes(data[-4:], "big"):
        raise FrameError("voice frame checksum mismatch (corrupted on the link)")
    magic, version, length = _VOICE.unpack_from(body)
    if magic != VOICE_MAGIC or version != VOICE_VERSION:
        raise FrameError("not a voice frame of this version")
    end = _VOICE.size + length
    if len(body) < end:
        raise FrameError("voice frame shorter than its number")
    try:
        number = body[_VOICE.size:end].decode()
    except UnicodeDecodeError:
        raise FrameError("voice frame with a garbled number") from None
    return number, body[end:]


@dataclass(frozen=True)
class Envelope:
    kind: EnvelopeKind
    msg_id: bytes
    src: str
    dst: str
    body: bytes

    def encode(self) -> bytes:
        src, dst = self.src.encode(), self.dst.encode()
        if len(self.msg_id) != 16 or len(src) > 255 or len(dst) > 255:
            raise ValueError("bad envelope fields")
        return (bytes([self.kind]) + self.msg_id + bytes([len(src)]) + src + bytes([len(dst)])
                + dst + self.body)

    @classmethod
    def decode(cls, data: bytes) -> Envelope:
        try:
            kind = EnvelopeKind(data[0])
            msg_id = data[1:17]
            src_len = data[17]
            src = data[18:18 + src_len]
            at = 18 + src_len
            dst_len = data[at]
            dst = data[at + 1:at + 1 + dst_len]
            body = data[at + 1 + dst_len:]
            if len(msg_id) != 16 or len(src) != src_len or len(dst) != dst_len:
                raise IndexError
            return cls(kind, msg_id, src.decode(), dst.decode(), body)
        except (IndexError, ValueError, UnicodeDecodeError):
            raise FrameError("malformed envelope") from None


def report_body(status: ReportStatus, reason: str = "") -> bytes:
    return bytes([status]) + reason.encode()


MAX_REASON = 200  # a failure's reason is shown beside the message


def parse_report(body: bytes) -> tuple[ReportStatus, str]:
    """A delivery report. Any phone can send one, so its reason must be short, plain text."""
    try:
        status, reason = ReportStatus(body[0]), body[1:].decode()
    except (IndexError, ValueError, UnicodeDecodeError):
        raise FrameError("malformed delivery report") from None
    if len(reason) > MAX_REASON or not reason.isprintable():
        raise FrameError("delivery report with a reason that is not short, plain text")
    return status, reason

"""The operator tap: every frame the carrier sees on its radio links, as metadata and opaque
bytes (never plaintext), fanned out to bounded subscriber queues."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from phone_tui.core.fanout import Feed
from phone_tui.modem.frames import (
    Envelope,
    FrameError,
    HopFrame,
    HopKind,
    decode_voice,
    is_voice,
    media_content,
)
from phone_tui.modem.network import NETWORK


@dataclass(frozen=True)
class TapRecord:
    """One frame as the carrier sees it: metadata and opaque bytes.

    Reading the headers is left until someone asks (the tap is on the network's hot path)."""

    time: float
    cell: str
    direction: str  # "up" (phone → network) or "down"
    phone: str  # the phone on this radio link
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    @cached_property
    def _headers(self) -> tuple[str, str, str, str, bytes]:
        src, dst = (self.phone, NETWORK) if self.direction == "up" else (NETWORK, self.phone)
        if is_voice(self.data):
            try:
                number, packet = decode_voice(self.data)
            except FrameError:
                return "garbled", src, dst, "", b""
            content = media_content(packet)
            if self.direction == "up":
                return "voice", self.phone, number, content, packet
            return "voice", number, self.phone, content, packet
        try:
            frame = HopFrame.decode(self.data)
        except FrameError:
            return "garbled", src, dst, "", b""
        if frame.kind is HopKind.DATA:
            try:
                envelope = Envelope.decode(frame.payload)
            except FrameError:
                return "garbled", src, dst, "", b""
            return "data", envelope.src, envelope.dst, envelope.kind.name.lower(), envelope.body
        return "ack", src, dst, "", b""

    @property
    def content(self) -> str:
        """What a data frame carries: "message", "report", "ping", "call"; for a call's
        real-time frame "voice", or "control" for its once-a-second reports ("" for others)."""
        return self._headers[3]

    @property
    def body(self) -> bytes:
        """A data frame's body: for a message, the end-to-end ciphertext the carrier cannot
        read; for a voice frame, the sealed media packet (empty for others)."""
        return self._headers[4]

    @property
    def kind(self) -> str:
        """"data", "ack", "voice" (a call's real-time frame: voice or control) or "garbled"."""
        return self._headers[0]

    @property
    def src(self) -> str:
        return self._headers[1]

    @property
    def dst(self) -> str:
        return self._headers[2]


class OperatorTap(Feed[TapRecord]):
    """Every frame crossing the network, fanned out to bounded subscriber queues.

    A slow reader never stalls the network: when its queue is full the oldest record is
    dropped and counted.
    """

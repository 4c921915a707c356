"""A plain carrier call's media: the sealed frames' RTP-like header (srtp.py) with the payload in
the clear and no tag. Sans-IO.

Packet:  flags u8 | payload type u8 | seq u16 | timestamp u32 | ssrc u32 | payload

Nothing is end-to-end: the radio hop's cipher is the only protection, so the carrier's voice
switch (and whoever holds the hop's key, or a fake cell with a null cipher) reads the voice.
The voice says so in its clear payload type, 97 (modem/frames.py's ``PT_PLAIN_VOICE``; sealed
voice is 96); reports and words keep 200 and 202. Frames are checked for shape, stream (SSRC)
and replay as sealed ones are, but anyone on the path can forge them: that is what "not end to
end" means.
"""

from __future__ import annotations

from phone_tui.media.srtp import (
    HEADER,
    HEADER_BYTES,
    MARKER,
    MAX_INDEX,
    MAX_PACKET,
    PT_AUDIO,
    VERSION,
    FrameOpener,
    MediaFrame,
    MediaFrameError,
)

PT_PLAIN_AUDIO = 97  # on the wire; the session above sees PT_AUDIO as for sealed voice


class PlainSealer:
    """``FrameSealer``'s interface, sealing nothing."""

    def __init__(self, ssrc: int) -> None:
        if not 0 <= ssrc <= 0xFFFFFFFF:
            raise ValueError("an SSRC is a 32-bit number")
        self.ssrc = ssrc
        self._last = -1

    def seal(self, seq: int, timestamp: int, payload: bytes, *, marker: bool = False,
             payload_type: int = PT_AUDIO) -> bytes:
        if not self._last < seq <= MAX_INDEX:
            raise ValueError("media frame index not increasing")
        self._last = seq
        wire_type = PT_PLAIN_AUDIO if payload_type == PT_AUDIO else payload_type
        return HEADER.pack(VERSION | (MARKER if marker else 0), wire_type, seq & 0xFFFF,
                           timestamp & 0xFFFFFFFF, self.ssrc) + payload


class PlainOpener(FrameOpener):
    """``FrameOpener``'s checks (shape, SSRC, replay window) without authentication."""

    def __init__(self, ssrc: int) -> None:  # noqa: D107 - no key: nothing to open
        if not 0 <= ssrc <= 0xFFFFFFFF:
            raise ValueError("an SSRC is a 32-bit number")
        self.ssrc = ssrc
        self._highest = -1
        self._window = 0

    def open(self, packet: bytes) -> MediaFrame:
        if len(packet) < HEADER_BYTES:
            raise MediaFrameError("short media packet")
        if len(packet) > MAX_PACKET:
            raise MediaFrameError("media packet too long")
        flags, payload_type, seq, timestamp, ssrc = HEADER.unpack_from(packet)
        if flags & 0xC0 != VERSION or flags & 0x3E:
            raise MediaFrameError("unknown media packet version or flags")
        if ssrc != self.ssrc:
            raise MediaFrameError("media packet for another stream (SSRC)")
        if payload_type == PT_AUDIO:
            raise MediaFrameError("sealed voice in a plain call")
        index, delta = self._check_index(seq)
        self._accept(index, delta)
        kind = PT_AUDIO if payload_type == PT_PLAIN_AUDIO else payload_type
        return MediaFrame(index, timestamp, packet[HEADER_BYTES:], bool(flags & MARKER), kind)


def plain_ssrcs(ref: bytes, *, caller: bool) -> tuple[int, int]:
    """The send and receive SSRCs of a plain call's side, from its 16-byte call reference."""
    first, second = int.from_bytes(ref[:4], "big"), int.from_bytes(ref[4:8], "big")
    if first == second:
        second ^= 1
    return (first, second) if caller else (second, first)

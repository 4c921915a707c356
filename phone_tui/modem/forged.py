"""A forged line: the carrier's own power to send as any number."""

from __future__ import annotations

from typing import TYPE_CHECKING

from phone_tui.modem.frames import Envelope, EnvelopeKind

if TYPE_CHECKING:
    from phone_tui.modem.carrier import Carrier


class ForgedLine:
    """The carrier's own power: messages that claim to come from ``number`` without its SIM.
    What a man in the middle inside the network does; the demo stage uses it to show that
    end-to-end encryption turns such a forgery into a safety-number warning."""

    def __init__(self, carrier: Carrier, number: str) -> None:
        self.carrier = carrier
        self.number = number

    def new_id(self) -> bytes:
        return self.carrier.rng.randbytes(16)

    def send_voice(self, dst: str, packet: bytes) -> None:
        """A voice frame to ``dst`` as if from ``number`` (down ``dst``'s link)."""
        self.carrier._voice_down(self.number, dst, packet)

    def send(self, dst: str, body: bytes, *, msg_id: bytes | None = None,
             kind: EnvelopeKind = EnvelopeKind.MESSAGE) -> bytes:
        msg_id = msg_id or self.new_id()
        envelope = Envelope(kind, msg_id, self.number, dst, body)
        if self.carrier.is_attached(dst):
            self.carrier._deliver_or_store(dst, envelope.encode(), envelope)
        return msg_id

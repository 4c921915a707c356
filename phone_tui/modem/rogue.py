"""A fake base station (an IMSI catcher): a rogue cell that a phone camps on, which relays its
victim's frames to the real network both ways, so the victim notices nothing, and keeps what
it could read on its own tap.

It sits on the victim's hop seam (``network.py``): it is the ``Uplink`` the phone's radio
calls and the ``PhoneEnd`` the carrier calls. Every frame crosses unchanged and at once (the
link's timing stays the phone's); on the way it is read as an attacker with the radio in the
clear (A5/0) reads it: the identities the phone gave before any authentication, a plain SMS's
text, a plain call's voice ("decodable"). An end-to-end message or call is only ciphertext
and its size: nothing of its payload is ever kept.

Everything here comes off the air, so it is hostile: each frame is parsed with checks, a bad
one is skipped, and the tap's history and its de-duplication are bounded.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from phone_tui.core.fanout import Feed
from phone_tui.modem.cells import Cell
from phone_tui.modem.frames import (
    Envelope,
    EnvelopeKind,
    FrameError,
    HopFrame,
    HopKind,
    decode_voice,
    is_voice,
    media_content,
    media_is_plain,
)
from phone_tui.modem.network import PhoneEnd, Uplink
from phone_tui.modem.sms import SmsMalformed
from phone_tui.modem.sms_pdu import SmsDeliver, SmsSubmit, read_sms

SEEN_WINDOW = 1024  # envelopes remembered, so a retransmission is not recorded twice
VOICE_EVERY = 50  # one voice record per this many frames of a call (one a second at 20 ms)


@dataclass(frozen=True)
class AttackerRecord:
    """One thing the fake base station caught from its victim ``phone``.

    ``what``: "imsi", "imei" (``text`` is the value), "sms" (``text`` the SMS's text, or ""
    when it could not be read), "call" (a plain call's voice: ``text`` "decodable"),
    "e2e-message", "e2e-call" (``text`` "ciphertext": never anything of the payload),
    "call-control" (plain call signalling); ``size`` is the payload's size in bytes."""

    time: float
    cell: str
    phone: str
    direction: str  # "up" (from the victim), "down" (to it), "" for identities
    what: str
    peer: str  # the other party ("" for identities)
    text: str
    size: int
    frames: int = 0  # a call's voice record: its voice frames this way so far (0: not voice)


class AttackerTap(Feed[AttackerRecord]):
    """What fake base stations caught, fanned out to bounded subscriber queues (as
    ``tap.OperatorTap``); a slow reader loses the oldest records, counted."""


def _sms_text(body: bytes, direction: str) -> tuple[str, str] | None:
    """A plain SMS's (text, other party's number): an SMS-SUBMIT's recipient up, an
    SMS-DELIVER's sender down (sms_pdu.read_sms checks it); None for the SMS centre's
    reports, ("", "") for a body that does not read."""
    try:
        tpdu = read_sms(body, uplink=direction == "up")
    except (SmsMalformed, ValueError):
        return "", ""
    if isinstance(tpdu, SmsSubmit):
        return tpdu.text, tpdu.recipient
    if isinstance(tpdu, SmsDeliver):
        return tpdu.text, tpdu.sender
    return None


class Relay:
    """A fake base station on one victim's hop seam: ``Uplink`` to the phone's radio (``up``:
    the carrier's real end) and ``PhoneEnd`` to the carrier (``phone``: the radio)."""

    def __init__(self, cell: Cell, number: str, phone: PhoneEnd, up: Uplink, tap: AttackerTap,
                 now: Callable[[], float] | None = None) -> None:
        self.cell = cell
        self.number = number
        self.phone = phone
        self.up = up
        self.tap = tap
        self._now = now or (lambda: asyncio.get_running_loop().time())
        self._seen: OrderedDict[tuple[str, int, bytes], None] = OrderedDict()
        self._voice: dict[tuple[str, str], int] = {}  # frames seen per (direction, peer)

    # ---- what it caught ------------------------------------------------------------------

    def caught(self, disclosed: dict[str, str]) -> None:
        """The identities the victim gave this cell in clear (Encounter.disclosed)."""
        for kind in ("imsi", "imei"):
            value = disclosed.get(kind, "")
            if isinstance(value, str) and value.isdigit() and len(value) <= 16:
                self._publish("", kind, "", value, len(value))

    def _publish(self, direction: str, what: str, peer: str, text: str, size: int,
                 frames: int = 0) -> None:
        self.tap.publish(AttackerRecord(self._now(), self.cell.id, self.number, direction,
                                        what, peer, text, size, frames))

    def _read(self, frame: bytes, direction: str) -> None:
        """Read one frame of the victim as it crosses (nothing is changed or held)."""
        if is_voice(frame):
            try:
                peer, packet = decode_voice(frame)
            except FrameError:
                return
            if media_content(packet) != "voice":
                return
            key = (direction, peer)
            count = self._voice.get(key, 0)
            if count == 0 and len(self._voice) >= 64:
                self._voice.clear()  # bounded: many peers, the counts start again
            self._voice[key] = count + 1
            if count % VOICE_EVERY == 0:
                what = "call" if media_is_plain(packet) else "e2e-call"
                self._publish(direction, what, peer,
                              "decodable" if what == "call" else "ciphertext", len(packet),
                              frames=count + 1)
            return
        try:
            hop = HopFrame.decode(frame)
            if hop.kind is not HopKind.DATA:
                return
            envelope = Envelope.decode(hop.payload)
        except FrameError:
            return
        peer = envelope.dst if direction == "up" else envelope.src
        what = {EnvelopeKind.SMS: "sms", EnvelopeKind.CC: "call-control",
                EnvelopeKind.MESSAGE: "e2e-message",
                EnvelopeKind.CALL: "e2e-call"}.get(envelope.kind)
        if what is None:
            return  # reports, keep-alives: nothing the lesson needs
        key = (direction, int(envelope.kind), envelope.msg_id)
        if key in self._seen:
            return  # a retransmission
        self._seen[key] = None
        while len(self._seen) > SEEN_WINDOW:
            self._seen.popitem(last=False)
        size = len(envelope.body)
        if what == "sms":
            read = _sms_text(envelope.body, direction)
            if read is None:
                return  # the SMS centre's report: no text
            # The envelope's other end is the SMS centre: the TPDU names the real party.
            text, party = read
            if party and len(party) <= 24:
                peer = party
        elif what == "call-control":
            text = "plain signalling"
        else:
            text = "ciphertext"  # end to end: never anything of the payload
        self._publish(direction, what, peer, text, size)

    # ---- Uplink (the phone's radio calls it) ---------------------------------------------

    def send(self, frame: bytes) -> None:
        self._read(frame, "up")
        self.up.send(frame)

    def registration(self, in_service: bool) -> None:
        self.up.registration(in_service)

    def restart_session(self) -> None:
        self.up.restart_session()

    def camp(self, cell: str, disclosed: dict[str, str]) -> None:
        camp = getattr(self.up, "camp", None)
        if camp is not None:
            camp(cell, disclosed)

    # ---- PhoneEnd (the carrier calls it) -------------------------------------------------

    def deliver(self, frame: bytes) -> None:
        self._read(frame, "down")
        self.phone.deliver(frame)

    def opened(self, session: int) -> None:
        self.phone.opened(session)

    def closed(self) -> None:
        self.phone.closed()

"""The carrier in the middle of two phones, for good: the presenter's man in the middle (F9).

Between phones A and B the carrier runs two impostors, each a messenger with its own new
identity key on a forged line: one speaks to A as B, the other to B as A. Each writes to its
phone once (so both phones show a changed safety number), and from then on the carrier's
routing hook (``Bus.interceptor``) hands it everything A sends to B, and B to A:

- messages (texts, read receipts, timer updates) are decrypted by one impostor and sent on by
  the other: the carrier reads them. The app log says that it did, never what they said;
  ``stats.read`` counts them. A relayed envelope keeps the id it came with, so the recipient's
  delivery report (or the network's "unavailable") reaches the real sender as its own.
- calls are bridged: A's offer rings the impostor that speaks to A; the other places a call to
  B as A; when B answers, the first answers A. Each leg agrees its own keys (ZRTP, with the
  impostor's identity), so both calls connect and each phone's two words come from its own
  leg: they differ. Media is opened with one leg's keys and sealed again with the other's
  (``Bus.voice_interceptor``): the carrier hears the call in clear (given a folder, it saves
  what it heard of each phone as WAV). Declined, busy, hung up,
  no answer and unavailable cross the bridge; "words differ" on either phone hangs that leg up,
  and with it the other.

Hostile input: what a phone sends goes through the impostors' messengers (which drop garbage,
replays and malformed payloads) and media openers (which refuse forged, replayed and stale
frames); per voice frame the carrier does one open and one seal at most; a failure is logged and
counted, never raised into the network.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from phone_tui.core.clock import Clock
from phone_tui.core.entropy import Entropy
from phone_tui.handset.calls import (
    DEFAULT_CODEC,
    CallError,
    CallService,
    CallState,
    CallStateChanged,
)
from phone_tui.handset.impostor import new_impostor
from phone_tui.handset.messenger import Messenger, MessengerError
from phone_tui.handset.payloads import CallPayload, Payload, Unusable
from phone_tui.media.srtp import (
    PT_CAPTION,
    PT_REPORT,
    FrameOpener,
    FrameSealer,
    MediaFrame,
    MediaFrameError,
)
from phone_tui.media.stream import REPORT_SSRC_BIT
from phone_tui.modem.forged import ForgedLine

if TYPE_CHECKING:
    from pathlib import Path

    from phone_tui.handset.events import Event
    from phone_tui.modem.bus import Bus
    from phone_tui.modem.frames import Envelope

log = logging.getLogger(__name__)


@dataclass
class InterceptStats:
    """What the carrier did in the middle (counts only)."""

    read: int = 0  # messages decrypted and passed on
    calls: int = 0  # calls bridged
    frames: int = 0  # voice frames heard in clear and passed on
    refused: int = 0  # voice frames that did not open (forged, replayed, garbage)


class _Line(ForgedLine):
    """A forged line whose next envelope may carry a given id: a relayed envelope keeps the id
    it came with."""

    in_service = True  # the carrier always has service on its own network

    def __init__(self, bus: Bus, number: str) -> None:
        super().__init__(bus, number)
        self.reuse: bytes | None = None

    def new_id(self) -> bytes:
        reuse, self.reuse = self.reuse, None
        return reuse if reuse is not None else super().new_id()


class _Impostor(Messenger):
    """An impostor that passes on what it reads (texts, receipts, timer updates) instead of
    keeping it; call signalling goes to its CallService as usual."""

    relay: Callable[[str, Payload], None] | None = None

    def _act_on(self, sender: str, payload: Payload | Unusable, *, call: bool = False) -> None:
        relay = self.relay
        if call or relay is None or isinstance(payload, Unusable | CallPayload):
            super()._act_on(sender, payload, call=call)
            return
        relay(sender, payload)

    def pass_on(self, number: str, payload: Payload) -> bytes:
        """Encrypt ``payload`` as it is (same message id, time, timer) for ``number``."""
        return self._send_payload(number, payload.to_dict())  # type: ignore[union-attr]


class _Resealer(FrameSealer):
    """Seals a frame at the index it came with, in any order (frames can overtake each other on
    a jittery link). Each index is opened at most once on the other leg (its opener refuses
    replays and frames older than its window), so no nonce repeats under this key."""

    def reseal(self, frame: MediaFrame) -> bytes:
        self._last = frame.seq - 1
        return self.seal(frame.seq, frame.timestamp, frame.payload, marker=frame.marker,
                         payload_type=frame.payload_type)


class _Leg:
    """One impostor and the real phone it talks to."""

    def __init__(self, owner: Interceptor, victim: str, speaks_as: str, *, entropy: Entropy,
                 clock: Clock) -> None:
        self.victim = victim
        self.line = _Line(owner.network, speaks_as)
        self.messenger = new_impostor(owner.network, speaks_as, self.line,  # type: ignore[arg-type]
                                      entropy=entropy, clock=clock, kind=_Impostor)
        self.messenger.relay = lambda sender, payload: owner._relay(self, sender, payload)
        self.calls = CallService(self.messenger, media_timeout_s=None,
                                 media_factory=lambda keys, codec, _peer: _Relay(owner, self,
                                                                                 keys, codec))
        self.peer: _Leg | None = None
        self.media: _Relay | None = None
        self.stop_listening = self.messenger.events.listen(
            lambda event: owner._on_event(self, event))


class _Relay:
    """A leg's media: frames from its phone opened with that leg's keys and handed to the other
    leg, which seals them with its own keys for the other phone."""

    def __init__(self, owner: Interceptor, leg: _Leg, keys: Any, codec: str) -> None:
        self._owner, self._leg, self._codec = owner, leg, codec
        self._listen: Any = None  # with a record folder: what the carrier hears of this phone
        self._audio = FrameOpener(keys.recv_key, keys.recv_salt, keys.recv_ssrc)
        self._reports = FrameOpener(keys.recv_key, keys.recv_salt,
                                    keys.recv_ssrc ^ REPORT_SSRC_BIT)
        self._seal_audio = _Resealer(keys.send_key, keys.send_salt, keys.send_ssrc)
        self._seal_reports = _Resealer(keys.send_key, keys.send_salt,
                                       keys.send_ssrc ^ REPORT_SSRC_BIT)

    def start(self) -> None:
        self._leg.media = self
        if self._owner.record is not None:
            self._listen = self._owner._recorder(self._codec, self._leg.victim)

    def stop(self) -> None:
        if self._leg.media is self:
            self._leg.media = None
        listen, self._listen = self._listen, None
        if listen is not None:
            listen.close()

    def stats(self) -> None:
        return None  # silence never ends a leg: the phones' own calls notice it

    def receive(self, packet: bytes) -> None:
        """A packet from this leg's phone: opened, then on to the other phone."""
        # Reports and words said travel under the stream's second SSRC (media/stream.py).
        report = len(packet) > 1 and packet[1] in (PT_REPORT, PT_CAPTION)
        try:
            frame = (self._reports if report else self._audio).open(packet)
        except MediaFrameError:
            self._owner.stats.refused += 1
            return
        peer = self._leg.peer.media if self._leg.peer is not None else None
        if peer is None:
            return  # the other phone has not answered yet
        peer.send(frame, report=report)
        if not report:
            self._owner.stats.frames += 1
            if self._listen is not None:
                self._listen.play(frame.payload)  # in the order frames came: no jitter buffer

    def send(self, frame: MediaFrame, *, report: bool) -> None:
        packet = (self._seal_reports if report else self._seal_audio).reseal(frame)
        self._leg.line.send_voice(self._leg.victim, packet)


class Interceptor:
    """The carrier in the middle between the lines ``first`` and ``second`` until ``close``."""

    def __init__(self, network: Bus, first: str, second: str, *, entropy: Entropy,
                 clock: Clock, record: Path | None = None) -> None:
        """``record``: a folder where what the carrier heard of each phone on a bridged call is
        saved as WAV (PyAV decodes it; None saves nothing)."""
        if network.interceptor is not None or network.voice_interceptor is not None:
            raise ValueError("the carrier is already in the middle of a conversation")
        self.network = network
        self.record = record
        self.clock = clock
        self.numbers = (first, second)
        self.stats = InterceptStats()
        self._closed = False
        a = _Leg(self, first, second, entropy=entropy, clock=clock)
        b = _Leg(self, second, first, entropy=entropy, clock=clock)
        a.peer, b.peer = b, a
        self._legs = {first: a, second: b}
        # While a call is bridged: (the leg whose phone called, the leg that called on).
        self._bridge: tuple[_Leg, _Leg] | None = None
        network.interceptor = self._on_envelope
        network.voice_interceptor = self._on_voice

    @property
    def closed(self) -> bool:
        return self._closed

    def write(self, text: str) -> None:
        """Each impostor writes ``text`` to its phone: both see a new identity for the other.
        Raises MessengerError when a phone has no published keys."""
        for leg in self._legs.values():
            leg.messenger.add_contact(leg.victim, "victim")
            leg.messenger.send_text(leg.victim, text)

    def close(self) -> None:
        """The carrier steps out: a bridged call is hung up on both phones; routing is direct
        again (the keys the phones learnt stay with them). Leaves no timer behind."""
        if self._closed:
            return
        self._closed = True
        self._bridge = None
        for leg in self._legs.values():
            leg.stop_listening()
            try:
                leg.calls.close()
            except Exception:  # noqa: BLE001 - stepping out must not fail halfway
                log.exception("man in the middle: a leg did not close cleanly")
            leg.messenger.store.close()
        if self.network.interceptor == self._on_envelope:
            self.network.interceptor = None
        if self.network.voice_interceptor == self._on_voice:
            self.network.voice_interceptor = None
        log.info("man in the middle: the carrier stepped out")

    def _recorder(self, codec: str, victim: str) -> Any:
        """A decoder that saves what the carrier hears of ``victim`` (None if it cannot open:
        the call goes on unrecorded, said in the log)."""
        import time

        from phone_tui.errors import PhoneTuiError
        from phone_tui.media.audio import open_audio
        from phone_tui.media.codecs import load_codecs

        assert self.record is not None
        codecs = load_codecs()
        profile = codecs.get(codec) or codecs[DEFAULT_CODEC]
        digits = "".join(ch for ch in victim if ch.isdigit()) or "phone"
        path = self.record / f"{time.strftime('%Y%m%d-%H%M%S')}-carrier-hears-{digits}.wav"
        try:
            return open_audio(profile, voice=None, record=path)
        except PhoneTuiError as problem:
            log.error("man in the middle: no recording (%s)", problem)
            return None

    # ---- the carrier's routing hooks ---------------------------------------------------------

    def _on_envelope(self, src: str, dst: str, envelope: Envelope) -> bool:
        leg = self._legs.get(src)
        if self._closed or leg is None or dst != leg.line.number:
            return False
        onward = leg.peer
        assert onward is not None
        onward.line.reuse = envelope.msg_id
        try:
            leg.messenger.on_envelope(envelope)
        except Exception as problem:  # noqa: BLE001 - never into the network's routing
            log.error("man in the middle: dropped an envelope from %s (%s)", src,
                      type(problem).__name__)
        finally:
            onward.line.reuse = None
        return True

    def _on_voice(self, src: str, dst: str, packet: bytes) -> bool:
        leg = self._legs.get(src)
        if self._closed or self._bridge is None or leg is None or dst != leg.line.number:
            return False
        try:
            leg.calls.on_voice(src, packet)
        except Exception as problem:  # noqa: BLE001
            self.stats.refused += 1
            log.error("man in the middle: dropped a voice frame from %s (%s)", src,
                      type(problem).__name__)
        return True

    # ---- messages ----------------------------------------------------------------------------

    def _relay(self, leg: _Leg, sender: str, payload: Payload) -> None:
        onward = leg.peer
        assert onward is not None
        what = type(payload).__name__.removesuffix("Payload").lower()
        try:
            onward.messenger.pass_on(onward.victim, payload)
        except MessengerError as problem:
            log.info("man in the middle: a %s from %s could not be passed on (%s)", what,
                     sender, problem)
            return
        self.stats.read += 1
        log.info("man in the middle: the carrier read a %s from %s to %s and passed it on",
                 what, sender, onward.victim)

    # ---- the call bridge ---------------------------------------------------------------------

    def _on_event(self, leg: _Leg, event: Event) -> None:
        if self._closed or not isinstance(event, CallStateChanged):
            return
        if event.state == CallState.RINGING and event.direction == "incoming":
            self._call_on(leg)
        elif event.state == CallState.CONNECTED and event.direction == "outgoing":
            bridge = self._bridge
            if bridge is not None and bridge[1] is leg:
                with contextlib.suppress(CallError):  # the caller gave up meanwhile
                    bridge[0].calls.answer()
        elif event.state == CallState.ENDED:
            self._ended(leg, event.reason)

    def _call_on(self, caller_leg: _Leg) -> None:
        """``caller_leg``'s phone calls: the other leg calls the other phone, as that phone."""
        callee_leg = caller_leg.peer
        assert callee_leg is not None
        ringing = caller_leg.calls.current
        if ringing is None:
            return
        if self._bridge is not None or callee_leg.calls.current is not None:
            self._busy(caller_leg)
            return
        self._bridge = (caller_leg, callee_leg)
        callee_leg.calls.codec = ringing.codec  # frames pass through as they are
        try:
            callee_leg.calls.dial(callee_leg.victim)
        except CallError as problem:
            log.info("man in the middle: could not call on to %s (%s)", callee_leg.victim,
                     problem)
            self._bridge = None
            caller_leg.calls.decline()
            return
        self.stats.calls += 1
        log.info("man in the middle: a call from %s to %s goes through the carrier",
                 caller_leg.victim, callee_leg.victim)
        if not self.network.is_registered(callee_leg.victim):
            # The network told the caller "unavailable" (the offer kept its id); the offer
            # and this hangup wait for the callee, who sees a missed call.
            callee_leg.calls.fail("unavailable")

    def _ended(self, leg: _Leg, reason: str) -> None:
        bridge = self._bridge
        if bridge is None or leg not in bridge:
            return
        self._bridge = None
        other = leg.peer
        assert other is not None
        current = other.calls.current
        if current is None or current.state is CallState.ENDED:
            return
        if leg is bridge[1] and current.state is CallState.RINGING:
            # The called phone did not take the call: the caller hears why.
            if reason == "declined":
                other.calls.decline()
            elif reason == "busy":
                self._busy(other)
            elif reason in ("no_answer", "unavailable"):
                other.calls.machine.discard()  # its own timer, or the network, tells it
            else:
                other.calls.hangup()
            return
        other.calls.hangup()

    def _busy(self, leg: _Leg) -> None:
        """``leg``'s phone is told the line is busy; the impostor forgets its ringing call."""
        current = leg.calls.current
        if current is None:
            return
        try:
            leg.messenger.send_call(current.number, CallPayload("busy", current.call_id,
                                                                self.clock.now()))
        except MessengerError as problem:
            log.info("man in the middle: busy not sent (%s)", problem)
        leg.calls.machine.discard()  # its timer finds no call and stops

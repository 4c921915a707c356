"""The carrier's voice switch: plain carrier calls, and what it sees of end-to-end ones.

**Plain calls** (the Open OS's Phone app): call control in ``EnvelopeKind.CC`` envelopes
(cc.py, after TS 24.008). The caller's SETUP names the callee; the switch pages it (a line not
registered is "unavailable" at once, a line already in a plain call "user busy"), passes
ALERTING and CONNECT back, and clears the call on either side's DISCONNECT or RELEASE, on no
answer, and when a leg drops off the network. While a call is answered it routes the legs'
media between them, and only those: plain media is not end-to-end sealed (frames.py, payload
type 97), so the switch parses every voice frame and hands it over as ``decodable`` content.

**End-to-end calls** signal in CALL envelopes between the phones, sealed but for their clear
hint byte (RING for an offer, STOP for a hangup; handset/messenger.py), and their voice is
sealed. The switch records what any carrier sees of them: the parties, the ring, when voice
flowed and for how long, the sizes; never anything from inside. Only a pair of lines it saw
ring (and not hang up since) gets a call record from sealed voice: frames alone, which any
phone can make up, open none.

Intercept records (intercept.py): IRI-BEGIN at SETUP (or the ring), IRI-CONTINUE at ALERTING
and at the answer, IRI-END at release with the duration from answer to release and the
reason; HI3 once when the media starts and once at the end with the totals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from phone_tui.modem.cc import CAUSE_TEXT, CLEARING, Cause, CcError, CcMessage, CcType, decode_cc
from phone_tui.modem.frames import (
    RTCP_TYPES,
    Envelope,
    EnvelopeKind,
    FrameError,
    media_is_plain,
    plain_voice,
)

if TYPE_CHECKING:
    from phone_tui.modem.carrier import Carrier

log = logging.getLogger(__name__)

MAX_CALLS = 1000  # plain calls the switch holds at once (set up, ringing or answered)
MAX_E2E = 1000  # end-to-end calls it keeps track of
NO_ANSWER_S = 60.0  # a plain call ringing this long is cleared by the switch (the phones' own
# timer, 45 s, normally clears it first)
E2E_IDLE_S = 20.0  # an end-to-end call with no voice and no signal this long is over
# Sealed frames between two lines this soon after their call ended (still in flight, or sent
# until the hangup reached the other phone) belong to it: no new call without a new ring.
E2E_AFTER_S = 10.0
# A CALL envelope's clear first byte (handset/messenger.py's HINT_RING, HINT_STOP): read by a
# locked phone to ring, and by any carrier.
HINT_RING, HINT_STOP = 1, 2


@dataclass
class PlainCall:
    ref: bytes
    caller: str
    callee: str
    codec: str
    state: str = "setup"  # setup, alerting, answered
    answered_at: float | None = None
    frames: int = 0  # voice frames handed over as decodable content, both legs
    size: int = 0
    decoded: int = 0  # frames the switch's decoder turned into audio (with audio on)
    timer: asyncio.TimerHandle | None = None


@dataclass
class E2eCall:
    ref: str
    caller: str
    callee: str
    rang: bool = False
    voice_at: float | None = None  # the first sealed voice frame
    last_media: float = 0.0  # the last sealed frame, voice or report
    last_at: float = 0.0  # the last frame or signal (the idle timer's start)
    frames: int = 0
    size: int = 0
    timer: asyncio.TimerHandle | None = None


class VoiceSwitch:
    """The carrier's switch; ``Carrier._service`` hands it CC envelopes, ``_route`` CALL
    envelopes, ``_route_voice`` each voice frame, and a line going off the network."""

    def __init__(self, carrier: Carrier) -> None:
        self.carrier = carrier
        self.calls: OrderedDict[bytes, PlainCall] = OrderedDict()
        self._by_line: dict[str, bytes] = {}  # a number -> the plain call it is in
        self.e2e: OrderedDict[tuple[str, str], E2eCall] = OrderedDict()
        self._e2e_ended: OrderedDict[tuple[str, str], float] = OrderedDict()  # pair -> when
        # Pairs the switch saw ring and not hang up, the newest last: their sealed voice may
        # open a call record (again after it went idle: answered late, or a network gap).
        self._e2e_rang: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.dropped = 0  # CC envelopes refused (malformed, out of place, not a party)
        # With audio on: a maker of decoders (codec name -> an object whose play(payload)
        # decodes one frame, and close()), e.g. media/audio.py's PyAV one, made when a call's
        # media starts. None: frames are parsed and counted only.
        self.decoder_factory: Callable[[str], Any] | None = None
        self._decoders: dict[bytes, Any] = {}  # a plain call's decoder, while it lasts

    def _drop(self) -> None:
        self.dropped += 1
        self.carrier.stats.rejected += 1

    # ---- plain calls: call control --------------------------------------------------------

    def on_cc(self, envelope: Envelope) -> None:
        """A CC envelope from a phone (its ``src`` checked by the carrier)."""
        try:
            message = decode_cc(envelope.body)
        except CcError as problem:
            self._drop()
            log.debug("switch dropped call control from %s: %s", envelope.src, problem)
            return
        if message.type is CcType.SETUP:
            self._setup(envelope.src, envelope.dst, message)
            return
        call = self.calls.get(message.ref)
        if call is None or envelope.src not in (call.caller, call.callee) or (
                envelope.dst not in (call.caller, call.callee)):
            self._drop()
            log.debug("switch dropped a %s for no call of %s", message.type.name, envelope.src)
            if message.type not in CLEARING:
                # A phone that thinks the call goes on (its SETUP came late, from a mailbox,
                # after the call was cleared) is told it does not: one reply per message,
                # to the sender only (TS 24.008 5.5.3.2: invalid transaction identifier).
                self._send(envelope.src, envelope.dst,
                           CcMessage(CcType.RELEASE, message.ref, Cause.INVALID_TRANSACTION))
            return
        from_callee = envelope.src == call.callee
        if message.type is CcType.ALERTING and from_callee and call.state == "setup":
            call.state = "alerting"
            self._iri(call, "IRI-CONTINUE", state="alerting")
            self._send(call.caller, call.callee, message)
        elif message.type is CcType.CONNECT and from_callee and call.state in ("setup",
                                                                              "alerting"):
            call.state = "answered"
            call.answered_at = self.carrier.now()
            self._cancel(call)
            self._iri(call, "IRI-CONTINUE", state="answered")
            self._send(call.caller, call.callee, message)
        elif message.type in CLEARING:
            other = call.caller if from_callee else call.callee
            self._release(call, message.cause, tell=other)
        else:
            self._drop()

    def _setup(self, caller: str, callee: str, message: CcMessage) -> None:
        carrier = self.carrier
        if message.ref in self.calls or caller == callee or not callee:
            self._drop()
            return
        if caller in self._by_line:
            # One plain call per line: a second SETUP is refused, the first goes on.
            self._send(caller, callee, CcMessage(CcType.RELEASE, message.ref, Cause.USER_BUSY))
            return
        while len(self.calls) >= MAX_CALLS:
            oldest = next(iter(self.calls.values()))
            self._release(oldest, Cause.TEMPORARY_FAILURE, tell=oldest.caller,
                          also=oldest.callee)
        call = PlainCall(message.ref, caller, callee, message.codec)
        self.calls[message.ref] = call
        self._by_line[caller] = message.ref
        self._iri(call, "IRI-BEGIN", state="setup")
        if not carrier.is_registered(callee):
            cause = Cause.SUBSCRIBER_ABSENT if carrier.is_attached(callee) \
                else Cause.UNASSIGNED_NUMBER
            self._release(call, cause, tell=caller)
            return
        if callee in self._by_line:
            self._release(call, Cause.USER_BUSY, tell=caller)
            return
        self._by_line[callee] = message.ref
        self._send(callee, caller, message)  # paging: the callee's phone rings
        with contextlib.suppress(RuntimeError):  # no loop (a unit test): no timer
            call.timer = asyncio.get_running_loop().call_later(
                NO_ANSWER_S, self._no_answer, message.ref)

    def _no_answer(self, ref: bytes) -> None:
        call = self.calls.get(ref)
        if call is not None and call.state != "answered":
            call.timer = None
            self._release(call, Cause.NO_ANSWER, tell=call.caller, also=call.callee)

    def line_down(self, number: str) -> None:
        """``number`` left the network: its plain call is cleared (the other leg is told), its
        end-to-end call ends as far as the carrier can see."""
        ref = self._by_line.get(number)
        call = self.calls.get(ref) if ref is not None else None
        if call is not None:
            other = call.callee if number == call.caller else call.caller
            self._release(call, Cause.DESTINATION_OUT_OF_ORDER, tell=other)
        for key in [key for key in self.e2e if number in key]:
            self._e2e_end(key, "a party left the network")

    def _release(self, call: PlainCall, cause: Cause, *, tell: str | None,
                 also: str | None = None) -> None:
        self._cancel(call)
        self.calls.pop(call.ref, None)
        decoder = self._decoders.pop(call.ref, None)
        if decoder is not None:
            with contextlib.suppress(Exception):
                decoder.close()
        for number in (call.caller, call.callee):
            if self._by_line.get(number) == call.ref:
                del self._by_line[number]
        duration = None
        if call.answered_at is not None:
            duration = round(self.carrier.now() - call.answered_at, 3)
        self._iri(call, "IRI-END", state="released", duration_s=duration,
                  release_reason=CAUSE_TEXT.get(cause, cause.name.lower()))
        if call.frames:
            self._hi3(call)
        for number in (tell, also):
            if number is not None:
                other = call.callee if number == call.caller else call.caller
                self._send(number, other, CcMessage(CcType.RELEASE, call.ref, cause))

    def _send(self, to: str, other: str, message: CcMessage) -> None:
        """A CC envelope down to ``to``, from the other party (as the phone knows the call)."""
        carrier = self.carrier
        if not carrier.is_registered(to):
            return
        envelope = Envelope(EnvelopeKind.CC, carrier.rng.randbytes(16), other, to,
                            message.encode())
        carrier._deliver_or_store(to, envelope.encode(), envelope)

    @staticmethod
    def _cancel(call: PlainCall) -> None:
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None

    # ---- media --------------------------------------------------------------------------------

    def media(self, src: str, dst: str, packet: bytes) -> bool:
        """A voice frame from ``src`` for ``dst``: True to route it on. A plain one only
        within an answered plain call of the two (it is read and counted); a sealed one is
        passed on, and its size and time noted for the end-to-end call's records."""
        ref = self._by_line.get(src)
        call = self.calls.get(ref) if ref is not None else None
        plain_call = call is not None and dst in (call.caller, call.callee) and src != dst
        if media_is_plain(packet) or plain_call:
            if call is None or not plain_call or call.state != "answered":
                return False
            if media_is_plain(packet):
                self._take_plain(call, packet)
            return True  # the call's clear reports too
        if len(packet) > 1 and packet[1] not in RTCP_TYPES:
            self._e2e_voice(src, dst, len(packet))
        else:
            # A sealed report: the call goes on (on hold, no voice flows, reports do).
            call_e2e = self.e2e.get(self._pair(src, dst))
            if call_e2e is not None:
                call_e2e.last_media = self.carrier.now()
                if call_e2e.last_media - call_e2e.last_at >= 1.0:
                    self._e2e_touch(self._pair(src, dst))
        return True

    def _take_plain(self, call: PlainCall, packet: bytes) -> None:
        try:
            _seq, _timestamp, _ssrc, payload = plain_voice(packet)
        except FrameError:
            return
        call.frames += 1
        call.size += len(payload)
        if call.frames == 1:
            self._hi3(call)
        decoder = self._decoder(call)
        if decoder is not None:
            try:
                decoder.play(payload)
                call.decoded += 1
            except Exception:  # noqa: BLE001 - a frame the codec cannot read is skipped
                log.debug("switch could not decode a frame of a plain call")

    def _decoder(self, call: PlainCall) -> Any:
        """The call's decoder (made at its first frame), or None without audio."""
        factory = self.decoder_factory
        if factory is None:
            return None
        if call.ref not in self._decoders:
            try:
                self._decoders[call.ref] = factory(call.codec)
            except Exception:  # noqa: BLE001 - no decoder: the frames are still counted
                log.info("switch has no decoder for %s: frames counted only", call.codec)
                self._decoders[call.ref] = None
        return self._decoders[call.ref]

    # ---- end-to-end calls: what the carrier sees ------------------------------------------

    def saw_call_signal(self, envelope: Envelope) -> None:
        """A CALL envelope between two phones: only its clear hint byte and its size mean
        anything to the carrier."""
        hint = envelope.body[:1]
        key = self._pair(envelope.src, envelope.dst)
        if hint == bytes([HINT_RING]):
            self._e2e_rang[key] = None
            self._e2e_rang.move_to_end(key)
            while len(self._e2e_rang) > MAX_E2E:
                self._e2e_rang.popitem(last=False)
        if hint == bytes([HINT_RING]) and key not in self.e2e:
            self._e2e_ended.pop(key, None)
            call = self._e2e_begin(envelope.src, envelope.dst, envelope.msg_id.hex())
            call.rang = True
            self.carrier.intercept.emit(
                "IRI-CONTINUE", "e2e-call", calling=call.caller, called=call.callee,
                state="alerting", content="ciphertext", size=len(envelope.body), ref=call.ref)
        elif hint == bytes([HINT_STOP]):
            self._e2e_rang.pop(key, None)  # a new call needs a new ring
            self._e2e_end(key, "hangup signalled (end-to-end)")
        elif key in self.e2e:
            self._e2e_touch(key)

    def _e2e_begin(self, caller: str, callee: str, ref: str) -> E2eCall:
        while len(self.e2e) >= MAX_E2E:
            self._e2e_end(next(iter(self.e2e)), "no longer followed")
        call = E2eCall(ref, caller, callee, last_at=self.carrier.now())
        self.e2e[self._pair(caller, callee)] = call
        self.carrier.intercept.emit("IRI-BEGIN", "e2e-call", calling=caller, called=callee,
                                    state="setup", content="ciphertext", ref=ref)
        self._e2e_touch(self._pair(caller, callee))
        return call

    def _e2e_voice(self, src: str, dst: str, size: int) -> None:
        key = self._pair(src, dst)
        call = self.e2e.get(key)
        ended = self._e2e_ended.get(key)
        if call is None and ended is not None and self.carrier.now() - ended < E2E_AFTER_S:
            return  # the tail of the call just ended
        if call is None and key not in self._e2e_rang:
            return  # no ring the carrier saw: passed on, no record
        if call is None:
            call = self._e2e_begin(src, dst, f"voice-{self.carrier.rng.randbytes(8).hex()}")
        now = self.carrier.now()
        call.frames += 1
        call.size += size
        call.last_media = now
        if call.voice_at is None:
            call.voice_at = now
            intercept = self.carrier.intercept
            intercept.emit("IRI-CONTINUE", "e2e-call", calling=call.caller, called=call.callee,
                           state="answered", content="ciphertext", ref=call.ref)
            intercept.emit("HI3", "e2e-call", calling=call.caller, called=call.callee,
                           state="answered", content="ciphertext", size=size, frames=1,
                           ref=call.ref)
        if now - call.last_at >= 1.0:
            self._e2e_touch(key)  # the idle timer moves at most once a second

    def _e2e_touch(self, key: tuple[str, str]) -> None:
        call = self.e2e.get(key)
        if call is None:
            return
        call.last_at = self.carrier.now()
        if call.timer is not None:
            call.timer.cancel()
        with contextlib.suppress(RuntimeError):
            call.timer = asyncio.get_running_loop().call_later(E2E_IDLE_S, self._e2e_idle, key)

    def _e2e_idle(self, key: tuple[str, str]) -> None:
        call = self.e2e.get(key)
        if call is not None:
            call.timer = None
            self._e2e_end(key, "no voice or signalling (idle)", idle=True)

    def _e2e_end(self, key: tuple[str, str], reason: str, *, idle: bool = False) -> None:
        """The end of an end-to-end call as the carrier sees it; its duration runs from the
        first sealed voice to the hangup's hint (or the last sealed frame, when it went
        idle)."""
        call = self.e2e.pop(key, None)
        if call is None:
            return
        if not idle:  # idle: no frame for a while, none of it can still be in flight
            self._e2e_ended[key] = self.carrier.now()
            self._e2e_ended.move_to_end(key)
            while len(self._e2e_ended) > MAX_E2E:
                self._e2e_ended.popitem(last=False)
        if call.timer is not None:
            call.timer.cancel()
        duration = None
        if call.voice_at is not None:
            end_at = call.last_media if idle else self.carrier.now()
            duration = round(max(end_at - call.voice_at, 0.0), 3)
        intercept = self.carrier.intercept
        if call.frames:
            intercept.emit("HI3", "e2e-call", calling=call.caller, called=call.callee,
                           state="released", content="ciphertext", size=call.size,
                           frames=call.frames, ref=call.ref)
        intercept.emit("IRI-END", "e2e-call", calling=call.caller, called=call.callee,
                       state="released", duration_s=duration, release_reason=reason,
                       content="ciphertext", size=call.size, ref=call.ref)

    @staticmethod
    def _pair(a: str, b: str) -> tuple[str, str]:
        return (a, b) if a <= b else (b, a)

    # ---- records ------------------------------------------------------------------------------

    def _iri(self, call: PlainCall, record: str, **fields: object) -> None:
        self.carrier.intercept.emit(record, "call", calling=call.caller, called=call.callee,
                                    codec=call.codec, ref=call.ref.hex(), **fields)

    def _hi3(self, call: PlainCall) -> None:
        self.carrier.intercept.emit(
            "HI3", "call", calling=call.caller, called=call.callee,
            state=call.state if call.ref in self.calls else "released",
            content="decodable", codec=call.codec, frames=call.frames, size=call.size,
            ref=call.ref.hex())

"""The phone's side of the network: its ``Modem`` (registration, outbox, its end of the reliable
hop, counters) and its ``Radio`` (the link's impairment, both ways).

Between a modem and the carrier runs one reliable hop per registration (``ReliableChannel`` at
both ends); every frame on it goes through the phone's ``LinkImpairment`` (latency, jitter,
loss, rate, corruption...), on the phone's side of the hop seam (``network.py``). A message is
*sent* when the network acknowledges it and *delivered* when the recipient's phone has it,
which the network reports back. The phone de-duplicates what a carrier sends again (after a
new registration, or a carrier's restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import OrderedDict, deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from phone_tui.modem.channel import Acked, ChannelEvent, Delivered, Failed, ReliableChannel
from phone_tui.modem.frames import (
    PHONE_TO_PHONE,
    Envelope,
    EnvelopeKind,
    FrameError,
    ReportStatus,
    decode_voice,
    encode_voice,
    is_voice,
    parse_report,
    report_body,
)
from phone_tui.modem.impairment import LinkImpairment, flip_bits
from phone_tui.modem.network import NETWORK, MessageHandler, StateHandler, Uplink
from phone_tui.modem.profiles import LinkProfile
from phone_tui.modem.sms import segments
from phone_tui.modem.sms_pdu import FailureCause, SmsDeliverReport, SmsSubmit, encode_address

if TYPE_CHECKING:
    from phone_tui.modem.cells import Cell

log = logging.getLogger(__name__)

DEDUP_WINDOW = 4096


@dataclass
class ModemStats:
    bytes_up: int = 0
    bytes_down: int = 0
    frames_lost: int = 0  # dropped on this phone's link, either direction
    frames_sent: int = 0  # frames this phone's link carried, either direction
    garbled: int = 0
    voice_sent: int = 0  # voice frames this phone put on its link
    voice_received: int = 0  # voice frames off its link, intact
    rtt: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=120))


class _Driver:
    """Runs a sans-IO channel on the loop: sends what it wants sent, arms its timer (for
    retransmissions and for delayed acknowledgements)."""

    def __init__(self, channel: ReliableChannel, send: Callable[[bytes], None],
                 on_events: Callable[[list[ChannelEvent]], None]) -> None:
        self.channel = channel
        self._send = send
        self._on_events = on_events
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False

    def kick(self) -> None:
        if self.closed:
            return
        for frame in self.channel.transmit():
            self._send(frame)
        self._arm()

    def _arm(self) -> None:
        # An armed timer stays unless the channel now needs it sooner (an acknowledgement owed,
        # a new frame behind a backed-off one): one that fires early just re-arms. (Re-arming
        # on every frame was the hot path's largest cost.) An ack owed "at once" is due now: it
        # goes on the next loop turn, after the rest of a burst that arrived together.
        deadline = self.channel.next_deadline()
        if deadline is None or self.closed:
            return
        timer = self._timer
        if timer is not None:
            if timer.when() <= deadline:
                return
            timer.cancel()
        self._timer = asyncio.get_running_loop().call_at(deadline, self._timeout)

    def _timeout(self) -> None:
        self._timer = None
        if self.closed:
            return
        events = self.channel.on_timeout(asyncio.get_running_loop().time())
        self.kick()
        if events:
            self._on_events(events)

    def close(self) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class Modem:
    """A phone's attachment to the network: its link, registration, outbox and counters."""

    def __init__(self, number: str, profile: LinkProfile, rng: random.Random,
                 on_message: MessageHandler, on_state: StateHandler) -> None:
        self.number = number
        self.link = LinkImpairment(profile, rng)
        self.radio = Radio(self)
        self.airplane = False
        # Off: the line exists (the network holds its messages) but does not register. A
        # dual-OS handset keeps the line of the OS that is not running switched off.
        self.powered = True
        self.stats = ModemStats()
        self._rng = rng
        self._on_message = on_message
        self._on_state = on_state
        self._held: deque[bytes] = deque()  # envelopes waiting for service
        self._driver: _Driver | None = None
        self._seq_to_msg: dict[int, bytes] = {}
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        # What the batch open now changed in memory, to undo if it is not kept: envelopes
        # marked seen, and states told (message id, the state before).
        self._newly_seen: list[bytes] = []
        self._told: list[tuple[bytes, str]] = []
        self._inbox: list[bytes] = []  # frames off the link this loop tick, not taken yet
        self._outgoing: dict[bytes, str] = {}  # message id → last state told, until final
        self.listeners: list[Callable[[Modem], None]] = []
        # A call's media packets from another phone: (its number, the sealed packet).
        self.on_voice: Callable[[str, bytes], None] | None = None
        # Call control of a plain carrier call from the voice switch (a CC envelope: cc.py).
        self.on_cc: Callable[[Envelope], None] | None = None
        # The phone's store transaction for a burst of frames (its messenger's batch): what
        # they carried is committed before their delivery reports and hop acknowledgements
        # leave. The default leaves it to ``on_message`` (which commits before it returns).
        self.batch: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext
        # The cells this phone's radio can see (the network says, ``set_cells``) and the one it
        # camped on (the phone decides, ``camp``): None until it chose (or no cell is allowed).
        self.cells: tuple[Cell, ...] = ()
        self.camped: Cell | None = None
        # Plain SMS from the carrier's SMS centre (an SMS envelope: DELIVER, STATUS-REPORT or
        # SUBMIT-REPORT as its body, unread here): returns a TPDU to send back (a refusal,
        # sms_pdu.SmsDeliverReport) or None. None here: every SMS-DELIVER is refused.
        self.on_sms: Callable[[Envelope], bytes | None] | None = None
        self._sms_ref: int | None = None  # TP-MR of the next SMS (drawn at the first)
        self._sms_taken = False  # an SMS was kept in this burst: its hop ack goes at once

    # ---- state --------------------------------------------------------------------------------

    def connect(self, uplink: Uplink) -> None:
        """Put this phone on a carrier, through ``uplink`` (its end of the hop seam; the
        carrier calls ``self.radio``): it registers if it is in service."""
        self.radio.uplink = uplink
        uplink.registration(self.in_service)

    @staticmethod
    def now() -> float:
        """The phone's clock for its link and its hop: the loop's time."""
        return asyncio.get_running_loop().time()

    @property
    def profile(self) -> LinkProfile:
        return self.link.profile

    @property
    def registration(self) -> str:
        return "unregistered" if self.airplane or not self.powered \
            else self.profile.registration

    @property
    def bars(self) -> int:
        return 0 if not self.in_service else self.profile.bars

    @property
    def in_service(self) -> bool:
        return self.powered and not self.airplane and self.profile.in_service

    def set_profile(self, profile: LinkProfile) -> None:
        self.link.profile = profile
        self._registration_changed()
        self._changed()

    def set_airplane(self, on: bool) -> None:
        self.airplane = on
        self._registration_changed()
        self._changed()

    def set_powered(self, on: bool) -> None:
        self.powered = on
        self._registration_changed()
        self._changed()

    def set_cells(self, cells: tuple[Cell, ...]) -> None:
        """The cells around this phone changed (one appeared or went): its listeners choose
        again."""
        if cells != self.cells:
            self.cells = tuple(cells)
            self._changed()

    def camp(self, cell: Cell | None, disclosed: dict[str, str] | None = None) -> None:
        """The phone camped on ``cell`` (None: none it may use) after answering the cells'
        identity requests with ``disclosed`` ({"imsi": ..., "imei": ...}, what it sent in
        clear): the network hears it on the uplink."""
        self.camped = cell
        uplink = self.radio.uplink
        camp = getattr(uplink, "camp", None)  # a seam that carries no cell choice ignores it
        if camp is not None:
            camp(cell.id if cell is not None else "", dict(disclosed or {}))

    def _registration_changed(self) -> None:
        uplink = self.radio.uplink
        if uplink is not None:
            uplink.registration(self.in_service)

    def _changed(self) -> None:
        for listener in list(self.listeners):
            listener(self)

    # ---- sending ------------------------------------------------------------------------------

    def new_id(self) -> bytes:
        """A fresh message id, for a message handed to ``send`` later."""
        return self._rng.randbytes(16)

    def send(self, dst: str, body: bytes, *, msg_id: bytes | None = None,
             kind: EnvelopeKind = EnvelopeKind.MESSAGE) -> bytes:
        """Queue a message (or a call's signalling, ``kind=CALL``) to ``dst`` (with ``msg_id``
        from ``new_id``, or a fresh one); returns its id. States follow through ``on_state``:
        sent, then delivered, failed or (a call's, for a line not registered) unavailable."""
        if kind not in PHONE_TO_PHONE:
            raise ValueError(f"{kind.name} is not sent to a phone")
        if msg_id is None:
            msg_id = self.new_id()
        self._outgoing[msg_id] = "sending"
        self._submit(Envelope(kind, msg_id, self.number, dst, body).encode())
        return msg_id

    def send_cc(self, other: str, body: bytes) -> None:
        """Call control of a plain carrier call (cc.py's body) to the carrier's voice switch,
        about the call with ``other``: on the reliable hop, no delivery report; without
        service it waits like a message (the switch drops what is stale)."""
        self._submit(Envelope(EnvelopeKind.CC, self.new_id(), self.number, other,
                              body).encode())

    def send_sms(self, dst: str, text: str, report: bool = True,
                 validity: float | None = None) -> tuple[int, int]:
        """A plain SMS to ``dst`` through the carrier's SMS centre: one SMS-SUBMIT envelope a
        part. Returns (its message reference, its parts); the SMSC's SUBMIT-REPORT and (with
        ``report``) STATUS-REPORT come back through ``on_sms``. Raises ValueError for a number
        an SMS cannot carry, sms.SmsTooLong past 255 parts."""
        encode_address(dst)
        if self._sms_ref is None:
            # Drawn here, not at attach: a line that never texts leaves its link's random
            # stream (losses, jitter) as it was.
            self._sms_ref = self._rng.randrange(256)
        ref, self._sms_ref = self._sms_ref, (self._sms_ref + 1) & 0xFF
        parts = segments(text, ref)
        for part in parts:
            body = SmsSubmit(ref, dst, part, validity, report).encode()
            self._submit(Envelope(EnvelopeKind.SMS, self.new_id(), self.number, NETWORK,
                                  body).encode())
        return ref, len(parts)

    def send_voice(self, dst: str, packet: bytes) -> None:
        """One real-time frame (a call's sealed media packet) to ``dst``: through this link's
        impairment like any frame, never retransmitted or stored; dropped quietly without
        service (a call notices the silence)."""
        if self._driver is None:
            return
        self.stats.voice_sent += 1
        self.radio.transmit(encode_voice(dst, packet))

    def _receive_voice(self, data: bytes) -> None:
        if self._driver is None:
            return
        try:
            src, packet = decode_voice(data)
        except FrameError:
            self.stats.garbled += 1
            return
        self.stats.voice_received += 1
        if self.on_voice is not None:
            self.on_voice(src, packet)

    def has_outgoing(self, msg_id: bytes) -> bool:
        """True while a message sent in this run has not reached a final state (it is still
        in this modem's outbox, or on its way)."""
        return msg_id in self._outgoing

    def ping(self) -> None:
        """A keep-alive to the network (only while registered): keeps the RTT figure fresh."""
        if self._driver is not None and self._driver.channel.idle:
            self._submit(Envelope(EnvelopeKind.PING, self._rng.randbytes(16), self.number,
                                  NETWORK, b"").encode())

    def _submit(self, envelope: bytes) -> None:
        if self._driver is None:
            self._held.append(envelope)
            return
        seq = self._driver.channel.send(envelope, self.now())
        self._seq_to_msg[seq] = envelope
        self._driver.kick()

    def forget_outbox(self) -> None:
        """The phone was wiped: what its outbox still holds (encrypted for keys that no longer
        exist) is not sent."""
        self._held.clear()
        self._outgoing.clear()

    # ---- session with the network (called through ``self.radio``) -----------------------------

    def _open(self, session: int) -> None:
        self._driver = _Driver(ReliableChannel(session), self.radio.transmit, self._on_channel)
        self._seq_to_msg.clear()
        held, self._held = self._held, deque()
        for envelope in held:
            self._submit(envelope)

    def _close(self) -> None:
        if self._driver is None:
            return
        pending = self._driver.channel.pending()
        self._driver.close()
        self._driver = None
        self._held.extendleft(reversed(pending))  # resent, in order, on the next registration

    def _receive(self, data: bytes) -> None:
        """A frame off the radio link. The frames that arrive in one loop tick are taken
        together, as one batch of the phone's store (one transaction for the burst)."""
        if self._driver is None:
            return  # arrived after we dropped off the network: the network still holds it
        if not self._inbox:
            asyncio.get_running_loop().call_soon(self._drain)
        self._inbox.append(data)

    def _drain(self) -> None:
        inbox, self._inbox = self._inbox, []
        driver = self._driver
        if driver is None:
            return  # dropped off the network meanwhile: the network still holds them
        events: list[ChannelEvent] = []
        now = self.now()
        for data in inbox:
            try:
                events += driver.channel.receive(data, now)
            except FrameError as problem:
                self.stats.garbled += 1
                log.debug("%s dropped a garbled frame: %s", self.number, problem)
        # The hop acknowledgements of these frames leave only after what they carried is in the
        # phone's store (committed in _on_channel): the network drops its copy on that ack.
        self._on_channel(events)
        driver.kick()

    def _on_channel(self, events: list[ChannelEvent]) -> None:
        """A burst of channel events: one batch of the phone's store for all of them; the
        reports they call for are sent once it committed. A batch that cannot commit is done
        again event by event, so one failure does not cost the others."""
        if not events:
            return
        if all(isinstance(event, Acked) and self._seq_to_msg.get(event.seq, b"\0")[0]
               not in PHONE_TO_PHONE for event in events):
            # Only acknowledgements of keep-alives and reports: nothing for the store (an idle
            # phone's ping every few seconds must not cost it an empty transaction).
            for event in events:
                self._on_event(event)
            return
        self._newly_seen, self._told = [], []
        try:
            with self.batch():
                reports = [report for event in events for report in self._on_event(event)]
        except Exception as problem:  # noqa: BLE001 - the store failed: none of it was kept
            log.error("%s could not keep a burst of %d frame(s) (%s); taking them one by one",
                      self.number, len(events), type(problem).__name__)
            self._undo()
            reports = []
            for event in events:
                try:
                    with self.batch():
                        taken = self._on_event(event)
                except Exception as again:  # noqa: BLE001
                    self._undo()
                    taken = self._refused(event, again)
                reports.extend(taken)
                self._newly_seen, self._told = [], []
        self._newly_seen, self._told = [], []
        for report in reports:
            self._submit(report)
        if self._sms_taken:
            # An SMS kept says so by the hop's ack alone (no report rides back on it): it goes
            # now, once the store committed, not after the ack delay (the SMS centre sends a
            # line's next part only then: 40 ms a part).
            self._sms_taken = False
            if self._driver is not None:
                self._driver.channel.ack_soon(self.now())
                self._driver.kick()

    def _undo(self) -> None:
        """Forget what a batch that was not kept changed here: its envelopes are taken afresh
        when they come again, its states told again."""
        for key in self._newly_seen:
            self._seen.pop(key, None)
        for msg_id, last in reversed(self._told):
            self._outgoing[msg_id] = last
        self._newly_seen, self._told = [], []

    def _refused(self, event: ChannelEvent, problem: Exception) -> list[bytes]:
        """A frame whose batch could not commit on its own: a message is reported failed."""
        if not isinstance(event, Delivered):
            log.error("%s lost a state update: %s", self.number, type(problem).__name__)
            return []
        try:
            envelope = Envelope.decode(event.payload)
        except FrameError:
            return []
        if envelope.kind is EnvelopeKind.SMS and envelope.src == NETWORK:
            # Not kept: refused, so the SMS centre tries again (its hop ack alone would say
            # delivered).
            return [Envelope(EnvelopeKind.SMS, self.new_id(), self.number, NETWORK,
                             SmsDeliverReport(FailureCause.MS_ERROR).encode()).encode()]
        if envelope.kind not in PHONE_TO_PHONE:
            return []
        return [self._failed_report(envelope)]

    def _failed_report(self, envelope: Envelope) -> bytes:
        log.error("%s could not take a message from %s", self.number, envelope.src)
        return Envelope(EnvelopeKind.REPORT, envelope.msg_id, self.number, envelope.src,
                        report_body(ReportStatus.FAILED,
                                    "the recipient's phone could not store it")).encode()

    def _on_event(self, event: ChannelEvent) -> list[bytes]:
        """Act on one channel event; returns the reports to send once the batch committed."""
        if isinstance(event, Acked):
            envelope = self._seq_to_msg.pop(event.seq, None)
            if event.rtt is not None:
                self.stats.rtt.append((self.now(), event.rtt))
            if envelope is not None and envelope[0] in PHONE_TO_PHONE:
                self._advance(Envelope.decode(envelope).msg_id, "sent", "")
        elif isinstance(event, Failed):
            # The network never acknowledged it (the link is that bad): the user is told
            # and may send it again. Reports and keep-alives are given up quietly.
            self._seq_to_msg.pop(event.seq, None)
            log.warning("%s: %s", self.number, event.reason)
            if self.radio.uplink is not None:
                self.radio.uplink.restart_session()
            if event.payload[:1] and event.payload[0] in PHONE_TO_PHONE:
                self._advance(Envelope.decode(event.payload).msg_id, "failed",
                              f"the network did not answer ({event.reason})",
                              left_phone=False)
        elif isinstance(event, Delivered):
            report = self._take(event.payload)
            if report is not None:
                return [report]
        return []

    def _deliver(self, payload: bytes) -> None:
        """One envelope, as if it came alone off the hop (its report sent once kept)."""
        self._on_channel([Delivered(payload)])

    def _take(self, payload: bytes) -> bytes | None:
        """Take one envelope; returns the report to send for it (once the batch committed)."""
        try:
            envelope = Envelope.decode(payload)
        except FrameError as problem:
            self.stats.garbled += 1
            log.debug("%s dropped a malformed envelope: %s", self.number, problem)
            return None
        key = bytes([envelope.kind]) + envelope.msg_id
        if key in self._seen:
            return None  # delivered before, under an earlier registration
        self._seen[key] = None
        self._newly_seen.append(key)
        while len(self._seen) > DEDUP_WINDOW:
            self._seen.popitem(last=False)
        if envelope.kind is EnvelopeKind.CC:
            if self.on_cc is not None:
                try:
                    self.on_cc(envelope)
                except Exception:  # noqa: BLE001 - the rest of the batch still arrives
                    log.exception("%s could not take call control", self.number)
            return None
        if envelope.kind is EnvelopeKind.SMS:
            return self._take_sms(key, envelope)
        if envelope.kind in PHONE_TO_PHONE:
            try:
                self._on_message(envelope)
            except Exception as problem:  # noqa: BLE001 - the rest of the batch still arrives
                # The phone could not keep it (its storage failed): "delivered" would be a lie,
                # and it was not seen: the same envelope again is taken afresh.
                self._seen.pop(key, None)
                log.error("%s could not take a message from %s: %s", self.number, envelope.src,
                          type(problem).__name__)
                return self._failed_report(envelope)
            return Envelope(EnvelopeKind.REPORT, envelope.msg_id, self.number, envelope.src,
                            report_body(ReportStatus.DELIVERED)).encode()
        try:
            status, reason = parse_report(envelope.body)
        except FrameError:
            self.stats.garbled += 1
            return None
        state = _REPORT_STATES[status]
        if envelope.msg_id not in self._outgoing:
            # Sent before a restart (this modem never saw it): the messenger knows it by id.
            self._on_state(envelope.msg_id, state, reason)
            return None
        self._advance(envelope.msg_id, state, reason)
        return None

    def _take_sms(self, key: bytes, envelope: Envelope) -> bytes | None:
        """An SMS from the carrier's SMS centre, to ``on_sms``; what it answers goes back up.
        One that cannot be kept (no taker, or the store failed) is refused, so the SMSC keeps
        it and tries again."""
        if envelope.src != NETWORK:
            self.stats.garbled += 1
            return None
        refusal = SmsDeliverReport(FailureCause.MS_ERROR).encode()
        if self.on_sms is None:
            reply: bytes | None = refusal
        else:
            try:
                reply = self.on_sms(envelope)
            except Exception as problem:  # noqa: BLE001 - the rest of the batch still arrives
                log.error("%s could not take an SMS: %s", self.number, type(problem).__name__)
                reply = refusal
        if reply is not None and reply[:1] == refusal[:1]:
            self._seen.pop(key, None)  # a refusal: taken afresh when the SMSC tries again
        if reply is None:
            self._sms_taken = True
            return None
        return Envelope(EnvelopeKind.SMS, self.new_id(), self.number, NETWORK, reply).encode()

    def _advance(self, msg_id: bytes, state: str, reason: str, *,
                 left_phone: bool = True) -> None:
        """Tell states in order, once each: sending → sent → delivered or failed. A report can
        overtake the network's acknowledgement; the message had left the phone all the same."""
        last = self._outgoing.get(msg_id)
        if last is None or last == state:
            return
        if state != "sent" and last == "sending" and left_phone:
            self._on_state(msg_id, "sent", "")
        self._on_state(msg_id, state, reason)
        self._told.append((msg_id, last))
        if state == "sent":
            self._outgoing[msg_id] = state
        else:
            del self._outgoing[msg_id]


_REPORT_STATES = {ReportStatus.DELIVERED: "delivered", ReportStatus.FAILED: "failed",
                  ReportStatus.UNAVAILABLE: "unavailable"}


class Radio:
    """A phone's radio link, on the phone's side of the hop seam: it runs the link's impairment
    both ways (a frame up before it reaches ``Uplink.send``; a frame the carrier ``deliver``s
    on its way to the modem), so all of it runs in the phone's process. It is the ``PhoneEnd``
    the carrier calls."""

    def __init__(self, modem: Modem) -> None:
        self.modem = modem
        self.uplink: Uplink | None = None  # the carrier's end, once attached
        # Where a frame goes on the air, either way: this link (``carry``). The in-process bus
        # puts its own hook in front (``Bus._carry``, where tests watch and drop frames).
        self.air: Callable[[bytes, str], None] = self.carry

    def transmit(self, frame: bytes) -> None:
        """A frame from the modem, up its link."""
        self.air(frame, "up")

    # ---- PhoneEnd -----------------------------------------------------------------------------

    def deliver(self, frame: bytes) -> None:
        self.air(frame, "down")

    def opened(self, session: int) -> None:
        self.modem._open(session)

    def closed(self) -> None:
        self.modem._close()

    # ---- the link -----------------------------------------------------------------------------

    def carry(self, frame: bytes, direction: str) -> None:
        """Put a frame on this link, in ``direction`` ("up" or "down"): it arrives (at the
        carrier's ``Uplink`` or at the modem) when and as the link's impairment decides."""
        modem = self.modem
        loop = asyncio.get_running_loop()
        now = loop.time()
        decision = modem.link.decide(len(frame), direction, now)
        modem.stats.frames_sent += 1
        if not decision.delivered:
            modem.stats.frames_lost += 1
            return
        callback = self._arrived_up if direction == "up" else self._arrived_down
        for index, when in enumerate(decision.arrivals):
            data = flip_bits(frame, decision.flipped_bits) if index == 0 else frame
            # A frame due now (a link with no latency) goes on the next loop turn, in the
            # order sent, without a timer: the timer heap was a tenth of the hop's cost.
            if when <= now:
                loop.call_soon(callback, data)
            else:
                loop.call_at(when, callback, data)

    def _arrived_up(self, data: bytes) -> None:
        uplink = self.uplink
        if uplink is not None:
            self.modem.stats.bytes_up += len(data)
            uplink.send(data)

    def _arrived_down(self, data: bytes) -> None:
        modem = self.modem
        modem.stats.bytes_down += len(data)
        if is_voice(data):
            modem._receive_voice(data)
        else:
            modem._receive(data)

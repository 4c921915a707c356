"""The emulated carrier network on asyncio: registration, routing by number, store-and-forward,
a key directory and the operator tap.

Each attached phone has a ``Modem``. Between a modem and the network runs one reliable hop per
registration (``ReliableChannel`` at both ends); every frame on it goes through the phone's
``LinkImpairment`` (latency, jitter, loss, rate, corruption...). A message is *sent* when the
network acknowledges it and *delivered* when the recipient's phone has it, which the network
reports back. Messages for a phone that is not registered wait in store-and-forward (per
recipient, in order, with a TTL and a cap), and so do those a phone had not acknowledged when
it dropped off the network; a registered phone has at most one hop window in flight, the rest
waiting (cap and TTL included) until it acknowledges.

Given a folder, the carrier keeps what must survive a restart there: the key directory's view
(``directory.json``) and the mailbox (``mailbox.db``, one transaction per loop tick after a
change). The mailbox is the carrier's durable queue: every envelope it sends down to a phone stays
in the file, in flight, until that phone's hop acknowledges it, so a carrier killed at any point
delivers it again after a restart (the phone de-duplicates) instead of losing what its sender was
told was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Protocol

from phone_tui.core.fanout import Fanout
from phone_tui.core.paths import ensure_private_dir
from phone_tui.modem.channel import Acked, ChannelEvent, Delivered, Failed, ReliableChannel
from phone_tui.modem.directory import DIRECTORY_FILE, KeyDirectory
from phone_tui.modem.frames import (
    PHONE_TO_PHONE,
    Envelope,
    EnvelopeKind,
    FrameError,
    HopFrame,
    HopKind,
    ReportStatus,
    decode_voice,
    encode_voice,
    is_voice,
    media_content,
    parse_report,
    report_body,
)
from phone_tui.modem.impairment import LinkImpairment, flip_bits
from phone_tui.modem.mailbox import MAILBOX_FILE, Mailboxes, MailboxFile
from phone_tui.modem.profiles import LinkProfile

log = logging.getLogger(__name__)

DEFAULT_TTL = 24 * 3600.0
DEFAULT_STORE_CAP = 1000
DEDUP_WINDOW = 4096
SAVE_RETRY_FIRST = 0.5  # a failed mailbox save is tried again after this, doubling…
SAVE_RETRY_MAX = 10.0  # …up to this
CLOSE_ATTEMPTS = 4  # saves tried when the carrier stops (0.05 + 0.1 + 0.2 s between them)
NETWORK = "network"
ECHO_NUMBER = "echo"  # the network's test service: returns every message to its sender


# ---- the operator tap ---------------------------------------------------------------------------


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


class OperatorTap:
    """Every frame crossing the network, fanned out to bounded subscriber queues.

    A slow reader never stalls the network: when its queue is full the oldest record is
    dropped and counted.
    """

    def __init__(self, history: int = 512) -> None:
        self.recent: deque[TapRecord] = deque(maxlen=history)
        self._fanout: Fanout[TapRecord] = Fanout()
        self.total = 0

    def clear(self) -> None:
        """Forget what was seen (a stage reset); subscribers keep reading new frames."""
        self.recent.clear()

    @property
    def dropped(self) -> int:
        """Records slow readers lost."""
        return self._fanout.dropped

    def publish(self, record: TapRecord) -> None:
        self.total += 1
        self.recent.append(record)
        self._fanout.publish(record)

    def records(self, maxsize: int = 1000) -> AsyncIterator[TapRecord]:
        return self._fanout.subscribe(maxsize)


# ---- the network interface ----------------------------------------------------------------------


MessageHandler = Callable[[Envelope], None]
StateHandler = Callable[[bytes, str, str], None]  # msg_id, "sent"/"delivered"/"failed", reason


class Network(Protocol):
    """What a handset needs from the network; another implementation may carry frames between
    processes."""

    tap: OperatorTap

    def attach(self, number: str, profile: LinkProfile, *, on_message: MessageHandler,
               on_state: StateHandler) -> Modem: ...

    def publish_keys(self, number: str, bundle: bytes,
                     one_time: dict[int, bytes] | None = None) -> None: ...

    def fetch_keys(self, number: str) -> tuple[bytes, tuple[int, bytes] | None] | None: ...

    def one_time_keys_left(self, number: str) -> int: ...

    def has_keys(self, number: str) -> bool: ...

    def is_attached(self, number: str) -> bool: ...

    def waiting(self, number: str) -> int: ...

    def forge(self, number: str) -> ForgedLine: ...

    def forget_keys(self, number: str) -> None: ...

    def peek_bundle(self, number: str) -> bytes | None: ...


# ---- the phone's side ---------------------------------------------------------------------------


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

    def __init__(self, bus: Bus, number: str, profile: LinkProfile, rng: random.Random,
                 on_message: MessageHandler, on_state: StateHandler) -> None:
        self.bus = bus
        self.number = number
        self.link = LinkImpairment(profile, rng)
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
        # The phone's store transaction for a burst of frames (its messenger's batch): what
        # they carried is committed before their delivery reports and hop acknowledgements
        # leave. The default leaves it to ``on_message`` (which commits before it returns).
        self.batch: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext

    # ---- state --------------------------------------------------------------------------------

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
        self.bus._update_registration(self)
        self._changed()

    def set_airplane(self, on: bool) -> None:
        self.airplane = on
        self.bus._update_registration(self)
        self._changed()

    def set_powered(self, on: bool) -> None:
        self.powered = on
        self.bus._update_registration(self)
        self._changed()

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

    def send_voice(self, dst: str, packet: bytes) -> None:
        """One real-time frame (a call's sealed media packet) to ``dst``: through this link's
        impairment like any frame, never retransmitted or stored; dropped quietly without
        service (a call notices the silence)."""
        if self._driver is None:
            return
        self.stats.voice_sent += 1
        self.bus._carry(self, encode_voice(dst, packet), "up")

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
        seq = self._driver.channel.send(envelope, self.bus.now())
        self._seq_to_msg[seq] = envelope
        self._driver.kick()

    # ---- session with the network (called by the bus) -----------------------------------------

    def _open(self, session: int) -> None:
        self._driver = _Driver(ReliableChannel(session), self._uplink, self._on_channel)
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

    def _uplink(self, frame: bytes) -> None:
        self.bus._carry(self, frame, "up")

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
        now = self.bus.now()
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
                self.stats.rtt.append((self.bus.now(), event.rtt))
            if envelope is not None and envelope[0] in PHONE_TO_PHONE:
                self._advance(Envelope.decode(envelope).msg_id, "sent", "")
        elif isinstance(event, Failed):
            # The network never acknowledged it (the link is that bad): the user is told
            # and may send it again. Reports and keep-alives are given up quietly.
            self._seq_to_msg.pop(event.seq, None)
            log.warning("%s: %s", self.number, event.reason)
            self.bus._restart_session_soon(self.number)
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


# ---- the network's side -------------------------------------------------------------------------


class ForgedLine:
    """The carrier's own power: messages that claim to come from ``number`` without its SIM.
    What a man in the middle inside the network does; the demo stage uses it to show that
    end-to-end encryption turns such a forgery into a safety-number warning."""

    def __init__(self, bus: Bus, number: str) -> None:
        self.bus = bus
        self.number = number

    def new_id(self) -> bytes:
        return self.bus.rng.randbytes(16)

    def send_voice(self, dst: str, packet: bytes) -> None:
        """A voice frame to ``dst`` as if from ``number`` (down ``dst``'s link)."""
        self.bus._voice_down(self.number, dst, packet)

    def send(self, dst: str, body: bytes, *, msg_id: bytes | None = None,
             kind: EnvelopeKind = EnvelopeKind.MESSAGE) -> bytes:
        msg_id = msg_id or self.new_id()
        envelope = Envelope(kind, msg_id, self.number, dst, body)
        if dst in self.bus._subscribers:
            self.bus._deliver_or_store(dst, envelope.encode(), envelope)
        return msg_id


@dataclass
class _Stored:
    expires: float  # loop time
    envelope: bytes
    position: int = 0  # its place in its number's queue (the mailbox file's order)
    row: int | None = None  # its row in the mailbox file, once written
    gone: bool = False  # acknowledged, expired or purged: not to be written


@dataclass
class _Subscriber:
    modem: Modem
    driver: _Driver | None = None
    session: int = 0
    # Sent down to the phone and not acknowledged yet, by the network channel's seq: still
    # rows in the mailbox file until the phone's hop acknowledges them.
    in_flight: dict[int, _Stored] = field(default_factory=dict)


@dataclass
class BusStats:
    garbled: int = 0
    routed: int = 0
    stored: int = 0
    expired: int = 0
    rejected: int = 0
    voice_routed: int = 0  # voice frames passed on to a registered line
    voice_dropped: int = 0  # voice frames garbled, or for a line not registered
    intercepted: int = 0  # messages and call signalling the carrier's own hand took


class Bus:
    """The carrier's network: one cell, any number of phones."""

    def __init__(self, rng: random.Random | None = None, *, cell: str = "GovNet-0001",
                 ttl: float = DEFAULT_TTL, store_cap: int = DEFAULT_STORE_CAP,
                 folder: Path | None = None, wall: Callable[[], float] = time.time) -> None:
        """``folder``: keep the key directory and the mailbox there (None: in memory only).
        A damaged file raises CarrierStateError naming it."""
        self.rng = rng or random.Random()
        self.folder = folder
        self._wall = wall
        self._mailbox: MailboxFile | None = None
        self._restored: Mailboxes = {}  # read from the file, not yet on loop time
        # Since the last save: envelopes to write (by number) and rows to delete.
        self._unsaved: list[tuple[str, _Stored]] = []
        self._gone: list[int] = []
        self._offset: float | None = None  # wall-clock time minus loop time
        self._save_pending: asyncio.Handle | None = None  # a save this tick, or a retry
        self._save_delay = SAVE_RETRY_FIRST  # the wait before retrying a failed save
        self._back = 0  # the next position at the back of a queue
        if folder is not None:
            ensure_private_dir(folder)
            self.directory = KeyDirectory(folder / DIRECTORY_FILE)
            self._mailbox = MailboxFile(folder / MAILBOX_FILE)
            try:
                self._restored = self._mailbox.load()
            except BaseException:
                self._mailbox.close()
                raise
            self._back = max((entry.position for entries in self._restored.values()
                              for entry in entries), default=-1) + 1
        else:
            self.directory = KeyDirectory()
        self.cell = cell
        self.ttl = ttl
        self.store_cap = store_cap
        self.tap = OperatorTap()
        self.stats = BusStats()
        self._subscribers: dict[str, _Subscriber] = {}
        self._restarting: set[str] = set()  # lines whose session restarts on the next turn
        self._store: dict[str, deque[_Stored]] = {}
        self._sweep: asyncio.TimerHandle | None = None
        # The carrier's own hand on calls (a man in the middle): sees each voice frame (from,
        # to, packet) before it is routed; True means it took it.
        self.voice_interceptor: Callable[[str, str, bytes], bool] | None = None
        # The same hand on messages and call signalling between phones: sees each envelope
        # (from, to, envelope) after the sender check, before it is routed; True means it took
        # it (nothing is stored or reported for it: delivery reports come from whoever gets it).
        self.interceptor: Callable[[str, str, Envelope], bool] | None = None

    @staticmethod
    def now() -> float:
        return asyncio.get_running_loop().time()

    # ---- the mailbox on disk ------------------------------------------------------------------

    def _restore(self) -> None:
        """Put what the file held back in the mailboxes, on this loop's time (once, at the
        first attachment or routing inside the loop: the file may be read before it runs)."""
        if self._offset is not None:
            return
        try:
            now = asyncio.get_running_loop().time()
        except RuntimeError:
            return  # attached before the loop runs: restored when it does
        self._offset = self._wall() - now
        restored, self._restored = self._restored, {}
        for number, entries in restored.items():
            queue = self._store.setdefault(number, deque())
            queue.extendleft(_Stored(entry.expires - self._offset, entry.envelope,
                                     entry.position, entry.row)
                             for entry in reversed(entries))
        if restored:
            log.info("store-and-forward: %d message(s) restored",
                     sum(len(entries) for entries in restored.values()))
            self._arm_sweep()
        for number in restored:  # phones that registered before the loop ran
            sub = self._subscribers.get(number)
            if sub is not None and sub.driver is not None:
                self._flush_store(sub)

    def _keep(self, number: str, stored: _Stored) -> None:
        """A new envelope for ``number``'s queue or in flight to it: written at the end of this
        loop tick."""
        if self._mailbox is not None:
            self._unsaved.append((number, stored))
            self._schedule_save()

    def _drop(self, stored: _Stored) -> None:
        """An envelope the carrier is done with (acknowledged by its phone, expired, purged):
        its row goes at the end of this loop tick (or it is never written)."""
        stored.gone = True
        if stored.row is not None:
            self._gone.append(stored.row)
            stored.row = None
            self._schedule_save()

    def _schedule_save(self) -> None:
        """Save at the end of this loop tick: one transaction per burst of work, writing only
        the envelopes that came and went. It runs before any callback scheduled later in the
        tick, e.g. the acknowledgement that tells a sender its message was sent."""
        if self._mailbox is None or self._save_pending is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # outside the loop (a reset after it stopped): save now
            self._save_mailbox()
            return
        self._save_pending = loop.call_soon(self._save_mailbox)

    def _save_mailbox(self) -> bool:
        """Write what came and went since the last save; True when the file has it all. A
        failed write (a full disk, the file locked by another process) keeps the batch and
        tries again later, backing off: nothing the carrier holds is forgotten."""
        self._save_pending = None
        if self._mailbox is None:
            return True
        offset = self._offset or 0.0
        inserts: list[tuple[str, int, float, bytes]] = []
        new: list[_Stored] = []
        for number, stored in self._unsaved:
            if not stored.gone and stored.row is None:
                inserts.append((number, stored.position, stored.expires + offset,
                                stored.envelope))
                new.append(stored)
        if not inserts and not self._gone:
            self._unsaved.clear()
            return True
        try:
            rows = self._mailbox.apply(inserts, self._gone)
        except sqlite3.Error as problem:
            self._save_failed(problem, len(inserts))
            return False
        # Only now is the batch in the file (apply runs on the loop: nothing was added since).
        self._unsaved, self._gone = [], []
        for stored, row in zip(new, rows, strict=True):
            stored.row = row
        if self._save_delay != SAVE_RETRY_FIRST:
            log.warning("store-and-forward mailbox: saved again")
            self._save_delay = SAVE_RETRY_FIRST
        return True

    def _save_failed(self, problem: sqlite3.Error, waiting: int) -> None:
        """One warning per failed attempt (no content), and a retry after a growing delay."""
        delay = self._save_delay
        self._save_delay = min(delay * 2, SAVE_RETRY_MAX)
        log.warning("store-and-forward mailbox %s: could not save %d envelope(s) (%s); "
                    "trying again in %.1f s", self._mailbox.path if self._mailbox else "",
                    waiting, type(problem).__name__, delay)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (close() retries itself): the batch waits for the next save
        self._save_pending = loop.call_later(delay, self._save_mailbox)

    def close(self) -> None:
        """The carrier stops (phone-tui quits): keep the mailbox, with what is still in flight
        to a phone (rows already), for the next run. Works with or without a running loop; a
        file that stays busy is tried a few times (under a second in all), then given up with a
        warning."""
        if self._save_pending is not None:
            self._save_pending.cancel()
            self._save_pending = None
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        pause = 0.05
        for attempt in range(CLOSE_ATTEMPTS):
            if self._save_mailbox():
                break
            if self._save_pending is not None:
                self._save_pending.cancel()
                self._save_pending = None
            if attempt + 1 < CLOSE_ATTEMPTS:
                time.sleep(pause)
                pause *= 2
        else:
            log.warning("store-and-forward mailbox: %d change(s) could not be saved and are lost",
                        len(self._unsaved) + len(self._gone))
        if self._mailbox is not None:
            self._mailbox.close()
            self._mailbox = None

    # ---- attachment and registration ----------------------------------------------------------

    def attach(self, number: str, profile: LinkProfile, *, on_message: MessageHandler,
               on_state: StateHandler, powered: bool = True) -> Modem:
        """A line on the network. ``powered=False``: known (messages to it are held) but not
        registered until ``modem.set_powered(True)``."""
        if number in self._subscribers:
            raise ValueError(f"{number} is already attached")
        self._restore()
        rng = random.Random(self.rng.getrandbits(64))
        modem = Modem(self, number, profile, rng, on_message, on_state)
        modem.powered = powered
        self._subscribers[number] = _Subscriber(modem)
        self._update_registration(modem)
        return modem

    def detach(self, number: str) -> None:
        """The phone is switched off: what it had not acknowledged waits in store-and-forward."""
        sub = self._subscribers.get(number)
        if sub is not None:
            sub.modem.set_powered(False)

    def is_attached(self, number: str) -> bool:
        return number in self._subscribers

    def is_registered(self, number: str) -> bool:
        sub = self._subscribers.get(number)
        return sub is not None and sub.driver is not None

    def _restart_session_soon(self, number: str) -> None:
        """A hop gave up on a frame (no ack after every retry): its receiver delivers in order
        and would wait for that seq for good, taking nothing sent after it. So the line starts
        a new session, as a phone that drops off and registers again does: what either end had
        not had acknowledged goes again in it, in order (the frame given up on too, if the
        network sent it; the phone told its user "failed" for its own)."""
        if number in self._restarting:
            return
        self._restarting.add(number)

        def restart() -> None:
            self._restarting.discard(number)
            sub = self._subscribers.get(number)
            if sub is None or sub.driver is None:
                return  # dropped off meanwhile: the next registration is a new session anyway
            log.info("%s: new session after a frame was given up on", number)
            self._unregister(sub, sub.modem)
            self._update_registration(sub.modem)

        asyncio.get_running_loop().call_soon(restart)

    def _update_registration(self, modem: Modem) -> None:
        self._restore()
        sub = self._subscribers[modem.number]
        if modem.in_service and sub.driver is None:
            sub.session = (sub.session + 1) & 0xFFFF
            sub.driver = _Driver(ReliableChannel(sub.session),
                                 lambda frame, s=sub: self._carry(s.modem, frame, "down"),
                                 lambda events, s=sub: self._on_network_channel(s, events))
            modem._open(sub.session)
            log.info("%s registered", modem.number)
            self._flush_store(sub)
        elif not modem.in_service and sub.driver is not None:
            self._unregister(sub, modem)

    def _unregister(self, sub: _Subscriber, modem: Modem) -> None:
        if sub.driver is not None:
            # What it had not acknowledged goes back to the front of its queue, in the order it
            # was sent, as the same rows of the file.
            pending = [sub.in_flight[seq] for seq in sorted(sub.in_flight)]
            sub.in_flight.clear()
            sub.driver.close()
            sub.driver = None
            modem._close()
            self._store.setdefault(modem.number, deque()).extendleft(reversed(pending))
            self._arm_sweep()
            log.info("%s unregistered (%d frames back to store-and-forward)", modem.number,
                     len(pending))

    # ---- the radio link -----------------------------------------------------------------------

    def _carry(self, modem: Modem, frame: bytes, direction: str) -> None:
        """Put a frame on ``modem``'s radio link, in ``direction``."""
        now = self.now()
        decision = modem.link.decide(len(frame), direction, now)
        modem.stats.frames_sent += 1
        if direction == "down":
            self._tap(modem.number, frame, "down", now)
        if not decision.delivered:
            modem.stats.frames_lost += 1
            return
        loop = asyncio.get_running_loop()
        for index, when in enumerate(decision.arrivals):
            data = flip_bits(frame, decision.flipped_bits) if index == 0 else frame
            # A frame due now (a link with no latency) goes on the next loop turn, in the
            # order sent, without a timer: the timer heap was a tenth of the hop's cost.
            if direction == "up":
                callback, args = self._network_receive, (modem.number, data)
            else:
                callback, args = self._phone_receive, (modem, data)
            if when <= now:
                loop.call_soon(callback, *args)
            else:
                loop.call_at(when, callback, *args)

    def _phone_receive(self, modem: Modem, data: bytes) -> None:
        modem.stats.bytes_down += len(data)
        if is_voice(data):
            modem._receive_voice(data)
        else:
            modem._receive(data)

    def _network_receive(self, number: str, data: bytes) -> None:
        sub = self._subscribers.get(number)
        if sub is None:
            return
        sub.modem.stats.bytes_up += len(data)
        self._tap(number, data, "up", self.now())
        if sub.driver is None:
            return  # the phone dropped off while this frame was in the air
        if is_voice(data):
            self._route_voice(number, data)
            return
        try:
            events = sub.driver.channel.receive(data, self.now())
        except FrameError as problem:
            self.stats.garbled += 1
            log.debug("network dropped a garbled frame from %s: %s", number, problem)
            return
        sub.driver.kick()
        self._on_network_channel(sub, events)

    def _tap(self, number: str, data: bytes, direction: str, now: float) -> None:
        self.tap.publish(TapRecord(now, self.cell, direction, number, data))

    # ---- real-time frames ---------------------------------------------------------------------

    def _route_voice(self, from_number: str, data: bytes) -> None:
        """A voice frame off a phone's uplink: on down the destination's link if that line is
        registered, else dropped (no store-and-forward, no retransmission, no report)."""
        try:
            dst, packet = decode_voice(data)
        except FrameError:
            self.stats.garbled += 1
            self.stats.voice_dropped += 1
            return
        interceptor = self.voice_interceptor
        if interceptor is not None and interceptor(from_number, dst, packet):
            return
        self._voice_down(from_number, dst, packet)

    def _voice_down(self, src: str, dst: str, packet: bytes) -> None:
        sub = self._subscribers.get(dst)
        if sub is None or sub.driver is None:
            self.stats.voice_dropped += 1
            return
        self.stats.voice_routed += 1
        self._carry(sub.modem, encode_voice(src, packet), "down")

    # ---- routing ------------------------------------------------------------------------------

    def _on_network_channel(self, sub: _Subscriber, events: list[ChannelEvent]) -> None:
        for event in events:
            if isinstance(event, Delivered):
                self._route(sub.modem.number, event.payload)
            elif isinstance(event, Acked):
                stored = sub.in_flight.pop(event.seq, None)
                if stored is not None:
                    self._drop(stored)  # the phone has it: it leaves the mailbox file
                    self._flush_store(sub)  # room in the window: the next ones go down
            elif isinstance(event, Failed) and sub.driver is not None:
                # Sent again in a new session, first (it stays in sub.in_flight, which goes
                # back to the front of the phone's queue): in this one the phone would wait
                # for its seq for good and take nothing after it.
                log.warning("network → %s: %s; sending it again", sub.modem.number, event.reason)
                if event.seq not in sub.in_flight:  # not one of ours (every envelope sent is)
                    stored = _Stored(self.now() + self.ttl, event.payload, self._back)
                    self._back += 1
                    self._keep(sub.modem.number, stored)
                    sub.in_flight[event.seq] = stored
                self._restart_session_soon(sub.modem.number)

    def _send_down(self, sub: _Subscriber, stored: _Stored) -> None:
        """Hand an envelope to ``sub``'s hop; it stays in the mailbox file until acknowledged."""
        seq = sub.driver.channel.send(stored.envelope, self.now())  # type: ignore[union-attr]
        sub.in_flight[seq] = stored

    def _route(self, from_number: str, payload: bytes) -> None:
        try:
            envelope = Envelope.decode(payload)
        except FrameError:
            self.stats.garbled += 1
            return
        if envelope.kind is EnvelopeKind.PING:
            # Its hop acknowledgement is the point: nothing will ride on it, so it goes at once
            # and the round trip the phone measures is the link's, without the ack delay.
            sub = self._subscribers.get(from_number)
            if sub is not None and sub.driver is not None:
                sub.driver.channel.ack_soon(self.now())
                sub.driver.kick()
            return
        if envelope.src != from_number:
            self.stats.rejected += 1
            log.warning("dropped an envelope from %s claiming to be from %s", from_number,
                        envelope.src)
            return
        interceptor = self.interceptor
        if interceptor is not None and envelope.kind in PHONE_TO_PHONE and interceptor(
                from_number, envelope.dst, envelope):
            self.stats.intercepted += 1
            return
        if envelope.dst == ECHO_NUMBER and envelope.kind is EnvelopeKind.MESSAGE:
            self._echo(envelope)
            return
        if envelope.dst not in self._subscribers:
            self._report(envelope, f"unknown number {envelope.dst}")
            return
        self.stats.routed += 1
        self._deliver_or_store(envelope.dst, payload, envelope)

    def _deliver_or_store(self, number: str, payload: bytes, envelope: Envelope) -> None:
        self._restore()
        sub = self._subscribers[number]
        queue = self._store.get(number)
        if sub.driver is None and envelope.kind is EnvelopeKind.CALL:
            # The voice switch pages the line and it does not answer: the caller hears it at
            # once; the signalling waits like a message (a missed call, once that OS reads it).
            self._tell_unavailable(envelope)
        if sub.driver is not None and not queue and len(sub.in_flight) < sub.driver.channel.window:
            stored = _Stored(self.now() + self.ttl, payload, self._back)
            self._back += 1
            self._keep(number, stored)  # written this tick, before the sender hears "sent"
            self._send_down(sub, stored)
            sub.driver.kick()
            return
        if queue is not None and len(queue) >= self.store_cap:
            self.stats.rejected += 1
            self._report(envelope, f"{number} is unreachable and its mailbox is full")
            return
        self._store_for(number, payload)

    def _store_for(self, number: str, payload: bytes) -> None:
        stored = _Stored(self.now() + self.ttl, payload, self._back)
        self._back += 1
        self._store.setdefault(number, deque()).append(stored)
        self.stats.stored += 1
        self._arm_sweep()
        self._keep(number, stored)

    def _arm_sweep(self) -> None:
        """One timer, at the earliest expiry among the mailboxes' oldest entries."""
        heads = [queue[0].expires for queue in self._store.values() if queue]
        if not heads:
            return
        when = min(heads)
        if self._sweep is not None and self._sweep.when() <= when:
            return
        if self._sweep is not None:
            self._sweep.cancel()
        self._sweep = asyncio.get_running_loop().call_at(when, self._expire)

    def _expire(self) -> None:
        self._sweep = None
        now = self.now()
        for queue in list(self._store.values()):  # a failed report may open a new queue
            while queue and queue[0].expires <= now:
                self._expired(queue.popleft())
        self._arm_sweep()

    def _expired(self, stored: _Stored) -> None:
        self.stats.expired += 1
        self._drop(stored)
        with contextlib.suppress(FrameError):
            self._report(Envelope.decode(stored.envelope), "expired in store-and-forward")

    def _echo(self, envelope: Envelope) -> None:
        """The test service: a delivery report, then the same body back from "echo"."""
        delivered = Envelope(EnvelopeKind.REPORT, envelope.msg_id, ECHO_NUMBER, envelope.src,
                             report_body(ReportStatus.DELIVERED))
        self._deliver_or_store(envelope.src, delivered.encode(), delivered)
        reply = Envelope(EnvelopeKind.MESSAGE, self.rng.randbytes(16), ECHO_NUMBER, envelope.src,
                         envelope.body)
        self._deliver_or_store(envelope.src, reply.encode(), reply)

    def _tell_unavailable(self, envelope: Envelope) -> None:
        if envelope.src not in self._subscribers:
            return
        report = Envelope(EnvelopeKind.REPORT, envelope.msg_id, NETWORK, envelope.src,
                          report_body(ReportStatus.UNAVAILABLE, f"{envelope.dst} is not "
                                      "reachable now"))
        self._deliver_or_store(envelope.src, report.encode(), report)

    def _report(self, envelope: Envelope, reason: str) -> None:
        """Tell the sender its message failed (reports about reports are not sent)."""
        if envelope.kind not in PHONE_TO_PHONE or envelope.src not in self._subscribers:
            return
        report = Envelope(EnvelopeKind.REPORT, envelope.msg_id, NETWORK, envelope.src,
                          report_body(ReportStatus.FAILED, reason))
        self._deliver_or_store(envelope.src, report.encode(), report)

    def _flush_store(self, sub: _Subscriber) -> None:
        """Send ``sub``'s queue down, oldest first, while its hop's window has room. At most a
        window is in flight: the rest wait in store-and-forward (its cap and TTL apply, also to
        a phone that is registered but slow), and go down as the phone acknowledges."""
        driver = sub.driver
        queue = self._store.get(sub.modem.number)
        if driver is None or not queue:
            return
        now = self.now()
        sent = False
        while queue and len(sub.in_flight) < driver.channel.window:
            stored = queue.popleft()
            if stored.expires <= now:
                self._expired(stored)
                continue
            self._send_down(sub, stored)  # in flight: still in the file until acknowledged
            sent = True
        if not queue:
            del self._store[sub.modem.number]
        if sent:
            driver.kick()

    def stored_for(self, number: str) -> int:
        return len(self._store.get(number, ())) + len(self._restored.get(number, ()))

    def forge(self, number: str) -> ForgedLine:
        return ForgedLine(self, number)

    def waiting(self, number: str) -> int:
        """How many messages (not receipts) the network holds for ``number``: the count a
        carrier's message-waiting indicator gives, never their content."""
        count = 0
        envelopes = [stored.envelope for stored in self._store.get(number, ())]
        envelopes += [entry.envelope for entry in self._restored.get(number, ())]
        for envelope in envelopes:
            with contextlib.suppress(FrameError):
                count += Envelope.decode(envelope).kind is EnvelopeKind.MESSAGE
        return count

    # ---- key directory ------------------------------------------------------------------------

    def publish_keys(self, number: str, bundle: bytes,
                     one_time: dict[int, bytes] | None = None) -> None:
        """Store a phone's signed bundle (replacing the old one) and add one-time prekeys."""
        self.directory.publish(number, bundle, one_time)

    def fetch_keys(self, number: str) -> tuple[bytes, tuple[int, bytes] | None] | None:
        """The bundle and one one-time prekey, handed out once (None when they ran out)."""
        return self.directory.fetch(number)

    def one_time_keys_left(self, number: str) -> int:
        return self.directory.one_time_left(number)

    def has_keys(self, number: str) -> bool:
        return self.directory.has(number)

    def purge(self, number: str) -> None:
        """A wiped phone: drop what waits for it in store-and-forward and what its own outbox
        still holds (encrypted for keys that no longer exist)."""
        for stored in self._store.pop(number, ()):
            self._drop(stored)
        for entry in self._restored.pop(number, ()):
            self._gone.append(entry.row)
            self._schedule_save()
        sub = self._subscribers.get(number)
        if sub is not None:
            sub.modem._held.clear()
            sub.modem._outgoing.clear()

    def peek_bundle(self, number: str) -> bytes | None:
        """A number's signed bundle, without handing out a one-time prekey."""
        return self.directory.peek(number)

    def forget_keys(self, number: str) -> None:
        """Drop a number's bundle and one-time prekeys (its phone was wiped)."""
        self.directory.forget(number)

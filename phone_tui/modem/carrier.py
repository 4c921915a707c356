"""The carrier's side of the network on asyncio: registration, routing by number,
store-and-forward, the key directory, the echo service, voice routing (with the carrier's own
hand on messages and calls: ``interceptor``, ``voice_interceptor``) and the operator tap.

Each attached phone is reached through its ``PhoneEnd`` and talks to the carrier through a
``Uplink`` (the hop seam, ``network.py``); the phone's side runs its link's impairment. The
carrier keeps its end of one reliable hop per registration. Messages for a phone that is not
registered wait in store-and-forward (per recipient, in order, with a TTL and a cap), and so do
those a phone had not acknowledged when it dropped off the network; a registered phone has at
most one hop window in flight, the rest waiting (cap and TTL included) until it acknowledges.

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
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from phone_tui.core.paths import ensure_private_dir
from phone_tui.modem.channel import Acked, ChannelEvent, Delivered, Failed, ReliableChannel
from phone_tui.modem.directory import DIRECTORY_FILE, KeyDirectory
from phone_tui.modem.echo import ECHO_NUMBER, echo_replies
from phone_tui.modem.forged import ForgedLine
from phone_tui.modem.frames import (
    PHONE_TO_PHONE,
    Envelope,
    EnvelopeKind,
    FrameError,
    ReportStatus,
    decode_voice,
    encode_voice,
    is_voice,
    report_body,
)
from phone_tui.modem.intercept import LawfulIntercept
from phone_tui.modem.mailbox import MAILBOX_FILE, Mailboxes, MailboxFile
from phone_tui.modem.modem import _Driver
from phone_tui.modem.network import NETWORK, PhoneEnd, Uplink
from phone_tui.modem.sms_service import SmsService
from phone_tui.modem.switch import VoiceSwitch
from phone_tui.modem.tap import OperatorTap, TapRecord

if TYPE_CHECKING:
    from phone_tui.modem.cells import Identity

log = logging.getLogger(__name__)

# Envelopes a phone sends to the carrier's own services, which read them (not end-to-end).
CARRIER_SERVICES = frozenset({EnvelopeKind.SMS, EnvelopeKind.CC})

DEFAULT_TTL = 24 * 3600.0
DEFAULT_STORE_CAP = 1000
SAVE_RETRY_FIRST = 0.5  # a failed mailbox save is tried again after this, doubling…
SAVE_RETRY_MAX = 10.0  # …up to this
CLOSE_ATTEMPTS = 4  # saves tried when the carrier stops (0.05 + 0.1 + 0.2 s between them)


@dataclass
class _Stored:
    expires: float  # loop time
    envelope: bytes
    position: int = 0  # its place in its number's queue (the mailbox file's order)
    row: int | None = None  # its row in the mailbox file, once written
    gone: bool = False  # acknowledged, expired or purged: not to be written


@dataclass
class _Subscriber:
    number: str
    end: PhoneEnd  # the phone's end of its hop seam
    in_service: bool = False  # as the phone last said
    driver: _Driver | None = None
    session: int = 0
    # Sent down to the phone and not acknowledged yet, by the network channel's seq: still
    # rows in the mailbox file until the phone's hop acknowledges them.
    in_flight: dict[int, _Stored] = field(default_factory=dict)


@dataclass
class CarrierStats:
    garbled: int = 0
    routed: int = 0
    stored: int = 0
    expired: int = 0
    rejected: int = 0
    voice_routed: int = 0  # voice frames passed on to a registered line
    voice_dropped: int = 0  # voice frames garbled, or for a line not registered
    intercepted: int = 0  # messages and call signalling the carrier's own hand took


class _Line:
    """The carrier's end of one phone's hop seam (the ``Uplink`` the phone side calls)."""

    __slots__ = ("carrier", "number")

    def __init__(self, carrier: Carrier, number: str) -> None:
        self.carrier = carrier
        self.number = number

    def send(self, frame: bytes) -> None:
        self.carrier._network_receive(self.number, frame)

    def registration(self, in_service: bool) -> None:
        self.carrier._update_registration(self.number, in_service)

    def restart_session(self) -> None:
        self.carrier._restart_session_soon(self.number)

    def camp(self, cell: str, disclosed: dict[str, str]) -> None:
        self.carrier._camped(self.number, cell, disclosed)


class Carrier:
    """The carrier's network, seen from its side of the hop seam: one cell, any number of
    phones, each behind a ``PhoneEnd``."""

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
        # The lawful-intercept function (intercept.py): each service reports its events there.
        self.intercept = LawfulIntercept(wall)
        self.switch = VoiceSwitch(self)  # plain calls' call control and media (switch.py)
        self.stats = CarrierStats()
        # The SMS centre (sms_service.py), its queue in smsc.db beside the mailbox.
        try:
            self.sms = SmsService(self, folder)
        except BaseException:
            if self._mailbox is not None:
                self._mailbox.close()
            raise
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
        self.sms.close()

    # ---- attachment and registration ----------------------------------------------------------

    def connect(self, number: str, end: PhoneEnd, identity: Identity | None = None) -> Uplink:
        """A line on the network, reached through ``end``; returns the carrier's end of its hop
        seam, on which the phone says whether it is in service (until it does, it is known,
        its messages held, but not registered). ``identity``: the line's IMSI (the SIM's, as
        the carrier's HLR knows it) and IMEI (what the phone gives at attach)."""
        if number in self._subscribers:
            raise ValueError(f"{number} is already attached")
        self._restore()
        self._subscribers[number] = _Subscriber(number, end)
        if identity is not None:
            self.intercept.identities[number] = (identity.imsi, identity.imei)
        self.intercept.cells.setdefault(number, self.home_cell)
        return _Line(self, number)

    @property
    def home_cell(self) -> str:
        """The cell a line is on until its phone camps (one that never camps, a bot's, stays
        there): this carrier's one cell."""
        return self.cell

    def is_attached(self, number: str) -> bool:
        return number in self._subscribers

    def _camped(self, number: str, cell: str, disclosed: dict[str, str]) -> None:
        """A phone camped on ``cell`` of this network: the intercept records it there. (Bus
        also puts a fake base station in the path when the cell is one.)"""
        if cell:
            self.intercept.cells[number] = cell

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
            self._unregister(sub)
            self._update_registration(number, sub.in_service)

        asyncio.get_running_loop().call_soon(restart)

    def _update_registration(self, number: str, in_service: bool) -> None:
        self._restore()
        sub = self._subscribers[number]
        sub.in_service = in_service
        if in_service and sub.driver is None:
            sub.session = (sub.session + 1) & 0xFFFF
            sub.driver = _Driver(ReliableChannel(sub.session),
                                 lambda frame, s=sub: self._down(s, frame),
                                 lambda events, s=sub: self._on_network_channel(s, events))
            sub.end.opened(sub.session)
            log.info("%s registered", number)
            self.intercept.emit("IRI-REPORT", "registration", calling=number, called="",
                                direction="", state="registered")
            self._flush_store(sub)
            self.sms.registration(number, True)
        elif not in_service and sub.driver is not None:
            self._unregister(sub)
            self.intercept.emit("IRI-REPORT", "registration", calling=number, called="",
                                direction="", state="deregistered")
            self.switch.line_down(number)

    def _unregister(self, sub: _Subscriber) -> None:
        if sub.driver is not None:
            # What it had not acknowledged goes back to the front of its queue, in the order it
            # was sent, as the same rows of the file.
            pending = [sub.in_flight[seq] for seq in sorted(sub.in_flight)]
            sub.in_flight.clear()
            self.sms.registration(sub.number, False)
            sub.driver.close()
            sub.driver = None
            sub.end.closed()
            self._store.setdefault(sub.number, deque()).extendleft(reversed(pending))
            self._arm_sweep()
            log.info("%s unregistered (%d frames back to store-and-forward)", sub.number,
                     len(pending))

    # ---- the radio link -----------------------------------------------------------------------

    def _down(self, sub: _Subscriber, frame: bytes) -> None:
        """Send a frame down ``sub``'s hop seam (tapped as it leaves: the phone's side runs its
        link's impairment)."""
        self._tap(sub.number, frame, "down", self.now())
        sub.end.deliver(frame)

    def _network_receive(self, number: str, data: bytes) -> None:
        sub = self._subscribers.get(number)
        if sub is None:
            return
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
        # The cell the line is on, as the intercept records have it (one name throughout).
        cell = self.intercept.cells.get(number) or self.cell
        self.tap.publish(TapRecord(now, cell, direction, number, data))

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
        if not self.is_registered(dst):
            # Before the switch notes it: frames to made-up numbers would open call records.
            self.stats.voice_dropped += 1
            return
        if not self.switch.media(from_number, dst, packet):
            self.stats.voice_dropped += 1  # plain media outside an answered plain call
            return
        self._voice_down(from_number, dst, packet)

    def _voice_down(self, src: str, dst: str, packet: bytes) -> None:
        sub = self._subscribers.get(dst)
        if sub is None or sub.driver is None:
            self.stats.voice_dropped += 1
            return
        self.stats.voice_routed += 1
        self._down(sub, encode_voice(src, packet))

    # ---- routing ------------------------------------------------------------------------------

    def _on_network_channel(self, sub: _Subscriber, events: list[ChannelEvent]) -> None:
        for event in events:
            if isinstance(event, Delivered):
                self._route(sub.number, event.payload)
            elif isinstance(event, Acked):
                stored = sub.in_flight.pop(event.seq, None)
                if stored is not None:
                    self._drop(stored)  # the phone has it: it leaves the mailbox file
                    self._flush_store(sub)  # room in the window: the next ones go down
                else:
                    self.sms.acked(sub.number, sub.session, event.seq)
            elif isinstance(event, Failed) and sub.driver is not None:
                # Sent again in a new session, first (it stays in sub.in_flight, which goes
                # back to the front of the phone's queue): in this one the phone would wait
                # for its seq for good and take nothing after it.
                log.warning("network → %s: %s; sending it again", sub.number, event.reason)
                if event.seq not in sub.in_flight and not self.sms.hop_failed(
                        sub.number, sub.session, event.seq):  # not the mailbox's nor the SMSC's
                    stored = _Stored(self.now() + self.ttl, event.payload, self._back)
                    self._back += 1
                    self._keep(sub.number, stored)
                    sub.in_flight[event.seq] = stored
                self._restart_session_soon(sub.number)

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
        if envelope.kind in CARRIER_SERVICES:
            self._service(envelope)
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
        if envelope.kind is EnvelopeKind.CALL:
            self.switch.saw_call_signal(envelope)
        if envelope.kind is EnvelopeKind.MESSAGE:
            # Metadata only: the body is the end-to-end ciphertext (its size is all it gives).
            self.intercept.emit(
                "IRI-REPORT", "e2e-message", calling=envelope.src, called=envelope.dst,
                state="routed" if self.is_registered(envelope.dst) else "stored",
                content="ciphertext", size=len(envelope.body), ref=envelope.msg_id.hex())
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

    def _service(self, envelope: Envelope) -> None:
        """An envelope for one of the carrier's own plain services (SMS, a plain call's call
        control): never routed on to a phone as it is."""
        if envelope.kind is EnvelopeKind.CC:
            self.switch.on_cc(envelope)
            return
        if envelope.kind is EnvelopeKind.SMS:
            self.sms.receive(envelope.src, envelope)  # the sending line (checked in _route)
            return
        self.stats.rejected += 1
        log.debug("no service for a %s envelope from %s", envelope.kind.name, envelope.src)

    def _echo(self, envelope: Envelope) -> None:
        """The test service (``echo.py``): a delivery report, then the same body back."""
        for reply in echo_replies(envelope, self.rng):
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
        queue = self._store.get(sub.number)
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
            del self._store[sub.number]
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
        """A wiped phone: drop what waits for it in store-and-forward (the in-process ``Bus``
        also empties the phone's outbox)."""
        for stored in self._store.pop(number, ()):
            self._drop(stored)
        for entry in self._restored.pop(number, ()):
            self._gone.append(entry.row)
            self._schedule_save()

    def peek_bundle(self, number: str) -> bytes | None:
        """A number's signed bundle, without handing out a one-time prekey."""
        return self.directory.peek(number)

    def forget_keys(self, number: str) -> None:
        """Drop a number's bundle and one-time prekeys (its phone was wiped)."""
        self.directory.forget(number)

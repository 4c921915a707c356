"""The carrier's plain SMS service: the sans-IO SMS centre (``smsc.py``) on the carrier's loop.

A phone sends one SMS envelope per part (its body an SMS-SUBMIT, ``sms_pdu.py``); the parts of a
concatenated message are gathered here and handed to the SMSC together, which accepts or refuses
the message (an SMS-SUBMIT-REPORT goes back either way). Gathering is bounded per sender (a few
messages at once, its oldest failed to make room) and in all (parts held), and times out: a
message whose parts stop coming fails, with a failed SUBMIT-REPORT, so its sender hears. A
recipient the carrier has no line for is refused (invalid address), as a real SMSC after its
HLR lookup. What the SMSC has to send goes down the
recipient's reliable hop as SMS-DELIVERs (and SMS-STATUS-REPORTs to senders who asked), one at a
time a line; a delivery counts when that hop acknowledges it, on the next loop turn, so that a
phone's refusal riding in the same frame (an SMS-DELIVER-REPORT error: the Secure OS takes no
plain SMS) counts as a failure instead; a session lost with a delivery in flight counts as a
failure (the SMSC retries it later); a refusal for good (TPDU not supported: the Secure OS)
drops the message at once, with a "failed" status report if its sender asked. Registrations
tell the SMSC who is reachable; its timers run on the loop from :meth:`Smsc.next_wakeup`. Every
event goes to the carrier's lawful intercept as an IRI-REPORT of service "sms", the text in
clear: the carrier reads plain SMS.

Times given to the SMSC are the carrier's wall clock (its queue and expiries survive a restart).
The SMSC knows numbers as TS 23.040 writes them ("+" and digits); the carrier's lines may be
written with spaces ("+86 190 1234 5678"): the service maps one to the other.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from phone_tui.modem.frames import Envelope, EnvelopeKind
from phone_tui.modem.network import NETWORK
from phone_tui.modem.sms import Encoding, SmsMalformed, SmsPart
from phone_tui.modem.sms_pdu import (
    FailureCause,
    SmsDeliver,
    SmsDeliverReport,
    SmsStatusReport,
    SmsSubmit,
    SmsSubmitReport,
    TpStatus,
    read_sms,
)
from phone_tui.modem.smsc import (
    DEFAULT_VALIDITY,
    Delivery,
    ReportStatus,
    Smsc,
    SubmitResult,
    open_smsc,
)

if TYPE_CHECKING:
    from phone_tui.modem.carrier import Carrier

log = logging.getLogger(__name__)

MAX_GATHERING_PER_SENDER = 4  # concatenated messages one sender has half-sent; its oldest goes
MAX_GATHERING_PARTS = 8192  # parts held for every sender; a part past it fails its message
GATHER_TIMEOUT = 180.0  # s after a message's last part came: the rest will not, it fails
PERMANENT = frozenset({FailureCause.TPDU_NOT_SUPPORTED})  # a phone's refusals not worth a retry
MIN_TIMER = 0.01  # s: the SMSC's next wake-up is never sooner after a poll (it may be early)

_STATUS = {ReportStatus.DELIVERED: TpStatus.DELIVERED, ReportStatus.EXPIRED: TpStatus.EXPIRED,
           ReportStatus.FAILED: TpStatus.FAILED}
_Key = tuple[str, int, int, Encoding]  # sender, concatenation reference, parts, alphabet


@dataclass
class _InFlight:
    session: int
    seq: int
    delivery: Delivery
    acked: bool = False
    refused: bool = False
    for_good: bool = False  # refused with a permanent cause: the SMSC drops it, no retry


@dataclass
class _Gathering:
    """A concatenated message being put together: its parts so far, when the last one came."""

    first: SmsSubmit
    parts: dict[int, SmsSubmit]
    last: float


@dataclass
class SmsServiceStats:
    submitted: int = 0  # messages accepted
    rejected: int = 0  # messages refused (a bad number, a full store)
    malformed: int = 0  # bodies that were not a TPDU a phone may send
    delivered: int = 0  # parts and reports a phone's hop acknowledged
    failed: int = 0  # deliveries refused or lost with their session


class SmsService:
    """The SMS centre of ``carrier``; its queue in ``folder``/smsc.db (None: in memory)."""

    def __init__(self, carrier: Carrier, folder: Path | None = None) -> None:
        self.carrier = carrier
        self.smsc = open_smsc(folder) if folder is not None else Smsc()
        self.stats = SmsServiceStats()
        self._closed = False
        self._in_flight: dict[str, _InFlight] = {}  # by recipient: one at a time a line
        # Least recently added to first (the next to time out), and each sender's, oldest first.
        self._gathering: OrderedDict[_Key, _Gathering] = OrderedDict()
        self._gathering_of: dict[str, dict[_Key, None]] = {}
        self._gathered_parts = 0
        self._timer: asyncio.TimerHandle | None = None
        self._gather_timer: asyncio.TimerHandle | None = None
        self._lines: dict[str, str] = {}  # "+8619012345678" -> the carrier's "+86 190 1234 5678"

    def _line(self, msisdn: str) -> str:
        """The carrier's form of ``msisdn`` (as lines and the intercept know it)."""
        return self._lines.get(msisdn, msisdn)

    def wall(self) -> float:
        return self.carrier._wall()

    def close(self) -> None:
        self._closed = True  # a delivery acknowledged just now settles no more (its file is shut)
        for timer in (self._timer, self._gather_timer):
            if timer is not None:
                timer.cancel()
        self._timer = self._gather_timer = None
        if self.smsc.store is not None:
            self.smsc.store.close()

    # -- from the phones ----------------------------------------------------------------------

    def receive(self, from_number: str, envelope: Envelope) -> None:
        """An SMS envelope off ``from_number``'s hop (its src checked by the carrier)."""
        if envelope.src != from_number:
            return
        try:
            tpdu = read_sms(envelope.body, uplink=True)
        except SmsMalformed as problem:
            self.stats.malformed += 1
            self.carrier.stats.rejected += 1
            log.debug("SMS centre dropped a body from %s: %s", from_number, problem)
            return
        if isinstance(tpdu, SmsDeliverReport):
            self._refused(msisdn(from_number), tpdu.cause)
        elif isinstance(tpdu, SmsSubmit):
            self._lines.setdefault(msisdn(from_number), from_number)
            self._submit(msisdn(from_number), tpdu)

    def _submit(self, sender: str, submit: SmsSubmit) -> None:
        parts = self._gather(sender, submit)
        if parts is None:
            return
        now = self.wall()
        validity = submit.validity if submit.validity is not None else DEFAULT_VALIDITY
        if not self._has_line(submit.recipient):
            result = SubmitResult(False, "the carrier has no line with that phone number")
        else:
            result = self.smsc.submit(now, sender, submit.recipient, [p.part for p in parts],
                                      submit.message_ref, validity=validity,
                                      status_report=submit.status_report)
        size = sum(len(p.part.user_data) for p in parts)
        text = result.text or "".join(p.part.text for p in parts)
        if result.accepted:
            self.stats.submitted += 1
            cause = None
        else:
            self.stats.rejected += 1
            cause = _cause(result.reason)
            log.info("SMS centre refused a message from %s: %s", sender, result.reason)
        self.carrier.intercept.emit(
            "IRI-REPORT", "sms", calling=self._line(sender), called=self._line(submit.recipient),
            direction="originating", state="submitted" if result.accepted else "failed",
            sms_text=text, content="clear", size=size,
            ref=_ref(sender, submit.message_ref, result.message_id))
        self._down(sender, SmsSubmitReport(submit.message_ref, cause).encode())
        self._pump()

    def _has_line(self, number: str) -> bool:
        """Whether the carrier has a line for ``number`` (its HLR lookup)."""
        if self.carrier.is_attached(self._line(number)):
            return True
        for line in self.carrier._subscribers:
            if msisdn(line) == number:
                self._lines[number] = line
                return True
        return False

    def _gather(self, sender: str, submit: SmsSubmit) -> list[SmsSubmit] | None:
        """All the parts of ``submit``'s message once its last one came, else None."""
        concat = submit.part.concat
        if concat is None or concat.total == 1:
            return [submit]
        now = self.wall()
        self._time_out_gathering(now)
        key = (sender, concat.reference, concat.total, submit.part.encoding)
        entry = self._gathering.get(key)
        if entry is None:
            mine = self._gathering_of.setdefault(sender, {})
            while len(mine) >= MAX_GATHERING_PER_SENDER:
                # Only this sender's own: another's half-sent message is none of its business.
                self._give_up(next(iter(mine)), "a newer message of its sender pushed it out")
            entry = self._gathering[key] = _Gathering(submit, {}, now)
            self._gathering_of.setdefault(sender, {})[key] = None
        if concat.sequence in entry.parts:
            return None  # the same part again
        if self._gathered_parts >= MAX_GATHERING_PARTS:
            self._give_up(key, "the SMS centre holds too many parts being put together")
            return None
        entry.parts[concat.sequence] = submit
        entry.last = now
        self._gathering.move_to_end(key)
        self._gathered_parts += 1
        if len(entry.parts) < concat.total:
            self._arm_gather_timer()
            return None
        self._forget(key)
        return [entry.parts[i] for i in range(1, concat.total + 1)]

    def _forget(self, key: _Key) -> _Gathering:
        entry = self._gathering.pop(key)
        self._gathered_parts -= len(entry.parts)
        mine = self._gathering_of[key[0]]
        del mine[key]
        if not mine:
            del self._gathering_of[key[0]]
        return entry

    def _give_up(self, key: _Key, why: str) -> None:
        """A message being gathered fails: its sender hears (a failed SUBMIT-REPORT), and the
        intercept has what came of it."""
        entry = self._forget(key)
        sender, first = key[0], entry.first
        self.stats.rejected += 1
        log.info("SMS centre gave up a message from %s: %s", sender, why)
        parts = [entry.parts[i] for i in sorted(entry.parts)]
        self.carrier.intercept.emit(
            "IRI-REPORT", "sms", calling=self._line(sender), called=self._line(first.recipient),
            direction="originating", state="failed",
            sms_text="".join(p.part.text for p in parts), content="clear",
            size=sum(len(p.part.user_data) for p in parts),
            ref=_ref(sender, first.message_ref, None))
        self._down(sender, SmsSubmitReport(first.message_ref, FailureCause.INCOMPLETE).encode())

    def _time_out_gathering(self, now: float) -> None:
        while self._gathering:
            key, entry = next(iter(self._gathering.items()))
            if entry.last + GATHER_TIMEOUT > now:
                break
            self._give_up(key, "its other parts did not come")

    def _arm_gather_timer(self) -> None:
        if self._gather_timer is not None or not self._gathering:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # off the loop: the next part looks
        oldest = next(iter(self._gathering.values()))
        self._gather_timer = loop.call_later(
            max(oldest.last + GATHER_TIMEOUT - self.wall(), MIN_TIMER), self._gather_tick)

    def _gather_tick(self) -> None:
        self._gather_timer = None
        self._time_out_gathering(self.wall())
        self._arm_gather_timer()

    # -- reachability --------------------------------------------------------------------------

    def registration(self, number: str, registered: bool) -> None:
        """``number`` registered (a new session) or lost its session."""
        now = self.wall()
        self._lines[msisdn(number)] = number
        number = msisdn(number)
        if not registered:
            flight = self._in_flight.pop(number, None)
            if flight is not None:
                self._fail(now, flight, "its session ended")
        self.smsc.set_reachable(now, number, registered)
        if registered:
            self._pump()

    # -- down to the phones --------------------------------------------------------------------

    def _pump(self) -> None:
        """Send what the SMSC has due, and set the timer for its next wake-up."""
        if self._closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not on the loop yet: the first registration pumps
        now = self.wall()
        for delivery in self.smsc.poll(now):
            self._send(now, delivery)
        for gone in self.smsc.take_expired():
            self.carrier.intercept.emit(
                "IRI-REPORT", "sms", calling=self._line(gone.sender),
                called=self._line(gone.recipient),
                direction="originating", state="expired", sms_text=gone.text,
                content="clear", size=0, ref=_ref(gone.sender, gone.message_ref,
                                                  gone.message_id))
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        wake = self.smsc.next_wakeup()
        if wake is not None:
            self._timer = loop.call_later(max(wake - self.wall(), MIN_TIMER), self._tick)

    def _tick(self) -> None:
        self._timer = None
        self._pump()

    def _send(self, now: float, delivery: Delivery) -> None:
        if delivery.part is not None:
            body = SmsDeliver(delivery.sender, delivery.part, now).encode()
        else:
            assert delivery.report is not None
            report = delivery.report
            body = SmsStatusReport(report.message_ref, report.recipient,
                                   _STATUS[report.status], report.at, report.at).encode()
        flight = self._down(delivery.to, body, _msg_id(delivery))
        if flight is None:
            self.smsc.failed(now, delivery.id)  # not registered after all: later
            return
        session, seq = flight
        self._in_flight[delivery.to] = _InFlight(session, seq, delivery)

    def _down(self, number: str, body: bytes,
              msg_id: bytes | None = None) -> tuple[int, int] | None:
        """An SMS envelope down ``number``'s hop: (session, seq), or None if not registered."""
        carrier = self.carrier
        number = self._line(number)
        sub = carrier._subscribers.get(number)
        if sub is None or sub.driver is None:
            return None
        if msg_id is None:
            msg_id = carrier.rng.randbytes(16)
        envelope = Envelope(EnvelopeKind.SMS, msg_id, NETWORK, number, body)
        seq = sub.driver.channel.send(envelope.encode(), carrier.now())
        sub.driver.kick()
        return sub.session, seq

    # -- the hop's answers ---------------------------------------------------------------------

    def owns(self, number: str, session: int, seq: int) -> bool:
        flight = self._in_flight.get(msisdn(number))
        return flight is not None and (flight.session, flight.seq) == (session, seq)

    def acked(self, number: str, session: int, seq: int) -> None:
        """``number``'s hop acknowledged frame ``seq``: a delivery of ours counts on the next
        turn (a refusal in the same frame comes first)."""
        number = msisdn(number)
        flight = self._in_flight.get(number)
        if flight is None or (flight.session, flight.seq) != (session, seq) or flight.acked:
            return
        flight.acked = True
        asyncio.get_running_loop().call_soon(self._settle, number, flight)

    def hop_failed(self, number: str, session: int, seq: int) -> bool:
        """The hop gave up on frame ``seq``; True if it was an SMS delivery (it fails here and
        the SMSC retries it: it is not the mailbox's to send again)."""
        if not self.owns(number, session, seq):
            return False
        flight = self._in_flight.pop(msisdn(number))
        self._fail(self.wall(), flight, "the link did not carry it")
        self._pump()
        return True

    def _refused(self, number: str, cause: FailureCause) -> None:
        flight = self._in_flight.get(number)
        if flight is None:
            return
        flight.refused = True
        flight.for_good = cause in PERMANENT
        if not flight.acked:
            # Refused before the hop's ack came: settled now, the ack finds nothing.
            del self._in_flight[number]
            self._fail(self.wall(), flight, "the phone refused it")
            self._pump()

    def _settle(self, number: str, flight: _InFlight) -> None:
        if self._closed or self._in_flight.get(number) is not flight:
            return  # closed: the SMSC sends it again after a restart (the phone keeps one)
        del self._in_flight[number]
        now = self.wall()
        if flight.refused:
            self._fail(now, flight, "the phone refused it")
        elif self.smsc.delivered(now, flight.delivery.id):
            self.stats.delivered += 1
            self._record(flight.delivery, "delivered")
        # else: acknowledged after the SMSC's own timeout: it sends it again (the same id, so
        # the phone keeps one copy), and that one counts
        self._pump()

    def _fail(self, now: float, flight: _InFlight, why: str) -> None:
        if flight.for_good:
            self.smsc.refused(now, flight.delivery.id)
        else:
            self.smsc.failed(now, flight.delivery.id)
        self.stats.failed += 1
        log.info("SMS to %s not delivered: %s", flight.delivery.to, why)
        self._record(flight.delivery, "failed")

    def _record(self, delivery: Delivery, state: str) -> None:
        part = delivery.part
        if part is None:
            return  # a status report: the message's own records say it
        self.carrier.intercept.emit(
            "IRI-REPORT", "sms", calling=self._line(delivery.sender),
            called=self._line(delivery.to),
            direction="terminating", state=state, sms_text=part.text, content="clear",
            size=len(part.user_data),
            ref=_ref(delivery.sender, delivery.message_ref, delivery.message_id))


def msisdn(number: str) -> str:
    """A number as an SMS address writes it: "+" and digits, no spaces."""
    return number.replace(" ", "")


def _ref(sender: str, message_ref: int, message_id: int | None) -> str:
    """Joins a message's records: the SMSC's id (the sender's TP-MR before it has one)."""
    return f"sms-{message_id}" if message_id else f"sms-{sender}-{message_ref}"


def _msg_id(delivery: Delivery) -> bytes:
    """The envelope id of a delivery: the same for its every attempt, also after a carrier
    restart (the phone takes it once), and new for anything else."""
    part: SmsPart | None = delivery.part
    report = delivery.report
    what = (part.user_data if part is not None else
            repr((report.message_ref, report.recipient, report.status.value,
                  report.at)).encode() if report is not None else b"")
    seed = f"{delivery.to}\0{delivery.sender}\0{delivery.id}\0{delivery.message_id}\0".encode()
    return hashlib.sha256(seed + what).digest()[:16]


def _cause(reason: str) -> FailureCause:
    if "phone number" in reason:
        return FailureCause.INVALID_ADDRESS
    if "sender's texts" in reason:
        return FailureCause.SENDER_QUOTA
    if "full" in reason:
        return FailureCause.SYSTEM_FAILURE
    if "cannot store" in reason:
        return FailureCause.SC_BUSY
    return FailureCause.UNSPECIFIED

"""The carrier's SMS centre, sans-IO: submissions in, deliveries and status reports out.

As a real SMSC (3GPP TS 23.040): a submitted message is accepted or rejected at once; it is
stored per recipient and forwarded in order while it is valid (a relative validity period,
default 24 h, at most :data:`MAX_VALIDITY`); nothing is tried while the recipient is absent, and
the attach of the recipient (HLR's "alert service centre") makes the SMSC try at once; a
delivery that fails or goes unanswered is retried with a doubling backoff; a message that
outlives its validity is dropped, and one the recipient's phone refuses for good (it takes no
plain SMS) at once. A status report ("delivered", "expired" or "failed") goes back to the
sender when it asked for one (TP-SRR), itself stored and forwarded. One sender has at most
:data:`MAX_QUEUED_PER_SENDER` parts waiting, so that one phone cannot fill the SMSC.
Concatenated parts are forwarded as parts, as SMSCs do; the phone puts them together
(:class:`sms.ReassemblyBuffer`). One status report stands for the whole message (what a phone
shows after combining the reports of its parts).

No asyncio and no clock: every method takes ``now``, wall-clock seconds (the queue and its
expiry survive a restart, and loop time starts again in each process). The queue lives in
``smsc.db`` in the carrier's folder (SQLite, as ``mailbox.py``: a 0600 file in a 0700 folder,
one row per queued part or report; a damaged file is refused, named, and left untouched).
"""

from __future__ import annotations

import enum
import heapq
import math
import re
import sqlite3
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from phone_tui.modem.carrier_file import CarrierFile
from phone_tui.modem.sms import (
    MAX_USER_DATA,
    Encoding,
    SmsError,
    SmsPart,
    reassemble,
    segments,
)

SMSC_FILE = "smsc.db"
FORMAT = 1

DEFAULT_VALIDITY = 24 * 3600.0
MIN_VALIDITY = 5 * 60.0  # TP-VP relative starts at 5 minutes
MAX_VALIDITY = 7 * 86400.0  # longer requests are cut to a week, as operators do
MAX_QUEUED_PER_RECIPIENT = 500  # parts waiting for one number
MAX_QUEUED_PER_SENDER = 500  # parts one sender has waiting: one phone cannot fill the SMSC
MAX_QUEUED_TOTAL = 20_000  # parts waiting in the whole SMSC
MAX_REPORTS_PER_NUMBER = 100  # status reports waiting for one sender; the oldest goes first
RETRY_FIRST = 30.0  # seconds before the first retry of a failed delivery, then doubling
RETRY_MAX = 3600.0
ACK_TIMEOUT = 30.0  # a delivery with no answer by then counts as failed
REPORT_VALIDITY = DEFAULT_VALIDITY
MAX_EXPIRED_KEPT = 1000  # expiries not yet taken by the carrier (take_expired)

_NUMBER = re.compile(r"\+?[0-9]{1,20}")  # TP-OA / TP-DA: at most 20 digits


class ReportStatus(enum.Enum):
    """TP-ST of a status report, in words."""

    DELIVERED = "delivered"
    EXPIRED = "expired"
    FAILED = "failed"  # the recipient's phone refused it for good (it takes no plain SMS)


@dataclass(frozen=True)
class SubmitResult:
    """The SMSC's answer to a submission (SMS-SUBMIT-REPORT): accepted with the message's id
    and text, or rejected with a reason a person can read."""

    accepted: bool
    reason: str = ""
    message_id: int | None = None
    text: str = ""
    parts: int = 0


@dataclass(frozen=True)
class StatusReport:
    """SMS-STATUS-REPORT: what became of the sender's message ``message_ref`` to
    ``recipient``."""

    message_ref: int
    recipient: str
    status: ReportStatus
    at: float


@dataclass(frozen=True)
class Delivery:
    """One thing for the carrier to send now: a part (SMS-DELIVER) from ``sender`` or a
    status report, to ``to``. Answer it with :meth:`Smsc.delivered` or :meth:`Smsc.failed`."""

    id: int
    to: str
    sender: str
    part: SmsPart | None
    report: StatusReport | None
    attempt: int
    message_id: int = 0  # the SMSC's id of the message this part belongs to
    message_ref: int = 0  # the sender's TP-MR of it


@dataclass(frozen=True)
class Expired:
    """A message dropped at the end of its validity (reported or not): for the carrier's
    records."""

    message_id: int
    sender: str
    recipient: str
    message_ref: int
    text: str


@dataclass
class _Item:
    row: int
    number: str  # whom it goes to
    message: int
    peer: str  # part: its sender; report: the original recipient
    ref: int
    expires: float
    wants_report: bool
    attempts: int
    next_attempt: float
    part: SmsPart | None = None
    report: StatusReport | None = None
    in_flight_until: float | None = field(default=None, compare=False)


def _number_ok(number: object) -> bool:
    return isinstance(number, str) and _NUMBER.fullmatch(number) is not None


class Smsc:
    """The SMS centre. ``store`` (an :class:`SmscFile`) keeps its queue across restarts."""

    def __init__(self, store: SmscFile | None = None, *,
                 max_per_recipient: int = MAX_QUEUED_PER_RECIPIENT,
                 max_per_sender: int = MAX_QUEUED_PER_SENDER,
                 max_total: int = MAX_QUEUED_TOTAL) -> None:
        self.store = store
        self.max_per_recipient = max_per_recipient
        self.max_per_sender = max_per_sender
        self._from: dict[str, int] = {}  # parts queued by sender
        self.max_total = max_total
        self._queues: dict[str, deque[_Item]] = {}
        self._reachable: set[str] = set()
        self._parts = 0  # parts queued (reports are counted apart)
        self._next_row = 1
        # (expiry, number) of what was queued, earliest first, so a poll looks only at the
        # queues with something due; entries of what already went are skipped, and the heap is
        # rebuilt when they outnumber what is queued.
        self._expiries: list[tuple[float, str]] = []
        self.reports_dropped = 0
        # Messages that expired since the carrier last took this list (:meth:`take_expired`).
        self._expired: list[Expired] = []
        # Writes the file refused (full disk, locked by another process): kept, in order, and
        # written with the next change or poll; the queue in memory stays the truth meanwhile.
        self._unsaved_inserts: dict[int, _Item] = {}
        self._unsaved_deletes: set[int] = set()
        self._unsaved_updates: dict[int, _Item] = {}
        self.save_failures = 0
        if store is not None:
            for item in store.load():
                self._queues.setdefault(item.number, deque()).append(item)
                if item.part is not None:
                    self._parts += 1
                    self._from[item.peer] = self._from.get(item.peer, 0) + 1
                self._next_row = max(self._next_row, item.row + 1, item.message + 1)
            self._rebuild_expiries()

    # -- submissions --------------------------------------------------------------------------

    def submit(self, now: float, sender: str, recipient: str, message: str | list[SmsPart],
               message_ref: int, *, validity: float = DEFAULT_VALIDITY,
               status_report: bool = False) -> SubmitResult:
        """Accept a message (a text, cut here with ``message_ref`` as its concatenation
        reference, or the parts a phone cut) for ``recipient``, or say why not; never raises
        for what a phone sends. ``validity`` is relative, in seconds (cut to 5 min – 7 days)."""
        if not _number_ok(sender) or not _number_ok(recipient):
            return SubmitResult(False, "not a phone number")
        if isinstance(message_ref, bool) or not isinstance(message_ref, int) \
                or not 0 <= message_ref <= 0xFF:
            return SubmitResult(False, "a message reference is 0–255")
        if not isinstance(validity, int | float) or not math.isfinite(validity) \
                or validity <= 0:
            return SubmitResult(False, "a validity period must be a positive time")
        validity = min(max(validity, MIN_VALIDITY), MAX_VALIDITY)
        try:
            parts = segments(message, message_ref) if isinstance(message, str) \
                else list(message)
            if not all(isinstance(part, SmsPart) for part in parts):
                return SubmitResult(False, "not SMS parts")
            # Parse each part again from its wire form: a part built by hand gets no trust.
            parts = [SmsPart.from_wire(part.encoding, part.udl, part.user_data,
                                       bool(part.udh)) for part in parts]
            text = reassemble(parts)
        except SmsError as error:
            return SubmitResult(False, str(error))
        parts.sort(key=lambda part: part.concat.sequence if part.concat else 1)
        queue = self._queues.get(recipient, ())
        queued = sum(item.part is not None for item in queue)
        if queued + len(parts) > self.max_per_recipient:
            return SubmitResult(False, f"{recipient}'s message store is full")
        if self._from.get(sender, 0) + len(parts) > self.max_per_sender:
            return SubmitResult(False, f"too many of the sender's texts wait (at most "
                                       f"{self.max_per_sender} parts a sender)")
        if self._parts + len(parts) > self.max_total:
            return SubmitResult(False, "the SMS centre is full")
        message_id = self._next_row
        items = []
        for part in parts:
            items.append(_Item(self._take_row(), recipient, message_id, sender, message_ref,
                               now + validity, bool(status_report), 0, now, part=part))
        if not self._save(items, []):
            for item in items:
                self._unsaved_inserts.pop(item.row, None)
            return SubmitResult(False, "the SMS centre cannot store it now; try again")
        self._queues.setdefault(recipient, deque()).extend(items)
        self._parts += len(items)
        self._from[sender] = self._from.get(sender, 0) + len(items)
        self._expiry(now + validity, recipient)
        return SubmitResult(True, message_id=message_id, text=text, parts=len(items))

    def _take_row(self) -> int:
        row, self._next_row = self._next_row, self._next_row + 1
        return row

    # -- reachability and deliveries ----------------------------------------------------------

    def set_reachable(self, now: float, number: str, reachable: bool) -> None:
        """The phone at ``number`` attached or detached. An attach makes its head due now."""
        if reachable:
            self._reachable.add(number)
            queue = self._queues.get(number)
            if queue:
                queue[0].next_attempt = min(queue[0].next_attempt, now)
        else:
            self._reachable.discard(number)
            queue = self._queues.get(number)
            if queue:
                queue[0].in_flight_until = None

    def take_expired(self) -> list[Expired]:
        """The messages that expired since the last call (what was left of each: its text)."""
        expired, self._expired = self._expired, []
        return expired

    def queued(self, number: str) -> int:
        """Parts and reports waiting for ``number``."""
        return len(self._queues.get(number, ()))

    @property
    def queued_parts(self) -> int:
        return self._parts

    def poll(self, now: float) -> list[Delivery]:
        """Drop what has expired (with its status report), then what to send now: the head of
        each reachable number's queue, one at a time a number, so order holds."""
        if self.unsaved:
            self._save([], [])
        self._expire(now)
        out = []
        for number, queue in self._queues.items():
            if not queue or number not in self._reachable:
                continue
            head = queue[0]
            if head.in_flight_until is not None:
                if now < head.in_flight_until:
                    continue
                self._retry_later(now, head)  # no answer: as a failure
            if head.next_attempt > now:
                continue
            head.attempts += 1
            head.in_flight_until = now + ACK_TIMEOUT
            out.append(Delivery(head.row, number, head.peer if head.part else "", head.part,
                                head.report, head.attempts, head.message, head.ref))
        return out

    def delivered(self, now: float, delivery_id: int) -> bool:
        """The phone acknowledged a delivery: the next in its queue is due now; the last part of
        a message sends its status report. False: it was not in flight (late, after its
        timeout: it goes again, and the phone keeps one copy; or unknown)."""
        found = self._in_flight(delivery_id)
        if found is None:
            return False  # late or unknown: already settled
        queue, head = found
        queue.popleft()
        inserts: list[_Item] = []
        if head.part is not None:
            self._gone(head)
            rest = any(item.message == head.message for item in queue)
            if head.wants_report and not rest:
                inserts = self._report(now, head, ReportStatus.DELIVERED)
        self._save(inserts, [head.row])
        if queue:
            queue[0].next_attempt = min(queue[0].next_attempt, now)
        else:
            self._queues.pop(head.number, None)
            if not self._queues:
                self._expiries.clear()
        return True

    def failed(self, now: float, delivery_id: int) -> None:
        """The delivery failed (the phone refused it, or the link dropped it): retry later."""
        found = self._in_flight(delivery_id)
        if found is not None:
            self._retry_later(now, found[1])

    def refused(self, now: float, delivery_id: int) -> bool:
        """The phone refused the delivery for good (it takes no plain SMS): the message goes
        at once, every part of it still queued, with a "failed" status report if asked; True if
        it was in flight. Retrying would only send the text down that line again and again."""
        found = self._in_flight(delivery_id)
        if found is None:
            return False
        queue, head = found
        gone = [item for item in queue if item is head or (
            head.part is not None and item.part is not None and item.message == head.message)]
        for item in gone:
            queue.remove(item)
            if item.part is not None:
                self._gone(item)
        inserts = self._report(now, head, ReportStatus.FAILED) \
            if head.part is not None and head.wants_report else []
        self._save(inserts, [item.row for item in gone])
        if queue:
            queue[0].next_attempt = min(queue[0].next_attempt, now)
        elif head.number in self._queues:
            del self._queues[head.number]
        return True

    def _gone(self, item: _Item) -> None:
        """A part left the queue (delivered, expired or refused): off the counts."""
        self._parts -= 1
        left = self._from.get(item.peer, 0) - 1
        if left > 0:
            self._from[item.peer] = left
        else:
            self._from.pop(item.peer, None)

    def _in_flight(self, delivery_id: int) -> tuple[deque[_Item], _Item] | None:
        for queue in self._queues.values():
            if queue and queue[0].row == delivery_id and queue[0].in_flight_until is not None:
                return queue, queue[0]
        return None

    def _retry_later(self, now: float, item: _Item) -> None:
        item.in_flight_until = None
        item.next_attempt = now + min(RETRY_FIRST * 2 ** max(item.attempts - 1, 0), RETRY_MAX)
        self._save([], [], [item])

    def _expiry(self, at: float, number: str) -> None:
        heapq.heappush(self._expiries, (at, number))
        if len(self._expiries) > 2 * (self._parts + len(self._queues)) + 64:
            self._rebuild_expiries()

    def _rebuild_expiries(self) -> None:
        self._expiries = [(item.expires, number) for number, queue in self._queues.items()
                          for item in queue]
        heapq.heapify(self._expiries)

    def next_wakeup(self) -> float | None:
        """When :meth:`poll` next has something to do (an expiry, a retry, a timeout); it may
        be early (something that was due went meanwhile), never late."""
        times = [self._expiries[0][0]] if self._expiries else []
        for number, queue in self._queues.items():
            if number in self._reachable and queue:
                head = queue[0]
                times.append(head.in_flight_until if head.in_flight_until is not None
                             else head.next_attempt)
        return min(times, default=None)

    # -- expiry and reports -------------------------------------------------------------------

    def _expire(self, now: float) -> None:
        deletes: list[int] = []
        inserts: list[_Item] = []
        reported: dict[int, _Item] = {}
        gone: dict[int, list[_Item]] = {}
        due = set()
        while self._expiries and self._expiries[0][0] <= now:
            due.add(heapq.heappop(self._expiries)[1])
        for number in due:
            queue = self._queues.get(number)
            if not queue:
                continue
            kept: deque[_Item] = deque()
            for item in queue:
                if item.expires > now:
                    kept.append(item)
                    continue
                deletes.append(item.row)
                if item.part is not None:
                    self._gone(item)
                    gone.setdefault(item.message, []).append(item)
                    if item.wants_report and item.message not in reported:
                        reported[item.message] = item
            self._queues[number] = kept
        for items in gone.values():
            text = "".join(item.part.text for item in items if item.part is not None)
            first = items[0]
            self._expired.append(Expired(first.message, first.peer, first.number, first.ref,
                                         text))
        del self._expired[:-MAX_EXPIRED_KEPT]
        # Reported after the sweep: a report may go into a queue being swept (a text to self).
        for item in reported.values():
            inserts.extend(self._report(item.expires, item, ReportStatus.EXPIRED))
        if deletes or inserts:
            self._save(inserts, deletes)
        for number in [number for number, queue in self._queues.items() if not queue]:
            del self._queues[number]
        if not self._queues:
            self._expiries.clear()

    def _report(self, at: float, item: _Item, status: ReportStatus) -> list[_Item]:
        """Queue a status report for ``item``'s sender (the oldest report goes when full)."""
        report = StatusReport(item.ref, item.number, status, at)
        queue = self._queues.setdefault(item.peer, deque())
        reports = [entry for entry in queue if entry.report is not None]
        if len(reports) >= MAX_REPORTS_PER_NUMBER:
            oldest = reports[0]
            if oldest is queue[0] and oldest.in_flight_until is not None and len(reports) > 1:
                oldest = reports[1]
            queue.remove(oldest)
            self.reports_dropped += 1
            self._save([], [oldest.row])
        new = _Item(self._take_row(), item.peer, 0, item.number, item.ref,
                    at + REPORT_VALIDITY, False, 0, at, report=report)
        queue.append(new)
        self._expiry(new.expires, new.number)
        return [new]

    @property
    def unsaved(self) -> bool:
        """Whether changes wait to be written (the file refused them)."""
        return bool(self._unsaved_inserts or self._unsaved_deletes or self._unsaved_updates)

    def _save(self, inserts: list[_Item], deletes: list[int],
              updates: Sequence[_Item] = ()) -> bool:
        """Write these changes and any left from before; False when the file refused them
        (they stay, for the next try)."""
        if self.store is None:
            return True
        for item in inserts:
            self._unsaved_inserts[item.row] = item
        for row in deletes:
            if self._unsaved_inserts.pop(row, None) is None:
                self._unsaved_deletes.add(row)
            self._unsaved_updates.pop(row, None)
        for item in updates:
            if item.row not in self._unsaved_inserts:  # an insert writes its latest count
                self._unsaved_updates[item.row] = item
        try:
            self.store.apply(list(self._unsaved_inserts.values()),
                             sorted(self._unsaved_deletes), list(self._unsaved_updates.values()))
        except sqlite3.Error:
            self.save_failures += 1
            return False
        self._unsaved_inserts.clear()
        self._unsaved_deletes.clear()
        self._unsaved_updates.clear()
        return True


# -- the file -------------------------------------------------------------------------------------

_SCHEMA = ("CREATE TABLE queue (row INTEGER PRIMARY KEY, number TEXT NOT NULL, "
           "kind TEXT NOT NULL, message INTEGER NOT NULL, peer TEXT NOT NULL, "
           "ref INTEGER NOT NULL, expires REAL NOT NULL, report INTEGER NOT NULL, "
           "attempts INTEGER NOT NULL, next_attempt REAL NOT NULL, dcs INTEGER NOT NULL, "
           "udl INTEGER NOT NULL, udhi INTEGER NOT NULL, data BLOB NOT NULL)",)
_COLUMNS = ["row", "number", "kind", "message", "peer", "ref", "expires", "report",
            "attempts", "next_attempt", "dcs", "udl", "udhi", "data"]
_TYPES = ["integer", "text", "text", "integer", "text", "integer", "real", "integer",
          "integer", "real", "integer", "integer", "integer", "blob"]


class SmscFile(CarrierFile):
    """The SMSC's queue on disk (``smsc.db``): one row per queued part or status report, in
    order of the row id."""

    SCHEMA = _SCHEMA
    FORMAT = FORMAT
    TABLE = "queue"
    COLUMNS = _COLUMNS
    DAMAGED = ("the SMS centre's queue is damaged at {key}; it was left untouched. Remove it "
               "to start with an empty queue (the SMS it held are lost)")

    def load(self) -> list[_Item]:
        """Every row, checked (types, numbers, finite times, a part that parses), in order."""
        assert self._db is not None
        items = []
        try:
            rows = self._db.execute(
                f"SELECT {', '.join(_COLUMNS)}, "
                f"{', '.join(f'typeof({column})' for column in _COLUMNS)} "
                "FROM queue ORDER BY row")
            for values in rows:
                items.append(self._item(values[:len(_COLUMNS)], list(values[len(_COLUMNS):])))
        except sqlite3.Error:
            raise self._damaged("(the whole file)") from None
        return items

    def _item(self, values: tuple, types: list[str]) -> _Item:
        (row, number, kind, message, peer, ref, expires, report, attempts, next_attempt, dcs,
         udl, udhi, data) = values
        where = f"queue row {row}"
        if types != _TYPES or not _number_ok(number) or not math.isfinite(expires) \
                or not math.isfinite(next_attempt) or not 0 <= ref <= 0xFF \
                or not 0 <= attempts < 1 << 31 or len(data) > MAX_USER_DATA:
            raise self._damaged(where)
        item = _Item(row, number, message, peer, ref, expires, bool(report), attempts,
                     next_attempt)
        try:
            if kind == "part" and _number_ok(peer):
                item.part = SmsPart.from_wire(Encoding(dcs), udl, bytes(data), bool(udhi))
            elif kind == "report" and _number_ok(peer):
                item.report = StatusReport(ref, peer, ReportStatus(bytes(data).decode("ascii")),
                                           expires - REPORT_VALIDITY)
            else:
                raise self._damaged(where)
        except (SmsError, ValueError):
            raise self._damaged(where) from None
        return item

    def apply(self, inserts: list[_Item], deletes: list[int],
              updates: Sequence[_Item] = ()) -> None:
        """Add rows, delete rows and note failed attempts, in one transaction."""
        assert self._db is not None
        rows = []
        for item in inserts:
            if item.part is not None:
                part = item.part
                rows.append((item.row, item.number, "part", item.message, item.peer, item.ref,
                             item.expires, int(item.wants_report), item.attempts,
                             item.next_attempt, part.encoding.value, part.udl, int(bool(part.udh)),
                             part.user_data))
            else:
                assert item.report is not None
                rows.append((item.row, item.number, "report", item.message, item.peer,
                             item.ref, item.expires, 0, item.attempts, item.next_attempt, 0, 0,
                             0, item.report.status.value.encode("ascii")))
        self._write(lambda db: (
            db.executemany("DELETE FROM queue WHERE row = ?", [(row,) for row in deletes]),
            db.executemany("UPDATE queue SET attempts = ?, next_attempt = ? WHERE row = ?",
                           [(item.attempts, item.next_attempt, item.row) for item in updates]),
            db.executemany(f"INSERT INTO queue ({', '.join(_COLUMNS)}) VALUES "
                           f"({', '.join('?' * len(_COLUMNS))})", rows)))


def open_smsc(folder: Path) -> Smsc:
    """The SMSC whose queue lives in ``folder`` (the carrier's), made there if new."""
    return Smsc(SmscFile(folder / SMSC_FILE))


def check_smsc_file(path: Path) -> None:
    """Refuse a damaged ``smsc.db`` (for the carrier's start-up check); makes no file."""
    if path.exists() or path.is_symlink():  # a dangling link is refused by the file's checks
        store = SmscFile(path)
        try:
            store.load()
        finally:
            store.close()

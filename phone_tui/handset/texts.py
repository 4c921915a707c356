"""The phone's plain SMS (the Open OS's "SMS" app): threads and messages in the persona's
encrypted store (table ``texts``, store schema 8), over the modem's SMS (``modem.send_sms`` and
``modem.on_sms``).

A text goes to the carrier's SMS centre in parts (``modem/sms.py``); its states follow what the SMSC
says: *sending* until its SMS-SUBMIT-REPORT, then *sent* (accepted: the carrier has it, and reads
it) or *failed* (refused, with the reason; or no answer within :data:`SENDING_TIMEOUT`, also across
a restart: the SMSC answers at once, so its answer was lost); then, from its SMS-STATUS-REPORT,
*delivered*, *expired* (the recipient's phone was away for the whole validity period) or *failed*
(its phone takes no plain SMS). A text received comes in parts too; they are put together
(``ReassemblyBuffer``) and kept once whole, once even if the SMSC delivers a part again (by the
delivery's id). Everything off the network is read with ``sms_pdu.read_sms`` (checked; a malformed
body is dropped); a received text's control characters are replaced as the messenger's rule has it
(``payloads.without_controls``: no terminal escape is kept), and the app shows it through
``ui.shown_text.clean``.

Plain SMS is not end-to-end encrypted: the carrier (and anyone it lets, or anyone on a cell with
no cipher) reads every text. The app says so.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from phone_tui.core.clock import Clock
from phone_tui.errors import PhoneTuiError
from phone_tui.handset.events import Event, EventStream
from phone_tui.handset.payloads import without_controls
from phone_tui.modem.frames import Envelope
from phone_tui.modem.sms import ReassemblyBuffer, SmsError, SmsMalformed, SmsPart, cost
from phone_tui.modem.sms_pdu import (
    FailureCause,
    SmsDeliver,
    SmsStatusReport,
    SmsSubmitReport,
    TpStatus,
    encode_address,
    read_sms,
)

log = logging.getLogger(__name__)

NOTE = "Plain SMS: the carrier can read these."
MAX_TEXT = 2000  # characters a person may send in one text (14 UCS-2 parts at most)
STATES = ("sending", "sent", "delivered", "expired", "failed", "received")
_FINAL_REPORT = {TpStatus.DELIVERED: "delivered", TpStatus.EXPIRED: "expired",
                 TpStatus.FAILED: "failed"}
SENDING_TIMEOUT = 600.0  # s a text waits for its SUBMIT-REPORT (the SMSC gives up in 3 min)
NO_ANSWER = "no answer from the SMS centre"
_CAUSES = {FailureCause.INVALID_ADDRESS: "no phone has that number",
           FailureCause.SENDER_QUOTA: "too many of your texts wait to be delivered; try later",
           FailureCause.INCOMPLETE: "not all of its parts reached it",
           FailureCause.SYSTEM_FAILURE: "it is full",
           FailureCause.SC_BUSY: "it is busy; try again"}
_COLUMNS = "id, number, outgoing, body, state, reason, at, unread, ref, parts"


class TextError(PhoneTuiError):
    """A text that cannot be sent (empty, too long, not a number an SMS can reach)."""


class TextReceived(Event):
    number: str
    text_id: int


class TextUpdated(Event):
    number: str
    text_id: int
    state: str


@dataclass(frozen=True)
class Text:
    id: int
    number: str
    outgoing: bool
    body: str
    state: str
    reason: str
    at: float
    unread: bool
    ref: int | None
    parts: int


@dataclass(frozen=True)
class Thread:
    number: str
    last: Text
    unread: int


def _text(row: tuple) -> Text:
    id_, number, outgoing, body, state, reason, at, unread, ref, parts = row
    return Text(id_, number, bool(outgoing), body, state, reason, at, bool(unread), ref, parts)


class Texts:
    """One OS's plain SMS, while it is unlocked (its store open)."""

    def __init__(self, *, persona: str, store, modem, clock: Clock,  # noqa: ANN001
                 events: EventStream) -> None:
        self.persona = persona
        self.store = store
        self.modem = modem
        self.clock = clock
        self.events = events
        self._buffer = ReassemblyBuffer()
        self._stale_timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._restore_parts()
        self._give_up_sending()  # a restart (or a lock) may have come between

    def close(self) -> None:
        """The store closes (a lock, a wipe): no timer touches it after."""
        self._closed = True
        if self._stale_timer is not None:
            self._stale_timer.cancel()
            self._stale_timer = None

    def _restore_parts(self) -> None:
        """The parts of texts not yet whole, back in the reassembly buffer (a restart or a
        lock came between them). A row that no longer parses is dropped."""
        rows = self.store.execute("SELECT net_id, at, sender, dcs, udl, udhi, data FROM "
                                  "texts_seen WHERE done = 0 ORDER BY at").fetchall()
        for net_id, at, sender, dcs, udl, udhi, data in rows:
            try:
                part = SmsPart.from_wire(dcs, udl, bytes(data), bool(udhi))
            except SmsMalformed:
                log.warning("an SMS part kept in the store no longer reads: dropped")
                with self.store.transaction():
                    self.store.execute("DELETE FROM texts_seen WHERE net_id = ?", (net_id,))
                continue
            self._buffer.add(at, sender, part)

    # -- sending ------------------------------------------------------------------------------

    def send(self, number: str, text: str) -> Text:
        """Send ``text`` to ``number`` as plain SMS (in parts if it needs them); returns it, in
        state "sending". Raises TextError for what cannot go."""
        number = number.replace(" ", "")
        if not text:
            raise TextError("Nothing to send.")
        if len(text) > MAX_TEXT:
            raise TextError(f"A text is at most {MAX_TEXT} characters.")
        try:
            encode_address(number)
        except ValueError:
            raise TextError(f"{number or 'That'} is not a number an SMS can reach.") from None
        if not cost(text).fits:
            raise TextError(cost(text).describe())
        try:
            ref, parts = self.modem.send_sms(number, text, report=True)
        except (ValueError, SmsError) as problem:
            raise TextError(str(problem)) from None
        with self.store.transaction():
            cursor = self.store.execute(
                "INSERT INTO texts (number, outgoing, body, state, at, ref, parts) "
                "VALUES (?, 1, ?, 'sending', ?, ?, ?)", (number, text, self.clock.now(), ref,
                                                        parts))
            text_id = cursor.lastrowid
        self.events.emit(TextUpdated(self.persona, number, text_id, "sending"))
        self._arm_sending()
        return self.get(text_id)

    def _give_up_sending(self) -> None:
        """Texts "sending" for longer than :data:`SENDING_TIMEOUT` become "failed": the SMS
        centre's answer will not come now."""
        self._stale_timer = None
        if self._closed:
            return
        rows = self.store.execute("SELECT id, number FROM texts WHERE outgoing = 1 AND state = "
                                  "'sending' AND at <= ?",
                                  (self.clock.now() - SENDING_TIMEOUT,)).fetchall()
        if rows:
            with self.store.transaction():
                for text_id, _ in rows:
                    self.store.execute("UPDATE texts SET state = 'failed', reason = ? WHERE "
                                       "id = ?", (NO_ANSWER, text_id))
            for text_id, number in rows:
                self.events.emit(TextUpdated(self.persona, number, text_id, "failed"))
        self._arm_sending()

    def _arm_sending(self) -> None:
        if self._stale_timer is not None or self._closed:
            return
        oldest = self.store.execute("SELECT min(at) FROM texts WHERE outgoing = 1 AND state = "
                                    "'sending'").fetchone()[0]
        if oldest is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # off the loop: the next start looks
        self._stale_timer = loop.call_later(
            max(oldest + SENDING_TIMEOUT - self.clock.now(), 5.0), self._give_up_sending)

    # -- from the SMS centre ------------------------------------------------------------------

    def on_sms(self, envelope: Envelope) -> bytes | None:
        """An SMS envelope from the carrier's SMS centre (the modem's ``on_sms``)."""
        try:
            tpdu = read_sms(envelope.body, uplink=False)
        except SmsMalformed as problem:
            log.info("an SMS from the network was dropped: %s", problem)
            return None
        if isinstance(tpdu, SmsDeliver):
            self._received(envelope, tpdu)
        elif isinstance(tpdu, SmsSubmitReport):
            state = "sent" if tpdu.accepted else "failed"
            reason = "" if tpdu.accepted or tpdu.cause is None else (
                "the SMS centre refused it ("
                + (_CAUSES.get(tpdu.cause) or tpdu.cause.name.lower().replace("_", " ")) + ")")
            self._advance(tpdu.message_ref, None, ("sending",), state, reason)
        elif isinstance(tpdu, SmsStatusReport):
            state = _FINAL_REPORT[tpdu.status]
            reason = {"expired": "not delivered within its validity period",
                      "failed": "the recipient's phone takes no SMS"}.get(state, "")
            self._advance(tpdu.message_ref, tpdu.recipient, ("sending", "sent"), state,
                          reason)
        return None

    def _received(self, envelope: Envelope, deliver: SmsDeliver) -> None:
        net_id = envelope.msg_id.hex()
        if self.store.execute("SELECT 1 FROM texts_seen WHERE net_id = ?",
                              (net_id,)).fetchone() is not None:
            return  # this part came before (the SMSC tried again): kept once
        now = self.clock.now()
        part = deliver.part
        whole = self._buffer.add(now, deliver.sender, part)
        concat = part.concat
        message = (f"{concat.reference}/{concat.total}/{part.encoding.value}"
                   if concat is not None else "")
        with self.store.transaction():
            self.store.execute(
                "INSERT INTO texts_seen (net_id, at, sender, message, dcs, udl, udhi, data, "
                "done) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (net_id, now, deliver.sender, message, part.encoding.value, part.udl,
                 int(bool(part.udh)), part.user_data, int(whole is not None)))
            if whole is not None and message:
                self.store.execute("UPDATE texts_seen SET done = 1 WHERE sender = ? AND "
                                   "message = ? AND done = 0",
                                   (deliver.sender, message))
            # Kept as long as the SMSC may send a part again (its longest validity, a week).
            self.store.execute("DELETE FROM texts_seen WHERE at < ?", (now - 8 * 86400,))
            text_id = None
            if whole is not None:
                cursor = self.store.execute(
                    "INSERT INTO texts (number, outgoing, body, state, at, unread, parts) "
                    "VALUES (?, 0, ?, 'received', ?, 1, ?)",
                    (deliver.sender, without_controls(whole), now,
                     deliver.part.concat.total if deliver.part.concat else 1))
                text_id = cursor.lastrowid
        if text_id is not None:
            self.events.emit(TextReceived(self.persona, deliver.sender, text_id))
        for lost in self._buffer.expire(now):
            # Given up (too old, or pushed out by newer ones): kept as far as it came.
            log.info("an SMS from %s was given up: %d of %d parts", lost.sender, lost.received,
                     lost.total)
            with self.store.transaction():
                self.store.execute("UPDATE texts_seen SET done = 1 WHERE sender = ? AND "
                                   "message LIKE ? AND done = 0",
                                   (lost.sender, f"{lost.reference}/{lost.total}/%"))
                cursor = self.store.execute(
                    "INSERT INTO texts (number, outgoing, body, state, reason, at, unread, "
                    "parts) VALUES (?, 0, ?, 'received', ?, ?, 1, ?)",
                    (lost.sender, without_controls(lost.text),
                     f"{lost.received} of {lost.total} parts came", now, lost.total))
            self.events.emit(TextReceived(self.persona, lost.sender, cursor.lastrowid))

    def _advance(self, ref: int, recipient: str | None, before: tuple[str, ...], state: str,
                 reason: str) -> None:
        """The newest text with message reference ``ref`` (to ``recipient``) still in one of
        the ``before`` states moves to ``state``."""
        marks = ", ".join("?" * len(before))
        where = f"outgoing = 1 AND ref = ? AND state IN ({marks})"
        params: tuple = (ref, *before)
        if recipient is not None:
            where += " AND number = ?"
            params += (recipient,)
        row = self.store.execute(f"SELECT id, number FROM texts WHERE {where} "
                                 "ORDER BY id DESC LIMIT 1", params).fetchone()
        if row is None:
            return  # not ours, or settled already
        text_id, number = row
        with self.store.transaction():
            self.store.execute("UPDATE texts SET state = ?, reason = ? WHERE id = ?",
                               (state, reason, text_id))
        self.events.emit(TextUpdated(self.persona, number, text_id, state))

    # -- reading ------------------------------------------------------------------------------

    def get(self, text_id: int) -> Text:
        row = self.store.execute(f"SELECT {_COLUMNS} FROM texts WHERE id = ?",
                                 (text_id,)).fetchone()
        if row is None:
            raise KeyError(text_id)
        return _text(row)

    def threads(self) -> list[Thread]:
        """Every thread, the most recent first, with its last text and unread count."""
        rows = self.store.execute(
            f"SELECT {_COLUMNS}, (SELECT count(*) FROM texts u WHERE u.number = t.number AND "
            "u.unread = 1) FROM texts t WHERE id IN (SELECT max(id) FROM texts GROUP BY number)"
            " ORDER BY id DESC").fetchall()
        return [Thread(row[1], _text(row[:10]), row[10]) for row in rows]

    def thread(self, number: str, limit: int = 200) -> list[Text]:
        """A thread's texts, oldest first (the last ``limit``)."""
        rows = self.store.execute(
            f"SELECT * FROM (SELECT {_COLUMNS} FROM texts WHERE number = ? ORDER BY id DESC "
            "LIMIT ?) ORDER BY id", (number, limit)).fetchall()
        return [_text(row) for row in rows]

    def unread(self) -> int:
        return self.store.execute("SELECT count(*) FROM texts WHERE unread = 1").fetchone()[0]

    def mark_read(self, number: str) -> None:
        if self.store.execute("SELECT 1 FROM texts WHERE number = ? AND unread = 1 LIMIT 1",
                              (number,)).fetchone() is None:
            return
        with self.store.transaction():
            self.store.execute("UPDATE texts SET unread = 0 WHERE number = ?", (number,))

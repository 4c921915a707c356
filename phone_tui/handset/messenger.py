"""The Messenger service: end-to-end encrypted conversations over the modem link.

X3DH starts a session from the recipient's prekey bundle (fetched from the network's key
directory); the Double Ratchet carries every message. The network sees the envelope (from, to,
size) and ciphertext, never the text. Messages, contacts and sessions live in the persona's
SQLCipher store; identity keys in its keystore.

Wire body (inside the network envelope):
    0x02 PREKEY  identity_dh 32 | ephemeral 32 | spk_id u32 | opk_id u32 | ratchet header 40
                 | ciphertext      (until the initiator hears back; every byte is bound to the
                 session: identity_dh through AD, the rest through SK)
    0x01 MESSAGE ratchet header 40 | ciphertext
    0x03 RETRY   network msg_id 16  (unencrypted: "I could not decrypt your message with this
                 id, start a new session and send it again"; see _on_retry for what it costs)
A call's signalling (an envelope of kind CALL) puts one clear byte in front of that body: the
HINT (RING for an offer, STOP for a hangup, 0 otherwise), unauthenticated, only for a locked
phone (no keys in memory) to ring and stop ringing; every state change comes from the payload.
Plaintext (padded, encrypted): JSON {"t": "text", "id", "body", "at", "expire"} or
{"t": "read", "ids": [...]} (read receipts) or {"t": "timer", "expire"} (the sender set the
conversation's disappearing-message timer), or {"t": "call", "op", "call", "at", ...} (a
call's signalling, only in a CALL envelope, handed to the registered ``CallSignals``), each
checked against its schema (payloads.py).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import struct
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar

from phone_tui.core.clock import Clock
from phone_tui.core.entropy import Entropy
from phone_tui.crypto.identity import (
    ONE_TIME_PREKEYS,
    REFILL_BELOW,
    IdentityKeys,
    InvalidBundle,
    PrekeyBundle,
    raw_public,
)
from phone_tui.crypto.ratchet import (
    HEADER_SIZE,
    MAX_SKIP,
    MAX_STORED_KEYS,
    DuplicateMessage,
    Header,
    Ratchet,
    RatchetError,
)
from phone_tui.crypto.x3dh import InitialMessage, initiate, respond
from phone_tui.errors import PhoneTuiError, StoreError
from phone_tui.handset.disappearing import timer_notice
from phone_tui.handset.events import Event, EventStream
from phone_tui.handset.numbers import is_number
from phone_tui.handset.payloads import (
    MAX_PLAINTEXT,
    MAX_READ_IDS,
    TIMER_PRESETS,
    CallPayload,
    Payload,
    PayloadError,
    ReadPayload,
    TextPayload,
    TimerPayload,
    Unusable,
    check_body,
    encoded_size,
    is_message_id,
)
from phone_tui.handset.payloads import parse as parse_payload

if TYPE_CHECKING:
    from phone_tui.modem.frames import Envelope
    from phone_tui.modem.modem import Modem
    from phone_tui.modem.network import Network
    from phone_tui.store.database import PersonaStore

log = logging.getLogger(__name__)

MESSAGE, PREKEY, RETRY = 0x01, 0x02, 0x03
HINT_NONE, HINT_RING, HINT_STOP = 0, 1, 2  # a CALL envelope's clear first byte
CALL_NET_IDS = 256  # call signalling envelopes whose delivery states are followed
_INITIAL = struct.Struct(">32s32sII")
NO_OPK = 0xFFFFFFFF
STATES = ("sending", "sent", "delivered", "read", "failed")
ARCHIVED_SESSIONS = 3  # older sessions kept per contact, for messages still in flight
# Healing (Signal's retry requests): how far back a retry may name one of our messages, how often
# one message is resent, and how often a session is restarted / a retry asked, per contact.
RETRY_WINDOW = 7 * 86400.0
MAX_RESENDS = 1
RESTART_EVERY = 60.0
RETRY_BUCKET, RETRY_REFILL = 20, 10.0  # requests we send: 20 at once, then one per 10 s
RETRY_CONTACTS = 256  # rate-limit state kept for at most this many numbers
NOTICE_EVERY = 600.0  # "could not be decrypted" is said at most once per contact in this time
SESSION_CACHE = 256  # contacts whose sessions stay in memory beyond those of the open batch
CONTACT_CACHE = 256  # contacts (or numbers that are none) remembered between store writes
SENT_CACHE = 1024  # sent messages whose state is remembered (those not delivered yet)
_UNKNOWN = object()
_COLUMNS = "id, uuid, number, outgoing, body, state, reason, at, unread, expires_at, kind"


class MessengerError(Exception):
    """Something the user asked for that cannot be done, with the reason."""


class IdentityChangedError(MessengerError):
    """Sending is blocked until the user accepts the contact's new safety number."""


class CallSignals(Protocol):
    """Who takes the calls' signalling (handset/calls.py's CallService). Both run inside the
    messenger's batch: what they write to the store commits with the frame."""

    def on_call_signal(self, sender: str, payload: CallPayload) -> None: ...

    def on_call_state(self, number: str, call_id: str, op: str, state: str,
                      reason: str) -> None: ...


def call_hint(op: str) -> int:
    """The clear hint byte a CALL envelope carrying ``op`` starts with."""
    return HINT_RING if op == "offer" else HINT_STOP if op in ("hangup", "reject", "differ") \
        else HINT_NONE


# ---- events ------------------------------------------------------------------------------------


class MessageReceived(Event):
    number: str
    uuid: str


class MessageUpdated(Event):
    number: str
    uuid: str
    state: str
    reason: str


class IdentityChanged(Event):
    number: str


class ContactVerified(Event):
    number: str


class SessionNotice(Event):
    """A one-line notice was added to a conversation (a session healed, a message resent)."""

    number: str
    text: str


class SendBlocked(Event):
    """A message was not sent: the contact's safety number changed and was not accepted."""

    number: str


@dataclass(frozen=True)
class Message:
    id: int
    uuid: str
    number: str
    outgoing: bool
    body: str
    state: str
    reason: str
    at: float
    unread: bool
    expires_at: float | None
    kind: str = "text"  # or "notice": one centred line the messenger wrote, not a message


@dataclass(frozen=True)
class Conversation:
    number: str
    name: str
    last: Message | None
    unread: int


@dataclass(frozen=True)
class Contact:
    number: str
    name: str
    identity: bytes | None
    verified: bool
    new_identity: bytes | None
    bot: bool
    timer: int


# ---- the service -------------------------------------------------------------------------------

P = ParamSpec("P")
R = TypeVar("R")


def _batched(method: Callable[P, R]) -> Callable[P, R]:
    """The method is one batch of work (or part of the batch already open)."""
    @functools.wraps(method)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        if args[0]._batch is not None:  # type: ignore[attr-defined]
            return method(*args, **kwargs)  # part of the open batch (no context to enter)
        with args[0].batch():  # type: ignore[attr-defined]
            return method(*args, **kwargs)

    return run


@dataclass
class _Batch:
    """What a batch of work holds back until its transaction commits."""

    events: list[Event] = field(default_factory=list)
    # dst, body, net id, kind (EnvelopeKind.MESSAGE or CALL)
    outgoing: list[tuple[str, bytes, bytes, int]] = field(default_factory=list)
    opks: list[int] = field(default_factory=list)  # one-time prekeys to consume
    dirty: set[str] = field(default_factory=set)  # numbers whose sessions changed
    touched: set[str] = field(default_factory=set)  # numbers whose sessions were loaded
    # Sent messages' new states, by uuid: (number, state, reason), written once at the end
    # ("sent" and "delivered" often come in one burst: one UPDATE).
    states: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    # Sent messages' states as this batch wrote them (number, state): remembered once it commits.
    written: dict[str, tuple[str, str]] = field(default_factory=dict)


class Messenger:
    """One persona's messenger. Its methods run on the event loop (crypto is fast enough)."""

    def __init__(self, *, number: str, persona: str, store: PersonaStore, identity: IdentityKeys,
                 network: Network, modem: Modem, entropy: Entropy, clock: Clock,
                 events: EventStream, save_identity: Callable[[IdentityKeys], None]) -> None:
        self.number = number
        self.persona = persona
        self.store = store
        self.identity = identity
        self.network = network
        self.modem = modem
        self.entropy = entropy
        self.clock = clock
        self.events = events
        self._save_identity = save_identity
        self._net_ids: dict[bytes, str] = {}
        self._retry_tokens: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._restarted: dict[str, tuple[float, int]] = {}  # number: (when, newest id then)
        self._noticed: OrderedDict[str, float] = OrderedDict()  # number: when last told
        self._batch: _Batch | None = None  # the batch of work open now
        # The live sessions, by contact, as in the store plus the open batch's changes (written
        # once, when it commits).
        self._sessions: OrderedDict[str, list[SessionRecord]] = OrderedDict()
        self._next_expiry: float | None = None  # the soonest a message disappears (None: unknown)
        # Contacts as read from the store (None: no such contact), while its contacts_version
        # is the one they were read at.
        self._contacts: OrderedDict[str, Contact | None] = OrderedDict()
        self._contacts_version = -1
        # Recent sent messages' states as committed (number, state), while the store's
        # deletes_version is the one they were read at: a state update needs no SELECT.
        self._sent: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._sent_version = -1
        # Who takes call signalling (None: a call payload is dropped), and the network ids of
        # the call envelopes sent, for their delivery states: (number, call id, op).
        self.calls: CallSignals | None = None
        self._call_net: OrderedDict[bytes, tuple[str, str, str]] = OrderedDict()

    # ---- batches of work ---------------------------------------------------------------------

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """One store transaction for a batch of work (a burst of frames, a loop tick of sends
        and state updates); nested batches join the open one. The sessions it changed are
        written once, at its end. Only once it committed are its envelopes handed to the modem
        (a ciphertext never leaves before the ratchet state that made it is on disk: a crash
        would reuse its message key for another text), its one-time prekeys consumed and its
        events told. If it fails, nothing of it is kept, on disk or in memory."""
        if self._batch is not None:
            yield
            return
        batch = self._batch = _Batch()
        refusal: MessengerError | None = None
        try:
            with self.store.transaction():
                try:
                    yield
                except MessengerError as refused:
                    # What the user asked cannot be done, but what was learnt on the way (a
                    # contact's changed identity, flagged) is kept, with the rest of the batch.
                    refusal = refused
                self._flush_states()
                for number in batch.dirty:
                    self._write_sessions(number, self._sessions[number])
        except BaseException:
            for number in batch.touched | batch.dirty:  # read again from the store when needed
                self._sessions.pop(number, None)
            raise
        finally:
            self._batch = None
        self._trim_cache()
        self._after_commit(batch)
        if refusal is not None:
            raise refusal

    def _after_commit(self, batch: _Batch) -> None:
        if batch.written:
            self._remember_sent(batch.written)
        for dst, body, net_id, kind in batch.outgoing:
            if kind == MESSAGE_KIND:
                self.modem.send(dst, body, msg_id=net_id)
            else:
                self.modem.send(dst, body, msg_id=net_id, kind=_envelope_kind(kind))
        for key_id in batch.opks:
            self._consume_one_time_prekey(key_id)
        # Told once the batch is kept and its prekeys consumed; a listener that fails (the UI,
        # a bot) cannot undo either, nor make the network hear "failed" for a kept message.
        for event in batch.events:
            try:
                self.events.emit(event)
            except Exception:
                log.exception("a listener failed on %s", type(event).__name__)

    @contextlib.contextmanager
    def _frame(self, sender: str) -> Iterator[None]:
        """What one frame changes (inside the open batch) is all or nothing: a savepoint in the
        store, and in memory its events, its envelopes and the sessions as they were."""
        batch = self._batch
        assert batch is not None
        marks = len(batch.events), len(batch.outgoing), len(batch.opks)
        states, written = dict(batch.states), dict(batch.written)
        saved = self._sessions.get(sender)
        snapshot = None if saved is None else [record.copy() for record in saved]
        dirty, touched = set(batch.dirty), set(batch.touched)
        try:
            with self.store.transaction():
                yield
        except BaseException:
            del batch.events[marks[0]:], batch.outgoing[marks[1]:], batch.opks[marks[2]:]
            batch.states, batch.written = states, written
            for number in (batch.dirty | batch.touched) - dirty - touched - {sender}:
                self._sessions.pop(number, None)  # not changed before the frame: the store's
            if snapshot is None:
                self._sessions.pop(sender, None)
            else:
                self._sessions[sender] = snapshot
            batch.dirty, batch.touched = dirty, touched | {sender}
            raise

    def _send_later(self, number: str, body: bytes, kind: int = 0) -> bytes:
        """Queue an envelope for the modem, handed over when the batch commits; its id now."""
        assert self._batch is not None
        net_id = self.modem.new_id()
        self._batch.outgoing.append((number, body, net_id, kind or MESSAGE_KIND))
        return net_id

    def _pending(self, net_id: bytes) -> bool:
        return self._batch is not None and any(
            queued == net_id for _dst, _body, queued, _kind in self._batch.outgoing)

    def forget_sessions_in_memory(self) -> None:
        """Drop the live sessions: read again from the store (changed behind our back, as a
        backup put back or a bot reset does)."""
        self._sessions.clear()
        self._contacts.clear()
        self._sent.clear()

    # ---- keys --------------------------------------------------------------------------------

    def publish_keys(self, only: list[int] | None = None) -> None:
        """Publish the signed bundle and one-time prekeys to the key directory: all unused
        ones to a directory that has none of ours, else only the ids in ``only``.

        A one-time prekey the directory handed out is never offered again."""
        if self.identity.rotate_signed_prekey(self.entropy, self.clock.now()):
            self._save_identity(self.identity)
        ids = list(self.identity.opks) if not self.network.has_keys(self.number) else (
            only or [])
        one_time = {key_id: raw_public(self.identity.opks[key_id].public_key())
                    for key_id in ids if key_id in self.identity.opks}
        self.network.publish_keys(self.number, self.identity.bundle().encode(), one_time)

    def maintain(self) -> int:
        """Periodic upkeep: expire disappearing messages, rotate the signed prekey weekly,
        refill one-time prekeys when the directory runs low. Returns messages expired. The
        store is searched only when a message is due: every stored one told ``_expires``."""
        expired = self.expire(due_only=True)
        left = self.network.one_time_keys_left(self.number)
        rotated = self.identity.rotate_signed_prekey(self.entropy, self.clock.now())
        forgot = self.identity.forget_old_prekeys(self.clock.now())
        fresh = (self.identity.add_one_time(self.entropy, ONE_TIME_PREKEYS - left)
                 if left < REFILL_BELOW else [])
        if rotated or fresh or forgot:
            self._save_identity(self.identity)
        if rotated or fresh:
            self.publish_keys(only=fresh)
        return expired

    # ---- contacts ----------------------------------------------------------------------------

    @_batched
    def add_contact(self, number: str, name: str, *, bot: bool = False) -> None:
        self.store.execute(
            "INSERT INTO contacts (number, name, bot) VALUES (?, ?, ?) "
            "ON CONFLICT(number) DO UPDATE SET name = excluded.name, bot = excluded.bot",
            (number, name, int(bot)))

    def contact(self, number: str) -> Contact | None:
        """The contact (None: not one), from memory while the store's contacts are unchanged
        (every message looks its sender or recipient up two or three times)."""
        if self._contacts_version != self.store.contacts_version:
            self._contacts.clear()
            self._contacts_version = self.store.contacts_version
        cached = self._contacts.get(number, _UNKNOWN)
        if cached is not _UNKNOWN:
            self._contacts.move_to_end(number)
            return cached  # type: ignore[return-value]
        row = self.store.execute("SELECT number, name, identity, verified, new_identity, bot, "
                                 "timer FROM contacts WHERE number = ?", (number,)).fetchone()
        contact = None if row is None else Contact(
            row[0], row[1], bytes.fromhex(row[2]) if row[2] else None, bool(row[3]),
            bytes.fromhex(row[4]) if row[4] else None, bool(row[5]), row[6])
        self._contacts[number] = contact
        while len(self._contacts) > CONTACT_CACHE:
            self._contacts.popitem(last=False)
        return contact

    def contacts(self) -> list[Contact]:
        rows = self.store.execute("SELECT number FROM contacts ORDER BY name").fetchall()
        return [c for (number,) in rows if (c := self.contact(number)) is not None]

    @_batched
    def accept_identity(self, number: str) -> None:
        """The user accepts a changed safety number: sending is possible again, unverified."""
        self.store.execute("UPDATE contacts SET identity = new_identity, new_identity = NULL, "
                           "verified = 0 WHERE number = ? AND new_identity IS NOT NULL",
                           (number,))

    @_batched
    def restore_identity(self, number: str, identity: bytes) -> bool:
        """Put back ``number``'s real identity key and drop the sessions made with any other
        (the demo stage, after its carrier left the middle: the phones forget the keys it
        planted). True when something changed."""
        contact = self.contact(number)
        if contact is None or (contact.identity == identity and contact.new_identity is None):
            return False
        self.store.execute("UPDATE contacts SET identity = ?, new_identity = NULL, verified = 0 "
                           "WHERE number = ?", (identity.hex(), number))
        self.store.execute("DELETE FROM sessions WHERE number = ?", (number,))
        self.forget_sessions_in_memory()
        return True

    @_batched
    def know_identity(self, number: str, identity: bytes) -> None:
        """Record a contact's identity key as if met before (trust on first use)."""
        self._check_identity(number, identity)

    @_batched
    def mark_verified(self, number: str, notice: str | None = None) -> None:
        """The contact's safety number is verified; ``notice``: a line the chat keeps."""
        self.store.execute("UPDATE contacts SET verified = 1 WHERE number = ?", (number,))
        if notice:
            self._add_notice(number, notice)
        self._emit(ContactVerified(self.persona, number))

    @_batched
    def set_timer(self, number: str, seconds: int) -> None:
        """Set the conversation's disappearing-message timer: the chat says so, the contact is
        told at once (a timer update), and every message either side sends from now carries
        it. An update that cannot leave now is carried by the next message instead."""
        if seconds not in TIMER_PRESETS:
            raise MessengerError(f"Disappearing-message timers are {TIMER_PRESETS} seconds.")
        contact = self.contact(number)
        if contact is None or contact.timer == seconds:
            return
        self.store.execute("UPDATE contacts SET timer = ? WHERE number = ?", (seconds, number))
        self._add_notice(number, timer_notice(None, seconds))
        if contact.new_identity is not None:
            return  # nothing leaves for this contact until the new safety number is accepted
        try:
            self._send_payload(number, TimerPayload(seconds).to_dict())
        except MessengerError as problem:
            log.info("timer update to %s not sent now (%s); the next message carries it",
                     number, problem)

    def _adopt_timer(self, sender: str, seconds: int) -> None:
        """A message or update from ``sender`` carries its timer: the conversation's timer
        becomes it, with a line in the chat when that is a change."""
        contact = self.contact(sender)
        if contact is None or contact.timer == seconds:
            return
        self.store.execute("UPDATE contacts SET timer = ? WHERE number = ?", (seconds, sender))
        self._add_notice(sender, timer_notice(contact.name, seconds))

    def safety_number(self, number: str) -> str | None:
        from phone_tui.crypto.fingerprint import safety_number

        contact = self.contact(number)
        if contact is None or (contact.new_identity or contact.identity) is None:
            return None
        theirs = contact.new_identity or contact.identity
        assert theirs is not None
        return safety_number(self.number, self.identity.public_dh, number, theirs)

    # ---- sending -----------------------------------------------------------------------------

    @_batched
    def send_text(self, number: str, body: str) -> str:
        """Encrypt and send; returns the message's id. Its state follows in MessageUpdated."""
        contact = self.contact(number)
        if contact is not None and contact.new_identity is not None:
            self.events.emit(SendBlocked(self.persona, number))
            raise IdentityChangedError(
                f"The safety number with {contact.name} changed. Verify and accept it first.")
        if contact is None:
            self.add_contact(number, number)
            contact = self.contact(number)
        assert contact is not None
        try:
            check_body(body)  # what the recipient's schema would drop is refused here
        except PayloadError as problem:
            raise MessengerError(f"This message cannot be sent: it {problem.reason}.") from None
        message_id = str(uuid.UUID(bytes=self.entropy.token_bytes(16)))
        now = self.clock.now()
        expires = now + contact.timer if contact.timer else None
        payload = TextPayload(message_id, body, now, contact.timer)
        if encoded_size(payload) > MAX_PLAINTEXT:
            raise MessengerError(f"This message is too long to send ({len(body)} characters; "
                                 "split it into several).")
        net_id = self._send_payload(number, payload.to_dict())
        self.store.execute(
            "INSERT INTO messages (uuid, number, outgoing, body, state, at, expires_at, net_id) "
            "VALUES (?, ?, 1, ?, 'sending', ?, ?, ?)",
            (message_id, number, body, now, expires, net_id.hex()))
        self._expires(expires)
        self._net_ids[net_id] = message_id
        assert self._batch is not None
        self._batch.written[message_id] = (number, "sending")
        self._emit(MessageUpdated(self.persona, number, message_id, "sending", ""))
        return message_id

    @_batched
    def resume_outbox(self) -> int:
        """After a restart: send again, with the same id (the receiver keeps one copy per id),
        each message still "sending" whose envelope died with the old process's outbox; one
        that cannot be sent now is marked failed with the reason. Returns how many went."""
        self._flush_states()
        rows = self.store.execute(
            "SELECT uuid, number, body, at, expires_at, net_id FROM messages "
            "WHERE outgoing = 1 AND state = 'sending' ORDER BY id").fetchall()
        resent = 0
        for message_id, number, body, at, expires_at, net_id in rows:
            if net_id and (self.modem.has_outgoing(bytes.fromhex(net_id))
                           or self._pending(bytes.fromhex(net_id))):
                continue  # sent in this run: still in the modem's outbox
            contact = self.contact(number)
            try:
                if contact is not None and contact.new_identity is not None:
                    raise IdentityChangedError(f"the safety number with {contact.name} changed")
                timer = round(expires_at - at) if expires_at is not None else 0
                new_id = self._send_payload(number, {"t": "text", "id": message_id,
                                                     "body": body, "at": at, "expire": timer})
            except MessengerError as problem:
                self._update_state_by_uuid(
                    message_id, "failed", f"not sent before phone-tui quit and not sent again "
                                          f"({problem}); send it again")
                continue
            self.store.execute("UPDATE messages SET net_id = ? WHERE uuid = ?",
                               (new_id.hex(), message_id))
            self._net_ids[new_id] = message_id
            resent += 1
        if resent:
            log.info("%d message(s) left unsent at the last quit sent again", resent)
        return resent

    @_batched
    def send_call(self, number: str, payload: CallPayload, *, offer_blocked: bool = True) -> bytes:
        """Send a call's signalling to ``number`` (a CALL envelope, its hint byte in front);
        returns the network id, whose states go to ``calls.on_call_state``. An offer to a
        contact whose safety number changed is refused (IdentityChangedError); a reply to a
        call that rang is not (the call screen shows the warning)."""
        contact = self.contact(number)
        if (payload.op == "offer" and offer_blocked and contact is not None
                and contact.new_identity is not None):
            raise IdentityChangedError(
                f"The safety number with {contact.name} changed. Verify and accept it first.")
        net_id = self._send_payload(number, payload.to_dict(), hint=call_hint(payload.op))
        self._call_net[net_id] = (number, payload.call, payload.op)
        while len(self._call_net) > CALL_NET_IDS:
            self._call_net.popitem(last=False)
        return net_id

    def emit(self, event: Event) -> None:
        """Tell ``event`` once the open batch committed (at once without one)."""
        self._emit(event)

    @_batched
    def _send_payload(self, number: str, payload: dict[str, Any], *,
                      hint: int | None = None) -> bytes:
        """Encrypt ``payload`` for ``number``; it goes to the modem once the batch committed.
        Returns the network id. With ``hint`` it is a CALL envelope starting with that byte."""
        sessions = self._load_sessions(number)
        if sessions and sessions[0].ratchet.cks is not None:
            record = sessions[0]
        else:
            record = self._start_session(number)
            sessions.insert(0, record)
        session, initial = record.ratchet, record.initial
        header, ciphertext = session.encrypt(json.dumps(payload).encode())
        if initial is not None:
            opk = initial.opk_id if initial.opk_id is not None else NO_OPK
            body = (bytes([PREKEY]) + _INITIAL.pack(initial.identity_dh, initial.ephemeral,
                                                     initial.spk_id, opk)
                    + header + ciphertext)
        else:
            body = bytes([MESSAGE]) + header + ciphertext
        self._save_sessions(number, sessions)
        if hint is not None:
            return self._send_later(number, bytes([hint]) + body, CALL_KIND)
        return self._send_later(number, body)

    def _start_session(self, number: str) -> SessionRecord:
        """X3DH from the number's prekey bundle: a new session as the initiator."""
        fetched = self.network.fetch_keys(number)
        if fetched is None:
            raise MessengerError(f"{number} has not published keys: is it a phone-tui number?")
        bundle_bytes, one_time = fetched
        try:
            bundle = PrekeyBundle.decode(bundle_bytes)
            if one_time is not None:
                bundle = bundle.with_one_time(*one_time)
            sk, ad, initial = initiate(self.identity, bundle, self.entropy)
        except InvalidBundle as problem:
            raise MessengerError(f"{number}'s keys are refused: {problem}") from None
        self._check_identity(number, bundle.identity_dh)
        contact = self.contact(number)
        if contact is not None and contact.new_identity is not None:
            raise IdentityChangedError(
                f"The safety number with {contact.name} changed. Verify and accept it first.")
        return SessionRecord(Ratchet.initiator(sk, ad, bundle.spk, self.entropy), initial, None)

    # ---- receiving ---------------------------------------------------------------------------

    def on_envelope(self, envelope: Envelope) -> None:
        """A message from the network. Garbage, replays, tampering and payloads that do not fit
        their schema are logged and dropped; the session stays usable. Only a failure of this
        phone's own store escapes (so the network is not told "delivered").

        What one frame changes (the ratchet step, the contact's identity, the message itself,
        read states) is all or nothing, inside the batch it is part of (a burst of frames is
        one transaction, ``batch``): if any of it cannot be written, none of it is, and the
        same frame decrypts again when it comes again (from the spool at the next unlock, or
        resent). A one-time prekey it used is consumed only once the batch committed."""
        sender, body = envelope.src, envelope.body
        if not is_number(sender):
            # The network writes the sender: a "number" with a newline or an escape sequence
            # would become a contact's name on every screen. Not a number: not a message.
            log.info("dropped a message whose sender is not a number (%d characters)",
                     len(sender))
            return
        call = int(getattr(envelope, "kind", MESSAGE_KIND)) == CALL_KIND
        if self._batch is not None:  # the modem's batch for the burst: the usual case
            self._on_frame(sender, envelope.msg_id, body, call=call)
            return
        with self.batch():
            self._on_frame(sender, envelope.msg_id, body, call=call)

    def _on_frame(self, sender: str, msg_id: bytes, body: bytes, *, call: bool = False) -> None:
        assert self._batch is not None
        used_opk: int | None = None
        try:
            with self._frame(sender):
                if call:
                    body = body[1:]  # the hint: only a locked phone's ringing reads it
                elif body[:1] == bytes([RETRY]):
                    self._on_retry(sender, body[1:])
                    return
                payload, used_opk = self._decrypt(sender, body)
                self._act_on(sender, payload, call=call)
        except (RatchetError, InvalidBundle, ValueError) as problem:
            kind = "a replayed" if isinstance(problem, DuplicateMessage) else "an unreadable"
            log.info("dropped %s message from %s: %s", kind, sender, type(problem).__name__)
            if isinstance(problem, RatchetError | InvalidBundle) and not isinstance(
                    problem, DuplicateMessage):
                self._ask_resend(sender, msg_id)
            return
        except Exception as problem:
            if is_store_failure(problem):
                raise
            # A frame that reached a flaw we do not know of: it must not end the batch.
            log.error("dropped a message from %s that could not be read: %s", sender,
                      type(problem).__name__)
            return
        if used_opk is not None:
            self._batch.opks.append(used_opk)

    def _emit(self, event: Event) -> None:
        if self._batch is not None:
            self._batch.events.append(event)
        else:
            self.events.emit(event)

    def _act_on(self, sender: str, payload: Payload | Unusable, *, call: bool = False) -> None:
        if isinstance(payload, Unusable):
            error = payload.error
            log.info("dropped a %s message from %s: %s", error.kind or "unknown-type", sender,
                     error)
        elif call != isinstance(payload, CallPayload):
            # Signalling rides CALL envelopes only (a locked phone rings by their hint), and
            # nothing else does.
            log.info("dropped a message from %s in the wrong kind of envelope", sender)
        elif isinstance(payload, CallPayload):
            if self.calls is None:
                log.info("dropped call signalling from %s: no calls here", sender)
            else:
                self.calls.on_call_signal(sender, payload)
        elif isinstance(payload, TextPayload):
            self._store_incoming(sender, payload)
        elif isinstance(payload, TimerPayload):
            self._adopt_timer(sender, payload.expire)
        else:
            for message_id in payload.ids:
                self._update_state_by_uuid(message_id, "read", "", number=sender)

    def _consume_one_time_prekey(self, key_id: int) -> None:
        """After the frame that used it committed: the one-time prekey is gone for good (in
        memory at once; on disk now, or with the next identity save if this one fails)."""
        self.identity.opks.pop(key_id, None)
        try:
            self._save_identity(self.identity)
        except (OSError, PhoneTuiError) as problem:  # the message is kept; the key goes later
            log.error("a used one-time prekey could not be removed from the keystore yet (%s); "
                      "it is, with the next identity save", type(problem).__name__)

    def _decrypt(self, sender: str, body: bytes) -> tuple[Payload | Unusable, int | None]:
        """The frame's payload, and the one-time prekey it used (to consume once the frame's
        transaction committed). Saves the ratchet step: call it inside that transaction."""
        if not body:
            raise ValueError("empty message")
        kind, rest = body[0], body[1:]
        sessions = self._load_sessions(sender)
        new_identity: bytes | None = None
        used_opk: int | None = None
        if kind == PREKEY:
            if len(rest) < _INITIAL.size + HEADER_SIZE:
                raise ValueError("truncated initial message")
            identity_dh, ephemeral, spk_id, opk_id = _INITIAL.unpack_from(rest)
            rest = rest[_INITIAL.size:]
            record = next((r for r in sessions if r.peer_ephemeral == ephemeral), None)
            if record is None:
                initial = InitialMessage(identity_dh, ephemeral, spk_id,
                                         None if opk_id == NO_OPK else opk_id)
                sk, ad = respond(self.identity, initial)
                spk = self.identity.signed_prekey(spk_id)
                assert spk is not None  # respond() refused an unknown one
                record = SessionRecord(Ratchet.responder(sk, ad, spk), None, ephemeral)
                # Trust (first use, or "changed") and the one-time prekey move only once the
                # message decrypts below: an unreadable one must change nothing.
                new_identity = identity_dh
                used_opk = initial.opk_id
            candidates = [(record, MAX_SKIP)]
        elif kind == MESSAGE:
            if not sessions:
                raise RatchetError("no session with this sender")
            candidates = _candidates(sessions, Header.decode(rest[:HEADER_SIZE]).dh)
        else:
            raise ValueError(f"unknown message type {kind}")
        failure: RatchetError | None = None
        for record, max_skip in candidates:
            try:
                plaintext = record.ratchet.decrypt(rest[:HEADER_SIZE], rest[HEADER_SIZE:],
                                                   self.entropy, max_skip=max_skip)
            except DuplicateMessage:
                raise
            except RatchetError as problem:
                failure = failure or problem
                continue
            try:
                payload: Payload | Unusable = parse_payload(plaintext)
            except PayloadError as problem:
                payload = Unusable(problem)  # received all the same: the session moves on
            if kind == MESSAGE:
                record.initial = None  # the peer answered: no more X3DH headers needed
            if new_identity is not None:
                self._check_identity(sender, new_identity)
            if kind == MESSAGE and sessions and _keeps_current(sessions[0], record):
                self._save_sessions(sender, sessions)
            else:
                self._save_sessions(sender, [record] + [r for r in sessions if r is not record])
            return payload, used_opk
        assert failure is not None
        raise failure

    # ---- healing: retry requests (Signal's), a fresh session, the same message again --------

    def _ask_resend(self, sender: str, msg_id: bytes) -> None:
        """A frame from ``sender`` did not decrypt: ask for it again (a RETRY frame naming its
        network id), as Signal does for any frame it cannot read: from a stranger too, since a
        phone that lost its state (or a sender back on a new number) cannot tell. The sender
        acts only on a recent message of its own; the request is 17 bytes for one frame in,
        rate-limited per number, so garbage under a spoofed number costs little."""
        if len(msg_id) != 16 or sender == self.number:
            return
        if not self._take_retry_token(sender):
            log.info("no retry request to %s: too many just now", sender)
            return
        with self.batch():
            self._send_later(sender, bytes([RETRY]) + msg_id)
        now = self.clock.now()
        told = self._noticed.pop(sender, float("-inf"))
        if now - told < NOTICE_EVERY:
            self._noticed[sender] = told
            return
        self._noticed[sender] = now
        while len(self._noticed) > RETRY_CONTACTS:
            self._noticed.popitem(last=False)
        self._add_notice(sender, f"A message from {self._name(sender)} could not be "
                                 "decrypted; asked to resend it.")

    def _take_retry_token(self, number: str) -> bool:
        now = self.clock.now()
        tokens, at = self._retry_tokens.pop(number, (float(RETRY_BUCKET), now))
        tokens = min(float(RETRY_BUCKET), tokens + (now - at) / RETRY_REFILL)
        granted = tokens >= 1
        self._retry_tokens[number] = (tokens - 1 if granted else tokens, now)
        while len(self._retry_tokens) > RETRY_CONTACTS:
            self._retry_tokens.popitem(last=False)
        return granted

    def _on_retry(self, sender: str, rest: bytes) -> None:
        """``sender`` could not decrypt one of our messages. Only a recent text message of ours
        to that same number, resent fewer than MAX_RESENDS times, is sent again (anything else
        costs one indexed lookup): in a fresh session (X3DH from a fresh bundle, the identity
        check still applies) unless one was started since that message, at most once a minute;
        same message uuid, so the receiver keeps it once."""
        if len(rest) != 16:
            return
        row = self.store.execute(
            "SELECT id, uuid, body, at, expires_at, resent FROM messages WHERE net_id = ? AND "
            "number = ? AND outgoing = 1 AND kind = 'text'", (rest.hex(), sender)).fetchone()
        if row is None or row[5] >= MAX_RESENDS or row[3] < self.clock.now() - RETRY_WINDOW:
            log.info("ignored a retry request from %s", sender)
            return
        row_id, message_id, body, at, expires_at = row[:5]
        contact = self.contact(sender)
        if contact is None or contact.new_identity is not None:
            return  # sending is blocked until the user accepts the new safety number
        now = self.clock.now()
        when, newest = self._restarted.get(sender, (float("-inf"), 0))
        restart = row_id > newest and now - when >= RESTART_EVERY
        try:
            if restart:
                record = self._start_session(sender)
                self._save_sessions(sender, [record] + self._load_sessions(sender))
                latest = self.store.execute("SELECT max(id) FROM messages").fetchone()[0]
                self._restarted[sender] = (now, latest or 0)
            expire = round(expires_at - at) if expires_at is not None else 0
            net_id = self._send_payload(sender, TextPayload(message_id, body, at, expire).to_dict())
        except MessengerError as problem:  # a changed identity (now flagged) or no keys
            log.info("could not resend to %s: %s", sender, problem)
            return
        self.store.execute("UPDATE messages SET net_id = ?, resent = resent + 1 WHERE id = ?",
                           (net_id.hex(), row_id))
        self._net_ids[net_id] = message_id
        log.info("resent a message to %s%s", sender, " in a new session" if restart else "")
        if restart:
            self._add_notice(sender, f"Secure session with {self._name(sender)} restarted; "
                                     "message resent.")

    def _name(self, number: str) -> str:
        contact = self.contact(number)
        return contact.name if contact is not None else number

    def _add_notice(self, number: str, text: str) -> None:
        """One centred line in the chat; the same line twice in a row is written once."""
        last = self.store.execute("SELECT kind, body FROM messages WHERE number = ? ORDER BY id "
                                  "DESC LIMIT 1", (number,)).fetchone()
        if last is not None and tuple(last) == ("notice", text):
            return
        if self.contact(number) is None:
            return  # garbage under a stranger's number makes no conversation
        self.store.execute(
            "INSERT INTO messages (uuid, number, outgoing, body, state, at, unread, kind) "
            "VALUES (?, ?, 0, ?, 'notice', ?, 0, 'notice')",
            (str(uuid.UUID(bytes=self.entropy.token_bytes(16))), number, text,
             self.clock.now()))
        self._emit(SessionNotice(self.persona, number, text))

    def _store_incoming(self, sender: str, payload: TextPayload) -> None:
        contact = self.contact(sender)
        if contact is None:
            self.add_contact(sender, sender)
            contact = self.contact(sender)
        # A timer that changes is said in the chat above the message, so the copy check comes
        # first; the usual message (same timer) leaves it to INSERT OR IGNORE below.
        if contact is None or contact.timer != payload.expire:
            if self.store.execute("SELECT 1 FROM messages WHERE uuid = ?",
                                  (payload.id,)).fetchone() is not None:
                return  # a copy of one kept already (a resend): its old timer changes nothing
            # The sender's timer is the conversation's from now, and this message disappears
            # that long after it arrived.
            self._adopt_timer(sender, payload.expire)
        now = self.clock.now()
        expires = now + payload.expire if payload.expire else None
        cursor = self.store.execute(
            "INSERT OR IGNORE INTO messages (uuid, number, outgoing, body, state, at, unread, "
            "expires_at) VALUES (?, ?, 0, ?, 'received', ?, 1, ?)",
            (payload.id, sender, payload.body, now, expires))
        self._expires(expires)
        if cursor.rowcount:
            self._emit(MessageReceived(self.persona, sender, payload.id))

    @_batched
    def on_state(self, net_id: bytes, state: str, reason: str) -> None:
        """The network's word on a message we sent: sent, delivered or failed."""
        # Final network states end the in-memory mapping (the store keeps net_id for later).
        final = state in ("delivered", "failed", "unavailable")
        call = self._call_net.get(net_id)
        if call is not None:
            if final:
                del self._call_net[net_id]
            if self.calls is not None:
                self.calls.on_call_state(*call, state, reason)
            return
        message_id = self._net_ids.pop(net_id, None) if final else self._net_ids.get(net_id)
        if message_id is None:
            row = self.store.execute("SELECT uuid FROM messages WHERE net_id = ?",
                                     (net_id.hex(),)).fetchone()
            if row is None:
                return  # a read receipt's own delivery
            message_id = row[0]
        self._update_state_by_uuid(message_id, state, reason)

    def _update_state_by_uuid(self, message_id: str, state: str, reason: str, *,
                              number: str | None = None) -> None:
        """Move a sent message on; with ``number``, only one sent to that number (a read
        receipt speaks only for its sender's conversation)."""
        batch = self._batch
        assert batch is not None  # its callers are batches
        pending = batch.states.get(message_id)
        if pending is not None:
            row: tuple[str, str] | None = pending[:2]
        elif (known := self._sent_state(message_id)) is not None:
            row = known
        else:
            row = self.store.execute("SELECT number, state FROM messages WHERE uuid = ? AND "
                                     "outgoing = 1", (message_id,)).fetchone()
        if row is None or (number is not None and row[0] != number):
            return
        number, current = row
        # States only move forward (a read receipt can overtake "delivered").
        if state != "failed" and STATES.index(state) <= STATES.index(current):
            return
        batch.states[message_id] = (number, state, reason)  # written once, at the batch's end
        self._emit(MessageUpdated(self.persona, number, message_id, state, reason))

    def _flush_states(self) -> None:
        """Write the open batch's state changes (before its end, for a query reading them)."""
        batch = self._batch
        if batch is None or not batch.states:
            return
        states, batch.states = batch.states, {}
        for message_id, (number, state, reason) in states.items():
            self.store.execute("UPDATE messages SET state = ?, reason = ? WHERE uuid = ?",
                               (state, reason, message_id))
            batch.written[message_id] = (number, state)

    def _sent_state(self, message_id: str) -> tuple[str, str] | None:
        """A sent message's (number, state) as committed, if remembered and still valid."""
        if self._sent_version != self.store.deletes_version:
            self._sent.clear()
            self._sent_version = self.store.deletes_version
            return None
        return self._sent.get(message_id)

    def _remember_sent(self, written: dict[str, tuple[str, str]]) -> None:
        if self._sent_version != self.store.deletes_version:
            self._sent.clear()
            self._sent_version = self.store.deletes_version
        for message_id, (number, state) in written.items():
            self._sent.pop(message_id, None)
            if state in ("sending", "sent"):  # later ones are rare: asked from the store
                self._sent[message_id] = (number, state)
        while len(self._sent) > SENT_CACHE:
            self._sent.popitem(last=False)

    # ---- reading -----------------------------------------------------------------------------

    def unread_count(self) -> int:
        """Unread messages in all conversations: one indexed count (the home tile's badge)."""
        return self.store.execute("SELECT count(*) FROM messages WHERE unread = 1").fetchone()[0]

    def conversations(self) -> list[Conversation]:
        rows = self.store.execute(
            "SELECT c.number, c.name, (SELECT count(*) FROM messages m WHERE m.number = c.number"
            " AND m.unread = 1), (SELECT max(id) FROM messages m WHERE m.number = c.number"
            " AND m.kind = 'text')"
            " FROM contacts c ORDER BY 4 DESC NULLS LAST, c.name").fetchall()
        out = []
        for number, name, unread, last_id in rows:
            last = self._message_by_id(last_id) if last_id is not None else None
            out.append(Conversation(number, name, last, unread))
        return out

    def history(self, number: str, *, before_id: int | None = None,
                limit: int = 200) -> list[Message]:
        """Messages oldest first, ``limit`` at most, older than ``before_id`` when given."""
        self._flush_states()
        rows = self.store.execute(
            f"SELECT * FROM (SELECT {_COLUMNS} "
            "FROM messages WHERE number = ? AND id < ? ORDER BY id DESC LIMIT ?) "
            "ORDER BY id", (number, before_id if before_id is not None else 2**62, limit))
        return [_message(row) for row in rows]

    def history_after(self, number: str, after_id: int, limit: int = 200) -> list[Message]:
        """Messages newer than ``after_id``, oldest first, ``limit`` at most."""
        self._flush_states()
        rows = self.store.execute(
            f"SELECT {_COLUMNS} FROM messages WHERE number = ? AND id > ? ORDER BY id LIMIT ?",
            (number, after_id, limit))
        return [_message(row) for row in rows]

    def id_range(self, number: str) -> tuple[int, int] | None:
        """The oldest and newest message ids of a conversation (None when empty)."""
        # Two subqueries: each is one step down the conversation index (min and max in one
        # SELECT walk every row of the conversation).
        low, high = self.store.execute(
            "SELECT (SELECT min(id) FROM messages WHERE number = ?), "
            "(SELECT max(id) FROM messages WHERE number = ?)", (number, number)).fetchone()
        return None if low is None else (low, high)

    def count(self, number: str) -> int:
        """Messages in a conversation (its notices not counted)."""
        return self.store.execute("SELECT count(*) FROM messages WHERE number = ? AND "
                                  "kind = 'text'", (number,)).fetchone()[0]

    def search(self, number: str, text: str) -> list[Message]:
        self._flush_states()
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self.store.execute(
            f"SELECT {_COLUMNS} FROM messages WHERE number = ? AND kind = 'text' "
            "AND body LIKE ? ESCAPE '\\' ORDER BY id",
            (number, pattern))
        return [_message(row) for row in rows]

    def first_unread_id(self, number: str) -> int | None:
        """The id of the oldest unread message of a conversation (None when all are read)."""
        return self.store.execute("SELECT min(id) FROM messages WHERE number = ? AND unread = 1",
                                  (number,)).fetchone()[0]

    @_batched
    def mark_read(self, number: str) -> int:
        """Mark a conversation read and tell the sender (an encrypted read receipt)."""
        rows = self.store.execute("SELECT uuid FROM messages WHERE number = ? AND unread = 1",
                                  (number,)).fetchall()
        if not rows:
            return 0
        self.store.execute("UPDATE messages SET unread = 0 WHERE number = ? AND unread = 1",
                           (number,))
        ids = [row[0] for row in rows]
        # Receipts carry only ids the schema accepts (a store may hold older, odd ones), at
        # most MAX_READ_IDS in each.
        receipted = [message_id for message_id in ids if is_message_id(message_id)]
        contact = self.contact(number)
        if contact is not None and contact.new_identity is None:
            try:
                for start in range(0, len(receipted), MAX_READ_IDS):
                    chunk = tuple(receipted[start:start + MAX_READ_IDS])
                    self._send_payload(number, ReadPayload(chunk).to_dict())
            except MessengerError as problem:
                log.info("no read receipt to %s: %s", number, problem)
        return len(ids)

    def expire(self, *, due_only: bool = False) -> int:
        """Delete messages whose disappearing timer ran out; returns how many. With
        ``due_only`` (the UI asks every second) the store is only searched once the soonest
        known expiry has come."""
        now = self.clock.now()
        if due_only and self._next_expiry is not None and now < self._next_expiry:
            return 0
        with self.batch():
            return self._expire(now)

    def _expire(self, now: float) -> int:
        cursor = self.store.execute("DELETE FROM messages WHERE expires_at IS NOT NULL AND "
                                    "expires_at <= ?", (now,))
        soonest = self.store.execute("SELECT min(expires_at) FROM messages "
                                     "WHERE expires_at IS NOT NULL").fetchone()[0]
        self._next_expiry = soonest if soonest is not None else math.inf
        return cursor.rowcount

    def _expires(self, at: float | None) -> None:
        """A message that disappears at ``at`` was stored: expire() looks again by then."""
        if at is not None and self._next_expiry is not None:
            self._next_expiry = min(self._next_expiry, at)

    def _message_by_id(self, message_id: int) -> Message | None:
        self._flush_states()
        row = self.store.execute(
            f"SELECT {_COLUMNS} FROM messages WHERE id = ?", (message_id,)).fetchone()
        return _message(row) if row else None

    # ---- identities and sessions -------------------------------------------------------------

    def _check_identity(self, number: str, identity: bytes) -> None:
        """Trust on first use; a different key later flips the contact to "changed"."""
        contact = self.contact(number)
        if contact is None:
            self.add_contact(number, number)
            contact = self.contact(number)
        assert contact is not None
        if contact.identity is None:
            self.store.execute("UPDATE contacts SET identity = ? WHERE number = ?",
                               (identity.hex(), number))
        elif contact.identity != identity and contact.new_identity != identity:
            self.store.execute("UPDATE contacts SET new_identity = ?, verified = 0 "
                               "WHERE number = ?", (identity.hex(), number))
            log.warning("safety number with %s changed", number)
            # Said in the conversation where it happened, between the messages before and after.
            self._add_notice(number, f"Your safety number with {contact.name} changed.")
            self._emit(IdentityChanged(self.persona, number))

    def _load_sessions(self, number: str) -> list[SessionRecord]:
        """The current session first, then up to ``ARCHIVED_SESSIONS`` older ones: the live
        ones in memory, read from the store the first time (a new list; its records are the
        live ones, so a change to one is followed by ``_save_sessions``)."""
        cached = self._sessions.get(number)
        if cached is None:
            row = self.store.execute("SELECT state FROM sessions WHERE number = ?",
                                     (number,)).fetchone()
            cached = [] if row is None else decode_sessions(row[0])
            self._sessions[number] = cached
        else:
            self._sessions.move_to_end(number)
        if self._batch is not None:
            self._batch.touched.add(number)
        return list(cached)

    def _save_sessions(self, number: str, sessions: list[SessionRecord]) -> None:
        """The live sessions of ``number`` changed: written when the batch commits."""
        kept = sessions[:1 + ARCHIVED_SESSIONS]
        # Skipped message keys are capped per contact, not per session: a peer that fills
        # every stored session would otherwise make each later frame load and save four times
        # as many. The current session keeps its newest first, the archived ones what is left.
        budget = MAX_STORED_KEYS
        for record in kept:
            skipped = record.ratchet.skipped
            while len(skipped) > budget:
                skipped.popitem(last=False)
            budget -= len(skipped)
        self._sessions[number] = kept
        self._sessions.move_to_end(number)
        if self._batch is not None:
            self._batch.dirty.add(number)
        else:
            self._write_sessions(number, kept)

    def _write_sessions(self, number: str, sessions: list[SessionRecord]) -> None:
        self.store.execute("INSERT INTO sessions (number, state) VALUES (?, ?) "
                           "ON CONFLICT(number) DO UPDATE SET state = excluded.state",
                           (number, encode_sessions(sessions)))

    def _trim_cache(self) -> None:
        """Keep the sessions of the last SESSION_CACHE contacts in memory (no batch is open:
        nothing in it is unwritten)."""
        while len(self._sessions) > SESSION_CACHE:
            self._sessions.popitem(last=False)


@dataclass
class SessionRecord:
    """A ratchet session, the X3DH header to repeat until the peer answers (if we started
    it), and the peer's ephemeral key (if they did)."""

    ratchet: Ratchet
    initial: InitialMessage | None
    peer_ephemeral: bytes | None

    def copy(self) -> SessionRecord:
        return SessionRecord(self.ratchet.copy(), self.initial, self.peer_ephemeral)

    def to_dict(self) -> dict[str, Any]:
        initial = None
        if self.initial is not None:
            initial = {"identity_dh": self.initial.identity_dh.hex(),
                       "ephemeral": self.initial.ephemeral.hex(),
                       "spk_id": self.initial.spk_id, "opk_id": self.initial.opk_id}
        return {"ratchet": self.ratchet.to_dict(), "initial": initial,
                "peer_ephemeral": self.peer_ephemeral.hex() if self.peer_ephemeral else None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionRecord:
        raw = data.get("initial")  # saved before XEdDSA, it also had "identity_sign": ignored
        initial = None if not raw else InitialMessage(
            bytes.fromhex(raw["identity_dh"]), bytes.fromhex(raw["ephemeral"]), raw["spk_id"],
            raw["opk_id"])
        peer = data.get("peer_ephemeral")
        return cls(Ratchet.from_dict(data["ratchet"]), initial,
                   bytes.fromhex(peer) if peer else None)


_SESSIONS_V1 = b"\x01"  # the binary form's first byte (the JSON form is text: '{"sessions"…')
_RECORD = struct.Struct(">BI")  # flags (1: an X3DH header, 2: the peer's ephemeral), ratchet size
_EPHEMERAL = struct.Struct(">32s")


def encode_sessions(records: list[SessionRecord]) -> bytes:
    """A contact's sessions as one blob (the store's ``sessions.state``): compact binary, a
    third of the JSON form, and written several times faster (once per batch and contact)."""
    out = bytearray(_SESSIONS_V1)
    out += len(records).to_bytes(2, "big")
    for record in records:
        ratchet = record.ratchet.to_bytes()
        initial, peer = record.initial, record.peer_ephemeral
        out += _RECORD.pack((initial is not None) | (peer is not None) << 1, len(ratchet))
        if initial is not None:
            out += _INITIAL.pack(initial.identity_dh, initial.ephemeral, initial.spk_id,
                                 NO_OPK if initial.opk_id is None else initial.opk_id)
        if peer is not None:
            out += _EPHEMERAL.pack(peer)
        out += ratchet
    return bytes(out)


def decode_sessions(state: bytes | str) -> list[SessionRecord]:
    """The sessions ``encode_sessions`` wrote, or the JSON form older versions wrote (read the
    same; written back in the binary form with the next change). ValueError if neither."""
    if isinstance(state, str):
        return [SessionRecord.from_dict(item) for item in json.loads(state)["sessions"]]
    data = memoryview(state)
    if data[:1] != _SESSIONS_V1 or len(data) < 3:
        raise ValueError("not a sessions blob")
    count, at, records = int.from_bytes(data[1:3], "big"), 3, []
    try:
        for _ in range(count):
            flags, size = _RECORD.unpack_from(data, at)
            at += _RECORD.size
            initial = peer = None
            if flags & 1:
                identity_dh, ephemeral, spk_id, opk_id = _INITIAL.unpack_from(data, at)
                at += _INITIAL.size
                initial = InitialMessage(identity_dh, ephemeral, spk_id,
                                         None if opk_id == NO_OPK else opk_id)
            if flags & 2:
                (peer,) = _EPHEMERAL.unpack_from(data, at)
                at += _EPHEMERAL.size
            if at + size > len(data):
                raise ValueError("truncated sessions blob")
            records.append(SessionRecord(Ratchet.from_bytes(bytes(data[at:at + size])),
                                         initial, peer))
            at += size
    except struct.error:
        raise ValueError("truncated sessions blob") from None
    if at != len(data):
        raise ValueError("trailing bytes after the sessions")
    return records


def _candidates(sessions: list[SessionRecord],
                ratchet_key: bytes) -> list[tuple[SessionRecord, int]]:
    """The sessions to try for a MESSAGE frame, each with the message keys it may derive for
    messages not received, so that one frame costs at most MAX_SKIP key derivations however
    many sessions are stored: the session the header's ratchet key belongs to, and only it;
    else the current one. Archived sessions are tried for a ratchet key none of them knows only
    as the start of a new chain, skipping nothing (after both phones started a session at once
    the peer may answer in one we archived)."""
    owner = next((record for record in sessions if record.ratchet.owns(ratchet_key)), None)
    if owner is not None:
        return [(owner, MAX_SKIP)]
    return [(sessions[0], MAX_SKIP)] + [(record, 0) for record in sessions[1:]]


def _keeps_current(current: SessionRecord, other: SessionRecord) -> bool:
    """Whether a MESSAGE that decrypted in the archived session ``other`` leaves ``current``
    the one we send in. After both phones started a session at once, each has both, and if
    each promoted the one it last received in, two phones that keep sending to each other
    would swap forever (each then tries every frame in the wrong session first: one X25519
    exchange, an HKDF and a failed AES-GCM per frame). Both sides break the tie alike, for
    that case only: two sessions the peer has answered in between the same two identity keys,
    one begun by each phone (X3DH's AD = IK_A || IK_B, so one AD is the other's halves
    swapped): the one whose AD sorts lower stays. In every other case the newest session the
    peer used wins, as before: a peer that restarted a session, and a session under another
    identity key (a forged one, whose initiator's half its maker picks, must not stay current
    against the genuine peer's next message)."""
    ours, theirs = current.ratchet, other.ratchet
    half = len(ours.ad) // 2
    mirrored = len(ours.ad) == 2 * half and theirs.ad == ours.ad[half:] + ours.ad[:half]
    return (current is not other and current.initial is None and ours.ckr is not None
            and ours.cks is not None and mirrored and ours.ad < theirs.ad)


MESSAGE_KIND, CALL_KIND = 1, 4  # EnvelopeKind.MESSAGE and .CALL (not imported at start-up)


def _envelope_kind(kind: int) -> Any:
    from phone_tui.modem.frames import EnvelopeKind

    return EnvelopeKind(kind)


def is_store_failure(problem: Exception) -> bool:
    """This phone's own storage failed (not the sender's doing): the message was not kept."""
    import sqlcipher3  # loaded already: the store is open

    return isinstance(problem, sqlcipher3.Error | StoreError | OSError)


def _message(row: tuple[Any, ...]) -> Message:
    return Message(row[0], row[1], row[2], bool(row[3]), row[4], row[5], row[6], row[7],
                   bool(row[8]), row[9], row[10])



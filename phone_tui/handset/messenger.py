"""The Messenger service: end-to-end encrypted conversations over the modem link.

X3DH starts a session from the recipient's prekey bundle (fetched from the network's key
directory); the Double Ratchet carries every message. The network sees the envelope (from, to,
size) and ciphertext, never the text. Messages, contacts and sessions live in the persona's
SQLCipher store; identity keys in its keystore.

Wire body (inside the network envelope):
    0x02 PREKEY  identity_dh 32 | identity_sign 32 | ephemeral 32 | spk_id u32 | opk_id u32
                 | ratchet header 40 | ciphertext      (until the initiator hears back)
    0x01 MESSAGE ratchet header 40 | ciphertext
Plaintext (padded, encrypted): JSON {"t": "text", "id", "body", "at", "expire"} or
{"t": "read", "ids": [...]} (read receipts).
"""

from __future__ import annotations

import json
import logging
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
from phone_tui.crypto.ratchet import HEADER_SIZE, DuplicateMessage, Ratchet, RatchetError
from phone_tui.crypto.x3dh import InitialMessage, initiate, respond
from phone_tui.handset.events import Event, EventStream

if TYPE_CHECKING:
    from phone_tui.modem.bus import Modem, Network
    from phone_tui.modem.frames import Envelope
    from phone_tui.store.database import PersonaStore

log = logging.getLogger(__name__)

MESSAGE, PREKEY = 0x01, 0x02
_INITIAL = struct.Struct(">32s32s32sII")
NO_OPK = 0xFFFFFFFF
# Signal's disappearing-message presets, in seconds (0 = off).
TIMER_PRESETS = (0, 30, 300, 3600, 8 * 3600, 86400, 7 * 86400, 28 * 86400)
STATES = ("sending", "sent", "delivered", "read", "failed")
ARCHIVED_SESSIONS = 3  # older sessions kept per contact, for messages still in flight


class MessengerError(Exception):
    """Something the user asked for that cannot be done, with the reason."""


class IdentityChangedError(MessengerError):
    """Sending is blocked until the user accepts the contact's new safety number."""


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
        refill one-time prekeys when the directory runs low. Returns messages expired."""
        expired = self.expire()
        left = self.network.one_time_keys_left(self.number)
        rotated = self.identity.rotate_signed_prekey(self.entropy, self.clock.now())
        fresh = (self.identity.add_one_time(self.entropy, ONE_TIME_PREKEYS - left)
                 if left < REFILL_BELOW else [])
        if rotated or fresh:
            self._save_identity(self.identity)
            self.publish_keys(only=fresh)
        return expired

    # ---- contacts ----------------------------------------------------------------------------

    def add_contact(self, number: str, name: str, *, bot: bool = False) -> None:
        self.store.execute(
            "INSERT INTO contacts (number, name, bot) VALUES (?, ?, ?) "
            "ON CONFLICT(number) DO UPDATE SET name = excluded.name, bot = excluded.bot",
            (number, name, int(bot)))

    def contact(self, number: str) -> Contact | None:
        row = self.store.execute("SELECT number, name, identity, verified, new_identity, bot, "
                                 "timer FROM contacts WHERE number = ?", (number,)).fetchone()
        if row is None:
            return None
        return Contact(row[0], row[1], bytes.fromhex(row[2]) if row[2] else None, bool(row[3]),
                       bytes.fromhex(row[4]) if row[4] else None, bool(row[5]), row[6])

    def contacts(self) -> list[Contact]:
        rows = self.store.execute("SELECT number FROM contacts ORDER BY name").fetchall()
        return [c for (number,) in rows if (c := self.contact(number)) is not None]

    def accept_identity(self, number: str) -> None:
        """The user accepts a changed safety number: sending is possible again, unverified."""
        self.store.execute("UPDATE contacts SET identity = new_identity, new_identity = NULL, "
                           "verified = 0 WHERE number = ? AND new_identity IS NOT NULL",
                           (number,))

    def know_identity(self, number: str, identity: bytes) -> None:
        """Record a contact's identity key as if met before (trust on first use)."""
        self._check_identity(number, identity)

    def mark_verified(self, number: str) -> None:
        self.store.execute("UPDATE contacts SET verified = 1 WHERE number = ?", (number,))
        self.events.emit(ContactVerified(self.persona, number))

    def set_timer(self, number: str, seconds: int) -> None:
        if seconds not in TIMER_PRESETS:
            raise MessengerError(f"Disappearing-message timers are {TIMER_PRESETS} seconds.")
        self.store.execute("UPDATE contacts SET timer = ? WHERE number = ?", (seconds, number))

    def safety_number(self, number: str) -> str | None:
        from phone_tui.crypto.fingerprint import safety_number

        contact = self.contact(number)
        if contact is None or (contact.new_identity or contact.identity) is None:
            return None
        theirs = contact.new_identity or contact.identity
        assert theirs is not None
        return safety_number(self.number, self.identity.public_dh, number, theirs)

    # ---- sending -----------------------------------------------------------------------------

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
        message_id = str(uuid.UUID(bytes=self.entropy.token_bytes(16)))
        now = self.clock.now()
        expires = now + contact.timer if contact.timer else None
        net_id = self._send_payload(number, {"t": "text", "id": message_id, "body": body,
                                             "at": now, "expire": contact.timer})
        self.store.execute(
            "INSERT INTO messages (uuid, number, outgoing, body, state, at, expires_at, net_id) "
            "VALUES (?, ?, 1, ?, 'sending', ?, ?, ?)",
            (message_id, number, body, now, expires, net_id.hex()))
        self._net_ids[net_id] = message_id
        self.events.emit(MessageUpdated(self.persona, number, message_id, "sending", ""))
        return message_id

    def resume_outbox(self) -> int:
        """After a restart: send again, with the same id (the receiver keeps one copy per id),
        each message still "sending" whose envelope died with the old process's outbox; one
        that cannot be sent now is marked failed with the reason. Returns how many went."""
        rows = self.store.execute(
            "SELECT uuid, number, body, at, expires_at, net_id FROM messages "
            "WHERE outgoing = 1 AND state = 'sending' ORDER BY id").fetchall()
        resent = 0
        for message_id, number, body, at, expires_at, net_id in rows:
            if net_id and self.modem.has_outgoing(bytes.fromhex(net_id)):
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

    def _send_payload(self, number: str, payload: dict[str, Any]) -> bytes:
        """Encrypt ``payload`` for ``number`` and hand it to the modem; returns the network id."""
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
            body = (bytes([PREKEY]) + _INITIAL.pack(initial.identity_dh, initial.identity_sign,
                                                     initial.ephemeral, initial.spk_id, opk)
                    + header + ciphertext)
        else:
            body = bytes([MESSAGE]) + header + ciphertext
        self._save_sessions(number, sessions)
        return self.modem.send(number, body)

    def _start_session(self, number: str) -> SessionRecord:
        """X3DH from the number's prekey bundle: a new session as the initiator."""
        fetched = self.network.fetch_keys(number)
        if fetched is None:
            raise MessengerError(f"{number} has not published keys: is it a phone-tui number?")
        bundle_bytes, one_time = fetched
        try:
            bundle = PrekeyBundle.decode(bundle_bytes)
            if one_time is not None:
                bundle = PrekeyBundle(bundle.identity_dh, bundle.identity_sign, bundle.spk_id,
                                      bundle.spk, bundle.spk_signature, *one_time)
            sk, ad, initial = initiate(self.identity, bundle, self.entropy)
        except InvalidBundle as problem:
            raise MessengerError(f"{number}'s keys are not valid: {problem}") from None
        self._check_identity(number, bundle.identity_dh)
        contact = self.contact(number)
        if contact is not None and contact.new_identity is not None:
            raise IdentityChangedError(
                f"The safety number with {contact.name} changed. Verify and accept it first.")
        return SessionRecord(Ratchet.initiator(sk, ad, bundle.spk, self.entropy), initial, None)

    # ---- receiving ---------------------------------------------------------------------------

    def on_envelope(self, envelope: Envelope) -> None:
        """A message from the network. Garbage, replays and tampering are logged and dropped;
        the session stays usable."""
        sender, body = envelope.src, envelope.body
        try:
            payload = self._decrypt(sender, body)
        except (RatchetError, InvalidBundle, ValueError) as problem:
            kind = "a replayed" if isinstance(problem, DuplicateMessage) else "an unreadable"
            log.info("dropped %s message from %s: %s", kind, sender, type(problem).__name__)
            return
        if payload.get("t") == "text":
            self._store_incoming(sender, payload)
        elif payload.get("t") == "read":
            for message_id in payload.get("ids", []):
                self._update_state_by_uuid(str(message_id), "read", "")

    def _decrypt(self, sender: str, body: bytes) -> dict[str, Any]:
        if not body:
            raise ValueError("empty message")
        kind, rest = body[0], body[1:]
        sessions = self._load_sessions(sender)
        new_identity: bytes | None = None
        if kind == PREKEY:
            if len(rest) < _INITIAL.size + HEADER_SIZE:
                raise ValueError("truncated initial message")
            identity_dh, identity_sign, ephemeral, spk_id, opk_id = _INITIAL.unpack_from(rest)
            rest = rest[_INITIAL.size:]
            record = next((r for r in sessions if r.peer_ephemeral == ephemeral), None)
            if record is None:
                initial = InitialMessage(identity_dh, identity_sign, ephemeral, spk_id,
                                         None if opk_id == NO_OPK else opk_id)
                sk, ad = respond(self.identity, initial)
                record = SessionRecord(Ratchet.responder(sk, ad, self.identity.spk), None,
                                       ephemeral)
                # Trust (first use, or "changed") only once the message decrypts below: an
                # unreadable one must not move it.
                new_identity = identity_dh
            candidates = [record]
        elif kind == MESSAGE:
            if not sessions:
                raise ValueError("no session with this sender")
            # Usually the current session; after both phones started a session at once, the
            # peer may be using one we archived.
            candidates = sessions
        else:
            raise ValueError(f"unknown message type {kind}")
        failure: RatchetError | None = None
        for record in candidates:
            try:
                plaintext = record.ratchet.decrypt(rest[:HEADER_SIZE], rest[HEADER_SIZE:],
                                                   self.entropy)
            except DuplicateMessage:
                raise
            except RatchetError as problem:
                failure = failure or problem
                continue
            payload = json.loads(plaintext)
            if not isinstance(payload, dict):
                raise ValueError("message is not an object")
            if kind == MESSAGE:
                record.initial = None  # the peer answered: no more X3DH headers needed
            if new_identity is not None:
                self._check_identity(sender, new_identity)
                self._save_identity(self.identity)  # the one-time prekey is used up
            self._save_sessions(sender, [record] + [r for r in sessions if r is not record])
            return payload
        assert failure is not None
        raise failure

    def _store_incoming(self, sender: str, payload: dict[str, Any]) -> None:
        if self.contact(sender) is None:
            self.add_contact(sender, sender)
        message_id = str(payload.get("id") or uuid.uuid4())
        now = self.clock.now()
        expire = int(payload.get("expire") or 0)
        cursor = self.store.execute(
            "INSERT OR IGNORE INTO messages (uuid, number, outgoing, body, state, at, unread, "
            "expires_at) VALUES (?, ?, 0, ?, 'received', ?, 1, ?)",
            (message_id, sender, str(payload.get("body", "")), now,
             now + expire if expire else None))
        if cursor.rowcount:
            self.events.emit(MessageReceived(self.persona, sender, message_id))

    def on_state(self, net_id: bytes, state: str, reason: str) -> None:
        """The network's word on a message we sent: sent, delivered or failed."""
        # Final network states end the in-memory mapping (the store keeps net_id for later).
        final = state in ("delivered", "failed")
        message_id = self._net_ids.pop(net_id, None) if final else self._net_ids.get(net_id)
        if message_id is None:
            row = self.store.execute("SELECT uuid FROM messages WHERE net_id = ?",
                                     (net_id.hex(),)).fetchone()
            if row is None:
                return  # a read receipt's own delivery
            message_id = row[0]
        self._update_state_by_uuid(message_id, state, reason)

    def _update_state_by_uuid(self, message_id: str, state: str, reason: str) -> None:
        row = self.store.execute("SELECT number, state FROM messages WHERE uuid = ? AND "
                                 "outgoing = 1", (message_id,)).fetchone()
        if row is None:
            return
        number, current = row
        # States only move forward (a read receipt can overtake "delivered").
        if state != "failed" and STATES.index(state) <= STATES.index(current):
            return
        self.store.execute("UPDATE messages SET state = ?, reason = ? WHERE uuid = ?",
                           (state, reason, message_id))
        self.events.emit(MessageUpdated(self.persona, number, message_id, state, reason))

    # ---- reading -----------------------------------------------------------------------------

    def conversations(self) -> list[Conversation]:
        rows = self.store.execute(
            "SELECT c.number, c.name, (SELECT count(*) FROM messages m WHERE m.number = c.number"
            " AND m.unread = 1), (SELECT max(id) FROM messages m WHERE m.number = c.number)"
            " FROM contacts c ORDER BY 4 DESC NULLS LAST, c.name").fetchall()
        out = []
        for number, name, unread, last_id in rows:
            last = self._message_by_id(last_id) if last_id is not None else None
            out.append(Conversation(number, name, last, unread))
        return out

    def history(self, number: str, *, before_id: int | None = None,
                limit: int = 200) -> list[Message]:
        """Messages oldest first, ``limit`` at most, older than ``before_id`` when given."""
        rows = self.store.execute(
            "SELECT * FROM (SELECT id, uuid, number, outgoing, body, state, reason, at, unread, "
            "expires_at FROM messages WHERE number = ? AND id < ? ORDER BY id DESC LIMIT ?) "
            "ORDER BY id", (number, before_id if before_id is not None else 2**62, limit))
        return [_message(row) for row in rows]

    def history_after(self, number: str, after_id: int, limit: int = 200) -> list[Message]:
        """Messages newer than ``after_id``, oldest first, ``limit`` at most."""
        rows = self.store.execute(
            "SELECT id, uuid, number, outgoing, body, state, reason, at, unread, expires_at "
            "FROM messages WHERE number = ? AND id > ? ORDER BY id LIMIT ?",
            (number, after_id, limit))
        return [_message(row) for row in rows]

    def id_range(self, number: str) -> tuple[int, int] | None:
        """The oldest and newest message ids of a conversation (None when empty)."""
        low, high = self.store.execute("SELECT min(id), max(id) FROM messages WHERE number = ?",
                                       (number,)).fetchone()
        return None if low is None else (low, high)

    def count(self, number: str) -> int:
        return self.store.execute("SELECT count(*) FROM messages WHERE number = ?",
                                  (number,)).fetchone()[0]

    def search(self, number: str, text: str) -> list[Message]:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self.store.execute(
            "SELECT id, uuid, number, outgoing, body, state, reason, at, unread, expires_at "
            "FROM messages WHERE number = ? AND body LIKE ? ESCAPE '\\' ORDER BY id",
            (number, pattern))
        return [_message(row) for row in rows]

    def mark_read(self, number: str) -> int:
        """Mark a conversation read and tell the sender (an encrypted read receipt)."""
        rows = self.store.execute("SELECT uuid FROM messages WHERE number = ? AND unread = 1",
                                  (number,)).fetchall()
        if not rows:
            return 0
        self.store.execute("UPDATE messages SET unread = 0 WHERE number = ? AND unread = 1",
                           (number,))
        ids = [row[0] for row in rows]
        contact = self.contact(number)
        if contact is not None and contact.new_identity is None:
            try:
                self._send_payload(number, {"t": "read", "ids": ids})
            except MessengerError as problem:
                log.info("no read receipt to %s: %s", number, problem)
        return len(ids)

    def expire(self) -> int:
        """Delete messages whose disappearing timer ran out; returns how many."""
        cursor = self.store.execute("DELETE FROM messages WHERE expires_at IS NOT NULL AND "
                                    "expires_at <= ?", (self.clock.now(),))
        return cursor.rowcount

    def _message_by_id(self, message_id: int) -> Message | None:
        row = self.store.execute(
            "SELECT id, uuid, number, outgoing, body, state, reason, at, unread, expires_at "
            "FROM messages WHERE id = ?", (message_id,)).fetchone()
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
            self.events.emit(IdentityChanged(self.persona, number))

    def _load_sessions(self, number: str) -> list[SessionRecord]:
        """The current session first, then up to ``ARCHIVED_SESSIONS`` older ones."""
        row = self.store.execute("SELECT state FROM sessions WHERE number = ?",
                                 (number,)).fetchone()
        if row is None:
            return []
        data = json.loads(row[0])
        return [SessionRecord.from_dict(item) for item in data["sessions"]]

    def _save_sessions(self, number: str, sessions: list[SessionRecord]) -> None:
        data = {"sessions": [record.to_dict() for record in sessions[:1 + ARCHIVED_SESSIONS]]}
        self.store.execute("INSERT INTO sessions (number, state) VALUES (?, ?) "
                           "ON CONFLICT(number) DO UPDATE SET state = excluded.state",
                           (number, json.dumps(data)))


@dataclass
class SessionRecord:
    """A ratchet session, the X3DH header to repeat until the peer answers (if we started
    it), and the peer's ephemeral key (if they did)."""

    ratchet: Ratchet
    initial: InitialMessage | None
    peer_ephemeral: bytes | None

    def to_dict(self) -> dict[str, Any]:
        initial = None
        if self.initial is not None:
            initial = {"identity_dh": self.initial.identity_dh.hex(),
                       "identity_sign": self.initial.identity_sign.hex(),
                       "ephemeral": self.initial.ephemeral.hex(),
                       "spk_id": self.initial.spk_id, "opk_id": self.initial.opk_id}
        return {"ratchet": self.ratchet.to_dict(), "initial": initial,
                "peer_ephemeral": self.peer_ephemeral.hex() if self.peer_ephemeral else None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionRecord:
        raw = data.get("initial")
        initial = None if not raw else InitialMessage(
            bytes.fromhex(raw["identity_dh"]), bytes.fromhex(raw["identity_sign"]),
            bytes.fromhex(raw["ephemeral"]), raw["spk_id"], raw["opk_id"])
        peer = data.get("peer_ephemeral")
        return cls(Ratchet.from_dict(data["ratchet"]), initial,
                   bytes.fromhex(peer) if peer else None)


def _message(row: tuple[Any, ...]) -> Message:
    return Message(row[0], row[1], row[2], bool(row[3]), row[4], row[5], row[6], row[7],
                   bool(row[8]), row[9])

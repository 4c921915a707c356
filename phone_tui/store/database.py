"""SQLCipher store for one persona: profile, settings, contacts, sessions, messages and calls.

The 256-bit key is random and lives only in the persona's keystore; the database is opened with
it as a raw key (no SQLCipher KDF on top, the keystore already stretched the PIN).

Journal: WAL with ``synchronous = FULL``: each commit syncs the write-ahead log to disk before
it returns, so what a phone tells the network after a commit (a message is "delivered"; a
ciphertext leaves, whose ratchet step is in the commit) holds across a power loss or kernel
crash too, not only a kill. NORMAL (no sync at commit) would let a power cut roll a committed
ratchet back, and the next message would reuse a message key for another plaintext. The price
is one sync per batch: writers group their work in one transaction per batch
(``transaction()``; nested calls are savepoints inside it), not one per statement.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from phone_tui.core.paths import make_private_dirs
from phone_tui.errors import StoreError

SCHEMA_VERSION = 9

_MIGRATIONS = {
    1: [
        "CREATE TABLE profile (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ],
    2: [
        "CREATE TABLE contacts (number TEXT PRIMARY KEY, name TEXT NOT NULL, identity TEXT,"
        " verified INTEGER NOT NULL DEFAULT 0, new_identity TEXT, bot INTEGER NOT NULL DEFAULT 0,"
        " timer INTEGER NOT NULL DEFAULT 0)",
        "CREATE TABLE sessions (number TEXT PRIMARY KEY, state TEXT NOT NULL)",
        "CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, uuid TEXT NOT NULL UNIQUE,"
        " number TEXT NOT NULL, outgoing INTEGER NOT NULL, body TEXT NOT NULL,"
        " state TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', at REAL NOT NULL,"
        " unread INTEGER NOT NULL DEFAULT 0, expires_at REAL, net_id TEXT)",
        "CREATE INDEX messages_by_conversation ON messages (number, id)",
        "CREATE INDEX messages_by_net_id ON messages (net_id)",
    ],
    3: [
        # Unread messages are few; a partial index finds them without scanning the history.
        "CREATE INDEX messages_unread ON messages (number) WHERE unread = 1",
    ],
    4: [
        # A notice is one line the messenger writes in a chat (a session healed); it is never
        # unread and never a conversation's last message. resent: how often a retry request
        # made us send the message again.
        "ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'text'",
        "ALTER TABLE messages ADD COLUMN resent INTEGER NOT NULL DEFAULT 0",
    ],
    5: [
        # The unlock asks for the soonest expiry and the messages still being sent: without
        # these (few rows each) it scans the whole history, ~60 ms for 100 000 messages.
        "CREATE INDEX messages_expiring ON messages (expires_at) WHERE expires_at IS NOT NULL",
        "CREATE INDEX messages_sending ON messages (id) WHERE outgoing = 1 AND state = 'sending'",
    ],
    6: [
        # The call log: one row per call (missed, incoming, outgoing, declined, failed), its
        # duration once connected and whether the two words were confirmed. The log reads it
        # newest first.
        "CREATE TABLE calls (id INTEGER PRIMARY KEY AUTOINCREMENT, call_id TEXT NOT NULL UNIQUE,"
        " number TEXT NOT NULL, direction TEXT NOT NULL, outcome TEXT NOT NULL, at REAL NOT NULL,"
        " duration_s REAL NOT NULL DEFAULT 0, verified TEXT)",
        "CREATE INDEX calls_by_time ON calls (at)",
    ],
    7: [
        # How each call ended (handset/calls.py END_REASONS: declined, busy, words_differ...);
        # rows logged before it say '' (not known).
        "ALTER TABLE calls ADD COLUMN reason TEXT NOT NULL DEFAULT ''",
    ],
    8: [
        # Plain SMS (handset/texts.py): one row per text sent or received, by thread (the
        # other number); ref is a sent text's TP-MR, which its SMSC's reports name. The parts
        # already taken (by the delivery's envelope id) keep a part the SMSC sends again
        # from counting twice.
        "CREATE TABLE texts (id INTEGER PRIMARY KEY AUTOINCREMENT, number TEXT NOT NULL,"
        " outgoing INTEGER NOT NULL, body TEXT NOT NULL, state TEXT NOT NULL,"
        " reason TEXT NOT NULL DEFAULT '', at REAL NOT NULL, unread INTEGER NOT NULL DEFAULT 0,"
        " ref INTEGER, parts INTEGER NOT NULL DEFAULT 1)",
        "CREATE INDEX texts_by_thread ON texts (number, id)",
        "CREATE INDEX texts_by_ref ON texts (ref) WHERE outgoing = 1",
        # Parts of a text being put together stay here (done = 0) until the last one comes,
        # so a phone locked or restarted in between still completes it.
        "CREATE TABLE texts_seen (net_id TEXT PRIMARY KEY, at REAL NOT NULL,"
        " sender TEXT NOT NULL DEFAULT '', message TEXT NOT NULL DEFAULT '',"
        " dcs INTEGER NOT NULL DEFAULT 0, udl INTEGER NOT NULL DEFAULT 0,"
        " udhi INTEGER NOT NULL DEFAULT 0, data BLOB NOT NULL DEFAULT x'',"
        " done INTEGER NOT NULL DEFAULT 1)",
    ],
    9: [
        # A plain carrier call (not end-to-end encrypted: the carrier could listen), shown as
        # such in the log; rows logged before it are end-to-end calls.
        "ALTER TABLE calls ADD COLUMN plain INTEGER NOT NULL DEFAULT 0",
    ],
}


class PersonaStore:
    """An open, keyed SQLCipher database."""

    def __init__(self, path: Path | None, key: bytes) -> None:
        """Open (or create) the store at ``path``; ``None`` keeps it in memory (bots)."""
        if len(key) != 32:
            raise ValueError("the store key must be 32 bytes")
        import sqlcipher3

        self.path = path or Path(":memory:")
        existed = path is None or path.exists()
        if path is not None:
            make_private_dirs(path.parent)
        try:
            self._db = sqlcipher3.connect(":memory:" if path is None else str(path),
                                          check_same_thread=False, isolation_level=None)
            # SQLCipher logs a wrong key to stderr, over the TUI; the StoreError says it once.
            self._db.execute("PRAGMA cipher_log_level = NONE")
            self._db.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
            self._db.execute("PRAGMA cipher_memory_security = ON")
            self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            if path is not None:
                # See the module docstring for what this keeps across a kill and a power loss.
                self._db.execute("PRAGMA journal_mode = WAL").fetchone()
                self._db.execute("PRAGMA synchronous = FULL")
        except sqlcipher3.DatabaseError:
            self._close_quietly()
            raise StoreError(self.path, "the encrypted store does not open with this persona's key "
                                   "(damaged, replaced, or its keystore put back from an older "
                                   "copy); it was left untouched") from None
        if not existed and path is not None:
            os.chmod(path, 0o600)
        self.commits = 0  # transactions committed (batches), for tests and benchmarks
        # Bumped by every statement that may write the contacts table and by every rollback:
        # a cache of contacts rows is valid while it has not changed.
        self.contacts_version = 0
        # Bumped by every DELETE and every rollback: a cache of rows (their states) that only
        # its owner's own UPDATEs change is valid while it has not changed.
        self.deletes_version = 0
        self._broken = False  # SQLite rolled the open transaction back under a savepoint
        self._depth = 0  # savepoints open inside it
        self._writes = 0  # statements other than SELECTs run through execute() and put()
        self._writes_at_begin = 0  # _writes when the open transaction began
        self._migrate()

    def _close_quietly(self) -> None:
        db = getattr(self, "_db", None)
        if db is not None:
            db.close()

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            self.close()
            raise StoreError(self.path, f"store schema {version} is newer than this phone-tui "
                                        f"understands ({SCHEMA_VERSION}); upgrade phone-tui")
        for step in range(version + 1, SCHEMA_VERSION + 1):
            with self.transaction():
                for statement in _MIGRATIONS[step]:
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {step}")

    def transaction(self) -> _Transaction:
        """One transaction: all or nothing. Inside an open one it is a savepoint: what it wrote
        is undone if it fails, and the outer transaction goes on with the rest (when nothing
        was written before it, no savepoint is needed: the transaction restarts)."""
        return _Transaction(self)

    @property
    def in_transaction(self) -> bool:
        return self._db.in_transaction

    # ---- profile and settings: small JSON values by key --------------------------------------

    def get(self, table: str, key: str, default: Any = None) -> Any:
        row = self._db.execute(f"SELECT value FROM {_table(table)} WHERE key = ?",
                               (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def put(self, table: str, key: str, value: Any) -> None:
        self._check_open()
        self._writes += 1
        self._db.execute(f"INSERT INTO {_table(table)} (key, value) VALUES (?, ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                         (key, json.dumps(value)))

    def items(self, table: str) -> dict[str, Any]:
        rows = self._db.execute(f"SELECT key, value FROM {_table(table)} ORDER BY key")
        return {key: json.loads(value) for key, value in rows}

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        """Run one statement (for the messenger's tables); returns the cursor."""
        self._check_open()
        if sql.lstrip()[:6].upper() != "SELECT":
            self._writes += 1
            if "contacts" in sql:
                self.contacts_version += 1
            if sql.lstrip()[:6].upper() == "DELETE":
                self.deletes_version += 1
        return self._db.execute(sql, params)

    def rolled_back(self) -> None:
        """Some of what this connection wrote was undone: caches of rows read since are stale."""
        self.contacts_version += 1
        self.deletes_version += 1

    def _check_open(self) -> None:
        """A batch whose transaction SQLite rolled back must not go on in autocommit (half of
        it kept): every statement fails until it ends."""
        if self._broken:
            raise _lost(self.path)

    def rekey(self, key: bytes) -> None:
        """Re-encrypt every page under ``key`` (SQLCipher's PRAGMA rekey: one transaction, so
        a crash leaves the store under the old key or the new one, never a mix)."""
        if len(key) != 32:
            raise ValueError("the store key must be 32 bytes")
        self._db.execute(f"PRAGMA rekey = \"x'{key.hex()}'\"")

    def close(self) -> None:
        self._close_quietly()
        self._db = None  # type: ignore[assignment]


def _table(name: str) -> str:
    if name not in ("profile", "settings"):
        raise ValueError(f"unknown table {name!r}")
    return name


def _lost(path: Path) -> StoreError:
    return StoreError(path, "the store's transaction was lost (its disk failed); nothing of "
                            "this batch was kept")


class _Transaction:
    def __init__(self, store: PersonaStore) -> None:
        self._store = store
        self._db = store._db
        self._savepoint: str | None = None
        self._restart = False  # nested, nothing written before it: undone by a restart

    def __enter__(self) -> None:
        store = self._store
        if self._db.in_transaction:
            if store._broken:
                raise _lost(store.path)
            if store._writes == store._writes_at_begin:
                # Nothing written in the transaction yet (a batch's first frame): undoing this
                # part is undoing the transaction and beginning again, no savepoint needed
                # (its RELEASE alone costs about as much as the frame's message insert).
                self._restart = True
                return
            store._depth += 1
            self._savepoint = f"sp{store._depth}"
            self._db.execute(f"SAVEPOINT {self._savepoint}")
            return
        store._broken = False
        store._depth = 0
        store._writes_at_begin = store._writes
        # Deferred: a batch that only reads (an ack with nothing to update) writes nothing and
        # its commit costs nothing; one connection per store, so the write lock is never
        # contended.
        self._db.execute("BEGIN")

    def __exit__(self, kind: object, value: object, tb: object) -> None:
        if self._restart:
            self._exit_restart(kind)
            return
        if self._savepoint is not None:
            self._exit_savepoint(kind)
            return
        if kind is not None:
            self._rollback()
            return
        if self._store._broken:
            self._rollback()
            raise _lost(self._store.path)
        try:
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()  # a COMMIT that failed (disk full) can leave it open
            raise
        self._store.commits += 1

    def _exit_restart(self, kind: object) -> None:
        store = self._store
        if not self._db.in_transaction:
            store._broken = True  # SQLite rolled it back itself (see _exit_savepoint)
            store.rolled_back()
            return
        if kind is None:
            return
        import sqlcipher3

        store.rolled_back()
        try:
            self._db.execute("ROLLBACK")
            self._db.execute("BEGIN")
        except sqlcipher3.Error:
            store._broken = True
            return
        store._writes_at_begin = store._writes

    def _exit_savepoint(self, kind: object) -> None:
        import sqlcipher3

        store = self._store
        store._depth -= 1
        if not self._db.in_transaction:
            # SQLite rolled the whole transaction back (a full disk, an I/O error): the batch
            # is lost; every later savepoint and the commit say so.
            store._broken = True
            store.rolled_back()
            return
        try:
            if kind is not None:
                store.rolled_back()
                self._db.execute(f"ROLLBACK TO {self._savepoint}")
            self._db.execute(f"RELEASE {self._savepoint}")
        except sqlcipher3.Error:
            store._broken = True
            if kind is None:
                raise

    def _rollback(self) -> None:
        """Undo what the transaction wrote; SQLite may have done so already (a full disk), and
        a ROLLBACK that fails must not hide the error that caused it."""
        self._store._broken = False
        self._store.rolled_back()
        if not self._db.in_transaction:
            return
        import sqlcipher3

        with contextlib.suppress(sqlcipher3.Error):
            self._db.execute("ROLLBACK")

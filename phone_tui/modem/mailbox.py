"""The carrier's store-and-forward mailbox on disk: what waits for each number, in order.

Envelopes are end-to-end ciphertext (messages) or delivery reports; the file also shows who
wrote to whom and when, as a carrier's message store would. It is an SQLite database (the
standard library's; WAL, 0600) with one row per envelope, so a change costs one row written or
deleted, not the whole mailbox rewritten: a flood of big messages to a phone that is off costs
work in proportion to the flood, never to its square. Expiry is kept as wall-clock time (the
bus runs on loop time, which starts again with each process); ``position`` orders each number's
envelopes. A file that does not read stops the carrier and is left untouched.
"""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from phone_tui.core.paths import ensure_private_dir
from phone_tui.errors import CarrierStateError

FORMAT = 1
MAILBOX_FILE = "mailbox.db"
MAX_ENVELOPE = 1 << 17  # a hop frame carries at most 64 KiB; anything bigger is not ours
# How long a write waits for another process holding the file (sqlite's default is 5 s): the
# carrier writes on its event loop, so a busy file fails fast and the bus saves again later.
BUSY_TIMEOUT = 0.05

_SCHEMA = ("CREATE TABLE mailbox (row INTEGER PRIMARY KEY, number TEXT NOT NULL, "
           "position INTEGER NOT NULL, expires REAL NOT NULL, envelope BLOB NOT NULL)",
           "CREATE INDEX mailbox_by_number ON mailbox (number, position)")


@dataclass(frozen=True)
class Entry:
    """One envelope waiting in the file: its row, its place in its number's queue, its
    wall-clock expiry."""

    row: int
    position: int
    expires: float
    envelope: bytes


Mailboxes = dict[str, list[Entry]]  # number → entries, oldest first


class MailboxFile:
    """The open mailbox database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        existed = path.exists()
        if not existed:
            ensure_private_dir(path.parent)
        try:
            # An existing file is opened read-write but never created or rebuilt: a damaged one
            # is refused as it is.
            mode = "rw" if existed else "rwc"
            self._db: sqlite3.Connection | None = sqlite3.connect(
                f"file:{quote(str(path))}?mode={mode}", uri=True, isolation_level=None,
                check_same_thread=False)
            if existed:
                self._check()
            else:
                os.chmod(path, 0o600)
                self._db.execute("BEGIN IMMEDIATE")
                for statement in _SCHEMA:
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {FORMAT}")
                self._db.execute("COMMIT")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            # Opening may wait (it happens once, before the carrier runs); writes may not.
            self._db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
        except sqlite3.Error:
            self.close()
            raise self._damaged("(the whole file)") from None

    def _damaged(self, key: str) -> CarrierStateError:
        return CarrierStateError(self.path, f"the store-and-forward mailbox is damaged at "
                                            f"{key!r}; it was left untouched. Remove it to start "
                                            "with an empty mailbox (what it held is lost)")

    def _check(self) -> None:
        assert self._db is not None
        if self._db.execute("PRAGMA user_version").fetchone()[0] != FORMAT:
            raise self._damaged("user_version")
        columns = [row[1] for row in self._db.execute("PRAGMA table_info(mailbox)")]
        if columns != ["row", "number", "position", "expires", "envelope"]:
            raise self._damaged("mailbox")

    def load(self) -> Mailboxes:
        """Every entry, checked: a number as text, an integer position, a finite expiry, an
        envelope of bytes no bigger than a frame."""
        assert self._db is not None
        boxes: Mailboxes = {}
        try:
            rows = self._db.execute(
                "SELECT row, number, position, expires, envelope, typeof(number), "
                "typeof(position), typeof(expires), typeof(envelope) FROM mailbox "
                "ORDER BY number, position")
            for row, number, position, expires, envelope, *types in rows:
                where = f"mailbox row {row}"
                if types != ["text", "integer", "real", "blob"] or not math.isfinite(expires) \
                        or not 0 < len(envelope) <= MAX_ENVELOPE:
                    raise self._damaged(where)
                boxes.setdefault(number, []).append(Entry(row, position, expires,
                                                          bytes(envelope)))
        except sqlite3.Error:
            raise self._damaged("(the whole file)") from None
        return boxes

    def apply(self, inserts: list[tuple[str, int, float, bytes]],
              deletes: list[int]) -> list[int]:
        """Add (number, position, wall-clock expiry, envelope) rows and delete rows, in one
        transaction; returns the new rows' ids, in order."""
        assert self._db is not None
        rows = []
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany("DELETE FROM mailbox WHERE row = ?",
                                 [(row,) for row in deletes])
            for entry in inserts:
                cursor = self._db.execute("INSERT INTO mailbox (number, position, expires, "
                                          "envelope) VALUES (?, ?, ?, ?)", entry)
                rows.append(cursor.lastrowid)
            self._db.execute("COMMIT")
        except BaseException:
            # SQLite may already have rolled back (a full disk): the original error is the one
            # that counts.
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise
        return rows

    def close(self) -> None:
        db, self._db = getattr(self, "_db", None), None
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()


def load_mailboxes(path: Path) -> Mailboxes:
    """What the file at ``path`` holds (nothing when there is none; no file is made)."""
    if not path.exists():
        return {}
    mailbox = MailboxFile(path)
    try:
        return mailbox.load()
    finally:
        mailbox.close()

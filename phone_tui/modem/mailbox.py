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

import math
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from phone_tui.modem.carrier_file import CarrierFile

FORMAT = 1
MAILBOX_FILE = "mailbox.db"
MAX_ENVELOPE = 1 << 17  # a hop frame carries at most 64 KiB; anything bigger is not ours

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


class MailboxFile(CarrierFile):
    """The open mailbox database."""

    SCHEMA = _SCHEMA
    FORMAT = FORMAT
    TABLE = "mailbox"
    COLUMNS = ["row", "number", "position", "expires", "envelope"]
    DAMAGED = ("the store-and-forward mailbox is damaged at {key}; it was left untouched. "
               "Remove it to start with an empty mailbox (what it held is lost)")

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
        rows: list[int] = []

        def change(db: sqlite3.Connection) -> None:
            db.executemany("DELETE FROM mailbox WHERE row = ?", [(row,) for row in deletes])
            for entry in inserts:
                cursor = db.execute("INSERT INTO mailbox (number, position, expires, "
                                    "envelope) VALUES (?, ?, ?, ?)", entry)
                rows.append(cursor.lastrowid)  # type: ignore[arg-type]

        self._write(change)
        return rows


def load_mailboxes(path: Path) -> Mailboxes:
    """What the file at ``path`` holds (nothing when there is none; no file is made)."""
    if not path.exists() and not path.is_symlink():  # a dangling link: refused by the file
        return {}
    mailbox = MailboxFile(path)
    try:
        return mailbox.load()
    finally:
        mailbox.close()

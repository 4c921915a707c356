"""One of the carrier's SQLite files (the mailbox, the SMS centre's queue): opened or made in a
private folder, checked before use, changed one transaction at a time.

An existing file is opened read-write but never created or rebuilt: a damaged one (an unknown
format, other columns, a file that is not a database) is refused as it is, with one error that
names it, and left untouched. A new one is made 0600, in a 0700 folder, with its schema and
format. WAL; a write that finds the file busy fails fast (the carrier writes on its event loop
and saves again later).

The files hold what the carrier keeps of people's messages (smsc.db plain SMS texts): a
symbolic link (even a dangling one), anything but a regular file, or a file of another user is
refused in one line naming it, never followed or made; one of the user's that others may read
is made 0600 first.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote

from phone_tui.core.paths import ensure_private_dir
from phone_tui.errors import CarrierStateError

# How long a write waits for another process holding the file (sqlite's default is 5 s).
BUSY_TIMEOUT = 0.05


class CarrierFile:
    """Subclasses name their schema, format, table and columns, and what a damaged file means
    (``DAMAGED``, with ``{key}`` where the damage was found)."""

    SCHEMA: ClassVar[tuple[str, ...]]
    FORMAT: ClassVar[int]
    TABLE: ClassVar[str]
    COLUMNS: ClassVar[list[str]]
    DAMAGED: ClassVar[str]

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        found = self._lstat_checked()
        existed = found is not None
        if not existed:
            ensure_private_dir(path.parent)
        try:
            mode = "rw" if existed else "rwc"
            self._db = sqlite3.connect(
                f"file:{quote(str(path))}?mode={mode}", uri=True, isolation_level=None,
                check_same_thread=False)
            if existed:
                self._same_file(found)
                self._check()
            else:
                os.chmod(path, 0o600)
                self._db.execute("BEGIN IMMEDIATE")
                for statement in self.SCHEMA:
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {self.FORMAT}")
                self._db.execute("COMMIT")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            # Opening may wait (it happens once, before the carrier runs); writes may not.
            self._db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
        except sqlite3.Error:
            self.close()
            raise self._damaged("(the whole file)") from None
        except BaseException:
            self.close()
            raise

    def _lstat_checked(self) -> os.stat_result | None:
        """The file as it is (not through a link), None if there is none; refuses what is not
        the user's own regular file, and makes one others may read 0600."""
        path = self.path
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return None
        except OSError as problem:
            raise CarrierStateError(path, f"cannot be read ({problem.strerror or problem}); "
                                    "it was left untouched") from None
        if stat.S_ISLNK(info.st_mode):
            raise CarrierStateError(path, "is a symbolic link, not the carrier's own file: "
                                    "refused, not followed (remove the link)")
        if not stat.S_ISREG(info.st_mode):
            raise CarrierStateError(path, "is not a regular file: refused, left as it is")
        if info.st_uid != os.getuid():
            raise CarrierStateError(path, f"belongs to another user (uid {info.st_uid}): "
                                    "refused, left as it is")
        if stat.S_IMODE(info.st_mode) & 0o077:
            try:
                os.chmod(path, 0o600, follow_symlinks=False)
            except OSError as problem:
                raise CarrierStateError(
                    path, f"others may read it (mode {stat.S_IMODE(info.st_mode):04o}) and it "
                    f"could not be made 0600 ({problem.strerror or problem}): refused") from None
        return info

    def _same_file(self, found: os.stat_result) -> None:
        """What sqlite opened is the file checked (not one swapped in for it since)."""
        info = os.stat(self.path)
        if (info.st_dev, info.st_ino) != (found.st_dev, found.st_ino):
            raise CarrierStateError(self.path, "changed while it was opened: refused")

    def _damaged(self, key: str) -> CarrierStateError:
        return CarrierStateError(self.path, self.DAMAGED.format(key=repr(key)))

    def _check(self) -> None:
        assert self._db is not None
        if self._db.execute("PRAGMA user_version").fetchone()[0] != self.FORMAT:
            raise self._damaged("user_version")
        columns = [row[1] for row in self._db.execute(f"PRAGMA table_info({self.TABLE})")]
        if columns != self.COLUMNS:
            raise self._damaged(self.TABLE)

    def _write(self, change: Callable[[sqlite3.Connection], object]) -> None:
        """``change`` in one transaction."""
        assert self._db is not None
        self._db.execute("BEGIN IMMEDIATE")
        try:
            change(self._db)
            self._db.execute("COMMIT")
        except BaseException:
            # SQLite may already have rolled back (a full disk): the original error is the one
            # that counts.
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        db, self._db = getattr(self, "_db", None), None
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()

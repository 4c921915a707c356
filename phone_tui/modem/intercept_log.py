"""A live log of intercept records (``phone-tui demo --intercept-log FILE``): each record
appended as a JSON line as the carrier makes it (the keys of ``IriRecord``, and ``session``:
the same for every record of one run of the stage, as ``seq`` starts again at 1 in each; the
first of a run's records are those the carrier made before the log was followed).

The file is made 0600 if missing. An existing one is appended to only when phone-tui made it:
a regular file of yours, 0600, not a link, empty or whose first and last lines are records;
anything else is refused (one line naming it) and left as it is. It grows to MAX_BYTES at
most: then it stops writing and says so in one line (``stopped``), its last line a whole record.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from dataclasses import asdict, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from phone_tui.errors import PhoneTuiError
from phone_tui.modem.intercept import IriRecord

if TYPE_CHECKING:
    from pathlib import Path

    from phone_tui.modem.intercept import LawfulIntercept

log = logging.getLogger(__name__)

MAX_BYTES = 64 * 1024 * 1024  # about 150 000 records: hours of a busy stage
KEYS = frozenset(spec.name for spec in fields(IriRecord))
LOG_KEYS = KEYS | {"session"}  # a log's line: a record and the run it came from
PEEK = 64 * 1024  # bytes read at each end of an existing file to recognise it


class InterceptLogError(PhoneTuiError):
    """The intercept log cannot be used (says which file and why)."""


def _is_record(line: bytes) -> bool:
    try:
        value = json.loads(line)
    except ValueError:
        return False
    # (A log written before lines carried their session has records only.)
    return isinstance(value, dict) and set(value) in (KEYS, LOG_KEYS)


def _check_ours(path: Path, fd: int) -> None:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise InterceptLogError(f"{path}: not a regular file: refusing to write there")
    if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
        raise InterceptLogError(f"{path}: not a phone-tui intercept log (it must be yours "
                                "and 0600): refusing to write there")
    if info.st_size == 0:
        return
    head = os.pread(fd, PEEK, 0)
    tail = os.pread(fd, PEEK, max(0, info.st_size - PEEK))
    first = head.split(b"\n", 1)[0]
    last = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    if not tail.endswith(b"\n") or not _is_record(first) or not _is_record(last):
        raise InterceptLogError(f"{path}: not a phone-tui intercept log (its lines are not "
                                "intercept records): refusing to write there")


class InterceptLog:
    """An open intercept log; ``write`` appends one record and flushes it, until the file
    would pass ``limit`` bytes."""

    def __init__(self, path: Path, limit: int = MAX_BYTES) -> None:
        self.path = path
        self.limit = limit
        self.written = 0
        self.stopped: str | None = None  # why it no longer writes (one line), once full
        # This run's id in each line: the time it opened the log (UTC) and a random tag.
        self.session = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{os.urandom(3).hex()}"
        if not path.parent.is_dir():
            raise InterceptLogError(f"{path}: the folder {path.parent} does not exist")
        if path.is_symlink():
            raise InterceptLogError(f"{path}: is a symbolic link: refusing to write there")
        # Not through a link; a FIFO or device is refused after the open, without waiting.
        flags = os.O_RDWR | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK
        try:
            fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            try:
                fd = os.open(path, flags)
            except OSError as problem:
                raise InterceptLogError(f"{path}: {problem.strerror or problem}: refusing "
                                        "to write there") from None
            try:
                _check_ours(path, fd)
            except BaseException:
                os.close(fd)
                raise
        except OSError as problem:
            raise InterceptLogError(f"{path}: {problem.strerror or problem}") from None
        self.size = os.fstat(fd).st_size
        self._file = os.fdopen(fd, "a", encoding="utf-8")

    def write(self, record: IriRecord) -> bool:
        """Append ``record``; False (and ``stopped`` says why) once the log is full."""
        if self.stopped is not None:
            return False
        line = (json.dumps({**asdict(record), "session": self.session}, ensure_ascii=False,
                           separators=(",", ":")) + "\n").encode()
        if self.size + len(line) > self.limit:
            self.stopped = (f"{self.path}: the intercept log reached {self.limit} bytes: "
                            f"no more records written to it (from record {record.seq} on)")
            log.warning("%s", self.stopped)
            return False
        self._file.write(line.decode())
        self._file.flush()
        self.size += len(line)
        self.written += 1
        return True

    async def follow(self, intercept: LawfulIntercept) -> None:
        """Append the records ``intercept`` holds, then every one it makes (until cancelled,
        or full)."""
        live = intercept.records()
        # No await between the history and the subscription (the generator's first step):
        # no record falls between them; one in both is written once (by its seq).
        history = list(intercept.recent)
        for record in history:
            if not self.write(record):
                return
        last = history[-1].seq if history else 0
        async for record in live:
            if record.seq > last and not self.write(record):
                return

    def close(self) -> None:
        self._file.close()

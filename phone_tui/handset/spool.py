"""What arrives while a persona is locked, kept on disk until its next unlock.

One JSON line per entry, in arrival order: ``{"kind": "envelope", "data": hex}`` (ciphertext:
the keys to read it are not in memory) or ``{"kind": "state", "msg_id": hex, "state", "reason"}``
(the network's word on a message sent earlier). The file is 0600 beside the keystore.

Replay hands each entry to a handler in order. An entry leaves the spool only once handled; one
that cannot be handled (a damaged line, a wrong shape, a handler that raises) is set aside in
``spool.rejected.jsonl`` beside it, and the others still replay. Handling twice is harmless (the
ratchet refuses a replayed message, states only move forward), so a crash mid-replay loses
nothing: the next unlock replays what is left.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phone_tui.core.atomic import atomic_write, fsync_dir

log = logging.getLogger(__name__)

REJECTED_NAME = "spool.rejected.jsonl"
STATES = ("sending", "sent", "delivered", "failed")  # what the modem reports
MAX_DATA_HEX = 2 * 0x1_0000  # an envelope fits one hop frame (64 KiB)
MAX_REASON = 1000
_HEX = re.compile(r"(?:[0-9a-f]{2})+")


class SpoolError(ValueError):
    """A spool entry that does not have the shape of one (named by field, never by content)."""


@dataclass(frozen=True)
class SpooledEnvelope:
    data: bytes  # an encoded network envelope


@dataclass(frozen=True)
class SpooledState:
    msg_id: bytes
    state: str
    reason: str


SpoolRecord = SpooledEnvelope | SpooledState


@dataclass(frozen=True)
class SpoolReplay:
    """How a replay went: entries handled, and entries that could not be (set aside)."""

    handled: int
    rejected: int


def parse_record(line: bytes) -> SpoolRecord:
    """The typed entry on one spool line; raises SpoolError if it is not one."""
    try:
        raw = json.loads(line.decode("utf-8"), parse_constant=_refuse_constant)
    except RecursionError:
        raise SpoolError("the line is nested too deeply") from None
    except SpoolError:
        raise
    except ValueError:  # not UTF-8, not JSON
        raise SpoolError("the line is not JSON") from None
    if not isinstance(raw, dict):
        raise SpoolError("the line is not an object")
    kind = raw.get("kind")
    if kind == "envelope":
        _fields(raw, {"kind", "data"})
        return SpooledEnvelope(_hex(raw, "data", MAX_DATA_HEX))
    if kind == "state":
        _fields(raw, {"kind", "msg_id", "state", "reason"}, optional={"reason"})
        state, reason = raw["state"], raw.get("reason", "")
        if state not in STATES:
            raise SpoolError("key 'state' is not a delivery state")
        if not isinstance(reason, str) or len(reason) > MAX_REASON:
            raise SpoolError("key 'reason' is not a short string")
        msg_id = _hex(raw, "msg_id", 32)
        if len(msg_id) != 16:
            raise SpoolError("key 'msg_id' is not 16 bytes")
        return SpooledState(msg_id, state, reason)
    raise SpoolError("key 'kind' is neither 'envelope' nor 'state'")


class Spool:
    """One persona's spool file and, beside it, the entries set aside."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rejected_path = path.with_name(REJECTED_NAME)

    def append(self, kind: str, **fields: str) -> None:
        """Keep one entry, durably, after those already there."""
        _append(self.path, [(json.dumps({"kind": kind, **fields}) + "\n").encode()])

    def replay(self, handle: Callable[[SpoolRecord], None]) -> SpoolReplay:
        """Hand each entry to ``handle``, oldest first; then remove what was handled and set
        aside what could not be. Nothing is removed that was not read here."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return SpoolReplay(0, 0)
        except OSError as problem:
            log.warning("%s: unreadable (%s); left untouched for the next unlock", self.path,
                        problem.strerror or type(problem).__name__)
            return SpoolReplay(0, 0)
        lines = data.split(b"\n")
        # After the last newline: nothing, or an entry cut short when the process stopped.
        torn = lines.pop()
        handled, rejected = 0, []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                handle(parse_record(line))
            except Exception as problem:  # noqa: BLE001 - one bad entry must not cost the rest
                reason = str(problem) if isinstance(problem, SpoolError) else (
                    f"it could not be handled ({type(problem).__name__})")
                log.warning("%s, entry %d: set aside in %s: %s", self.path, number,
                            REJECTED_NAME, reason)
                rejected.append(line + b"\n")
            else:
                handled += 1
        if torn:
            log.warning("%s: an unfinished last entry was set aside in %s", self.path,
                        REJECTED_NAME)
            rejected.append(torn + b"\n")
        try:
            if rejected:
                _append(self.rejected_path, rejected, skip_present=True)
            self._remove_read(data)
        except OSError as problem:  # the disk is full or read-only: keep the spool whole
            log.warning("%s: could not set entries aside or remove the ones handled (%s); it "
                        "is kept and replays again (harmlessly) at the next unlock", self.path,
                        problem.strerror or type(problem).__name__)
        return SpoolReplay(handled, len(rejected))

    def _remove_read(self, data: bytes) -> None:
        """Drop the first ``len(data)`` bytes, keeping anything appended since."""
        try:
            now = self.path.read_bytes()
        except FileNotFoundError:
            return
        if not now.startswith(data):
            log.warning("%s changed while it was replayed; it was left as it is (its entries "
                        "replay again harmlessly)", self.path)
            return
        rest = now[len(data):]
        if rest:
            atomic_write(self.path, rest)
        else:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            fsync_dir(self.path.parent)


def _append(path: Path, lines: list[bytes], *, skip_present: bool = False) -> None:
    if skip_present:  # a replay interrupted after setting entries aside sets them aside again
        try:
            present = {line + b"\n" for line in path.read_bytes().split(b"\n")}
        except FileNotFoundError:
            present = set()
        lines = [line for line in lines if line not in present]
        if not lines:
            return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(b"".join(lines))
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fields(raw: dict[str, Any], expected: set[str], optional: set[str] | None = None) -> None:
    missing = expected - (optional or set()) - set(raw)
    if missing:
        raise SpoolError(f"key '{sorted(missing)[0]}' is missing")
    if set(raw) - expected:
        raise SpoolError("the entry has unknown keys")


def _hex(raw: dict[str, Any], key: str, limit: int) -> bytes:
    value = raw[key]
    if not isinstance(value, str) or len(value) > limit or not _HEX.fullmatch(value):
        raise SpoolError(f"key '{key}' is not hex of at most {limit // 2} bytes")
    return bytes.fromhex(value)


def _refuse_constant(_name: str) -> Any:
    raise SpoolError("the line holds NaN or Infinity")

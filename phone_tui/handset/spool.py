"""What arrives while a persona is locked, kept on disk until its next unlock.

One JSON line per entry, in arrival order: ``{"kind": "envelope", "data": hex}`` (ciphertext:
the keys to read it are not in memory) or ``{"kind": "state", "msg_id": hex, "state", "reason"}``
(the network's word on a message sent earlier). The file is 0600 beside the keystore.

Replay hands each entry to a handler in order. An entry leaves the spool only once handled; one
that cannot be handled (a damaged line, a wrong shape, a handler that raises) is set aside in
``spool.rejected.jsonl`` beside it, and the others still replay. A handler that raises
ReplayHalted (this phone's storage failed: nothing is wrong with the entry) stops the replay:
that entry and the rest stay, in order, for the next one. Handling twice is harmless (the
ratchet refuses a replayed message, states only move forward), so a crash mid-replay loses
nothing: the next unlock replays what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phone_tui.core.atomic import atomic_write, fsync_dir
from phone_tui.errors import StoreError

log = logging.getLogger(__name__)

REJECTED_NAME = "spool.rejected.jsonl"
STATES = ("sending", "sent", "delivered", "failed", "unavailable")  # what the modem reports
MAX_DATA_HEX = 2 * 0x1_0000  # an envelope fits one hop frame (64 KiB)
MAX_REASON = 1000
# The cap. A genuine backlog is a few hundred entries (a day of busy chats while locked); at
# about 4 ms each to replay (an X3DH attempt for a first message) 1000 entries is about 4 s of
# catch-up, done in slices. 4 MiB holds 1000 ordinary messages, or about 30 of the largest
# (64 KiB frames, written as hex), so a flood of big frames is bounded too.
MAX_ENTRIES = 1000
MAX_BYTES = 4 * 1024 * 1024
SHARE = 4  # one sender may hold at most a quarter of the spool
SLICE_SECONDS = 0.02  # work done between two yields to the event loop while replaying
_HEX = re.compile(r"(?:[0-9a-f]{2})+")


class SpoolError(ValueError):
    """A spool entry that does not have the shape of one (named by field, never by content)."""


class SpoolFull(StoreError):
    """The spool is at its cap: what arrived is not kept (so must not be acknowledged)."""


class ReplayHalted(Exception):
    """Raised by a replay's handler (from the real cause): this entry cannot be handled now,
    because this phone's own storage failed. The replay stops; the entry and all after it stay
    in the spool, in order, for the next unlock."""


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
    """How a replay went: entries handled, and entries that could not be (set aside); whether
    it stopped early (``halted``: the rest stays), and whether what it read could not be
    removed from the file (``kept``: it replays again)."""

    handled: int
    rejected: int
    halted: bool = False
    kept: bool = False


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
    """One persona's spool file and, beside it, the entries set aside.

    The spool is capped (``max_bytes``, ``max_entries``): past the cap ``append`` raises
    SpoolFull and the caller refuses what arrived (the network tells its sender "failed"), so
    a flood of a locked phone costs it at most that much disk and catch-up work at unlock."""

    def __init__(self, path: Path, *, max_bytes: int = MAX_BYTES,
                 max_entries: int = MAX_ENTRIES) -> None:
        self.path = path
        self.rejected_path = path.with_name(REJECTED_NAME)
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._measured: tuple[int, int] | None = None  # (size, entries) when last seen
        self._senders: dict[str, tuple[int, int]] = {}  # sender → (bytes, entries) then

    def append(self, kind: str, *, sender: str | None = None, **fields: str) -> None:
        """Keep one entry, durably, after those already there; raises SpoolFull (nothing
        written) if the spool would pass its cap, or ``sender``'s share of it (a quarter:
        one number flooding a locked phone cannot fill it for everyone else)."""
        line = (json.dumps({"kind": kind, **fields}) + "\n").encode()
        size, entries = self._measure()
        if entries + 1 > self.max_entries or size + len(line) > self.max_bytes:
            raise SpoolFull(self.path, f"the spool is full ({entries} entries, {size} bytes; "
                                       f"at most {self.max_entries}, {self.max_bytes})")
        if sender is not None:
            used_bytes, used = self._senders.get(sender, (0, 0))
            if used + 1 > self.max_entries // SHARE or \
                    used_bytes + len(line) > self.max_bytes // SHARE:
                raise SpoolFull(self.path, f"the spool holds as much from one sender as it "
                                           f"takes ({used} entries, {used_bytes} bytes)")
        _append(self.path, [line])
        self._measured = (size + len(line), entries + 1)
        if sender is not None:
            used_bytes, used = self._senders.get(sender, (0, 0))
            self._senders[sender] = (used_bytes + len(line), used + 1)

    def _measure(self) -> tuple[int, int]:
        """Bytes and entries in the file (and each sender's share); counted again only when
        its size is not the one this object last wrote (a replay, a wipe or another writer
        changed it)."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            self._measured, self._senders = (0, 0), {}
            return 0, 0
        if self._measured is not None and self._measured[0] == size:
            return self._measured
        data = self.path.read_bytes()
        self._measured = (len(data), data.count(b"\n") + (not data.endswith(b"\n")))
        self._senders = _shares(data)
        return self._measured

    def envelopes(self) -> int:
        """How many messages (envelopes, not delivery states) the spool holds; a damaged
        line counts as none. Bounded: the spool is capped."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return 0
        counted = 0
        for line in data.splitlines():
            try:
                counted += isinstance(parse_record(line), SpooledEnvelope)
            except SpoolError:
                continue
        return counted

    def replay(self, handle: Callable[[SpoolRecord], None]) -> SpoolReplay:
        """Hand each entry to ``handle``, oldest first; then remove what was handled and set
        aside what could not be. Nothing is removed that was not read here."""
        steps = self._steps(handle)
        try:
            next(steps)
            while True:
                next(steps)
        except StopIteration as done:
            return done.value

    async def replay_async(self, handle: Callable[[SpoolRecord], None], *,
                           keep_going: Callable[[], bool] = lambda: True,
                           slice_seconds: float = SLICE_SECONDS,
                           timer: Callable[[], float] = time.perf_counter) -> SpoolReplay:
        """``replay`` in slices of about ``slice_seconds`` of work, yielding to the event loop
        between them, in order. Once ``keep_going()`` is false (the phone locked or was wiped
        meanwhile) it stops and writes nothing more: the whole spool stays, and the entries
        handled in this pass replay again, harmlessly, at the next unlock."""
        steps = self._steps(handle)
        try:
            next(steps)
            started = timer()
            while True:
                if timer() - started >= slice_seconds:
                    await asyncio.sleep(0)
                    started = timer()
                if not keep_going():
                    steps.close()
                    return SpoolReplay(0, 0, halted=True, kept=True)
                next(steps)
        except StopIteration as done:
            return done.value

    def _steps(self, handle: Callable[[SpoolRecord], None]) -> Generator[
            None, None, SpoolReplay]:
        """The replay, one entry per step: yields before each entry; closed at a yield, it
        ends there having written nothing."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return SpoolReplay(0, 0)
        except OSError as problem:
            log.warning("%s: unreadable (%s); left untouched for the next unlock", self.path,
                        problem.strerror or type(problem).__name__)
            return SpoolReplay(0, 0, kept=True)
        lines = data.split(b"\n")
        # After the last newline: nothing, or an entry cut short when the process stopped.
        torn = lines.pop()
        handled, rejected, done, halted = 0, [], 0, False
        for number, line in enumerate(lines, 1):
            yield
            if line.strip():
                try:
                    handle(parse_record(line))
                except ReplayHalted as problem:
                    cause = problem.__cause__ or problem
                    log.warning("%s, entry %d: could not be handled now (%s); it and the %d "
                                "after it stay for the next unlock", self.path, number,
                                type(cause).__name__, len(lines) - number + bool(torn))
                    halted = True
                    break
                except Exception as problem:  # noqa: BLE001 - one bad entry must not cost the rest
                    reason = str(problem) if isinstance(problem, SpoolError) else (
                        f"it could not be handled ({type(problem).__name__})")
                    log.warning("%s, entry %d: set aside in %s: %s", self.path, number,
                                REJECTED_NAME, reason)
                    rejected.append(line + b"\n")
                else:
                    handled += 1
            done += len(line) + 1
        if torn and not halted:
            log.warning("%s: an unfinished last entry was set aside in %s", self.path,
                        REJECTED_NAME)
            rejected.append(torn + b"\n")
            done = len(data)
        kept = False
        try:
            if rejected:
                _append(self.rejected_path, rejected, skip_present=True)
            kept = not self._remove_read(data[:done])
        except OSError as problem:  # the disk is full or read-only: keep the spool whole
            log.warning("%s: could not set entries aside or remove the ones handled (%s); it "
                        "is kept and replays again (harmlessly) at the next unlock", self.path,
                        problem.strerror or type(problem).__name__)
            kept = True
        return SpoolReplay(handled, len(rejected), halted=halted, kept=kept)

    def _remove_read(self, data: bytes) -> bool:
        """Drop ``data`` from the start of the file, keeping anything appended since; False if
        the file no longer starts with it (then it is left as it is)."""
        try:
            now = self.path.read_bytes()
        except FileNotFoundError:
            return True
        if not now.startswith(data):
            log.warning("%s changed while it was replayed; it was left as it is (its entries "
                        "replay again harmlessly)", self.path)
            return False
        rest = now[len(data):]
        if rest:
            if data:
                atomic_write(self.path, rest)
        else:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            fsync_dir(self.path.parent)
        return True


def _shares(data: bytes) -> dict[str, tuple[int, int]]:
    """Bytes and entries of each sender's envelopes in a spool file (damaged lines count for
    nobody: the total cap still holds them)."""
    from phone_tui.modem.frames import Envelope, FrameError

    shares: dict[str, tuple[int, int]] = {}
    for line in data.splitlines(keepends=True):
        try:
            record = json.loads(line)
            sender = Envelope.decode(bytes.fromhex(record["data"])).src
        except (ValueError, KeyError, TypeError, RecursionError, FrameError):
            continue
        used_bytes, used = shares.get(sender, (0, 0))
        shares[sender] = (used_bytes + len(line), used + 1)
    return shares


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

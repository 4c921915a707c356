"""Injectable time. Everything that reads the time takes a ``Clock``."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

# 2026-01-01 09:41:00 UTC: the instant every deterministic run starts from.
DETERMINISTIC_EPOCH = datetime(2026, 1, 1, 9, 41, tzinfo=UTC).timestamp()


class Clock(Protocol):
    """Wall-clock seconds since the Unix epoch."""

    def now(self) -> float: ...


class SystemClock:
    """The real wall clock, shown in local time."""

    utc = False

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to: for tests and replays. Shown in UTC."""

    utc = True

    def __init__(self, start: float = DETERMINISTIC_EPOCH) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        self._now += seconds

    def set(self, instant: float) -> None:
        self._now = float(instant)


class DeterministicClock:
    """Starts at a fixed instant and then follows the monotonic clock.

    Screens captured in the first minute always show 09:41, yet waits (PIN throttling, auto-lock)
    still expire in a live deterministic demo.
    """

    utc = True

    def __init__(self, start: float = DETERMINISTIC_EPOCH) -> None:
        self._start = start
        self._origin = time.monotonic()

    def now(self) -> float:
        return self._start + (time.monotonic() - self._origin)


def wall_time(clock: Clock) -> datetime:
    """The clock's instant for display: UTC for fixed clocks (reproducible), else local time."""
    if getattr(clock, "utc", False):
        return datetime.fromtimestamp(clock.now(), tz=UTC)
    return datetime.fromtimestamp(clock.now()).astimezone()

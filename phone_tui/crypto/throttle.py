"""PIN-attempt throttling on Android Gatekeeper's schedule, persisted beside the keystore.

Without secure hardware this file is only as safe as the folder it lives in: anyone who can
write to it can reset the counter. The README says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from phone_tui.core.atomic import atomic_write
from phone_tui.core.documents import is_int, is_number, read_json
from phone_tui.errors import KeystoreCorrupt

DAY = 86_400


def gatekeeper_timeout(failures: int) -> int:
    """Seconds to wait after ``failures`` consecutive wrong PINs (AOSP's Gatekeeper schedule)."""
    if failures < 5:
        return 0
    if failures == 5:
        return 30
    if failures < 10:
        return 0
    if failures < 30:
        return 30
    if failures < 140:
        return 30 * (1 << ((failures - 30) // 10))
    return DAY


@dataclass(frozen=True)
class ThrottleState:
    failures: int = 0
    last_failure: float = 0.0

    def wait(self, now: float) -> float:
        """Seconds left before the next attempt is allowed."""
        timeout = gatekeeper_timeout(self.failures)
        if timeout == 0:
            return 0.0
        # A clock set backwards restarts the wait instead of lengthening or skipping it.
        elapsed = max(0.0, now - self.last_failure)
        return max(0.0, timeout - elapsed)


class Throttle:
    """The persisted failure counter for one keystore."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> ThrottleState:
        advice = "it was left untouched. Remove it to reset the counter"
        try:
            data = read_json(self.path, KeystoreCorrupt, advice)
        except FileNotFoundError:
            return ThrottleState()
        unknown = sorted(set(data) - {"failures", "last_failure"})
        if unknown:
            raise KeystoreCorrupt(self.path, f"unknown key; {advice}", key=unknown[0][:40])
        failures, last = data.get("failures"), data.get("last_failure")
        if not is_int(failures, 0):
            raise KeystoreCorrupt(self.path, f"expected a count of failures ≥ 0; {advice}",
                                  key="failures")
        # NaN or an infinity here would make every wait the full timeout, for ever.
        if not is_number(last):
            raise KeystoreCorrupt(self.path, f"expected a time in seconds; {advice}",
                                  key="last_failure")
        return ThrottleState(failures=failures, last_failure=float(last))

    def wait(self, now: float) -> float:
        """Seconds left before the next attempt. A last failure stamped in the future (the
        clock went back, or the file says year 3000) would restart the wait at every check and
        never end; it is moved to ``now`` once, so the wait runs out after one timeout."""
        state = self.load()
        if state.last_failure > now and gatekeeper_timeout(state.failures):
            state = ThrottleState(state.failures, now)
            self._save(state)
        return state.wait(now)

    def record_failure(self, now: float) -> ThrottleState:
        state = ThrottleState(failures=self.load().failures + 1, last_failure=now)
        self._save(state)
        return state

    def reset(self) -> None:
        if self.load().failures:
            self._save(ThrottleState())

    def _save(self, state: ThrottleState) -> None:
        atomic_write(self.path, json.dumps({"failures": state.failures,
                                            "last_failure": state.last_failure}).encode())

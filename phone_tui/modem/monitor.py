"""Per-second link figures for the Network app: round-trip time, throughput and loss."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from phone_tui.modem.bus import ModemStats

HISTORY = 60


@dataclass(frozen=True)
class LinkSample:
    rtt_ms: float | None
    throughput_bps: float
    loss_percent: float


class LinkMonitor:
    """Turns a modem's running counters into one sample per call (the UI calls it each second)."""

    def __init__(self, history: int = HISTORY) -> None:
        self.samples: deque[LinkSample] = deque(maxlen=history)
        self._last_time: float | None = None
        self._last_bytes = 0
        self._last_sent = 0
        self._last_lost = 0

    def sample(self, stats: ModemStats, now: float) -> LinkSample:
        total = stats.bytes_up + stats.bytes_down
        elapsed = now - self._last_time if self._last_time is not None else 0.0
        throughput = (total - self._last_bytes) * 8 / elapsed if elapsed > 0 else 0.0
        sent, lost = stats.frames_sent - self._last_sent, stats.frames_lost - self._last_lost
        recent = [rtt for at, rtt in stats.rtt if self._last_time is None or at > self._last_time]
        rtt = 1000 * sum(recent) / len(recent) if recent else None
        sample = LinkSample(rtt, throughput, 100.0 * lost / sent if sent else 0.0)
        self.samples.append(sample)
        self._last_time, self._last_bytes = now, total
        self._last_sent, self._last_lost = stats.frames_sent, stats.frames_lost
        return sample

    def series(self, field: str) -> list[float]:
        """One figure over the whole history window (zeros before the first sample, so the
        graph scrolls in from the right); a second without an RTT sample repeats the last."""
        values: list[float] = [0.0] * (self.samples.maxlen - len(self.samples))
        last = 0.0
        for sample in self.samples:
            value = getattr(sample, field)
            last = value if value is not None else last
            values.append(last)
        return values

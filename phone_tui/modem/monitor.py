"""Per-second link figures for the Network app: round-trip time, throughput and loss.

The headline beside each graph is the graph's newest column, so the two always agree: the
round trip is the median of the acknowledgements measured in the last interval or, in a
quiet second, the latest one measured (as a phone shows the last known figure); with no
service there is no round trip at all."""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass

from phone_tui.modem.modem import ModemStats

HISTORY = 60


@dataclass(frozen=True)
class LinkSample:
    rtt_ms: float | None  # shown: measured this interval, else the latest measured; None: none
    throughput_bps: float  # bits both ways over the interval
    loss_percent: float  # frames lost of frames carried over the interval
    rtt_fresh: bool = False  # rtt_ms was measured in this interval


class LinkMonitor:
    """Turns a modem's running counters into one sample per call (the UI calls it each second)."""

    def __init__(self, history: int = HISTORY) -> None:
        self.samples: deque[LinkSample] = deque(maxlen=history)
        self._last_time: float | None = None
        self._last_bytes = 0
        self._last_sent = 0
        self._last_lost = 0
        self._last_rtt: float | None = None

    def sample(self, stats: ModemStats, now: float, *, in_service: bool = True) -> LinkSample:
        total = stats.bytes_up + stats.bytes_down
        elapsed = now - self._last_time if self._last_time is not None else 0.0
        throughput = (total - self._last_bytes) * 8 / elapsed if elapsed > 0 else 0.0
        sent, lost = stats.frames_sent - self._last_sent, stats.frames_lost - self._last_lost
        recent = [rtt for at, rtt in stats.rtt if self._last_time is None or at > self._last_time]
        if recent:
            self._last_rtt = 1000 * statistics.median(recent)
        elif not in_service:
            self._last_rtt = None  # no link: the last figure no longer describes anything
        sample = LinkSample(self._last_rtt, throughput, 100.0 * lost / sent if sent else 0.0,
                            rtt_fresh=bool(recent))
        self.samples.append(sample)
        self._last_time, self._last_bytes = now, total
        self._last_sent, self._last_lost = stats.frames_sent, stats.frames_lost
        return sample

    def series(self, field: str, length: int | None = None) -> list[float]:
        """One figure per sample, newest last, over the last ``length`` samples (the whole
        history by default), zeros before the first sample so the graph scrolls in from the
        right; a missing round trip counts as 0."""
        length = self.samples.maxlen if length is None else length
        values = [float(getattr(sample, field) or 0.0) for sample in self.samples][-length:]
        return [0.0] * (length - len(values)) + values

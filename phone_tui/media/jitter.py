"""The receiver's adaptive playout buffer. Sans-IO: frames and their arrival times in, one 20 ms
slot out per ``pop``.

Playout is by sequence number: slot n plays at a fixed offset after its media time, the offset
being the mean transit (smoothed) plus a margin of 2×J + one frame within
[min_delay, max_delay], J the RFC 3550 A.8 interarrival jitter. The offset is set afresh at a
talk-spurt start (the marker bit, the first frame) and adapted slowly in between: one
concealed slot to grow it when frames come later than it allows, one dropped slot to shrink it
(at most once a second). A frame that arrives after its slot played is late: its slot was
counted lost and concealed. A call on hold pauses playout (``pause``): what is held is dropped
and what comes meanwhile is counted but not kept, so playout starts afresh, at the margin, with
the first frame after ``resume`` instead of behind frames from before the hold. Memory is
bounded: frames beyond ``max_delay`` plus a second ahead of playout restart the playout at
them instead of being held.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from phone_tui.media.srtp import MediaFrame


class _Wait:
    __slots__ = ()

    def __repr__(self) -> str:
        return "WAIT"


WAIT: Final = _Wait()  # pop() before playout starts (or restarts): nothing to play yet
SHRINK_EVERY = 50  # slots between two shrinks of the playout delay (one second)
_SEEN_BITS = 64


@dataclass(frozen=True)
class JitterStats:
    jitter_ms: float  # RFC 3550 A.8 interarrival jitter
    received: int  # distinct frames taken
    lost: int  # slots played without their frame (never came, or came late)
    late: int  # frames that came after their slot
    duplicates: int
    buffer_ms: float  # mean time a played frame waited in the buffer (smoothed)
    expected: int = 0  # frames the sender numbered, first to highest seen (RFC 3550 A.3)
    played: int = 0  # slots played (frames and concealments)
    stretched: int = 0  # slots concealed to grow the playout delay
    discarded: int = 0  # frames dropped: to shrink the delay, or skipped by a restart


class JitterBuffer:
    """Adaptive playout buffer for one incoming stream."""

    def __init__(self, frame_ms: int = 20, clock_rate: int = 16000, min_delay_ms: float = 20,
                 max_delay_ms: float = 400) -> None:
        self.frame = frame_ms / 1000
        self.clock_rate = clock_rate
        self.min_delay = min_delay_ms / 1000
        self.max_delay = max_delay_ms / 1000
        self.capacity = int((self.max_delay + 1.0) / self.frame) + 1  # slots held at most
        self._frames: dict[int, tuple[bytes, float]] = {}  # seq → payload, arrival
        self._started = False
        self._due: float | None = None  # when the first slot of a spurt plays
        self._next = 0  # the seq of the next slot
        self._base_seq = 0
        self._base_time = 0.0  # arrival time of a spurt's first frame, less its transit
        self._transit = 0.0  # smoothed (arrival − media time), seconds
        self._spurt = 0  # frames taken since the spurt started
        self._last_transit: float | None = None  # A.8, in timestamp units
        self._jitter = 0.0  # A.8, in timestamp units
        self._first: int | None = None
        self._highest = -1
        self._seen = 0  # bit i: seq highest − i received
        self._since_shrink = 0
        self._wait = 0.0
        self._waits = 0  # frames played since playout (re)started: the first sets _wait
        self._paused = False
        self.received = self.lost = self.late = self.duplicates = 0
        self.played = self.stretched = self.discarded = 0

    # ---- frames in ----------------------------------------------------------------------------

    def push(self, frame: MediaFrame, arrival: float) -> None:
        """A frame off the network at ``arrival`` (seconds, the loop's clock)."""
        seq = frame.seq
        if not self._mark_seen(seq):
            self.duplicates += 1
            return
        self.received += 1
        transit = arrival * self.clock_rate - frame.timestamp
        if self._last_transit is not None:  # RFC 3550 A.8
            self._jitter += (abs(transit - self._last_transit) - self._jitter) / 16
        self._last_transit = transit
        if self._paused:
            return  # counted, not kept: playout restarts with the first frame after resume
        if self._due is None or (frame.marker and seq == self._highest):
            # A talk spurt's first frame (after a hold too, when playout ran on past the
            # seqs the sender paused at): playout starts again at it.
            self._restart(seq, arrival)
        elif seq < self._next:
            if self._started:
                self.late += 1
                return
            self._next = seq  # overtaken before playout began: it plays first
        elif seq >= self._next + self.capacity:
            self._skip_to(seq, arrival)
        self._frames[seq] = (frame.payload, arrival)
        media = self._base_time + (seq - self._base_seq) * self.frame
        self._spurt += 1  # a running mean at first, then smoothed over 64 frames
        self._transit += (arrival - media - self._transit) / min(self._spurt, 64)

    def _mark_seen(self, seq: int) -> bool:
        """False if ``seq`` came before (as far as the last 64 seqs tell)."""
        if self._first is None:
            self._first = seq
        if seq > self._highest:
            shift = seq - self._highest
            self._seen = (self._seen << shift | 1) & ((1 << _SEEN_BITS) - 1) \
                if shift < _SEEN_BITS else 1
            self._highest = seq
            return True
        back = self._highest - seq
        if back >= _SEEN_BITS:
            return True  # too old to tell: taken as late, not as a duplicate
        if self._seen >> back & 1:
            return False
        self._seen |= 1 << back
        return True

    def _restart(self, seq: int, arrival: float) -> None:
        """A talk spurt starts at ``seq``: playout waits the margin after it."""
        if self._frames:
            self.discarded += len(self._frames)
            self._frames.clear()
        self._started = False
        self._next = self._base_seq = seq
        self._base_time = arrival
        self._transit = 0.0
        self._spurt = 0
        self._waits = 0
        self._due = arrival + self._margin()

    def _skip_to(self, seq: int, arrival: float) -> None:
        """A frame far ahead of playout (a long gap, or a stream that jumped): the slots in
        between are lost; playout restarts at it."""
        held = len(self._frames)
        self.lost += max(0, seq - self._next - held)
        self._restart(seq, arrival)  # the frames held are discarded

    # ---- slots out ----------------------------------------------------------------------------

    def pop(self, now: float) -> bytes | None | Literal[WAIT]:  # type: ignore[valid-type]
        """One playout slot: its payload, None to conceal (lost, late, or the delay growing),
        WAIT before playout starts."""
        if not self._started:
            if self._due is None or now < self._due:
                return WAIT
            self._started = True
        self._since_shrink += 1
        offset = now - (self._base_time + (self._next - self._base_seq) * self.frame)
        wanted = self._transit + self._margin()
        if wanted - offset > self.frame / 2:
            self.stretched += 1  # the delay grows by a slot: conceal, play this seq next time
            return None
        if offset - wanted > 2 * self.frame and self._since_shrink >= SHRINK_EVERY:
            self._since_shrink = 0
            if self._frames.pop(self._next, None) is not None:
                self.discarded += 1
            else:
                self.lost += 1
            self._next += 1
        self.played += 1
        entry = self._frames.pop(self._next, None)
        self._next += 1
        if entry is None:
            self.lost += 1
            return None
        self._waits += 1
        self._wait += (now - entry[1] - self._wait) / min(self._waits, 16)
        return entry[0]

    def pause(self) -> None:
        """A hold: drop what is held; until ``resume`` frames are counted but not kept."""
        self._paused = True
        if self._frames:
            self.discarded += len(self._frames)
            self._frames.clear()
        self._started = False
        self._due = None

    def resume(self) -> None:
        """The hold ended: the next frame starts playout again."""
        self._paused = False

    def _margin(self) -> float:
        margin = 2 * self._jitter / self.clock_rate + self.frame
        return min(max(margin, self.min_delay), self.max_delay)

    @property
    def stats(self) -> JitterStats:
        expected = 0 if self._first is None else self._highest - self._first + 1
        return JitterStats(
            jitter_ms=1000 * self._jitter / self.clock_rate, received=self.received,
            lost=self.lost, late=self.late, duplicates=self.duplicates,
            buffer_ms=1000 * self._wait, expected=expected, played=self.played,
            stretched=self.stretched, discarded=self.discarded)

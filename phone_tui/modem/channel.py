"""Sans-IO reliable hop between a phone and the network: sequence numbers, selective acks,
retransmission with exponential backoff and a retry cap, de-duplication, in-order delivery.

It takes bytes and times and returns bytes to send and events; the asyncio bus drives it.
Retransmission timeouts follow RFC 6298 (smoothed RTT and variance, Karn's rule).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from phone_tui.modem.frames import FrameError, HopFrame, HopKind


@dataclass(frozen=True)
class Delivered:
    """A payload from the peer, in order, exactly once."""

    payload: bytes


@dataclass(frozen=True)
class Acked:
    seq: int
    rtt: float | None  # None when the frame had been retransmitted (Karn's rule)


@dataclass(frozen=True)
class Failed:
    seq: int
    payload: bytes
    reason: str


ChannelEvent = Delivered | Acked | Failed


@dataclass
class _InFlight:
    payload: bytes
    frame: bytes
    first_sent: float
    deadline: float
    retries: int = 0


@dataclass
class ChannelStats:
    sent_frames: int = 0
    retransmissions: int = 0
    duplicates: int = 0
    garbled: int = 0
    stale: int = 0
    rtt_samples: deque[float] = field(default_factory=lambda: deque(maxlen=64))


class ReliableChannel:
    """One end of a hop. Both the phone and the network keep one per attached phone."""

    def __init__(self, session: int = 0, *, window: int = 32, rto_initial: float = 1.0,
                 rto_min: float = 0.2, rto_max: float = 16.0, max_retries: int = 24) -> None:
        self.session = session
        self.window = window
        self.rto = rto_initial
        self.rto_min = rto_min
        self.rto_max = rto_max
        self.max_retries = max_retries
        self._srtt: float | None = None
        self._rttvar = 0.0
        self._next_seq = 0
        self._waiting: deque[tuple[int, bytes]] = deque()
        self._in_flight: dict[int, _InFlight] = {}
        self._expected = 0
        self._early: dict[int, bytes] = {}
        self._outbox: list[bytes] = []
        self.stats = ChannelStats()

    # ---- sending ------------------------------------------------------------------------------

    def send(self, payload: bytes, now: float) -> int:
        seq = self._next_seq
        self._next_seq += 1
        self._waiting.append((seq, payload))
        self._fill_window(now)
        return seq

    def _fill_window(self, now: float) -> None:
        while self._waiting and len(self._in_flight) < self.window:
            seq, payload = self._waiting.popleft()
            frame = HopFrame(HopKind.DATA, self.session, seq, payload).encode()
            self._in_flight[seq] = _InFlight(payload, frame, now, now + self.rto)
            self._outbox.append(frame)
            self.stats.sent_frames += 1

    def transmit(self) -> list[bytes]:
        """Frames to put on the link now (data, retransmissions and acks)."""
        out, self._outbox = self._outbox, []
        return out

    def next_deadline(self) -> float | None:
        return min((item.deadline for item in self._in_flight.values()), default=None)

    def on_timeout(self, now: float) -> list[ChannelEvent]:
        events: list[ChannelEvent] = []
        for seq, item in sorted(self._in_flight.items()):
            if item.deadline > now:
                continue
            item.retries += 1
            if item.retries > self.max_retries:
                del self._in_flight[seq]
                events.append(Failed(seq, item.payload,
                                     f"no acknowledgement after {self.max_retries} retries"))
                continue
            item.deadline = now + min(self.rto * 2 ** item.retries, self.rto_max)
            self._outbox.append(item.frame)
            self.stats.retransmissions += 1
            self.stats.sent_frames += 1
        self._fill_window(now)
        return events

    def pending(self) -> list[bytes]:
        """Payloads not yet acknowledged, in order (to hand to store-and-forward)."""
        return [item.payload for _, item in sorted(self._in_flight.items())] + [
            payload for _, payload in self._waiting]

    @property
    def idle(self) -> bool:
        return not self._in_flight and not self._waiting

    # ---- receiving ----------------------------------------------------------------------------

    def receive(self, data: bytes, now: float) -> list[ChannelEvent]:
        """Handle a frame from the link. A garbled frame raises FrameError (and is counted)."""
        try:
            frame = HopFrame.decode(data)
        except FrameError:
            self.stats.garbled += 1
            raise
        if frame.session != self.session:
            self.stats.stale += 1  # left over from before the last registration
            return []
        if frame.kind is HopKind.ACK:
            return self._on_ack(frame.seq, now)
        self._outbox.append(HopFrame(HopKind.ACK, self.session, frame.seq).encode())
        if frame.seq < self._expected or frame.seq in self._early:
            self.stats.duplicates += 1
            return []
        if frame.seq - self._expected > 64 * self.window:
            self.stats.garbled += 1  # far outside any window: not from this session
            return []
        self._early[frame.seq] = frame.payload
        events: list[ChannelEvent] = []
        while self._expected in self._early:
            events.append(Delivered(self._early.pop(self._expected)))
            self._expected += 1
        return events

    def _on_ack(self, seq: int, now: float) -> list[ChannelEvent]:
        item = self._in_flight.pop(seq, None)
        if item is None:
            self.stats.duplicates += 1
            return []
        rtt = None
        if item.retries == 0:
            rtt = now - item.first_sent
            self._update_rto(rtt)
            self.stats.rtt_samples.append(rtt)
        self._fill_window(now)
        return [Acked(seq, rtt)]

    def _update_rto(self, rtt: float) -> None:
        if self._srtt is None:
            self._srtt, self._rttvar = rtt, rtt / 2
        else:
            self._rttvar = 0.75 * self._rttvar + 0.25 * abs(self._srtt - rtt)
            self._srtt = 0.875 * self._srtt + 0.125 * rtt
        self.rto = min(self.rto_max, max(self.rto_min, self._srtt + 4 * self._rttvar))

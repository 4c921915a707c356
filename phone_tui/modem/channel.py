"""Sans-IO reliable hop between a phone and the network: sequence numbers, cumulative and
selective acks, retransmission with exponential backoff and a retry cap, de-duplication,
in-order delivery.

It takes bytes and times and returns bytes to send and events; the asyncio bus drives it (it
sends what ``transmit`` gives and calls ``on_timeout`` at ``next_deadline``).
Retransmission timeouts follow RFC 6298 (smoothed RTT and variance, Karn's rule).

Acknowledgements work as TCP's (RFC 9293, RFC 1122 section 4.2.3.2, RFC 2018): every frame carries
the next seq this end expects (all below it are received) and a 64-bit map of the frames it
holds beyond it. A DATA frame carries them too, so an end with data to send acknowledges with
it; with nothing to send, a standalone ACK goes after a short delay (``ack_delay``, at most a
quarter of the RTO), or at once (the next loop turn, so a burst gets one) on the second frame
not yet acknowledged, on a frame out of order or filling a gap, and on a duplicate, so that loss
recovery is not slowed. Only the cumulative ack releases a frame (``Acked``); a selectively
acknowledged one is not retransmitted until the longest backoff (``rto_max``) passes without
the cumulative ack (a selective ack is advisory: RFC 2018 section 8). RTT samples are taken at
a frame's first acknowledgement, from frames never retransmitted, and include the ack delay (as
TCP's do; nothing is subtracted, so the RTO stays above what an ack can take). An owner that
knows no data will follow (the network, for a keep-alive) asks for the ack at once
(``ack_soon``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from phone_tui.modem.frames import SACK_BITS, FrameError, HopFrame, HopKind, encode_hop

ACK_DELAY = 0.04  # s: the longest a standalone ack waits for data to ride on (Linux's minimum)
ACK_EVERY = 2  # frames received in order before an ack goes at once (RFC 1122: every second)


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
    first_sent: float
    deadline: float
    retries: int = 0
    sacked: bool = False  # the peer says it holds it (selective ack): not retransmitted yet
    acked_once: bool = False  # its RTT was sampled, or could not be (Karn)
    rtt: float | None = None


@dataclass
class ChannelStats:
    sent_frames: int = 0  # data frames, first sends and retransmissions
    acks_sent: int = 0  # standalone ACK frames (the rest rode on data frames)
    retransmissions: int = 0
    duplicates: int = 0
    garbled: int = 0
    stale: int = 0
    bogus_acks: int = 0  # an ack for a seq never sent: ignored
    bogus_sacks: int = 0  # selective-ack bits for seqs never sent: ignored
    rtt_samples: deque[float] = field(default_factory=lambda: deque(maxlen=64))


class ReliableChannel:
    """One end of a hop. Both the phone and the network keep one per attached phone.

    A data frame counts as taken once ``receive`` has returned it: an ack (standalone or on a
    data frame) leaves only from ``transmit``, so the owner acts on it first (the phone commits
    it to its store) and calls ``transmit`` after."""

    def __init__(self, session: int = 0, *, window: int = 32, rto_initial: float = 1.0,
                 rto_min: float = 0.2, rto_max: float = 16.0, max_retries: int = 24,
                 ack_delay: float = ACK_DELAY) -> None:
        self.session = session
        self.window = window
        self.rto = rto_initial
        self.rto_min = rto_min
        self.rto_max = rto_max
        self.max_retries = max_retries
        self.ack_delay = ack_delay
        self._srtt: float | None = None
        self._rttvar = 0.0
        # Sending: seqs below _sent_upto have been on the wire; _in_flight in seq order.
        self._next_seq = 0
        self._sent_upto = 0
        self._waiting: deque[tuple[int, bytes]] = deque()
        self._in_flight: dict[int, _InFlight] = {}
        self._rtx_floor: float | None = None  # no retransmission is due before it
        self._outbox: list[int] = []  # seqs of data frames to put on the wire
        # Receiving: everything below _expected is delivered.
        self._expected = 0
        self._early: dict[int, bytes] = {}
        self._unacked = 0  # frames taken since the peer was last told
        self._ack_deadline: float | None = None  # a standalone ack is owed by then
        self._ack_queued = False  # ... and is due now
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
            deadline = now + self.rto
            self._in_flight[seq] = _InFlight(payload, now, deadline)
            if self._rtx_floor is None or deadline < self._rtx_floor:
                self._rtx_floor = deadline
            self._outbox.append(seq)
            self.stats.sent_frames += 1

    def transmit(self) -> list[bytes]:
        """Frames to put on the link now (data, retransmissions and acks). Each carries the
        acknowledgement state as it is now; data frames make a standalone ack needless."""
        seqs, self._outbox = self._outbox, []
        ack, sack = self._ack_fields()
        in_flight = self._in_flight
        out = [encode_hop(HopKind.DATA, self.session, seq, in_flight[seq].payload, ack, sack)
               for seq in seqs if seq in in_flight]
        # On the wire only now: an ack for a frame that entered the window but has not left
        # (a burst of frames taken before the owner transmits) acknowledges what was never sent.
        upto = self._sent_upto
        for seq in seqs:
            if seq >= upto:
                upto = seq + 1
        self._sent_upto = upto
        if out or self._ack_queued:
            if not out:
                out.append(encode_hop(HopKind.ACK, self.session, 0, b"", ack, sack))
                self.stats.acks_sent += 1
            self._ack_queued = False
            self._ack_deadline = None
            self._unacked = 0
        return out

    def next_deadline(self) -> float | None:
        """When ``on_timeout`` has something to do: an ack owed, or perhaps a retransmission
        (a timer that fires early finds nothing due and asks again)."""
        ack, rtx = self._ack_deadline, self._rtx_floor
        if ack is None:
            return rtx
        return ack if rtx is None or ack < rtx else rtx

    def on_timeout(self, now: float) -> list[ChannelEvent]:
        if self._ack_deadline is not None and self._ack_deadline <= now:
            self._ack_queued = True
            self._ack_deadline = None
        events: list[ChannelEvent] = []
        if self._rtx_floor is None or self._rtx_floor > now:
            return events
        floor: float | None = None
        for seq, item in list(self._in_flight.items()):
            if item.sacked and item.deadline <= now:
                # The peer said it holds it, but the cumulative ack has not come by the time it
                # would: a selective ack is advisory (RFC 2018 section 8: the receiver may
                # renege, and it is unauthenticated). Sent again, and counted, like any other;
                # a forged map can delay a frame by one such wait, never hold it for good.
                item.sacked = False
            if item.deadline <= now:
                item.retries += 1
                if item.retries > self.max_retries:
                    del self._in_flight[seq]
                    events.append(Failed(seq, item.payload,
                                         f"no acknowledgement after {self.max_retries} retries"))
                    continue
                item.deadline = now + min(self.rto * 2 ** item.retries, self.rto_max)
                self._outbox.append(seq)
                self.stats.retransmissions += 1
                self.stats.sent_frames += 1
            if floor is None or item.deadline < floor:
                floor = item.deadline
        self._rtx_floor = floor
        self._fill_window(now)
        return events

    def pending(self) -> list[bytes]:
        """Payloads not yet acknowledged, in order (to hand to store-and-forward)."""
        return [item.payload for item in self._in_flight.values()] + [
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
        events = self._on_ack(frame.ack, frame.sack, now)
        if frame.kind is HopKind.ACK:
            return events
        seq = frame.seq
        if seq < self._expected or seq in self._early:
            self.stats.duplicates += 1
            self._owe_ack(now, at_once=True)  # our ack was lost, or the peer gave up waiting
            return events
        if seq - self._expected > 64 * self.window:
            self.stats.garbled += 1  # far outside any window: not from this session
            return events
        in_order = seq == self._expected and not self._early
        self._early[seq] = frame.payload
        while self._expected in self._early:
            events.append(Delivered(self._early.pop(self._expected)))
            self._expected += 1
        self._unacked += 1
        self._owe_ack(now, at_once=not in_order or self._unacked >= ACK_EVERY)
        return events

    def ack_soon(self, now: float) -> None:
        """Nothing will ride on the ack owed (a keep-alive was all the peer sent): it goes on
        the next loop turn instead of after the delay."""
        if self._ack_deadline is not None:
            self._ack_deadline = min(self._ack_deadline, now)

    def _owe_ack(self, now: float, *, at_once: bool) -> None:
        deadline = now if at_once else now + min(self.ack_delay, self.rto / 4)
        if self._ack_deadline is None or deadline < self._ack_deadline:
            self._ack_deadline = deadline

    def _ack_fields(self) -> tuple[int, int]:
        """The cumulative ack and the selective-ack bits to send (bit i: seq ack + 1 + i)."""
        ack, early = self._expected, self._early
        if not early:
            return ack, 0
        sack = 0
        last = ack + SACK_BITS
        seqs = early if len(early) <= SACK_BITS else range(ack + 1, last + 1)
        for seq in seqs:
            if ack < seq <= last and seq in early:
                sack |= 1 << (seq - ack - 1)
        return ack, sack

    def _on_ack(self, ack: int, sack: int, now: float) -> list[ChannelEvent]:
        """The peer's acknowledgement state, from any frame. Bounded work whatever it claims:
        at most a window of frames released and 64 bits looked at."""
        if ack > self._sent_upto:
            self.stats.bogus_acks += 1  # acknowledges what was never sent
            return []
        events: list[ChannelEvent] = []
        in_flight = self._in_flight
        while in_flight:
            seq = next(iter(in_flight))
            if seq >= ack:
                break
            item = in_flight.pop(seq)
            events.append(Acked(seq, self._sample(item, now)))
        if sack:
            beyond = self._sent_upto - ack - 1  # bits past this are for seqs never sent
            if beyond < SACK_BITS and sack >> max(beyond, 0):
                self.stats.bogus_sacks += 1
                sack &= (1 << max(beyond, 0)) - 1
            while sack:
                low = sack & -sack
                sack ^= low
                item = in_flight.get(ack + low.bit_length())
                if item is not None and not item.sacked:
                    item.sacked = True
                    # Not retransmitted while the gap before it is repaired; if the cumulative
                    # ack still has not come after the longest backoff, it is (on_timeout).
                    item.deadline = max(item.deadline, now + self.rto_max)
                    self._sample(item, now)
        if events:
            self._fill_window(now)
        return events

    def _sample(self, item: _InFlight, now: float) -> float | None:
        """The frame's RTT at its first acknowledgement, if it was never retransmitted."""
        if not item.acked_once:
            item.acked_once = True
            if item.retries == 0:
                item.rtt = now - item.first_sent
                self._update_rto(item.rtt)
                self.stats.rtt_samples.append(item.rtt)
        return item.rtt

    def _update_rto(self, rtt: float) -> None:
        if self._srtt is None:
            self._srtt, self._rttvar = rtt, rtt / 2
        else:
            self._rttvar = 0.75 * self._rttvar + 0.25 * abs(self._srtt - rtt)
            self._srtt = 0.875 * self._srtt + 0.125 * rtt
        self.rto = min(self.rto_max, max(self.rto_min, self._srtt + 4 * self._rttvar))

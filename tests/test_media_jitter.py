"""The playout buffer with synthetic arrival times (no clock, no loop)."""

from __future__ import annotations

import random

import pytest

from phone_tui.media.jitter import WAIT, JitterBuffer
from phone_tui.media.srtp import MediaFrame

FRAME = 0.02
RATE = 16000


def frame(seq: int, marker: bool = False, slot: int | None = None) -> MediaFrame:
    """Frame ``seq``, sampled at 20 ms slot ``slot`` (its seq unless the sender paused)."""
    slot = seq if slot is None else slot
    return MediaFrame(seq, slot * 320 & 0xFFFFFFFF, (seq % (1 << 32)).to_bytes(4, "big"),
                      marker)


def lost_in_stream(buffer: JitterBuffer, played: list) -> int:
    """Slots lost, less those played after the stream ended."""
    trailing = len(played) - max(i for i, x in enumerate(played) if x is not None) - 1
    return buffer.stats.lost - trailing


def run(arrivals: list[tuple[float, int]], until: float, buffer: JitterBuffer | None = None,
        phase: float = 0.007) -> tuple[JitterBuffer, list]:
    """Push (time, seq) arrivals and pop every 20 ms, in time order; what played, per slot."""
    buffer = buffer or JitterBuffer(clock_rate=RATE)
    pending = sorted(arrivals)
    played = []
    at, index = phase, 0
    while at < until:
        while index < len(pending) and pending[index][0] <= at:
            when, seq = pending[index]
            buffer.push(frame(seq, marker=seq == 0), when)
            index += 1
        out = buffer.pop(at)
        if out is not WAIT:
            played.append(None if out is None else int.from_bytes(out, "big"))
        at += FRAME
    return buffer, played


def test_steady_arrivals_play_in_order_after_the_minimum_delay():
    buffer, played = run([(0.1 + n * FRAME, n) for n in range(200)], 4.2)
    assert played[:200] == list(range(200))
    stats = buffer.stats
    assert stats.late == stats.duplicates == lost_in_stream(buffer, played) == 0
    assert stats.jitter_ms == pytest.approx(0, abs=1e-9)
    assert stats.buffer_ms <= 20 + 20  # the minimum delay, plus the pop phase
    assert stats.received == stats.expected == 200


def test_the_jitter_estimate_is_rfc_3550s():
    rng = random.Random(3)
    arrivals = [(0.1 + n * FRAME + rng.uniform(0, 0.018), n) for n in range(3000)]
    buffer, _ = run(arrivals, 61)
    # Uniform delays over 18 ms (no reordering): J estimates E|U1 − U2| = 18/3 = 6 ms.
    assert buffer.stats.jitter_ms == pytest.approx(6, rel=0.15)


def test_jitter_grows_the_buffer_and_keeps_frames_from_being_late():
    rng = random.Random(4)
    arrivals = [(0.1 + n * FRAME + rng.uniform(0, 0.12), n) for n in range(1500)]
    buffer, played = run(arrivals, 31)
    stats = buffer.stats
    # Uniform delays over 120 ms: E|U1 − U2| = 40 ms; A.8 takes frames in arrival order, and
    # reordering makes successive arrivals closer than that.
    assert 20 < stats.jitter_ms < 45
    assert stats.buffer_ms > 40  # it grew beyond the minimum
    assert stats.late / stats.received < 0.03  # a few while it adapted at the start
    assert stats.stretched > 0
    assert [x for x in played if x is not None] == sorted(x for x in played if x is not None)


def test_late_frames_are_counted_lost_and_concealed():
    arrivals = [(0.1 + n * FRAME, n) for n in range(100) if n != 50]
    arrivals.append((0.1 + 50 * FRAME + 1.0, 50))  # a second late
    buffer, played = run(arrivals, 3.0)
    assert played[50] is None and played[49] == 49 and played[51] == 51
    assert buffer.stats.late == 1 and lost_in_stream(buffer, played) == 1


def test_duplicates_are_ignored():
    arrivals = [(0.1 + n * FRAME, n) for n in range(100)]
    arrivals += [(0.1 + n * FRAME + 0.001, n) for n in range(0, 100, 10)]
    buffer, played = run(arrivals, 3.0)
    assert played[:100] == list(range(100))
    assert buffer.stats.duplicates == 10 and buffer.stats.received == 100


def test_reordered_frames_play_in_order():
    arrivals = [(0.1 + n * FRAME, n) for n in range(100)]
    arrivals[30], arrivals[31] = (arrivals[30][0], 31), (arrivals[31][0], 30)  # swapped
    buffer = JitterBuffer(clock_rate=RATE, min_delay_ms=60)
    buffer, played = run(arrivals, 3.0, buffer)
    assert played[:100] == list(range(100))
    assert lost_in_stream(buffer, played) == 0


def test_a_long_gap_is_lost_then_playout_goes_on():
    arrivals = [(0.1 + n * FRAME, n) for n in range(300) if not 100 <= n < 250]  # 3 s gap
    buffer, played = run(arrivals, 7.0)
    assert played[:100] == list(range(100))
    heard = [x for x in played if x is not None]
    assert heard == list(range(100)) + list(range(250, 300))
    assert lost_in_stream(buffer, played) == 150
    assert buffer.stats.expected - buffer.stats.received == 150


def test_a_hostile_stream_of_far_future_seqs_cannot_grow_the_buffer():
    buffer = JitterBuffer(clock_rate=RATE)
    rng = random.Random(9)
    at = 0.0
    for n in range(20_000):
        seq = rng.randrange(1 << 48)
        buffer.push(frame(seq), at)
        assert len(buffer._frames) <= buffer.capacity
        if n % 2:
            buffer.pop(at)
        at += 0.001
    ordered = JitterBuffer(clock_rate=RATE)
    for n in range(0, 20_000 * 7, 7):  # steadily ahead of playout, never popped
        ordered.push(frame(n), n * 0.0001)
    assert len(ordered._frames) <= ordered.capacity


def test_a_marker_restarts_playout_after_a_pause():
    arrivals = [(0.1 + n * FRAME, n) for n in range(50)]
    arrivals += [(10.0 + (n - 50) * FRAME, n) for n in range(50, 100)]  # after a 9 s hold
    buffer = JitterBuffer(clock_rate=RATE)
    played = []
    for when, seq in arrivals[:50]:
        buffer.push(frame(seq, seq == 0), when)
    at = 0.107
    while at < 1.2:
        out = buffer.pop(at)
        if out is not WAIT:
            played.append(out)
        at += FRAME
    # Held: the session stops popping. The first frame after the hold carries the marker.
    for when, seq in arrivals[50:]:
        buffer.push(frame(seq, seq == 50, slot=seq + 450), when)  # sampled 9 s later
    at = 10.007
    assert buffer.pop(at) is WAIT  # waits its margin first
    while at < 11.5:
        out = buffer.pop(at)
        if out is not WAIT:
            played.append(out)
        at += FRAME
    heard = [int.from_bytes(x, "big") for x in played if x is not None]
    assert heard == list(range(100))


def test_a_pause_drops_what_is_held_and_playout_restarts_fresh_after_resume():
    # Without the pause, frames from before a hold played first on resume, seconds old, and
    # the buffer's delay figure started at the hold's length.
    buffer = JitterBuffer(clock_rate=RATE)
    for seq in range(10):  # 100 ms of transit, frames steady
        buffer.push(frame(seq, marker=seq == 0), seq * FRAME + 0.1)
    at = 0.1
    while buffer.pop(at) is WAIT:
        at += FRAME
    buffer.pause()
    assert buffer.pop(at) is WAIT  # nothing plays while held
    for seq in range(10, 20):  # in flight when the hold began: counted, not kept
        buffer.push(frame(seq), seq * FRAME + 0.1)
    assert buffer.stats.received == 20
    buffer.resume()
    resumed = 10.0  # the peer's media comes back 10 s later, slots on from where it paused
    for seq in range(20, 40):
        buffer.push(frame(seq, marker=seq == 20, slot=seq + 480),
                    resumed + 0.1 + (seq - 20) * FRAME)
    played, at = [], resumed
    while len(played) < 10:
        out = buffer.pop(at)
        if out is not WAIT:
            played.append(out)
        at += FRAME
    assert played[0] == (20).to_bytes(4, "big")  # the first frame after the hold, not older
    assert buffer.stats.buffer_ms < 60  # the margin, not the hold's 10 s

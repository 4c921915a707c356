"""Real-time voice frames on the emulated carrier: the phone's link impairment applies (latency,
jitter, loss, rate and its queue), nothing is retransmitted or stored, and the tap sees only
sealed packets. Fast-forwarded time (looptime)."""

from __future__ import annotations

import asyncio
import math
import random
import statistics
from dataclasses import replace

import pytest

from phone_tui.media.srtp import FrameSealer
from phone_tui.modem.bus import Bus
from phone_tui.modem.frames import FrameError, decode_voice, encode_voice
from phone_tui.modem.profiles import load_profiles

PROFILES = load_profiles()


def quiet(*_args) -> None:
    return None


def attach(bus: Bus, number: str, profile, **kwargs):
    return bus.attach(number, profile, on_message=quiet, on_state=quiet, **kwargs)


async def stream(bus: Bus, src, dst: str, count: int, size: int) -> tuple[dict, dict]:
    """``count`` frames of ``size`` bytes at 50/s from ``src`` to ``dst``; (sent, arrived)
    times by frame number."""
    loop = asyncio.get_running_loop()
    sent: dict[int, float] = {}
    arrived: dict[int, float] = {}
    receiver = bus.modem(dst)

    def got(_src: str, packet: bytes) -> None:
        arrived.setdefault(int.from_bytes(packet[:4], "big"), loop.time())

    receiver.on_voice = got

    def send(n: int) -> None:
        sent[n] = loop.time()
        src.send_voice(dst, n.to_bytes(4, "big") + bytes(size - 4))

    start = loop.time()
    for n in range(count):  # on the loop's clock from one start: no drift
        loop.call_at(start + n * 0.02, send, n)
    await asyncio.sleep(count * 0.02)
    await asyncio.sleep(30)
    return sent, arrived


def test_a_voice_frame_round_trips_and_a_corrupted_one_fails_its_crc():
    data = encode_voice("+44 20", b"\x80sealed")
    assert decode_voice(data) == ("+44 20", b"\x80sealed")
    for bit in range(0, len(data) * 8, 7):
        broken = bytearray(data)
        broken[bit // 8] ^= 1 << bit % 8
        with pytest.raises(FrameError):
            decode_voice(bytes(broken))
    with pytest.raises(FrameError):
        decode_voice(data[:5])


@pytest.mark.looptime
async def test_voice_at_lte_has_the_profiles_delay_jitter_and_loss():
    lte = PROFILES["lte"]
    bus = Bus(random.Random(5))
    a, _b = attach(bus, "+1", lte), attach(bus, "+2", lte)
    sent, arrived = await stream(bus, a, "+2", 3000, 60)
    delays = [arrived[n] - sent[n] for n in arrived]
    # Two hops (A's uplink, B's downlink), each latency ± jitter uniform: the mean is twice the
    # latency; the spread is the sum of two uniform ±15 ms, standard deviation 15·√(2/3).
    assert statistics.mean(delays) * 1000 == pytest.approx(2 * lte.latency_ms, rel=0.10)
    expected_sd = lte.jitter_ms * math.sqrt(2 / 3)
    assert statistics.pstdev(delays) * 1000 == pytest.approx(expected_sd, rel=0.10)
    assert max(delays) * 1000 <= 2 * (lte.latency_ms + lte.jitter_ms) + 1
    # Loss: each hop loses 0.5 %. 3000 frames expect 30 lost: ±10 % is under one standard
    # deviation of that count, so the tolerance is three (binomial).
    p = 1 - (1 - lte.loss) ** 2
    lost = 3000 - len(arrived)
    assert abs(lost - 3000 * p) <= 3 * math.sqrt(3000 * p * (1 - p))
    assert bus.stats.voice_routed >= len(arrived)
    assert bus.stats.routed == 0  # nothing went the messages' way


@pytest.mark.looptime
async def test_voice_loss_over_many_frames_is_the_profiles_within_10_percent():
    lte = replace(PROFILES["lte"], loss=0.05)
    bus = Bus(random.Random(6))
    a, _b = attach(bus, "+1", lte), attach(bus, "+2", PROFILES["full"])
    sent, arrived = await stream(bus, a, "+2", 15_000, 40)  # ±10 % is 2.8 standard deviations
    assert (len(sent) - len(arrived)) / len(sent) == pytest.approx(0.05, rel=0.10)


@pytest.mark.looptime
async def test_voice_over_a_gprs_uplink_queues_then_drops():
    gprs = PROFILES["gprs"]
    bus = Bus(random.Random(7))
    a, _b = attach(bus, "+1", gprs), attach(bus, "+2", PROFILES["full"])
    # 50 frames/s of 100 bytes plus the voice header: over the uplink's 40 kbit/s.
    sent, arrived = await stream(bus, a, "+2", 50 * 300, 100)
    first = [arrived[n] - sent[n] for n in range(0, 250) if n in arrived]
    later = [arrived[n] - sent[n] for n in range(3000, 3250) if n in arrived]
    assert statistics.mean(later) > statistics.mean(first) + 2.0  # the queue grew: seconds
    # 110 bytes a frame on the link (44 kbit/s offered, 40 carried): the 64 KiB buffer fills
    # in two to three minutes; then the excess (about 9 %) is tail-dropped, far more than the
    # link's 2 % loss.
    tail = range(len(sent) - 3000, len(sent))
    assert sum(n not in arrived for n in tail) / len(tail) > 0.05
    assert a.link.queued_bytes("up", asyncio.get_running_loop().time()) == 0  # drained after


@pytest.mark.looptime
async def test_voice_for_a_line_not_registered_is_dropped_and_counted_never_stored():
    bus = Bus(random.Random(8))
    full = PROFILES["full"]
    a = attach(bus, "+1", full)
    off = attach(bus, "+3", full, powered=False)
    heard: list[bytes] = []
    off.on_voice = lambda _src, packet: heard.append(packet)
    for n in range(10):
        a.send_voice("+3", b"v%d" % n)
        a.send_voice("+9", b"nobody")  # not a line at all
    await asyncio.sleep(1)
    assert bus.stats.voice_dropped == 20 and bus.stats.voice_routed == 0
    assert bus.stored_for("+3") == 0 and bus.stats.stored == 0
    off.set_powered(True)
    await asyncio.sleep(5)
    assert heard == []  # nothing was kept for it


@pytest.mark.looptime
async def test_voice_without_service_is_dropped_quietly():
    bus = Bus(random.Random(8))
    a = attach(bus, "+1", PROFILES["no-service"])
    b = attach(bus, "+2", PROFILES["full"])
    heard: list[bytes] = []
    b.on_voice = lambda _src, packet: heard.append(packet)
    a.send_voice("+2", b"x")
    await asyncio.sleep(1)
    assert heard == [] and a.stats.voice_sent == 0


@pytest.mark.looptime
async def test_a_corrupted_voice_frame_is_dropped():
    bus = Bus(random.Random(9))
    noisy = replace(PROFILES["full"], corrupt=1.0)
    a, b = attach(bus, "+1", noisy), attach(bus, "+2", PROFILES["full"])
    c = attach(bus, "+3", noisy)
    heard: list[tuple[str, bytes]] = []
    b.on_voice = c.on_voice = lambda src, packet: heard.append((src, packet))
    for n in range(20):
        a.send_voice("+2", b"up %d" % n)  # corrupted on A's uplink: the carrier drops it
        b.send_voice("+3", b"down %d" % n)  # corrupted on C's downlink: C drops it
    await asyncio.sleep(1)
    assert heard == []
    # A frame whose magic bytes were hit fails as a hop frame instead: garbled all the same.
    assert bus.stats.garbled == 20 and bus.stats.voice_dropped <= 20
    assert bus.stats.voice_routed == 20  # B's frames, corrupted only on C's downlink
    assert c.stats.garbled == 20 and c.stats.voice_received == 0


@pytest.mark.looptime
async def test_the_tap_shows_voice_frames_with_their_size_and_no_plaintext():
    bus = Bus(random.Random(10))
    a, b = attach(bus, "+1", PROFILES["lte"]), attach(bus, "+2", PROFILES["lte"])
    b.on_voice = quiet
    sealer = FrameSealer(bytes(32), bytes(12), 7)
    packets = [sealer.seal(n, n * 320, b"PLAINTEXT-AUDIO-%02d" % n) for n in range(20)]
    for packet in packets:
        a.send_voice("+2", packet)
    await asyncio.sleep(2)
    voice = [r for r in bus.tap.recent if r.kind == "voice"]
    assert {(r.direction, r.src, r.dst) for r in voice} == {("up", "+1", "+2"),
                                                           ("down", "+1", "+2")}
    assert all(r.content == "voice" and r.body in packets for r in voice)
    assert all(r.size == len(r.data) > len(r.body) for r in voice)
    assert not any(b"PLAINTEXT" in r.data for r in bus.tap.recent)


def test_the_carrier_tells_a_calls_reports_from_its_voice_by_the_clear_payload_type():
    """As RTCP from RTP (RFC 5761): the sealed packet's second byte is in the clear."""
    from phone_tui.media.srtp import PT_AUDIO, PT_CAPTION, PT_REPORT
    from phone_tui.modem.bus import TapRecord
    from phone_tui.modem.frames import media_content

    sealer = FrameSealer(bytes(32), bytes(12), 7)
    kinds = {}
    for seq, payload_type in enumerate((PT_AUDIO, PT_REPORT, PT_CAPTION)):
        packet = sealer.seal(seq, 0, bytes(37), payload_type=payload_type)
        record = TapRecord(0.0, "GovNet-0001", "up", "+1", encode_voice("+2", packet))
        assert media_content(packet) == record.content and record.kind == "voice"
        kinds[payload_type] = record.content
    assert kinds == {PT_AUDIO: "voice", PT_REPORT: "control", PT_CAPTION: "control"}
    assert media_content(b"") == media_content(b"\x80") == "voice"  # too short to tell

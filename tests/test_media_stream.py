"""Two media sessions wired through the emulated carrier (looptime): what the call statistics
report against each link profile's figures; hold, mute, stop, hostile packets."""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import replace

import pytest

from phone_tui.media.codecs import load_codecs
from phone_tui.media.srtp import FrameSealer
from phone_tui.media.stream import CallStats, MediaKeys, MediaSession, NullAudio
from phone_tui.modem.bus import Bus
from phone_tui.modem.frames import encode_voice
from phone_tui.modem.profiles import load_profiles

PROFILES = load_profiles()
CODECS = load_codecs()
OPUS = CODECS["opus-16k"]
KEY_A, SALT_A, SSRC_A = bytes([1]) * 32, bytes([2]) * 12, 0x0A0A0A0A
KEY_B, SALT_B, SSRC_B = bytes([3]) * 32, bytes([4]) * 12, 0x0B0B0B0B
REPORT_BYTES = 12 + 37 + 16  # header, report, tag


class Call:
    """A (+1) and B (+2) on ``profile`` each, with a MediaSession either side."""

    def __init__(self, profile, codec=OPUS, seed: int = 1) -> None:
        self.bus = Bus(random.Random(seed))
        loop = asyncio.get_running_loop()
        self.modem_a = self.bus.attach("+1", profile, on_message=print, on_state=print)
        self.modem_b = self.bus.attach("+2", profile, on_message=print, on_state=print)
        self.seen_a: list[CallStats] = []
        self.a = MediaSession(
            keys=MediaKeys(KEY_A, SALT_A, SSRC_A, KEY_B, SALT_B, SSRC_B), codec=codec,
            send=lambda p: self.modem_a.send_voice("+2", p), audio=NullAudio(codec),
            now=loop.time, on_stats=self.seen_a.append)
        self.b = MediaSession(
            keys=MediaKeys(KEY_B, SALT_B, SSRC_B, KEY_A, SALT_A, SSRC_A), codec=codec,
            send=lambda p: self.modem_b.send_voice("+1", p), audio=NullAudio(codec),
            now=loop.time)
        self.modem_a.on_voice = lambda src, p: self.a.receive(p) if src == "+2" else None
        self.modem_b.on_voice = lambda src, p: self.b.receive(p) if src == "+1" else None

    def start(self) -> None:
        self.a.start()
        self.b.start()

    def stop(self) -> None:
        self.a.stop()
        self.b.stop()


def two_hop_jitter(jitter_ms: float, frames: int = 100_000) -> float:
    """What RFC 3550's estimator should see for frames every 20 ms through two links of
    uniform ±jitter each, in arrival order: the mean |D| (an independent model of the link)."""
    rng = random.Random(0)
    arrivals = sorted((n * 20 + rng.uniform(-jitter_ms, jitter_ms)
                       + rng.uniform(-jitter_ms, jitter_ms), n * 20) for n in range(frames))
    transit = [arrival - sent for arrival, sent in arrivals]
    return sum(abs(b - a) for a, b in zip(transit, transit[1:], strict=False)) / (frames - 1)


def serialization_ms(size: int, kbps: float) -> float:
    return 0.0 if kbps == 0 else size * 8 / kbps


SHIPPED = ["full", "gprs", "edge", "3g", "4g-slow", "lte", "5g", "weak-signal"]


@pytest.mark.looptime
@pytest.mark.parametrize("name", SHIPPED)
async def test_call_stats_match_the_link_profile(name):
    profile = PROFILES[name]
    call = Call(profile)
    call.start()
    await asyncio.sleep(60)  # 3000 frames each way
    call.stop()
    stats = call.b.stats()
    # Delay: two hops of the profile's latency, plus the report's time on the wire up (behind
    # the audio frame sent in the same tick) and down.
    frame = encode_voice("+1", bytes(12 + OPUS.frame_bytes + 16))
    report = encode_voice("+1", bytes(REPORT_BYTES))
    expected = (2 * profile.latency_ms
                + serialization_ms(len(frame) + len(report), profile.up_kbps)
                + serialization_ms(len(report), profile.down_kbps))
    assert stats.call_one_way_ms == pytest.approx(expected, rel=0.10, abs=1.0)
    assert stats.call_jitter_ms == pytest.approx(two_hop_jitter(profile.jitter_ms), rel=0.10,
                                                 abs=0.5)
    # Loss: each frame crosses two links. 3000 frames make ±10 % less than a standard
    # deviation of the count at these rates, so the tolerance is three (binomial), widened
    # for bursty loss by √(2·burst − 1) (the variance of a Gilbert-Elliott count).
    p = 1 - (1 - profile.loss) ** 2
    spread = 3 * math.sqrt(p * (1 - p) / stats.received) * math.sqrt(2 * profile.loss_burst - 1)
    assert abs(stats.loss - p) <= max(spread, 0.1 * p, 1e-9)
    assert 2950 <= stats.sent <= 3001
    assert stats.codec == "opus-16k" and 1 <= stats.bars <= 5
    assert call.a.rejected == call.b.rejected == 0


@pytest.mark.looptime
async def test_gprs_scores_worse_than_lte():
    scores = {}
    for name in ("gprs", "lte"):
        call = Call(PROFILES[name])
        call.start()
        await asyncio.sleep(30)
        call.stop()
        scores[name] = call.b.stats()
    assert scores["gprs"].mos < scores["lte"].mos
    assert scores["gprs"].r < scores["lte"].r - 10
    assert scores["lte"].mos > 4.0


@pytest.mark.looptime
async def test_no_service_carries_no_media():
    call = Call(PROFILES["no-service"])
    call.start()
    await asyncio.sleep(5)
    call.stop()
    assert call.b.stats().received == 0 and call.a.stats().received == 0


@pytest.mark.looptime
async def test_ticks_keep_to_50_a_second_without_drift():
    call = Call(PROFILES["full"])
    call.start()
    await asyncio.sleep(600)
    assert call.a.sent in (30_000, 30_001)
    assert len(call.seen_a) == 600  # stats once a second
    call.stop()


@pytest.mark.looptime
async def test_hold_stops_media_and_the_peer_sees_it():
    call = Call(PROFILES["lte"])
    call.start()
    await asyncio.sleep(5)
    call.a.hold = True
    await asyncio.sleep(1)
    sent, heard = call.a.sent, call.b.jitter.received
    await asyncio.sleep(10)
    assert call.a.sent == sent  # nothing sent while held
    assert call.b.jitter.received == heard
    assert call.b.stats().remote_held and call.b.remote_held
    call.a.hold = False
    await asyncio.sleep(2)
    assert call.a.sent > sent and call.b.jitter.received > heard
    assert not call.b.remote_held
    lost_before = call.b.jitter.lost
    await asyncio.sleep(10)
    assert call.b.jitter.lost - lost_before < 10  # playout picked up again after the hold
    call.stop()


@pytest.mark.looptime
@pytest.mark.parametrize("holder", ["a", "b"])
async def test_after_a_hold_playout_starts_afresh_on_both_sides(holder):
    # A 3G link: frames sent into the hold (the held side kept sending) waited in the holder's
    # buffer and played 400-600 ms late after the resume, shrinking by a slot a second.
    call = Call(PROFILES["3g"])
    call.start()
    await asyncio.sleep(10)
    before = {side: getattr(call, side).stats().buffer_ms for side in "ab"}
    getattr(call, holder).hold = True
    await asyncio.sleep(2)  # the held side has the hold's report by now
    sent = call.a.sent, call.b.sent
    await asyncio.sleep(10)
    assert (call.a.sent, call.b.sent) == sent  # no media either way
    getattr(call, holder).hold = False
    await asyncio.sleep(2)
    after = {side: getattr(call, side).stats().buffer_ms for side in "ab"}
    for side in "ab":
        assert after[side] < 1.5 * before[side] + 20, (side, before, after)
    assert call.a.sent > sent[0] and call.b.sent > sent[1]
    call.stop()


@pytest.mark.looptime
async def test_mute_keeps_the_frame_rate():
    call = Call(PROFILES["full"])
    call.start()
    await asyncio.sleep(1)
    call.a.muted = True
    before = call.a.sent
    await asyncio.sleep(10)
    assert call.a.sent - before in (500, 501)
    call.stop()


@pytest.mark.looptime
async def test_stop_leaves_no_timers():
    call = Call(PROFILES["lte"])
    call.start()
    await asyncio.sleep(2)
    call.stop()
    loop = asyncio.get_running_loop()
    mine = [h for h in loop._scheduled if not h.cancelled()  # noqa: SLF001
            and getattr(h._callback, "__self__", None) in (call.a, call.b)]  # noqa: SLF001
    assert mine == [] and not call.a.running and not call.b.running
    sent = call.a.sent
    await asyncio.sleep(2)
    assert call.a.sent == sent
    call.stop()  # twice is fine


@pytest.mark.looptime
async def test_hostile_packets_are_dropped_cleanly():
    call = Call(PROFILES["full"])
    call.start()
    await asyncio.sleep(1)
    rng = random.Random(3)
    forger = FrameSealer(bytes(32), bytes(12), SSRC_A)  # the right SSRC, the wrong key
    junk = [b"", b"\x80", b"\x80\xc8" + bytes(40), rng.randbytes(60), forger.seal(999, 0, b"x"),
            *(rng.randbytes(rng.randrange(200)) for _ in range(500))]
    for packet in junk:
        call.b.receive(packet)
    assert call.b.rejected == len(junk)
    await asyncio.sleep(2)
    assert call.b.stats().received > 100  # the genuine stream went on


@pytest.mark.looptime
async def test_a_replayed_stream_is_refused():
    call = Call(PROFILES["full"])
    captured: list[bytes] = []
    send = call.a._send  # noqa: SLF001

    def capture(packet: bytes) -> None:
        captured.append(packet)
        send(packet)

    call.a._send = capture  # noqa: SLF001
    call.start()
    await asyncio.sleep(2)
    received = call.b.jitter.received
    for packet in captured[-31:-1]:  # the last may still be on its way
        call.b.receive(packet)
    assert call.b.rejected == 30 and call.b.jitter.received == received
    call.stop()


def test_amr_narrowband_runs_at_8_khz():
    amr = CODECS["amr-nb-12.2"]
    assert amr.sample_rate == 8000 and amr.frame_samples == 160
    assert NullAudio(amr).next_payload(muted=False) == bytes(32)
    assert replace(amr, lookahead_ms=0).lookahead_ms == 0


def test_words_said_are_refused_unless_short_printable_text():
    from phone_tui.media.srtp import MediaFrameError
    from phone_tui.media.stream import _caption

    assert _caption(b"ragtime opulent") == "ragtime opulent"
    for bad in (b"", b"\xff\xfe", b"a\x1b[2J", b"x" * 81):
        with pytest.raises(MediaFrameError):
            _caption(bad)


@pytest.mark.looptime
async def test_the_live_delay_follows_a_change_of_link_within_seconds():
    """From the new-user review: after a switch to GPRS mid-call the delay crept up for
    minutes (a mean over the whole call). The live figure is the last 10 s's."""
    call = Call(PROFILES["lte"])
    call.start()
    await asyncio.sleep(60)
    for modem in (call.modem_a, call.modem_b):
        modem.set_profile(PROFILES["3g"])
    await asyncio.sleep(15)
    call.stop()
    stats = call.b.stats()
    assert stats.one_way_ms == pytest.approx(300, rel=0.15)  # 3g's two hops, now
    assert stats.call_one_way_ms < 200  # the call's mean: mostly LTE


@pytest.mark.looptime
async def test_on_hold_the_level_is_silence_on_both_sides():
    """From the new-user review: the meters showed the last level, flat, during a hold."""

    class Loud(NullAudio):
        def play(self, payload):
            return -20.0

    call = Call(PROFILES["full"])
    call.a._audio = Loud(OPUS)
    call.b._audio = Loud(OPUS)
    call.start()
    await asyncio.sleep(2)
    assert call.a.level == call.b.level == -20.0
    call.a.hold = True
    await asyncio.sleep(2)
    assert call.a.level is None and call.b.level is None
    call.stop()


@pytest.mark.looptime
async def test_a_carrier_that_drops_the_resume_cannot_keep_a_call_on_hold():
    # Reports and marker frames are told apart by clear header bytes: dropping them after
    # the resume left B on hold for good, sending nothing, while A's voice kept coming.
    from phone_tui.media.srtp import MARKER, PT_REPORT

    call = Call(PROFILES["full"])
    dropping = False
    send = call.a._send

    def carrier(packet: bytes) -> None:
        if dropping and (packet[1] == PT_REPORT or packet[0] & MARKER):
            return
        send(packet)

    call.a._send = carrier
    call.start()
    await asyncio.sleep(5)
    call.a.hold = True
    await asyncio.sleep(3)
    assert call.b.remote_held
    dropping = True
    call.a.hold = False
    sent = call.b.sent
    await asyncio.sleep(1)
    assert not call.b.remote_held and call.b.sent > sent  # A's new voice ended the hold
    call.stop()


@pytest.mark.looptime
async def test_a_held_report_let_through_after_the_resume_does_not_hold_the_call_again():
    from phone_tui.media.srtp import PT_REPORT

    call = Call(PROFILES["full"])
    kept: list[bytes] = []
    keep = False
    send = call.a._send

    def carrier(packet: bytes) -> None:
        nonlocal keep
        if keep and packet[1] == PT_REPORT:
            kept.append(packet)
            keep = False
            return
        send(packet)

    call.a._send = carrier
    call.start()
    await asyncio.sleep(5)
    call.a.hold = True
    await asyncio.sleep(2.5)
    keep = True  # the carrier holds back the next report (it says "held")
    await asyncio.sleep(1.5)
    call.a.hold = False
    await asyncio.sleep(0.3)
    assert not call.b.remote_held
    call.b.receive(kept[0])  # and lets it through now
    sent = call.b.sent
    await asyncio.sleep(0.5)
    assert not call.b.remote_held and call.b.sent > sent
    call.stop()

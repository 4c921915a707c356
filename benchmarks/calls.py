"""Calls: CPU of a connected call, call stats against each link profile, STOI, capacity.

Every call here is the whole path a user pays for: two bots (phone_tui.handset.bots.Bot) with
their encrypted stores on disk (the carrier's folder, as the stage keeps them), their
messengers (signalling end to end, X3DH and the ratchet), their modems on one Bus with a link
profile, the CallService (state machine, ZRTP-style keys), the media sessions (20 ms frames,
AES-GCM, jitter buffer, reports, E-model) and, with audio on, real Opus audio (the shipped
clip, looped, encoded by the speaker and decoded by the listener, through PyAV). The caller bot
dials the callee bot, which answers; both speak.

1. cpu (real clock): CPU seconds of this process per wall second, as a percentage of one core,
   for three states measured in turn, order rotated each round (--rounds, --seconds each):
   a connected call with real audio (opus-16k, both sides speak the clip), the same call with
   no audio (NullAudio: frames of the codec's size that carry nothing), and the same two bots
   registered with no call (idle). The call's share beyond idle is taken per round. Link: lte.
2. profiles (fast-forwarded: looptime's event loop, virtual time that jumps to the next timer
   whenever nothing is ready, so a 40 s call takes about 5 s of real time, most of it the
   codec's work; the bots' clocks read the loop's time): per link profile,
   what the listener's (the callee's) call stats measured against what the profile implies
   for two radio hops (phone → network → phone):
     one-way delay: 2 × latency_ms + the serialization of a voice frame and a report up (a
       report leaves behind the tick's audio frame) and of a report down: the delay is
       measured from the RTCP-style reports' round trips (RTT / 2);
     jitter: what RFC 3550's estimator sees of frames every 20 ms through two hops of uniform
       ±jitter_ms each (simulated independently of the model: the mean |D|);
     loss: 1 − (1 − loss)²; judged at ±10 % and against the 3σ binomial interval (widened by
       √(2·burst − 1) for bursty loss), as ±10 % of a 0.2 % loss is not measurable in 3000
       frames;
   and the E-model R and MOS the call computed (G.107, mouth-to-ear = one-way + buffer +
   frame + look-ahead). Median and min–max over --profile-rounds calls (seeds differ).
3. stoi (same runs, audio on): the listener's recording (CallAudio(record=...)) against the
   clean reference (the clip decoded at 16 kHz, looped as the speaker loops it), aligned by
   cross-correlation in 3 s segments (each searched within ±300 ms of the last: the jitter
   buffer stretches and shrinks playout by whole frames); STOI (pystoi) of the aligned
   segments. "full" (no impairment) gives the codec's own score.
4. loss (fast-forwarded as in 2, audio off: NullAudio's frames of the codec's size, so the
   link carries the same bytes): per link profile that loses frames and has service, whether a
   call's measured loss is within ±10 % of the two-hop 1 − (1 − loss)². Both sides' received
   figures count (each hears the other through two hops), pooled over --loss-rounds calls
   (seeds differ; more where one call would pass 540 s, as the bots hang up at 600 s) long
   enough that the binomial 3σ (widened by √(2·burst − 1)) is within
   ±10 % of that loss, up to --loss-max-seconds of calls per profile: a profile that would need
   more (5g: 0.2 %, ~450 000 frames) is run to the cap and said not resolvable within it.
   Beside the calls' figures, the link's own count of what it dropped of the same voice frames
   (the Gilbert–Elliott draws): measured − link is what the media path adds (late frames,
   replay window, frames never sent), so a miss of the expected figure is told apart as the
   link's chance or the path's bias.
5. capacity (real clock, real audio, profile "full" so the link loses and delays nothing):
   N simultaneous calls (2N bots on one Bus, one event loop as on the stage), N = 1, 2, 4, …
   --max-calls; per N the share of playout slots concealed (a frame lost or late), the share
   of frames late, the lag of the 20 ms ticks (how long after its due time a tick ran: p50,
   p99), and CPU, over --capacity-rounds runs of each N. An N is sustained when its best run
   keeps the concealed share within 1 % and the tick lag's p99 within a frame (20 ms): on a
   shared machine the others' load only adds lag; a failed run whose loop waited for a core
   more than 2 % of the time (/proc/thread-self/schedstat) without filling one is run again.
   It stops at the first N not sustained.
   One event loop carries every call, so one core is the ceiling: the CPU per call says how
   many calls an idle core would carry.

    python benchmarks/calls.py [--rounds 5] [--seconds 4] [--profiles lte,gprs]
                               [--call-seconds 40] [--profile-rounds 3] [--max-calls 32]
                               [--capacity-rounds 2] [--loss-rounds 3]
                               [--loss-max-seconds 1200]
                               [--parts cpu,profiles,loss,capacity] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import json
import math
import os
import random
import statistics
import tempfile
import time
import wave
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spread import rotated, spread

from phone_tui.core.clock import DETERMINISTIC_EPOCH, SystemClock
from phone_tui.core.entropy import SystemEntropy
from phone_tui.handset.bots import BOT_CALL_S, Bot
from phone_tui.handset.calls import CallState, stream_media_factory
from phone_tui.handset.contacts import SeedContact
from phone_tui.media.audio import CallAudio, clip_path
from phone_tui.media.codecs import DEFAULT_CODEC, load_codecs
from phone_tui.media.srtp import PT_AUDIO
from phone_tui.modem.bus import Bus
from phone_tui.modem.frames import FrameError, decode_voice, encode_voice, is_voice
from phone_tui.modem.profiles import LinkProfile, load_profiles

ENTROPY = SystemEntropy()
PROFILES = ("5g", "lte", "4g-slow", "3g", "edge", "gprs", "weak-signal")
CPU_PROFILE = "lte"
PARTS = ("cpu", "profiles", "loss", "capacity")
REPORT_BYTES = 12 + 37 + 16  # a media report: header, body, tag (media/stream.py)
SEGMENT_S = 3.0  # STOI alignment: one offset per segment …
SEARCH_S = 0.3  # … searched within this of the last one
CONNECT_TIMEOUT = 60.0  # seconds (loop time) for a call to connect or end
LATE_LIMIT = 0.01  # capacity: concealed share of playout slots
LAG_LIMIT_MS = 20.0  # capacity: tick lag p99
CONTENDED_PERCENT = 2.0  # capacity: a round whose loop waited longer for a core decides nothing
SATURATED_PERCENT = 90.0  # … unless the calls themselves filled the core
LOSS_TARGET = 0.10  # loss: within ±10 % of the two-hop figure …
LOSS_SIGMAS = 3  # … resolved when this many σ of the pooled count fit inside it
LOSS_CALL_S = BOT_CALL_S - 60  # one call at most this long: the bots hang up at BOT_CALL_S
SETTLE_S = 1.5  # after a call connects: playout started, the bots' words confirmed (at 1 s)


class LoopClock:
    """The bots' wall clock on the running loop's time (fast-forwarded under looptime)."""

    utc = True

    def now(self) -> float:
        return DETERMINISTIC_EPOCH + asyncio.get_running_loop().time()


@dataclass
class Pair:
    """Two bots on ``bus``: ``a`` calls ``b``; ``audio`` sets what their next call's media
    carries (real speech, or NullAudio's empty frames)."""

    a: Bot
    b: Bot
    audio: bool = True
    record: Path | None = None
    lags: list[float] | None = None  # tick lags (s) of both sides' media sessions, if kept

    @classmethod
    def attach(cls, bus: Bus, folder: Path, profile: LinkProfile, clock: Any,
               index: int = 0) -> Pair:
        bots = []
        for role in (1, 2):
            seed = SeedContact(name=f"Bench {index}.{role}", number=f"+44 7700 {index:04d}{role}",
                               bot=True, answers_calls=True, answer_delay=0.2)
            bots.append(Bot(seed, bus, profile, ENTROPY, clock, folder))
        pair = cls(bots[0], bots[1])
        for bot in bots:
            bot.media_factory = pair._factory
        return pair

    def _factory(self, bot: Bot) -> Callable[[Any, str, str], Any]:
        audio = None
        if self.audio:
            record = self.record / bot.seed.number.replace(" ", "") if self.record else None
            audio = CallAudio(voice=clip_path(), record=record, owner=bot.seed.number)
        make = stream_media_factory(bot.modem, audio)
        if self.lags is None:
            return make
        lags = self.lags

        def timed(keys: Any, codec: str, peer: str) -> Any:
            session = make(keys, codec, peer)
            tick, loop = session._tick, asyncio.get_running_loop()

            def timed_tick() -> None:
                lags.append(loop.time() - (session._t0 + session._tick_n * session._frame_s))
                tick()

            session._tick = timed_tick  # start() and every tick schedule self._tick
            return session

        return timed

    def media(self, bot: Bot) -> Any:
        return bot.calls._media

    def dial(self) -> None:
        self.a.calls.dial(self.b.seed.number)

    def connected(self) -> bool:
        return all(bot.calls.current is not None
                   and bot.calls.current.state is CallState.CONNECTED
                   and self.media(bot) is not None for bot in (self.a, self.b))

    async def connect(self) -> None:
        self.dial()
        await until(self.connected)

    async def hang_up(self) -> None:
        if self.a.calls.current is not None:
            self.a.calls.hangup()
        await until(lambda: self.a.calls.current is None and self.b.calls.current is None)

    def close(self) -> None:
        for bot in (self.a, self.b):
            bot.close()


def run_queue_wait() -> float:
    """Seconds this thread (the event loop's) has waited for a core while runnable
    (/proc/thread-self/schedstat; 0 where there is none): the others' load on a shared
    machine, beside which a tick's lag is not the benchmark's own."""
    try:
        return int(Path("/proc/thread-self/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


async def until(condition: Callable[[], bool], timeout: float = CONNECT_TIMEOUT) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise SystemExit("a call did not connect or end in time: the benchmark is broken")
        await asyncio.sleep(0.05)


# ---- 1. CPU per wall second -------------------------------------------------------------------


async def cpu_rounds(folder: Path, rounds: int, seconds: float) -> dict[str, list[float]]:
    bus = Bus(random.Random(1))
    pair = Pair.attach(bus, folder, load_profiles()[CPU_PROFILE], SystemClock())
    runs: dict[str, list[float]] = {"call_audio": [], "call_no_audio": [], "idle": []}
    waits: dict[str, list[float]] = {state: [] for state in runs}
    # A call first, not measured: PyAV's import, the clip's decoding and the sessions' X3DH.
    await pair.connect()
    await asyncio.sleep(1.0)
    await pair.hang_up()
    for index in range(rounds):
        for state in rotated(list(runs), index):
            if state != "idle":
                pair.audio = state == "call_audio"
                await pair.connect()
            await asyncio.sleep(SETTLE_S)
            gc.collect()
            wall, cpu, wait = time.monotonic(), time.process_time(), run_queue_wait()
            await asyncio.sleep(seconds)
            elapsed = time.monotonic() - wall
            runs[state].append(100 * (time.process_time() - cpu) / elapsed)
            waits[state].append(100 * (run_queue_wait() - wait) / elapsed)
            if state != "idle":
                heard = pair.b.calls.stats
                if heard is None or heard.received < 40 * seconds:
                    raise SystemExit(f"the call carried no media ({heard})")
                await pair.hang_up()
    pair.close()
    return runs, waits


# ---- 2 and 3. Profiles on fast-forwarded time --------------------------------------------------


def expected_figures(profile: LinkProfile, frame_bytes: int) -> dict[str, float]:
    """What two hops of ``profile`` should show (see the module's docstring)."""
    def serialization_ms(size: int, kbps: float) -> float:
        return 0.0 if kbps == 0 else size * 8 / kbps

    frame = len(encode_voice("+1", bytes(12 + frame_bytes + 16)))
    report = len(encode_voice("+1", bytes(REPORT_BYTES)))
    one_way = (2 * profile.latency_ms + serialization_ms(frame + report, profile.up_kbps)
               + serialization_ms(report, profile.down_kbps))
    return {"one_way_ms": one_way, "jitter_ms": two_hop_jitter(profile.jitter_ms),
            "loss": 1 - (1 - profile.loss) ** 2}


def two_hop_jitter(jitter_ms: float, frames: int = 100_000) -> float:
    """RFC 3550's interarrival jitter for frames every 20 ms through two hops of uniform
    ±``jitter_ms`` each, taken in arrival order: the mean |D| of consecutive transits."""
    rng = random.Random(0)
    arrivals = sorted((n * 20 + rng.uniform(-jitter_ms, jitter_ms)
                       + rng.uniform(-jitter_ms, jitter_ms), n * 20) for n in range(frames))
    transit = [arrival - sent for arrival, sent in arrivals]
    return sum(abs(b - a) for a, b in zip(transit, transit[1:], strict=False)) / (frames - 1)


async def profile_call(profile: LinkProfile, folder: Path, seconds: float,
                       seed: int) -> dict[str, Any]:
    """One call of ``seconds`` on ``profile`` (both bots on it), audio on, the callee
    recording: its stats and the path of its recording."""
    bus = Bus(random.Random(seed))
    pair = Pair.attach(bus, folder, profile, LoopClock())
    pair.record = folder / "heard"
    await pair.connect()
    await asyncio.sleep(seconds)
    stats = pair.b.calls.stats  # its last once-a-second figures
    await pair.hang_up()
    pair.close()
    listener = sorted((pair.record / pair.b.seed.number.replace(" ", "")).glob("*.wav"))
    # The frames the callee expected, from the same figures (loss = missing / expected).
    expected = round(stats.received / (1 - stats.loss)) if stats.loss < 1 else stats.received
    return {"stats": stats, "expected": expected, "missing": expected - stats.received,
            "recording": listener[0] if listener else None}


def run_fast(coroutine: Any) -> Any:
    """Run ``coroutine`` on looptime's event loop (virtual time: it jumps to the next timer
    whenever nothing is ready)."""
    import looptime

    loop = looptime.new_event_loop(start=0.0)
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


# ---- STOI ---------------------------------------------------------------------------------------

# STOI needs pystoi (and numpy), the `bench` extra: without them the rest is measured and the
# report says why STOI is not there.
STOI_MISSING = None if all(importlib.util.find_spec(name) is not None
                           for name in ("pystoi", "numpy")) else \
    "pystoi is not installed: pip install '.[bench]' for the STOI figures"


def reference_clip(rate: int) -> Any:
    """The shipped clip decoded to mono at ``rate`` as the speaker's CodecAudio decodes it."""
    import av
    import numpy as np

    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
    parts = []
    with av.open(str(clip_path())) as container:
        for frame in container.decode(audio=0):
            parts.extend(bytes(f.planes[0])[: 2 * f.samples] for f in resampler.resample(frame))
    parts.extend(bytes(f.planes[0])[: 2 * f.samples] for f in resampler.resample(None))
    return np.frombuffer(b"".join(parts), dtype=np.int16).astype(np.float64) / 32768


def read_wav(path: Path) -> tuple[Any, int]:
    import numpy as np

    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        data = wav.readframes(wav.getnframes())
    return np.frombuffer(data, dtype=np.int16).astype(np.float64) / 32768, rate


def best_lag(signal: Any, reference: Any, low: int, high: int) -> int:
    """The lag in [low, high) at which ``reference[lag:]`` best matches ``signal``
    (cross-correlation through the FFT)."""
    import numpy as np

    span = reference[low: high + len(signal)]
    size = 1 << (len(span) + len(signal)).bit_length()
    corr = np.fft.irfft(np.fft.rfft(span, size) * np.conj(np.fft.rfft(signal, size)), size)
    return low + int(np.argmax(corr[: high - low]))


def stoi_of(recording: Path, clip: Any) -> dict[str, float]:
    """STOI of ``recording`` against the looped clip, aligned per segment."""
    import numpy as np
    from pystoi import stoi

    heard, rate = read_wav(recording)
    loops = math.ceil(len(heard) / len(clip)) + 2
    looped = np.tile(clip, loops)
    segment, search = int(SEGMENT_S * rate), int(SEARCH_S * rate)
    # The first segment: any offset within one clip (the clip loops).
    offset = best_lag(heard[:segment], looped, 0, len(clip))
    first_offset = offset
    refs, recs = [], []
    for start in range(0, len(heard) - segment + 1, segment):
        piece = heard[start: start + segment]
        if start:  # heard[start] was near looped[start + offset]: look around it
            low = max(0, start + offset - search)
            offset = best_lag(piece, looped, low, start + offset + search + 1) - start
        refs.append(looped[start + offset: start + offset + segment])
        recs.append(piece)
    whole = looped[first_offset: first_offset + len(heard)]
    return {"stoi": float(stoi(np.concatenate(refs), np.concatenate(recs), rate)),
            "stoi_one_offset": float(stoi(whole, heard, rate)),
            "heard_seconds": len(heard) / rate}


def profile_rounds(folder: Path, names: list[str], seconds: float,
                   rounds: int) -> dict[str, Any]:
    profiles = load_profiles()
    codec = load_codecs()[DEFAULT_CODEC]
    clip = reference_clip(codec.sample_rate) if STOI_MISSING is None else None
    out: dict[str, Any] = {}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    wall = {name: 0.0 for name in names}
    for index in range(rounds):
        for name in rotated(names, index):
            where = folder / f"{name}-{index}"
            started = time.perf_counter()
            done = run_fast(profile_call(profiles[name], where, seconds, seed=100 + index))
            wall[name] += time.perf_counter() - started
            stats = done["stats"]
            figure = {"one_way_ms": stats.call_one_way_ms, "jitter_ms": stats.call_jitter_ms,
                      "loss": stats.loss, "late": stats.late, "received": stats.received,
                      "expected": done["expected"], "missing": done["missing"],
                      "r": stats.r, "mos": stats.mos, "buffer_ms": stats.buffer_ms}
            if done["recording"] and clip is not None:
                figure.update(stoi_of(done["recording"], clip))
            runs[name].append(figure)
    for name in names:
        profile, done = profiles[name], runs[name]
        expected = expected_figures(profile, codec.frame_bytes)
        entry: dict[str, Any] = {
            "profile": {"latency_ms": profile.latency_ms, "jitter_ms": profile.jitter_ms,
                        "loss": profile.loss, "loss_burst": profile.loss_burst,
                        "up_kbps": profile.up_kbps, "down_kbps": profile.down_kbps},
            "real_seconds_per_call": round(wall[name] / rounds, 2),
        }
        for key, digits in (("one_way_ms", 1), ("jitter_ms", 1), ("loss", 4)):
            values = [run[key] for run in done]
            want = expected[key]
            entry[key] = {"expected": round(want, digits), **spread(values, digits),
                          "error_percent": spread([100 * (v - want) / want if want else 0.0
                                                   for v in values], 1),
                          "median_within_10_percent": abs(statistics.median(values) - want)
                          <= 0.1 * want,
                          "rounds_within_10_percent": sum(abs(v - want) <= 0.1 * want
                                                          for v in values)}
        # Loss over every round's frames, and the 3σ a binomial count of that many frames
        # allows (widened for bursty loss): ±10 % of a 0.2 % loss needs ~10⁶ frames.
        loss, p = entry["loss"], expected["loss"]
        frames = sum(run["expected"] for run in done)
        pooled = sum(run["missing"] for run in done) / max(frames, 1)
        sigma3 = 3 * math.sqrt(p * (1 - p) / max(frames, 1)) * math.sqrt(
            2 * profile.loss_burst - 1)
        loss.update({"pooled": round(pooled, 4), "pooled_frames": frames,
                     "pooled_error_percent": round(100 * (pooled - p) / p, 1) if p else 0.0,
                     "pooled_three_sigma": round(sigma3, 4),
                     "pooled_within_3_sigma": abs(pooled - p) <= sigma3})
        entry["late_frames"] = spread([run["late"] for run in done], 0)
        entry["buffer_ms"] = spread([run["buffer_ms"] for run in done], 1)
        entry["r"] = spread([run["r"] for run in done], 1)
        entry["mos"] = spread([run["mos"] for run in done], 2)
        if all("stoi" in run for run in done):
            entry["stoi"] = spread([run["stoi"] for run in done], 3)
            entry["stoi_one_offset"] = spread([run["stoi_one_offset"] for run in done], 3)
        out[name] = entry
    return out


def codec_only_stoi(folder: Path, seconds: float) -> dict[str, float]:
    """The codec's own STOI: a call on "full" (no loss, no delay, no jitter)."""
    if STOI_MISSING is not None:
        return {"skipped": STOI_MISSING}  # type: ignore[dict-item]
    codec = load_codecs()[DEFAULT_CODEC]
    done = run_fast(profile_call(load_profiles()["full"], folder, seconds, seed=1))
    result = stoi_of(done["recording"], reference_clip(codec.sample_rate))
    return {key: round(value, 3) for key, value in result.items()}


# ---- 4. Loss against the link profile ----------------------------------------------------------


def loss_frames_needed(p: float, burst: float) -> int:
    """Frames at which LOSS_SIGMAS binomial σ of a loss ``p`` (widened by √(2·burst − 1) for
    bursty loss) come to LOSS_TARGET of it."""
    return math.ceil((LOSS_SIGMAS / LOSS_TARGET) ** 2 * (2 * burst - 1) * (1 - p) / p)


def watch_audio_frames(bus: Bus) -> dict[tuple[str, str], list[int]]:
    """Count, per (line, direction), the audio frames the bus put on a link, how many of them
    the link's Gilbert–Elliott chain dropped and how many its queue did (reports and signalling
    left out): the link's own truth."""
    counts: dict[tuple[str, str], list[int]] = {}
    carry = bus._carry

    def counted(modem: Any, frame: bytes, direction: str) -> None:
        try:
            packet = decode_voice(frame)[1] if is_voice(frame) else b""
        except FrameError:
            packet = b""  # garbled on the way: not counted
        if len(packet) < 2 or packet[1] != PT_AUDIO:
            carry(modem, frame, direction)
            return
        link, decided = modem.link, []
        decide = link.decide

        def recorded(*args: Any) -> Any:
            decided.append(decide(*args))
            return decided[-1]

        link.decide = recorded
        try:
            carry(modem, frame, direction)
        finally:
            del link.decide  # the class's method again
        count = counts.setdefault((modem.number, direction), [0, 0, 0])
        count[0] += 1
        count[1] += decided[0].dropped == "loss"
        count[2] += decided[0].dropped == "queue"

    bus._carry = counted  # type: ignore[method-assign]
    return counts


async def loss_call(profile: LinkProfile, folder: Path, seconds: float,
                    seed: int) -> dict[str, Any]:
    """One call of ``seconds`` on ``profile``, audio off: what each side's received figures
    count of the other's frames (expected, missing, late, refused), and the link's own drops
    of the audio frames each way."""
    bus = Bus(random.Random(seed))
    links = watch_audio_frames(bus)
    pair = Pair.attach(bus, folder, profile, LoopClock())
    pair.audio = False
    await pair.connect()
    await asyncio.sleep(seconds)
    # The figures the call stats are made of (loss = (expected − received) / expected), read
    # at one moment for both sides and the link.
    heard = {}
    if not pair.connected():
        raise SystemExit(f"a {profile.name} call of {seconds:.0f} s ended before its time")
    for bot in (pair.a, pair.b):
        media = pair.media(bot)
        jitter = media.jitter.stats
        heard[bot.seed.number] = {"expected": jitter.expected,
                                  "missing": max(jitter.expected - jitter.received, 0),
                                  "late": jitter.late, "rejected": media.rejected,
                                  "sealed": media.sent}
    link = {key: list(value) for key, value in links.items()}
    await pair.hang_up()
    pair.close()
    out: dict[str, Any] = {"expected": 0, "missing": 0, "late": 0, "rejected": 0,
                           "link_sent": 0, "link_lost": 0, "queue_dropped": 0, "unsent": 0}
    for speaker, listener in ((pair.a, pair.b), (pair.b, pair.a)):
        for key in ("expected", "missing", "late", "rejected"):
            out[key] += heard[listener.seed.number][key]
        up = link.get((speaker.seed.number, "up"), [0, 0, 0])
        # Frames the speaker sealed and counted as sent that never reached its link.
        out["unsent"] += heard[speaker.seed.number]["sealed"] - up[0]
        down = link.get((listener.seed.number, "down"), [0, 0, 0])
        out["link_sent"] += up[0]
        out["link_lost"] += up[1] + down[1]  # dropped on the way up, or on the way down
        out["queue_dropped"] += up[2] + down[2]
    return out


def loss_rounds(folder: Path, names: list[str], rounds: int,
                max_seconds: float) -> dict[str, Any]:
    """Each profile's calls (``rounds`` of them, or more where a call would outlast
    LOSS_CALL_S; seeds differ, order rotated), as long as the ±10 % verdict needs, up to
    ``max_seconds`` in all: pooled loss against the two-hop figure."""
    profiles = load_profiles()
    chosen = [name for name in names
              if profiles[name].in_service and profiles[name].loss > 0]
    plan: dict[str, dict[str, Any]] = {}
    for name in chosen:
        profile = profiles[name]
        p = 1 - (1 - profile.loss) ** 2
        needed = loss_frames_needed(p, profile.loss_burst)
        # Both sides hear 50 frames a second: 100 frames a second of call (2 % more for the
        # start of each call, before both sides hear).
        seconds = min(1.02 * needed / 100, max_seconds)
        # More calls than rounds where one would outlast the bots (they hang up at BOT_CALL_S).
        calls = max(rounds, math.ceil(seconds / LOSS_CALL_S))
        plan[name] = {"p": p, "needed": needed, "calls_planned": calls,
                      "per_call": max(seconds / calls, 1.0), "calls": [], "real": 0.0}
    for index in range(max((entry["calls_planned"] for entry in plan.values()), default=0)):
        for name in rotated(chosen, index) if chosen else []:
            entry = plan[name]
            if len(entry["calls"]) == entry["calls_planned"]:
                continue
            started = time.perf_counter()
            seed = zlib.crc32(name.encode()) + index
            done = run_fast(loss_call(profiles[name], folder / f"{name}-{index}",
                                      entry["per_call"], seed))
            entry["real"] += time.perf_counter() - started
            entry["calls"].append(done)
    out: dict[str, Any] = {}
    for name in chosen:
        profile, entry = profiles[name], plan[name]
        p, calls = entry["p"], entry["calls"]
        frames = sum(call["expected"] for call in calls)
        missing = sum(call["missing"] for call in calls)
        pooled = missing / max(frames, 1)
        widen = math.sqrt(2 * profile.loss_burst - 1)
        sigma3 = LOSS_SIGMAS * math.sqrt(p * (1 - p) / max(frames, 1)) * widen
        link_sent = sum(call["link_sent"] for call in calls)
        link = sum(call["link_lost"] + call["queue_dropped"] for call in calls) \
            / max(link_sent, 1)
        per_call = [call["missing"] / max(call["expected"], 1) for call in calls]
        out[name] = {
            "profile": {"loss": profile.loss, "loss_burst": round(profile.loss_burst, 4),
                        "latency_ms": profile.latency_ms, "jitter_ms": profile.jitter_ms},
            "expected": round(p, 5),
            "pooled": round(pooled, 5),
            "error_percent": round(100 * (pooled - p) / p, 1),
            "frames": frames, "missing": missing,
            "frames_needed": entry["needed"],
            "calls": len(calls), "seconds_per_call": round(entry["per_call"], 1),
            "three_sigma": round(sigma3, 5),
            "three_sigma_percent": round(100 * sigma3 / p, 1),
            "resolvable_within_cap": sigma3 <= LOSS_TARGET * p + 1e-12,
            "within_10_percent": abs(pooled - p) <= LOSS_TARGET * p,
            "within_3_sigma": abs(pooled - p) <= sigma3,
            "per_call": spread(per_call, 5),
            "per_call_error_percent": spread([100 * (v - p) / p for v in per_call], 1),
            # The link's own drops of the same audio frames: what chance gave this run.
            "link_loss": round(link, 5), "link_frames": link_sent,
            "measured_minus_link": round(pooled - link, 5),
            "link_queue_drops": sum(call["queue_dropped"] for call in calls),
            "late_frames": sum(call["late"] for call in calls),
            "rejected_packets": sum(call["rejected"] for call in calls),
            "sealed_not_on_link": sum(call["unsent"] for call in calls),
            "real_seconds": round(entry["real"], 1),
        }
    return out


# ---- 5. Capacity ---------------------------------------------------------------------------------


async def capacity_at(folder: Path, calls: int, seconds: float) -> dict[str, Any]:
    bus = Bus(random.Random(calls))
    profile = load_profiles()["full"]
    lags: list[float] = []
    pairs = [Pair.attach(bus, folder, profile, SystemClock(), index) for index in range(calls)]
    for pair in pairs:
        pair.lags = lags
    for pair in pairs:
        pair.dial()
    await until(lambda: all(pair.connected() for pair in pairs))
    await asyncio.sleep(SETTLE_S)
    listeners = [media for pair in pairs for media in (pair.media(pair.a), pair.media(pair.b))]
    before = [media.jitter.stats for media in listeners]
    lags.clear()
    gc.collect()
    wall, cpu, wait = time.monotonic(), time.process_time(), run_queue_wait()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - wall
    cpu_percent = 100 * (time.process_time() - cpu) / elapsed
    wait_percent = 100 * (run_queue_wait() - wait) / elapsed
    after = [media.jitter.stats for media in listeners]
    window = list(lags)
    for pair in pairs:
        if pair.a.calls.current is not None:
            pair.a.calls.hangup()
    await until(lambda: all(bot.calls.current is None for pair in pairs
                            for bot in (pair.a, pair.b)))
    for pair in pairs:
        pair.close()
    played = sum(b.played + b.stretched - a.played - a.stretched
                 for a, b in zip(before, after, strict=True))
    concealed = sum(b.lost + b.stretched - a.lost - a.stretched
                    for a, b in zip(before, after, strict=True))
    received = sum(b.received - a.received for a, b in zip(before, after, strict=True))
    late = sum(b.late - a.late for a, b in zip(before, after, strict=True))
    window.sort()

    def quantile(q: float) -> float:
        return 1000 * window[min(len(window) - 1, int(q * len(window)))] if window else 0.0

    return {"calls": calls, "slots_played": played,
            "concealed_share": round(concealed / played, 5) if played else None,
            "late_share": round(late / received, 5) if received else None,
            "tick_lag_ms": {"p50": round(quantile(0.50), 2), "p99": round(quantile(0.99), 2),
                            "max": round(1000 * window[-1], 2) if window else 0.0},
            "cpu_percent_of_one_core": round(cpu_percent, 1),
            "cpu_percent_per_call": round(cpu_percent / calls, 2),
            "run_queue_wait_percent": round(wait_percent, 2),
            "load_average_1min": round(os.getloadavg()[0], 2)}


def within(run: dict[str, Any]) -> bool:
    return ((run["concealed_share"] or 0.0) <= LATE_LIMIT
            and run["tick_lag_ms"]["p99"] <= LAG_LIMIT_MS)


def contended(run: dict[str, Any]) -> bool:
    return (run["run_queue_wait_percent"] > CONTENDED_PERCENT
            and run["cpu_percent_of_one_core"] < SATURATED_PERCENT)


def capacity(folder: Path, seconds: float, max_calls: int, rounds: int) -> dict[str, Any]:
    """N = 1, 2, 4, … calls, each N measured ``rounds`` times; an N is sustained when its best
    round keeps within the limits (the machine's other load only ever adds lag, so the best
    round is the nearest to what the stage itself costs). A round that failed while the loop
    waited for a core more than CONTENDED_PERCENT of the time (others' load) and used less than
    SATURATED_PERCENT of one core decides nothing: another is run, up to ``rounds`` more. The
    median and min–max over the rounds are printed beside it."""
    steps, calls, sustained, stopped_by = [], 1, 0, "max_calls"
    while calls <= max_calls:
        done: list[dict[str, Any]] = []
        while len(done) < 2 * rounds:
            run = asyncio.run(capacity_at(folder / f"n{calls}-{len(done)}", calls, seconds))
            done.append(run)
            if len(done) >= rounds and (any(within(r) for r in done)
                                        or any(not within(r) and not contended(r)
                                               for r in done)):
                break
        shares = [run["concealed_share"] or 0.0 for run in done]
        lates = [run["late_share"] or 0.0 for run in done]
        p99s = [run["tick_lag_ms"]["p99"] for run in done]
        ok = [share <= LATE_LIMIT and p99 <= LAG_LIMIT_MS
              for share, p99 in zip(shares, p99s, strict=True)]
        steps.append({
            "calls": calls, "rounds": len(done),
            "slots_played": sum(run["slots_played"] for run in done),
            "concealed_share": spread(shares, 5), "late_share": spread(lates, 5),
            "tick_lag_p50_ms": spread([run["tick_lag_ms"]["p50"] for run in done], 2),
            "tick_lag_p99_ms": spread(p99s, 2),
            "tick_lag_max_ms": spread([run["tick_lag_ms"]["max"] for run in done], 2),
            "cpu_percent_of_one_core": spread([run["cpu_percent_of_one_core"] for run in done]),
            "cpu_percent_per_call": spread([run["cpu_percent_per_call"] for run in done], 2),
            "run_queue_wait_percent": spread([run["run_queue_wait_percent"] for run in done],
                                             2),
            "load_average_1min": spread([run["load_average_1min"] for run in done], 2),
            "rounds_within_limits": sum(ok),
            "rounds_contended": sum(contended(run) and not within(run) for run in done)})
        if not any(ok):
            # Every failed round under others' load: the limit is the machine's, not found.
            stopped_by = "load" if all(contended(run) for run in done) else "limits"
            break
        sustained = calls
        calls *= 2
    # One event loop carries every call: one core is the ceiling, whatever else runs. The
    # CPU per call at the most calls sustained (shared costs spread thinnest).
    widest = next((step for step in reversed(steps) if step["calls"] == sustained), steps[0])
    per_call = widest["cpu_percent_per_call"]["median"]
    return {"profile": "full", "clock": "real", "seconds_per_step": seconds,
            "limits": {"concealed_share": LATE_LIMIT, "tick_lag_p99_ms": LAG_LIMIT_MS,
                       "contended_run_queue_wait_percent": CONTENDED_PERCENT},
            "sustained_calls": sustained, "stopped_by": stopped_by,
            "calls_one_idle_core_would_carry": int(100 // per_call) if per_call else None,
            "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="CPU rounds (interleaved)")
    parser.add_argument("--seconds", type=float, default=4.0,
                        help="wall seconds measured per CPU round and per capacity step")
    parser.add_argument("--profiles", default=",".join(PROFILES))
    parser.add_argument("--call-seconds", type=float, default=40.0,
                        help="virtual seconds of each profile call")
    parser.add_argument("--profile-rounds", type=int, default=3)
    parser.add_argument("--max-calls", type=int, default=32)
    parser.add_argument("--capacity-rounds", type=int, default=2,
                        help="measurements of each N simultaneous calls")
    parser.add_argument("--loss-rounds", type=int, default=3,
                        help="calls per profile in the loss part (seeds differ)")
    parser.add_argument("--loss-max-seconds", type=float, default=1200.0,
                        help="virtual call seconds per profile at most in the loss part")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help="which parts to run (cpu, profiles, loss, capacity)")
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run")
    args = parser.parse_args()
    names = [name.strip() for name in args.profiles.split(",") if name.strip()]
    if args.quick:
        args.rounds, args.seconds, args.call_seconds = 2, 1.0, 8.0
        args.profile_rounds, args.max_calls = 1, min(args.max_calls, 2)
        args.capacity_rounds = 1
        args.loss_rounds, args.loss_max_seconds = 2, min(args.loss_max_seconds, 20.0)
        if args.profiles == ",".join(PROFILES):
            names = ["lte", "gprs"]
    unknown = [name for name in names if name not in load_profiles()]
    if unknown:
        parser.error(f"unknown profiles: {', '.join(unknown)}")
    parts = {part.strip() for part in args.parts.split(",") if part.strip()}
    if parts - set(PARTS):
        parser.error(f"unknown parts: {', '.join(sorted(parts - set(PARTS)))}")
    report: dict[str, Any] = {
        "benchmark": "calls between two bots (stores, messengers, Bus, media, real audio)",
        "codec": DEFAULT_CODEC}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if "cpu" in parts:
            cpu, waits = asyncio.run(cpu_rounds(root / "cpu", args.rounds, args.seconds))
            report["cpu"] = cpu_report(cpu, waits, args)
        if "profiles" in parts:
            report["profiles"] = {
                "clock": "looptime (virtual)", "call_seconds": args.call_seconds,
                "rounds": args.profile_rounds, "listener": "callee",
                **profile_rounds(root / "profiles", names, args.call_seconds,
                                 args.profile_rounds)}
            report["codec_only_stoi"] = codec_only_stoi(root / "full", args.call_seconds)
        if "loss" in parts:
            report["loss"] = {
                "clock": "looptime (virtual)", "audio": False, "listeners": "both",
                "rounds": args.loss_rounds, "max_seconds": args.loss_max_seconds,
                "target_percent": 100 * LOSS_TARGET, "sigmas": LOSS_SIGMAS,
                **loss_rounds(root / "loss", names, args.loss_rounds, args.loss_max_seconds)}
        if "capacity" in parts:
            report["capacity"] = capacity(root / "capacity", args.seconds, args.max_calls,
                                          args.capacity_rounds)
    report["cpu_count"] = os.cpu_count()
    print(json.dumps(report, indent=2))


def cpu_report(cpu: dict[str, list[float]], waits: dict[str, list[float]],
               args: argparse.Namespace) -> dict[str, Any]:
    def minus(a: str, b: str) -> dict[str, float]:
        return spread([x - y for x, y in zip(cpu[a], cpu[b], strict=True)], 2)

    return {
        "profile": CPU_PROFILE, "rounds": args.rounds, "seconds": args.seconds,
        "clock": "real",
        "percent_of_one_core": {state: spread(values, 2) for state, values in cpu.items()},
        "call_audio_minus_idle": minus("call_audio", "idle"),
        "call_no_audio_minus_idle": minus("call_no_audio", "idle"),
        "audio_share": minus("call_audio", "call_no_audio"),
        "target_percent": 5.0,
        "run_queue_wait_percent": {state: spread(values, 2) for state, values in waits.items()},
        "load_average_1min_after": round(os.getloadavg()[0], 2),
    }


if __name__ == "__main__":
    main()

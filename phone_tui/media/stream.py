"""A call's media session: 20 ms frames out at 50 a second, sealed; packets in through the
jitter buffer to the audio; call statistics with the E-model once a second.

The asyncio shell over the sans-IO cores (srtp, jitter, emodel). Ticks run on the loop's clock
from one start time (t0 + n × 20 ms), so they never drift. One-way delay is measured without
shared clocks as RTCP does (RFC 3550, 6.4.1): each side sends a report once a second, sealed in
the same stream under a second SSRC (the send SSRC with its top bit flipped, its own index
space) and payload type 200; a report echoes the last one received (LSR) and how long ago it
came (DLSR), so its receiver gets the round trip as now − LSR − DLSR, and one way as half of it.
Mouth-to-ear for the E-model = that one-way delay + the time frames wait in the jitter buffer +
one frame + the codec's look-ahead. Figures are over the call so far: the one-way delay is the
mean of the round trips measured, the jitter the mean of the once-a-second A.8 estimates (one
estimate alone swings by ±15 %), loss and late counts since the call connected.
"""

from __future__ import annotations

import asyncio
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from phone_tui.media.codecs import CodecProfile
from phone_tui.media.emodel import bars, mos, r_factor
from phone_tui.media.jitter import WAIT, JitterBuffer
from phone_tui.media.plain import PlainOpener, PlainSealer
from phone_tui.media.srtp import (
    PT_AUDIO,
    PT_CAPTION,
    PT_REPORT,
    FrameOpener,
    FrameSealer,
    MediaFrameError,
)

REPORT_SSRC_BIT = 0x80000000
REPORT_EVERY = 50  # ticks: one report and one stats update a second
_REPORT = struct.Struct(">BQQIIIII")  # flags, sent, lsr, dlsr (µs), received, expected, lost, J
_HELD = 0x01
_US = 1_000_000
_MASK64 = (1 << 64) - 1
MAX_RTT = 30.0  # s: a round trip beyond this is a stale or mangled report, not a measurement
LIVE_SECONDS = 10  # the live delay and jitter: the mean of the last this many seconds
# A hold's frames still on the way when its report came arrive within this; authentic new
# audio after it means the peer sends again: the hold is over (the report saying so, or the
# marker frame, may have been lost, or held back by the carrier).
HOLD_SETTLE_S = 2.0
RESUME_FRAMES = 3
MAX_CAPTION = 80  # bytes of words said at once (two SAS words are about 20)
CAPTION_REPEATS = 3  # said with this many reports in a row: one lost frame loses no words


def _caption(data: bytes) -> str:
    """Words the peer said: short, printable UTF-8 (they reach the screen), else refused."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise MediaFrameError("words that are not UTF-8") from None
    if not data or len(data) > MAX_CAPTION or not text.isprintable():
        raise MediaFrameError("words that are not short, printable text")
    return text


class Audio(Protocol):
    """Where frames come from and go to (media/audio.py with real audio; NullAudio here)."""

    def next_payload(self, *, muted: bool) -> bytes: ...

    def play(self, payload: bytes | None) -> float | None: ...

    def close(self) -> None: ...


class NullAudio:
    """No audio: zero-filled codec frames out, nothing heard (level None). Deterministic."""

    def __init__(self, codec: CodecProfile) -> None:
        self._frame = bytes(codec.frame_bytes)

    def next_payload(self, *, muted: bool) -> bytes:  # noqa: ARG002 - silence either way
        return self._frame

    def play(self, payload: bytes | None) -> float | None:  # noqa: ARG002
        return None

    def close(self) -> None:
        return None


@dataclass(frozen=True)
class MediaKeys:
    """One side's keys: what it seals with, what it opens with."""

    send_key: bytes
    send_salt: bytes
    send_ssrc: int
    recv_key: bytes
    recv_salt: bytes
    recv_ssrc: int

    @property
    def plain(self) -> bool:
        """No keys: a plain carrier call's media (plain.py), not end-to-end sealed."""
        return not self.send_key


@dataclass(frozen=True)
class CallStats:
    one_way_ms: float  # network, RTT/2 from the reports (0 until the first round trip)
    jitter_ms: float  # RFC 3550 interarrival jitter of what this side receives
    loss: float  # 0..1: frames the peer sent that never came (late ones not included)
    late: int
    lost: int  # slots played without their frame (lost or late): concealed
    received: int
    sent: int
    buffer_ms: float
    codec: str
    r: float
    mos: float
    bars: int
    level_db: float | None
    remote_held: bool
    call_one_way_ms: float = 0.0  # one_way_ms and jitter_ms are over the last 10 s; these,
    call_jitter_ms: float = 0.0  # over the whole call


class MediaSession:
    """Both directions of one call's media."""

    def __init__(self, *, keys: MediaKeys, codec: CodecProfile, send: Callable[[bytes], None],
                 audio: Audio, now: Callable[[], float],
                 on_stats: Callable[[CallStats], None] | None = None) -> None:
        self.codec = codec
        self._send = send
        self._audio = audio
        self._now = now
        self.on_stats = on_stats
        self.plain = keys.plain
        self._sealer: FrameSealer | PlainSealer
        self._report_sealer: FrameSealer | PlainSealer
        if keys.plain:  # a carrier call: the same frames, unsealed (plain.py)
            self._sealer = PlainSealer(keys.send_ssrc)
            self._opener: FrameOpener = PlainOpener(keys.recv_ssrc)
            self._report_sealer = PlainSealer(keys.send_ssrc ^ REPORT_SSRC_BIT)
            self._report_opener: FrameOpener = PlainOpener(keys.recv_ssrc ^ REPORT_SSRC_BIT)
        else:
            self._sealer = FrameSealer(keys.send_key, keys.send_salt, keys.send_ssrc)
            self._opener = FrameOpener(keys.recv_key, keys.recv_salt, keys.recv_ssrc)
            self._report_sealer = FrameSealer(keys.send_key, keys.send_salt,
                                              keys.send_ssrc ^ REPORT_SSRC_BIT)
            self._report_opener = FrameOpener(keys.recv_key, keys.recv_salt,
                                              keys.recv_ssrc ^ REPORT_SSRC_BIT)
        self.jitter = JitterBuffer(codec.frame_ms, codec.sample_rate)
        self._frame_s = codec.frame_ms / 1000
        self._samples = codec.frame_samples
        self._timer: asyncio.TimerHandle | None = None
        self._t0 = 0.0
        self._tick_n = 0
        self._seq = 0
        self._report_seq = 0
        self._marker = True  # the next frame starts a talk spurt
        self.muted = False
        self._held = False
        self.remote_held = False
        self._held_at = 0.0  # when the peer's hold began (our clock)
        self._resume_frames = 0  # new audio from the peer since its hold settled
        self._report_highest = -1  # the newest report's seq: an older one says nothing new
        self._audio_highest = -1
        self.sent = 0
        self.rejected = 0  # packets refused (forged, replayed, malformed): counted, never raised
        self.last_heard: float | None = None  # when an authentic packet last came
        self._peer_sr: int | None = None  # the peer's last report: its send time (µs) …
        self._peer_sr_at = 0.0  # … and when it came (our clock)
        self._one_way_sum = 0.0  # s, over the round trips measured
        self._one_way_n = 0
        self._jitter_sum = 0.0  # ms, over the once-a-second estimates
        self._jitter_n = 0
        # The same over the last LIVE_SECONDS: the figures shown live (the call's whole mean
        # would follow a change of link for minutes).
        self._one_way_recent: deque[float] = deque(maxlen=LIVE_SECONDS)
        self._jitter_recent: deque[float] = deque(maxlen=LIVE_SECONDS)
        self.peer_loss = 0.0  # what the peer reports of our stream
        self._level: float | None = None
        self._stats: CallStats | None = None
        self.heard: str | None = None  # the last words the peer said (PT_CAPTION)
        self._saying: tuple[bytes, int] | None = None  # words to say, reports left

    @property
    def speaker(self) -> bool:
        """On the loudspeaker: the audio sends the far end's voice back as an echo."""
        return bool(getattr(self._audio, "speaker", False))

    @speaker.setter
    def speaker(self, on: bool) -> None:
        if hasattr(self._audio, "speaker"):
            self._audio.speaker = on  # type: ignore[attr-defined]

    @property
    def level(self) -> float | None:
        """The level of the last 20 ms heard, in dBFS (None without audio): for a live meter."""
        return self._level

    # ---- controls -----------------------------------------------------------------------------

    @property
    def hold(self) -> bool:
        return self._held

    @hold.setter
    def hold(self, on: bool) -> None:
        """On hold: no media either way; the peer learns it from a report sent at once."""
        if on == self._held:
            return
        self._held = on
        if not on:
            self._marker = True
        self._pause_playout()
        if self._timer is not None:
            self._report()

    @property
    def running(self) -> bool:
        return self._timer is not None

    def start(self) -> None:
        """Start the 20 ms ticks on the running loop."""
        if self._timer is not None:
            return
        loop = asyncio.get_running_loop()
        self._t0 = loop.time()
        self._tick_n = 0
        self._timer = loop.call_at(self._t0, self._tick)

    def stop(self) -> None:
        """Stop sending and playing; closes the audio. Leaves no timer behind."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._audio.close()

    # ---- the clock ----------------------------------------------------------------------------

    def _tick(self) -> None:
        n = self._tick_n
        now = self._now()
        if not self._held and not self.remote_held:
            # Media flows only while neither side holds (SDP's "inactive" both ways): frames
            # sent into a hold would wait in the holder's buffer and come out late on resume.
            payload = self._audio.next_payload(muted=self.muted)
            self._send(self._sealer.seal(self._seq, n * self._samples, payload,
                                         marker=self._marker))
            self._marker = False
            self._seq += 1
            self.sent += 1
            out = self.jitter.pop(now)
            if out is not WAIT:
                self._level = self._audio.play(out)
        else:
            self._level = None  # on hold (either side): nothing is heard
        if n % REPORT_EVERY == REPORT_EVERY - 1:
            self._report()
            if self.jitter.received > 1:
                self._jitter_sum += self.jitter.stats.jitter_ms
                self._jitter_n += 1
                self._jitter_recent.append(self.jitter.stats.jitter_ms)
            self._stats = self._compute()
            if self.on_stats is not None:
                self.on_stats(self._stats)
        self._tick_n = n + 1
        self._timer = asyncio.get_running_loop().call_at(self._t0 + (n + 1) * self._frame_s,
                                                         self._tick)

    # ---- packets in ---------------------------------------------------------------------------

    def receive(self, packet: bytes) -> None:
        """A packet from the peer (modem.on_voice). Anything refused is counted and dropped."""
        try:
            if len(packet) > 1 and packet[1] in (PT_REPORT, PT_CAPTION):
                frame = self._report_opener.open(packet)
                if frame.payload_type == PT_CAPTION:
                    self.heard = _caption(frame.payload)
                else:
                    self._take_report(frame.payload, frame.seq)
            else:
                frame = self._opener.open(packet)
                if frame.payload_type != PT_AUDIO:
                    raise MediaFrameError("unknown payload type")
                now = self._now()
                newer = frame.seq > self._audio_highest
                self._audio_highest = max(self._audio_highest, frame.seq)
                if self.remote_held and newer and (
                        frame.marker or self._resuming(now)):
                    self._set_remote_held(False)  # media again: the hold ended
                self.jitter.push(frame, now)
        except MediaFrameError:
            self.rejected += 1
            return
        self.last_heard = self._now()

    def _resuming(self, now: float) -> bool:
        """One more new frame from a peer on hold: enough of them, once the frames in
        flight at the hold have come, end it."""
        if now - self._held_at < HOLD_SETTLE_S:
            return False
        self._resume_frames += 1
        return self._resume_frames >= RESUME_FRAMES

    def _set_remote_held(self, held: bool) -> None:
        self.remote_held = held
        self._resume_frames = 0
        if held:
            self._held_at = self._now()
        else:
            self._marker = True  # our media resumes too: a new talk spurt for the peer
        self._pause_playout()

    def _pause_playout(self) -> None:
        if self._held or self.remote_held:
            self.jitter.pause()
        else:
            self.jitter.resume()

    def _take_report(self, body: bytes, seq: int) -> None:
        if len(body) != _REPORT.size:
            raise MediaFrameError("malformed report")
        flags, sent, lsr, dlsr, _received, expected, lost, _jitter = _REPORT.unpack(body)
        now = self._now()
        held = bool(flags & _HELD)
        newest = seq > self._report_highest
        self._report_highest = max(self._report_highest, seq)
        if newest and held != self.remote_held:
            # Only the newest report says whether the peer holds: one held back by the
            # carrier and let through after the resume would put the call on hold again.
            self._set_remote_held(held)
        self._peer_sr, self._peer_sr_at = sent, now
        if expected:
            self.peer_loss = min(lost / expected, 1.0)
        if lsr:
            rtt = ((int(now * _US) - lsr - dlsr) & _MASK64) / _US
            if rtt < MAX_RTT:
                self._one_way_sum += rtt / 2
                self._one_way_n += 1
                self._one_way_recent.append(rtt / 2)

    def _report(self) -> None:
        now = self._now()
        stats = self.jitter.stats
        lsr = dlsr = 0
        if self._peer_sr is not None:
            lsr = self._peer_sr
            dlsr = int((now - self._peer_sr_at) * _US)
        missing = max(stats.expected - stats.received, 0)
        body = _REPORT.pack(_HELD if self._held else 0, int(now * _US) & _MASK64 or 1, lsr,
                            min(dlsr, 0xFFFFFFFF), min(stats.received, 0xFFFFFFFF),
                            min(stats.expected, 0xFFFFFFFF), min(missing, 0xFFFFFFFF),
                            min(int(stats.jitter_ms * 1000), 0xFFFFFFFF))
        self._send(self._report_sealer.seal(self._report_seq, 0, body,
                                            payload_type=PT_REPORT))
        self._report_seq += 1
        if self._saying is not None and not self._held:
            words, left = self._saying
            self._send(self._report_sealer.seal(self._report_seq, 0, words,
                                                payload_type=PT_CAPTION))
            self._report_seq += 1
            self._saying = (words, left - 1) if left > 1 else None

    def say(self, words: str) -> None:
        """Say ``words`` to the peer (with the next reports, sealed like the voice)."""
        data = words.encode()
        if len(data) > MAX_CAPTION or not words.isprintable():
            raise ValueError("words to say must be short, printable text")
        self._saying = (data, CAPTION_REPEATS)

    # ---- statistics ---------------------------------------------------------------------------

    def stats(self) -> CallStats:
        """The figures now (the last once-a-second update, or fresh before the first)."""
        return self._stats or self._compute()

    def _compute(self) -> CallStats:
        stats = self.jitter.stats
        call_one_way_ms = 1000 * self._one_way_sum / self._one_way_n if self._one_way_n \
            else 0.0
        call_jitter_ms = self._jitter_sum / self._jitter_n if self._jitter_n \
            else stats.jitter_ms
        recent_ow, recent_j = self._one_way_recent, self._jitter_recent
        one_way_ms = 1000 * sum(recent_ow) / len(recent_ow) if recent_ow else call_one_way_ms
        jitter_ms = sum(recent_j) / len(recent_j) if recent_j else call_jitter_ms
        loss = (stats.expected - stats.received) / stats.expected if stats.expected else 0.0
        heard = stats.played or 1
        mouth_to_ear = (one_way_ms + stats.buffer_ms + self.codec.frame_ms
                        + self.codec.lookahead_ms)
        r = r_factor(mouth_to_ear, min(stats.lost / heard, 1.0), self.codec.ie, self.codec.bpl)
        score = mos(r)
        return CallStats(
            one_way_ms=one_way_ms, jitter_ms=jitter_ms, loss=max(loss, 0.0),
            late=stats.late, lost=stats.lost, received=stats.received, sent=self.sent,
            buffer_ms=stats.buffer_ms, codec=self.codec.name, r=r, mos=score, bars=bars(score),
            level_db=self._level, remote_held=self.remote_held,
            call_one_way_ms=call_one_way_ms, call_jitter_ms=call_jitter_ms)

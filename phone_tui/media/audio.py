"""Real audio for calls: a looped speech clip encoded into 20 ms frames and decoded on arrival.

PyAV (``av``, manylinux wheels bundling libopus and OpenCORE AMR) is imported only in
``open_audio``, when a call's media starts, never when this module is imported.

Codecs, by the profile's name (``media/codecs.py``):

- ``opus-*``: libopus, voip mode, hard CBR at ``codec.bitrate``, ``codec.frame_ms`` frames
  (20 ms), input at ``codec.sample_rate`` (16 kHz: wideband). CBR keeps every frame the same
  size, speech or silence, so frame lengths tell the carrier nothing about what is said
  (RFC 6562).
- ``amr-nb-*``: real AMR-NB (OpenCORE) at ``codec.bitrate`` (12.2 kbit/s: mode MR122, 8 kHz,
  octet-aligned frames of a ToC byte and 31 bytes).
- ``amr-wb-*``: PyAV's wheel has an AMR-WB decoder but no encoder, so AMR-WB 12.65 is coded
  with Opus at 12.65 kbit/s wideband (16 kHz) instead: the same bitrate and bandwidth, not the
  same codec.

Mute and a missing voice send encoded silence, frame by frame at the same rate and the same size
(no DTX: a pause would show in the frame rate). The clip keeps playing while muted, as a person
keeps talking while the microphone is off.

Lost frames (``play(None)``, or a payload that does not decode) are concealed by the codec's own
packet-loss concealment: libopus's PLC, reached through PyAV by decoding a packet of the ToC
byte only (libopus treats a frame of 0 or 1 bytes as lost or DTX and conceals it from the
decoder's history: the last pitch period, fading out), and AMR's error concealment, reached by a
NO_DATA frame (frame type 15). Both fade to silence within about 100 ms of a gap.
"""

from __future__ import annotations

import array
import math
import os
import wave
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phone_tui.core.resources import seeds_dir
from phone_tui.errors import PhoneTuiError

if TYPE_CHECKING:
    from phone_tui.media.codecs import CodecProfile
    from phone_tui.media.stream import Audio

# Encoded clips kept (per clip, codec, rate, bitrate and frame length): about 12 KiB each.
MAX_ENCODED = 8
SILENCE_WARMUP = 10  # frames of silence encoded before those sent while muted…
SILENT_FRAMES = 50  # …which are these many, in a loop
_ENCODED: dict[tuple[str, str, int, int, int],
               tuple[tuple[bytes, ...], tuple[bytes, ...]]] = {}

# The quietest level reported: the dynamic range of 16-bit samples (and all-zero frames).
DBFS_FLOOR = -96.0
# A payload longer than this is not one of our frames (Opus 20 ms at 64 kbit/s is 160 bytes;
# AMR-NB's largest frame is 32): it is concealed, not decoded, so a hostile frame costs no more
# work than a real one.
MAX_PAYLOAD = 320
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
OPUS_FRAME_MS = (10, 20, 40, 60)
AMR_NB_RATES = (4750, 5150, 5900, 6700, 7400, 7950, 10200, 12200)
# AMR-NB octet-aligned frame sizes after the ToC byte, by frame type (RFC 4867 §5.3, 3GPP TS
# 26.101); frame type 15 is NO_DATA.
AMR_NB_BYTES = (12, 13, 15, 17, 19, 20, 26, 31, 5, 0, 0, 0, 0, 0, 0, 0)
AMR_NO_DATA = bytes([15 << 3 | 0x04])


class AudioError(PhoneTuiError):
    """The call's audio cannot start: a codec missing from PyAV, a bad profile, an unreadable
    clip or a recording that cannot be written."""


@dataclass(frozen=True)
class CallAudio:
    """Real audio on calls (media/audio.py): what this side says (``voice``, a clip that stands
    in for the microphone; None is silence) and the folder where what it hears is saved as WAV
    (``record``; None saves nothing). ``owner`` names this side in the file names."""

    voice: Path | None
    record: Path | None = None
    owner: str = ""


def clip_path() -> Path:
    """The shipped clip: the Duty Officer's line, Ogg Opus made with espeak-ng
    (``benchmarks/make_voice_clip.py``)."""
    return seeds_dir() / "voice" / "duty-officer.ogg"


# The echo a speakerphone sends back after its echo canceller: an assumed round figure (30 dB
# below what the loudspeaker plays), not a measured one.
ECHO_DB = -30.0
ECHO_GAIN = 10 ** (ECHO_DB / 20)


def _mix(pcm: bytes, echo: bytes, gain: float) -> bytes:
    """``pcm`` with ``echo`` added at ``gain`` (s16, clipped), sample by sample."""
    ours, theirs = array.array("h", pcm), array.array("h", echo)
    for index in range(min(len(ours), len(theirs))):
        ours[index] = max(-32768, min(32767, ours[index] + int(theirs[index] * gain)))
    return ours.tobytes()


def level_dbfs(pcm: bytes) -> float:
    """RMS level of mono s16 samples (machine byte order) in dBFS (a full-scale square wave is
    0 dBFS, a full-scale sine −3 dBFS); silence and empty input give ``DBFS_FLOOR``."""
    samples = _samples(pcm)
    if not samples:
        return DBFS_FLOOR
    energy = math.fsum(x * x for x in samples) / len(samples)
    if energy <= 0:
        return DBFS_FLOOR
    return max(DBFS_FLOOR, 10 * math.log10(energy / (32768.0 * 32768.0)))


def open_audio(codec: CodecProfile, *, voice: Path | None, record: Path | None) -> Audio:
    """Audio for one side of a call: ``voice`` is a clip to speak (looped; None: silence, as a
    person's microphone is in the emulator), ``record`` a WAV file (mono s16 at the codec's
    rate) of what this side heard, concealment included. Raises ``AudioError``."""
    try:
        import av  # a call's first frame pays for PyAV, start-up does not
    except ImportError as error:  # pragma: no cover - av is a runtime dependency
        raise AudioError("call audio needs PyAV (the av package): reinstall phone-tui") from error
    return CodecAudio(av, codec, voice=voice, record=record)


def switch_decoder(codec_name: str) -> Audio:
    """A decoder for the carrier's voice switch (modem/switch.py's ``decoder_factory``): what
    it hears of a plain carrier call, decoded frame by frame with ``play``. Raises AudioError
    for a codec this build does not ship."""
    from phone_tui.media.codecs import load_codecs

    profile = load_codecs().get(codec_name)
    if profile is None:
        raise AudioError(f"no codec {codec_name!r}")
    return open_audio(profile, voice=None, record=None)


class CodecAudio:
    """One side's encoder, decoder, clip and recording (``media.stream.Audio``)."""

    def __init__(self, av: Any, codec: CodecProfile, *, voice: Path | None,
                 record: Path | None) -> None:
        self._av = av
        self.codec = codec
        rate, frame_ms = codec.sample_rate, codec.frame_ms
        self._amr = codec.name.startswith("amr-nb")
        if self._amr:
            if rate != 8000 or frame_ms != 20 or codec.bitrate not in AMR_NB_RATES:
                raise AudioError(f"codec {codec.name}: AMR-NB is 8000 Hz, 20 ms frames and one "
                                 f"of {', '.join(map(str, AMR_NB_RATES))} bit/s")
            coder, options = "libopencore_amrnb", {}
        else:
            if rate not in OPUS_RATES or frame_ms not in OPUS_FRAME_MS:
                raise AudioError(f"codec {codec.name}: Opus takes {OPUS_RATES} Hz and "
                                 f"{OPUS_FRAME_MS} ms frames")
            if not 6000 <= codec.bitrate <= 510000:
                raise AudioError(f"codec {codec.name}: Opus takes 6000 to 510000 bit/s")
            coder = "libopus"
            options = {"application": "voip", "frame_duration": str(frame_ms), "vbr": "off"}
        self.rate = rate
        self.frame_samples = rate * frame_ms // 1000
        self._silence = bytes(2 * self.frame_samples)
        try:
            self._encoder = av.CodecContext.create(coder, "w")
            self._encoder.sample_rate = rate
            self._encoder.layout = "mono"
            self._encoder.format = "s16"
            self._encoder.bit_rate = codec.bitrate
            self._encoder.options = options
            self._encoder.open()
            self._decoder = av.CodecContext.create(coder, "r")
            self._decoder.sample_rate = rate
            self._decoder.layout = "mono"
            self._decoder.open()
        except (av.FFmpegError, ValueError) as error:
            raise AudioError(f"codec {codec.name}: PyAV cannot open {coder} ({error}); "
                             "reinstall PyAV from its manylinux wheel") from error
        self._clip = _clip_samples(av, Path(voice), rate) if voice is not None else b""
        frame_bytes = 2 * self.frame_samples
        if len(self._clip) % frame_bytes:  # whole frames: the clip loops on a frame edge
            self._clip += bytes(frame_bytes - len(self._clip) % frame_bytes)
        self._position = 0
        self._pts = 0
        # Opus: the clip and silence encoded once per clip and codec (the emulated microphone
        # says the same thing every loop), and each frame sent is one of these packets unless
        # what is sent changes (the speaker's echo), which is encoded live. AMR-NB is encoded
        # live: its decoder follows the encoder's predictor state, and packets spliced from
        # other points of the encoder's history (mute, the loop's wrap) buzz for a second.
        self._packets: tuple[bytes, ...] = ()
        self._silent_packets: tuple[bytes, ...] = ()
        self._silent_index = 0
        self._cached = not self._amr
        if self._cached:
            key = (str(voice), codec.name, rate, codec.bitrate, frame_ms)
            encoded = _ENCODED.get(key)
            if encoded is None:
                encoded = _ENCODED[key] = self._encode_loop()
                while len(_ENCODED) > MAX_ENCODED:
                    _ENCODED.pop(next(iter(_ENCODED)))
            self._packets, self._silent_packets = encoded
        # libopus conceals from a ToC-only packet; none until a frame decoded (nothing to
        # conceal from: silence).
        self._conceal: bytes | None = AMR_NO_DATA if self._amr else None
        self._wav: wave.Wave_write | None = None
        self._file: Any = None
        self.speaker = False  # on: the far end's voice leaks into what is sent (an echo)
        self._heard: bytes | None = None  # the last 20 ms heard
        if record is not None:
            try:
                record = Path(record)
                record.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                # Only the owner reads what was said; never over a file that is there.
                fd = os.open(record, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                self._file = os.fdopen(fd, "wb")
                self._wav = wave.open(self._file, "wb")  # noqa: SIM115 - open for the call
                self._wav.setnchannels(1)
                self._wav.setsampwidth(2)
                self._wav.setframerate(rate)
            except OSError as error:
                raise AudioError(f"cannot record the call to {record}: {error.strerror or error}"
                                 ) from error
        self.closed = False

    def _encode_loop(self) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
        """The clip's frames, encoded in order, and frames of encoded silence (after the
        encoder settled: AMR's decoder buzzes on one silent frame repeated)."""
        step = 2 * self.frame_samples
        packets = tuple(self._encode(self._clip[at:at + step])
                        for at in range(0, len(self._clip), step))
        silent = [self._encode(self._silence) for _ in range(SILENCE_WARMUP + SILENT_FRAMES)]
        return packets, tuple(silent[SILENCE_WARMUP:])

    def _encode(self, pcm: bytes) -> bytes:
        frame = self._av.AudioFrame(format="s16", layout="mono", samples=self.frame_samples)
        frame.planes[0].update(pcm)
        frame.sample_rate = self.rate
        frame.pts = self._pts
        self._pts += self.frame_samples
        return b"".join(bytes(packet) for packet in self._encoder.encode(frame))

    def next_payload(self, *, muted: bool) -> bytes:
        """The next 20 ms of the clip (silence when muted or without a voice), encoded; after
        ``close`` an empty payload (the listener conceals it)."""
        if self.closed:
            return b""
        step = 2 * self.frame_samples
        index = self._position // step
        if self._clip:
            self._position = (self._position + step) % len(self._clip)
        echo = self.speaker and not muted and self._heard is not None
        if self._cached and not echo:
            if muted or not self._clip:
                self._silent_index = (self._silent_index + 1) % len(self._silent_packets)
                return self._silent_packets[self._silent_index]
            return self._packets[index]
        pcm = self._clip[index * step:(index + 1) * step] if self._clip and not muted \
            else self._silence
        if echo:
            # On the speaker the microphone hears the loudspeaker too: what is sent carries
            # the far end's voice back, as the echo an echo canceller leaves (ECHO_DB down).
            pcm = _mix(pcm, self._heard, ECHO_GAIN)  # type: ignore[arg-type]
        return self._encode(pcm)

    def play(self, payload: bytes | None) -> float:
        """Decode one 20 ms slot (None or an undecodable payload: concealment), record it and
        return its level in dBFS."""
        pcm = self._decode(payload)
        if pcm is None:
            pcm = self._decode(None)
        if pcm is None:
            pcm = self._silence
        if self._wav is not None:
            self._wav.writeframesraw(pcm)
        self._heard = pcm
        return level_dbfs(pcm)

    def close(self) -> None:
        """Finish the recording (its WAV header) and let the codecs go; safe to call twice."""
        if self.closed:
            return
        self.closed = True
        if self._wav is not None:
            self._wav.close()
            self._wav = None
        if self._file is not None:
            self._file.close()
            self._file = None
        self._encoder = self._decoder = None

    def _decode(self, payload: bytes | None) -> bytes | None:
        """One frame of samples from a payload (None: conceal), or None when it does not
        decode."""
        if self.closed:
            return self._silence
        if payload is not None and not 0 < len(payload) <= MAX_PAYLOAD:
            payload = None
        if payload is not None and self._amr:
            # One AMR frame only: the ToC byte's frame type says how long it is.
            size = 1 + AMR_NB_BYTES[payload[0] >> 3 & 0x0F]
            payload = payload[:size] if len(payload) >= size else None
        concealing = payload is None
        if concealing:
            payload = self._conceal
            if payload is None:
                return self._silence
        try:
            frames = self._decoder.decode(self._av.Packet(payload))
        except (self._av.FFmpegError, ValueError):
            return None
        samples = array.array("h")
        for frame in frames:
            got = _samples(bytes(frame.planes[0])[: 2 * frame.samples])
            step = frame.sample_rate // self.rate
            # libopus decodes at 48 kHz; a stream coded at 16 kHz has nothing above 8 kHz, so
            # every third sample is the 16 kHz signal (no resampler, no added delay).
            samples.extend(got[::step] if step > 1 else got)
        if not concealing and not self._amr and len(samples) == self.frame_samples:
            self._conceal = bytes([payload[0] & 0xFC])  # this frame's ToC, one frame, no data
        pcm = samples[: self.frame_samples].tobytes()
        return pcm + self._silence[len(pcm):]


def _clip_samples(av: Any, voice: Path, rate: int) -> bytes:
    """The clip's samples, mono s16 at ``rate``: decoded once per file (and its size and
    modification time) and rate, as every call would decode the same clip again (about 10 ms
    on the event loop)."""
    try:
        seen = voice.stat()
    except OSError as error:
        raise AudioError(f"cannot read the voice clip {voice}: {error.strerror}") from error
    return _decoded_clip(av, str(voice.resolve()), seen.st_size, seen.st_mtime_ns, rate)


@lru_cache(maxsize=8)
def _decoded_clip(av: Any, voice: str, size: int, mtime_ns: int, rate: int) -> bytes:
    """The clip's samples, mono s16 at ``rate`` (``size`` and ``mtime_ns`` key the cache)."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
    parts: list[bytes] = []
    try:
        with av.open(str(voice)) as container:
            for frame in container.decode(audio=0):
                parts.extend(bytes(f.planes[0])[: 2 * f.samples]
                             for f in resampler.resample(frame))
        parts.extend(bytes(f.planes[0])[: 2 * f.samples] for f in resampler.resample(None))
    except (OSError, av.FFmpegError, IndexError, ValueError) as error:
        raise AudioError(f"cannot read the voice clip {voice}: {error}") from error
    clip = b"".join(parts)
    if not clip:
        raise AudioError(f"the voice clip {voice} holds no audio")
    return clip


def _samples(pcm: bytes) -> array.array:
    """s16 samples in the machine's byte order (as PyAV gives them, and ``wave`` takes them)."""
    samples = array.array("h")
    samples.frombytes(pcm[: len(pcm) // 2 * 2])
    return samples

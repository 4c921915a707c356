"""Remake seeds/voice/duty-officer.ogg, the Duty Officer's voice on calls.

espeak-ng speaks the line (Debian's espeak-ng 1.51, voice en-gb, 160 words a minute) into a
22.05 kHz WAV; PyAV resamples it to 16 kHz mono and encodes it with libopus (voip, 12 kbit/s,
20 ms frames) into Ogg, bit-exact (no random stream serial, no encoder string), so the same
espeak-ng and PyAV give the same bytes. espeak-ng is needed only here, never at run time:

    .venv/bin/python benchmarks/make_voice_clip.py [--out seeds/voice/duty-officer.ogg]
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import tempfile
import wave
from fractions import Fraction
from pathlib import Path

import av

LINE = ("Duty officer here. This line is end-to-end encrypted. "
        "Read the two words on your screen aloud.")
VOICE = "en-gb"
SPEED = 160          # words a minute
RATE = 16000
BITRATE = 12000
# What made the shipped clip (tests/test_call_audio.py remakes it where both are these).
ESPEAK_NG = "1.51"
PYAV = "18.1.0"
OUT = Path(__file__).resolve().parent.parent / "seeds" / "voice" / "duty-officer.ogg"


def speak(line: str) -> tuple[bytes, int]:
    """espeak-ng's mono s16 samples of the line and their rate."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "line.wav"
        subprocess.run(["espeak-ng", "-v", VOICE, "-s", str(SPEED), "-w", str(wav), line],
                       check=True)
        with wave.open(str(wav), "rb") as w:
            assert w.getnchannels() == 1 and w.getsampwidth() == 2
            return w.readframes(w.getnframes()), w.getframerate()


def encode(pcm: bytes, rate: int, out: Path) -> None:
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    source = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2)
    source.planes[0].update(pcm)
    source.sample_rate = rate
    source.pts = 0
    source.time_base = Fraction(1, rate)
    resampled = b"".join(bytes(f.planes[0])[: f.samples * 2]
                         for f in [*resampler.resample(source), *resampler.resample(None)])
    out.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(out), "w", format="ogg") as container:
        container.flags |= av.container.Flags.bitexact.value
        stream = container.add_stream("libopus", rate=RATE, options={
            "application": "voip", "frame_duration": "20", "vbr": "on"})
        stream.bit_rate = BITRATE
        stream.layout = "mono"
        stream.codec_context.flags |= av.codec.context.Flags.bitexact.value
        step = stream.codec_context.frame_size or RATE // 50
        for start in range(0, len(resampled) // 2, step):
            chunk = resampled[start * 2:(start + step) * 2]
            chunk += bytes(step * 2 - len(chunk))
            frame = av.AudioFrame(format="s16", layout="mono", samples=step)
            frame.planes[0].update(chunk)
            frame.sample_rate = RATE
            frame.pts = start
            frame.time_base = Fraction(1, RATE)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    pcm, rate = speak(LINE)
    encode(pcm, rate, args.out)
    data = args.out.read_bytes()
    print(f"{args.out}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()

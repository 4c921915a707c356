"""CPU the call audio costs: encode + decode of real speech per codec, and frame sizes.

The path a call pays for each 20 ms slot: ``next_payload`` (the clip's next frame, encoded) on
the speaking side and ``play`` (decode or conceal, the level meter, and with ``--record`` the
WAV) on the listening side, through ``media.audio.open_audio``. Each round speaks the whole
shipped clip (6.3 s) once per codec, codecs in a rotated order each round (interleaved);
figures are CPU seconds of this process per second of audio, as a percentage of one core,
median and min–max over the rounds. A 2-phone call runs two such streams (each phone encodes
one and decodes the other): ``two_phone_call_percent_core`` is twice encode + decode (the
issue's target: 5 % of a core for the whole call, media framing, sealing and the modem
included, which benchmarks/calls.py measures). Frame bytes: every payload over the clip and
over muted frames (Opus is CBR: the same size for speech and silence).

    python benchmarks/audio_codec.py [--rounds 5] [--record] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from spread import rotated, spread

from phone_tui.media.audio import clip_path, open_audio


@dataclass(frozen=True)
class Profile:
    """What open_audio reads of a media.codecs.CodecProfile (used until codecs.toml is there)."""

    name: str
    sample_rate: int
    bitrate: int
    frame_ms: int = 20


def profiles() -> list:
    try:
        from phone_tui.media.codecs import load_codecs
    except ImportError:
        return [Profile("opus-16k", 16000, 16000), Profile("amr-wb-12.65", 16000, 12650),
                Profile("amr-nb-12.2", 8000, 12200)]
    return list(load_codecs().values())


def one_round(codec, frames: int | None, record: Path | None) -> dict[str, float]:
    speaker = open_audio(codec, voice=clip_path(), record=None)
    listener = open_audio(codec, voice=None, record=record)
    count = frames or len(speaker._clip) // (2 * speaker.frame_samples)
    encode = decode = 0.0
    sizes = []
    for _ in range(count):
        start = time.process_time()
        payload = speaker.next_payload(muted=False)
        middle = time.process_time()
        listener.play(payload)
        decode += time.process_time() - middle
        encode += middle - start
        sizes.append(len(payload))
    muted = [len(speaker.next_payload(muted=True)) for _ in range(50)]
    listener.close()
    speaker.close()
    seconds = count * codec.frame_ms / 1000
    return {"encode": 100 * encode / seconds, "decode": 100 * decode / seconds,
            "sizes": sizes, "muted": muted}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--record", action="store_true", help="the listener records a WAV")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 50 frames (a smoke run)")
    args = parser.parse_args()
    rounds, frames = (2, 50) if args.quick else (max(args.rounds, 1), None)
    codecs = profiles()
    runs: dict[str, list[dict]] = {codec.name: [] for codec in codecs}
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(rounds):
            for codec in rotated(codecs, index):
                record = Path(tmp) / f"{codec.name}-{index}.wav" if args.record else None
                runs[codec.name].append(one_round(codec, frames, record))
    report: dict[str, object] = {"rounds": rounds, "record": args.record,
                                 "audio_seconds_per_round": None, "codecs": {}}
    for codec in codecs:
        done = runs[codec.name]
        sizes, muted = done[0]["sizes"], done[0]["muted"]
        report["audio_seconds_per_round"] = len(sizes) * codec.frame_ms / 1000
        report["codecs"][codec.name] = {
            "bitrate": codec.bitrate, "sample_rate": codec.sample_rate,
            "frame_bytes": {"min": min(sizes), "median": statistics.median(sizes),
                            "max": max(sizes), "muted_min": min(muted), "muted_max": max(muted)},
            "encode_percent_core": spread([r["encode"] for r in done], 3),
            "decode_percent_core": spread([r["decode"] for r in done], 3),
            "two_phone_call_percent_core": spread(
                [2 * (r["encode"] + r["decode"]) for r in done], 3),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

"""Call audio (media/audio.py): the shipped clip, real Opus / AMR-NB frames, loss concealment,
the WAV recording, the level meter and hostile payloads. PyAV only once audio opens."""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
import wave
from array import array
from dataclasses import dataclass
from pathlib import Path

import pytest

from phone_tui.media.audio import (
    DBFS_FLOOR,
    MAX_PAYLOAD,
    AudioError,
    clip_path,
    level_dbfs,
    open_audio,
)


@dataclass(frozen=True)
class Profile:
    """The fields of media.codecs.CodecProfile that open_audio reads."""

    name: str
    sample_rate: int
    bitrate: int
    frame_ms: int = 20
    frame_bytes: int = 0


OPUS = Profile("opus-16k", 16000, 16000)
AMR_WB = Profile("amr-wb-12.65", 16000, 12650)
AMR_NB = Profile("amr-nb-12.2", 8000, 12200)
CODECS = [pytest.param(c, id=c.name) for c in (OPUS, AMR_WB, AMR_NB)]


def round_trip(codec: Profile, tmp_path: Path, *, loss: float = 0.0, seed: int = 7):
    """The whole clip spoken by one side and heard by the other (recorded), a share of its
    frames lost: (what was said, what was heard), mono s16 at the codec's rate."""
    rng = random.Random(seed)
    speaker = open_audio(codec, voice=clip_path(), record=None)
    record = tmp_path / f"{codec.name}-{loss}.wav"
    listener = open_audio(codec, voice=None, record=record)
    for _ in range(len(speaker._clip) // (2 * speaker.frame_samples)):
        payload = speaker.next_payload(muted=False)
        listener.play(None if rng.random() < loss else payload)
    listener.close()
    speaker.close()
    with wave.open(str(record), "rb") as heard:
        return speaker._clip, heard.readframes(heard.getnframes())


def envelope(pcm: bytes, rate: int) -> list[float]:
    """RMS per 10 ms: speech's envelope, what intelligibility follows (as STOI does)."""
    samples, n = array("h", pcm), rate // 100
    return [math.sqrt(math.fsum(x * x for x in samples[i:i + n]) / n)
            for i in range(0, len(samples) - n + 1, n)]


def correlation(x: list[float], y: list[float]) -> float:
    m = min(len(x), len(y))
    x, y = x[:m], y[:m]
    mx, my = sum(x) / m, sum(y) / m
    sxy = math.fsum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sx = math.sqrt(math.fsum((a - mx) ** 2 for a in x))
    sy = math.sqrt(math.fsum((b - my) ** 2 for b in y))
    return sxy / (sx * sy)


def envelope_correlation(said: bytes, heard: bytes, rate: int) -> float:
    """Best over the codec's delay (a few ms: up to 30 ms of envelope lag)."""
    a, b = envelope(said, rate), envelope(heard, rate)
    return max(correlation(a[: len(a) - 3], b[lag:]) for lag in range(4))


def stoi(said: bytes, heard: bytes, rate: int) -> float:
    pystoi = pytest.importorskip(
        "pystoi", reason="pystoi (the bench extra) is not installed: STOI not checked")
    import numpy as np  # pystoi's own dependency

    x = np.frombuffer(said, dtype=np.int16).astype(float)
    y = np.frombuffer(heard, dtype=np.int16).astype(float)
    m = min(len(x), len(y)) - rate // 20
    lag = max(range(rate // 20), key=lambda k: float(np.dot(x[:m], y[k:m + k])))
    return float(pystoi.stoi(x[:m], y[lag:m + lag], rate))


def test_importing_the_audio_module_leaves_pyav_unloaded():
    done = subprocess.run(
        [sys.executable, "-c", "import sys, phone_tui.media.audio; print('av' in sys.modules)"],
        capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "False"


def test_the_shipped_clip_is_a_few_seconds_of_ogg_opus_in_a_few_kib():
    data = clip_path().read_bytes()
    assert data.startswith(b"OggS") and b"OpusHead" in data[:100]
    assert len(data) < 12 * 1024
    audio = open_audio(OPUS, voice=clip_path(), record=None)
    assert 4.0 <= len(audio._clip) / 2 / 16000 <= 8.0
    # Decoded once per clip and rate, not at every call.
    assert open_audio(OPUS, voice=clip_path(), record=None)._clip is audio._clip


@pytest.mark.parametrize("codec", CODECS)
def test_every_frame_has_the_same_size_speech_or_silence(codec):
    audio = open_audio(codec, voice=clip_path(), record=None)
    sizes = {len(audio.next_payload(muted=i % 50 > 40)) for i in range(300)}
    silent = open_audio(codec, voice=None, record=None)
    sizes |= {len(silent.next_payload(muted=False)) for _ in range(50)}
    # Opus CBR: bitrate × 20 ms (12 650 bit/s: 31.6 bytes, libopus rounds up to 32); AMR-NB
    # 12.2: a ToC byte and 244 bits in 31 bytes.
    assert sizes == {40 if codec is OPUS else 32}


@pytest.mark.parametrize("codec", [OPUS, AMR_WB], ids=["opus-16k", "amr-wb-12.65"])
def test_opus_frames_are_wideband_20_ms(codec):
    audio = open_audio(codec, voice=clip_path(), record=None)
    # RFC 6716 §3.1: ToC configs 8..11 are SILK wideband, 9 of them 20 ms; 13 hybrid SWB 20 ms.
    configs = {audio.next_payload(muted=False)[0] >> 3 for _ in range(200)}
    assert configs <= {9, 13} and 9 in configs


def test_amr_nb_frames_are_real_amr_at_12_2():
    audio = open_audio(AMR_NB, voice=clip_path(), record=None)
    # RFC 4867 octet-aligned ToC: frame type 7 is MR122, Q bit set.
    assert {audio.next_payload(muted=False)[0] for _ in range(100)} == {7 << 3 | 0x04}


@pytest.mark.parametrize("codec", CODECS)
def test_what_is_heard_follows_what_was_said(codec, tmp_path):
    said, heard = round_trip(codec, tmp_path)
    assert envelope_correlation(said, heard, codec.sample_rate) > 0.95


@pytest.mark.parametrize("codec", CODECS)
def test_what_is_heard_is_intelligible_by_stoi(codec, tmp_path):
    said, heard = round_trip(codec, tmp_path)
    assert stoi(said, heard, codec.sample_rate) > 0.9


@pytest.mark.parametrize("codec", CODECS)
def test_losing_a_fifth_of_the_frames_is_heard(codec, tmp_path):
    rate = codec.sample_rate
    said, clean = round_trip(codec, tmp_path)
    _, lossy = round_trip(codec, tmp_path, loss=0.2)
    assert envelope_correlation(said, lossy, rate) < envelope_correlation(said, clean, rate) - 0.03
    assert stoi(said, lossy, rate) < stoi(said, clean, rate) - 0.05


@pytest.mark.parametrize("codec", CODECS)
def test_a_lost_frame_is_concealed_then_fades_to_silence(codec):
    speaker = open_audio(codec, voice=clip_path(), record=None)
    listener = open_audio(codec, voice=None, record=None)
    heard = [listener.play(speaker.next_payload(muted=False)) for _ in range(100)]
    assert heard[-1] > -30  # mid-word (the clip's 2nd second)
    gap = [listener.play(None) for _ in range(50)]
    assert -50 < gap[0] < heard[-1] + 3  # not silent, no louder than the speech it follows
    assert gap[5] < gap[0] - 10  # fading
    assert max(gap[20:]) < -70  # silence after a long gap
    assert listener.play(speaker.next_payload(muted=False)) > -60  # and speech again


@pytest.mark.parametrize("codec", CODECS)
def test_mute_and_no_voice_send_silence_at_the_same_rate(codec):
    speaker = open_audio(codec, voice=clip_path(), record=None)
    listener = open_audio(codec, voice=None, record=None)
    speech = [listener.play(speaker.next_payload(muted=False)) for _ in range(100)]
    muted = [listener.play(speaker.next_payload(muted=True)) for _ in range(50)]
    assert max(speech[50:]) > -30 and max(muted[10:]) < -60
    nobody = open_audio(codec, voice=None, record=None)
    assert max(listener.play(nobody.next_payload(muted=False)) for _ in range(50)) < -60


@pytest.mark.parametrize("codec", CODECS)
def test_the_recording_is_mono_s16_wav_of_every_slot_heard(codec, tmp_path):
    record = tmp_path / "calls" / "heard.wav"  # its folder is made
    speaker = open_audio(codec, voice=clip_path(), record=None)
    listener = open_audio(codec, voice=None, record=record)
    for i in range(150):  # 3 s, one slot in ten lost
        listener.play(None if i % 10 == 3 else speaker.next_payload(muted=False))
    listener.close()
    listener.close()
    assert listener.play(None) == DBFS_FLOOR  # closed: silence, nothing written
    with wave.open(str(record), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (
            1, 2, codec.sample_rate)
        assert wav.getnframes() == 150 * codec.sample_rate // 50
        assert wav.getnframes() / wav.getframerate() == 3.0


def test_the_level_meter_reads_speech_above_silence():
    assert level_dbfs(b"") == level_dbfs(bytes(640)) == DBFS_FLOOR
    assert level_dbfs(array("h", [32767, -32767] * 160).tobytes()) == pytest.approx(0, abs=0.01)
    sine = array("h", (round(16384 * math.sin(2 * math.pi * i / 32)) for i in range(320)))
    assert level_dbfs(sine.tobytes()) == pytest.approx(-9.03, abs=0.05)  # half scale, −3 dB
    speaker = open_audio(OPUS, voice=clip_path(), record=None)
    listener = open_audio(OPUS, voice=None, record=None)
    speech = [listener.play(speaker.next_payload(muted=False)) for _ in range(150)]
    silence = [listener.play(speaker.next_payload(muted=True)) for _ in range(50)]
    assert max(speech) > -25 and sorted(speech)[75] > max(silence[10:]) + 30


@pytest.mark.parametrize("codec", CODECS)
def test_hostile_payloads_are_concealed_never_raised(codec):
    rng = random.Random(14)
    speaker = open_audio(codec, voice=clip_path(), record=None)
    listener = open_audio(codec, voice=None, record=None)
    for _ in range(60):
        listener.play(speaker.next_payload(muted=False))
    hostile = [b"", bytes(1), b"\xff", bytes(100_000), rng.randbytes(MAX_PAYLOAD + 1),
               speaker.next_payload(muted=False)[:5],  # truncated
               *(rng.randbytes(rng.randrange(1, MAX_PAYLOAD + 1)) for _ in range(300))]
    for payload in hostile:
        level = listener.play(payload)
        assert isinstance(level, float) and DBFS_FLOOR <= level <= 0.5
    assert listener.play(speaker.next_payload(muted=False)) > DBFS_FLOOR  # still decoding


@pytest.mark.parametrize("codec", CODECS)
def test_a_payload_over_the_cap_is_concealed_as_lost_not_decoded(codec, tmp_path):
    speaker = open_audio(codec, voice=clip_path(), record=None)
    twins = [open_audio(codec, voice=None, record=tmp_path / f"{i}.wav") for i in range(2)]
    for _ in range(80):
        payload = speaker.next_payload(muted=False)
        for twin in twins:
            twin.play(payload)
    frame = speaker.next_payload(muted=False)
    # A real frame with a tail to 400 bytes, past the cap: treated as lost, exactly as a
    # missing one, not decoded.
    assert MAX_PAYLOAD < 400
    twins[0].play(frame + bytes(400 - len(frame)))
    twins[1].play(None)
    for twin in twins:
        twin.close()
    assert (tmp_path / "0.wav").read_bytes() == (tmp_path / "1.wav").read_bytes()


def test_profiles_the_codecs_cannot_take_and_unreadable_files_are_typed_errors(tmp_path):
    with pytest.raises(AudioError, match="AMR-NB"):
        open_audio(Profile("amr-nb-12.2", 16000, 12200), voice=None, record=None)
    with pytest.raises(AudioError, match="Opus"):
        open_audio(Profile("opus-16k", 44100, 16000), voice=None, record=None)
    bad = tmp_path / "noise.ogg"
    bad.write_bytes(b"OggS not really")
    with pytest.raises(AudioError, match="voice clip"):
        open_audio(OPUS, voice=bad, record=None)
    with pytest.raises(AudioError, match="voice clip"):
        open_audio(OPUS, voice=tmp_path / "missing.ogg", record=None)
    (tmp_path / "file").write_text("")
    with pytest.raises(AudioError, match="record"):
        open_audio(OPUS, voice=None, record=tmp_path / "file" / "heard.wav")


def test_closed_audio_sends_empty_payloads_and_hears_silence():
    audio = open_audio(OPUS, voice=clip_path(), record=None)
    audio.close()
    assert audio.next_payload(muted=False) == b""
    assert audio.play(b"\x48") == DBFS_FLOOR


HOSTILE_CHILD = r'''
import random
from phone_tui.media.audio import clip_path, open_audio
import test_call_audio as t
rng = random.Random(3)
for codec in (t.OPUS, t.AMR_NB):
    speaker = open_audio(codec, voice=clip_path(), record=None)
    listener = open_audio(codec, voice=None, record=None)
    for _ in range(200):
        listener.play(speaker.next_payload(muted=False))
        listener.play(rng.randbytes(rng.randrange(1, 300)))
'''


def test_hostile_payloads_print_nothing_over_the_phone_screen():
    # FFmpeg logs to the process's stderr, which is the terminal the TUI draws on.
    tests = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(tests), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-c", HOSTILE_CHILD], capture_output=True, text=True,
                          check=False, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and done.stdout == ""


def test_the_clip_script_remakes_the_shipped_clip_byte_for_byte(tmp_path):
    import shutil

    import av

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "make_voice_clip.py"
    if not script.is_file() or shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng (only needed to remake the clip) is not installed")
    version = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True,
                             check=False).stdout
    if "1.51" not in version or av.__version__ != "18.1.0":
        pytest.skip("the clip was made with espeak-ng 1.51 and PyAV 18.1.0; other versions "
                    "make other bytes")
    out = tmp_path / "clip.ogg"
    subprocess.run([sys.executable, str(script), "--out", str(out)], check=True,
                   capture_output=True, timeout=120)
    assert out.read_bytes() == clip_path().read_bytes()


def test_a_recording_never_replaces_a_file_that_is_there(tmp_path):
    """--record writes new files only, 0600: what someone put there stays as it was."""
    from phone_tui.media.audio import AudioError, open_audio
    from phone_tui.media.codecs import load_codecs

    target = tmp_path / "heard.wav"
    target.write_bytes(b"mine")
    with pytest.raises(AudioError, match="heard.wav"):
        open_audio(load_codecs()["opus-16k"], voice=None, record=target)
    assert target.read_bytes() == b"mine"
    fresh = tmp_path / "new" / "heard.wav"
    open_audio(load_codecs()["opus-16k"], voice=None, record=fresh).close()
    assert fresh.stat().st_mode & 0o777 == 0o600 and fresh.parent.stat().st_mode & 0o777 == 0o700


def test_on_the_speaker_what_is_sent_carries_the_far_end_back_as_an_echo():
    """Speaker changes what is sent: a silent side on the loudspeaker sends the voice it
    plays back, 30 dB down; off the speaker it sends silence."""
    from phone_tui.media.audio import open_audio
    from phone_tui.media.codecs import load_codecs

    codec = load_codecs()["opus-16k"]
    talker = open_audio(codec, voice=clip_path(), record=None)
    listener = open_audio(codec, voice=None, record=None)
    far_end = open_audio(codec, voice=None, record=None)

    def sent_level(speaker: bool) -> float:
        listener.speaker = speaker
        levels = []
        for _ in range(60):
            listener.play(talker.next_payload(muted=False))  # the loudspeaker plays speech
            levels.append(far_end.play(listener.next_payload(muted=False)))
        return max(levels[10:])

    assert sent_level(False) < -70
    assert -60 < sent_level(True) < -20


def test_a_taken_recording_name_takes_the_next_and_the_call_keeps_its_sound(tmp_path,
                                                                          monkeypatch):
    import time

    from phone_tui.handset.calls import _open_audio
    from phone_tui.media.audio import CallAudio, CodecAudio
    from phone_tui.media.codecs import load_codecs

    monkeypatch.setattr(time, "strftime", lambda _fmt: "20260101-094100")
    folder = tmp_path / "rec"
    folder.mkdir(mode=0o700)
    taken = folder / "20260101-094100-1-hears-2.wav"
    taken.write_bytes(b"someone else's")
    audio = CallAudio(voice=clip_path(), record=folder, owner="+1")
    first = _open_audio(load_codecs()["opus-16k"], audio, "+2")
    second = _open_audio(load_codecs()["opus-16k"], audio, "+2")
    assert isinstance(first, CodecAudio) and isinstance(second, CodecAudio)
    first.close()
    second.close()
    assert taken.read_bytes() == b"someone else's"
    assert sorted(p.name for p in folder.iterdir()) == [
        "20260101-094100-1-hears-2-2.wav", "20260101-094100-1-hears-2-3.wav",
        "20260101-094100-1-hears-2.wav"]
    # A folder it cannot write to: the call is not recorded, but it is heard.
    folder.chmod(0o500)
    try:
        third = _open_audio(load_codecs()["opus-16k"], audio, "+2")
        assert isinstance(third, CodecAudio) and third.next_payload(muted=False)
    finally:
        folder.chmod(0o700)


def test_the_clip_is_encoded_once_per_codec_and_each_call_sends_those_packets(monkeypatch):
    """Opus: the emulated microphone's clip is encoded at the first call and looped after;
    only what changes what is sent (the speaker's echo) is encoded live."""
    from phone_tui.media import audio as audio_module
    from phone_tui.media.codecs import load_codecs

    codec = load_codecs()["opus-16k"]
    first = audio_module.open_audio(codec, voice=clip_path(), record=None)
    sent_first = [first.next_payload(muted=False) for _ in range(20)]
    encoded: list[int] = []
    real = audio_module.CodecAudio._encode
    monkeypatch.setattr(audio_module.CodecAudio, "_encode",
                        lambda self, pcm: encoded.append(1) or real(self, pcm))
    second = audio_module.open_audio(codec, voice=clip_path(), record=None)
    assert [second.next_payload(muted=False) for _ in range(20)] == sent_first
    second.next_payload(muted=True)
    assert encoded == []  # nothing encoded for this call
    second.speaker = True
    second.play(sent_first[5])
    second.next_payload(muted=False)
    assert encoded == [1]  # the echo changes what is sent: encoded live

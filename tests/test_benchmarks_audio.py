"""benchmarks/audio_codec.py's smoke run: CPU per second of audio per codec as median and
min–max, and the frame sizes it measured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "audio_codec.py"


def test_quick_run_reports_cpu_and_frame_bytes_per_codec():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--record"],
                          capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["rounds"] == 2 and report["record"] is True
    for name, size in (("opus-16k", 40), ("amr-wb-12.65", 32), ("amr-nb-12.2", 32)):
        codec = report["codecs"][name]
        assert codec["frame_bytes"]["min"] == codec["frame_bytes"]["max"] == size
        assert codec["frame_bytes"]["muted_min"] == codec["frame_bytes"]["muted_max"] == size
        for key in ("encode_percent_core", "decode_percent_core", "two_phone_call_percent_core"):
            figure = codec[key]
            assert 0 <= figure["min"] <= figure["median"] <= figure["max"]

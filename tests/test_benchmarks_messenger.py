"""benchmarks/messenger.py's smoke run (--quick) still runs the whole stack and says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "messenger.py"


def test_quick_run_delivers_every_message_and_prints_its_figures():
    env = {**os.environ, "PYTHONPATH": str(SCRIPT.parent.parent)}
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True,
                          text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["rounds"] == 2
    for count, figures in report["full_stack"].items():
        assert figures["failed"] == 0
        assert figures["messages_per_second"]["median"] > 0
        assert figures["p50_latency_ms"]["min"] <= figures["p99_latency_ms"]["max"]
        # A message costs hop frames both ways (the message and its report, each acknowledged).
        assert figures["hop_frames_per_message"]["min"] >= 2, count
        assert 0 < figures["ratio_to_bare_ratchet"]["median"] < 1
    assert report["bare_ratchet_one_way_per_second"]["median"] > 0
    assert report["rss_kib_per_idle_unlocked_handset"] > 0

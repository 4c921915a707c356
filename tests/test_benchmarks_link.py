"""benchmarks/link.py's smoke run: the bus in messages and in hop frames, latency through a real
bus and reliable hop, every figure as median and min–max over the rounds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "link.py"


def ordered(figure: dict[str, float]) -> bool:
    return figure["min"] <= figure["median"] <= figure["max"]


def test_quick_run_reports_messages_frames_and_latency_through_the_bus():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--profiles", "full,5g",
                           "--frames", "30", "--bus-messages", "5"],
                          capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["rounds"] == 2
    for name in ("full", "5g"):
        bus = report["profiles"][name]["through_bus"]
        assert bus["messages_per_round"] == 5
        assert ordered(bus["one_way_p50_ms"]) and ordered(bus["delivered_report_p99_ms"])
        assert bus["one_way_p50_ms"]["min"] <= bus["one_way_p99_ms"]["max"]
        # The report crosses both hops again: it comes back after the message arrived.
        assert bus["delivered_report_p50_ms"]["median"] > bus["one_way_p50_ms"]["median"]
    five_g = report["profiles"]["5g"]["through_bus"]
    assert five_g["one_way_p50_ms"]["median"] >= five_g["model_two_hops_ms"] * 0.8
    for handsets in ("2_handsets", "30_handsets"):
        figures = report["bus"][handsets]
        for key in ("messages_per_second", "frames_per_second", "messages_over_hand_off",
                    "frames_over_hand_off", "frames_per_message"):
            assert ordered(figures[key]) and figures[key]["min"] > 0, (handsets, key)
        # A message costs at least its own frame and its delivery report's.
        assert figures["frames_per_message"]["min"] >= 2
        assert (figures["messages_over_hand_off"]["median"]
                < figures["frames_over_hand_off"]["median"])

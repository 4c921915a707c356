"""benchmarks/frame_work.py's smoke run: every frame kind with its spread and its cost against
a normal message, round by round."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "frame_work.py"


def test_small_run_reports_each_kind_against_the_normal_message():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(SCRIPT), "--rounds", "2", "--per-round", "1",
                           "--skipped", "5"],
                          capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["rounds"] == 2
    kinds = report["frames"]
    assert len(kinds) == 7 and "normal message" in kinds
    for name, figures in kinds.items():
        assert figures["frames"] == 2, name
        wall, cpu = figures["wall_ms"], figures["cpu_ms"]
        assert wall["min"] <= wall["median"] <= wall["max"] and wall["p99"] <= wall["max"]
        assert cpu["min"] <= cpu["median"] <= cpu["max"]
        for ratio in ("cpu_over_normal", "wall_over_normal"):
            assert 0 < figures[ratio]["min"] <= figures[ratio]["median"] <= figures[ratio]["max"]
    assert kinds["normal message"]["wall_over_normal"]["median"] == 1
    assert report["worst_max_ms"] == max(k["wall_ms"]["max"] for k in kinds.values())

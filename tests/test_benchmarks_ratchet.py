"""benchmarks/ratchet.py: its floor makes phone_tui's ratchet calls, and a small run prints
every figure with its spread (and says what the doubleratchet comparison is not)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "ratchet.py"


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    return importlib.import_module("ratchet")


def test_the_floor_sends_byte_for_byte_what_the_ratchet_sends(bench):
    assert bench.check_floor() == {"one_way": True, "ping_pong": True}


def test_a_floor_that_drifts_from_the_ratchet_is_refused(bench, monkeypatch):
    monkeypatch.setattr(bench, "pad", lambda plaintext: plaintext + b"\x80")
    with pytest.raises(SystemExit, match="no longer makes"):
        bench.check_floor()


def test_small_run_prints_medians_and_ranges_for_every_figure():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(SCRIPT), "--messages", "20", "--rounds", "2"],
                          capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["rounds"] == 2
    assert "AES-256-CBC" in report["doubleratchet_not_like_for_like"]
    assert "async" in report["doubleratchet_not_like_for_like"]
    for mode in ("one_way", "ping_pong"):
        for clock in ("cpu", "wall"):
            figures = report["results"][mode][clock]
            for key in ("phone_tui_msgs_per_s", "floor_msgs_per_s", "ratio_to_floor"):
                low, mid, high = (figures[key][k] for k in ("min", "median", "max"))
                assert 0 < low <= mid <= high, (mode, clock, key)
            installed = report["doubleratchet_package"] == "installed"
            assert (figures["ratio_to_doubleratchet"] is not None) == installed

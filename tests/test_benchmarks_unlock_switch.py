"""Smoke runs of benchmarks/unlock.py and benchmarks/switch.py (--quick: the test KDF): both
compare side by side per round and print median and min–max of every figure and ratio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(script: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args],
                          capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def assert_spread(figure: dict[str, float]) -> None:
    assert set(figure) == {"median", "min", "max"}
    assert 0 <= figure["min"] <= figure["median"] <= figure["max"]


def test_unlock_quick_run_pairs_unlock_with_bare_argon2id_each_round():
    report = run("unlock.py", "--quick", "--rounds", "3")
    assert report["rounds"] == 3
    assert "SMOKE RUN" in report["benchmark"] and "m=8 KiB" in report["kdf"]
    for clock in ("wall", "cpu"):
        for key in ("unlock_seconds", "bare_argon2id_seconds", "unlock_over_bare_argon2id"):
            assert_spread(report[clock][key])
        assert report[clock]["unlock_over_bare_argon2id"]["min"] > 0


def test_switch_quick_run_pairs_switch_with_plain_unlock_each_round():
    report = run("switch.py", "--quick")
    assert report["rounds"] == 2
    assert "SMOKE RUN" in report["benchmark"]
    for clock in ("wall", "cpu"):
        for key in ("switch_and_unlock_seconds", "lock_and_unlock_seconds",
                    "switch_over_plain_unlock"):
            assert_spread(report[clock][key])
    assert_spread(report["switch_alone_ms"])
    assert "memory_growth_after_3_switches_kib" in report

"""benchmarks/calls.py's smoke run (--quick): every part runs the whole call path and prints
figures of the right shape and of sane size (not timings)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "calls.py"


def ordered(figure: dict) -> bool:
    return figure["min"] <= figure["median"] <= figure["max"]


def test_quick_run_measures_cpu_link_figures_stoi_loss_and_capacity():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True,
                          text=True, timeout=300, env=env, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)

    cpu = report["cpu"]
    assert cpu["rounds"] == 2 and cpu["clock"] == "real"
    shares = cpu["percent_of_one_core"]
    assert set(shares) == {"call_audio", "call_no_audio", "idle"}
    for figure in (*shares.values(), cpu["call_audio_minus_idle"], cpu["audio_share"]):
        assert ordered(figure)
    assert all(figure["min"] >= 0 and figure["max"] < 100 for figure in shares.values())

    profiles = report["profiles"]
    assert profiles["clock"].startswith("looptime")
    lte, gprs = profiles["lte"], profiles["gprs"]
    # STOI needs the bench extra (pystoi): without it, the report says so and the rest holds.
    with_stoi = "skipped" not in report["codec_only_stoi"]
    assert with_stoi == (importlib.util.find_spec("pystoi") is not None)
    for entry in (lte, gprs):
        for key in ("one_way_ms", "jitter_ms", "loss", "r", "mos", *(["stoi"] * with_stoi)):
            assert ordered(entry[key]), key
        # Two hops of the profile's latency, measured from the reports' round trips.
        delay = entry["one_way_ms"]
        assert 0.7 * delay["expected"] <= delay["median"] <= 1.3 * delay["expected"]
        assert 0 <= entry["loss"]["median"] < 0.2
        assert entry["mos"]["min"] >= 1 and entry["mos"]["max"] <= 4.5
        assert not with_stoi or 0 <= entry["stoi"]["min"] <= entry["stoi"]["max"] <= 1
        assert isinstance(entry["loss"]["median_within_10_percent"], bool)
        assert entry["loss"]["pooled_frames"] > 300  # 8 s of frames at 50 a second
        assert 0 <= entry["loss"]["pooled"] < 0.2
    assert lte["one_way_ms"]["expected"] == 70.2  # 2 × 35 ms and the frames' serialization
    assert round(lte["loss"]["expected"], 5) == round(1 - 0.995 ** 2, 4)
    # The "Done when": GPRS scores and sounds worse than LTE.
    assert gprs["mos"]["median"] < lte["mos"]["median"]
    if with_stoi:
        assert gprs["stoi"]["median"] < lte["stoi"]["median"]
        assert report["codec_only_stoi"]["stoi"] > 0.9  # the codec alone keeps speech intelligible

    # Loss against the profile: both directions pooled, capped (a quick run cannot resolve
    # ±10 % and must say so), the link's own drops of the same frames beside it.
    loss = report["loss"]
    assert loss["clock"].startswith("looptime") and loss["audio"] is False
    assert loss["rounds"] == 2 and loss["max_seconds"] == 20.0
    for name in ("lte", "gprs"):
        entry = loss[name]
        assert entry["expected"] == round(1 - (1 - entry["profile"]["loss"]) ** 2, 5)
        # Two listeners, 20 s in all: about 2 000 frames (less the start of each call).
        assert 1500 <= entry["frames"] <= 2100 and entry["link_frames"] >= entry["frames"]
        assert entry["resolvable_within_cap"] is False
        assert entry["frames_needed"] > entry["frames"]
        assert ordered(entry["per_call"]) and entry["per_call"]["min"] >= 0
        assert 0 <= entry["pooled"] < 0.2 and 0 <= entry["link_loss"] < 0.2
        assert isinstance(entry["within_10_percent"], bool)
        assert isinstance(entry["within_3_sigma"], bool)
        assert entry["rejected_packets"] == 0 and entry["sealed_not_on_link"] == 0
        assert abs(entry["pooled"] - entry["link_loss"]) < 0.01  # the path adds no loss
        assert entry["real_seconds"] > 0

    capacity = report["capacity"]
    steps = capacity["steps"]
    assert [step["calls"] for step in steps] == [1, 2][: len(steps)] and steps
    for step in steps:
        assert step["slots_played"] > 0 and step["rounds"] in (1, 2)  # 2: a contended retry
        for key in ("concealed_share", "late_share", "tick_lag_p99_ms", "cpu_percent_per_call"):
            assert ordered(step[key]), key
        assert step["concealed_share"]["min"] >= 0 and step["concealed_share"]["max"] <= 1
        assert step["late_share"]["min"] >= 0 and step["late_share"]["max"] <= 1
        assert step["tick_lag_p50_ms"]["max"] <= step["tick_lag_max_ms"]["max"]
        assert step["cpu_percent_per_call"]["median"] > 0
    assert capacity["sustained_calls"] in (0, 1, 2)
    assert capacity["stopped_by"] in ("limits", "load", "max_calls")
    assert capacity["calls_one_idle_core_would_carry"] >= 1

"""Cost of an OS switch (model only, no boot animation) next to what a plain lock/unlock costs.

A handset with both OSes set up (default RFC 9106 KDF) on an emulated network. Per run:
  switch: lock the running OS, switch lines, then unlock the other OS (Argon2id) and start its
          messenger — what the user waits for after the boot sequence;
  plain:  lock and unlock the same OS — the baseline, timed alternately in the same run.
The ratio shows what switching adds on top of an unlock. Also printed: the milliseconds the
switch itself takes (lock + lines) without the unlock, and memory held after 20 switches.

    python benchmarks/switch.py [--runs 10]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

from phone_tui.core.clock import SystemClock
from phone_tui.core.config import Settings
from phone_tui.core.entropy import SystemEntropy
from phone_tui.core.paths import resolve_paths
from phone_tui.handset.device import load_device
from phone_tui.handset.handset import Handset
from phone_tui.modem.bus import Bus
from phone_tui.modem.profiles import load_profiles

PINS = {"secure": "482916", "open": "731956"}


async def run(runs: int, folder: Path) -> dict[str, object]:
    handset = Handset(resolve_paths(folder), Settings(link_profile="full"), clock=SystemClock(),
                      entropy=SystemEntropy(), device=load_device())
    handset.attach(Bus(random.Random(1)), load_profiles())
    await handset.setup(PINS["secure"])
    handset.switch_persona("open")
    await handset.setup(PINS["open"])
    switch, switch_only, plain = [], [], []
    for _ in range(runs):
        target = handset.other
        start = time.perf_counter()
        handset.switch_persona(target)
        middle = time.perf_counter()
        await handset.unlock(PINS[target])
        switch.append(time.perf_counter() - start)
        switch_only.append(middle - start)
        start = time.perf_counter()
        handset.lock()
        await handset.unlock(PINS[handset.running])
        plain.append(time.perf_counter() - start)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(20):
        handset.switch_persona(handset.other)
        await handset.unlock(PINS[handset.running])
    gc.collect()
    grown = sum(stat.size_diff for stat in
                tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    return {
        "benchmark": "OS switch then unlock, vs lock then unlock in the same OS",
        "runs": runs,
        "median_switch_and_unlock_seconds": round(statistics.median(switch), 4),
        "median_lock_and_unlock_seconds": round(statistics.median(plain), 4),
        "switch_over_plain_unlock": round(statistics.median(switch) / statistics.median(plain),
                                          3),
        "median_switch_alone_ms": round(statistics.median(switch_only) * 1000, 3),
        "memory_growth_after_20_switches_kib": round(grown / 1024, 1),
        "cpu_count": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print(json.dumps(asyncio.run(run(args.runs, Path(folder))), indent=2))


if __name__ == "__main__":
    main()

"""Cost of an OS switch (model only, no boot animation) next to what a plain lock/unlock costs.

A handset with both OSes set up (default RFC 9106 KDF) on an emulated network. Per run:
  switch: lock the running OS, switch lines, then unlock the other OS (Argon2id) and start its
          messenger — what the user waits for after the boot sequence;
  plain:  lock and unlock the same OS — the baseline, timed alternately in the same run.
The ratio shows what switching adds on top of an unlock. Each of --rounds rounds (default 10)
times both, in an order that alternates from round to round; the ratio is taken per round;
median and min–max of wall and CPU time are printed (CPU time is steadier on a shared machine).
Also printed: the milliseconds the switch itself takes (lock + lines) without the unlock, and
memory held after 20 more switches (tracemalloc, once).

    python benchmarks/switch.py [--rounds 10] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import tempfile
import time
import tracemalloc
from pathlib import Path

from spread import ratio_spread, rotated, spread

from phone_tui.core.clock import SystemClock
from phone_tui.core.config import Settings
from phone_tui.core.entropy import SystemEntropy
from phone_tui.core.paths import resolve_paths
from phone_tui.handset.device import load_device
from phone_tui.handset.handset import Handset
from phone_tui.modem.bus import Bus
from phone_tui.modem.profiles import load_profiles
from phone_tui.testing import FAST_KDF

PINS = {"secure": "482916", "open": "731956"}


async def timed_async(work) -> tuple[float, float]:  # noqa: ANN001 - a coroutine function
    wall, cpu = time.perf_counter(), time.process_time()
    await work()
    return time.perf_counter() - wall, time.process_time() - cpu


async def run(rounds: int, folder: Path, quick: bool) -> dict[str, object]:
    handset = Handset(resolve_paths(folder), Settings(link_profile="full"), clock=SystemClock(),
                      entropy=SystemEntropy(), device=load_device(),
                      kdf=FAST_KDF if quick else None)
    handset.attach(Bus(random.Random(1)), load_profiles())
    await handset.setup(PINS["secure"])
    handset.switch_persona("open")
    await handset.setup(PINS["open"])
    figures: dict[str, dict[str, list[float]]] = {
        name: {"wall": [], "cpu": []} for name in ("switch_and_unlock", "lock_and_unlock")}
    switch_only: list[float] = []

    async def switch() -> None:
        target = handset.other
        start = time.perf_counter()
        handset.switch_persona(target)
        switch_only.append(time.perf_counter() - start)
        await handset.unlock(PINS[target])

    async def plain() -> None:
        handset.lock()
        await handset.unlock(PINS[handset.running])

    work = {"switch_and_unlock": switch, "lock_and_unlock": plain}
    for round_index in range(rounds):
        for name in rotated(list(work), round_index):
            wall, cpu = await timed_async(work[name])
            figures[name]["wall"].append(wall)
            figures[name]["cpu"].append(cpu)
    more = 3 if quick else 20
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(more):
        handset.switch_persona(handset.other)
        await handset.unlock(PINS[handset.running])
    gc.collect()
    grown = sum(stat.size_diff for stat in
                tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    handset.lock("benchmark over")
    report: dict[str, object] = {
        "benchmark": "OS switch then unlock, vs lock then unlock in the same OS"
        + (", SMOKE RUN with the test KDF (not a figure)" if quick else ""),
        "kdf": "test Argon2id parameters (8 KiB)" if quick else "default (RFC 9106, 64 MiB)",
        "rounds": rounds,
        "interleaving": "switch+unlock and lock+unlock once each per round, order "
                        "alternating; ratios per round",
    }
    for clock in ("wall", "cpu"):
        report[clock] = {
            "switch_and_unlock_seconds": spread(figures["switch_and_unlock"][clock], 4),
            "lock_and_unlock_seconds": spread(figures["lock_and_unlock"][clock], 4),
            "switch_over_plain_unlock": ratio_spread(figures["switch_and_unlock"][clock],
                                                     figures["lock_and_unlock"][clock], 3),
        }
    report["switch_alone_ms"] = spread([1000 * t for t in switch_only], 3)
    report[f"memory_growth_after_{more}_switches_kib"] = round(grown / 1024, 1)
    report["cpu_count"] = os.cpu_count()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", "--runs", type=int, help="rounds (default 10; 2 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: the test KDF (8 KiB Argon2id), 2 rounds")
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 10)
    with tempfile.TemporaryDirectory() as folder:
        print(json.dumps(asyncio.run(run(rounds, Path(folder), args.quick)), indent=2))


if __name__ == "__main__":
    main()

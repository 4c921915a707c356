"""Opening a 100 000-message conversation (and jumping to its top) against an empty one.

The path a user pays for: each sample is a fresh process that starts phone-tui (headless,
100x40) on a data folder prepared once, with the conversation already in its SQLCipher store on
disk, types the PIN on the lock screen (the store opens cold, as after a restart), then times
pushing the chat view until the screen is idle ("open"), and Ctrl+Home (the oldest message)
until idle ("jump"), in wall and CPU time; the unlock before it is timed too (Argon2id with
test parameters, so what the history costs it shows). Memory is the process's VmRSS (which
counts SQLCipher's page cache, unlike tracemalloc) just before the chat opens and after it
opened; a separate traced sample of each gives tracemalloc's peak too. The garbage collector
runs as in real use.

The two conversations run interleaved, the order alternating each round; every figure is the
median and min–max over the rounds (ratios per round). Targets: open ≤ 1.5× the empty
conversation (median), ≤ 40 MiB more RSS after opening it.

    python benchmarks/chat.py [--messages 100000] [--runs 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

NUMBER = "+86 190 0000 0110"

CHILD = r'''
import asyncio, gc, json, sys, time, tracemalloc
from pathlib import Path

from phone_tui.core.config import Settings
from phone_tui.testing import TEST_PIN, enter_pin, make_app, make_handset, settle

folder, number, trace = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "trace"

def rss_kib(field="VmRSS"):
    return next(int(line.split()[1]) for line in open("/proc/self/status")
                if line.startswith(field + ":"))

async def main():
    settings = Settings(link_profile="full")
    handset = make_handset(folder, settings=settings)
    app = make_app(folder, handset=handset, settings=settings)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        start = time.perf_counter()
        await enter_pin(pilot, TEST_PIN)
        await settle(pilot)
        unlocked = time.perf_counter() - start
        assert handset.messenger is not None, "not unlocked"
        # What the unlock starts in the background (the spool's replay, expiry, the outbox)
        # ends before the chat is timed; the unlock's own figure is above.
        await asyncio.sleep(0.5)
        await settle(pilot)
        from phone_tui.ui.handset_view import HandsetView
        from phone_tui.ui.views.messages import ChatView

        gc.collect()
        before = rss_kib()
        if trace:
            tracemalloc.start()
        start, cpu = time.perf_counter(), time.process_time()
        app.query_one(HandsetView).push(ChatView(number))
        await settle(pilot)
        await pilot.pause()
        opened, opened_cpu = time.perf_counter() - start, time.process_time() - cpu
        after_open = rss_kib()
        start, cpu = time.perf_counter(), time.process_time()
        await pilot.press("ctrl+home")
        await settle(pilot)
        await pilot.pause()
        jumped, jumped_cpu = time.perf_counter() - start, time.process_time() - cpu
        peak = tracemalloc.get_traced_memory()[1] if trace else 0
        shown = len(app.query_one("#chat-log").messages)
        print(json.dumps({"open_s": opened, "jump_s": jumped, "unlock_s": unlocked,
                          "open_cpu_s": opened_cpu, "jump_cpu_s": jumped_cpu,
                          "rss_before_kib": before,
                          "rss_after_open_kib": after_open, "rss_after_jump_kib": rss_kib(),
                          "hwm_kib": rss_kib("VmHWM"), "traced_peak_bytes": peak,
                          "loaded": shown}), flush=True)

asyncio.run(main())
'''

# Like an installed package (pip compiles to .pyc), not a checkout run with
# PYTHONDONTWRITEBYTECODE set.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


async def prepare(folder: Path, messages: int) -> None:
    """A set-up, locked phone whose store holds ``messages`` messages with NUMBER, all read."""
    from phone_tui.core.config import Settings
    from phone_tui.testing import make_handset, set_up

    handset = make_handset(folder, settings=Settings(link_profile="full"))
    await set_up(handset, locked=False)
    store = handset.persona.store
    with store.transaction():
        for index in range(messages):
            store.execute(
                "INSERT INTO messages (uuid, number, outgoing, body, state, at) "
                "VALUES (?, ?, ?, ?, 'read', ?)",
                (f"m{index}", NUMBER, index % 2,
                 f"message {index}: the quick brown fox jumps over the lazy dog",
                 1_767_000_000.0 + index))
    handset.lock()


def sample(folder: Path, trace: bool = False) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(folder), NUMBER,
                           "trace" if trace else "time"],
                          capture_output=True, text=True, env=CHILD_ENV, check=False)
    if done.returncode != 0:
        raise SystemExit(f"sample failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def spread(values: list[float], digits: int = 4) -> dict[str, float]:
    """Median and min–max."""
    return {"median": round(statistics.median(values), digits),
            "min": round(min(values), digits), "max": round(max(values), digits)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if args.runs < 5:
        parser.error("--runs must be at least 5")
    with tempfile.TemporaryDirectory() as root:
        folders = {"empty": Path(root, "empty"), "long": Path(root, "long")}
        for kind, folder in folders.items():
            asyncio.run(prepare(folder, args.messages if kind == "long" else 0))
        for folder in folders.values():  # warm the OS file cache and the .pyc files
            sample(folder)
        rounds = []
        for index in range(args.runs):
            order = ("empty", "long") if index % 2 == 0 else ("long", "empty")
            rounds.append({kind: sample(folders[kind]) for kind in order})
        traced = {kind: sample(folder, trace=True) for kind, folder in folders.items()}
        database_mib = round(sum(f.stat().st_size for f in folders["long"].rglob("*")
                                 if f.is_file() and "store" in f.name) / 2**20, 1)

    def figure(kind: str, name: str, digits: int = 4) -> dict[str, float]:
        return spread([r[kind][name] for r in rounds], digits)

    def ratio(name: str) -> dict[str, float]:
        return spread([r["long"][name] / r["empty"][name] for r in rounds], 3)

    def extra_mib(name: str) -> dict[str, float]:
        return spread([(r["long"][name] - r["empty"][name]) / 1024 for r in rounds], 2)

    opened_mib = [((r["long"]["rss_after_open_kib"] - r["long"]["rss_before_kib"])
                   - (r["empty"]["rss_after_open_kib"] - r["empty"]["rss_before_kib"])) / 1024
                  for r in rounds]
    print(json.dumps({
        "benchmark": "open a conversation and jump to its top, fresh process, store on disk "
                     "(headless, 100x40)",
        "messages": args.messages, "rounds": args.runs, "store_files_mib": database_mib,
        "messages_loaded": {kind: rounds[-1][kind]["loaded"] for kind in folders},
        "seconds": {kind: {"open": figure(kind, "open_s"), "jump_to_top": figure(kind, "jump_s"),
                           "unlock_before_it": figure(kind, "unlock_s")} for kind in folders},
        "cpu_seconds": {kind: {"open": figure(kind, "open_cpu_s"),
                               "jump_to_top": figure(kind, "jump_cpu_s")} for kind in folders},
        "open_ratio": ratio("open_s"),
        "jump_ratio": ratio("jump_s"),
        "open_cpu_ratio": ratio("open_cpu_s"),
        "jump_cpu_ratio": ratio("jump_cpu_s"),
        "unlock_ratio": ratio("unlock_s"),
        "time_target": 1.5,
        "rss_kib_after_open": {kind: figure(kind, "rss_after_open_kib", 0) for kind in folders},
        "extra_rss_mib": {"after_open": extra_mib("rss_after_open_kib"),
                          "after_jump": extra_mib("rss_after_jump_kib"),
                          "peak_vmhwm": extra_mib("hwm_kib"),
                          "opening_alone": spread(opened_mib, 2)},
        "extra_traced_peak_mib": round((traced["long"]["traced_peak_bytes"]
                                        - traced["empty"]["traced_peak_bytes"]) / 2**20, 2),
        "memory_target_mib": 40,
    }, indent=1))


if __name__ == "__main__":
    main()

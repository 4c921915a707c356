"""Time to the first drawn frame of `phone-tui` (lock screen, headless) against a bare Textual app.

Each sample is a fresh Python process, timed from spawn until the app writes its first frame
to the (headless) driver, so imports count; the time until the app is idle (first frame plus
the follow-up work such as the footer's redraw) is reported too. Runs alternate (phone-tui,
bare, phone-tui, ...) so machine noise hits both alike. Prints JSON with medians and the
ratios (targets: time ≤ 1.25, peak memory ≤ 1.3). On a shared machine the wall-clock ratio
swings by several hundredths from run to run; the CPU time the child used until its first
frame (interpreter start-up included, no threads run before it) is the steadier figure.

    python benchmarks/startup.py [--runs 15] [--instructions]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = r'''
import sys, time
kind, data_dir = sys.argv[1], sys.argv[2]
exit_at_first_frame = len(sys.argv) > 3

first = []

def watch_display(app):
    # App._display writes a frame to the (headless) driver: the first call is the first frame.
    display = app._display

    def timed(screen, renderable):
        if not first and renderable is not None:
            first.append((time.monotonic(), time.process_time()))
            if exit_at_first_frame:
                raise SystemExit(0)
        return display(screen, renderable)

    app._display = timed

async def settled(pilot):
    await pilot.pause()
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec from the parent.
    rss = next(int(line.split()[1]) for line in open("/proc/self/status")
               if line.startswith("VmHWM:"))
    wall, cpu = first[0]
    print(f"{wall} {cpu} {time.monotonic()} {rss} {type(pilot.app.screen.focused).__name__}",
          flush=True)
    pilot.app.exit()

if kind == "phone-tui":
    from phone_tui.cli import build_app, parser
    app = build_app(parser().parse_args(["--data-dir", data_dir]), data_dir)
else:
    from textual.app import App
    from textual.widgets import Footer, Header, Static

    class Bare(App):
        def compose(self):
            yield Header()
            yield Static("Hello")
            yield Footer()

    app = Bare()
watch_display(app)
app.run(headless=True, size=(100, 40), auto_pilot=settled)
'''


# Like an installed package (pip compiles to .pyc), not a checkout run with
# PYTHONDONTWRITEBYTECODE set, which would recompile phone_tui's sources on every start.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def sample(kind: str, data_dir: str) -> tuple[float, float, float, int, str]:
    """Seconds to the first frame (wall, and CPU of the child), seconds until idle, peak RSS
    (KiB), focused widget."""
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", CHILD, kind, data_dir], capture_output=True,
                          text=True, check=True, env=CHILD_ENV)
    frame, cpu, idle, rss, focused = done.stdout.split()[-5:]
    return float(frame) - start, float(cpu), float(idle) - start, int(rss), focused


def instructions(kind: str, data_dir: str) -> int | None:
    """Instructions executed from interpreter start to the first frame, counted by callgrind:
    the same count on every run, however busy the machine. None without valgrind."""
    if shutil.which("valgrind") is None:
        return None
    done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                           sys.executable, "-c", CHILD, kind, data_dir, "exit"],
                          capture_output=True, text=True, check=False, env=CHILD_ENV)
    match = re.search(r"Collected : (\d+)", done.stderr)
    return int(match[1]) if match else None


def prepare(data_dir: str) -> None:
    """A set-up, locked persona with the default (RFC 9106) KDF, so phone-tui opens on Lock."""
    from phone_tui.core.clock import SystemClock
    from phone_tui.core.config import Settings
    from phone_tui.core.entropy import SystemEntropy
    from phone_tui.core.paths import resolve_paths
    from phone_tui.handset.device import load_device
    from phone_tui.handset.handset import Handset

    handset = Handset(resolve_paths(data_dir), Settings(), clock=SystemClock(),
                      entropy=SystemEntropy(), device=load_device())
    asyncio.run(handset.setup("482916"))
    handset.lock()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--instructions", action="store_true",
                        help="also count instructions to the first frame under callgrind "
                             "(about 20 s more; needs valgrind)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        prepare(data_dir)
        times: dict[str, list[float]] = {"phone-tui": [], "bare": []}
        idle: dict[str, list[float]] = {"phone-tui": [], "bare": []}
        cpu: dict[str, list[float]] = {"phone-tui": [], "bare": []}
        memory: dict[str, list[int]] = {"phone-tui": [], "bare": []}
        sample("phone-tui", data_dir)  # warm the OS file cache for both
        sample("bare", data_dir)
        focused = ""
        for _ in range(args.runs):
            for kind in ("phone-tui", "bare"):
                seconds, cpu_seconds, settled, rss, focus = sample(kind, data_dir)
                times[kind].append(seconds)
                cpu[kind].append(cpu_seconds)
                idle[kind].append(settled)
                memory[kind].append(rss)
                if kind == "phone-tui":
                    focused = focus
        counted = ({kind: instructions(kind, data_dir) for kind in ("phone-tui", "bare")}
                   if args.instructions else {})
    median = {kind: statistics.median(values) for kind, values in times.items()}
    median_idle = {kind: statistics.median(values) for kind, values in idle.items()}
    median_cpu = {kind: statistics.median(values) for kind, values in cpu.items()}
    peak = {kind: max(values) for kind, values in memory.items()}
    print(json.dumps({
        "benchmark": "startup to first frame (headless, 100x40)",
        "runs_each": args.runs,
        "phone_tui_first_screen_focus": focused,
        "median_seconds_to_first_frame": {k: round(v, 4) for k, v in median.items()},
        "median_cpu_seconds_to_first_frame": {k: round(v, 4) for k, v in median_cpu.items()},
        "median_seconds_to_idle": {k: round(v, 4) for k, v in median_idle.items()},
        "idle_ratio": round(median_idle["phone-tui"] / median_idle["bare"], 3),
        "peak_rss_kib": peak,
        "time_ratio": round(median["phone-tui"] / median["bare"], 3),
        "cpu_time_ratio": round(median_cpu["phone-tui"] / median_cpu["bare"], 3),
        "time_target": 1.25,
        "memory_ratio": round(peak["phone-tui"] / peak["bare"], 3),
        **({"instructions_to_first_frame": counted,
            "instructions_ratio": round(counted["phone-tui"] / counted["bare"], 3)}
           if counted and None not in counted.values() else {}),
        "memory_target": 1.3,
    }, indent=2))


if __name__ == "__main__":
    main()

"""Start-up of `phone-tui` (lock screen, headless, 100x40) against bare Textual apps.

Each sample is a fresh Python process timed from spawn (imports count) to:

- **first frame**: the first frame the app writes to the (headless) driver;
- **idle**: the end of the last frame written before the app went ``--quiet`` ms (250) without
  writing another one. Textual has no app-wide idle signal (its Idle events are per widget),
  so idle is defined by what a user sees: the screen has stopped changing. The CPU time the
  child used in that quiet window is reported, so hidden work that draws nothing shows up;
- **peak memory**: VmHWM of the child at idle (not ru_maxrss, which Linux carries across exec).

Two baselines, as fair as a bare app can be (same size, headless, its first frame drawn by the
same driver): ``bare`` is one Static; ``bare-footer`` adds Header and Footer (phone-tui shows a
footer of bindings). The three kinds run interleaved, the order rotated each round, and every
figure and ratio is printed as median and min–max over the rounds; ratios are taken per round
(phone-tui / bare of the same round). Targets: idle ≤ 1.25, first frame ≤ 1.2, peak memory ≤
1.3. The CPU time to the first frame (interpreter start-up included) is the steadier figure on
a shared machine; ``--instructions`` counts instructions to the first frame under callgrind.

    python benchmarks/startup.py [--runs 15] [--quiet 250] [--instructions] [--before DIR]
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
import asyncio, json, os, sys, time
kind, data_dir, quiet = sys.argv[1], sys.argv[2], float(sys.argv[3]) / 1000
exit_at = sys.argv[4] if len(sys.argv) > 4 else None  # "first" or "idle": counting instructions
poll = 0.05 if exit_at else 0.002  # few polls in the count (its quiet window is long)

frames = []  # (end of the frame: monotonic, process time)

def watch_display(app):
    # App._display writes a frame to the (headless) driver: the first call is the first frame.
    display = app._display

    def timed(screen, renderable):
        if renderable is None:
            return display(screen, renderable)
        if exit_at == "first":
            os._exit(0)  # no teardown in the count
        result = display(screen, renderable)
        frames.append((time.monotonic(), time.process_time()))
        return result

    app._display = timed

async def idle(pilot):
    while not frames or time.monotonic() - frames[-1][0] < quiet:
        await asyncio.sleep(poll)
    if exit_at == "idle":
        os._exit(0)
    now_cpu = time.process_time()
    rss = next(int(line.split()[1]) for line in open("/proc/self/status")
               if line.startswith("VmHWM:"))
    print(json.dumps({"first": frames[0], "idle": frames[-1], "frames": len(frames),
                      "quiet_cpu": now_cpu - frames[-1][1], "rss_kib": rss,
                      "focused": type(pilot.app.screen.focused).__name__}), flush=True)
    pilot.app.exit()

if kind == "phone-tui":
    from phone_tui.cli import build_app, parser
    app = build_app(parser().parse_args(["--data-dir", data_dir]), data_dir)
else:
    from textual.app import App
    from textual.widgets import Static

    class Bare(App):
        def compose(self):
            if kind == "bare-footer":  # imported only by the app that shows them
                from textual.widgets import Footer, Header

                yield Header()
                yield Static("Hello")
                yield Footer()
            else:
                yield Static("Hello")

    app = Bare()
watch_display(app)
app.run(headless=True, size=(100, 40), auto_pilot=idle)
'''

KINDS = ("phone-tui", "bare", "bare-footer")
FIGURES = ("first_frame_s", "first_frame_cpu_s", "idle_s", "idle_cpu_s", "peak_rss_kib")

# Like an installed package (pip compiles to .pyc), not a checkout run with
# PYTHONDONTWRITEBYTECODE set, which would recompile phone_tui's sources on every start.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


BEFORE = "phone-tui-before"  # --before DIR: another checkout's phone_tui, in the same rounds
before_dir: str | None = None


def _child(kind: str) -> tuple[str, dict[str, str], str]:
    """(the child's kind, its environment, its working directory): ``python -c`` puts the
    working directory first on sys.path, so the other checkout's child runs from inside it."""
    if kind != BEFORE:
        return kind, CHILD_ENV, os.getcwd()
    assert before_dir is not None
    return "phone-tui", {**CHILD_ENV, "PYTHONPATH": before_dir}, before_dir


def sample(kind: str, data_dir: str, quiet_ms: float) -> dict:
    """One fresh process: its figures (seconds from spawn, CPU seconds, KiB) and focus."""
    child_kind, env, cwd = _child(kind)
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", CHILD, child_kind, data_dir, str(quiet_ms)],
                          capture_output=True, text=True, check=True, env=env, cwd=cwd)
    child = json.loads(done.stdout.strip().splitlines()[-1])
    return {"first_frame_s": child["first"][0] - start, "first_frame_cpu_s": child["first"][1],
            "idle_s": child["idle"][0] - start, "idle_cpu_s": child["idle"][1],
            "peak_rss_kib": child["rss_kib"], "frames": child["frames"],
            "quiet_cpu_s": child["quiet_cpu"], "focused": child["focused"]}


def instructions(kind: str, data_dir: str, until: str) -> int | None:
    """Instructions executed from interpreter start to the first frame or to idle (``until``),
    counted by callgrind: nearly the same count on every run, however busy the machine (idle
    waits for 3 s without a frame, as everything runs about 50 times slower). None without
    valgrind."""
    if shutil.which("valgrind") is None:
        return None
    child_kind, env, cwd = _child(kind)
    done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                           sys.executable, "-c", CHILD, child_kind, data_dir, "3000", until],
                          capture_output=True, text=True, check=False, env=env, cwd=cwd)
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


def spread(values: list[float], digits: int = 4) -> dict[str, float]:
    """Median and min–max."""
    return {"median": round(statistics.median(values), digits),
            "min": round(min(values), digits), "max": round(max(values), digits)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="rounds (each kind once a round)")
    parser.add_argument("--quiet", type=float, default=250,
                        help="ms without a frame after which the app counts as idle")
    parser.add_argument("--instructions", action="store_true",
                        help="also count instructions to the first frame and to idle "
                             "under callgrind (about a minute more; needs valgrind)")
    parser.add_argument("--before", metavar="DIR",
                        help="also run the phone_tui of another checkout (e.g. a git archive "
                             "of an older commit, with themes/ and seeds/) in the same rounds")
    args = parser.parse_args()
    if args.runs < 5:
        parser.error("--runs must be at least 5")
    global before_dir
    before_dir = os.path.abspath(args.before) if args.before else None
    kinds = KINDS + ((BEFORE,) if before_dir else ())
    rounds: list[dict[str, dict]] = []
    with tempfile.TemporaryDirectory() as data_dir:
        prepare(data_dir)
        for kind in kinds:  # warm the OS file cache and the .pyc files for all
            sample(kind, data_dir, args.quiet)
        for index in range(args.runs):
            order = kinds[index % len(kinds):] + kinds[:index % len(kinds)]
            rounds.append({kind: sample(kind, data_dir, args.quiet) for kind in order})
        counted = ({until: {kind: instructions(kind, data_dir, until) for kind in kinds}
                    for until in ("first", "idle")} if args.instructions else {})
    figures = {kind: {figure: spread([r[kind][figure] for r in rounds],
                                     0 if figure == "peak_rss_kib" else 4)
                      for figure in (*FIGURES, "frames", "quiet_cpu_s")} for kind in kinds}

    def ratios(base: str, of: str = "phone-tui") -> dict[str, dict[str, float]]:
        return {figure: spread([r[of][figure] / r[base][figure] for r in rounds], 3)
                for figure in FIGURES}

    print(json.dumps({
        "benchmark": "spawn to first frame and to idle, peak RSS (headless, 100x40)",
        "rounds": args.runs, "idle_definition": f"end of the last frame before {args.quiet:g} "
                                                f"ms without a frame",
        "phone_tui_first_screen_focus": rounds[-1]["phone-tui"]["focused"],
        "figures": figures,
        "ratio_to_bare": ratios("bare"),
        "ratio_to_bare_footer": ratios("bare-footer"),
        **({"before_ratio_to_bare": ratios("bare", BEFORE),
            "before_ratio_to_bare_footer": ratios("bare-footer", BEFORE),
            "ratio_to_before": ratios(BEFORE)} if before_dir else {}),
        "targets": {"idle_s": 1.25, "first_frame_s": 1.2, "peak_rss_kib": 1.3},
        **({"instructions": counted,
            "instructions_ratio": {
                until: {f"{of}/{base}": round(count[of] / count[base], 3)
                        for of in kinds if of.startswith("phone-tui")
                        for base in ("bare", "bare-footer")} for until, count in counted.items()}}
           if counted and None not in counted["first"].values() else {}),
    }, indent=1))


if __name__ == "__main__":
    main()

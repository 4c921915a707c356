"""An idle 4-handset demo stage: CPU and memory, and memory under sustained tap traffic.

Headless, in this process, with the default (RFC 9106) KDF and the real clock:
  idle:    all four phones unlocked on their home screens, nothing happening but what a real
           stage does (clock ticks, keep-alives every 5 s, bots idle) — CPU used per second of
           wall time, as a share of one core, next to a bare Textual app idling the same way
           (a Header, a Static and a Footer) in the same run;
  traffic: the phones message each other on the "full" profile until the tap has carried
           --frames frames (the pane keeps 500 lines, the network's recent-frame ring 512):
           traced memory (tracemalloc) after the first half, when every bounded buffer has
           filled, and at the end. Growth beyond the bounds would show as the difference; what
           remains is the phones' own message stores (SQLite pages) and caches.

    python benchmarks/stage.py [--idle-seconds 20] [--frames 20000]
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

from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Static

from phone_tui.core.clock import SystemClock
from phone_tui.handset.device import load_device
from phone_tui.handset.stage import Stage, load_stage_seeds
from phone_tui.modem.bus import Bus
from phone_tui.modem.profiles import load_profiles
from phone_tui.ui.stage_app import StageApp
from phone_tui.ui.themes import load_themes
from phone_tui.ui.widgets.tap_view import TapView

SIZE = (200, 50)


class Bare(App[None]):
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Hello")
        yield Footer()


async def idle_share(app: App[None], seconds: float, ready=None) -> float:  # noqa: ANN001
    """CPU seconds per wall second while ``app`` idles (after ``ready`` prepares it)."""
    async with app.run_test(size=SIZE) as pilot:
        if ready is not None:
            await ready(pilot)
        await pilot.pause(1.0)
        gc.collect()
        cpu, wall = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        return (time.process_time() - cpu) / (time.monotonic() - wall)


async def unlock_all(pilot) -> None:  # noqa: ANN001
    app = pilot.app
    for handset, phone in zip(app.stage.handsets, app.stage.phones, strict=False):
        await handset.unlock(phone.pin)
        handset.set_auto_lock(0)  # nobody touches them during the run
    await app.workers.wait_for_complete()
    await pilot.pause(0.5)


def build(root: Path, profile: str | None = None) -> StageApp:
    stage = Stage(root, 4, clock=SystemClock(), device=load_device(),
                  seeds=load_stage_seeds(), profile=profile)
    asyncio.run(stage.prepare())
    return StageApp(stage, themes=load_themes(root / "themes"), profiles=load_profiles(),
                    network=Bus(random.Random(1)))


async def traffic(app: StageApp, frames: int) -> dict[str, float]:
    async with app.run_test(size=SIZE) as pilot:
        await unlock_all(pilot)
        phones = app.stage.handsets
        tap = app.stage.network.tap

        async def until(count: int) -> None:
            i = 0
            while tap.total < count:
                sender, receiver = phones[i % 4], phones[(i + 1) % 4]
                sender.messenger.send_text(receiver.number, f"traffic {i}")
                i += 1
                if i % 20 == 0:
                    await pilot.pause(0.05)
                    for phone in phones:  # as a reader would: keeps receipts flowing
                        for conversation in phone.messenger.conversations():
                            phone.messenger.mark_read(conversation.number)

        # Traced from the start: objects that replace older ones (the tap's newest lines
        # pushing out its oldest) must count their predecessors' release too.
        tracemalloc.start()
        await until(frames // 2)
        await pilot.pause(0.5)
        gc.collect()
        warm = tracemalloc.get_traced_memory()[0]
        await until(frames)
        await pilot.pause(0.5)
        gc.collect()
        end = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        lines = len(app.query_one(TapView).query_one("#tap-log").lines)
        return {"frames_carried": tap.total, "tap_lines_kept": lines,
                "frames_measured": tap.total - frames // 2,
                "traced_growth_over_second_half_kib": round((end - warm) / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--frames", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        stage_share = asyncio.run(idle_share(build(root / "idle"), args.idle_seconds,
                                             unlock_all))
        bare_share = asyncio.run(idle_share(Bare(), args.idle_seconds))
        moved = asyncio.run(traffic(build(root / "traffic", "full"), args.frames))
    print(json.dumps({
        "benchmark": "idle 4-handset stage; memory under tap traffic",
        "idle_seconds": args.idle_seconds,
        "idle_cpu_percent_of_one_core": {"stage": round(stage_share * 100, 2),
                                         "bare_textual_app": round(bare_share * 100, 2)},
        "idle_cpu_target_percent": 5,
        **moved,
        "cpu_count": os.cpu_count(),
    }, indent=2))


if __name__ == "__main__":
    main()

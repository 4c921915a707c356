"""Idle CPU of a 4-handset stage and of one phone, beside a bare ticking app; memory under traffic.

Headless, in this process, with the default (RFC 9106) KDF and the real clock:
  idle:    CPU used per second of wall time, as a share of one core, for three apps idling
           in turn, interleaved and repeated (--rounds, order rotated each round; median and
           min–max printed):
             stage:  the 4-phone demo stage, every phone unlocked on its home screen with
                     auto-lock on (five minutes, as a real phone has it), nothing happening
                     but what a real stage does (clock ticks, keep-alives, bots idle);
             phone:  one phone (what `phone-tui` runs), unlocked on its home screen, auto-lock
                     on;
             bare:   a bare Textual app (a Header, a Static and a Footer) whose Static shows
                     the time, updated once a second: the least an app with a live clock does.
  traffic: the phones message each other on the "full" profile until the tap has carried
           --frames frames (the pane keeps 500 lines, the network's recent-frame ring 512):
           traced memory (tracemalloc) after the first half, when every bounded buffer has
           filled, and at the end. Growth beyond the bounds would show as the difference; what
           remains is the phones' own message stores (SQLite pages) and caches.

    python benchmarks/stage.py [--idle-seconds 10] [--rounds 5] [--frames 20000]  (0: no traffic)
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

from textual.app import App, ComposeResult
from textual.dom import DOMNode
from textual.widget import Widget
from textual.widgets import Footer, Header, Static

from phone_tui.core.clock import SystemClock
from phone_tui.core.config import Settings
from phone_tui.core.entropy import SystemEntropy
from phone_tui.core.paths import resolve_paths
from phone_tui.handset.device import load_device
from phone_tui.handset.handset import Handset
from phone_tui.handset.stage import Stage, load_stage_seeds
from phone_tui.modem.bus import Bus
from phone_tui.modem.profiles import load_profiles
from phone_tui.ui.app import PhoneApp
from phone_tui.ui.handset_view import HandsetView
from phone_tui.ui.stage_app import StageApp
from phone_tui.ui.themes import load_themes
from phone_tui.ui.widgets.tap_view import TapView

SIZE = (200, 50)
AUTO_LOCK = 300  # seconds: on, as on a phone in use, and longer than a run
PIN = "482916"


class Bare(App[None]):
    """The least an app with a live clock does: a Static showing the time, once a second."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(time.strftime("%H:%M:%S"), id="clock")
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(1.0, self.tick)

    def tick(self) -> None:
        self.query_one("#clock", Static).update(time.strftime("%H:%M:%S"))


def handsets_of(app: App[None]) -> list[Handset]:
    stage = getattr(app, "stage", None)
    return list(stage.handsets) if stage is not None else [app.handset]  # type: ignore[attr-defined]


async def idle_share(app: App[None], seconds: float, ready=None) -> float:  # noqa: ANN001
    """CPU seconds per wall second while ``app`` idles (after ``ready`` prepares it)."""
    async with app.run_test(size=SIZE) as pilot:
        if ready is not None:
            await ready(pilot)
        await pilot.pause(1.0)
        gc.collect()
        cpu, wall = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        share = (time.process_time() - cpu) / (time.monotonic() - wall)
        check_home(app)
        return share


async def idle_work(app: App[None], seconds: float, ready=None) -> dict[str, float]:  # noqa: ANN001
    """What ``app`` does per idle second, counted (in a run of its own, not timed): layout
    passes asked for (``refresh(layout=True)``), DOM queries, and SQL statements run on the
    phones' stores."""
    counts = {"layout_refreshes": 0, "dom_queries": 0, "sql_statements": 0}
    refresh, query, query_one = Widget.refresh, DOMNode.query, DOMNode.query_one

    def counting_refresh(self, *args, layout: bool = False, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        counts["layout_refreshes"] += layout
        return refresh(self, *args, layout=layout, **kwargs)

    def counting(method):  # noqa: ANN001, ANN202
        def counted(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            counts["dom_queries"] += 1
            return method(self, *args, **kwargs)
        return counted

    def statement(_sql: str) -> None:
        counts["sql_statements"] += 1

    async with app.run_test(size=SIZE) as pilot:
        if ready is not None:
            await ready(pilot)
        await pilot.pause(1.0)
        stores = [h.persona.store for h in handsets_of(app)] if ready is not None else []
        for store in stores:
            store._db.set_trace_callback(statement)
        Widget.refresh, DOMNode.query = counting_refresh, counting(query)  # type: ignore[method-assign]
        DOMNode.query_one = counting(query_one)  # type: ignore[method-assign]
        try:
            await asyncio.sleep(seconds)
        finally:
            Widget.refresh, DOMNode.query, DOMNode.query_one = refresh, query, query_one  # type: ignore[method-assign]
            for store in stores:
                store._db.set_trace_callback(None)
        check_home(app)
    return {name: round(count / seconds, 2) for name, count in counts.items()}


def check_home(app: App[None]) -> None:
    shown = [view.top.id if view.top else None for view in app.query(HandsetView)]
    if any(where != "home" for where in shown):  # locked or elsewhere: not what is measured
        raise SystemExit(f"expected every phone on its home screen, found {shown}")


async def unlock_all(pilot) -> None:  # noqa: ANN001
    app = pilot.app
    for handset, phone in zip(app.stage.handsets, app.stage.phones, strict=False):
        if handset.state.value != "unlocked":
            await handset.unlock(phone.pin)
        handset.set_auto_lock(AUTO_LOCK)
    await app.workers.wait_for_complete()
    await pilot.pause(0.5)


async def unlock_phone(pilot) -> None:  # noqa: ANN001
    handset = pilot.app.handset
    if handset.state.value == "setup":
        await handset.setup(PIN)
    elif handset.state.value != "unlocked":
        await handset.unlock(PIN)
    handset.set_auto_lock(AUTO_LOCK)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.5)


def build(root: Path, profile: str | None = None) -> StageApp:
    stage = Stage(root, 4, clock=SystemClock(), device=load_device(),
                  seeds=load_stage_seeds(), profile=profile)
    asyncio.run(stage.prepare())
    return StageApp(stage, themes=load_themes(root / "themes"), profiles=load_profiles(),
                    network=Bus(random.Random(1)))


def build_phone(root: Path) -> PhoneApp:
    """One phone as `phone-tui` runs it (real clock and entropy, default KDF), in ``root``."""
    settings, paths = Settings(), resolve_paths(root)
    handset = Handset(paths, settings, clock=SystemClock(), entropy=SystemEntropy(),
                      device=load_device())
    return PhoneApp(handset, paths=paths, settings=settings,
                    themes=load_themes(paths.user_themes_dir), profiles=load_profiles(),
                    network=Bus(random.Random(1)))


def spread(values: list[float]) -> dict[str, object]:
    """Median and min–max, as percent of one core."""
    percents = sorted(round(value * 100, 3) for value in values)
    return {"median": round(statistics.median(percents), 3),
            "min": percents[0], "max": percents[-1], "runs": percents}


def idle_rounds(root: Path, seconds: float, rounds: int) -> dict[str, list[float]]:
    """Each app idles once a round, in an order rotated each round (the same folders each
    time: a restart, after the first round's set-up)."""
    runs: dict[str, list[float]] = {"stage": [], "phone": [], "bare": []}
    makers = {
        "stage": lambda: idle_share(build(root / "idle-stage"), seconds, unlock_all),
        "phone": lambda: idle_share(build_phone(root / "idle-phone"), seconds, unlock_phone),
        "bare": lambda: idle_share(Bare(), seconds),
    }
    names = list(makers)
    for index in range(rounds):
        for name in names[index % 3:] + names[:index % 3]:
            runs[name].append(asyncio.run(makers[name]()))
    return runs


def idle_counts(root: Path, seconds: float) -> dict[str, dict[str, float]]:
    return {
        "stage": asyncio.run(idle_work(build(root / "idle-stage"), seconds, unlock_all)),
        "phone": asyncio.run(idle_work(build_phone(root / "idle-phone"), seconds, unlock_phone)),
        "bare": asyncio.run(idle_work(Bare(), seconds)),
    }


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
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--frames", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        runs = idle_rounds(root, args.idle_seconds, args.rounds)
        work = idle_counts(root, args.idle_seconds)
        moved = (asyncio.run(traffic(build(root / "traffic", "full"), args.frames))
                 if args.frames else {})
    phone, bare = statistics.median(runs["phone"]), statistics.median(runs["bare"])
    print(json.dumps({
        "benchmark": "idle 4-handset stage and one phone beside a bare ticking app; "
                     "memory under tap traffic",
        "idle_seconds": args.idle_seconds,
        "rounds": args.rounds,
        "auto_lock_seconds": AUTO_LOCK,
        "idle_cpu_percent_of_one_core": {name: spread(values) for name, values in runs.items()},
        "phone_over_bare_median": round(phone / bare, 2) if bare else None,
        "idle_work_per_second": work,
        "targets": {"stage_percent": 0.5, "phone_over_bare": 2.0},
        **moved,
        "cpu_count": os.cpu_count(),
    }, indent=2))


if __name__ == "__main__":
    main()

"""The presenter's script on stage: the current step's caption, and space / backspace / auto."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from textual import events
from textual.widgets import Static

if TYPE_CHECKING:
    from phone_tui.flows.model import Flow
    from phone_tui.ui.flow_runner import FlowDriver


class ScriptPanel(Static):
    """Shows ``say`` of the current step; space (or a click) plays the next, backspace goes
    back one; with ``auto`` seconds, each finished step is followed by the next."""

    DEFAULT_CSS = """
    ScriptPanel { width: 100%; height: auto; min-height: 3; padding: 0 1;
                  background: $primary 25%; border-bottom: heavy $primary; }
    """

    def __init__(self, flow: Flow, *, auto: float | None = None) -> None:
        super().__init__("", id="script")
        self.flow = flow
        self.auto = auto
        self.index = -1  # the step shown; -1: the title card
        self.state = "ready"  # ready, playing, done, failed
        self.detail = ""
        self.driver: FlowDriver | None = None
        self._task: asyncio.Task[None] | None = None

    def on_mount(self) -> None:
        self._draw()

    def attach(self, driver: FlowDriver) -> None:
        self.driver = driver
        if self.auto is not None:
            self.set_timer(self.auto, self.next)

    def _draw(self) -> None:
        flow, total = self.flow, len(self.flow.steps)
        if self.index < 0:
            text = (f"[b]{flow.title}[/]  ({total} steps)\n"
                    f"{flow.description}\n[$text-muted]space: start · click: start[/]")
        else:
            step = flow.steps[self.index]
            marks = {"playing": "▶", "done": "✓", "failed": "✗", "ready": "·"}
            keys = "space: next · backspace: back" + (
                f" · auto every {self.auto:g} s" if self.auto else "")
            if self.index == total - 1 and self.state == "done":
                keys = "the end · backspace: back"
            text = (f"[b]Step {self.index + 1}/{total}[/] {marks[self.state]}  {step.say}\n"
                    f"[$text-muted]{self.detail or keys}[/]")
        self.update(text)

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.next()

    def next(self) -> None:
        """Play the next step (or the current one again, if it failed)."""
        if self.state == "playing" or self.driver is None:
            return
        if self.state != "failed" or self.index < 0:
            if self.index >= len(self.flow.steps) - 1:
                return
            self.index += 1
        self._task = asyncio.get_running_loop().create_task(self._play())

    def back(self) -> None:
        if self.state == "playing" or self.index < 0:
            return
        self.index -= 1
        self.state, self.detail = "ready", ""
        self._draw()

    async def _play(self) -> None:
        from textual.pilot import Pilot

        from phone_tui.errors import PhoneTuiError

        assert self.driver is not None
        step = self.flow.steps[self.index]
        self.state, self.detail = "playing", ""
        self._draw()
        start = time.monotonic()
        pilot = Pilot(self.app)
        try:
            for action in step.do:
                await self.driver.act(pilot, action)
        except PhoneTuiError as problem:
            self.state, self.detail = "failed", f"could not act: {problem} · space: try again"
            self._draw()
            return
        while True:
            missing = self.driver.pending(step, start)
            if not missing:
                self.state, self.detail = "done", ""
                break
            if time.monotonic() - start > step.timeout:
                self.state = "failed"
                self.detail = f"still waiting for {missing[0]} · space: try again"
                break
            self.detail = f"waiting for {missing[0]}…"
            self._draw()
            await asyncio.sleep(0.1)
        self._draw()
        if self.auto is not None and self.state == "done":
            self.set_timer(self.auto, self.next)

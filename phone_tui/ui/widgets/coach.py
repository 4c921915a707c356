"""The training coach beside the handset: the step to do, a hint when it takes a while, the
mistakes noticed, and the score at the end. It listens to domain events (through the flow
driver), never to widget internals."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from rich.markup import escape
from textual.widgets import Static

from phone_tui.core.words import count
from phone_tui.flows.training import Progress, Score, pins_needed
from phone_tui.handset.stage import OS_LABELS
from phone_tui.ui.handset_view import FRAME_HEIGHT_CSS

if TYPE_CHECKING:
    from phone_tui.flows.model import Flow
    from phone_tui.ui.flow_runner import FlowDriver


class CoachPanel(Static):
    """Plays a training flow: each step's `do` runs, then the trainee acts; the step is done
    when its expectations hold. F1 shows the hint at once (a hint costs points)."""

    MAX_WIDTH = 60  # the column beside the phone is no wider (app.py centres the pair)
    # Level with the phone: the frame's height rule, centred as the frame is (app.py).
    DEFAULT_CSS = f"""
    CoachPanel {{ width: 1fr; max-width: {MAX_WIDTH}; min-width: 28; {FRAME_HEIGHT_CSS}
                 border: round $accent; padding: 0 1; background: $surface; }}
    """
    TICK = 0.25

    def __init__(self, flow: Flow, progress: Progress | None) -> None:
        super().__init__("", id="coach")
        self.flow = flow
        self.progress = progress
        self.driver: FlowDriver | None = None
        self.index = 0
        self.step_started = 0.0
        # Events from this moment count for the current step: when the step before was done
        # (by its events), not when a later tick noticed it, so a quick answer (a bot that
        # reads at once) between the two is not lost.
        self.since = 0.0
        self._last_check = 0.0
        self.started = 0.0
        self.hint_shown = False
        self.score = Score(flow.id, flow.title, len(flow.steps))
        self.finished = False
        self.saved = False
        self.notice = ""
        self._seen_mistakes: set[str] = set()
        self._acting = False

    def attach(self, driver: FlowDriver) -> None:
        self.driver = driver
        self.started = self.since = time.monotonic()
        self._start_step()
        self.set_interval(self.TICK, self.check)

    def _start_step(self) -> None:
        # A task of its own: the step's actions wait for the app to settle, which they could
        # not do from inside one of its message handlers.
        self._acting = True
        self._task = asyncio.get_running_loop().create_task(self._begin_step())

    async def _begin_step(self) -> None:
        from textual.pilot import Pilot

        from phone_tui.errors import PhoneTuiError

        assert self.driver is not None
        step = self.flow.steps[self.index]
        self.step_started = time.monotonic()
        self.hint_shown = False
        self._acting = True
        try:
            for action in step.do:
                await self.driver.act(Pilot(self.app), action)
        except PhoneTuiError as problem:
            self.notice = f"(the scenario could not set this step up: {problem})"
        finally:
            self._acting = False
        self._draw()

    def show_hint(self, *, asked: bool = True) -> None:
        """Show the current step's hint now. Asked for (F1), it counts as a hint used; shown
        on its own after ``hint_after`` seconds it is free: the time already costs points,
        and a trainee who waited for a slow link did not ask for help."""
        step = self.flow.steps[self.index] if not self.finished else None
        if step is None or self.hint_shown or step.hint is None:
            return
        self.hint_shown = True
        if asked:
            self.score.hints += 1
        self._draw()

    def check(self) -> None:
        """Has the trainee done the step? Any mistake? A hint due? (Called 4 times a second.)"""
        if self.driver is None or self.finished or self._acting:
            return
        step = self.flow.steps[self.index]
        for mistake in self.driver.mistakes(step, self.since):
            if mistake not in self._seen_mistakes:
                self._seen_mistakes.add(mistake)
                self.score.mistakes.append(f"step {step.number}: {mistake}")
        if not self.hint_shown and step.hint and \
                time.monotonic() - self.step_started >= self.flow.hint_after:
            self.show_hint(asked=False)
        checked, self._last_check = self._last_check, time.monotonic()
        if not self.driver.pending(step, self.since):
            self.since = self.driver.done_at(step, self.since, checked)
            self.score.steps_done = self.index + 1
            if self.index + 1 < len(self.flow.steps):
                self.index += 1
                self._start_step()
            else:
                self._finish()
        self._draw()

    def _finish(self) -> None:
        self.finished = True
        self.score.finished = True
        self.score.seconds = round(time.monotonic() - self.started, 1)
        self.score.at = time.time()
        self.save()

    def save(self) -> None:
        """Record the attempt in the trainee's progress (also when they stop half way)."""
        if self.saved or self.progress is None:
            return
        if not self.finished:
            self.score.seconds = round(time.monotonic() - self.started, 1)
            self.score.at = time.time()
        self.saved = True
        try:
            self.progress.record(self.score)
        except Exception as problem:  # noqa: BLE001 - a damaged file is reported, kept
            self.notice = f"not saved: {problem}"

    def _draw(self) -> None:
        flow, total = self.flow, len(self.flow.steps)
        lines = [f"[b]COACH[/] · {flow.title}", ""]
        if not self.finished and self.driver is not None and (needed := pins_needed(flow)):
            # Said from the start: a trainee should not need a hint (which costs) for the PIN.
            pins = " · ".join(f"{OS_LABELS[p]} [b]{self.driver.pin(p)}[/]" for p in needed)
            lines += [f"Training PIN{'s' if len(needed) > 1 else ''}: {pins}", ""]
        if self.finished:
            score = self.score
            lines += [f"[b $success]Done: {score.points}/100[/]",
                      f"{score.seconds:.0f} s · {count(score.hints, 'hint')} · "
                      f"{count(len(score.mistakes), 'mistake')}"]
            lines += [f"[$text-error]✗[/] {escape(m)}" for m in score.mistakes]
            if self.progress is not None:
                lines += ["", f'Saved for trainee "{self.progress.trainee}". Ctrl+Q to quit.']
        else:
            step = flow.steps[self.index]
            lines += [f"[b]Step {self.index + 1} of {total}[/]", step.say, ""]
            if self.hint_shown and step.hint:
                lines += [f"[$warning]Hint:[/] {step.hint}", ""]
            elif step.hint:
                lines += ["[$text-muted]F1: a hint (costs 10 points)[/]", ""]
            done = [f"[$success]✓[/] {s.say}" for s in flow.steps[:self.index]]
            lines += done[-3:]
            if self.score.mistakes:
                # The latest in its own words (the flow's `say`), so the trainee learns why.
                latest = self.score.mistakes[-1].partition(": ")[2]
                lines += ["", f"[$text-error]✗ {count(len(self.score.mistakes), 'mistake')}:[/] "
                              f"{escape(latest)}"]
        if self.notice:
            lines += ["", self.notice]
        self.update("\n".join(lines))

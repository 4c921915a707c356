"""Running a flow on the real app, headless: actions through the UI, checks on domain events
and on what each phone's screen shows, an SVG per step, and a comparison with stored ones."""

from __future__ import annotations

import asyncio
import difflib
import functools
import random
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App

from phone_tui.errors import PhoneTuiError
from phone_tui.flows.model import Action, Expectation, Flow, Step
from phone_tui.handset.events import Event
from phone_tui.handset.stage import (
    Stage,
    StageError,
    bot_writes,
    carrier_impersonates,
    load_stage_seeds,
)
from phone_tui.ui.handset_view import HandsetView
from phone_tui.ui.key_pacing import press_at_once

if TYPE_CHECKING:
    from collections.abc import Callable

    from phone_tui.handset.handset import Handset
    from phone_tui.modem.intercept import IriRecord
    from phone_tui.modem.rogue import AttackerRecord

SIZE_ONE, SIZE_STAGE = (100, 40), (130, 45)
POLL = 0.05
RECORDS_KEPT = 2000  # intercept records a driver remembers (the carrier keeps as many)


@dataclass
class StepResult:
    step: Step
    passed: bool
    missing: list[str] = field(default_factory=list)
    seconds: float = 0.0
    mistakes: list[str] = field(default_factory=list)


def describe(expectation: Expectation) -> str:
    if expectation.intercept is not None:
        wanted = "".join(f" {key}={value!r}" for key, value in expectation.intercept.items())
        return ("no intercept record" if expectation.absent else "intercept record") + wanted
    if expectation.attacker is not None:
        wanted = "".join(f" {key}={value!r}" for key, value in expectation.attacker.items())
        return ("nothing caught by the fake base station" if expectation.absent
                else "caught by the fake base station") + wanted
    where = "".join(f" {key}={value!r}" for key, value in expectation.where.items())
    if expectation.event is not None:
        return f"event {expectation.event}{where} on phone {expectation.phone}"
    verb = "no text" if expectation.absent else "text"
    return f"{verb} {expectation.text!r} on phone {expectation.phone}"


@functools.cache
def _contact_numbers() -> dict[str, tuple[str, ...]]:
    """The seeded contacts' numbers by name (read once: checks run four times a second)."""
    from phone_tui.handset.contacts import load_contacts

    numbers: dict[str, tuple[str, ...]] = {}
    for contact in load_contacts():
        numbers[contact.name] = (*numbers.get(contact.name, ()), contact.number)
    return numbers


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit() or ch == "+")


def record_matches(wanted: dict[str, object], record: IriRecord,
                   lines: Callable[[int | str], set[str]]) -> bool:
    """Does the intercept ``record`` hold all of ``wanted`` (a flow's intercept table)?
    ``lines(party)``: the numbers of that stage phone (both OSes), or of that contact (by
    name); compared digit for digit, so "+86 190 ..." is "+86190..."."""
    for key, value in wanted.items():
        if key in ("from", "to"):
            party = value if isinstance(value, str) else int(value)  # type: ignore[call-overload]
            numbers = {_digits(number) for number in lines(party)}
            ok = _digits(record.calling if key == "from" else record.called) in numbers
        elif key == "text_contains":
            ok = record.sms_text is not None and \
                " ".join(str(value).split()) in " ".join(record.sms_text.split())
        elif key == "has_text":
            ok = (record.sms_text is not None) == value
        else:
            ok = getattr(record, key) == value
        if not ok:
            return False
    return True


def matches(expectation: Expectation, phone: int, event: Event) -> bool:
    """Does ``event`` (from ``phone``) satisfy the event expectation?"""
    if expectation.event is None or expectation.phone != phone or \
            type(event).__name__ != expectation.event:
        return False
    return all(getattr(event, key, object()) == value
               for key, value in expectation.where.items())


class FlowDriver:
    """Builds the app a flow needs (one handset, or a stage) and plays its steps."""

    def __init__(self, flow: Flow, data_dir: Path, *, deterministic: bool = True,
                 side=None) -> None:  # noqa: ANN001 - a widget beside a single phone
        from phone_tui.handset.device import load_device
        from phone_tui.modem.bus import Bus
        from phone_tui.modem.profiles import load_profiles
        from phone_tui.ui.stage_app import StageApp
        from phone_tui.ui.themes import load_themes

        self.flow = flow
        self.seeds = load_stage_seeds()
        profiles = load_profiles()
        if flow.profile not in profiles:
            raise StageError(f"{flow.path}: unknown link profile {flow.profile!r}")
        # Headless runs stop the clock (it moves only with `wait`), so every screen, the tap's
        # time stamps included, is the same on every run.
        from phone_tui.core.clock import ManualClock, SystemClock

        self.clock = ManualClock() if deterministic else SystemClock()
        clock = self.clock
        # Even one phone is a stage of one underneath: same set-up, PINs and controls.
        self.stage = Stage(data_dir / "flow", max(2, flow.handsets), clock=clock,
                           device=load_device(), seeds=self.seeds, deterministic=deterministic,
                           profile=flow.profile, persist_carrier=False)
        self.single = flow.handsets == 1
        if not deterministic:  # training: real audio on calls, as on the handset itself
            from phone_tui.media.audio import CallAudio, clip_path

            self.stage.set_audio(CallAudio(voice=clip_path()))
        self.app: App[None]
        # The intercept records' times are the phones' clock's (stopped in headless runs).
        network = Bus(random.Random(7), wall=clock.now)
        themes = load_themes(data_dir / "themes")
        if self.single:
            from phone_tui.ui.app import PhoneApp

            handset = self.stage.handsets[0]
            self.app = PhoneApp(handset, paths=handset.paths, settings=handset.settings,
                                themes=themes, theme=flow.theme, profiles=profiles,
                                network=network, side=side, when_ready=self._ready)
        else:
            self.app = StageApp(self.stage, themes=themes, theme=flow.theme, profiles=profiles,
                                network=network)
        self.size = SIZE_ONE if self.single else SIZE_STAGE
        self._network, self._profiles = network, profiles
        self.events: list[tuple[int, Event, float]] = []
        self.records: deque[tuple[IriRecord, float]] = deque(maxlen=RECORDS_KEPT)
        self._signal_back: dict[int, str] = {}
        self.on_ready: list = []  # called once the phones are on the network (in the app's loop)

    def _attach_single(self) -> None:
        """One phone in a PhoneApp: put the stage underneath it on the network (once)."""
        if self.single and self.handsets[0].modem is None:
            from phone_tui.handset.contacts import load_contacts

            # One phone: the stage's other phone is not there for the trainee to call.
            self.stage.attach(self._network, self._profiles, load_contacts(), peers=False)

    def _ready(self) -> None:
        self._attach_single()
        for callback in self.on_ready:
            callback()

    @classmethod
    def on_stage(cls, flow: Flow, app: App[None]) -> FlowDriver:
        """A driver for a flow played live on a running StageApp (``phone-tui demo --script``)."""
        driver = cls.__new__(cls)
        stage: Stage = app.stage  # type: ignore[attr-defined]
        driver.flow, driver.seeds, driver.stage, driver.app = flow, stage.seeds, stage, app
        driver.clock = stage.clock
        driver.single = False
        driver.size = SIZE_STAGE
        driver.events = []
        driver.records = deque(maxlen=RECORDS_KEPT)
        driver._signal_back = {}
        driver.listen()
        return driver

    async def prepare(self) -> None:
        await self.prepare_phones()
        self._attach_single()  # the StageApp attaches its phones itself
        self.listen()

    async def prepare_phones(self) -> None:
        """Set up the phones (no network yet: that needs the app's own event loop)."""
        await self.stage.prepare(leave_first=self.flow.start == "setup")
        for handset in self.handsets:
            if handset.running != self.flow.persona:
                handset.switch_persona(self.flow.persona)

    def listen(self) -> None:
        """Collect every phone's domain events (what expectations are checked against)."""
        for index, handset in enumerate(self.handsets):
            handset.events.listen(lambda event, phone=index + 1: self._on_event(phone, event))

    def _on_event(self, phone: int, event: Event) -> None:
        self.pull_records()  # the records made before this event, stamped before it
        self.events.append((phone, event, time.monotonic()))

    def pull_records(self) -> None:
        """Take the carrier's new intercept records, stamped now (monotonic time). Called on
        every event, action and check, so a record's stamp is at most one check late."""
        self.pull_caught()
        network = self.stage.network
        if network is None:
            return
        last = self.records[-1][0].seq if self.records else 0
        recent = network.intercept.recent
        if not recent or recent[-1].seq <= last:
            return
        now = time.monotonic()
        new = []
        for record in reversed(recent):  # bounded by the carrier's history
            if record.seq <= last:
                break
            new.append(record)
        self.records.extend((record, now) for record in reversed(new))

    def pull_caught(self) -> None:
        """Take what the fake base station caught since the last call, stamped now."""
        network = self.stage.network
        attacker = getattr(network, "attacker", None)
        if attacker is None:
            return
        seen = getattr(self, "_caught_total", 0)
        new = min(attacker.total - seen, len(attacker.recent))
        self._caught_total = attacker.total
        if new > 0:
            now = time.monotonic()
            caught = getattr(self, "caught", None)
            if caught is None:
                caught = self.caught = deque(maxlen=RECORDS_KEPT)
            caught.extend((record, now) for record in list(attacker.recent)[-new:])

    def _caught_matches(self, wanted: dict[str, object], record: AttackerRecord) -> bool:
        if "what" in wanted and record.what != wanted["what"]:
            return False
        if "phone" in wanted and record.phone not in self._lines(int(wanted["phone"])):  # type: ignore[call-overload]
            return False
        text = wanted.get("text_contains")
        return text is None or str(text) in record.text

    def _lines(self, phone: int | str) -> set[str]:
        if isinstance(phone, str):  # a seeded contact, by name (the flow checked it is one)
            return set(_contact_numbers().get(phone, ()))
        handset = self.stage.handsets[phone - 1]
        return {handset.line_number(persona) for persona in ("secure", "open")}

    @property
    def handsets(self) -> list[Handset]:
        return self.stage.handsets[:1] if self.single else self.stage.handsets

    def pending(self, step: Step, since: float) -> list[str]:
        """The expectations of ``step`` not met since ``since`` (monotonic time)."""
        self.pull_records()
        return [describe(e) for e in step.expect if not self._met(e, since)]

    def done_at(self, step: Step, since: float, checked: float) -> float:
        """When ``step``, now done, was done: the latest of the first events that met its
        event expectations since ``since``; a text on screen was met after the check before
        this one (``checked``), at the earliest."""
        times = [next((at for phone, event, at in self.events
                       if at >= since and matches(e, phone, event)), since)
                 for e in step.expect if e.event is not None]
        times += [next((at for record, at in self.records
                        if at >= since and record_matches(e.intercept, record, self._lines)),
                       since)
                  for e in step.expect if e.intercept is not None and not e.absent]
        times += [next((at for record, at in getattr(self, "caught", ())
                        if at >= since and self._caught_matches(e.attacker, record)), since)
                  for e in step.expect if e.attacker is not None and not e.absent]
        if not times or any(e.text is not None for e in step.expect):
            times.append(checked)
        return max(since, *times)

    def mistakes(self, step: Step, since: float) -> list[str]:
        """The step's `mistake` events that happened since ``since``: each in its own words
        (its `say`), else described."""
        self.pull_records()
        return [e.say or describe(e) for e in step.mistakes
                if (e.event is not None or e.intercept is not None or e.attacker is not None)
                and self._met(e, since)]

    def pin(self, persona: str, phone: int = 1) -> str:
        """The PIN the flow set phone ``phone``'s ``persona`` up with (from seeds/stage.toml)."""
        seed = self.seeds.phones[phone - 1]
        return seed.pin if persona == "secure" else seed.open_pin

    def view(self, phone: int) -> HandsetView:
        return self.app.query_one("#handset" if self.single else f"#handset-{phone}",
                                  HandsetView)

    def screen_text(self, phone: int) -> str:
        """What phone ``phone`` shows, as lines of text."""
        view = self.view(phone)
        region = view.region
        strips = self.app.screen._compositor.render_strips()
        lines = []
        for y in range(region.y, min(region.bottom, len(strips))):
            lines.append(strips[y].crop(region.x, region.right).text.rstrip())
        return "\n".join(lines)

    def whole_screen(self) -> str:
        return "\n".join(strip.text.rstrip()
                         for strip in self.app.screen._compositor.render_strips())

    # ---- actions -----------------------------------------------------------------------------

    async def act(self, pilot, action: Action) -> None:  # noqa: ANN001, C901 - one per kind
        self.pull_records()  # what came before the action is not what it made
        phone = action.phone
        handset = self.handsets[phone - 1]
        view = self.view(phone)
        if not self.single:
            self.app.set_active(phone - 1, focus=True)  # type: ignore[attr-defined]
            await pilot.pause()
        kind, value = action.kind, action.value
        # Keys go as a terminal sends a burst (the app keeps them in order, each after the one
        # before: KeyPacing), and the next action waits until they are handled and what they
        # started has ended: an unlock's Argon2id, as a person waits for it.
        if kind == "press":
            await press_at_once(pilot, value)
        elif kind == "type":
            await press_at_once(pilot, ["space" if ch == " " else ch for ch in value])
        elif kind == "unlock":
            await press_at_once(pilot, [*self.pin(handset.running, phone), "enter"])
        elif kind == "open":
            if value == "sms" and not handset.persona_info.plain_sms:
                raise StageError(f"phone {phone}'s {handset.persona_info.os_name} has no SMS "
                                 "app (removed by policy)")
            view.action_home()
            view.open_app(value)
        elif kind == "home":
            view.action_home()
        elif kind == "lock":
            view.action_lock()
        elif kind == "switch_os":
            view.switch_os(value)
        elif kind == "profile":
            targets = self.handsets if action.all else [handset]
            for target in targets:
                self.view(self.handsets.index(target) + 1).set_link_profile(value)
        elif kind == "airplane":
            view.set_airplane(value)
        elif kind == "signal":
            modem = handset.modem
            if modem is not None and value and phone in self._signal_back:
                handset.set_link_profile(self._signal_back.pop(phone))
            elif modem is not None and not value and phone not in self._signal_back:
                self._signal_back[phone] = modem.profile.name
                handset.set_link_profile("no-service")
        elif kind == "send":
            messenger = handset.messenger
            if messenger is None:
                raise StageError(f"phone {phone} is locked: unlock it before sending")
            messenger.send_text(self._number_of(action.to or "", handset), value)
        elif kind == "inject":
            number = handset.line_number(action.to) if action.to in ("secure", "open") \
                else handset.number
            bot_writes(self.stage.bots, number, self.seeds.injects[0])
        elif kind == "key_change":
            other = self.stage.handsets[phone % len(self.stage.handsets)]
            contact = self._first_contact_number(handset) if self.single else \
                other.line_number("secure")
            assert self.stage.network is not None
            carrier_impersonates(self.stage.network, handset, contact, self.seeds.impostor_text,
                                 entropy=self.stage.entropy, clock=self.stage.clock)
        elif kind == "mitm":
            if self.single:
                raise StageError("mitm needs a stage (handsets = 2 or more)")
            if value and self.stage.intercepted is None:
                self.stage.impersonate(phone - 1)
            elif not value and self.stage.intercepted is not None:
                self.stage.stop_intercepting()
        elif kind == "accept":
            messenger = handset.messenger
            if messenger is None:
                raise StageError(f"phone {phone} is locked: unlock it first")
            messenger.accept_identity(self._number_of(str(value), handset))
        elif kind == "sms":
            handset.send_sms(self._number_of(action.to or "", handset), value)
        elif kind == "fake_cell":
            self.stage.fake_cell(phone - 1, bool(value))
            # The stage's pane says so now, as F11 does (not at its next half-second refresh:
            # a screenshot right after would show it or not by timing).
            for pane in self.app.query("AttackerView"):
                pane.show_records()  # type: ignore[attr-defined]
        elif kind == "allow_2g":
            handset.set_allow_2g(bool(value))
        elif kind in ("call", "carrier_call", "answer", "decline", "hangup", "sas"):
            await self._call_action(pilot, phone, handset, kind, value)
        elif kind == "wait":
            if hasattr(self.clock, "advance"):
                self.clock.advance(value)
            await asyncio.sleep(value)
        await pilot.pause()

    async def _call_action(self, pilot, phone: int, handset: Handset, kind: str,  # noqa: ANN001
                           value: object) -> None:
        """A call action, as the person would do it on the phone's call screens."""
        calls = getattr(handset, "calls", None)
        if kind == "call":
            if calls is None:
                raise StageError(f"phone {phone} is locked: unlock it before calling")
            calls.dial(self._number_of(str(value), handset))
            return
        if kind == "carrier_call":
            if calls is None:
                raise StageError(f"phone {phone} is locked: unlock it before calling")
            calls.place_plain(self._number_of(str(value), handset))
            return
        info = calls.current if calls is not None else None
        if info is None or info.state == "ended":
            raise StageError(f"phone {phone} has no call to {kind}")
        if kind == "answer" and info.locked:
            await handset.answer_locked(self.pin(handset.running, phone))  # type: ignore[attr-defined]
        elif kind == "answer":
            calls.answer()  # type: ignore[union-attr]
        elif kind == "decline":
            calls.decline()  # type: ignore[union-attr]
        elif kind == "hangup":
            calls.hangup()  # type: ignore[union-attr]
        else:
            calls.confirm_sas(value == "match")  # type: ignore[union-attr]

    def _number_of(self, to: str, handset: Handset) -> str:
        if to.isdigit() and 1 <= int(to) <= len(self.stage.handsets):
            return self.stage.handsets[int(to) - 1].number
        messenger = handset.messenger
        contact = next((c for c in messenger.contacts() if c.name == to), None) \
            if messenger is not None else None
        if contact is None:
            raise StageError(f"no contact named {to!r}")
        return contact.number

    def _first_contact_number(self, handset: Handset) -> str:
        bots = [bot for bot in self.stage.bots if not bot.seed.echo]
        if not bots:
            raise StageError("no contact to impersonate")
        return bots[0].seed.number

    # ---- checks ------------------------------------------------------------------------------

    def _met(self, expectation: Expectation, since: float) -> bool:
        if expectation.attacker is not None:
            self.pull_caught()
            found = any(at >= since and self._caught_matches(expectation.attacker, record)
                        for record, at in getattr(self, "caught", ()))
            return found != expectation.absent
        if expectation.intercept is not None:
            self.pull_records()
            found = any(at >= since and record_matches(expectation.intercept, record,
                                                       self._lines)
                        for record, at in self.records)
            return found != expectation.absent
        if expectation.event is not None:
            return any(matches(expectation, phone, event)
                       for phone, event, at in self.events if at >= since)
        assert expectation.text is not None
        seen = " ".join(self.screen_text(expectation.phone).split())
        wanted = " ".join(expectation.text.split())
        return (wanted not in seen) if expectation.absent else (wanted in seen)

    async def run_step(self, pilot, step: Step) -> StepResult:  # noqa: ANN001
        self.pull_records()
        start = time.monotonic()
        try:
            # Nobody is at the keys: the trainee's part (`solution`) is played too.
            for action in (*step.do, *step.solution):
                await self.act(pilot, action)
        except PhoneTuiError as problem:
            return StepResult(step, False, [f"could not act: {problem}"],
                              time.monotonic() - start)
        deadline = start + step.timeout
        while True:
            await pilot.pause()
            missing = [describe(e) for e in step.expect if not self._met(e, start)]
            if not missing or time.monotonic() > deadline:
                break
            await asyncio.sleep(POLL)
        await self.app.workers.wait_for_complete()
        await pilot.pause()
        return StepResult(step, not missing, missing, time.monotonic() - start,
                          self.mistakes(step, start))


@dataclass
class RunReport:
    results: list[StepResult]
    differing: list[int] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.results) and not self.differing


async def _tap_caught_up(pilot, limit: float = 5.0) -> None:  # noqa: ANN001
    """Before a screen is saved: the stage's tap pane has read every frame carried so far, and
    its intercept view every record (on a loaded machine their readers, tasks of their own,
    can be one behind)."""
    import time as _time

    from phone_tui.ui.widgets.intercept_view import InterceptView
    from phone_tui.ui.widgets.tap_view import TapView

    panes = [*pilot.app.query(TapView), *pilot.app.query(InterceptView)]
    deadline = _time.monotonic() + limit
    while any(not pane.caught_up for pane in panes) and _time.monotonic() < deadline:
        await pilot.pause(0.01)
    if panes:
        await pilot.pause()


async def run_flow(flow: Flow, data_dir: Path, *, snapshots: Path | None = None,
                   check: Path | None = None, on_step=None,  # noqa: ANN001
                   shots: Path | None = None) -> RunReport:
    """Play ``flow`` headless in deterministic mode; write ``step-NN.svg`` (and the screen as
    text) after each step to ``snapshots``; compare with ``check``'s stored ones."""
    driver = FlowDriver(flow, data_dir)
    await driver.prepare()
    report = RunReport([])
    async with driver.app.run_test(size=driver.size) as pilot:
        await driver.app.workers.wait_for_complete()
        await pilot.pause()
        for step in flow.steps:
            result = await driver.run_step(pilot, step)
            report.results.append(result)
            if on_step is not None:
                on_step(result)
            if snapshots is not None or (shots is not None and step.shot):
                await _tap_caught_up(pilot)
            if snapshots is not None:
                report.written += _save(driver, step.number, snapshots)
            if shots is not None and step.shot and result.passed:
                shots.mkdir(parents=True, exist_ok=True)
                shot = shots / f"{step.shot}.svg"
                shot.write_text(driver.app.export_screenshot(title="phone-tui"),
                                encoding="utf-8")
                report.written.append(shot)
            if check is not None and _differs(driver, step.number, check):
                report.differing.append(step.number)
            if not result.passed:
                break
    if check is not None:
        _write_diff_report(driver, report, check, snapshots)
    return report


def _save(driver: FlowDriver, number: int, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    svg, txt = folder / f"step-{number:02d}.svg", folder / f"step-{number:02d}.txt"
    svg.write_text(driver.app.export_screenshot(title=f"{driver.flow.id} step {number}"),
                   encoding="utf-8")
    txt.write_text(driver.whole_screen() + "\n", encoding="utf-8")
    return [svg, txt]


def _differs(driver: FlowDriver, number: int, baseline: Path) -> bool:
    """The stored SVG is the reference (colours count); the text beside it explains a diff."""
    stored = baseline / f"step-{number:02d}.svg"
    now = driver.app.export_screenshot(title=f"{driver.flow.id} step {number}")
    return not stored.exists() or stored.read_text(encoding="utf-8") != now


def _write_diff_report(driver: FlowDriver, report: RunReport, baseline: Path,
                       snapshots: Path | None) -> None:
    """A text report of the steps whose screen differs (beside the new snapshots, if any)."""
    if not report.differing or snapshots is None:
        return
    lines = [f"Flow {driver.flow.id}: {len(report.differing)} step(s) differ from {baseline}", ""]
    for number in report.differing:
        stored = baseline / f"step-{number:02d}.txt"
        old = stored.read_text(encoding="utf-8").splitlines() if stored.exists() else []
        new = (snapshots / f"step-{number:02d}.txt").read_text(encoding="utf-8").splitlines()
        lines += list(difflib.unified_diff(old, new, f"{stored}", f"step {number} now",
                                           lineterm=""))
        lines.append("")
    (snapshots / "report.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")

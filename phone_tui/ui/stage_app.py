"""StageApp: several handsets side by side on one network, the operator tap below, and the
presenter's controls (keys and the command palette)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Button, ProgressBar, Static

from phone_tui.core.resources import themes_dir
from phone_tui.errors import PhoneTuiError
from phone_tui.handset.stage import ResetStep, Stage
from phone_tui.ui import bindings
from phone_tui.ui.app import DETERMINISTIC_BANNER
from phone_tui.ui.handset_view import FRAME_WIDTH, MIN_HEIGHT, HandsetView
from phone_tui.ui.key_pacing import KeyPacing
from phone_tui.ui.keys_help import KeysHelp
from phone_tui.ui.themes import (
    VARIABLE_DEFAULTS,
    ThemeCatalog,
    derived_variables,
    start_with_theme,
)
from phone_tui.ui.widgets.attacker_view import AttackerView
from phone_tui.ui.widgets.button_row import ButtonRow, RowButton
from phone_tui.ui.widgets.footer import PhoneFooter
from phone_tui.ui.widgets.intercept_view import InterceptView
from phone_tui.ui.widgets.presenter_status import PresenterStatus
from phone_tui.ui.widgets.tap_view import TapView

if TYPE_CHECKING:
    from collections.abc import Iterable

    from textual.notifications import SeverityLevel

    from phone_tui.modem.bus import Bus
    from phone_tui.modem.intercept_log import InterceptLog
    from phone_tui.modem.profiles import LinkProfile

SLOT_WIDTH = FRAME_WIDTH + 2
PRESENTER_ACTIONS = frozenset(binding.action for binding in bindings.STAGE)
WIDE = 120  # from this many columns, phones stand side by side; below, one at a time
# Below this many columns the presenter's footer (eight keys) is cut and the tap's lines too.
MIN_WIDTH = 100
TAP_MIN_HEIGHT = 5  # TapView's min-height: its caption, filter and a few frames
STATUS_HEIGHT = 1  # the presenter status line between the phones and the tap


# Why a phone refused a cell, short: the presenter's status line is one row.
REFUSAL_REASONS = {"downgrade_2g": "2G", "rat_not_allowed": "a RAT its policy bars",
                   "null_cipher": "no cipher", "cipher_not_allowed": "a cipher it bars",
                   "no_network_authentication": "no network authentication",
                   "identity_request": "asked for the IMSI"}


def refusal_reasons(before: list, after: list) -> list[str]:
    """The short reasons of the refusals in ``after`` (a phone's network log) that are not in
    ``before`` (the log before the fake cell came), each once, in their order."""
    seen = {id(entry) for entry in before}
    reasons: list[str] = []
    for entry in after:
        reason = REFUSAL_REASONS.get(getattr(entry, "kind", ""))
        if id(entry) not in seen and reason and reason not in reasons:
            reasons.append(reason)
    return reasons


def _stage_commands():  # noqa: ANN202 - loaded when the palette first opens
    from phone_tui.ui.stage_commands import StageCommands

    return StageCommands


def _handset_commands():  # noqa: ANN202
    from phone_tui.ui.commands import HandsetCommands

    return HandsetCommands


class StageSlot(Vertical):
    """One phone on stage: who holds it (and the demo PINs), and the handset."""

    DEFAULT_CSS = f"""
    StageSlot {{ width: {SLOT_WIDTH}; height: 100%; }}
    StageSlot .slot-caption {{ width: 100%; height: 1; text-align: center; color: $text-muted; }}
    StageSlot.-active .slot-caption {{ background: $primary; color: $text; text-style: bold; }}
    StageSlot HandsetView {{ height: 1fr; }}
    StageSlot.-active HandsetView #frame {{ border: heavy $accent; }}
    """

    def __init__(self, index: int, caption: str, view: HandsetView) -> None:
        super().__init__(id=f"slot-{index + 1}")
        self.index = index
        self.caption = caption
        self.handset_view = view

    def compose(self) -> ComposeResult:
        yield Static(self.caption, classes="slot-caption")
        yield self.handset_view

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self.app.set_active(self.index)  # type: ignore[attr-defined]

    def on_click(self, event: events.Click) -> None:
        self.app.set_active(self.index)  # type: ignore[attr-defined]


class StageScreen(Screen[None]):
    """Only the active phone takes the keyboard. Each phone's views focus their own controls
    as they appear (the lock screen its PIN pad...); on a stage that would let a phone in the
    background steal the keys typed for the one in front."""

    def set_focus(self, widget: Widget | None, scroll_visible: bool = True,
                  from_app_focus: bool = False) -> None:
        if widget is not None and not self.app.may_focus(widget):  # type: ignore[attr-defined]
            return
        super().set_focus(widget, scroll_visible, from_app_focus)

    def on_resize(self, event: events.Resize) -> None:
        self.app.lay_out()  # type: ignore[attr-defined]


class ConfirmReset(ModalScreen[bool]):
    """Resetting wipes every demo phone: ask first. Over the stage, dimmed; Reset has the
    focus (the presenter asked for it: Enter goes ahead, Escape does not)."""

    DEFAULT_CSS = """
    ConfirmReset { align: center middle; }
    ConfirmReset > Vertical { width: 56; height: auto; border: heavy $warning; padding: 1 2;
                              background: $surface; }
    ConfirmReset Horizontal { height: auto; align-horizontal: center; margin-top: 1; }
    ConfirmReset Button { margin: 0 1; }
    """
    AUTO_FOCUS = "#reset-go"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="stage.reset_cancel")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("[b]Reset the stage?[/]\n\nEvery demo phone is wiped and set up again "
                         "with its demo PINs: new keys, no conversations, the tap cleared.")
            with ButtonRow():
                yield RowButton("Reset", id="reset-go", variant="error")
                yield RowButton("Cancel", id="reset-cancel")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "reset-go")

    def action_cancel(self) -> None:
        self.dismiss(False)


class ResetProgressScreen(ModalScreen[None]):
    """The reset under way, over the dimmed stage: the step and a bar. It takes the keys
    meanwhile, so none reach a phone that is being wiped."""

    DEFAULT_CSS = """
    ResetProgressScreen { align: center middle; }
    ResetProgressScreen > Vertical { width: 56; height: auto; border: heavy $warning;
                                     padding: 1 2; background: $surface; }
    ResetProgressScreen #reset-step { width: 100%; height: 1; margin-top: 1; }
    ResetProgressScreen ProgressBar { width: 100%; margin-top: 1; }
    ResetProgressScreen Bar { width: 1fr; }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("[b]Resetting the stage[/]")
            yield Static("Starting…", id="reset-step")
            yield ProgressBar(id="reset-bar", show_eta=False)

    def show_step(self, step: ResetStep) -> None:
        self.query_one("#reset-step", Static).update(step.text)
        self.query_one("#reset-bar", ProgressBar).update(total=step.total, progress=step.done)


class StageApp(KeysHelp, KeyPacing, App[None]):
    """The demo stage. Built by ``phone-tui demo`` (or tests) from a prepared Stage."""

    TITLE = "phone-tui demo"
    CSS_PATH = str(themes_dir() / "handset.tcss")
    CSS = """
    #stage-phones { height: auto; align-horizontal: center; }
    #stage-switcher { height: 1; width: 100%; text-align: center; display: none;
                      background: $panel; }
    StageApp.-narrow #stage-switcher { display: block; }
    #stage-too-small { width: 100%; height: 1fr; content-align: center middle;
                       text-align: center; color: $text-warning; display: none; }
    StageApp.-too-small #stage-too-small { display: block; }
    StageApp.-too-small #stage-phones, StageApp.-too-small #stage-switcher,
    StageApp.-too-small #stage-status, StageApp.-too-small #tap,
    StageApp.-too-small #intercept { display: none; }
    #intercept { display: none; }
    StageApp.-intercept #tap { display: none; }
    StageApp.-intercept #intercept { display: block; }
    StageApp.-intercept.-too-small #intercept { display: none; }
    /* The attacker's pane and the tap (or the intercept list) share what the phones leave,
       half each (AttackerView is 1fr too); on a short terminal the tap keeps a few rows. */
    #tap, #intercept { min-height: 4; }
    #attacker { min-height: 2; }
    """
    BINDINGS = bindings.APP + bindings.STAGE + bindings.SCRIPT + bindings.KEYS
    COMMANDS = App.COMMANDS | {_stage_commands, _handset_commands}
    AUTO_FOCUS = None

    def __init__(self, stage: Stage, *, themes: ThemeCatalog, theme: str | None = None,
                 profiles: dict[str, LinkProfile], network: Bus,
                 contacts: list | None = None, script=None,  # noqa: ANN001
                 intercept_log: InterceptLog | None = None) -> None:
        """``intercept_log``: every intercept record is appended to it as it is made."""
        super().__init__()
        self.intercept_log = intercept_log
        self.script = script  # a ScriptPanel when playing a flow
        self.stage = stage
        self.catalog = themes
        self._profiles = profiles
        self._network = network
        self._contacts = contacts
        self.active = 0
        self.phones_shown = len(stage.handsets)
        # Stage-level messages (presenter keys, reset, bots) go here, not into toasts.
        self.presenter_status: PresenterStatus | None = None
        if stage.deterministic:
            self.animation_level = "none"
        for theme_obj in themes.themes.values():
            self.register_theme(theme_obj)
        start_with_theme(self, theme if theme in themes.themes else "secure")

    def get_default_screen(self) -> Screen[None]:
        return StageScreen()

    def may_focus(self, widget: Widget) -> bool:
        """Widgets outside the phones, and those of the active phone, may take focus."""
        for ancestor in widget.ancestors_with_self:
            if isinstance(ancestor, HandsetView):
                return ancestor.id == f"handset-{self.active + 1}"
        return True

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return {**super().get_theme_variable_defaults(), **VARIABLE_DEFAULTS}

    def get_css_variables(self) -> dict[str, str]:
        self.theme_variables = derived_variables(super().get_css_variables())
        return self.theme_variables

    def compose(self) -> ComposeResult:
        if self.stage.deterministic:
            yield Static(DETERMINISTIC_BANNER, id="deterministic-banner")
        if self.script is not None:
            yield self.script
        yield Static("", id="stage-switcher")
        with Horizontal(id="stage-phones"):
            for index, handset in enumerate(self.stage.handsets):
                phone = self.stage.phones[index]
                caption = f"{index + 1} {phone.name} · PIN {phone.pin} · open {phone.open_pin}"
                yield StageSlot(index, caption, HandsetView(handset, id=f"handset-{index + 1}"))
        self.presenter_status = PresenterStatus(self.stage.clock, id="stage-status")
        yield self.presenter_status
        yield TapView(self.stage.clock, id="tap")
        yield InterceptView(id="intercept")
        yield AttackerView(self.stage.clock, id="attacker")
        yield Static("", id="stage-too-small")
        yield PhoneFooter(only=bindings.STAGE_FOOTER)

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Stage-level messages go to the presenter status line, not a toast over the tap.
        Plain text unless asked: they quote files and errors, whose brackets ("[keymap]", a
        key's name) are words, not markup to drop."""
        if self.presenter_status is not None and self.presenter_status.is_mounted:
            self.presenter_status.show(message, title=title, severity=severity,
                                       timeout=timeout, markup=markup)
        else:  # before the stage is on screen, or after it has gone
            super().notify(message, title=title, severity=severity, timeout=timeout,
                           markup=markup)

    def on_mount(self) -> None:
        self.query_one("#stage-phones").styles.height = MIN_HEIGHT + 1
        self.set_active(0)
        self.call_after_refresh(self.set_active, 0, focus=True)

    def on_ready(self) -> None:
        from phone_tui.handset.contacts import load_contacts

        contacts = self._contacts
        if contacts is None:
            try:
                contacts = load_contacts()
            except PhoneTuiError as problem:
                self.notify(f"{problem} — no bots.", title="Contacts", severity="error")
                contacts = []
        intercept = self._network.intercept
        # Before the phones register: their first records go in the log and the view too.
        self.query_one(InterceptView).watch_intercept(intercept)
        if self.intercept_log is not None:
            self._logging = asyncio.get_running_loop().create_task(
                self.intercept_log.follow(intercept))
            self._logging.add_done_callback(self._intercept_log_stopped)
        try:
            self.stage.attach(self._network, self._profiles, contacts)
        except PhoneTuiError as problem:  # the bots' stores (the phones are on the network)
            self.notify(f"{problem} — no bots.", title="Bots", severity="error", timeout=15)
        names = self.stage.name_directory()  # the bots' too, now they are attached
        self.query_one(TapView).watch_tap(self._network.tap, names=names)
        self.query_one(InterceptView).set_names(names)
        self.query_one(AttackerView).watch(
            self._network.attacker, names=names,
            is_on=lambda: any(self.stage.fake_cell_on(i) for i in range(len(self.stage.handsets))))
        if self.script is not None:
            from phone_tui.ui.flow_runner import FlowDriver

            for handset in self.stage.handsets:
                if handset.running != self.script.flow.persona:
                    handset.switch_persona(self.script.flow.persona)
            self.script.attach(FlowDriver.on_stage(self.script.flow, self))
        for view in self.handset_views():
            view.refresh_status()

    def _intercept_log_stopped(self, _task: asyncio.Task[None]) -> None:
        stopped = self.intercept_log.stopped if self.intercept_log is not None else None
        if stopped is not None:
            self.notify(stopped, title="Intercept log", severity="warning", timeout=15)

    # ---- the phones on stage -------------------------------------------------------------------

    def handset_views(self) -> Iterable[HandsetView]:
        return self.query(HandsetView)

    def active_handset_view(self) -> HandsetView:
        return self.query_one(f"#handset-{self.active + 1}", HandsetView)

    def keys_busy(self) -> bool:
        # The phone the keys go to catching up with one (a view opening, an unlock).
        if not self.screen_stack or self.screen is not self.screen_stack[0]:
            return False
        try:
            view = self.active_handset_view()
        except Exception:  # noqa: BLE001 - not composed yet
            return False
        return view.keys_busy

    def set_active(self, index: int, *, focus: bool = False) -> None:
        """Make phone ``index`` the one keys and presenter controls go to."""
        changed = index != self.active
        self.active = index
        for slot in self.query(StageSlot):
            slot.set_class(slot.index == index, "-active")
        self.lay_out()
        if focus or changed:
            view = self.active_handset_view()
            top = view.top
            if top is not None and top.is_mounted:
                top.focus_default()
            else:
                view.focus()

    def lay_out(self) -> None:
        """Side by side when wide enough, else one at a time with a switcher."""
        count = len(self.stage.handsets)
        width = self.size.width
        self.phones_shown = 1 if width < WIDE else max(1, min(count, width // SLOT_WIDTH))
        start = min(max(0, self.active - self.phones_shown + 1), count - self.phones_shown)
        if not start <= self.active < start + self.phones_shown:
            start = self.active
        for slot in self.query(StageSlot):
            slot.display = start <= slot.index < start + self.phones_shown
        narrow = self.phones_shown < count
        self.set_class(narrow, "-narrow")
        names = "   ".join(
            f"[reverse] {i + 1} {phone.name} [/]" if i == self.active else f"{i + 1} {phone.name}"
            for i, phone in enumerate(self.stage.phones))
        self.query_one("#stage-switcher", Static).update(f"F3 next phone:  {names}")
        self._say_if_too_small(narrow)

    def minimum_size(self, narrow: bool) -> tuple[int, int]:
        """What the stage needs: a phone (the others one at a time behind the switcher), the
        presenter status line, the tap, the footer, and the banner and script when shown."""
        height = MIN_HEIGHT + 1 + STATUS_HEIGHT + TAP_MIN_HEIGHT + 1 + (1 if narrow else 0)
        if self.stage.deterministic:
            height += 1
        if self.script is not None:
            height += self.script.outer_size.height + self.script.styles.margin.height
        return max(MIN_WIDTH, SLOT_WIDTH), height

    def _say_if_too_small(self, narrow: bool) -> None:
        need_width, need_height = self.minimum_size(narrow)
        width, height = self.size
        small = width < need_width or height < need_height
        if self.has_class("-too-small") and not small:
            # Hidden, the phones lost the keyboard: back to the one in front once shown.
            self.call_after_refresh(self._refocus_if_lost)
        self.set_class(small, "-too-small")
        if small:
            self.query_one("#stage-too-small", Static).update(
                f"Terminal too small for the stage\nneed {need_width}×{need_height}, "
                f"have {width}×{height}")

    def _refocus_if_lost(self) -> None:
        if self.focused is None and self.screen is self.screen_stack[0]:
            self.set_active(self.active, focus=True)

    def action_next_phone(self) -> None:
        self.set_active((self.active + 1) % len(self.stage.handsets), focus=True)

    # ---- presenter controls --------------------------------------------------------------------

    def _control(self, what: str, action) -> None:  # noqa: ANN001
        try:
            message = action()
        except PhoneTuiError as problem:
            self.notify(str(problem), title=what, severity="warning")
        else:
            if message:
                self.notify(message, title=what)

    def _phone_name(self, index: int | None = None) -> str:
        return self.stage.name_of(self.active if index is None else index)

    def set_profile(self, name: str, index: int | None = None) -> None:
        who = "All phones" if index is None else self._phone_name(index)
        label = self._profiles[name].label if name in self._profiles else name
        self._control("Link profile", lambda: self.stage.set_profile(name, index)
                      or f"{who}: {label}")

    def action_next_profile(self) -> None:
        """Every phone to the next link profile in the list."""
        names = [name for name in self._profiles if name != "no-service"]
        current = self.stage.handsets[0].modem
        now = current.profile.name if current is not None else names[0]
        following = names[(names.index(now) + 1) % len(names)] if now in names else names[0]
        self.set_profile(following)

    def action_drop_signal(self, index: int | None = None) -> None:
        index = self.active if index is None else index
        self._control("Signal", lambda: f"{self._phone_name(index)}: " + (
            "signal back" if self.stage.toggle_signal(index) else "signal dropped"))

    def action_airplane(self, index: int | None = None) -> None:
        index = self.active if index is None else index
        self._control("Airplane mode", lambda: f"{self._phone_name(index)}: airplane mode " + (
            "on" if self.stage.toggle_airplane(index) else "off"))

    def action_inject(self, index: int | None = None) -> None:
        index = self.active if index is None else index
        self._control("Message", lambda: f"{self.stage.inject(index)} wrote to "
                                          f"{self._phone_name(index)}.")

    def action_impersonate(self, index: int | None = None) -> None:
        """The carrier steps into the middle between this phone and the next, or out again."""
        index = self.active if index is None else index
        self._control("Man in the middle", lambda: self._man_in_the_middle(index))

    def _man_in_the_middle(self, index: int) -> str:
        left = self.stage.stop_intercepting()
        if left is not None:
            return (f"The carrier left the middle of {left[0]} and {left[1]}: they talk "
                    "direct again.")
        other = self.stage.impersonate(index)
        # Short: the stage's status line is one row (it was cut at 140 columns).
        return (f"Carrier in the middle of {self._phone_name(index)} and {other}: new keys "
                "for both; their calls go through it.")

    def action_fake_cell(self, index: int | None = None) -> None:
        """The fake base station next to this phone, on or off (Stage.fake_cell)."""
        index = self.active if index is None else index

        def toggle() -> str:
            handset = self.stage.handsets[index]
            before = handset.network_log()
            on = self.stage.fake_cell(index)
            self.query_one(AttackerView).show_records()
            cell = handset.camped
            where = f"camped on {cell.name} ({cell.label})" if cell is not None else "no cell"
            reasons = refusal_reasons(before, handset.network_log())
            if on and reasons and (cell is None or not cell.rogue):
                stays = f"stays on {cell.name}" if cell is not None else "no cell"
                return (f"Fake base station on next to {self._phone_name(index)}: refused it "
                        f"({', '.join(reasons)}): {stays}.")
            return (f"Fake base station {'on' if on else 'off'} next to "
                    f"{self._phone_name(index)}: {where}.")

        self._control("Fake base station", toggle)

    def action_call(self, index: int | None = None) -> None:
        index = self.active if index is None else index
        self._control("Call", lambda: f"{self._phone_name(index)} is calling "
                                       f"{self.stage.call(index)}.")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("script_next", "script_back"):
            return self.script is not None
        # While the phones are being wiped and set up again, the presenter's keys wait.
        return not (isinstance(self.screen, ResetProgressScreen)
                    and action in PRESENTER_ACTIONS)

    def action_script_next(self) -> None:
        if self.script is not None:
            self.script.next()

    def action_script_back(self) -> None:
        if self.script is not None:
            self.script.back()

    def action_toggle_tap(self) -> None:
        paused = self.query_one(TapView).toggle_pause()
        self.notify("Tap paused: frames wait." if paused else "Tap live.", title="Operator tap")

    def action_tap_all_frames(self) -> None:
        every = self.query_one(TapView).toggle_all_frames()
        self.notify("Every frame: acknowledgements, keep-alives and calls' control frames too."
                    if every else
                    "Messages, plain SMS, call control and reports only.",
                    title="Operator tap")

    @property
    def intercept_shown(self) -> bool:
        return self.has_class("-intercept")

    def action_tap_mode(self) -> None:
        """The tap pane shows frames, or the lawful-intercept records (the list takes the keys:
        arrows and Enter for a record's details; F12 again gives them back to the phone)."""
        shown = not self.intercept_shown
        self.set_class(shown, "-intercept")
        if shown:
            self.query_one(InterceptView).focus_list()
        else:
            self.set_active(self.active, focus=True)
        self.notify("Intercept records (HI2/HI3): \u2191\u2193 and Enter for a record's "
                    "details, x exports them." if shown else "Tap: frames.",
                    title="Tap pane")

    def action_export_intercept(self) -> None:
        """This session's intercept records as JSON lines in a new file of the stage folder."""
        from datetime import UTC, datetime

        from phone_tui.core.paths import ensure_private_dir

        stamp = datetime.fromtimestamp(self.stage.clock.now(), UTC).strftime("%Y%m%d-%H%M%S")
        intercept = self._network.intercept
        # Beside the stage folder, not in it: a reset or --fresh leaves the exports alone.
        folder = self.stage.root.parent / "intercept"
        try:
            ensure_private_dir(folder)
        except OSError as problem:
            self.notify(f"{folder}: {problem.strerror or problem}", title="Intercept export",
                        severity="error")
            return
        for attempt in range(1, 100):
            name = f"intercept-{stamp}.jsonl" if attempt == 1 else \
                f"intercept-{stamp}-{attempt}.jsonl"
            path = folder / name
            try:
                count = intercept.export(path)
            except FileExistsError:
                continue  # never over a file: the next name
            except OSError as problem:
                self.notify(f"{path}: {problem.strerror or problem}", title="Intercept export",
                            severity="error")
                return
            self.notify(f"{count} intercept records written to {path}",
                        title="Intercept export")
            return
        self.notify(f"{folder}: too many exports this second; try again",
                    title="Intercept export", severity="warning")

    def action_reset_stage(self) -> None:
        if not isinstance(self.screen, ConfirmReset | ResetProgressScreen):
            self.push_screen(ConfirmReset(), self._reset_answer)

    def _reset_answer(self, yes: bool | None) -> None:
        if yes:
            self._reset()

    @work(exclusive=True, group="stage-reset")
    async def _reset(self) -> None:
        # The slow parts (Argon2id for each persona) run in threads inside the model, so the
        # screen keeps drawing the steps.
        screen = ResetProgressScreen()
        await self.push_screen(screen)
        try:
            await self.stage.reset(progress=screen.show_step)
        except PhoneTuiError as problem:
            self.notify(f"{problem}", title="Stage reset failed", severity="error", timeout=15)
            return
        finally:
            self.query_one(TapView).clear()
            self.query_one(InterceptView).clear()
            for view in self.handset_views():
                view.boot_finished()
            if self.screen is screen:
                self.pop_screen()
        self.notify("The stage is ready: every phone new and locked.", title="Stage")

    # ---- themes (for the whole stage) ----------------------------------------------------------

    def phone_theme_names(self) -> list[str]:
        return sorted(self.catalog.themes)

    def apply_theme(self, name: str, *, save: bool = False) -> None:
        if name in self.catalog.themes:
            self.theme = name

    def action_next_theme(self) -> None:
        names = self.phone_theme_names()
        index = names.index(self.theme) if self.theme in names else -1
        self.apply_theme(names[(index + 1) % len(names)])

    def pointer_pressed(self, event: events.MouseDown) -> None:
        # A click on another phone makes it the active one before focus moves there; its turn
        # comes after the keys typed before it (KeyPacing), which are the phone in front's.
        if self.screen is not self.screen_stack[0]:
            return
        try:
            widget, _ = self.screen.get_widget_at(event.screen_x, event.screen_y)
        except Exception:  # noqa: BLE001 - outside every widget
            widget = None
        slot = next((a for a in widget.ancestors_with_self if isinstance(a, StageSlot)),
                    None) if widget is not None else None
        if slot is not None and slot.index != self.active:
            self.set_active(slot.index)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key | events.MouseDown) and self.screen_stack:
            # (No screen: the stage is closing, a key still in its queue.)
            self.active_handset_view().handset.touch()
        await super().on_event(event)

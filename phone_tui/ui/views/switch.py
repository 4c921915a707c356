"""Switching OS: the two OSes as cards, the confirmation, and the boot sequence."""

from __future__ import annotations

import math

from textual import events, on
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Button, Static

from phone_tui.core.config import PERSONAS
from phone_tui.handset.device import RADIOS
from phone_tui.handset.handset import RADIO_NAMES, HandsetState
from phone_tui.ui import bindings
from phone_tui.ui.views.base import PhoneView, set_text
from phone_tui.ui.widgets.button_row import ButtonRow, RowButton

STATE_LABELS = {HandsetState.UNLOCKED: "unlocked", HandsetState.LOCKED: "locked",
                HandsetState.SETUP: "not set up"}


class OsCard(Static, can_focus=True):
    """One OS: name, state, number, radios and (for the one not running) messages waiting."""

    # A binding, not a key handler: the Enter that chooses must not also reach the Switch
    # button of the confirmation that replaces this view.
    BINDINGS = bindings.OS_CARD

    DEFAULT_CSS = """
    OsCard { width: 100%; height: auto; border: round $foreground 30%; padding: 0 1;
             margin-bottom: 1; }
    OsCard:focus { border: double $primary; background: $boost; }
    OsCard:hover { background: $boost; }
    OsCard.-running { border-title-color: $success; }
    """

    class Chosen(Message):
        def __init__(self, persona: str) -> None:
            super().__init__()
            self.persona = persona

    def __init__(self, persona: str) -> None:
        super().__init__(id=f"os-{persona}")
        self.persona = persona

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.post_message(self.Chosen(self.persona))

    def action_choose(self) -> None:
        self.post_message(self.Chosen(self.persona))


class SwitchView(PhoneView):
    """Both OSes; choosing the one that is not running asks to switch."""

    TITLE = "Switch OS"
    BINDINGS = bindings.SWITCH_CARDS
    DEFAULT_CSS = """
    SwitchView #switch-note { height: auto; color: $text-muted; }
    """

    def __init__(self) -> None:
        super().__init__(id="switch")

    def compose(self) -> ComposeResult:
        yield self.title_label()
        for persona in self._order():
            yield OsCard(persona)
        yield Static("Enter or click the other OS to switch. Only one OS runs at a time: the "
                     "other's keys are not in memory and the network holds its messages.",
                     id="switch-note")

    def _order(self) -> list[str]:
        handset = self.handset
        return [handset.running] + [p for p in PERSONAS if p != handset.running]

    def on_mount(self) -> None:
        self.refresh_cards()

    def focus_default(self) -> None:
        # At once, not after the queued keys (Widget.focus waits its turn): the arrows of a
        # burst that returns here (Escape from the confirmation) act on the cards.
        self.screen.set_focus(self.query_one(f"#os-{self.handset.other}", OsCard))

    def action_move_card(self, step: int) -> None:
        """Focus the card above or below the focused one; the arrows never leave the cards
        (at either end they stay), so Enter always has a card to act on."""
        cards = list(self.query(OsCard))
        focused = self.screen.focused
        index = cards.index(focused) if focused in cards else cards.index(
            self.query_one(f"#os-{self.handset.other}", OsCard))
        # set_focus at once: the next arrow of a burst starts from this card.
        self.screen.set_focus(cards[max(0, min(len(cards) - 1, index + step))])

    def tick(self) -> None:
        self.refresh_cards()

    def on_model_event(self, event: object) -> None:
        self.refresh_cards()

    def refresh_cards(self) -> None:
        handset = self.handset
        show_count = handset.settings.show_waiting_count
        for card in self.query(OsCard):
            name = card.persona
            info = handset.device.personas[name]
            running = name == handset.running
            state = STATE_LABELS[handset.state_of(name)]
            lines = [f"[b]{info.os_name} {info.os_version}[/]",
                     f"{'● running' if running else '○ not running'} · {state}",
                     f"[$text-muted]{handset.line_number(name)}[/]"]
            lines.append(f"[$text-muted]{self._radios_line(running)}[/]")
            if not running:
                if not show_count:
                    lines.append("[$text-muted]waiting messages: hidden[/]")
                else:
                    waiting = handset.waiting_for(name)
                    plural = "" if waiting == 1 else "s"
                    lines.append(f"[b $warning]✉ {waiting} message{plural} waiting[/]"
                                 if waiting else "no messages waiting")
            set_text(card, "\n".join(lines))
            card.set_class(running, "-running")
            card.border_title = "running" if running else "switch to"

    def _radios_line(self, running: bool) -> str:
        """The radios that are on, as the status bar shows them: the cellular line unless in
        airplane mode, then each radio switched on. An OS that is not running has none on
        (its line stays off while the other OS runs)."""
        handset = self.handset
        if not running:
            return "radios: off"
        modem = handset.modem
        on = [] if modem is None or modem.airplane else ["cellular"]
        on += [RADIO_NAMES[radio] for radio in RADIOS if handset.radio_on(radio)]
        return "radios: " + (", ".join(on) if on else "off")

    @on(OsCard.Chosen)
    def _chosen(self, event: OsCard.Chosen) -> None:
        event.stop()
        if event.persona == self.handset.running:
            info = self.handset.persona_info
            self.notify(f"{info.os_name} is already running.", title="Switch OS")
            return
        self.handset_view.push(SwitchConfirmView(event.persona))


class SwitchConfirmView(PhoneView):
    """Say what switching does, then do it (or not)."""

    TITLE = "Switch OS?"
    DEFAULT_CSS = """
    SwitchConfirmView #switch-warning { height: auto; margin-bottom: 1; }
    SwitchConfirmView Horizontal { height: auto; align-horizontal: center; }
    SwitchConfirmView Horizontal Button { margin: 0 1; }
    """

    def __init__(self, target: str) -> None:
        super().__init__(id="switch-confirm")
        self.target = target

    def compose(self) -> ComposeResult:
        handset = self.handset
        here = handset.persona_info
        there = handset.device.personas[self.target]
        fresh = handset.state_of(self.target) is HandsetState.SETUP
        text = (f"Switch to [b]{there.os_name}[/]?\n\n"
                f"{here.os_name} locks now and its keys leave memory; what is open in it "
                f"closes. Messages to {handset.line_number(handset.running)} wait in the "
                f"network until you switch back.\n\n"
                f"{there.os_name} starts at its {'first-run setup' if fresh else 'lock screen'} "
                f"with its own PIN.")
        yield self.title_label()
        yield Static(text, id="switch-warning")
        with ButtonRow():
            yield RowButton("Switch", id="switch-go", variant="warning")
            yield RowButton("Cancel", id="switch-cancel")

    def focus_default(self) -> None:
        self.focus_now(self.query_one("#switch-go", Button))

    @on(Button.Pressed, "#switch-go")
    def _go(self, event: Button.Pressed) -> None:
        event.stop()
        self.handset_view.switch_os(self.target)

    @on(Button.Pressed, "#switch-cancel")
    def _cancel(self, event: Button.Pressed) -> None:
        event.stop()
        self.handset_view.pop()


class BootView(PhoneView, can_focus=True):
    """The target OS booting: its steps with a progress bar. Any key (or a click) skips."""

    BACK = False
    BINDINGS = bindings.BOOT
    STEP = 0.1  # seconds between redraws
    BAR = 24
    DEFAULT_CSS = """
    BootView { align: center middle; }
    BootView #boot-name { width: 100%; text-align: center; text-style: bold; margin-bottom: 1; }
    BootView #boot-steps { height: auto; margin: 0 1 1 1; }
    BootView #boot-bar { width: 100%; text-align: center; color: $primary; }
    BootView #boot-hint { width: 100%; text-align: center; color: $text-muted; margin-top: 1; }
    """

    def __init__(self, persona: str, seconds: float) -> None:
        super().__init__(id="boot")
        self.persona = persona
        self.seconds = seconds
        self.elapsed = 0.0
        self._done = False

    def compose(self) -> ComposeResult:
        info = self.handset.device.personas[self.persona]
        yield Static(f"{info.os_name} {info.os_version}", id="boot-name")
        yield Static("", id="boot-steps")
        yield Static("", id="boot-bar")
        yield Static("any key skips", id="boot-hint")

    @property
    def steps(self) -> list[str]:
        handset = self.handset
        info = handset.device.personas[self.persona]
        return [*info.boot_steps, f"Registering {handset.line_number(self.persona)}"]

    def on_mount(self) -> None:
        self._timer = self.set_interval(self.STEP, self._advance)
        self._draw()

    def focus_default(self) -> None:
        self.focus_now(self)

    def _advance(self) -> None:
        self.seek(self.elapsed + self.STEP)

    def seek(self, elapsed: float) -> None:
        """Show the boot as it is ``elapsed`` seconds in; at the end, hand over."""
        self.elapsed = min(elapsed, self.seconds)
        if self.elapsed >= self.seconds:
            self.action_skip()
        else:
            self._draw()

    def hold(self, elapsed: float) -> None:
        """Stop the clock at ``elapsed`` (for screenshots of the sequence)."""
        self._timer.stop()
        self.elapsed = elapsed
        self._draw()

    def _draw(self) -> None:
        steps = self.steps
        fraction = self.elapsed / self.seconds if self.seconds else 1.0
        current = min(len(steps) - 1, math.floor(fraction * len(steps)))
        lines = []
        for index, step in enumerate(steps):
            if index < current:
                lines.append(f"[$success]✓[/] {step}")
            elif index == current:
                lines.append(f"[b]▸ {step}…[/]")
            else:
                lines.append(f"[$text-muted]  {step}[/]")
        set_text(self.query_one("#boot-steps", Static), "\n".join(lines))
        filled = round(fraction * self.BAR)
        set_text(self.query_one("#boot-bar", Static),
                 f"{'█' * filled}{'░' * (self.BAR - filled)} {math.floor(fraction * 100):3d} %")

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.action_skip()

    def action_skip(self) -> None:
        if self._done:
            return
        self._done = True
        self._timer.stop()
        self.handset_view.boot_finished()

"""First-run setup: choose a PIN twice, optionally a duress PIN, then create the keystore."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.widgets import Button, Static

from phone_tui.errors import PhoneTuiError
from phone_tui.handset.pin_policy import MAX_DIGITS, MIN_DIGITS, check_pin
from phone_tui.ui.views.base import PhoneView
from phone_tui.ui.widgets.button_row import ButtonRow, RowButton
from phone_tui.ui.widgets.pin_entry import PinEntry
from phone_tui.ui.widgets.switch_hint import SwitchHint

STEPS = {
    "pin": "Choose a PIN",
    "confirm": "Enter the PIN again",
    "duress": "Choose a duress PIN",
    "duress_confirm": "Enter the duress PIN again",
}


class SetupView(PhoneView):
    """A small state machine: welcome → pin → confirm → duress offer → (duress ×2) → creating."""

    TITLE = "Set up"
    BACK = False

    DEFAULT_CSS = """
    SetupView #setup-intro, SetupView #duress-offer { height: auto; margin-bottom: 1; }
    SetupView Horizontal { height: auto; align-horizontal: center; }
    SetupView Horizontal Button { margin: 0 1; }
    """

    def __init__(self, notice: str | None = None) -> None:
        super().__init__(id="setup")
        self._notice = notice
        self._pin = ""
        self._duress = ""
        self.step = "pin"

    def compose(self) -> ComposeResult:
        yield self.title_label()
        persona = self.handset.persona_info
        intro = (f"Welcome to {persona.os_name} {persona.os_version}. Choose a PIN of "
                 f"{MIN_DIGITS}–{MAX_DIGITS} digits. It encrypts this persona's keys; "
                 "there is no way to recover it.")
        if self._notice:
            intro = f"[b $text-warning]{self._notice}[/]\n\n{intro}"
        yield Static(intro, id="setup-intro")
        yield PinEntry(STEPS["pin"], id="setup-pin")
        yield Static("A duress PIN, typed at the lock screen, silently wipes this persona. "
                     "Set one now? You can skip this.", id="duress-offer")
        with ButtonRow(id="duress-buttons"):
            yield RowButton("Skip", id="duress-skip")
            yield RowButton("Set duress PIN", id="duress-set", variant="warning")
        yield SwitchHint()

    def on_mount(self) -> None:
        if not self.query(PinEntry):
            return  # replaced before it was shown
        self._show("pin")

    def _show(self, step: str) -> None:
        self.step = step
        entering = step in STEPS
        entry = self.query_one(PinEntry)
        entry.display = entering or step == "creating"
        entry.disabled = step == "creating"
        self.query_one("#setup-intro").display = step == "pin"
        for widget_id in ("#duress-offer", "#duress-buttons"):
            self.query_one(widget_id).display = step == "offer"
        if step == "creating":
            entry.set_prompt("Setting up")
            entry.clear()
            entry.start_busy("Creating the keystore (Argon2id)…")
        if entering:
            entry.set_prompt(STEPS[step])
            entry.focus()
        elif step == "offer":
            self.query_one("#duress-skip", Button).focus()

    def focus_default(self) -> None:
        if self.step in STEPS:
            self.focus_now(self.query_one(PinEntry))
        elif self.step == "offer":
            self.focus_now(self.query_one("#duress-skip", Button))

    @on(PinEntry.Submitted)
    def _submitted(self, event: PinEntry.Submitted) -> None:
        entry, pin = event.entry, event.pin
        try:
            if self.step == "pin":
                check_pin(pin)
                self._pin = pin
                self._show("confirm")
            elif self.step == "confirm":
                if pin != self._pin:
                    self._pin = ""
                    self._show("pin")
                    entry.set_message("The PINs did not match. Start again.")
                    return
                self._show("offer")
            elif self.step == "duress":
                check_pin(pin)
                if pin == self._pin:
                    raise PhoneTuiError("The duress PIN must differ from the PIN.")
                self._duress = pin
                self._show("duress_confirm")
            elif self.step == "duress_confirm":
                if pin != self._duress:
                    self._duress = ""
                    self._show("duress")
                    entry.set_message("The duress PINs did not match. Start again.")
                    return
                self._create()
            entry.set_message("")
        except PhoneTuiError as problem:
            entry.clear()
            entry.set_message(str(problem))

    @on(Button.Pressed, "#duress-skip")
    def _skip(self) -> None:
        self._duress = ""
        self._create()

    @on(Button.Pressed, "#duress-set")
    def _set_duress(self) -> None:
        self._show("duress")

    def _create(self) -> None:
        self._show("creating")
        self._run_setup()

    @work(exclusive=True, group="setup")
    async def _run_setup(self) -> None:
        try:
            await self.handset.setup(self._pin, self._duress or None)
        except PhoneTuiError as problem:
            self._pin = self._duress = ""
            self._show("pin")
            self.query_one(PinEntry).set_message(str(problem))
        finally:
            self._pin = self._duress = ""

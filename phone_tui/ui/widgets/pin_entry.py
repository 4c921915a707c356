"""PIN entry: a prompt, one dot per digit typed, a message line and a keypad.

Typing digits, Backspace and Enter work from the keyboard; every key of the pad works with the
mouse. The pad never takes focus, so the keyboard always reaches the entry.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Label

from phone_tui.handset.pin_policy import MAX_DIGITS
from phone_tui.ui import bindings
from phone_tui.ui.widgets.pin_pad import PinPad

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def _dots(digits: str) -> str:
    return " ".join("●" * len(digits)) if digits else "[$foreground-muted]– – – –[/]"


class PinEntry(Vertical, can_focus=True):
    """Collects a PIN and posts ``PinEntry.Submitted``."""

    BINDINGS = bindings.PIN_ENTRY

    DEFAULT_CSS = """
    PinEntry { height: auto; width: 100%; align-horizontal: center; }
    PinEntry > Label { width: 100%; text-align: center; }
    PinEntry #pin-prompt { text-style: bold; margin-bottom: 1; }
    PinEntry #pin-dots { color: $primary; text-style: bold; height: 1; }
    PinEntry #pin-message { color: $text-error; height: 2; margin-top: 1; }
    PinEntry #pin-message.-info { color: $text-muted; }
    """

    digits: reactive[str] = reactive("", always_update=True, init=False)

    class Submitted(Message):
        def __init__(self, entry: PinEntry, pin: str) -> None:
            self.entry = entry
            self.pin = pin
            super().__init__()

        @property
        def control(self) -> PinEntry:
            return self.entry

    def __init__(self, prompt: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._prompt = prompt

    def compose(self) -> ComposeResult:
        yield Label(self._prompt, id="pin-prompt")
        yield Label(_dots(""), id="pin-dots")
        yield PinPad(id="pin-pad")
        yield Label("", id="pin-message")

    def watch_digits(self, digits: str) -> None:
        for label in self.query("#pin-dots").results(Label):
            label.update(_dots(digits))

    def set_prompt(self, prompt: str) -> None:
        self.query_one("#pin-prompt", Label).update(prompt)

    def set_message(self, text: str, *, error: bool = True) -> None:
        self.stop_busy()
        message = self.query_one("#pin-message", Label)
        message.update(text)
        message.set_class(not error, "-info")

    def start_busy(self, text: str) -> None:
        """Show ``text`` with a spinner until the next message (Argon2id runs meanwhile)."""
        self.set_message(text, error=False)
        frames = iter(range(1 << 30))

        def spin() -> None:
            frame = SPINNER[next(frames) % len(SPINNER)]
            self.query_one("#pin-message", Label).update(f"{frame} {text}")

        spin()
        self._spinner = self.set_interval(0.1, spin)

    def stop_busy(self) -> None:
        spinner = getattr(self, "_spinner", None)
        if spinner is not None:
            spinner.stop()
            self._spinner = None

    def clear(self) -> None:
        self.digits = ""

    def action_digit(self, digit: str) -> None:
        self.add_digit(digit)

    def add_digit(self, digit: str) -> None:
        if self.disabled or len(self.digits) >= MAX_DIGITS:
            return
        self.digits += digit

    def action_delete(self) -> None:
        self.digits = self.digits[:-1]

    def action_submit(self) -> None:
        if self.digits and not self.disabled:
            # Start the next entry now: keys typed ahead (a fast typist, a paste) may reach us
            # before our parent has handled this submission.
            pin, self.digits = self.digits, ""
            self.post_message(self.Submitted(self, pin))

    @on(PinPad.Pressed)
    def _pad_pressed(self, event: PinPad.Pressed) -> None:
        event.stop()
        key = event.key
        if key == "del":
            self.action_delete()
        elif key == "ok":
            self.action_submit()
        else:
            self.add_digit(key)

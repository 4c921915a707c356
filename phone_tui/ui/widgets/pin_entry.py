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
from textual.widgets import Static

from phone_tui.handset.pin_policy import MAX_DIGITS
from phone_tui.ui import bindings
from phone_tui.ui.widgets.pin_pad import PinPad

SPINNER = "◐◓◑◒"  # quarter circles: DejaVu Sans Mono has them (it has no Braille)


class PinEntry(Vertical, can_focus=True):
    """Collects a PIN and posts ``PinEntry.Submitted``."""

    BINDINGS = bindings.PIN_ENTRY

    DEFAULT_CSS = """
    PinEntry { height: 13; width: 100%; }
    PinEntry > Static { width: 100%; text-align: center; }
    PinEntry #pin-head { height: 3; }
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
        self._message = ("", True)  # what #pin-message says (set before it is composed too)

    def compose(self) -> ComposeResult:
        yield Static(self._head(), id="pin-head")
        yield PinPad(id="pin-pad")
        text, error = self._message
        yield Static(text, id="pin-message", classes="" if error else "-info")

    def _head(self) -> str:
        """The prompt, a blank line, then one dot per digit typed."""
        dots = (f"[b $primary]{' '.join('●' * len(self.digits))}[/]" if self.digits
                else "[$foreground-muted]– – – –[/]")
        return f"[b]{self._prompt}[/]\n\n{dots}"

    def watch_digits(self) -> None:
        for head in self.query("#pin-head").results(Static):
            head.update(self._head())

    def set_prompt(self, prompt: str) -> None:
        self._prompt = prompt
        # Not composed yet (a view made and changed in one burst, as a stage reset does): the
        # head shows the prompt when it is.
        for head in self.query("#pin-head").results(Static):
            head.update(self._head())

    def set_message(self, text: str, *, error: bool = True) -> None:
        self.stop_busy()
        self._message = (text, error)
        for message in self.query("#pin-message").results(Static):
            message.update(text)
            message.set_class(not error, "-info")

    def start_busy(self, text: str) -> None:
        """Show ``text`` with a spinner until the next message (Argon2id runs meanwhile)."""
        self.set_message(text, error=False)
        frames = iter(range(1 << 30))

        def spin() -> None:
            frame = SPINNER[next(frames) % len(SPINNER)]
            for message in self.query("#pin-message").results(Static):
                message.update(f"{frame} {text}")

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

"""The lock screen: big clock, PIN entry, attempts left and a live countdown when throttled."""

from __future__ import annotations

import math
from datetime import datetime

from textual import on, work
from textual.app import ComposeResult
from textual.widgets import Digits, Static

from phone_tui.core.clock import wall_time
from phone_tui.crypto.keystore import UnlockOutcome
from phone_tui.errors import PhoneTuiError, Throttled, WrongPin
from phone_tui.ui.views.base import PhoneView, set_text
from phone_tui.ui.widgets.pin_entry import PinEntry
from phone_tui.ui.widgets.switch_hint import SwitchHint


class LockView(PhoneView):
    """Shown whenever the running persona is locked."""

    BACK = False

    DEFAULT_CSS = """
    LockView Digits { width: 100%; height: 3; text-align: center; margin-top: 1; }
    LockView #lock-date { width: 100%; height: 2; text-align: center; margin-bottom: 1; }
    /* A phone's lock screen: the clock at the top, the pad low where the thumb is. */
    LockView #lock-waiting { width: 100%; height: 1fr; content-align: center middle;
                             text-align: center; color: $text-muted; }
    LockView #lock-countdown { width: 100%; text-align: center; color: $text-warning;
                               text-style: bold; height: 1; }
    LockView #lock-problem { width: 100%; height: auto; text-align: center;
                             color: $text-error; display: none; }
    LockView #lock-problem.-shown { display: block; }
    """

    def __init__(self) -> None:
        super().__init__(id="lock")
        self._unlocking = False
        self._unlocked = False  # unlocked: Home is about to replace this view
        self._unlock_problem = ""  # a damaged file met by the last unlock, until the next one
        self._minute: str | None = None  # what the clock shows (None: not drawn yet)
        # The PIN counter file is read again each second only while something on screen
        # depends on it (a countdown, a damaged file, the entry held off): an idle lock screen
        # reads nothing. An attempt reads it anyway.
        self._watch_throttle = True

    def compose(self) -> ComposeResult:
        now = wall_time(self.handset.clock)
        self._minute = now.strftime("%H:%M")
        yield Digits(self._minute, id="lock-clock")
        yield Static(self._date_text(now), id="lock-date")
        # The lock screen's notifications: only a count, no sender or text (a secure handset
        # shows nothing of a message before the PIN, and it is still encrypted anyway).
        yield Static("", id="lock-waiting")
        yield PinEntry("Enter PIN", id="lock-pin")
        yield Static("", id="lock-countdown")
        # A damaged file's message names file and key: too long for the PIN entry's two
        # lines, so it has its own, wrapped, and the entry keeps saying what the PIN did.
        yield Static("", id="lock-problem")
        yield SwitchHint()

    def _date_text(self, now: datetime) -> str:
        info = self.handset.persona_info
        return (f"{now.strftime('%A %-d %B')}\n"
                f"[$text-muted]{info.os_name} {info.os_version} · locked[/]")

    def on_mount(self) -> None:
        if not self.is_attached or not self.query(PinEntry):
            return  # replaced (and emptied) before it was ever shown
        self._show_throttle()
        self._show_waiting()
        self.query_one(PinEntry).focus()

    def on_model_event(self, event: object) -> None:
        from phone_tui.handset.events import MessageWaiting

        if isinstance(event, MessageWaiting):
            self._show_waiting()

    def _show_waiting(self) -> None:
        from phone_tui.ui.notices import waiting_text

        count = self.handset_view.waiting
        set_text(self.query_one("#lock-waiting", Static),
                 f"✉ {waiting_text(count)}" if count else "")

    def focus_default(self) -> None:
        self.focus_now(self.query_one(PinEntry))

    def tick(self) -> None:
        now = wall_time(self.handset.clock)
        clock = now.strftime("%H:%M")
        if clock != self._minute:  # an update re-lays out the screen: only when it changed
            self._minute = clock
            digits = self.query_one("#lock-clock", Digits)
            if digits.value != clock:
                digits.update(clock)
            set_text(self.query_one("#lock-date", Static), self._date_text(now))
        if self._watch_throttle:
            self._show_throttle()

    def _show_throttle(self) -> None:
        if not self.query(PinEntry):
            return  # being removed
        entry = self.query_one(PinEntry)
        countdown = self.query_one("#lock-countdown", Static)
        try:
            wait = self.handset.throttle_wait()
        except PhoneTuiError as problem:
            entry.disabled = True
            set_text(countdown, "")
            self._show_problem(str(problem))
            self._watch_throttle = True
            return
        self._show_problem(self._unlock_problem)
        self._watch_throttle = wait > 0 or bool(self._unlock_problem) or self._unlocking
        if wait > 0:
            entry.disabled = True
            set_text(countdown, f"Try again in {math.ceil(wait)} s")
        else:
            if entry.disabled and not self._unlocking:
                entry.disabled = False
                entry.set_message("")
                entry.focus()
            set_text(countdown, "")

    def _show_problem(self, text: str) -> None:
        problem = self.query_one("#lock-problem", Static)
        set_text(problem, text)
        problem.set_class(bool(text), "-shown")

    def _failures(self) -> int | None:
        try:
            return self.handset.failures()
        except PhoneTuiError:
            return None

    @on(PinEntry.Submitted)
    def _submitted(self, event: PinEntry.Submitted) -> None:
        event.stop()
        if not self._unlocking:
            self._unlocking = True  # now, not when the worker starts: keeps_keys says so
            self._unlock(event.pin)

    @property
    def keeps_keys(self) -> bool:
        # Keys typed behind the PIN's Enter are for what the unlock shows: Home (which takes
        # over once this view is replaced), or the entry again after a wrong PIN.
        return self._unlocking or self._unlocked

    @work(exclusive=True, group="unlock")
    async def _unlock(self, pin: str) -> None:
        entry = self.query_one(PinEntry)
        self._unlocking = True
        entry.disabled = True
        entry.start_busy("Unlocking (Argon2id)…")
        self._unlock_problem = ""
        failures = self._failures()
        outcome = None
        try:
            outcome = await self.handset.unlock(pin)
        except (WrongPin, Throttled) as refusal:
            entry.set_message(str(refusal).split(" Try again")[0])
        except PhoneTuiError as problem:
            self._unlock_problem = str(problem)
            after = self._failures()
            # The PIN was counted wrong before the damage was met (policy.json says how many
            # are allowed): say so, though what is left cannot be known.
            entry.set_message(f"Wrong PIN ({after} in a row)." if after is not None
                              and failures is not None and after > failures else "")
        else:
            if outcome is UnlockOutcome.UNLOCKED:
                # The HandsetView swaps this view for Home on the Unlocked event; the keys
                # wait for Home (no focus back to the entry, which is about to go).
                self._unlocked = True
                return
        finally:
            self._unlocking = False
            if self.is_attached and self.handset_view.top is self \
                    and outcome is not UnlockOutcome.UNLOCKED:
                entry.clear()
                entry.disabled = False
                self._show_throttle()
                if not entry.disabled:
                    entry.focus()
            if self.is_attached and outcome is not UnlockOutcome.UNLOCKED:
                self.handset_view._keys_may_go()  # after the focus: the entry takes them

"""Calls on screen: the incoming call, the in-call screen (SAS words, level, quality) and the
call's figures."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Button, Static

from phone_tui.ui import bindings
from phone_tui.ui.views.base import PhoneView, set_text
from phone_tui.ui.widgets.button_row import ButtonRow, RowButton
from phone_tui.ui.widgets.pin_entry import PinEntry

if TYPE_CHECKING:
    from phone_tui.handset.calls import CallInfo, CallService
    from phone_tui.handset.handset import Handset

LEVEL_BLOCKS = " ▁▂▃▄▅▆▇█"
LEVEL_FLOOR_DB = -60.0  # a level at or under this draws as silence
LEVEL_COLUMNS = 30
LEVEL_EVERY = 0.1  # seconds between two columns of the level meter
STATE_WORDS = {"dialing": "Calling…", "ringing": "Ringing…", "connecting": "Connecting…",
               "connected": "Connected", "ended": "Call ended"}
REASON_WORDS = {
    "hung_up": "You hung up.", "remote_hung_up": "{name} hung up.",
    "declined": "{name} declined the call.", "busy": "{name} is on another call.",
    "no_answer": "No answer.", "no_service": "No service: the call could not be made.",
    "unavailable": "{name} cannot be reached now (phone off, or the other OS is running).",
    "network_failure": "The call was lost: the network failed.",
    "identity_changed": "{name}'s safety number changed: verify it before you call.",
    "words_differ": "The words differed: someone may be in the middle. The call was ended.",
    "words_differ_remote": "{name} heard different words and hung up: someone may be in the "
                           "middle.",
    "cancelled": "{name} hung up before you answered.", "missed": "Missed call.",
    "no_carrier_calls": "{name}'s phone takes no carrier calls: its calls are end-to-end "
                        "encrypted.",
}


PLAIN_WARNING = "Carrier call \u2014 not end-to-end encrypted: the carrier can listen."


def calls_of(view: PhoneView) -> CallService | None:
    """The running OS's call service (None while it is locked or not on the network)."""
    return view.handset.calls


def current_call(handset: Handset) -> CallInfo | None:
    """The call under way: the running OS's, or the one ringing its lock screen."""
    calls = handset.calls
    if calls is not None and calls.current is not None:
        return calls.current
    return handset.locked_call


OUTGOING_REASON_WORDS = {"cancelled": "You cancelled the call to {name}.",
                         "hung_up": "You hung up."}
INCOMING_REASON_WORDS = {"declined": "You declined the call from {name}.",
                         "no_answer": "Missed call from {name}.",
                         "missed": "Missed call from {name}.",
                         "busy": "Missed call from {name}: you were on another call."}


def reason_text(reason: str, name: str, direction: str = "outgoing") -> str:
    """What the end of a call says, in words a person reads."""
    own = INCOMING_REASON_WORDS if direction == "incoming" else OUTGOING_REASON_WORDS
    words = own.get(reason) or REASON_WORDS.get(reason, "The call ended.")
    return words.format(name=name)


# The call log's words for how a call ended: short (a row of the log is narrow), the same
# vocabulary as reason_text.
LOG_REASON_WORDS = {
    "hung_up": "You hung up", "remote_hung_up": "They hung up", "declined": "Declined",
    "busy": "Busy", "no_answer": "No answer", "no_service": "No service",
    "unavailable": "Unavailable (phone off)", "network_failure": "Network failed",
    "identity_changed": "Safety number changed",
    "words_differ": "Words differed — call ended",
    "words_differ_remote": "Words differed — they ended it",
    "cancelled": "Cancelled", "missed": "Missed",
    "no_carrier_calls": "No carrier calls (encrypted only)",
}
INCOMING_LOG_REASON_WORDS = {"declined": "You declined", "no_answer": "Missed",
                             "cancelled": "Missed",
                             "busy": "Missed: you were on another call"}
# Endings that say someone may be listening in: they stand out in the log.
WARNING_REASONS = ("words_differ", "words_differ_remote", "identity_changed")


def log_reason_text(reason: str, direction: str) -> str:
    """How a logged call ended, in a few words ("" for a reason not known)."""
    own = INCOMING_LOG_REASON_WORDS if direction == "incoming" else {}
    return own.get(reason) or LOG_REASON_WORDS.get(reason, "")


def timer_text(seconds: float) -> str:
    whole = max(0, int(seconds))
    return f"{whole // 60:02d}:{whole % 60:02d}"


def level_bar(levels: list[float | None]) -> str:
    """A row of blocks, one per 20 ms level in dBFS, from the floor (blank) to 0 dB (full)."""
    out = []
    for level in levels:
        if level is None or level <= LEVEL_FLOOR_DB:
            out.append(LEVEL_BLOCKS[0])
            continue
        share = min(1.0, (level - LEVEL_FLOOR_DB) / -LEVEL_FLOOR_DB)
        out.append(LEVEL_BLOCKS[max(1, round(share * (len(LEVEL_BLOCKS) - 1)))])
    return "".join(out)


def sas_text(words: tuple[str, str] | None) -> str:
    """The two words, one a line, in spaced capitals: the largest type a terminal has."""
    if not words:
        return "…\n"
    return "\n".join(" ".join(word.upper()) for word in words)


def quality_bars(bars: int) -> str:
    return "▮" * bars + "▯" * (5 - bars)


class IncomingCallView(PhoneView):
    """A call rings: who, a warning if their safety number changed; answer or decline. On a
    locked phone the PIN is asked first: the keys open for the call only."""

    BACK = False
    BINDINGS = bindings.INCOMING
    DEFAULT_CSS = """
    IncomingCallView { align-horizontal: center; }
    IncomingCallView > Static { width: 100%; text-align: center; }
    IncomingCallView #incoming-title { margin-top: 1; color: $text-muted; }
    IncomingCallView #incoming-name { text-style: bold; margin-top: 1; }
    IncomingCallView #incoming-warning { color: $text-error; margin-top: 1; height: auto; }
    IncomingCallView #incoming-buttons { height: 1; width: auto; margin-top: 1; }
    IncomingCallView #incoming-buttons Button { margin: 0 1; }
    """

    def __init__(self, call_id: str) -> None:
        super().__init__(id="incoming")
        self.call_id = call_id

    @property
    def shown_as(self) -> tuple[str, str]:
        info = self._info()
        return ("incoming", info.number if info else "")

    def _info(self) -> CallInfo | None:
        """The call ringing (one at a time; a lock screen's ring has no id until its offer is
        read, when it carries on under its own)."""
        info = current_call(self.handset)
        if info is None or info.direction != "incoming":
            return None
        if info.call_id:
            self.call_id = info.call_id
        return info

    @property
    def locked(self) -> bool:
        info = self._info()
        return bool(info and info.locked)

    def compose(self) -> ComposeResult:
        info = self._info()
        plain = info is not None and info.plain
        yield Static("Incoming carrier call: not encrypted" if plain
                     else "Incoming encrypted call", id="incoming-title")
        yield Static("", id="incoming-name")
        yield Static("", id="incoming-number")
        yield Static("", id="incoming-warning")
        if info is not None and info.locked:
            yield PinEntry("Enter your PIN to answer", id="incoming-pin")
        with ButtonRow(id="incoming-buttons"):
            if info is None or not info.locked:
                yield RowButton("☏ Answer", id="incoming-answer", variant="success")
            yield RowButton("✕ Decline", id="incoming-decline", variant="error")

    def on_mount(self) -> None:
        self.refresh_call()

    def focus_default(self) -> None:
        if self.query("#incoming-pin"):
            self.focus_now(self.query_one(PinEntry))
        else:
            self.query_one(ButtonRow).focus_button()

    def refresh_call(self) -> None:
        info = self._info()
        if info is None:
            return
        name = info.name if info.name and not info.locked else info.number
        set_text(self.query_one("#incoming-name", Static), Content(name))
        number = "" if info.locked or name == info.number else info.number
        if info.locked:
            number = "The number the network gives; the name shows once you answer."
        set_text(self.query_one("#incoming-number", Static), Content(number))
        set_text(self.query_one("#incoming-warning", Static), Content(info.warning or ""))

    def on_model_event(self, event: object) -> None:
        if hasattr(event, "call_id"):
            self.refresh_call()

    def action_answer(self) -> None:
        calls = calls_of(self)
        if calls is None or self.locked:
            return
        from phone_tui.errors import PhoneTuiError

        try:
            calls.answer()
        except PhoneTuiError as problem:
            self.notify(str(problem), title="Phone", severity="warning")

    def action_decline(self) -> None:
        calls = calls_of(self)
        if calls is not None and calls.current is not None:
            calls.decline()
        elif self.handset.locked_call is not None:
            self.handset.decline_locked()

    @on(Button.Pressed, "#incoming-answer")
    def _answer_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_answer()

    @on(Button.Pressed, "#incoming-decline")
    def _decline_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_decline()

    @on(PinEntry.Submitted, "#incoming-pin")
    def _pin_submitted(self, event: PinEntry.Submitted) -> None:
        event.stop()
        self.handset_view.answer_locked(event.pin, event.entry)


class InCallView(PhoneView):
    """The call: who, how long, the two words to read aloud, the level of what you hear, the
    quality, and mute / speaker / hold / hang up."""

    BINDINGS = bindings.CALL
    DEFAULT_CSS = """
    InCallView > Static, InCallView > Vertical > Static { width: 100%; text-align: center; }
    InCallView > .view-title { text-align: left; }
    InCallView #call-name { text-style: bold; margin-top: 1; }
    InCallView #call-state { color: $text-muted; }
    InCallView #call-guard { color: $text-warning; height: auto; }
    InCallView #call-plain { color: $text-warning; height: auto; border: round $warning;
                             margin-top: 1; padding: 0 1; }
    InCallView #call-sas-box { height: auto; border: round $primary; margin-top: 1;
                               padding: 0 1; }
    InCallView #call-sas-box.-differ { border: round $error; }
    InCallView #call-sas-box.-match { border: round $success; }
    InCallView #call-words { text-style: bold; color: $text-primary; height: 2;
                             margin: 1 0; }
    InCallView #call-sas-hint { color: $text-muted; height: auto; }
    InCallView #call-heard { height: auto; color: $text-accent; }
    InCallView #call-verify { height: 1; width: auto; align-horizontal: center; }
    InCallView #call-verify Button { margin: 0 1; }
    InCallView #call-level { color: $text-success; margin-top: 1; }
    InCallView #call-quality { height: 1; }
    InCallView #call-figures { color: $text-muted; height: 2; }
    InCallView #call-controls { height: 1; width: auto; margin-top: 1; }
    InCallView #call-controls Button { min-width: 0; padding: 0 1; margin-right: 1; }
    InCallView #call-controls Button.-on { background: $primary; color: $text;
                                           text-style: bold; }
    """

    def __init__(self, call_id: str) -> None:
        super().__init__(id="call")
        self.call_id = call_id
        self.levels: deque[float | None] = deque([None] * LEVEL_COLUMNS, maxlen=LEVEL_COLUMNS)
        self._sas_shown = False

    @property
    def TITLE(self) -> str:  # type: ignore[override]  # noqa: N802 - a per-call title
        info = self._info()
        return "Carrier call" if info is not None and info.plain else "Encrypted call"

    @property
    def BACK(self) -> bool:  # type: ignore[override]  # noqa: N802 - per call
        """Escape leaves the call for the rest of the phone, except when the phone was only
        opened for this call (answered on the lock screen)."""
        return not self.handset.answering_locked

    @property
    def shown_as(self) -> tuple[str, str]:
        info = self._info()
        return ("call", info.number if info else "")

    def _info(self) -> CallInfo | None:
        info = current_call(self.handset)
        return info if info is not None and info.call_id == self.call_id else None

    def compose(self) -> ComposeResult:
        yield self.title_label()
        yield Static("", id="call-name")
        yield Static("", id="call-state")
        yield Static("", id="call-guard")
        yield Static(PLAIN_WARNING, id="call-plain")
        with Vertical(id="call-sas-box"):
            yield Static("Read these words aloud. If they differ, hang up.", id="call-sas-hint")
            yield Static("", id="call-words")
            yield Static("", id="call-heard")
            with ButtonRow(id="call-verify"):
                yield RowButton("✓ Words match", id="call-match", variant="success")
                yield RowButton("✕ Words differ", id="call-differ", variant="error")
        yield Static(level_bar(list(self.levels)), id="call-level")
        yield Static("", id="call-quality")
        yield Static("", id="call-figures")
        with ButtonRow(id="call-controls"):
            yield RowButton("Mute", id="call-mute")
            yield RowButton("Speaker", id="call-speaker")
            yield RowButton("Hold", id="call-hold")
            yield RowButton("Hang up", id="call-hangup", variant="error")

    def on_mount(self) -> None:
        self.refresh_call()
        self.set_interval(LEVEL_EVERY, self._sample_level)

    def _sample_level(self) -> None:
        """A column of the meter for what is heard now (nothing moves without audio)."""
        calls = calls_of(self)
        level = calls.level if calls is not None and self._info() is not None else None
        if level is None and all(column is None for column in self.levels):
            return  # silence scrolled through: nothing moves
        self.levels.append(level)
        set_text(self.query_one("#call-level", Static), level_bar(list(self.levels)))

    def focus_default(self) -> None:
        info = self._info()
        row = "#call-verify" if info and info.sas and info.verified is None else "#call-controls"
        self.query_one(row, ButtonRow).focus_button()

    def _focus_verify(self) -> None:
        row = self.query_one("#call-verify", ButtonRow)
        if self.handset_view.top is self and row.display:
            row.focus_button()

    def tick(self) -> None:
        self.refresh_call()

    def on_return(self) -> None:
        # Back on top; also after a guard came or went (Escape's hint, the guard's line).
        self.refresh_title()
        self.refresh_call()

    def on_model_event(self, event: object) -> None:
        if getattr(event, "call_id", None) == self.call_id:
            self.refresh_call()

    def refresh_call(self) -> None:
        info = self._info()
        if info is None:
            return
        calls = calls_of(self)
        set_text(self.query_one("#call-name", Static), Content(info.name or info.number))
        state = STATE_WORDS.get(info.state, info.state)
        if info.state == "connected" and info.connected_at is not None:
            now = self.handset.clock.now()
            state = f"Connected · {timer_text(now - info.connected_at)}"
            if info.held:
                state += " · on hold"
            elif info.remote_held:
                state += f" · {info.name or info.number} put you on hold"
        set_text(self.query_one("#call-state", Static), state)
        guard = self.query_one("#call-guard", Static)
        guard.display = self.handset.answering_locked
        set_text(guard, "Locked: call only · u unlocks the phone")
        # A carrier call has no words to compare: it says plainly who can listen instead.
        self.query_one("#call-plain", Static).display = info.plain
        self.query_one("#call-sas-box").display = not info.plain
        set_text(self.query_one("#call-words", Static), sas_text(info.sas))
        if info.sas and not self._sas_shown:
            # The words came: the choice they ask for takes the keyboard (once; after that
            # the keys stay where the person put them).
            self._sas_shown = True
            if info.verified is None:
                self.call_after_refresh(self._focus_verify)
        heard = calls.heard if calls is not None else None
        said = f'{info.name or info.number} says: "{heard}"' if heard else ""
        set_text(self.query_one("#call-heard", Static), Content(said))
        box = self.query_one("#call-sas-box")
        box.set_class(info.verified == "match", "-match")
        box.set_class(info.verified == "differ", "-differ")
        verify = self.query_one("#call-verify", ButtonRow)
        verify.display = bool(info.sas) and info.verified is None
        hint = ("Verified: the words match." if info.verified == "match" else
                "Read these words aloud. If they differ, hang up.")
        set_text(self.query_one("#call-sas-hint", Static), hint)
        stats = calls.stats if calls is not None else None
        if info.held or info.remote_held:
            set_text(self.query_one("#call-quality", Static), "On hold: no voice either way")
            set_text(self.query_one("#call-figures", Static), "")
        elif stats is not None and not self.handset_view.live_figures:
            set_text(self.query_one("#call-quality", Static), "Quality: live figures are off")
            set_text(self.query_one("#call-figures", Static), "in deterministic runs")
        elif stats is not None:
            set_text(self.query_one("#call-quality", Static),
                     f"Quality {stats.mos:.1f} {quality_bars(stats.bars)}  "
                     f"(E-model R {stats.r:.0f})")
            set_text(self.query_one("#call-figures", Static),
                     f"delay {stats.one_way_ms:.0f} ms · jitter {stats.jitter_ms:.0f} ms\n"
                     f"loss {stats.loss * 100:.1f} % · {stats.codec}")
        else:
            set_text(self.query_one("#call-quality", Static), "")
            set_text(self.query_one("#call-figures", Static), "")
        set_text(self.query_one("#call-level", Static), level_bar(list(self.levels)))
        for button_id, on_ in (("#call-mute", info.muted), ("#call-speaker", info.speaker),
                               ("#call-hold", info.held)):
            # On is drawn as a lit button (a label that grew was cut to its first cell).
            self.query_one(button_id, Button).set_class(on_, "-on")

    # ---- actions -------------------------------------------------------------------------------

    def _service(self) -> CallService | None:
        return calls_of(self) if self._info() is not None else None

    def action_hangup(self) -> None:
        calls = self._service()
        if calls is not None:
            calls.hangup()

    def action_mute(self) -> None:
        calls, info = self._service(), self._info()
        if calls is not None and info is not None:
            calls.set_mute(not info.muted)

    def action_speaker(self) -> None:
        calls, info = self._service(), self._info()
        if calls is not None and info is not None:
            calls.set_speaker(not info.speaker)

    def action_hold(self) -> None:
        calls, info = self._service(), self._info()
        if calls is not None and info is not None and info.state == "connected":
            calls.set_hold(not info.held)

    def action_words(self, match: bool) -> None:
        calls, info = self._service(), self._info()
        if calls is None or info is None or not info.sas or info.verified is not None:
            return
        calls.confirm_sas(match)

    def action_stats(self) -> None:
        self.handset_view.push(CallStatsView(self.call_id))

    def action_unlock(self) -> None:
        self.handset_view.push_call_unlock()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "unlock":
            return self.handset.answering_locked
        return True

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        action = {"call-hangup": self.action_hangup, "call-mute": self.action_mute,
                  "call-speaker": self.action_speaker, "call-hold": self.action_hold,
                  "call-match": lambda: self.action_words(True),
                  "call-differ": lambda: self.action_words(False)}.get(event.button.id or "")
        if action is not None:
            action()


class CallStatsView(PhoneView):
    """Every figure of the call, once a second, under who and how long."""

    TITLE = "Call figures"
    BINDINGS = bindings.CALL[:1]  # e: hang up, here too
    DEFAULT_CSS = """
    CallStatsView #stats-call { height: 1; text-style: bold; margin-bottom: 1; }
    CallStatsView #stats-table { height: auto; }
    """

    def __init__(self, call_id: str) -> None:
        super().__init__(id="call-stats")
        self.call_id = call_id

    def compose(self) -> ComposeResult:
        yield self.title_label()
        yield Static("", id="stats-call")
        yield Static("", id="stats-table")

    def on_mount(self) -> None:
        self.tick()

    can_focus = True  # its keys (e) work with nothing else on it to focus

    def focus_default(self) -> None:
        self.focus_now(self)

    def action_hangup(self) -> None:
        calls = calls_of(self)
        if calls is not None and calls.current is not None:
            calls.hangup()

    def tick(self) -> None:
        calls = calls_of(self)
        info = current_call(self.handset)
        if info is not None and info.call_id == self.call_id:
            state = STATE_WORDS.get(info.state, info.state)
            if info.state == "connected" and info.connected_at is not None:
                state = f"Connected · {timer_text(self.handset.clock.now() - info.connected_at)}"
            set_text(self.query_one("#stats-call", Static),
                     Content(f"{info.name or info.number} · {state}"))
        stats = calls.stats if calls is not None else None
        if stats is not None and not self.handset_view.live_figures:
            set_text(self.query_one("#stats-table", Static),
                     "Live figures are off in deterministic runs (they follow the machine's "
                     "timing).")
            return
        if stats is None:
            set_text(self.query_one("#stats-table", Static), "No media yet.")
            return
        rows = [("Codec", stats.codec), ("One-way delay", f"{stats.one_way_ms:.0f} ms"),
                ("  whole call", f"{stats.call_one_way_ms:.0f} ms"),
                ("Jitter", f"{stats.jitter_ms:.1f} ms"),
                ("  whole call", f"{stats.call_jitter_ms:.1f} ms"),
                ("Buffer", f"{stats.buffer_ms:.0f} ms"),
                ("Loss", f"{stats.loss * 100:.1f} %"), ("Late", str(stats.late)),
                ("Received", str(stats.received)), ("Sent", str(stats.sent)),
                ("E-model R", f"{stats.r:.1f}"),
                ("MOS", f"{stats.mos:.1f} {quality_bars(stats.bars)}")]
        set_text(self.query_one("#stats-table", Static),
                 "\n".join(f"{name:<15}{value}" for name, value in rows))

    def on_model_event(self, event: object) -> None:
        if getattr(event, "call_id", None) == self.call_id:
            self.tick()


class CallUnlockView(PhoneView):
    """The PIN opens the rest of the phone during a call that only the call was open for
    (answered on the lock screen, or guarded by the auto-lock). The call goes on meanwhile."""

    TITLE = "Unlock the phone"
    DEFAULT_CSS = """
    CallUnlockView #unlock-note { color: $text-muted; width: 100%; text-align: center; }
    """

    def __init__(self) -> None:
        super().__init__(id="call-unlock")
        self._busy = False

    @property
    def shown_as(self) -> tuple[str, str]:
        return ("call-unlock", "")

    def compose(self) -> ComposeResult:
        yield self.title_label()
        yield PinEntry("Enter your PIN to open the phone", id="unlock-pin")
        yield Static("The call goes on. Escape: back to it.", id="unlock-note")

    def focus_default(self) -> None:
        self.focus_now(self.query_one(PinEntry))

    @on(PinEntry.Submitted)
    def _submitted(self, event: PinEntry.Submitted) -> None:
        event.stop()
        if not self._busy:
            self._busy = True  # now: a second Enter in the same burst does not start another
            self.run_worker(self._lift(event.pin), group="unlock", exclusive=True)

    async def _lift(self, pin: str) -> None:
        from phone_tui.errors import PhoneTuiError

        entry = self.query_one(PinEntry)
        entry.disabled = True
        entry.start_busy("Unlocking (Argon2id)…")
        try:
            await self.handset.lift_guard(pin)
        except PhoneTuiError as problem:  # WrongPin and Throttled say what is left
            if entry.is_attached:
                entry.set_message(str(problem).split(" Try again")[0])
        finally:
            self._busy = False
            # Opened: the phone put Home under the call in this view's place (it is gone).
            if self.is_attached and entry.is_attached:
                entry.stop_busy()
                entry.clear()
                entry.disabled = False
                if self.handset_view.top is self:
                    entry.focus()

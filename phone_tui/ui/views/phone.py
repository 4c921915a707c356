"""The Phone app: dial a number, call a contact, the call log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.containers import Grid
from textual.content import Content
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option

from phone_tui.ui import bindings
from phone_tui.ui.views.base import PhoneView, set_text
from phone_tui.ui.views.call import WARNING_REASONS, calls_of, log_reason_text
from phone_tui.ui.widgets.button_row import ButtonRow, RowButton
from phone_tui.ui.widgets.phone_list import PhoneList

if TYPE_CHECKING:
    from phone_tui.handset.calls import CallLogEntry

DIAL_KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "+", "0", "#")
MAX_DIALLED = 24  # digits, spaces and a + (a number as phone-tui writes them is 17)
# Calls logged before phone-tui kept how they ended say only their outcome.
OUTCOME_WORDS = {"missed": "Missed", "declined": "Declined", "failed": "Failed"}
LOG_WIDTH = 38  # the call log's row on the phone's screen, before the list has a size


def dial(view: PhoneView, number: str, *, plain: bool = False) -> bool:
    """Call ``number`` from ``view`` (``plain``: a carrier call, not end-to-end encrypted); a
    refusal is said in the phone's banner. The in-call screen comes up on the call's first
    event."""
    from phone_tui.errors import PhoneTuiError

    calls = calls_of(view)
    if calls is None:
        view.notify("Calls need the phone unlocked and on the network.", title="Phone",
                    severity="warning")
        return False
    try:
        if plain:
            calls.place_plain(number)
        else:
            calls.dial(number)
    except PhoneTuiError as problem:
        view.notify(str(problem), title="Phone", severity="warning")
        return False
    return True


LOG_INDENT = "   "  # the ending's line starts under the name, past the ↗ / ↙


def log_line(entry: CallLogEntry, utc: bool, width: int = LOG_WIDTH) -> str:
    """The first line of a call log entry: direction, who, when and how long, in ``width``
    cells (a long name is cut with …)."""
    at = _stamp(entry.at, utc)
    seconds = round(entry.duration_s)
    duration = f" · {seconds // 60}:{seconds % 60:02d}" if seconds else ""
    arrow = "↗" if entry.direction == "outgoing" else "↙"
    room = max(width - len(arrow) - len(at) - len(duration) - 4, 4)
    name = entry.name if len(entry.name) <= room else entry.name[:room - 1] + "…"
    return f"{arrow}  {name}  {at}{duration}"


def log_ending(entry: CallLogEntry) -> str:
    """How the call ended, in a few words: the reason logged with it, else (a call logged
    before phone-tui kept it, or a reason this version does not know) its outcome if that
    says more than the arrow ("Missed"), else nothing. A carrier call says so first."""
    ending = log_reason_text(entry.reason, entry.direction) or OUTCOME_WORDS.get(entry.outcome,
                                                                                  "")
    if entry.plain:
        return f"Carrier call \u00b7 {ending}" if ending else "Carrier call"
    return ending


def log_prompt(entry: CallLogEntry, utc: bool, width: int = LOG_WIDTH) -> Content:
    """A call log entry as the list shows it: its row, and under it how the call ended."""
    row = Content(log_line(entry, utc, width))
    ending = log_ending(entry)
    if not ending:
        return row
    style = "$text-warning" if entry.reason in WARNING_REASONS else "$text-muted"
    return Content.assemble(row, "\n", (LOG_INDENT + ending, style))


def _stamp(at: float, utc: bool) -> str:
    moment = datetime.fromtimestamp(at, tz=UTC) if utc else datetime.fromtimestamp(at).astimezone()
    return moment.strftime("%-d %b %H:%M")


def has_carrier_calls(view: PhoneView) -> bool:
    """Whether this OS places plain carrier calls (the Open OS; the Secure OS has none)."""
    return bool(view.handset.persona_info.plain_calls)


class PhoneAppView(PhoneView):
    """The keypad, the contacts and the recent calls, in one list."""

    TITLE = "Phone"
    BINDINGS = bindings.PHONE_APP
    DEFAULT_CSS = """
    PhoneAppView #phone-empty { color: $text-muted; height: auto; }
    """

    def __init__(self) -> None:
        super().__init__(id="phone")

    def compose(self) -> ComposeResult:
        yield self.title_label()
        yield PhoneList(id="phone-list")
        yield Static("", id="phone-empty")

    def on_mount(self) -> None:
        self.refresh_list()

    def on_return(self) -> None:
        self.refresh_list()

    def on_model_event(self, event: object) -> None:
        if type(event).__name__ in ("CallStateChanged", "ContactVerified", "IdentityChanged"):
            self.refresh_list()

    def refresh_list(self) -> None:
        options: list[Option | None] = [Option("⌨  Keypad…", id="keypad")]
        messenger = self.handset.messenger
        calls = calls_of(self)
        utc = bool(getattr(self.handset.clock, "utc", False))
        if messenger is not None:
            contacts = [c for c in messenger.contacts() if c.number != "echo"]
            if contacts:
                options.append(None)
                for contact in contacts:
                    mark = " ⚠" if contact.new_identity is not None else ""
                    options.append(Option(f"☏  {contact.name}{mark}",
                                          id=f"contact:{contact.number}"))
        entries = calls.log(limit=50) if calls is not None else []
        option_list = self.query_one(PhoneList)
        width = option_list.scrollable_content_region.width or LOG_WIDTH
        if entries:
            options.append(None)
            for index, entry in enumerate(entries):
                kind = "plain" if entry.plain else "e2e"
                options.append(Option(log_prompt(entry, utc, width),
                                      id=f"log:{index}:{kind}:{entry.number}"))
        highlighted = option_list.highlighted
        option_list.clear_options()
        option_list.add_options(options)
        if highlighted is not None and highlighted < option_list.option_count:
            option_list.highlighted = highlighted
        elif option_list.option_count:
            option_list.highlighted = 0
        busy = calls is not None and calls.current is not None
        set_text(self.query_one("#phone-empty", Static),
                 "" if entries or busy else "No calls yet. Choose a contact to call.")

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        choice = event.option.id or ""
        if choice == "keypad":
            self.action_keypad()
        elif choice.startswith("contact:"):
            dial(self, choice.removeprefix("contact:"))
        elif choice.startswith("log:"):
            # A call from the log is made as that call was: a carrier call again, or not.
            _, _, kind, number = choice.split(":", 3)
            dial(self, number, plain=kind == "plain")

    def action_keypad(self) -> None:
        self.handset_view.push(DialPadView())

    def action_carrier_call(self) -> None:
        """A carrier call to the highlighted contact or logged number (Open OS only)."""
        option_list = self.query_one(PhoneList)
        index = option_list.highlighted
        choice = "" if index is None else option_list.get_option_at_index(index).id or ""
        if choice.startswith("contact:"):
            dial(self, choice.removeprefix("contact:"), plain=True)
        elif choice.startswith("log:"):
            dial(self, choice.split(":", 3)[3], plain=True)
        else:
            self.action_keypad()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "carrier_call":
            return has_carrier_calls(self)
        return True

    @property
    def shown_as(self) -> tuple[str, str]:
        return ("phone", "")


def number_as_written(typed: str, handset: object) -> str | None:
    """A number typed on the keypad, as the network writes it ("+86 190 0000 0110"): spaces
    as typed or not; a contact's number with the same digits, else the country-code layout;
    None when it is no phone number."""
    from phone_tui.handset.numbers import is_number, written

    digits = "".join(ch for ch in typed if ch.isdigit())
    if not digits or any(not (ch.isdigit() or ch in " +") for ch in typed) or (
            "+" in typed and not typed.lstrip().startswith("+")) or typed.count("+") > 1:
        return None
    messenger = getattr(handset, "messenger", None)
    for contact in messenger.contacts() if messenger is not None else ():
        if "".join(ch for ch in contact.number if ch.isdigit()) == digits:
            return contact.number
    typed = " ".join(typed.split())
    if " " not in typed:
        typed = written(typed)  # +CC NNN NNNN NNNN
    return typed if is_number(typed) else None


class DialPadView(PhoneView):
    """Type a number (or click the keys) and call it."""

    TITLE = "Keypad"
    BINDINGS = bindings.DIAL_PAD
    DEFAULT_CSS = """
    DialPadView { align-horizontal: center; }
    DialPadView #dial-number { width: 100%; height: 3; content-align: center middle;
                               text-style: bold; border: round $primary 50%; }
    DialPadView #dial-keys { grid-size: 3; grid-gutter: 0 1; width: 32; height: 8;
                             margin: 1 0; }
    DialPadView #dial-keys Button { width: 100%; min-width: 8; }
    DialPadView #dial-buttons { height: 1; width: auto; }
    DialPadView #dial-buttons Button { margin-right: 2; }
    """

    can_focus = True

    def __init__(self) -> None:
        super().__init__(id="keypad")
        self.number = ""

    def compose(self) -> ComposeResult:
        yield self.title_label()
        yield Static("Type a number", id="dial-number")
        with Grid(id="dial-keys"):
            for key in DIAL_KEYS:
                name = {"+": "plus", "#": "hash"}.get(key, key)
                yield Button(key, id=f"dial-{name}", compact=True)
        with ButtonRow(id="dial-buttons"):
            yield RowButton("☏ Call", id="dial-call", variant="success")
            if has_carrier_calls(self):
                yield RowButton("Carrier", id="dial-carrier", variant="warning")
            yield RowButton("⌫ Delete", id="dial-delete")

    def on_mount(self) -> None:
        for button in self.query("#dial-keys Button"):
            button.can_focus = False  # the keyboard stays on the pad; clicks still press

    def focus_default(self) -> None:
        self.focus_now(self)

    def _show(self) -> None:
        set_text(self.query_one("#dial-number", Static), self.number or "Type a number")

    def action_digit(self, key: str) -> None:
        if len(self.number) < MAX_DIALLED:
            self.number += key
            self._show()

    def action_delete(self) -> None:
        self.number = self.number[:-1]
        self._show()

    def action_call(self, plain: bool = False) -> None:
        number = self.number.strip()
        if not number:
            self.notify("Type a number first.", title="Phone", severity="warning")
            return
        known = number_as_written(number, self.handset)
        if known is None:
            self.notify(f"{number} is not a phone number.", title="Phone", severity="warning")
            return
        dial(self, known, plain=plain)

    def action_carrier_call(self) -> None:
        self.action_call(plain=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "carrier_call":
            return has_carrier_calls(self)
        return True

    @on(Button.Pressed, "#dial-keys Button")
    def _key_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_digit(str(event.button.label))

    @on(Button.Pressed, "#dial-call")
    def _call_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_call()

    @on(Button.Pressed, "#dial-carrier")
    def _carrier_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_carrier_call()

    @on(Button.Pressed, "#dial-delete")
    def _delete_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_delete()



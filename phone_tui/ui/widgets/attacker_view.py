"""The attacker's own pane on the stage: what the fake base station caught (modem/rogue.py),
below the operator tap: the IMSI and IMEI, the victim's plain SMS texts and plain calls in
clear, and its end-to-end messages and calls only as ciphertext and their sizes."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from textual.content import Content
from textual.widgets import Static

from phone_tui.core.clock import Clock
from phone_tui.modem.rogue import AttackerRecord, AttackerTap
from phone_tui.ui.widgets.intercept_view import clean

SHOWN = 6  # lines of records under the caption (the newest)
LABELS = {"imsi": "IMSI", "imei": "IMEI", "sms": "SMS", "call": "call",
          "e2e-message": "E2E message", "e2e-call": "E2E call", "call-control": "call setup"}
# What a line shows of each field, read from a phone or the air: never parsed as markup, its
# control and format characters (ESC, OSC 52, bidi overrides) as escapes, its length bounded.
NAME_TEXT = 60
LINE_TEXT = 160
ALERT = "bold $text-error"


def attacker_line(record: AttackerRecord, names: Mapping[str, str]) -> Content:
    """One record as the attacker's pane shows it (Content: its text is never markup)."""
    def name(number: str) -> str:  # the stage's names are keyed by the number without spaces
        return clean(names.get(number.replace(" ", ""), number), NAME_TEXT)

    victim = name(record.phone)
    label = clean(LABELS.get(record.what, record.what), NAME_TEXT)
    if record.what in ("imsi", "imei"):
        return Content.assemble(f"{victim}  ", (label, "bold"),
                                f" {clean(record.text, LINE_TEXT)}")
    arrow = "\u2192" if record.direction == "up" else "\u2190"
    head = f"{victim} {arrow} {name(record.peer)}  "
    if record.what == "sms":
        text = ((f'"{clean(record.text, LINE_TEXT)}"', ALERT) if record.text
                else f"unreadable, {record.size} B")
        return Content.assemble(head, ("SMS", "bold"), " ", text)
    if record.what == "call":
        return Content.assemble(head, ("call", "bold"), " ", ("voice decodable", ALERT))
    return Content.assemble(head, f"{label}: {clean(record.text, LINE_TEXT)}, {record.size} B")


class AttackerView(Static):
    """The fake base station's catch, newest last; hidden until it caught something or a
    fake cell is on (``shown``)."""

    DEFAULT_CSS = """
    AttackerView { height: auto; max-height: 8; border-top: solid $error; padding: 0 1;
                   display: none; }
    AttackerView.-on { display: block; }
    """

    def __init__(self, clock: Clock, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.clock = clock
        self.tap: AttackerTap | None = None
        self.names: dict[str, str] = {}
        self._shown: tuple[int, bool] | None = None  # (records caught, on) as last drawn
        self.is_on: Callable[[], bool] = lambda: False

    def watch(self, tap: AttackerTap, names: Mapping[str, str] | None = None,
              is_on: Callable[[], bool] | None = None) -> None:
        self.tap = tap
        self.names = dict(names or {})
        if is_on is not None:
            self.is_on = is_on
        self.set_interval(0.5, self.show_records)
        self.show_records()

    def show_records(self) -> None:
        tap = self.tap
        if tap is None:
            return
        live = self.is_on()
        on = live or bool(tap.recent)
        self.set_class(on, "-on")
        if (tap.total, live) == self._shown:
            return  # nothing new caught, and switched neither on nor off
        self._shown = (tap.total, live)
        lines = [attacker_line(record, self.names) for record in list(tap.recent)[-SHOWN:]]
        caption = Content.assemble(("Fake base station", ALERT),
                                   " (attacker's tap, A5/0: no cipher)" if live else " (off)")
        self.update(Content("\n").join([caption, *(lines or [Content("nothing caught yet")])]))

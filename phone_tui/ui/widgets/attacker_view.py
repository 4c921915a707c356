"""The attacker's own pane on the stage: what the fake base station caught (modem/rogue.py),
below the operator tap: the IMSI and IMEI, the victim's plain SMS texts and plain calls in
clear, and its end-to-end messages and calls only as ciphertext and their sizes.

It knows what a catcher learns off the air: the victim's IMSI and IMEI, and numbers (the
peer's, an SMS's recipient or sender from its TPDU), never the carrier's subscriber names.
The identities stay pinned at the top; a call's voice is one line per call, updated."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

from textual.content import Content
from textual.widgets import Static

from phone_tui.core.clock import Clock
from phone_tui.modem.rogue import AttackerRecord, AttackerTap
from phone_tui.ui.widgets.intercept_view import clean

SHOWN = 6  # lines of records under the caption at least (the newest; more when the pane is tall)
CALL_GAP = 5.0  # seconds without voice after which the same two parties' voice is a new call
LABELS = {"imsi": "IMSI", "imei": "IMEI", "sms": "SMS", "call": "call",
          "e2e-message": "E2E message", "e2e-call": "E2E call", "call-control": "call setup"}
# What a line shows of each field, read from a phone or the air: never parsed as markup, its
# control and format characters (ESC, OSC 52, bidi overrides) as escapes, its length bounded.
NAME_TEXT = 60
LINE_TEXT = 160
ALERT = "bold $text-error"


def _stamp(when: float) -> str:
    moment = datetime.fromtimestamp(when, UTC)
    return f"{moment:%H:%M:%S}"


def attacker_line(record: AttackerRecord, names: Mapping[str, str] | None = None,
                  victim: str | None = None) -> Content:
    """One record as the attacker's pane shows it (Content: its text is never markup).
    ``victim``: how the catcher knows its victim (its IMSI); else the line's number. The
    carrier's ``names`` are not the catcher's: they are not shown."""
    def number(value: str) -> str:
        return clean(value, NAME_TEXT)

    who = number(victim or record.phone)
    label = clean(LABELS.get(record.what, record.what), NAME_TEXT)
    stamp = (f"{_stamp(record.time)} ", "dim")
    if record.what in ("imsi", "imei"):
        return Content.assemble(stamp, f"{number(record.phone)}  ", (label, "bold"),
                                f" {clean(record.text, LINE_TEXT)}")
    arrow = "\u2192" if record.direction == "up" else "\u2190"
    head = f"{who} {arrow} {number(record.peer)}  "
    if record.what == "sms":
        text = ((f'"{clean(record.text, LINE_TEXT)}"', ALERT) if record.text
                else f"unreadable, {record.size} B")
        return Content.assemble(stamp, head, ("SMS", "bold"), " ", text)
    if record.what == "call":
        return Content.assemble(stamp, head, ("call", "bold"), " ", ("voice decodable", ALERT))
    return Content.assemble(stamp, head,
                            f"{label}: {clean(record.text, LINE_TEXT)}, {record.size} B")


class _Call:
    """One call's voice as the catcher saw it: both ways summed."""

    def __init__(self, record: AttackerRecord) -> None:
        self.first = record
        self.last = record
        self.frames: dict[str, tuple[int, int]] = {}  # direction -> (frames, bytes)
        self.add(record)

    def add(self, record: AttackerRecord) -> None:
        self.last = record
        self.frames[record.direction] = (record.frames, record.frames * record.size)

    def line(self, victim: str | None) -> Content:
        record = self.first
        frames = sum(count for count, _ in self.frames.values())
        size = sum(volume for _, volume in self.frames.values())
        seconds = max(0, round(self.last.time - self.first.time))
        who = clean(victim or record.phone, NAME_TEXT)
        stamp = (f"{_stamp(record.time)} ", "dim")
        counts = f"{frames} frames, {size} B, {seconds} s"
        if record.what == "call":
            return Content.assemble(stamp, f"{who} \u2194 {clean(record.peer, NAME_TEXT)}  ",
                                    ("call", "bold"), " ", ("voice decodable", ALERT),
                                    f"  {counts}")
        return Content.assemble(stamp, f"{who} \u2194 {clean(record.peer, NAME_TEXT)}  ",
                                f"E2E call: ciphertext  {counts}")


def summarise(records: Iterable[AttackerRecord]) -> tuple[list[Content], list[Content]]:
    """(the identities caught, pinned; the other lines, oldest first): a call's voice is one
    line per call (placed by its newest voice), the victim named by the IMSI it gave."""
    identities: dict[tuple[str, str, str], AttackerRecord] = {}
    imsi: dict[str, str] = {}
    events: list[AttackerRecord | _Call] = []
    calls: dict[tuple[str, str, str], _Call] = {}
    for record in records:
        if record.what in ("imsi", "imei"):
            identities.pop((record.phone, record.what, record.text), None)
            identities[(record.phone, record.what, record.text)] = record
            if record.what == "imsi":
                imsi[record.phone] = record.text
            continue
        if record.frames:  # a call's voice
            key = (record.phone, record.peer, record.what)
            call = calls.get(key)
            if call is None or record.time - call.last.time > CALL_GAP or \
                    record.frames < call.frames.get(record.direction, (0, 0))[0]:
                call = calls[key] = _Call(record)
                events.append(call)
            else:
                call.add(record)
                events.remove(call)  # a call goes on: its line moves down with the newest
                events.append(call)
            continue
        events.append(record)
    pinned = [attacker_line(record) for record in identities.values()]
    lines = [event.line(imsi.get(event.first.phone)) if isinstance(event, _Call)
             else attacker_line(event, victim=imsi.get(event.phone)) for event in events]
    return pinned, lines


class AttackerView(Static):
    """The fake base station's catch: the identities pinned, then the newest lines as many as
    fit; hidden until it caught something or a fake cell is on (``shown``)."""

    DEFAULT_CSS = """
    AttackerView { height: 1fr; min-height: 3; max-height: 16; border-top: solid $error;
                   padding: 0 1; display: none; }
    AttackerView.-on { display: block; }
    """

    def __init__(self, clock: Clock, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.clock = clock
        self.tap: AttackerTap | None = None
        self.names: dict[str, str] = {}
        self._shown: tuple[int, bool, int] | None = None  # (caught, on, rows) as last drawn
        self.is_on: Callable[[], bool] = lambda: False

    def watch(self, tap: AttackerTap, names: Mapping[str, str] | None = None,
              is_on: Callable[[], bool] | None = None) -> None:
        self.tap = tap
        self.names = dict(names or {})
        if is_on is not None:
            self.is_on = is_on
        self.set_interval(0.5, self.show_records)
        self.show_records()

    def on_resize(self) -> None:
        self.show_records()

    def show_records(self) -> None:
        tap = self.tap
        if tap is None:
            return
        live = self.is_on()
        on = live or bool(tap.recent)
        self.set_class(on, "-on")
        rows = max(SHOWN, self.content_region.height - 1)
        if (tap.total, live, rows) == self._shown:
            return  # nothing new caught, switched neither on nor off, nor resized
        self._shown = (tap.total, live, rows)
        pinned, lines = summarise(list(tap.recent))
        pinned = pinned[-max(1, rows // 2):]  # room for the newest lines too
        shown = [*pinned, *lines[-max(1, rows - len(pinned)):]]
        caption = Content.assemble(("Fake base station", ALERT),
                                   " (attacker's tap, A5/0: no cipher)" if live else " (off)")
        self.update(Content("\n").join([caption, *(shown or [Content("nothing caught yet")])]))

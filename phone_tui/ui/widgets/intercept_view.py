"""The lawful-intercept view on stage: the IRI records the carrier hands to an authority.

The tap pane's other mode (F12). One line per record (3GPP TS 33.108 HI2): time, record type,
service, calling → called (in the names the carrier has for them), the calling line's IMSI,
the cell, the state, then the content: a plain SMS's text in full as HI2 carries it (quoted,
escaped), an end-to-end message only "ciphertext, N bytes", a call its state, duration,
release reason and whether its HI3 voice is decodable. Enter on a record shows every field.

Everything in a record came from a phone or the network: a text may hold markup, control
characters or bidi overrides. Lines are Rich ``Text`` (never parsed as markup), every control
and format character is written as an escape, and one line costs a bounded amount of work
whatever the text's length.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import fields
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from phone_tui.ui import bindings
from phone_tui.ui.shown_text import clean
from phone_tui.ui.widgets.tap_view import party

if TYPE_CHECKING:
    from collections.abc import Mapping

    from phone_tui.modem.intercept import IriRecord, LawfulIntercept

# One line at 100 columns: the pane's rows go to the records.
CAPTION = ("[b]LAWFUL INTERCEPT[/] \u00b7 HI2/HI3 handover: a plain SMS with its [b]text[/], "
           "E2E as metadata only")
MAX_LINES = 500
LINE_TEXT = 160  # characters of an SMS's text a line shows (the detail view has all of it)
MAX_CELLS = 400  # what one line may cost, whatever the pane's width
FALLBACK_WIDTH = 200
def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def content_of(record: IriRecord, limit: int | None = LINE_TEXT) -> str:
    """What the record says of the content: an SMS's text (quoted, escaped, cut at ``limit``
    characters), an E2E message's "ciphertext, N bytes", a call's duration, release reason
    and HI3 content."""
    if record.service == "sms" and record.sms_text is not None:
        text = record.sms_text
        shown = f"\"{clean(text, limit)}\""
        if limit is not None and len(text) > limit:
            shown += f" ({len(text)} chars: Enter for all)"
        return shown
    parts = []
    if record.service in ("call", "e2e-call"):
        if record.duration_s is not None:
            parts.append(_duration(record.duration_s))
        if record.release_reason:
            parts.append(clean(record.release_reason, 40))
        if record.record == "HI3" or record.content in ("decodable", "ciphertext"):
            voice = f"HI3 {record.content or 'no content'}"
            if record.codec:
                voice += f" {clean(record.codec, 20)}"
            if record.state != "released":
                voice += ", voice flowing"  # the totals come with the call's end
            elif record.frames:
                voice += f", {record.frames} frame{'s' if record.frames != 1 else ''}"
            parts.append(voice)
    elif record.content == "ciphertext":
        parts.append(f"ciphertext, {record.size} bytes")
    elif record.content:
        parts.append(clean(record.content, 20))
    return "  ".join(parts)


def _time(stamp: str) -> str:
    """``2027-01-15T08:00:00.250Z`` -> ``08:00:00.250``."""
    head, _, clock = stamp.partition("T")
    return clean(clock.rstrip("Z") if clock else head, 16)


def describe_record(record: IriRecord, names: Mapping[str, str] | None = None,
                    width: int | None = None) -> Text:
    """One record as a line of the view, at most ``width`` cells (None: MAX_CELLS)."""
    names = names or {}
    room = min(width, MAX_CELLS) if width is not None else MAX_CELLS
    line = Text()
    # From the fullest layout to the leanest: the content (an SMS's text) matters most.
    # The IMSI goes last: the parties' names say who, and the text is what a trainer looks for.
    layouts = ((True, True, True, True), (False, True, True, True), (False, False, True, True),
               (False, False, False, True), (False, False, False, False))
    for with_number, with_cell, with_imsi, with_ms in layouts:
        calling = clean(party(record.calling, names, with_number=with_number), 60)
        called = clean(party(record.called, names, with_number=with_number), 60)
        line = Text.assemble(
            (f"{_time(record.time) if with_ms else _time(record.time)[:8]} ", "dim"),
            (f"{clean(record.record, 12):<10} ", "bold"),
            (f"{clean(record.service, 12):<12} ",
             "bold" if record.service == "sms" else ""),
            f"{calling} \u2192 {called}  " if called else f"{calling}  ",
            *([(f"IMSI {clean(record.calling_imsi, 16)}  ", "dim")]
              if record.calling_imsi and with_imsi else []),
            *([(f"{clean(record.cell, 24)}  ", "dim")] if record.cell and with_cell else []),
            f"{clean(record.state, 16)}  " if record.state else "",
            (content_of(record), "italic" if record.service == "sms" else ""))
        if line.cell_len <= room:
            break
    line.rstrip()
    if line.cell_len > room:
        line.truncate(room, overflow="ellipsis")
    line.no_wrap = True
    line.overflow = "ellipsis"
    return line


def record_fields(record: IriRecord, names: Mapping[str, str] | None = None
                  ) -> list[tuple[str, str]]:
    """Every field of ``record`` as (name, value shown), the parties' names beside numbers."""
    names = names or {}
    shown = []
    for spec in fields(record):
        value = getattr(record, spec.name)
        if spec.name in ("calling", "called") and value:
            text = clean(party(value, names), 200)
        elif spec.name == "sms_text":
            text = "(none)" if value is None else f"\"{clean(value)}\" ({len(value)} chars)"
        elif value is None or value == "":
            text = "-"
        else:
            text = clean(str(value), 200)
        shown.append((spec.name, text))
    return shown


class RecordDetail(ModalScreen[None]):
    """Every field of one record; an SMS's text in full, wrapped."""

    DEFAULT_CSS = """
    RecordDetail { align: center middle; }
    RecordDetail > Vertical { width: 90%; max-width: 110; height: 80%; border: heavy $warning;
                              padding: 0 1; background: $surface; }
    RecordDetail #detail-title { height: 1; text-style: bold; }
    RecordDetail VerticalScroll { height: 1fr; }
    """
    BINDINGS = bindings.INTERCEPT_DETAIL

    def __init__(self, record: IriRecord, names: Mapping[str, str]) -> None:
        super().__init__()
        self.record = record
        self.names = names

    def compose(self) -> ComposeResult:
        body = Text()
        for index, (name, value) in enumerate(record_fields(self.record, self.names)):
            if index:
                body.append("\n")
            body.append(f"{name:<15}", "bold")
            body.append(value)
        with Vertical():
            yield Static(f"Intercept record {self.record.seq} (Escape closes)",
                         id="detail-title", markup=False)
            with VerticalScroll():
                yield Static(body, id="detail-body")

    def action_close(self) -> None:
        self.dismiss(None)


class InterceptView(Vertical):
    """The intercept pane: caption, state and one line per IRI record; Enter: its details."""

    BINDINGS = bindings.INTERCEPT_VIEW

    DEFAULT_CSS = """
    InterceptView { height: 1fr; min-height: 5; border-top: heavy $error; padding: 0 1; }
    InterceptView #intercept-caption { width: 100%; height: auto; color: $text-error; }
    InterceptView #intercept-state { width: 100%; height: 1; text-style: bold; }
    InterceptView OptionList { height: 1fr; background: $surface; border: none;
                               scrollbar-size-vertical: 1; overflow-x: hidden; padding: 0; }
    /* OptionList's own focus border would take two of the few rows the records have. */
    InterceptView OptionList:focus { border: none; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.intercept: LawfulIntercept | None = None
        self.names: Mapping[str, str] = {}
        self.records: deque[IriRecord] = deque(maxlen=MAX_LINES)
        self.taken = 0
        self._width = 0
        # Live: the list follows the newest record, as a log viewer does, until the user moves
        # up; End (or moving to the last row) follows again.
        self.following = True
        self._auto: int | None = None  # the row this view highlighted itself, last

    def compose(self) -> ComposeResult:
        yield Static(CAPTION, id="intercept-caption")
        yield Static("", id="intercept-state", markup=False)
        yield OptionList(id="intercept-list")

    def on_mount(self) -> None:
        self._show_state()

    def watch_intercept(self, intercept: LawfulIntercept,
                        names: Mapping[str, str] | None = None) -> None:
        """Show ``intercept``'s history, then each new record as it comes."""
        self.intercept = intercept
        self.names = dict(names or {})
        self._reader = asyncio.get_running_loop().create_task(self._read(intercept))

    def set_names(self, names: Mapping[str, str]) -> None:
        """Number (no spaces) -> the name the carrier has for it; the lines are redrawn."""
        self.names = dict(names)
        self._redraw()

    def on_unmount(self) -> None:
        reader = getattr(self, "_reader", None)
        if reader is not None:
            reader.cancel()

    async def _read(self, intercept: LawfulIntercept) -> None:
        live = intercept.records(maxsize=MAX_LINES)
        # No await between the history and the subscription (the generator's first step):
        # no record falls between them; one in both is shown once (by its sequence number).
        history = list(intercept.recent)[-MAX_LINES:]
        for record in history:
            self.take(record)
        last = history[-1].seq if history else 0
        async for record in live:
            if record.seq > last:
                self.take(record)

    @property
    def caught_up(self) -> bool:
        intercept = self.intercept
        return intercept is None or not intercept.recent or (
            bool(self.records) and self.records[-1].seq >= intercept.recent[-1].seq)

    def take(self, record: IriRecord) -> None:
        """Add one record (the oldest line goes beyond MAX_LINES)."""
        self.taken += 1
        full = len(self.records) == MAX_LINES
        self.records.append(record)
        listing = self.query_one(OptionList)
        if full and listing.option_count:
            listing.remove_option_at_index(0)
        listing.add_option(Option(self._line(record)))
        self._follow()
        self._show_state()

    def _follow(self) -> None:
        """Following: the newest record in sight (and highlighted, once the list has the
        keys or a row was highlighted)."""
        if not self.following:
            return
        listing = self.query_one(OptionList)
        last = listing.option_count - 1
        if last < 0:
            return
        if listing.highlighted is not None or self.has_focus_within:
            self._auto = last  # its OptionHighlighted comes later: not the user's move
            listing.highlighted = last
        listing.scroll_end(animate=False, immediate=False, x_axis=False)

    @on(OptionList.OptionHighlighted, "#intercept-list")
    def _highlight_moved(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_index == self._auto:
            return
        # Moved up: stay there (the records keep coming below); on the last row: follow.
        self.following = event.option_index >= event.option_list.option_count - 1
        self._auto = None
        self._show_state()

    def _line(self, record: IriRecord) -> Text:
        self._width = self._line_width()
        return describe_record(record, self.names, width=self._width)

    def _line_width(self) -> int:
        listing = self.query_one(OptionList)
        # Room for the scrollbar always: records arrive in a batch before it appears, and a
        # line made wider than the list once it is there would be cut.
        width = listing.content_region.width - listing.styles.scrollbar_size_vertical - 1
        return width if width > 0 else FALLBACK_WIDTH

    def on_resize(self, event: events.Resize) -> None:
        self.call_after_refresh(self._refit)

    def _refit(self) -> None:
        if not self.is_mounted:
            return
        if self._line_width() != self._width:
            self._redraw()
        else:
            self._follow()  # shorter (a pane opened below): the newest record stays in sight

    def _redraw(self) -> None:
        listing = self.query_one(OptionList)
        highlighted = listing.highlighted
        listing.clear_options()
        listing.add_options([Option(self._line(record)) for record in self.records])
        if highlighted is not None and self.records:
            self._auto = min(highlighted, len(self.records) - 1)
            listing.highlighted = self._auto
        self._follow()
        self._show_state()

    def clear(self) -> None:
        self.records.clear()
        self._redraw()

    def focus_list(self) -> None:
        listing = self.query_one(OptionList)
        if listing.highlighted is None and listing.option_count:
            listing.highlighted = listing.option_count - 1
        listing.focus()
        self._follow()

    @property
    def highlighted_record(self) -> IriRecord | None:
        index = self.query_one(OptionList).highlighted
        return self.records[index] if index is not None and index < len(self.records) else None

    def show_detail(self, record: IriRecord | None = None) -> None:
        record = record or self.highlighted_record
        if record is not None:
            self.app.push_screen(RecordDetail(record, self.names))

    @on(OptionList.OptionSelected, "#intercept-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option_index < len(self.records):
            self.show_detail(self.records[event.option_index])

    def action_export(self) -> None:
        self.app.action_export_intercept()  # type: ignore[attr-defined]

    def _show_state(self) -> None:
        sms = sum(record.service == "sms" for record in self.records)
        state = "\u25cf live" if self.following else "\u275a\u275a held (End: follow)"
        self.query_one("#intercept-state", Static).update(
            f"{state} \u00b7 {len(self.records)} records ({sms} SMS with their text) "
            "\u00b7 Enter: every field \u00b7 x exports them")

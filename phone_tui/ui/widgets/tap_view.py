"""The operator tap on stage: every frame the carrier carries, as the carrier sees it.

Time, the radio link (↑ phone to network, ↓ network to phone), kind, size, from → to and the
first bytes of the body as hex, each line cut to the pane's width (the cell and the parties'
numbers go first when it is narrow, then hex bytes). For a message that body is end-to-end
ciphertext: the carrier sees who, when and how much, never what. A plain SMS (its TPDU) or a
plain call's call control is shown too, labelled so: the carrier reads those. Where the
carrier has a name for a number (real-name registration: every SIM is registered to a person)
it shows it beside the number. A RichLog with a line cap keeps it bounded.

A call's voice frames (50 a second each way, on each radio hop) are summed up: one line per
stream and second, "voice", the frame size, the frames a second and the last frame's first
bytes (ciphertext: the carrier sees that a call goes on, between whom and how big, never the
voice). Its reports (once a second, and while on hold the only frames) are told apart by their
clear payload-type byte, as a carrier tells RTCP from RTP: summed the same way as "control",
shown with every frame, like acknowledgements and keep-alives; they never count as voice.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, RichLog, Static

if TYPE_CHECKING:
    from collections.abc import Mapping

    from phone_tui.core.clock import Clock
    from phone_tui.modem.tap import OperatorTap, TapRecord

# One line at 100 columns. E2E: metadata only; plain SMS and calls: the carrier reads them.
CAPTION = ("[b]OPERATOR TAP[/] · the carrier sees who, when, how much; of plain SMS and "
           "calls, [b]the content too[/]")
MAX_LINES = 500
HEX_BYTES = 12


MIN_HEX_BYTES = 4  # the least ciphertext a line shows: less says nothing
VOICE_EVERY = 1.0  # seconds between two lines of one voice stream
MAX_VOICE_STREAMS = 64  # streams summed at once (a flood of senders is cut, not kept)
SHOWN_BY_DEFAULT = ("message", "report", "call", "voice", "sms", "cc")
# Plain services between a phone and the carrier (not end to end): the carrier reads them.
PLAIN = {"sms": "sms", "cc": "call ctl"}
PLAIN_NOTE = "plain: the carrier reads it  "


@dataclass(frozen=True)
class VoiceSummary:
    """A second of one call stream (voice or control) on one radio hop, as the tap shows it
    (a TapRecord's fields, plus how many frames came)."""

    cell: str
    direction: str
    src: str
    dst: str
    size: int  # bytes per frame (the mean)
    body: bytes  # the last frame's sealed packet
    per_second: int
    content: str = "voice"
    kind: str = "voice"

FALLBACK_WIDTH = 200  # before the log has a size: wide enough for the fullest layout


def party(number: str, names: Mapping[str, str], *, with_number: bool = True) -> str:
    """``number`` as the carrier knows it: ``Minister Li (+86 190 …)`` when it has a name
    (only the name when ``with_number`` is False), else the number."""
    name = names.get(number.replace(" ", ""))
    if not name:
        return number
    return f"{name} ({number})" if with_number else name


def _hex(body: bytes, count: int) -> str:
    return body[:count].hex(" ", -2) + (" …" if len(body) > count else "")


def _cipher(body: bytes, room: int) -> str | None:
    """As much of ``body`` as hex as fits ``room`` cells (cut with …), at least MIN_HEX_BYTES;
    None when even that does not fit."""
    for count in range(min(len(body), HEX_BYTES), min(len(body), MIN_HEX_BYTES) - 1, -1):
        text = _hex(body, count)
        if len(text) <= room:
            return text
    return None


def describe(record: TapRecord, wall: float, names: Mapping[str, str] | None = None,
             width: int | None = None) -> Text:
    """One frame as a line of the tap, at most ``width`` cells (None: no limit). ``wall`` is
    its wall-clock time; ``names`` maps numbers without spaces to the subscribers' names.

    What matters comes first: time, direction, kind, size, from → to, then as much of the
    ciphertext as fits. Room permitting, the cell and each party's number are shown too."""
    names = names or {}
    stamp = datetime.fromtimestamp(wall, UTC)
    arrow = "↑" if record.direction == "up" else "↓"
    what = record.content or record.kind
    body = record.body if record.content else b""
    head = [(f"{stamp:%H:%M:%S}.{stamp.microsecond // 1000:03d} ", "dim")]
    per_second = getattr(record, "per_second", None)
    size = f"{record.size:>5} B  " if per_second is None else \
        f"{record.size:>5} B × {per_second}/s  "
    plain = what in PLAIN
    label = PLAIN.get(what, what)
    tail = [(f"{arrow} ", "bold"),
            (f"{label:<7} ", "bold" if what == "message" or plain else ""), size]
    line = None
    # From the fullest layout to the leanest; the first that leaves room for some ciphertext.
    for with_cell, with_number in ((True, True), (False, True), (False, False)):
        parties = (f"{party(record.src, names, with_number=with_number)} → "
                   f"{party(record.dst, names, with_number=with_number)}  ")
        start = Text.assemble(*head, *([(f"{record.cell} ", "dim")] if with_cell else []),
                              *tail, parties, *([(PLAIN_NOTE, "bold")] if plain else []))
        room = (width - start.cell_len) if width is not None else HEX_BYTES * 3
        cipher = _cipher(body, room)
        if cipher is not None:
            # A plain body's hex is its clear TPDU or call control, not ciphertext: no italic.
            line = Text.assemble(start, (cipher, "" if plain else "italic"))
            break
    if line is None:  # narrower than any layout: the leanest, cut
        line = Text.assemble(start, (_hex(body, MIN_HEX_BYTES), "" if plain else "italic"))
    line.rstrip()
    if width is not None and line.cell_len > width:
        line.truncate(width, overflow="ellipsis")
    line.no_wrap = True
    line.overflow = "ellipsis"
    return line


class TapView(Vertical):
    """The tap pane: caption, a filter (a name or a number), live/paused state and the log."""

    DEFAULT_CSS = """
    TapView { height: 1fr; min-height: 5; border-top: heavy $warning; padding: 0 1; }
    TapView #tap-caption { width: 100%; height: auto; color: $text-warning; }
    TapView #tap-head { height: 1; }
    TapView #tap-state { width: auto; height: 1; margin-left: 2; text-style: bold; }
    TapView #tap-filter { width: 28; height: 1; border: none; padding: 0; }
    TapView RichLog { height: 1fr; background: $surface; scrollbar-size-vertical: 1;
                      overflow-x: hidden; }
    """

    def __init__(self, clock: Clock, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock
        self.tap: OperatorTap | None = None
        self.names: Mapping[str, str] = {}
        self.paused = False
        self.all_frames = False
        self.shown = 0
        self.taken = 0  # records read off the tap (voice frames included)
        self._published_before = 0
        self._width = 0
        self._held: deque[tuple[TapRecord, float]] = deque(maxlen=MAX_LINES)
        self._seen: deque[tuple[TapRecord, float]] = deque(maxlen=MAX_LINES)
        # A call's frames this second, per stream and content (voice, control): (frames,
        # bytes, the last packet).
        self._voice: dict[tuple[str, str, str, str, str, str], list] = {}

    def compose(self) -> ComposeResult:
        yield Static(CAPTION, id="tap-caption")
        with Horizontal(id="tap-head"):
            yield Input(placeholder="filter: name or number", id="tap-filter", compact=True)
            yield Static("", id="tap-state")
        yield RichLog(max_lines=MAX_LINES, wrap=False, markup=False, id="tap-log")

    def on_mount(self) -> None:
        self._show_state()
        self.summing = self.set_interval(VOICE_EVERY, self._sum_voice)

    def _sum_voice(self) -> None:
        """A line for each call stream (voice, control) carried this second."""
        streams, self._voice = self._voice, {}
        wall = self.clock.now()
        for (cell, direction, _phone, src, dst, content), (frames, size, body) in \
                streams.items():
            # The sealed packet after its 12-byte header (flags, type, seq, time, SSRC: in
            # clear, as RTP's are): the ciphertext.
            summary = VoiceSummary(cell, direction, src, dst, size // frames, body[12:],
                                   round(frames / VOICE_EVERY), content)
            self._take(summary, wall)  # type: ignore[arg-type]

    def watch_tap(self, tap: OperatorTap, names: Mapping[str, str] | None = None) -> None:
        """Start reading ``tap`` (the network's); ``names``: number (no spaces) → the name
        the carrier has for it."""
        self.tap = tap
        self.names = dict(names or {})
        self._published_before = tap.total  # what it carried before this pane read it
        # A task of its own, not a worker: it runs for the app's life, and workers are what
        # tests wait on to settle.
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @property
    def caught_up(self) -> bool:
        """Every frame the network carried since this pane started watching has been read
        (a screenshot waits for it: the reader is a task of its own)."""
        tap = self.tap
        return tap is None or tap.total - self._published_before - tap.dropped <= self.taken

    def on_unmount(self) -> None:
        reader = getattr(self, "_reader", None)
        if reader is not None:
            reader.cancel()

    async def _read(self) -> None:
        assert self.tap is not None
        async for record in self.tap.records(maxsize=MAX_LINES):
            self.taken += 1
            if record.kind == "voice":  # a call's real-time frame: voice or control
                key = (record.cell, record.direction, record.phone, record.src, record.dst,
                       record.content)
                stream = self._voice.get(key)
                if stream is not None:
                    stream[0] += 1
                    stream[1] += record.size
                    stream[2] = record.body
                elif len(self._voice) < MAX_VOICE_STREAMS:
                    self._voice[key] = [1, record.size, record.body]
                continue
            # Stamped with the phones' clock as it arrives (the bus runs on loop time).
            self._take(record, self.clock.now())

    def _take(self, record: TapRecord, wall: float) -> None:
        entry = (record, wall)
        self._seen.append(entry)
        if self.paused:
            self._held.append(entry)
            if self._wanted(record):
                self._show_state()
        else:
            self._write(*entry)

    @property
    def filter(self) -> str:
        return self.query_one("#tap-filter", Input).value.strip()

    def _wanted(self, record: TapRecord) -> bool:
        if not self.all_frames and record.content not in SHOWN_BY_DEFAULT:
            return False
        wanted = self.filter.replace(" ", "").casefold()
        return not wanted or any(self._matches(number, wanted)
                                 for number in (record.src, record.dst))

    def _matches(self, number: str, wanted: str) -> bool:
        """``wanted`` (spaces removed, casefolded) is part of the number or of its name."""
        bare = number.replace(" ", "")
        name = self.names.get(bare, "")
        return wanted in bare.casefold() or wanted in name.replace(" ", "").casefold()

    def _write(self, record: TapRecord, wall: float) -> None:
        if self._wanted(record):
            log = self.query_one(RichLog)
            self._width = self._line_width()
            line = describe(record, wall, self.names, width=self._width)
            # Each line fits the pane (no sideways scrolling): a resize lays them out again.
            log.write(line, width=self._width, shrink=False)
            self.shown += 1
            self._show_state()

    def _line_width(self) -> int:
        """The cells a line may take: the log's width inside its scrollbar."""
        width = self.query_one(RichLog).scrollable_content_region.width
        return width if width > 0 else FALLBACK_WIDTH

    def on_resize(self, event: events.Resize) -> None:
        # After the log has its new size (the pane's padding and the scrollbar come off).
        self.call_after_refresh(self._refit)

    def _refit(self) -> None:
        if self.is_mounted and self._line_width() != self._width:
            self._redraw()

    def _redraw(self) -> None:
        log = self.query_one(RichLog)
        log.clear()
        self.shown = 0
        # While paused the held frames wait for the resume, not in the log already.
        for record, wall in list(self._seen)[:len(self._seen) - len(self._held)]:
            self._write(record, wall)
        self._show_state()

    def toggle_pause(self) -> bool:
        """Freeze the log (frames keep arriving and wait); True when paused."""
        self.paused = not self.paused
        if not self.paused:
            held, self._held = list(self._held), deque(maxlen=MAX_LINES)
            for entry in held:
                self._write(*entry)
        self._show_state()
        return self.paused

    def toggle_all_frames(self) -> bool:
        """Messages and reports only, or every frame (acks, keep-alives); True for all."""
        self.all_frames = not self.all_frames
        self._redraw()
        return self.all_frames

    def clear(self) -> None:
        self._seen.clear()
        self._held.clear()
        self._redraw()

    def _show_state(self) -> None:
        waiting = sum(self._wanted(record) for record, _ in self._held)
        state = f"❚❚ paused ({waiting} waiting)" if self.paused else "● live"
        # The pane's other mode (the stage's footer has no room for its key).
        self.query_one("#tap-state", Static).update(
            f"{state} · {self.shown} shown · F12 intercept records")

    @on(Input.Changed, "#tap-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._redraw()

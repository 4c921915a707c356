"""A conversation's history drawn with the line API: only the visible lines are rendered.

Messages are laid out into lines once per width (bubbles wrapped at four fifths of the
width, ours on the right with a state tick; the messenger's notices as a centred dim line);
scrolling only picks lines out of that list.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.message import Message as TextualMessage
from textual.scroll_view import ScrollView
from textual.strip import Strip

from phone_tui.handset.messenger import Message

TICKS = {"sending": "◷", "sent": "✓", "delivered": "✓✓", "read": "✓✓", "failed": "✗",
         "received": ""}


class ChatLog(ScrollView, can_focus=True):
    """The messages of one conversation, newest at the bottom."""

    COMPONENT_CLASSES = {"chat-log--ours", "chat-log--theirs", "chat-log--meta",
                         "chat-log--read", "chat-log--failed", "chat-log--notice"}
    DEFAULT_CSS = """
    /* The scrollbar's gutter is kept from the start: our bubbles and ticks, laid out against
       the width beside it, stay put when a longer history brings the scrollbar. */
    ChatLog { height: 1fr; background: $surface; scrollbar-gutter: stable;
              /* One column, a track and a thumb in the theme's colours: it reads as a
                 scrollbar, not as glyphs after the ticks. */
              scrollbar-size-vertical: 1;
              scrollbar-background: $panel; scrollbar-background-hover: $panel;
              scrollbar-background-active: $panel;
              scrollbar-color: $foreground-muted; scrollbar-color-hover: $primary;
              scrollbar-color-active: $primary; }
    ChatLog > .chat-log--ours { background: $primary 30%; color: $text; }
    ChatLog > .chat-log--theirs { background: $panel; color: $text; }
    ChatLog > .chat-log--meta { color: $text-muted; }
    ChatLog > .chat-log--read { color: $primary; }
    ChatLog > .chat-log--failed { color: $text-error; }
    ChatLog > .chat-log--notice { color: $text-muted; text-style: dim; }
    """

    EDGE = 3  # lines from the top or bottom at which more history is asked for

    class NearEdge(TextualMessage):
        """Scrolled close to the top or bottom of what is loaded."""

        def __init__(self, edge: str) -> None:
            self.edge = edge
            super().__init__()

    def __init__(self, *, utc: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self._messages: list[Message] = []
        self._lines: list[tuple[str, str, int]] = []  # (text, kind, message index)
        self._laid_out_width = -1
        self._utc = utc
        # At the bottom, the log stays there when messages come or the width changes; not at
        # the bottom, the line at the top stays put (``_keep``: a message id and a line in it).
        self._follow = True
        self._keep: tuple[int, int] | None = None
        self._marked: int | None = None  # a message id shown reversed (a search result)

    @property
    def messages(self) -> Sequence[Message]:
        return self._messages

    def set_messages(self, messages: list[Message], *, keep_bottom: bool = True) -> None:
        """Show ``messages`` from scratch: at the newest, or (``keep_bottom=False``) where the
        caller scrolls next."""
        self._messages = list(messages)
        self._follow = keep_bottom
        self._keep = None
        self._marked = None
        self._layout(force=True)

    def update_messages(self, messages: list[Message]) -> None:
        """The same conversation with messages added, changed or gone: at the bottom the log
        stays at the bottom (a new message is in view), elsewhere the lines read stay put."""
        if not self._follow:
            self._keep = self._keep or self._top_line()
        self._messages = list(messages)
        if self._marked is not None and not any(m.id == self._marked for m in messages):
            self._marked = None
        self._layout(force=True)

    def _top_line(self) -> tuple[int, int] | None:
        """The message at the top of the view and which of its lines is there."""
        top = int(self.scroll_y)
        if not 0 <= top < len(self._lines):
            return None
        index = self._lines[top][2]
        first = next(line for line, entry in enumerate(self._lines) if entry[2] == index)
        return self._messages[index].id, top - first

    def _at_bottom(self) -> bool:
        return self.scroll_y >= self.max_scroll_y - 1

    def lines_for(self, count: int, *, first: bool) -> int:
        """How many lines the first (or last) ``count`` messages take."""
        indexes = range(count) if first else range(len(self._messages) - count,
                                                     len(self._messages))
        wanted = set(indexes)
        return sum(1 for _text, _kind, index in self._lines if index in wanted)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if self._laid_out_width > 0 and self._keep is None:
            # Scrolled (by the user or to a message): following again only at the bottom.
            self._follow = self._at_bottom()
        if new <= self.EDGE and old > new:
            self.post_message(self.NearEdge("top"))
        elif new >= self.max_scroll_y - self.EDGE and new > old:
            self.post_message(self.NearEdge("bottom"))

    def on_resize(self) -> None:
        if not self._follow and self._laid_out_width > 0:
            self._keep = self._keep or self._top_line()
        self._layout()

    def _time(self, at: float) -> str:
        moment = (datetime.fromtimestamp(at, tz=UTC) if self._utc
                  else datetime.fromtimestamp(at).astimezone())
        return moment.strftime("%H:%M")

    def _layout(self, force: bool = False) -> None:
        if not self.scrollable_content_region.width:
            # Not on screen (yet, or hidden under another view): on_resize lays the messages
            # out at the real width, whatever width they were laid out at before.
            self._laid_out_width = -1
            return
        width = max(10, self.scrollable_content_region.width)
        if width == self._laid_out_width and not force:
            return
        self._laid_out_width = width
        bubble = max(8, width * 4 // 5)  # as Signal: a bubble takes up to four fifths
        lines: list[tuple[str, str, int]] = []
        for index, message in enumerate(self._messages):
            if message.kind == "notice":
                for text in textwrap.wrap(message.body, width - 2) or [""]:
                    lines.append((text.center(width).rstrip(), "notice", index))
                lines.append(("", "gap", index))
                continue
            kind = "ours" if message.outgoing else "theirs"
            # Words whole: "Wi-Fi" is not cut at its hyphen (a word longer than the bubble
            # still is, at its width).
            wrapped = textwrap.wrap(message.body, bubble - 2, replace_whitespace=False,
                                    drop_whitespace=True, break_on_hyphens=False) or [""]
            inner = max(len(line) for line in wrapped)
            for text in wrapped:
                lines.append((f" {text.ljust(inner)} ", kind, index))
            tick = TICKS.get(message.state, "")
            meta = self._time(message.at) + (f" {tick}" if message.outgoing and tick else "")
            if message.state == "failed" and message.reason:
                meta += f" {message.reason}"
            lines.append((meta, "meta", index))
            lines.append(("", "gap", index))
        self._lines = lines
        self.virtual_size = Size(width, len(lines))
        # Now, and with force: the scrollbar a longer history brings is only shown at the next
        # layout, and until then a plain scroll does nothing (the chat opened on its oldest
        # lines). The new virtual size already bounds the offset.
        if self._follow:
            self._scroll_now(self.max_scroll_y)
        elif self._keep is not None:
            message_id, offset = self._keep
            self._keep = None
            line = self._first_line(message_id)
            if line is not None:
                self._scroll_now(line + offset)
        self.refresh()

    def _scroll_now(self, y: float) -> None:
        self.scroll_to(y=y, animate=False, immediate=True, force=True)

    def watch_show_vertical_scrollbar(self, shown: bool) -> None:
        # Textual moves the scrollbar's thumb only while the scrollbar is shown: the one a
        # longer history brings appears at the next layout, after the scroll, with its thumb
        # at the top (the chat showed its newest lines beside a thumb on its oldest).
        if shown:
            self.vertical_scrollbar.position = self.scroll_y

    def _first_line(self, message_id: int) -> int | None:
        for line, (_text, _kind, index) in enumerate(self._lines):
            if self._messages[index].id == message_id:
                return line
        return None

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = self.scroll_offset.y + y
        if not 0 <= index < len(self._lines):
            return Strip.blank(width, self.rich_style)
        text, kind, message_index = self._lines[index]
        message = self._messages[message_index]
        if kind == "gap" or not text:
            return Strip.blank(width, self.rich_style)
        if kind == "notice":
            text = text[:width]
            style = self.get_component_rich_style("chat-log--notice")
            lead = len(text) - len(text.lstrip())
            return Strip([Segment(" " * lead, self.rich_style), Segment(text[lead:], style),
                          Segment(" " * (width - len(text)), self.rich_style)], width)
        if kind == "meta":
            name = ("chat-log--failed" if message.state == "failed" else
                    "chat-log--read" if message.state == "read" else "chat-log--meta")
            style = self.get_component_rich_style(name)
        else:
            style = self.get_component_rich_style(f"chat-log--{kind}")
            if message.id == self._marked:
                style += Style(reverse=True, bold=True)
        text = text[:width]
        pad = width - len(text)
        base = self.rich_style
        segments = ([Segment(" " * pad, base), Segment(text, style)] if message.outgoing
                    else [Segment(text, style), Segment(" " * pad, base)])
        return Strip(segments, width)

    @property
    def marked(self) -> int | None:
        """The id of the message shown marked (reversed), if any."""
        return self._marked

    def unmark(self) -> None:
        if self._marked is not None:
            self._marked = None
            self.refresh()

    def scroll_to_message(self, message_id: int, *, mark: bool = False) -> None:
        """Bring the message with this id into view, a few lines below the top (after layout),
        and with ``mark`` show it reversed until :meth:`unmark`."""
        if mark and any(message.id == message_id for message in self._messages):
            self._marked = message_id

        def go() -> None:
            line = self._first_line(message_id)
            if line is not None:
                self._follow = False
                self._scroll_now(max(0, line - self._lines_above()))
                self.refresh()

        self.call_after_refresh(go)

    def open_at(self, messages: list[Message], message_id: int | None) -> None:
        """Show ``messages`` with the message ``message_id`` (the first unread) near the top
        and the ones before it above, or at the newest when it is None (as Signal opens a
        chat). Few unread ones that fit below the older lines leave the log at the bottom."""
        if message_id is None or not any(m.id == message_id for m in messages):
            self.set_messages(messages)
            return
        self._messages = list(messages)
        self._marked = None
        self._follow = False
        self._keep = (message_id, -self._lines_above())
        self._layout(force=True)

    def _lines_above(self) -> int:
        """Lines shown above a message scrolled to: the end of the one before it."""
        height = self.scrollable_content_region.height
        return max(0, min(3, height // 4)) if height else 3

    def styled_text(self) -> str:
        """Every line as plain text (for tests and screen readers)."""
        return "\n".join(text for text, _kind, _index in self._lines)

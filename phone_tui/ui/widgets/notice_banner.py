"""The heads-up banner under the phone's status bar: the newest notification, over the view.

It sits on the frame's ``notices`` layer, so the view below neither moves nor shrinks. The
title is in the top border, the text (plain, unless the notice asked for markup) wraps to at
most three lines, and "+2 more" in the bottom border counts the notices that came meanwhile.
A click takes it down.
"""

from __future__ import annotations

from textual import events
from textual.content import Content
from textual.message import Message
from textual.widget import Widget

from phone_tui.ui.notices import SEVERITIES, Notice

MAX_LINES = 3


def banner_lines(notice: Notice, width: int, max_lines: int = MAX_LINES) -> list[Content]:
    """The notice's text as at most ``max_lines`` lines of ``width`` cells; what does not fit
    ends in an ellipsis."""
    width = max(width, 4)
    body = Content.from_markup(notice.message) if notice.markup else Content(notice.message)
    lines: list[Content] = []
    for paragraph in body.split("\n"):
        wrapped = [paragraph] if notice.one_line else paragraph.wrap(width)
        for line in wrapped or [Content("")]:
            if line.cell_length > width:
                line = Content.assemble(line.truncate(width - 1), "…")
            lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1].rstrip()
        if last.cell_length >= width:
            last = last.truncate(width - 1)
        lines[-1] = Content.assemble(last, "…")
    return lines


class NoticeBanner(Widget):
    """Shows one notice (or nothing: then it is not displayed at all)."""

    DEFAULT_CSS = """
    NoticeBanner { layer: notices; width: 100%; height: auto; margin: 2 1 0 1; padding: 0 1;
                   display: none; background: $panel; color: $text;
                   border: round $accent; border-title-color: $text;
                   border-title-style: bold; border-subtitle-color: $text-muted; }
    NoticeBanner.-shown { display: block; }
    NoticeBanner.-warning { border: round $warning; }
    NoticeBanner.-error { border: round $error; }
    """

    class Dismissed(Message):
        """The banner was clicked away."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.notice: Notice | None = None
        self.hidden = 0

    def show(self, notice: Notice | None, hidden: int = 0) -> None:
        if notice is None and self.notice is None:
            # Still nothing to show (the phone's first notices check, after the first frame):
            # a layout refresh here would reflow the whole screen for no change.
            self.hidden = hidden
            return
        self.notice, self.hidden = notice, hidden
        self.set_class(notice is not None, "-shown")
        for severity in SEVERITIES[1:]:
            self.set_class(notice is not None and notice.severity == severity, f"-{severity}")
        if notice is None:
            self.border_title = self.border_subtitle = None
        else:
            self.border_title = Content(notice.title or "Notification")
            self.border_subtitle = Content(f"+{hidden} more") if hidden else None
        self.refresh(layout=True)

    @property
    def text(self) -> str:
        """What the banner says, as plain text (title, lines, the count): for tests."""
        if self.notice is None:
            return ""
        lines = banner_lines(self.notice, self.content_region.width or 36)
        more = f"\n+{self.hidden} more" if self.hidden else ""
        return "\n".join([self.notice.title, *(line.plain for line in lines)]) + more

    def get_content_height(self, container, viewport, width: int) -> int:  # noqa: ANN001
        return len(banner_lines(self.notice, width)) if self.notice is not None else 0

    def render(self) -> Content:
        if self.notice is None:
            return Content("")
        return Content("\n").join(banner_lines(self.notice, self.content_region.width))

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.post_message(self.Dismissed())

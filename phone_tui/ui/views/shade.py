"""The notification shade: the phone's recent notifications, newest first."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from textual.app import ComposeResult
from textual.content import Content
from textual.widgets import Static
from textual.widgets.option_list import Option

from phone_tui.ui.views.base import PhoneView
from phone_tui.ui.widgets.notice_banner import banner_lines
from phone_tui.ui.widgets.phone_list import PhoneList

EMPTY = "No notifications"
FULL_LINES = 12  # the banner cuts a notice at three lines; the shade shows it whole
STYLE = {"warning": "$text-warning", "error": "$text-error"}


def _clock_time(clock, at: float) -> str:  # noqa: ANN001
    """``at`` on the phone's clock face (UTC for fixed clocks, as wall_time shows them)."""
    moment = (datetime.fromtimestamp(at, tz=UTC) if getattr(clock, "utc", False)
              else datetime.fromtimestamp(at).astimezone())
    return moment.strftime("%H:%M")


class NoticeShade(PhoneView):
    """Opened from the status bar (a click) or its key; Escape closes it."""

    TITLE = "Notifications"

    DEFAULT_CSS = """
    NoticeShade #shade-empty { width: 100%; text-align: center; color: $text-muted; }
    NoticeShade PhoneList > .option-list--option { padding: 0 0 1 0; }
    """

    def __init__(self) -> None:
        super().__init__(id="notice-shade")
        self._revision = -1

    def compose(self) -> ComposeResult:
        yield self.title_label()
        yield Static("", id="shade-empty")
        yield PhoneList(id="shade-list")

    def on_mount(self) -> None:
        self.on_return()

    def on_return(self) -> None:
        board = self.handset_view.notices
        self._revision = board.revision
        self.show(board.history)

    def tick(self) -> None:
        # A notice that came, or went with its message (a disappearing timer), since the
        # last redraw: the shade shows the board as it is now, not as it was.
        if self.handset_view.notices.revision != self._revision:
            self.on_return()

    def show(self, notices) -> None:  # noqa: ANN001 - an iterable of Notice
        notices = list(notices)
        listing = next(iter(self.query("#shade-list").results(PhoneList)), None)
        if listing is None:
            return  # closed again before its list was mounted (pushed and popped in one go)
        listing.clear_options()
        width = max(10, (listing.content_region.width or 38) - 1)
        clock = self.handset.clock
        for index, notice in enumerate(notices):
            when = _clock_time(clock, notice.at)
            head = Content.assemble((notice.title or "Notification",
                                     f"bold {STYLE.get(notice.severity, '')}".strip()),
                                    ("  " + when, "$text-muted"))
            listing.add_option(Option(Content("\n").join(
                [head, *banner_lines(replace(notice, one_line=False), width, FULL_LINES)]),
                id=f"notice-{index}"))
        self.query_one("#shade-empty", Static).update(EMPTY if not notices else "")
        self.query_one("#shade-empty").display = not notices
        listing.display = bool(notices)
        if notices:
            listing.highlighted = 0

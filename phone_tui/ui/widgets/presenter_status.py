"""The stage's presenter status line: what the last presenter action did (a key, the reset, the
bots), on a line of its own between the phones and the tap. A toast would cover the tap's
columns just as the frame the presenter wants to show arrives.

It runs on the stage's clock, as the phones' banners do: a message goes ``timeout`` seconds
after it came (checked every second, or when a test calls ``tick``); an error stays until the
next message replaces it.
"""

from __future__ import annotations

import contextlib
from collections import deque
from typing import TYPE_CHECKING

from textual.content import Content
from textual.markup import MarkupError
from textual.widgets import Static

from phone_tui.ui.notices import DEFAULT_TIMEOUT, HISTORY, SEVERITIES, plain_line

if TYPE_CHECKING:
    from phone_tui.core.clock import Clock


LIMIT = 400  # characters kept of a message (the line shows what fits, cut with …)


class PresenterStatus(Static):
    """One line: ``Title · message`` until its timeout (errors until replaced)."""

    DEFAULT_CSS = """
    PresenterStatus { width: 100%; height: 1; padding: 0 1; text-wrap: nowrap;
                      text-overflow: ellipsis; }
    PresenterStatus.-warning { color: $text-warning; }
    PresenterStatus.-error { color: $text-error; text-style: bold; }
    """

    def __init__(self, clock: Clock, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.clock = clock
        self.text = ""  # what the line says now ("" when it has faded)
        self.history: deque[str] = deque(maxlen=HISTORY)  # newest first, faded ones too
        self._until: float | None = None

    def on_mount(self) -> None:
        self.set_interval(1.0, self.tick)

    def show(self, message: str, *, title: str = "", severity: str = "information",
             timeout: float | None = None, markup: bool = False) -> None:
        """Put ``message`` up, replacing what the line said."""
        # One line, without control or format characters (messages quote files and names).
        one_line = plain_line(str(message), LIMIT)
        body = Content(one_line)
        if markup:
            with contextlib.suppress(MarkupError):  # bad markup: shown as the words it is
                body = Content.from_markup(one_line)
        line = Content.assemble((title, "bold"), " · ", body) if title else body
        self.text = line.plain
        self.history.appendleft(self.text)
        severity = severity if severity in SEVERITIES else "information"
        for name in SEVERITIES:
            self.set_class(name == severity, f"-{name}")
        self._until = None if severity == "error" else self.clock.now() + (
            timeout if timeout is not None and timeout > 0 else DEFAULT_TIMEOUT)
        self.update(line)

    def tick(self) -> None:
        """Fade the message whose time is up."""
        if self._until is not None and self.clock.now() >= self._until:
            self._until = None
            self.text = ""
            self.update("")

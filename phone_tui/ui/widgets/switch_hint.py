"""The way to the other OS on the lock and setup screens (small: it is on the start-up path)."""

from __future__ import annotations

from textual import events
from textual.widgets import Static


class SwitchHint(Static):
    """On the lock and setup screens of either OS: the way to the other one (click or F2)."""

    DEFAULT_CSS = """
    SwitchHint { width: 100%; height: 1; dock: bottom; text-align: center; color: $text-muted; }
    SwitchHint:hover { color: $primary; text-style: underline; }
    """

    def __init__(self) -> None:
        super().__init__("⇄ Switch OS (F2)", id="switch-hint")

    def on_click(self, event: events.Click) -> None:
        event.stop()
        from phone_tui.ui.handset_view import HandsetView

        self.query_ancestor(HandsetView).action_switch_os()

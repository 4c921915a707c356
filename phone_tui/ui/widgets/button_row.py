"""A row of buttons side by side; the arrow keys move between them."""

from __future__ import annotations

from textual.containers import Horizontal
from textual.widgets import Button

from phone_tui.ui import bindings


class ButtonRow(Horizontal):
    """Buttons side by side; ← and → move between them (Tab does too)."""

    BINDINGS = bindings.BUTTON_ROW


class RowButton(Button):
    """A flat one-line button of a dialog or a row: the focused one is drawn in reverse (a
    compact button's own focus style is a faint tint), and the footer offers ⏎ for it."""

    BINDINGS = bindings.ROW_BUTTON
    DEFAULT_CSS = """
    RowButton { min-width: 10; }
    RowButton:focus { text-style: bold reverse; }
    """

    def __init__(self, label: str, *, id: str | None = None,  # noqa: A002 - Textual's name
                 variant: str = "default") -> None:
        super().__init__(label, id=id, variant=variant, compact=True)  # type: ignore[arg-type]

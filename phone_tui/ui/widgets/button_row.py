"""A row of buttons side by side; the arrow keys move between them."""

from __future__ import annotations

from textual.containers import Horizontal

from phone_tui.ui import bindings


class ButtonRow(Horizontal):
    """Buttons side by side; ← and → move between them (Tab does too)."""

    BINDINGS = bindings.BUTTON_ROW

"""The PIN keypad drawn as one widget: four rows of three keys, clickable.

One widget instead of twelve Buttons keeps the lock screen's first frame cheap (see
benchmarks/startup.py); the keyboard path lives in PinEntry.
"""

from __future__ import annotations

from textual import events
from textual.message import Message
from textual.widget import Widget

ROWS = (("1", "2", "3"), ("4", "5", "6"), ("7", "8", "9"), ("del", "0", "ok"))
LABELS = {"del": "⌫", "ok": "OK"}
KEY_WIDTH = 7
GAP = 2
ROW_STEP = 2  # a key row, then a blank row
PAD_WIDTH = 3 * KEY_WIDTH + 2 * GAP


class PinPad(Widget):
    """Posts ``PinPad.Pressed`` with "0"–"9", "del" or "ok" when a key is clicked."""

    DEFAULT_CSS = f"""
    PinPad {{ width: 100%; height: {len(ROWS) * ROW_STEP - 1}; }}
    PinPad:disabled {{ opacity: 50%; }}
    """

    COMPONENT_CLASSES = {"pin-pad--key", "pin-pad--ok"}

    class Pressed(Message):
        def __init__(self, key: str) -> None:
            self.key = key
            super().__init__()

    @property
    def left(self) -> int:
        """Where the keys start: the pad is centred in the widget's width."""
        return max(0, (self.size.width - PAD_WIDTH) // 2)

    def render(self) -> str:
        indent = " " * self.left
        lines = []
        for row in ROWS:
            cells = []
            for key in row:
                label = LABELS.get(key, key).center(KEY_WIDTH)
                # Keys drawn as keys (a filled cell), as on a phone's keypad.
                style = "reverse $primary" if key == "ok" else "b on $panel"
                cells.append(f"[{style}]{label}[/]")
            lines.append(indent + (" " * GAP).join(cells))
            lines.append("")
        return "\n".join(lines[:-1])

    def key_at(self, x: int, y: int) -> str | None:
        """The key under cell (x, y), or None for the gaps between keys."""
        x -= self.left
        if x < 0 or y % ROW_STEP or not 0 <= y // ROW_STEP < len(ROWS):
            return None
        column, within = divmod(x, KEY_WIDTH + GAP)
        if within >= KEY_WIDTH or not 0 <= column < 3:
            return None
        return ROWS[y // ROW_STEP][column]

    def offset_of(self, key: str) -> tuple[int, int]:
        """Where to click for ``key`` (the middle of its label): for tests and flows."""
        for row_index, row in enumerate(ROWS):
            if key in row:
                x = self.left + row.index(key) * (KEY_WIDTH + GAP) + KEY_WIDTH // 2
                return x, row_index * ROW_STEP
        raise KeyError(key)

    def on_click(self, event: events.Click) -> None:
        event.stop()
        key = self.key_at(event.x, event.y)
        if key is not None and not self.disabled:
            self.post_message(self.Pressed(key))

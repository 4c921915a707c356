"""An on/off switch drawn as text (`[ ON  ]` / `[ OFF ]`), which any terminal, font and SVG
renderer shows whole; Textual's Switch draws a `tall` border of eighth-blocks that SVG
snapshots break apart."""

from __future__ import annotations

from textual.content import Content
from textual.geometry import Size
from textual.widgets import Switch


class TextSwitch(Switch):
    """A Switch (same value, messages, keys and clicks) that reads ON or OFF."""

    DEFAULT_CSS = """
    TextSwitch, TextSwitch:focus, TextSwitch:light {
        border: none; padding: 0; height: 1; background: transparent;
        color: $text-muted;
    }
    TextSwitch.-value-on { color: $success; text-style: bold; }
    /* Focus must not look like "on": a neutral tint, not the (green) block cursor. */
    TextSwitch:focus { background: $foreground 15%; text-style: bold; }
    """

    def __init__(self, value: bool = False, *, id: str | None = None,  # noqa: A002
                 classes: str | None = None) -> None:
        super().__init__(value, animate=False, id=id, classes=classes)
        self.set_class(value, "-value-on")

    def watch_value(self, value: bool) -> None:
        self.set_class(value, "-value-on")
        super().watch_value(value)

    def render(self) -> Content:
        return Content("[ ON  ]" if self.value else "[ OFF ]")

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return 7

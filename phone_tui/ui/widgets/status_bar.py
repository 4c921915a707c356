"""The phone's status bar: carrier, signal, network, clock, battery, persona badge, lock state."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

BARS = "▂▄▆█"


@dataclass(frozen=True)
class StatusInfo:
    carrier: str
    signal_bars: int
    network_type: str
    clock: str
    battery_percent: int
    persona: str
    persona_label: str
    locked: bool


def signal_glyphs(bars: int) -> tuple[str, str]:
    """The lit and unlit parts of a four-bar signal meter."""
    bars = max(0, min(4, bars))
    return BARS[:bars], BARS[bars:]


class StatusBar(Horizontal):
    """Two lines at the top of the phone frame."""

    DEFAULT_CSS = """
    StatusBar { height: 2; layout: grid; grid-size: 3 2; grid-columns: 1fr auto 1fr;
                padding: 0 1; background: $panel; }
    StatusBar Label { width: 100%; }
    StatusBar #sb-clock { text-style: bold; width: auto; }
    StatusBar #sb-right, StatusBar #sb-lock { content-align-horizontal: right; text-align: right; }
    StatusBar .unlit { color: $foreground-muted; }
    StatusBar #sb-persona { text-style: bold; color: $text; }
    """

    def compose(self) -> ComposeResult:
        yield Label(id="sb-left")
        yield Label(id="sb-clock")
        yield Label(id="sb-right")
        yield Label(id="sb-persona")
        yield Label(id="sb-spacer")
        yield Label(id="sb-lock")

    def show(self, info: StatusInfo) -> None:
        lit, unlit = signal_glyphs(info.signal_bars)
        self.query_one("#sb-left", Label).update(
            f"{info.carrier} {lit}[$foreground-muted]{unlit}[/] {info.network_type}")
        self.query_one("#sb-clock", Label).update(info.clock)
        self.query_one("#sb-right", Label).update(f"{info.battery_percent}%")
        self.query_one("#sb-persona", Label).update(f"■ {info.persona_label.upper()}")
        self.query_one("#sb-lock", Label).update("● LOCKED" if info.locked else "○ UNLOCKED")
        self.set_class(info.locked, "-locked")

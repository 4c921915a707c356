"""The phone's status bar: carrier, signal, network, clock, battery, persona badge, lock state."""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from textual import events
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

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
    radios: tuple[str, ...] = ()  # short names of the radios that are on
    airplane: bool = False  # no radio transmits: no carrier, no signal meter


def network_label(registration: str, network_type: str) -> str:
    """What the status bar says about the network for a registration state."""
    return {
        "home": network_type,
        "roaming": f"R {network_type}",
        "searching": "Searching",
        "denied": "SOS only",
        "unregistered": "No service",
        "airplane": "✈ Airplane",
    }.get(registration, registration)


def signal_glyphs(bars: int) -> tuple[str, str]:
    """The lit and unlit parts of a four-bar signal meter."""
    bars = max(0, min(4, bars))
    return BARS[:bars], BARS[bars:]


def signal_markup(bars: int) -> str:
    """The meter as markup: lit bars in the text colour, unlit ones in the theme's dim
    ``$signal-unlit`` (``$text-muted`` lost its alpha in markup and came out brighter)."""
    lit, unlit = signal_glyphs(bars)
    return f"{lit}[$signal-unlit]{unlit}[/]" if unlit else lit


def _line(width: int, left: tuple[str, str], middle: tuple[str, str],
          right: tuple[str, str]) -> str:
    """Lay out three (markup, plain) parts: left-aligned, centred, right-aligned."""
    (left_markup, left_plain), (mid_markup, mid_plain), (right_markup, right_plain) = (
        left, middle, right)
    mid_start = max(cell_len(left_plain) + 1, (width - cell_len(mid_plain)) // 2)
    gap_one = mid_start - cell_len(left_plain)
    gap_two = max(1, width - mid_start - cell_len(mid_plain) - cell_len(right_plain))
    return f"{left_markup}{' ' * gap_one}{mid_markup}{' ' * gap_two}{right_markup}"


class StatusBar(Widget):
    """Two lines at the top of the phone frame, drawn as one widget."""

    DEFAULT_CSS = """
    StatusBar { height: 2; width: 100%; padding: 0 1; background: $panel; color: $text; }
    """

    info: reactive[StatusInfo | None] = reactive(None)

    class Pressed(Message):
        """A click on the status bar: pull down the notification shade."""

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.post_message(self.Pressed())

    def show(self, info: StatusInfo) -> None:
        self.info = info

    def render(self) -> Content:
        info = self.info
        if info is None:
            return Content("")
        width = self.content_region.width
        # In airplane mode a phone shows the plane, not a carrier it is not talking to.
        network = (("✈ Airplane mode", "✈ Airplane mode") if info.airplane else
                   (f"{info.carrier} {signal_markup(info.signal_bars)} {info.network_type}",
                    f"{info.carrier} {BARS} {info.network_type}"))
        top = _line(
            width,
            network,
            (f"[b]{info.clock}[/]", info.clock),
            (f"{info.battery_percent}%", f"{info.battery_percent}%"))
        badge = f"■ {info.persona_label.upper()}"
        lock = "● LOCKED" if info.locked else "○ UNLOCKED"
        radios = " ".join(info.radios)
        bottom = _line(width, (f"[b]{badge}[/]", badge), (radios, radios), (lock, lock))
        return Content.from_markup(f"{top}\n{bottom}")

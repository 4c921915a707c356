"""The status bar's signal meter tells the truth: lit bars stand out, unlit ones recede."""

from __future__ import annotations

import pytest

from phone_tui.testing import SIZE, make_app, set_up, settle
from phone_tui.ui.widgets.status_bar import BARS, StatusBar

THEMES = ["secure", "open", "high-contrast"]
# A shipped link profile for each bar count (seeds/link_profiles.toml).
PROFILE_FOR_BARS = {0: "no-service", 1: "gprs", 2: "edge", 3: "3g", 4: "lte"}
RGB = tuple[int, int, int]


def luminance(rgb: RGB) -> float:
    """WCAG 2 relative luminance."""
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(one: RGB, two: RGB) -> float:
    high, low = sorted((luminance(one), luminance(two)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def meter(app) -> tuple[RGB, list[tuple[RGB, RGB]]]:
    """The carrier name's colour (the status bar's text, which lit bars share), and
    (foreground, background) of each of the four bar glyphs as rendered, in order."""
    text: RGB | None = None
    cells: list[tuple[RGB, RGB]] = []
    for segment in app.query_one(StatusBar).render_line(0):
        for char in segment.text:
            if text is None and char.isalpha():
                text = tuple(segment.style.color.triplet)
            if char in BARS:
                cells.append((tuple(segment.style.color.triplet),
                              tuple(segment.style.bgcolor.triplet)))
    assert text is not None and len(cells) == len(BARS)
    return text, cells


async def render_meter(handset, data_dir, theme: str, profile: str | None):
    """Run the app in ``theme`` on ``profile`` (None: airplane mode) and read the meter."""
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, theme=theme)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        if profile is None:
            handset.set_airplane(True)
        else:
            handset.set_link_profile(profile)
        await settle(pilot)
        return handset.modem.bars, *meter(app)


def assert_meter_shows(text: RGB, cells: list[tuple[RGB, RGB]], bars: int) -> None:
    background = cells[0][1]
    for index, (colour, _) in enumerate(cells[:bars]):
        assert colour == text, f"lit bar {index + 1} is {colour}, not the text's {text}"
    for index, (colour, _) in enumerate(cells[bars:], start=bars):
        assert contrast(colour, background) < contrast(text, background) / 2, (
            f"unlit bar {index + 1} {colour} stands out like lit {text} on {background}")
        assert contrast(colour, background) > 1.3, f"unlit bar {index + 1} is invisible"


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("bars", sorted(PROFILE_FOR_BARS))
async def test_unlit_signal_bars_are_dimmer_than_lit_ones(handset, data_dir, theme, bars):
    shown, text, cells = await render_meter(handset, data_dir, theme, PROFILE_FOR_BARS[bars])
    assert shown == bars
    assert_meter_shows(text, cells, bars)


async def test_airplane_mode_shows_the_plane_instead_of_a_carrier_and_its_meter(
        handset, data_dir):
    from phone_tui.ui.widgets.status_bar import StatusBar

    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        bar = app.query_one(StatusBar)
        assert handset.device.carrier in bar.render().plain
        handset.set_airplane(True)
        app.query_one("#handset").refresh_status()
        await settle(pilot)
        top = bar.render().plain.splitlines()[0]
        assert top.startswith("✈ Airplane mode")
        assert handset.device.carrier not in top and not set(BARS) & set(top)
        handset.set_airplane(False)
        app.query_one("#handset").refresh_status()
        await settle(pilot)
        assert handset.device.carrier in bar.render().plain

"""The phone frame has a phone's proportions: a fixed height, centred, the room outside it."""

from __future__ import annotations

import pytest

from phone_tui.testing import make_app, make_handset, set_up, settle
from phone_tui.ui.handset_view import FRAME_HEIGHT, FRAME_WIDTH, MIN_HEIGHT, HandsetView
from phone_tui.ui.widgets.app_grid import AppGrid
from phone_tui.ui.widgets.pin_pad import PinPad
from phone_tui.ui.widgets.switch_hint import SwitchHint


def frame_of(app):
    return app.query_one(HandsetView).query_one("#frame")


@pytest.mark.parametrize("size", [(100, 40), (160, 45), (120, 60)])
async def test_the_frame_keeps_a_phones_height_and_is_centred_in_a_tall_terminal(
        data_dir, clock, size):
    handset = make_handset(data_dir, clock=clock)
    await set_up(handset)
    app = make_app(data_dir, handset=handset)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        frame = frame_of(app).region
        view = app.query_one(HandsetView).region
        assert (frame.width, frame.height) == (FRAME_WIDTH, FRAME_HEIGHT)
        above, below = frame.y - view.y, view.bottom - frame.bottom
        assert abs(above - below) <= 1
        left, right = frame.x - view.x, view.right - frame.right
        assert abs(left - right) <= 1


async def test_a_shorter_terminal_shrinks_the_frame_down_to_its_minimum(data_dir, clock):
    handset = make_handset(data_dir, clock=clock)
    await set_up(handset)
    app = make_app(data_dir, handset=handset)
    async with app.run_test(size=(100, MIN_HEIGHT + 3)) as pilot:
        await settle(pilot)
        frame = frame_of(app).region
        view = app.query_one(HandsetView).region
        assert frame.height == view.height < FRAME_HEIGHT
        await pilot.resize_terminal(100, 40)
        await settle(pilot)
        assert frame_of(app).region.height == FRAME_HEIGHT


async def test_the_lock_screen_has_the_clock_on_top_and_the_pad_low_where_the_thumb_is(
        data_dir, clock):
    handset = make_handset(data_dir, clock=clock)
    await set_up(handset)
    app = make_app(data_dir, handset=handset)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        frame = frame_of(app).region
        clock_row = app.query_one("#lock-clock").region
        pad = app.query_one(PinPad).region
        hint = app.query_one(SwitchHint).region
        assert clock_row.y <= frame.y + 4  # right under the status bar
        # The pad sits at the bottom: only the PIN's message lines and the countdown between
        # it and the Switch OS line, the spare rows above it.
        assert hint.y - pad.bottom <= 5
        assert pad.y - clock_row.bottom >= 5


async def test_the_home_screen_spreads_the_spare_rows_around_the_app_grid(data_dir, clock):
    handset = make_handset(data_dir, clock=clock)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        number = app.query_one("#home-number").region
        grid = app.query_one(AppGrid).region
        hint = app.query_one("#home-hint").region
        above, below = grid.y - number.bottom, hint.y - grid.bottom
        assert above >= 2 and below >= 2
        assert abs(above - below) <= 1
        assert app.query_one("#home-clock").region.height == 3

"""The home grid keeps its selection: back from an app, the tile that launched it is selected."""

from __future__ import annotations

from test_messages_app import FULL, top

from phone_tui.testing import SIZE, make_app, make_handset, set_up, settle
from phone_tui.ui.views.home import HomeView
from phone_tui.ui.views.settings import SettingsView


async def test_back_from_an_app_the_tile_that_launched_it_is_selected(data_dir, clock):
    """Network, Escape, Right, Enter opens Settings (the tile right of Network), not Network
    (right of Messages, where the selection used to reset); Home does the same."""
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(top(app), HomeView)
        await pilot.press("right", "enter")
        await settle(pilot)
        assert top(app).id == "network"
        await pilot.press("escape", "right", "enter")
        await settle(pilot)
        assert isinstance(top(app), SettingsView)
        await pilot.press("home")
        await settle(pilot)
        assert isinstance(top(app), HomeView)
        assert app.screen.focused is app.query_one("#app-settings")
        # A click selects the tile it opens, too.
        await pilot.click("#app-messages")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen.focused is app.query_one("#app-messages")

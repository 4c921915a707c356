"""Radio policy: the secure OS has no camera, GPS, Wi-Fi or Bluetooth; the open OS has
working toggles that change the status bar and what apps can do."""

from __future__ import annotations

import pytest
from textual.widgets import Switch

from phone_tui.core.config import Settings
from phone_tui.errors import RadioRemoved
from phone_tui.handset.device import RADIOS
from phone_tui.handset.events import RadioChanged
from phone_tui.testing import SIZE, make_app, make_handset, open_app, set_up, settle
from phone_tui.ui.handset_view import HandsetView
from phone_tui.ui.views.radios import RadiosView
from phone_tui.ui.widgets.status_bar import StatusBar

OPEN = Settings(persona="open")


def status_text(app) -> str:
    bar = app.query_one(StatusBar)
    return "\n".join(bar.render_line(y).text for y in range(2))


async def test_secure_os_has_no_radios_and_refuses_to_turn_them_on(handset):
    await set_up(handset, locked=False)
    for radio in RADIOS:
        assert not handset.radio_present(radio) and not handset.radio_on(radio)
        with pytest.raises(RadioRemoved, match="removed by the Secure OS policy"):
            handset.set_radio(radio, True)


async def test_open_os_toggles_persist_in_its_store(data_dir, clock):
    handset = make_handset(data_dir, clock=clock, settings=OPEN)
    await set_up(handset, locked=False)
    handset.set_radio("wifi", True)
    assert handset.radio_on("wifi") and not handset.radio_on("gps")
    assert handset.events.history[-1] == RadioChanged("open", "wifi", True)
    handset.lock()
    again = make_handset(data_dir, clock=clock, settings=OPEN)
    from phone_tui.testing import TEST_PIN

    await again.unlock(TEST_PIN)
    assert again.radio_on("wifi")


async def test_secure_home_has_no_camera_or_maps_and_settings_say_removed(handset, data_dir):
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not app.query("#app-camera") and not app.query("#app-maps")
        await open_app(pilot, "settings")
        app.query_one(HandsetView).top.open_entry("radios")
        await settle(pilot)
        assert isinstance(app.query_one(HandsetView).top, RadiosView)
        assert not app.query(Switch)
        text = str(app.query_one("#radio-wifi").render())
        assert "not present — removed by policy" in text


async def test_open_os_camera_and_maps_follow_their_radios(data_dir, clock):
    handset = make_handset(data_dir, clock=clock, settings=OPEN)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=OPEN)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_app(pilot, "camera")
        assert "Camera is off" in str(app.query_one("#camera-screen").render())
        await pilot.press("escape")
        await open_app(pilot, "settings")
        app.query_one(HandsetView).top.open_entry("radios")
        await settle(pilot)
        await pilot.click("#radio-camera")
        await pilot.click("#radio-gps")
        await settle(pilot)
        assert handset.radio_on("camera") and handset.radio_on("gps")
        assert "GPS CAM" in status_text(app)
        await pilot.press("home")
        await open_app(pilot, "camera")
        assert "Live view" in str(app.query_one("#camera-screen").render())
        await pilot.press("escape")
        await open_app(pilot, "maps")
        assert "Position fix" in str(app.query_one("#gps-screen").render())
        handset.set_radio("gps", False)
        await settle(pilot)
        assert "GPS is off" in str(app.query_one("#gps-screen").render())


async def test_the_camera_viewfinder_sits_in_the_middle_of_the_screen(data_dir, clock):
    handset = make_handset(data_dir, clock=clock, settings=OPEN)
    await set_up(handset, locked=False)
    handset.set_radio("camera", True)
    app = make_app(data_dir, handset=handset, settings=OPEN)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_app(pilot, "camera")
        screen = app.query_one("#camera-screen")
        strips = app.screen._compositor.render_strips()
        region = screen.content_region
        top = next(strips[y].crop(region.x, region.right).text for y in range(region.y,
                   region.bottom) if "┌" in strips[y].text)
        left, right = len(top) - len(top.lstrip()), len(top) - len(top.rstrip())
        assert abs(left - right) <= 1, (left, right)

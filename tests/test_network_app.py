"""The Network app and the status bar's view of the link, driven with Pilot."""

from __future__ import annotations

from dataclasses import replace

import pytest
from textual.widgets import OptionList, Switch

from phone_tui.core.config import load_settings
from phone_tui.handset.events import LinkProfileChanged, RegistrationChanged
from phone_tui.modem.profiles import load_profiles
from phone_tui.testing import (
    SIZE,
    make_app,
    make_handset,
    notifications,
    open_app,
    set_up,
    settle,
    wait_for,
)
from phone_tui.ui.handset_view import HandsetView
from phone_tui.ui.views.network import NetworkView
from phone_tui.ui.widgets.status_bar import StatusBar

PROFILES = load_profiles()


def status_text(app) -> str:
    bar = app.query_one(StatusBar)
    return "\n".join(bar.render_line(y).text for y in range(2))


async def test_network_app_switches_airplane_and_profile_and_remembers_them(handset, data_dir):
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "LTE" in status_text(app) and handset.modem.bars == 4
        await open_app(pilot, "network")
        view = app.query_one(NetworkView)
        assert "home · LTE" in str(app.query_one("#net-registration").render())

        await pilot.click("#net-airplane")
        await settle(pilot)
        assert app.query_one("#net-airplane", Switch).value is True
        assert handset.modem.registration == "unregistered"
        assert "✈ Airplane" in status_text(app)
        assert load_settings(data_dir / "settings.toml").airplane is True
        assert handset.events.history[-1] == RegistrationChanged("secure", "unregistered", 0, "LTE")

        await pilot.press("a")  # the key does the same
        await settle(pilot)
        assert handset.modem.registration == "home"

        await pilot.press("p")
        await settle(pilot)
        profiles = list(handset.profiles)
        app.query_one("#profile-list", OptionList).highlighted = profiles.index("gprs")
        await pilot.press("enter")
        await settle(pilot)
        assert app.query_one(HandsetView).top is view
        assert handset.modem.profile.name == "gprs"
        assert " G " in status_text(app) or "GovNet ▂ G" in status_text(app)
        assert LinkProfileChanged("secure", "gprs") in handset.events.history
        assert load_settings(data_dir / "settings.toml").link_profile == "gprs"


async def test_test_burst_shows_traffic_in_the_figures(handset, data_dir):
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_app(pilot, "network")
        await pilot.press("t")
        await pilot.pause(0.3)  # real time: LTE figures are tens of milliseconds
        view = app.query_one(NetworkView)
        view.tick()
        assert handset.modem.stats.bytes_up > 20 * 1024
        assert "frames 0" not in str(app.query_one("#net-counters").render())
        assert len([e for e in handset.received if e.src == "echo"]) > 0


async def test_settings_remember_airplane_mode_across_restarts(data_dir, clock):
    from phone_tui.core.config import Settings

    handset = make_handset(data_dir, clock=clock, settings=Settings(airplane=True))
    await set_up(handset)
    app = make_app(data_dir, handset=handset, settings=Settings(airplane=True))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert handset.modem.airplane and "✈ Airplane" in status_text(app)


@pytest.mark.parametrize(("registration", "expected"), [
    ("home", "LTE"), ("roaming", "R LTE"), ("searching", "Searching"), ("denied", "SOS only")])
async def test_status_bar_shows_each_registration_state(data_dir, clock, registration, expected):
    handset = make_handset(data_dir, clock=clock)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        handset.profiles["custom"] = replace(PROFILES["lte"], name="custom",
                                             registration=registration)
        handset.set_link_profile("custom")
        await settle(pilot)
        assert expected in status_text(app)
        assert handset.modem.bars == (4 if registration in ("home", "roaming") else 0)


async def test_unknown_link_profile_in_settings_falls_back_to_lte_with_a_notice(data_dir, clock):
    from phone_tui.core.config import Settings

    settings = Settings(link_profile="carrier-pigeon")
    handset = make_handset(data_dir, clock=clock, settings=settings)
    app = make_app(data_dir, handset=handset, settings=settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert handset.modem.profile.name == "lte"
        assert any("unknown link profile 'carrier-pigeon'" in text
                   for text in notifications(app))


async def test_the_palette_opens_settings_network_security(handset, data_dir):
    from phone_tui.ui.commands import HandsetCommands
    from phone_tui.ui.views.network_security import NetworkSecurityView

    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        commands = HandsetCommands(app.screen)._commands()
        (open_it,) = [cb for title, _, cb in commands if title == "Network security"]
        open_it()
        await wait_for(pilot, lambda: isinstance(app.query_one(HandsetView).top,
                                                 NetworkSecurityView))

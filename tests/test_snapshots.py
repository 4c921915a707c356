"""Snapshots of every screen of this issue in each shipped theme, at 100×40, fixed clock and seeds.

Review changes with the HTML report before `pytest --snapshot-update`.
"""

from __future__ import annotations

import asyncio

import pytest

from phone_tui.testing import (
    SIZE,
    enter_pin,
    make_app,
    make_handset,
    open_app,
    set_up,
    settle,
)

THEMES = ["secure", "open", "high-contrast"]


def build(tmp_path, theme: str, state: str):
    handset = make_handset(tmp_path)
    if state != "setup":
        asyncio.run(set_up(handset, locked=state in ("lock", "throttled")))
    return make_app(tmp_path, handset=handset, theme=theme)


async def wrong_pins(pilot) -> None:
    for _ in range(5):
        await enter_pin(pilot, "555111")


async def open_settings(pilot) -> None:
    await open_app(pilot, "settings")


async def nothing(pilot) -> None:
    await settle(pilot)


SCENES = {"setup": nothing, "lock": nothing, "throttled": wrong_pins, "home": nothing,
          "settings": open_settings}


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("state", list(SCENES))
def test_screen(snap_compare, tmp_path, theme, state):
    assert snap_compare(build(tmp_path, theme, state), terminal_size=SIZE,
                        run_before=SCENES[state])


def test_terminal_too_small(snap_compare, tmp_path):
    assert snap_compare(build(tmp_path, "secure", "lock"), terminal_size=(40, 12))


async def open_network(pilot) -> None:
    await settle(pilot)
    await open_app(pilot, "network")


@pytest.mark.parametrize("theme", ["secure", "open"])
def test_network_app(snap_compare, tmp_path, theme):
    assert snap_compare(build(tmp_path, theme, "home"), terminal_size=SIZE,
                        run_before=open_network)


@pytest.mark.parametrize("registration", ["roaming", "searching", "denied", "airplane"])
def test_status_bar_registration(snap_compare, tmp_path, registration):
    from dataclasses import replace

    app = build(tmp_path, "secure", "home")

    async def switch(pilot) -> None:
        await settle(pilot)
        handset = pilot.app.handset
        if registration == "airplane":
            handset.set_airplane(True)
        else:
            handset.profiles["custom"] = replace(handset.profiles["lte"], name="custom",
                                                 registration=registration)
            handset.set_link_profile("custom")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=switch)

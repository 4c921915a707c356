"""Settings → Change PIN (and Duress PIN) check the current PIN before asking for a new one."""

from __future__ import annotations

import asyncio

from textual import events
from textual.widgets import Static

from phone_tui.handset.handset import HandsetState
from phone_tui.testing import SIZE, TEST_PIN, enter_pin, open_app, set_up, settle, wait_for
from phone_tui.ui.handset_view import HandsetView
from phone_tui.ui.views.home import HomeView
from phone_tui.ui.views.settings import ChangePinView, SettingsView

NEW_PIN = "551203"
WRONG = "111222"


def top(app):
    return app.query_one(HandsetView).top


def text_of(app, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


async def open_change_pin(pilot, entry: str = "change_pin") -> None:
    await open_app(pilot, "settings")
    top(pilot.app).open_entry(entry)
    await settle(pilot)


async def burst(pilot, handset, *pins: str) -> None:
    """Post every key of ``pins`` (each followed by Enter) at once, as tmux send-keys does,
    with the check of the current PIN held until every key has reached the view (so the
    test does not depend on how fast Argon2id runs)."""
    gate = asyncio.Event()
    verify = handset.verify_pin

    async def held(pin: str):
        await gate.wait()
        return await verify(pin)

    handset.verify_pin = held
    for pin in pins:
        for key in [*pin, "enter"]:
            pilot.app.post_message(events.Key(key, key if len(key) == 1 else "\r"))
    view = top(pilot.app)
    await wait_for(pilot, lambda: len(getattr(view, "_ahead", ())) == len(pins) - 1
                   or view.step != "current")
    gate.set()
    await settle(pilot)
    await settle(pilot)


async def test_change_pin_refuses_a_wrong_current_pin_at_the_first_step(app_factory, handset):
    await set_up(handset, locked=False)
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await open_change_pin(pilot)
        await enter_pin(pilot, WRONG)
        view = top(app)
        assert isinstance(view, ChangePinView) and view.step == "current"
        assert "Enter your current PIN" in text_of(app, "#pin-head")
        message = text_of(app, "#pin-message")
        assert "Wrong PIN" in message and "9 attempts left" in message
        assert handset.failures() == 1  # counted, as at the lock screen
        await enter_pin(pilot, WRONG)
        assert "8 attempts left" in text_of(app, "#pin-message")
        assert handset.failures() == 2


async def test_change_pin_asks_for_the_new_pin_after_the_right_one_and_changes_it(
        app_factory, handset):
    await set_up(handset, locked=False)
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await open_change_pin(pilot)
        await enter_pin(pilot, WRONG)
        await enter_pin(pilot, TEST_PIN)
        assert top(app).step == "new"
        assert "Choose a new PIN" in text_of(app, "#pin-head")
        assert handset.failures() == 0  # a right PIN clears the count
        await enter_pin(pilot, TEST_PIN)  # the same as the current one: refused here
        assert "same as the current" in text_of(app, "#pin-message")
        await enter_pin(pilot, NEW_PIN)
        await enter_pin(pilot, NEW_PIN)
        assert isinstance(top(app), SettingsView)
        handset.lock()
        await settle(pilot)
        await enter_pin(pilot, NEW_PIN)
        assert isinstance(top(app), HomeView)
        assert handset.state is HandsetState.UNLOCKED


async def test_change_pin_typed_in_one_burst_keeps_the_new_pin(app_factory, handset):
    """The new PIN typed while the current one is checked is not lost."""
    await set_up(handset, locked=False)
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await open_change_pin(pilot)
        await burst(pilot, handset, TEST_PIN, NEW_PIN, NEW_PIN)
        assert isinstance(top(app), SettingsView)
        handset.lock()
        await settle(pilot)
        await enter_pin(pilot, NEW_PIN)
        assert isinstance(top(app), HomeView)


async def test_change_pin_burst_after_a_wrong_current_pin_counts_one_attempt(
        app_factory, handset):
    """What was typed ahead as the new PIN is dropped, never tried as the current one."""
    await set_up(handset, locked=False)
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await open_change_pin(pilot)
        await burst(pilot, handset, WRONG, NEW_PIN, NEW_PIN)
        assert top(app).step == "current"
        assert "Wrong PIN" in text_of(app, "#pin-message")
        assert handset.failures() == 1
        handset.lock()
        await settle(pilot)
        await enter_pin(pilot, TEST_PIN)  # unchanged
        assert isinstance(top(app), HomeView)


async def test_duress_pin_refuses_a_wrong_current_pin_at_the_first_step(app_factory, handset):
    await set_up(handset, locked=False)
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await open_change_pin(pilot, "duress_pin")
        await enter_pin(pilot, WRONG)
        assert top(app).step == "current"
        assert "Wrong PIN" in text_of(app, "#pin-message") and handset.failures() == 1
        await enter_pin(pilot, TEST_PIN)
        assert "Choose a duress PIN" in text_of(app, "#pin-head")

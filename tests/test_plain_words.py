"""Words a new user reads name what they mean: the OS that is wiped, the radios on."""

from __future__ import annotations

from textual.widgets import Static

from phone_tui.core.config import Settings
from phone_tui.testing import SIZE, enter_pin, make_app, make_handset, open_app, set_up, settle
from phone_tui.ui.handset_view import HandsetView
from phone_tui.ui.views.lock import LockView
from phone_tui.ui.views.switch import SwitchView

WRONG = "111222"


def top(app):
    return app.query_one(HandsetView).top


def text_of(app, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


async def test_lock_screen_wrong_pin_names_the_os_that_would_be_wiped(app_factory, handset):
    await set_up(handset)
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(top(app), LockView)
        await enter_pin(pilot, WRONG)
        message = text_of(app, "#pin-message")
        assert "9 attempts left before the Secure OS is wiped." in message
        assert "phone" not in message


def card_text(app, persona: str) -> str:
    return str(app.query_one(f"#os-{persona}").content)


async def test_switch_cards_list_only_the_radios_that_are_on(data_dir, clock):
    handset = make_handset(data_dir, clock=clock, settings=Settings(persona="open"))
    handset.switch_persona("secure")
    await set_up(handset)
    handset.switch_persona("open")
    await set_up(handset, locked=False)
    handset.set_radio("wifi", True)
    app = make_app(data_dir, handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_app(pilot, "switch")
        assert isinstance(top(app), SwitchView)
        assert "radios: cellular, Wi-Fi" in card_text(app, "open")
        assert "GPS" not in card_text(app, "open") and "camera" not in card_text(app, "open")
        assert "radios off" in card_text(app, "secure")  # not running: its line is off
        app.query_one(HandsetView).set_airplane(True)
        handset.set_radio("wifi", False)
        await settle(pilot)
        assert "radios off" in card_text(app, "open")


async def test_a_notice_quoting_a_settings_table_keeps_its_brackets(data_dir, clock):
    """`[keymap]` in a notice is the table's name, not markup: it read `settings.toml:  has`."""
    from textual.widgets._toast import Toast

    settings = Settings(keymap={"no.such.binding": "f12"})
    handset = make_handset(data_dir, clock=clock, settings=settings)
    await set_up(handset)
    app = make_app(data_dir, handset=handset, settings=settings)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        shown = [str(toast.render()) for toast in app.screen.query(Toast)]
        assert any("settings.toml: [keymap] has unknown binding ids: no.such.binding" in text
                   for text in shown), shown
        assert not any(":  has" in text for text in shown)

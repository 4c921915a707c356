"""The whole first-day story, driven through the UI with Pilot and a manual clock."""

from __future__ import annotations

from textual.widgets import OptionList, Static

from phone_tui.core.config import load_settings
from phone_tui.handset.handset import HandsetState
from phone_tui.testing import (
    SIZE,
    TEST_PIN,
    enter_pin,
    notifications,
    open_app,
    set_up,
    settle,
)
from phone_tui.ui.handset_view import HandsetView
from phone_tui.ui.views.home import HomeView
from phone_tui.ui.views.lock import LockView
from phone_tui.ui.views.settings import ENTRY_IDS, ChangePinView, SettingsView
from phone_tui.ui.views.setup import SetupView
from phone_tui.ui.widgets.pin_entry import PinEntry

NEW_PIN = "551203"


def top(app):
    return app.query_one(HandsetView).top


def text_of(app, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


async def test_first_run_to_new_pin(app_factory, clock, data_dir):
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        handset = app.handset
        # First run: choose a PIN twice, skip the duress PIN.
        assert isinstance(top(app), SetupView)
        await enter_pin(pilot, "1234")
        assert "sequence" in text_of(app, "#pin-message")
        await enter_pin(pilot, TEST_PIN)
        await enter_pin(pilot, "999999")  # mismatch: start again
        assert "did not match" in text_of(app, "#pin-message")
        await enter_pin(pilot, TEST_PIN)
        await enter_pin(pilot, TEST_PIN)
        await pilot.click("#duress-skip")
        await settle(pilot)
        assert isinstance(top(app), HomeView)
        assert handset.state is HandsetState.UNLOCKED

        # Lock with the key, then five wrong PINs.
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert isinstance(top(app), LockView)
        for attempt in range(1, 5):
            await enter_pin(pilot, "555111")
            assert f"{10 - attempt} attempts left" in text_of(app, "#pin-message")
        await enter_pin(pilot, "555111")
        assert text_of(app, "#lock-countdown") == "Try again in 30 s"
        entry = app.query_one(PinEntry)
        assert entry.disabled
        await pilot.press("4", "8")  # ignored while throttled
        assert entry.digits == ""

        # The countdown is live.
        clock.advance(12)
        app.query_one(HandsetView).tick()
        await pilot.pause()
        assert text_of(app, "#lock-countdown") == "Try again in 18 s"
        clock.advance(18)
        app.query_one(HandsetView).tick()
        await pilot.pause()
        assert text_of(app, "#lock-countdown") == ""
        assert not entry.disabled

        # The right PIN, by mouse this time.
        await enter_pin(pilot, TEST_PIN, click=True)
        assert isinstance(top(app), HomeView)

        # Home → Settings (arrows to the third tile, Enter) → Change PIN.
        await pilot.press("right", "right", "enter")
        await settle(pilot)
        assert isinstance(top(app), SettingsView)
        app.query_one(OptionList).highlighted = ENTRY_IDS.index("change_pin")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(top(app), ChangePinView)
        await enter_pin(pilot, TEST_PIN)
        await enter_pin(pilot, NEW_PIN)
        await enter_pin(pilot, NEW_PIN)
        assert isinstance(top(app), SettingsView)

        # Lock, the old PIN fails, the new one works.
        await pilot.press("ctrl+l")
        await settle(pilot)
        await enter_pin(pilot, TEST_PIN)
        assert "Wrong PIN" in text_of(app, "#pin-message")
        await enter_pin(pilot, NEW_PIN)
        assert isinstance(top(app), HomeView)


async def test_idle_timeout_locks_the_phone(app_factory, clock, handset):
    await set_up(handset, locked=False)
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(top(app), HomeView)
        clock.advance(59)
        app.query_one(HandsetView).tick()
        await pilot.pause()
        assert isinstance(top(app), HomeView)
        await pilot.press("right")  # activity restarts the timer
        clock.advance(59)
        app.query_one(HandsetView).tick()
        assert handset.state is HandsetState.UNLOCKED
        clock.advance(1)
        app.query_one(HandsetView).tick()
        await pilot.pause()
        assert isinstance(top(app), LockView)


async def test_settings_auto_lock_and_theme_are_saved(app_factory, handset, data_dir):
    await set_up(handset, locked=False)
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await open_app(pilot, "settings")
        settings_view = top(app)
        settings_view.open_entry("auto_lock")
        await settle(pilot)
        app.query_one("#auto-lock-list", OptionList).highlighted = 4  # 5 min
        await pilot.press("enter")
        await settle(pilot)
        assert handset.auto_lock_seconds == 300
        assert isinstance(top(app), SettingsView)
        settings_view.open_entry("theme")
        await settle(pilot)
        names = app.phone_theme_names()
        app.query_one("#theme-list", OptionList).highlighted = names.index("high-contrast")
        await pilot.press("enter")
        await settle(pilot)
        assert app.theme == "high-contrast"
        assert load_settings(data_dir / "settings.toml").theme == "high-contrast"
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(top(app), HomeView)


async def test_duress_pin_at_lock_screen_returns_to_setup_without_a_word(app_factory, handset):
    await handset.setup(TEST_PIN, duress_pin="7391")
    handset.lock()
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await enter_pin(pilot, "7391")
        assert isinstance(top(app), SetupView)
        assert "wiped" not in str(app.query_one("#setup-intro").render()).lower()
        assert not notifications(app)


async def test_palette_lock_command(app_factory, handset):
    await set_up(handset, locked=False)
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Lock the phone")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert handset.state is HandsetState.LOCKED


async def test_keymap_from_settings_remaps_lock(app_factory, handset):
    from phone_tui.core.config import Settings

    await set_up(handset, locked=False)
    app = app_factory(handset=handset, settings=Settings(keymap={"handset.lock": "ctrl+k",
                                                                 "nope.nothing": "x"}))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert any("nope.nothing" in text for text in notifications(app))
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert handset.state is HandsetState.UNLOCKED
        await pilot.press("ctrl+k")
        await settle(pilot)
        assert handset.state is HandsetState.LOCKED


async def test_unknown_theme_in_settings_falls_back_with_a_notice(app_factory):
    from phone_tui.core.config import Settings

    app = app_factory(settings=Settings(theme="neon"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "secure"
        assert any("unknown theme 'neon'" in text for text in notifications(app))


async def test_tiny_terminals_do_not_crash(app_factory):
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        for size in [(1, 1), (2, 2), (10, 5), (43, 32), (44, 31), (44, 32), (100, 40)]:
            await pilot.resize_terminal(*size)
            await pilot.pause()
        view = app.query_one(HandsetView)
        assert not view.has_class("-too-small")
        await pilot.resize_terminal(30, 10)
        await pilot.pause()
        assert view.has_class("-too-small")
        # 30 rows for the phone, one for the banner, one for the footer.
        assert "need 44×32, have 30×10" in str(app.query_one("#too-small").render())


async def test_pins_typed_in_one_burst_are_kept_apart(app_factory):
    """A fast typist (or tmux send-keys) gets keys ahead of the view's handling of Enter."""
    from textual import events

    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        for key in [*TEST_PIN, "enter", *TEST_PIN, "enter"]:
            app.post_message(events.Key(key, key if len(key) == 1 else "\r"))
        await settle(pilot)
        assert top(app).step == "offer"
        await pilot.click("#duress-skip")
        await settle(pilot)
        app.handset.lock()
        await settle(pilot)
        await enter_pin(pilot, TEST_PIN)
        assert isinstance(top(app), HomeView)


async def test_duress_pin_from_settings_and_wipe_this_persona(app_factory, handset):
    await set_up(handset, locked=False)
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await open_app(pilot, "settings")
        top(app).open_entry("duress_pin")
        await settle(pilot)
        await enter_pin(pilot, "111222")  # wrong current PIN: refused at once, and counted
        assert "Wrong PIN" in text_of(app, "#pin-message") and handset.failures() == 1
        await enter_pin(pilot, TEST_PIN)
        await enter_pin(pilot, "7391")
        await enter_pin(pilot, "7391")
        assert isinstance(top(app), SettingsView)
        handset.lock()
        await settle(pilot)
        await enter_pin(pilot, "7391")  # the duress PIN at the lock screen: silent wipe
        assert isinstance(top(app), SetupView)
        assert not handset.persona.keystore_path.exists()


async def test_wipe_this_persona_needs_the_pin(app_factory, handset):
    await set_up(handset, locked=False)
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await open_app(pilot, "settings")
        top(app).open_entry("wipe")
        await settle(pilot)
        assert "no undo" in str(app.query_one(".pin-warning").render())
        await enter_pin(pilot, "111222")
        assert handset.persona.keystore_path.exists()
        await enter_pin(pilot, TEST_PIN)
        assert isinstance(top(app), SetupView)
        assert "wiped" in str(app.query_one("#setup-intro").render())
        assert not handset.persona.store_path.exists()


def _footer_text(app) -> str:
    from phone_tui.ui.widgets.footer import PhoneFooter

    return "  ".join(f"{key.key_display} {key.description}"
                     for key in app.screen.query_one(PhoneFooter).shown)


async def test_the_duress_offer_shows_which_button_has_the_focus_and_offers_enter(
        app_factory):
    from textual.widgets import Button

    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await enter_pin(pilot, TEST_PIN)
        await enter_pin(pilot, TEST_PIN)
        skip, offer = app.query_one("#duress-skip", Button), app.query_one("#duress-set", Button)
        assert app.focused is skip
        assert "⏎ Choose" in _footer_text(app)
        # The focused one is drawn in reverse; the other is not.
        assert skip.styles.text_style.reverse and not offer.styles.text_style.reverse
        await pilot.press("right")
        await settle(pilot)
        assert app.focused is offer and offer.styles.text_style.reverse
        assert not skip.styles.text_style.reverse and "⏎ Choose" in _footer_text(app)
        assert skip.size.height == offer.size.height == 1  # flat, one line


async def test_the_switch_confirmation_has_flat_one_line_buttons(data_dir, clock):
    from textual.widgets import Button

    from phone_tui.core.config import Settings
    from phone_tui.testing import make_app, make_handset
    from phone_tui.ui.views.switch import SwitchConfirmView

    handset = make_handset(data_dir, clock=clock, settings=Settings(link_profile="full"))
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=Settings(link_profile="full"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.query_one(HandsetView).push(SwitchConfirmView("open"))
        await settle(pilot)
        buttons = list(app.query("#switch-confirm Button").results(Button))
        assert [b.id for b in buttons] == ["switch-go", "switch-cancel"]
        assert all(b.compact and b.size.height == 1 for b in buttons)
        assert "⏎ Choose" in _footer_text(app)
        # The arrows move between the two buttons, a burst included.
        assert app.focused.id == "switch-go"
        await pilot.press("right")
        assert app.focused.id == "switch-cancel"
        await pilot.press("left", "right", "left")
        assert app.focused.id == "switch-go"

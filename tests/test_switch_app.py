"""The OS switch in the app: cards, confirmation, boot sequence, and the way back."""

from __future__ import annotations

from phone_tui.core.config import Settings, load_settings
from phone_tui.handset.handset import HandsetState
from phone_tui.modem.bus import Bus
from phone_tui.modem.profiles import load_profiles
from phone_tui.testing import (
    SIZE,
    TEST_PIN,
    enter_pin,
    make_app,
    make_handset,
    notifications,
    open_app,
    set_up,
    settle,
    wait_for,
)
from phone_tui.ui.commands import HandsetCommands
from phone_tui.ui.handset_view import HandsetView
from phone_tui.ui.views.home import HomeView
from phone_tui.ui.views.lock import LockView
from phone_tui.ui.views.network import ProfileView
from phone_tui.ui.views.settings import SettingsView
from phone_tui.ui.views.setup import SetupView
from phone_tui.ui.views.switch import BootView, SwitchConfirmView, SwitchView
from phone_tui.ui.widgets.status_bar import StatusBar

OPEN_PIN = "731956"
FULL = Settings(link_profile="full")


def view(app) -> HandsetView:
    return app.query_one(HandsetView)


def top(app):
    return view(app).top


def card_text(app, persona: str) -> str:
    return str(app.query_one(f"#os-{persona}").content)


def status_text(app) -> str:
    bar = app.query_one(StatusBar)
    return "\n".join(bar.render_line(y).text for y in range(2))


async def both_set_up(data_dir, clock, *, settings: Settings = FULL):
    """Secure unlocked and running; open set up (and locked) with its own PIN."""
    handset = make_handset(data_dir, clock=clock, settings=settings)
    handset.switch_persona("open")
    await handset.setup(OPEN_PIN)
    handset.switch_persona("secure")
    await handset.setup(TEST_PIN)
    return handset


async def test_switch_with_confirmation_boot_and_the_target_lock_screen(data_dir, clock):
    handset = await both_set_up(data_dir, clock)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view(app).boot_seconds = 3.0  # as in normal use (deterministic mode boots at once)
        await open_app(pilot, "switch")
        assert isinstance(top(app), SwitchView)
        assert "● running · unlocked" in card_text(app, "secure")
        assert "○ not running · locked" in card_text(app, "open")
        assert app.focused is app.query_one("#os-open")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(top(app), SwitchConfirmView)
        assert handset.running == "secure" and handset.persona.is_unlocked
        await pilot.press("enter")  # Switch
        await settle(pilot)
        boot = top(app)
        assert isinstance(boot, BootView) and view(app).booting
        assert handset.running == "open" and not handset.personas["secure"].is_unlocked
        # The boot steps advance; then it hands over by itself.
        first = str(app.query_one("#boot-bar").content)
        boot.hold(1.5)
        assert str(app.query_one("#boot-bar").content) != first
        assert " 50 %" in str(app.query_one("#boot-bar").content)
        boot.seek(3.0)
        await settle(pilot)
        assert isinstance(top(app), LockView) and not view(app).booting
        assert "OPEN OS" in status_text(app) and app.theme == "open"
        assert view(app).has_class("persona-open") and not view(app).has_class("persona-secure")
        assert load_settings(data_dir / "settings.toml").persona == "open"
        await enter_pin(pilot, OPEN_PIN)
        assert isinstance(top(app), HomeView)
        assert app.query_one("#home-number").content == handset.line_number("open")


async def test_any_key_skips_the_boot(data_dir, clock):
    handset = await both_set_up(data_dir, clock)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view(app).boot_seconds = 60.0
        view(app).open_app("switch")
        await settle(pilot)
        await pilot.press("enter", "enter")
        await settle(pilot)
        assert isinstance(top(app), BootView)
        await pilot.press("f2", "ctrl+l")  # nothing but Skip works while booting
        assert isinstance(top(app), BootView)
        await pilot.press("space")
        await settle(pilot)
        assert isinstance(top(app), LockView)


async def test_deterministic_mode_boots_at_once_and_cancel_changes_nothing(data_dir, clock):
    handset = await both_set_up(data_dir, clock)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert view(app).boot_seconds == 0
        await pilot.press("f2")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.click("#switch-cancel")
        await settle(pilot)
        assert isinstance(top(app), SwitchView)
        assert handset.running == "secure" and handset.persona.is_unlocked
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(top(app), HomeView)
        await pilot.press("f2")
        await settle(pilot)
        await pilot.click("#os-open")
        await settle(pilot)
        await pilot.click("#switch-go")
        await settle(pilot)
        assert isinstance(top(app), LockView) and handset.running == "open"


async def test_a_failed_unlock_leaves_the_lock_screen_with_a_way_back(data_dir, clock):
    handset = await both_set_up(data_dir, clock)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view(app).switch_os("open")
        await settle(pilot)
        await enter_pin(pilot, TEST_PIN)  # the secure OS's PIN means nothing here
        assert isinstance(top(app), LockView)
        assert "Wrong PIN" in str(app.query_one("#pin-message").content)
        assert handset.personas["open"].throttle.load().failures == 1
        assert handset.personas["secure"].throttle.load().failures == 0
        await pilot.click("#switch-hint")  # the way back, by mouse
        await settle(pilot)
        assert isinstance(top(app), SwitchView)
        await pilot.press("enter", "enter")
        await settle(pilot)
        assert handset.running == "secure" and isinstance(top(app), LockView)
        await enter_pin(pilot, TEST_PIN)
        assert isinstance(top(app), HomeView) and "SECURE OS" in status_text(app)


async def test_switching_to_an_os_never_set_up_starts_its_setup(data_dir, clock):
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f2")
        await settle(pilot)
        assert "not set up" in card_text(app, "open")
        await pilot.press("enter")
        await settle(pilot)
        assert "first-run setup" in str(app.query_one("#switch-warning").content)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(top(app), SetupView)
        assert "Welcome to Open OS" in str(app.query_one("#setup-intro").content)


async def test_cards_count_messages_waiting_for_the_other_os(data_dir, clock, tmp_path):
    bus = Bus()
    handset = await both_set_up(data_dir, clock)
    app = make_app(data_dir, handset=handset, settings=FULL, network=bus)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)  # the secure OS registers and publishes its keys
        colleague = make_handset(tmp_path / "colleague", clock=clock, seed=99)
        colleague.attach(bus, load_profiles())
        await set_up(colleague, locked=False)
        view(app).switch_os("open")
        await settle(pilot)
        secure_number = handset.line_number("secure")
        colleague.messenger.add_contact(secure_number, "Official")
        for text in ("one", "two", "three"):
            colleague.messenger.send_text(secure_number, text)
        await wait_for(pilot, lambda: handset.waiting_for("secure") == 3)
        await pilot.press("f2")
        await settle(pilot)
        assert "✉ 3 messages waiting" in card_text(app, "secure")
        assert "three" not in card_text(app, "secure")
        # Hidden when the user turns the count off (a device-wide setting).
        view(app).remember(show_waiting_count=False)
        view(app).top.refresh_cards()
        assert "waiting messages: hidden" in card_text(app, "secure")
        assert load_settings(data_dir / "settings.toml").show_waiting_count is False
        # Switch back and unlock: all three, once, in order.
        await pilot.press("enter", "enter")
        await settle(pilot)
        await enter_pin(pilot, TEST_PIN)
        await wait_for(pilot, lambda: handset.messenger is not None and len(
            handset.messenger.history(colleague.number)) == 3)
        assert [m.body for m in handset.messenger.history(colleague.number)] == [
            "one", "two", "three"]
        assert handset.waiting_for("secure") == 0


async def test_settings_in_the_open_os_are_its_own(data_dir, clock):
    handset = await both_set_up(data_dir, clock)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view(app).switch_os("open")
        await settle(pilot)
        await enter_pin(pilot, OPEN_PIN)
        await open_app(pilot, "settings")
        settings_view = top(app)
        assert isinstance(settings_view, SettingsView)
        settings_view.open_entry("wipe_after")
        await settle(pilot)
        app.query_one("#wipe-after-list").highlighted = 0  # after 5
        await pilot.press("enter")
        await settle(pilot)
        assert handset.wipe_after == 5
        settings_view.open_entry("network")
        await settle(pilot)
        assert isinstance(top(app), ProfileView)
        profiles = list(handset.profiles)
        app.query_one("#profile-list").highlighted = profiles.index("3g")
        await pilot.press("enter")
        await settle(pilot)
        assert handset.modem.profile.name == "3g"
        settings_view.open_entry("theme")
        await settle(pilot)
        names = app.phone_theme_names()
        app.query_one("#theme-list").highlighted = names.index("high-contrast")
        await pilot.press("enter")
        await settle(pilot)
        saved = load_settings(data_dir / "settings.toml")
        assert (saved.open_theme, saved.theme) == ("high-contrast", "secure")
        # Back in the secure OS: its own wipe-after, its theme, the same radio profile.
        view(app).switch_os("secure")
        await settle(pilot)
        assert handset.wipe_after == 10 and app.theme == "secure"
        assert handset.modem.profile.name == "3g"


async def test_the_palette_offers_the_switch(data_dir, clock):
    handset = await both_set_up(data_dir, clock)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        provider = HandsetCommands(app.screen)
        titles = [title for title, _, _ in provider._commands()]
        assert "Switch OS to Open OS" in titles
        callback = next(cb for title, _, cb in provider._commands() if title.startswith("Switch"))
        callback()
        await settle(pilot)
        assert isinstance(top(app), SwitchView)


async def test_a_damaged_keystore_in_the_other_os_is_named_not_a_crash(data_dir, clock):
    handset = await both_set_up(data_dir, clock)
    path = handset.personas["open"].keystore_path
    damaged = bytearray(path.read_bytes())
    damaged[40] ^= 0xFF
    path.write_bytes(bytes(damaged))
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view(app).switch_os("open")
        await settle(pilot)
        await enter_pin(pilot, OPEN_PIN)
        # Named whole on its own wrapped line (issue 12: the PIN entry's two lines cut it).
        message = str(app.query_one("#lock-problem").content)
        assert "keystore.bin" in message and isinstance(top(app), LockView)
        assert path.read_bytes() == bytes(damaged)  # left as it was
        await pilot.press("f2", "enter", "enter")
        await settle(pilot)
        await enter_pin(pilot, TEST_PIN)
        assert isinstance(top(app), HomeView) and handset.running == "secure"


def footer_keys(app) -> str:
    from phone_tui.ui.widgets.footer import PhoneFooter

    return "  ".join(f"{key.key_display} {key.description}"
                     for key in app.screen.query_one(PhoneFooter).shown)


async def test_up_and_down_move_between_the_two_cards_and_enter_works_on_either(data_dir,
                                                                               clock):
    handset = await both_set_up(data_dir, clock)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f2")
        await settle(pilot)
        cards = {persona: app.query_one(f"#os-{persona}") for persona in ("secure", "open")}
        assert app.focused is cards["open"]
        for key, expected in [("down", "open"), ("up", "secure"), ("up", "secure"),
                              ("down", "open"), ("down", "open"), ("up", "secure")]:
            await pilot.press(key)
            await settle(pilot)
            assert app.focused is cards[expected], (key, app.focused)
            assert "Switch to it" in footer_keys(app) or expected == "secure"
        # Enter on the running OS's card says so and stays.
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(top(app), SwitchView)
        assert any("already running" in text for text in notifications(app))
        await pilot.press("down")
        await settle(pilot)
        assert "⏎ Switch to it" in footer_keys(app)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(top(app), SwitchConfirmView)


async def test_down_down_enter_in_one_burst_asks_to_switch(data_dir, clock):
    from test_key_bursts import burst

    handset = await both_set_up(data_dir, clock)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        burst(app, ["f2"])
        await settle(pilot)
        burst(app, ["down", "down", "enter"])
        await settle(pilot)
        assert isinstance(top(app), SwitchConfirmView), top(app)
        burst(app, ["escape", "up", "up", "down", "enter"])
        await settle(pilot)
        assert isinstance(top(app), SwitchConfirmView), top(app)


async def test_keys_typed_before_the_switch_view_has_the_focus_reach_it_in_order(data_dir, clock):
    """F2 and the keys after it in one burst: the view F2 opens is mounted and focused a
    refresh later, and the keys that came before then are held for it, not lost."""
    from test_key_bursts import burst

    handset = await both_set_up(data_dir, clock)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        burst(app, ["f2", "down", "down", "enter"])
        await settle(pilot)
        assert isinstance(top(app), SwitchConfirmView), top(app)
        # In order: Escape goes back to the cards before Enter asks again (Enter first would
        # have pressed "Switch" and switched).
        burst(app, ["escape", "enter"])
        await settle(pilot)
        assert isinstance(top(app), SwitchConfirmView), top(app)


async def test_a_stage_phone_boots_the_os_it_last_switched_to_after_a_restart(stage_factory):
    app = await stage_factory()
    async with app.run_test(size=(130, 45)) as pilot:
        await settle(pilot)
        first = app.query(HandsetView).first()
        assert first.handset is app.stage.handsets[0]
        first.switch_os("open")
        await wait_for(pilot, lambda: app.stage.handsets[0].running == "open")
    app.stage.close()
    again = await stage_factory()  # new objects over the same folder: `phone-tui demo` again
    assert [h.running for h in again.stage.handsets] == ["open", "secure"]
    assert all(h.state is HandsetState.LOCKED for h in again.stage.handsets)
    again.stage.close()

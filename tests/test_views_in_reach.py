"""Every view keeps its buttons and keys in reach: whole labels, Home, a selection to open,
arrows between buttons, a verify button that says so, a live theme row, whole errors."""

from __future__ import annotations

from textual.widgets import Button, OptionList

from phone_tui.core.config import Settings
from phone_tui.testing import SIZE, TEST_PIN, enter_pin, make_app, make_handset, set_up, settle
from phone_tui.ui.handset_view import HandsetView
from phone_tui.ui.views.home import HomeView
from phone_tui.ui.views.lock import LockView
from phone_tui.ui.views.messages import (
    ChatView,
    ContactInfoView,
    MessagesView,
    NewConversationView,
)
from phone_tui.ui.views.settings import SettingsView

FULL = Settings(link_profile="full")
DESK = "+86 190 0000 0120"
KEY, OTHER_KEY = b"\x41" * 32, b"\x42" * 32


def top(app):
    return app.query_one(HandsetView).top


def text_in(app, widget) -> str:  # noqa: ANN001
    """What ``widget`` shows on screen, its lines joined by spaces."""
    region = widget.region
    strips = app.screen._compositor.render_strips()
    lines = [strips[y].crop(region.x, region.right).text for y in range(region.y, region.bottom)]
    return " ".join(" ".join(lines).split())


async def unlocked_app(data_dir, clock):  # noqa: ANN001, ANN201
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    return handset, make_app(data_dir, handset=handset, settings=FULL)


async def test_accept_new_number_shows_its_whole_label_when_the_safety_number_changed(
        data_dir, clock):
    handset, app = await unlocked_app(data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        handset.messenger.know_identity(DESK, KEY)
        handset.messenger.know_identity(DESK, OTHER_KEY)  # a man in the middle's key
        app.query_one(HandsetView).push(ChatView(DESK))
        await settle(pilot)
        chat = top(app)
        assert chat.has_class("-identity-changed")
        accept = app.query_one("#chat-accept", Button)
        assert "Accept new number" in text_in(app, accept)
        assert accept.region.right <= chat.content_region.right


async def test_the_home_key_goes_home_from_settings_and_the_messages_list(data_dir, clock):
    handset, app = await unlocked_app(data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for app_id, view_type in (("settings", SettingsView), ("messages", MessagesView)):
            app.query_one(HandsetView).open_app(app_id)
            await settle(pilot)
            assert isinstance(top(app), view_type)
            await pilot.press("down", "down")
            await pilot.press("home")
            await settle(pilot)
            assert isinstance(top(app), HomeView), app_id


async def test_the_messages_list_opens_on_its_first_conversation(data_dir, clock):
    handset, app = await unlocked_app(data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view = app.query_one(HandsetView)
        handset.persona.store.execute("DELETE FROM contacts")
        view.open_app("messages")
        await settle(pilot)
        await pilot.press("enter")  # no conversations: "+ New conversation"
        await settle(pilot)
        assert isinstance(top(app), NewConversationView)
        view.action_home()
        handset.messenger.know_identity(DESK, KEY)
        await settle(pilot)
        view.open_app("messages")
        await settle(pilot)
        assert app.query_one(OptionList).highlighted == 1
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(top(app), ChatView) and top(app).number == DESK


async def test_left_and_right_move_between_contact_info_buttons(data_dir, clock):
    handset, app = await unlocked_app(data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        handset.messenger.know_identity(DESK, KEY)
        app.query_one(HandsetView).push(ContactInfoView(DESK))
        await settle(pilot)
        assert app.focused.id == "info-verify"
        await pilot.press("right")
        assert app.focused.id == "info-timer"
        await pilot.press("left")
        assert app.focused.id == "info-verify"


async def test_mark_verified_says_verified_once_verified(data_dir, clock):
    handset, app = await unlocked_app(data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        handset.messenger.know_identity(DESK, KEY)
        app.query_one(HandsetView).push(ContactInfoView(DESK))
        await settle(pilot)
        verify = app.query_one("#info-verify", Button)
        assert str(verify.label) == "Mark verified"
        await pilot.press("enter")
        await settle(pilot)
        assert handset.messenger.contact(DESK).verified
        assert str(verify.label) == "✓ Verified" and verify.disabled
        assert app.focused is not None and app.focused.id == "info-timer"  # keys still work
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(top(app), ContactInfoView)


async def test_the_settings_theme_row_follows_ctrl_t(data_dir, clock):
    handset, app = await unlocked_app(data_dir, clock)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.query_one(HandsetView).open_app("settings")
        await settle(pilot)
        before = app.theme
        await pilot.press("ctrl+t")
        await settle(pilot)
        assert app.theme != before
        settings = app.query_one("#settings-list", OptionList)
        row = next(str(settings.get_option_at_index(i).prompt)
                   for i in range(settings.option_count)
                   if settings.get_option_at_index(i).id == "theme")
        assert app.theme in row and before not in row


async def test_a_damaged_policy_is_shown_whole_and_keeps_the_wrong_pin_line(app_factory,
                                                                             handset):
    await set_up(handset)
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await enter_pin(pilot, "555111")
        handset.persona.policy_path.write_text('{"wipe_after_failures": "lots"}')
        await enter_pin(pilot, "555111")
        lock = top(app)
        assert isinstance(lock, LockView)
        shown = text_in(app, lock)
        assert "Wrong PIN" in shown
        assert "policy.json" in shown
        assert "Remove it to use wipe_after_failures from settings.toml" in shown
        # Removing the damaged file, as it says, lets the right PIN in.
        handset.persona.policy_path.unlink()
        await enter_pin(pilot, TEST_PIN)
        assert isinstance(top(app), HomeView)

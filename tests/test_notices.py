"""Notifications live inside the phone: a banner under the status bar, a shade, routing to the
phone they belong to, a notice for a new message on any screen, the Messages tile's badge."""

from __future__ import annotations

from dataclasses import replace

from textual.widgets import OptionList

from phone_tui.core.config import Settings
from phone_tui.testing import (
    SIZE,
    TEST_PIN,
    enter_pin,
    make_app,
    make_handset,
    open_app,
    set_up,
    settle,
    wait_for,
)
from phone_tui.ui.handset_view import HandsetView
from phone_tui.ui.notices import Notice
from phone_tui.ui.views.home import HomeView
from phone_tui.ui.views.settings import SettingsView
from phone_tui.ui.views.shade import NoticeShade
from phone_tui.ui.widgets.notice_banner import NoticeBanner, banner_lines

FULL = Settings(link_profile="full")
ECHO = "+86 190 0000 0100"


def banner(app, phone: str = "#handset") -> NoticeBanner:
    return app.query_one(f"{phone} #notice-banner", NoticeBanner)


def shown(app, phone: str = "#handset") -> str:
    """What the phone's banner says, or "" when it is not up."""
    widget = banner(app, phone)
    return widget.text if widget.display and widget.notice is not None else ""


def toasts(app) -> list:
    return list(app.screen.query("Toast"))


async def ready(pilot) -> None:
    """Registered, bots answering at once."""
    await settle(pilot)
    for bot in pilot.app.bots:
        bot.seed = replace(bot.seed, reply_delay=0.0, read_delay=0.0)


async def test_a_notification_on_the_lock_screen_sits_under_the_status_bar_not_on_the_pad(
        data_dir, clock):
    handset = make_handset(data_dir, clock=clock)
    await set_up(handset)
    app = make_app(data_dir, handset=handset)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        app.notify("settings.toml: [keymap] has unknown binding ids: x", title="Keymap",
                   severity="warning")
        await pilot.pause()
        widget = banner(app)
        frame = app.query_one("#handset #frame").region
        status = app.query_one("#handset #status").region
        pad = app.query_one("#pin-pad").region
        assert widget.display and widget.region.area > 0
        assert frame.contains_region(widget.region)
        assert widget.region.y >= status.bottom
        assert not widget.region.overlaps(pad)
        assert toasts(app) == [] and not app._notifications
        assert "[keymap]" in shown(app)  # plain text: the brackets are words


async def test_on_the_stage_a_views_notification_lands_in_its_own_phone(stage_factory):
    app = await stage_factory()
    async with app.run_test(size=(130, 45), notifications=True) as pilot:
        await settle(pilot)
        app.query_one("#handset-2", HandsetView).top.notify("Only for phone B", title="B")
        await pilot.pause()
        assert "Only for phone B" in shown(app, "#handset-2")
        assert shown(app, "#handset-1") == ""
        assert toasts(app) == []


async def test_a_message_arriving_while_settings_is_open_shows_a_banner_naming_the_contact(
        data_dir, clock):
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await open_app(pilot, "settings")
        assert isinstance(app.query_one(HandsetView).top, SettingsView)
        handset.messenger.send_text(ECHO, "ping from the field")
        await wait_for(pilot, lambda: "Echo" in shown(app))
        assert shown(app).splitlines()[:3] == ["New message", "Echo", "ping from the field"]
        assert isinstance(app.query_one(HandsetView).top, SettingsView)  # nothing moved


async def test_opening_the_conversation_clears_its_notifications(data_dir, clock):
    from phone_tui.ui.views.messages import ChatView

    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        view = app.query_one(HandsetView)
        view.notify("kept", title="Other")
        handset.messenger.send_text(ECHO, "ping")
        await wait_for(pilot, lambda: "Echo" in shown(app))
        view.push(ChatView(ECHO))
        await settle(pilot)
        # Read now: neither the banner nor the shade keeps it (the frozen test clock would
        # otherwise hold the banner over the chat's title for good).
        assert shown(app) == ""
        assert [n.message for n in view.notices.history] == ["kept"]


async def test_on_the_lock_screen_the_banner_has_neither_name_nor_text(data_dir, clock):
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        handset.messenger.send_text(ECHO, "secret plans")
        handset.lock()  # the reply (and the read receipt before it) arrive while locked
        await wait_for(pilot, lambda: "2 encrypted messages waiting" in "".join(
            str(w.content) for w in app.query("#lock-waiting")))
        # ... and laid out: on a loaded machine the rows' content can be there a refresh
        # before their regions are (a pause returns when the process looks idle, not when the
        # screen has caught up).
        waiting = app.query_one("#lock-waiting")
        await wait_for(pilot, lambda: waiting.region.height > 0
                       and app.query_one("#lock-date").region.height > 0)
        text = str(waiting.content) + shown(app)
        assert "Echo" not in text and ECHO not in text and "secret" not in text
        # The lock screen says it in its own rows, under the clock, not in a banner over it.
        assert shown(app) == ""
        assert waiting.region.y > app.query_one("#lock-date").region.bottom
        assert waiting.region.bottom <= app.query_one("#lock-pin").region.y
        # Unlocked: the messages are read, and the reply's notification names the sender.
        await enter_pin(pilot, TEST_PIN)
        await wait_for(pilot, lambda: "Echo" in shown(app))
        assert "secret plans" in shown(app) and "waiting" not in shown(app)
        assert not any("waiting" in n.message for n in app.query_one(HandsetView).notices.history)


async def test_a_banner_on_the_lock_screen_sits_below_the_clock(data_dir, clock):
    handset = make_handset(data_dir, clock=clock)
    await set_up(handset)
    app = make_app(data_dir, handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.notify("policy.json: damaged", title="Policy", severity="error")
        await settle(pilot)
        up = banner(app).region
        assert up.y >= app.query_one("#lock-clock").region.bottom
        assert up.bottom <= app.query_one("#lock-pin").region.y


async def test_the_messages_tile_shows_the_unread_count_until_the_chat_is_opened(
        data_dir, clock):
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        tile = app.query_one("#app-messages")
        assert tile.border_title is None
        width = tile.region.width
        handset.messenger.send_text(ECHO, "one")
        handset.messenger.send_text(ECHO, "two")
        await wait_for(pilot, lambda: tile.border_title == " 2 ")
        assert tile.region.width == width
        await open_app(pilot, "messages")
        listing = app.query_one("#conversation-list", OptionList)
        listing.highlighted = next(i for i in range(listing.option_count)
                                   if listing.get_option_at_index(i).id == ECHO)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("escape", "escape")
        await settle(pilot)
        assert isinstance(app.query_one(HandsetView).top, HomeView)
        assert tile.border_title is None


async def test_the_banner_goes_after_its_timeout_and_a_burst_shows_the_newest(
        app_factory, handset, clock):
    await set_up(handset, locked=False)
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view = app.query_one(HandsetView)
        for n in range(3):
            view.notify(f"notice {n}", title="Test")
        await pilot.pause()
        assert "notice 2" in shown(app) and "+2 more" in shown(app)
        assert "notice 0" not in shown(app)
        assert banner(app).region.height <= 5  # one banner, never a stack
        clock.advance(4)
        view.tick()
        await pilot.pause()
        assert "notice 2" in shown(app)
        clock.advance(1)
        view.tick()
        await pilot.pause()
        assert shown(app) == "" and not banner(app).display
        view.notify("click me away", title="Test")
        await pilot.pause()
        await pilot.click("#notice-banner")
        await pilot.pause()
        assert shown(app) == ""


async def test_the_shade_lists_recent_notifications_newest_first(app_factory, handset):
    await set_up(handset, locked=False)
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view = app.query_one(HandsetView)
        for n in range(25):
            view.notify(f"notice {n}", title="Test")
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(view.top, NoticeShade)
        assert shown(app) == ""  # the shade took the banner's place
        listing = app.query_one("#shade-list", OptionList)
        prompts = [str(listing.get_option_at_index(i).prompt)
                   for i in range(listing.option_count)]
        assert len(prompts) == 20  # bounded
        assert "notice 24" in prompts[0] and "notice 5" in prompts[-1]
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(view.top, HomeView)
        await pilot.click("#handset #status")  # a click on the status bar pulls it down too
        await settle(pilot)
        assert isinstance(view.top, NoticeShade)


def test_a_long_notice_wraps_to_three_lines_with_an_ellipsis():
    notice = Notice("Contacts", "word " * 40)
    lines = banner_lines(notice, 20)
    assert len(lines) == 3 and lines[-1].plain.endswith("…")
    assert all(line.cell_length <= 20 for line in lines)
    one_line = banner_lines(Notice("New message", "Echo\n" + "x" * 50, one_line=True), 20)
    assert [line.plain for line in one_line] == ["Echo", "x" * 19 + "…"]


async def test_messages_spooled_before_a_restart_are_counted_on_the_lock_screen(
        data_dir, clock):
    handset = make_handset(data_dir, clock=clock)
    await set_up(handset)
    for _ in range(2):  # what a locked phone kept before it quit
        handset.persona.spool("envelope", sender=ECHO, data="00" * 40)
    handset.persona.spool("state", msg_id="00" * 16, state="delivered", reason="")
    again = make_handset(data_dir, clock=clock)  # a new process over the same folder
    app = make_app(data_dir, handset=again)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        waiting = app.query_one("#lock-waiting")
        assert "2 encrypted messages waiting" in str(waiting.content)

"""The Open OS's SMS app on screen: threads, compose with its live counter, delivery states,
the banner for an incoming SMS; and the Secure OS, which has none ("removed by policy")."""

from __future__ import annotations

import random

from textual.widgets import Input, Static

from phone_tui.core.config import Settings
from phone_tui.handset.texts import NOTE
from phone_tui.modem.bus import Bus
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
from phone_tui.ui.views.sms import SmsThreadView, SmsView

OPEN = Settings(persona="open")
PROFILES = load_profiles()


def texts_shown(app) -> list[str]:
    return [str(row.render()) for row in app.query(".sms-in, .sms-out").results(Static)]


async def test_the_secure_os_has_no_sms_app_and_its_settings_say_removed(handset, data_dir):
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not app.query("#app-sms")
        await open_app(pilot, "settings")
        app.query_one(HandsetView).top.open_entry("radios")
        await settle(pilot)
        assert "SMS  not present \u2014 removed by policy" in str(
            app.query_one("#radio-sms").render())
        assert "Carrier calls  not present \u2014 removed by policy" in str(
            app.query_one("#radio-plain-calls").render())


async def test_an_sms_is_composed_counted_sent_delivered_and_answered(tmp_path):
    bus = Bus(random.Random(5))
    me = make_handset(tmp_path / "me", settings=OPEN, seed=1)
    await set_up(me, locked=False)
    friend = make_handset(tmp_path / "friend", settings=OPEN, seed=2)
    await set_up(friend, locked=False)
    friend.attach(bus, PROFILES)
    app = make_app(tmp_path / "me", handset=me, settings=OPEN, network=bus)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: me.texts is not None)
        await open_app(pilot, "sms")
        view = app.query_one(HandsetView)
        assert isinstance(view.top, SmsView)
        assert str(app.query_one("#sms-note").render()) == NOTE
        await pilot.press("enter")  # "+ New text"
        await settle(pilot)
        await pilot.press(*friend.number.replace(" ", ""), "enter")
        await settle(pilot)
        thread = view.top
        assert isinstance(thread, SmsThreadView)
        title = thread.TITLE
        counter = app.query_one("#sms-counter", Static)
        assert str(counter.render()) == "0/160 \u00b7 1 SMS \u00b7 GSM-7"
        await pilot.press(*"see you")
        await settle(pilot)
        assert str(counter.render()) == "7/160 \u00b7 1 SMS \u00b7 GSM-7"
        app.query_one("#sms-compose", Input).value = "\u0436" * 150
        await settle(pilot)
        assert str(counter.render()) == "3 SMS \u00b7 UCS-2 \u00b7 51 left"
        app.query_one("#sms-compose", Input).value = "see you [b]at 8[/b]"
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert app.query_one("#sms-compose", Input).value == ""
        await wait_for(pilot, lambda: any("delivered" in t for t in texts_shown(app)))
        assert "see you [b]at 8[/b]" in texts_shown(app)[0]  # words, not markup
        # The friend answers while the thread is open: it shows there, with no banner.
        friend.send_sms(me.number, "ok!")
        await wait_for(pilot, lambda: any("ok!" in t for t in texts_shown(app)))
        assert not any("ok!" in n for n in notifications(app))
        # Elsewhere, an SMS comes with a banner, and the thread list shows it.
        await pilot.press("escape")
        await settle(pilot)
        friend.send_sms(me.number, "one more thing")
        await wait_for(pilot, lambda: any("one more thing" in n for n in notifications(app)))
        # Numbers as the rest of the phone writes them ("+86 190 4702 7773"), not bare digits.
        banner = next(n for n in notifications(app) if "one more thing" in n)
        assert friend.number in banner and " " in friend.number, banner
        assert title == f"SMS \u00b7 {friend.number}"
        assert isinstance(view.top, SmsView)
        await wait_for(pilot, lambda: "one more thing" in str(
            app.query_one("#sms-threads").get_option_at_index(1).prompt))
        assert str(app.query_one("#sms-threads").get_option_at_index(1).prompt).startswith(
            friend.number)


async def test_the_sms_app_is_in_the_palette_and_its_send_key_in_the_help(tmp_path):
    from phone_tui.ui import bindings

    assert [b.id for b in bindings.SMS] == ["sms.send"] and bindings.SMS[0] in bindings.ALL
    me = make_handset(tmp_path, settings=OPEN)
    await set_up(me, locked=False)
    app = make_app(tmp_path, handset=me, settings=OPEN)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.query("#app-sms")
        from phone_tui.ui.commands import HandsetCommands

        titles = [title for title, *_ in HandsetCommands(app.screen)._commands()]
        assert "Open SMS" in titles
        await pilot.press("ctrl+l")  # locked: no SMS command (nor any app)
        await settle(pilot)
        assert "Open SMS" not in [t for t, *_ in HandsetCommands(app.screen)._commands()]


HOSTILE_SMS = "Bank: call us\x1b]52;c;cm0gLXJmIH4=\x1b\\\x1b[2J\u202eved.lave\nline two"


async def test_a_received_sms_reaches_the_screen_with_no_escape_and_no_bidi_override(tmp_path):
    bus = Bus(random.Random(5))
    me = make_handset(tmp_path / "me", settings=OPEN, seed=1)
    await set_up(me, locked=False)
    evil = make_handset(tmp_path / "evil", settings=OPEN, seed=2)
    await set_up(evil, locked=False)
    evil.attach(bus, PROFILES)
    app = make_app(tmp_path / "me", handset=me, settings=OPEN, network=bus)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: me.texts is not None)
        evil.send_sms(me.number, HOSTILE_SMS)
        await wait_for(pilot, lambda: me.texts.threads())
        stored = me.texts.threads()[0].last.body
        assert "\x1b" not in stored and "\n" in stored  # replaced on receipt, lines kept
        await open_app(pilot, "sms")
        app.query_one(HandsetView).push(SmsThreadView(evil.number.replace(" ", "")))
        await settle(pilot)
        row = app.query_one(".sms-in", Static)
        shown = "".join(segment.text for strip in row.render_lines(row.region.reset_offset)
                        for segment in strip)
        assert "\x1b" not in shown and "\u202e" not in shown
        assert "\\u202eved.lave" in shown and "line two" in shown


async def test_a_new_text_offers_the_seeded_contacts_who_answer_sms(tmp_path):
    me = make_handset(tmp_path / "me", settings=OPEN, seed=3)
    await set_up(me, locked=False)
    app = make_app(tmp_path / "me", handset=me, settings=OPEN, network=Bus(random.Random(6)))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: me.texts is not None)
        await open_app(pilot, "sms")
        await pilot.press("enter")  # "+ New text"
        await settle(pilot)
        listing = app.query_one("#sms-contacts")
        shown = [str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count)]
        assert any("Duty Officer" in line for line in shown), shown
        duty = next(c for c in me.messenger.contacts() if c.name == "Duty Officer")
        listing.focus()
        listing.highlighted = next(i for i, line in enumerate(shown) if "Duty Officer" in line)
        await pilot.press("enter")
        await settle(pilot)
        thread = app.query_one(HandsetView).top
        assert isinstance(thread, SmsThreadView)
        assert thread.number == duty.number.replace(" ", "")


async def test_the_number_field_takes_a_contacts_name_or_a_number_and_refuses_anything_else(
        tmp_path):
    from phone_tui.ui.views.sms import SmsNewView

    me = make_handset(tmp_path / "me", settings=OPEN, seed=3)
    await set_up(me, locked=False)
    app = make_app(tmp_path / "me", handset=me, settings=OPEN, network=Bus(random.Random(6)))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: me.texts is not None)
        await open_app(pilot, "sms")
        view = app.query_one(HandsetView)
        duty = next(c for c in me.messenger.contacts() if c.name == "Duty Officer")
        for typed in ("Running ten minutes late.", "DutyOfficer", "1" * 21, "+86 19x"):
            await pilot.press("enter")  # "+ New text"
            await settle(pilot)
            app.query_one("#sms-to", Input).value = typed
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(view.top, SmsNewView), typed  # refused at Enter: still here
            problem = str(app.query_one("#sms-to-problem", Static).render())
            assert "not a number an SMS can reach" in problem, typed
            assert app.query_one("#sms-to", Input).has_focus
            await pilot.press("escape")
            await settle(pilot)
        for typed, number, title in (
                ("duty  officer", duty.number.replace(" ", ""), "Duty Officer"),
                ("+8619047027773", "+8619047027773", "+86 190 4702 7773"),
                ("110", "110", "110")):
            await pilot.press("enter")
            await settle(pilot)
            app.query_one("#sms-to", Input).value = typed
            await pilot.press("enter")
            await settle(pilot)
            thread = view.top
            assert isinstance(thread, SmsThreadView), typed
            assert (thread.number, thread.TITLE) == (number, f"SMS \u00b7 {title}")
            await pilot.press("escape")
            await settle(pilot)


def test_the_sms_tile_is_not_the_messages_tile():
    from phone_tui.ui.views.home import APPS

    icons = {spec.app_id: spec.icon for spec in APPS}
    assert icons["sms"] != icons["messages"]

"""What the network writes reaches the screen as words only: a forged sender "number", markup
in names and bodies, padding characters; notices leave with the lock and with their message."""

from __future__ import annotations

import pytest
from test_notices import ECHO, FULL, ready, shown

from phone_tui.core.entropy import DeterministicEntropy
from phone_tui.handset.numbers import is_number
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
from phone_tui.ui.notices import plain_line
from phone_tui.ui.views.shade import NoticeShade


def forge(app, handset, src: str, text: str) -> None:
    """The carrier (or a fake cell) writes any sender it likes on a message."""
    from phone_tui.handset.impostor import impersonate

    impersonate(app._network, src, handset.number, text, entropy=DeterministicEntropy(99),
                clock=handset.clock)


@pytest.mark.parametrize("src", [
    "IT Security Desk\nURGENT: reply with your PIN",
    "Boss\x1b]52;c;cHduZWQ=\x1b\\\x1b[2J",
    "[@click=app.quit]IT Security Desk[/] x[/]",
    "+86 190\u202e0000",
    "",
])
async def test_a_sender_that_is_not_a_number_is_dropped_before_it_is_a_contact(
        data_dir, clock, src):
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        contacts = {c.number for c in handset.messenger.contacts()}
        forge(app, handset, src, "hello")
        forge(app, handset, "+86 190 5555 0001", "a real one after it")
        await wait_for(pilot, lambda: "a real one" in shown(app))
        assert {c.number for c in handset.messenger.contacts()} - contacts \
            == {"+86 190 5555 0001"}
        assert all(n.number != src for n in app.query_one(HandsetView).notices.history)
        await open_app(pilot, "messages")  # and the list opens (it crashed on markup)
        assert app.is_running


def test_a_network_number_is_digits_spaces_and_a_leading_plus():
    assert is_number("+86 190 0000 0100") and is_number("110") and is_number("+1")
    for bad in ("", "+", "IT Desk", "1\n2", "1\x1b[2J", "+86\u202e190", "１２３", "1" * 40, 12):
        assert not is_number(bad)


async def test_names_and_bodies_with_brackets_are_shown_as_written(data_dir, clock):
    from phone_tui.ui.views.messages import ContactInfoView

    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        handset.messenger.add_contact("+86 190 5555 0002", "Li [Deputy] [/]")
        forge(app, handset, "+86 190 5555 0002", "[b]bold?[/b] [@click=app.quit]x[/]")
        await wait_for(pilot, lambda: "bold?" in shown(app))
        await open_app(pilot, "messages")
        listing = app.query_one("#conversation-list")
        prompts = [str(listing.get_option_at_index(i).prompt)
                   for i in range(listing.option_count)]
        assert any("Li [Deputy] [/]" in p and "[b]bold?[/b]" in p for p in prompts)
        app.query_one(HandsetView).push(ContactInfoView("+86 190 5555 0002"))
        await settle(pilot)
        assert "Li [Deputy] [/] · +86 190 5555 0002" in app.query_one(
            "#info-text").content.plain


def test_padding_and_control_characters_leave_one_plain_line():
    padded = "hi" + "\u2800" * 33 + "IT Security Desk" + "\u3164" * 5 + "reset"
    assert plain_line(padded, 80) == "hi IT Security Desk reset"
    assert plain_line("a\u200bb\u202ec\x1b[2Jd\n\ne\u2028f", 80) == "abc[2Jd e f"
    assert plain_line("x" * 500, 80) == "x" * 79 + "…"  # cut, and says so
    assert plain_line("x" * 80, 80) == "x" * 80


async def test_locking_leaves_no_notice_of_the_unlocked_os_on_the_lock_screen(data_dir, clock):
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        view = app.query_one(HandsetView)
        view.top.notify("The safety number with Echo changed.", title="Not sent",
                        severity="error")
        await settle(pilot)
        assert "Echo" in shown(app)
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert shown(app) == ""
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(view.top, NoticeShade)
        assert list(view.notices.history) == []
        assert not app.query_one("#shade-list").display
        # What is said while locked names nothing inside the OS: it outlives the next lock.
        await pilot.press("escape")
        view.notify("policy.json: damaged", title="Policy")
        await settle(pilot)
        await enter_pin(pilot, TEST_PIN)
        await settle(pilot)
        handset.lock()
        await settle(pilot)
        assert [n.message for n in view.notices.history] == ["policy.json: damaged"]


async def test_the_open_shade_drops_a_message_that_disappears(data_dir, clock):
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        handset.messenger.set_timer(ECHO, 30)
        handset.messenger.send_text(ECHO, "burn after reading")
        await wait_for(pilot, lambda: "burn" in shown(app))
        view = app.query_one(HandsetView)
        await pilot.press("ctrl+n")
        await settle(pilot)
        listing = app.query_one("#shade-list")

        def prompts() -> list[str]:
            if not listing.display:
                return []
            return [str(listing.get_option_at_index(i).prompt)
                    for i in range(listing.option_count)]

        assert any("burn" in p for p in prompts())
        clock.advance(36)
        view.tick()
        await settle(pilot)
        assert not any("burn" in p for p in prompts())
        assert handset.messenger.unread_count() == 0

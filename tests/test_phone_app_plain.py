"""Carrier calls in the Open OS's Phone app, driven with Pilot: the keypad's carrier call, the
in-call screen that says the carrier can listen, the log; none on the Secure OS."""

from __future__ import annotations

import asyncio

from test_messages_app import FULL, top
from test_phone_app import DUTY, option_prompts, quick_bots, text_of

from phone_tui.core.config import Settings
from phone_tui.testing import SIZE, make_app, make_handset, open_app, set_up, settle, wait_for
from phone_tui.ui import bindings
from phone_tui.ui.views.call import PLAIN_WARNING, InCallView
from phone_tui.ui.views.phone import DialPadView, PhoneAppView

OPEN_FULL = Settings(link_profile="full", persona="open")


async def open_phone(data_dir, clock, settings: Settings):
    handset = make_handset(data_dir, clock=clock, settings=settings)
    await set_up(handset, locked=False)
    return handset, make_app(data_dir, handset=handset, settings=settings)


async def carrier_call_to_duty(pilot) -> None:
    await quick_bots(pilot)
    await open_app(pilot, "phone")
    await pilot.press("k")
    await settle(pilot)
    for char in DUTY.replace(" ", ""):
        await pilot.press({"+": "plus"}.get(char, char))
    await pilot.press("c")
    await settle(pilot)


async def test_a_carrier_call_from_the_keypad_says_the_carrier_can_listen(data_dir, clock):
    handset, app = await open_phone(data_dir, clock, OPEN_FULL)
    async with app.run_test(size=SIZE) as pilot:
        await carrier_call_to_duty(pilot)
        assert isinstance(top(app), InCallView)
        info = handset.calls.current
        assert info.plain and info.number == DUTY
        # The bot answers carrier calls too.
        await wait_for(pilot, lambda: handset.calls.current is not None
                       and handset.calls.current.state == "connected", rounds=300)
        await settle(pilot)
        assert top(app).TITLE == "Carrier call"
        assert app.query_one("#call-plain").display
        assert text_of(app, "#call-plain") == PLAIN_WARNING
        assert "the carrier can listen" in PLAIN_WARNING
        assert not app.query_one("#call-sas-box").display  # no words on a carrier call
        assert handset.calls.current.sas is None
        records = [r for r in handset.network.intercept.recent if r.service == "call"]
        assert [r.state for r in records][:3] == ["setup", "alerting", "answered"]
        await pilot.press("e")
        await settle(pilot)
        await wait_for(pilot, lambda: handset.calls.current is None)
        await wait_for(pilot, lambda: isinstance(top(app), DialPadView), rounds=300)
        await pilot.press("escape")  # back from the keypad to the Phone app and its log
        await settle(pilot)
        assert isinstance(top(app), PhoneAppView)
        (entry, *_) = handset.calls.log()
        assert entry.plain and entry.outcome == "outgoing"
        assert any("Carrier call \u00b7 You hung up" in p for p in option_prompts(app))


async def test_a_carrier_call_rings_the_open_os_and_shows_it_is_not_encrypted(data_dir, clock):
    handset, app = await open_phone(data_dir, clock, OPEN_FULL)
    async with app.run_test(size=SIZE) as pilot:
        await quick_bots(pilot)
        bot = next(b for b in app.bots if b.seed.number == DUTY)
        bot.calls.place_plain(handset.number)
        await wait_for(pilot, lambda: handset.calls.current is not None
                       and handset.calls.current.state == "ringing", rounds=300)
        await settle(pilot)
        assert "carrier call: not encrypted" in text_of(app, "#incoming-title")
        await pilot.press("a")
        await wait_for(pilot, lambda: handset.calls.current.state == "connected", rounds=300)
        await settle(pilot)
        assert isinstance(top(app), InCallView) and app.query_one("#call-plain").display


async def test_the_secure_os_has_no_carrier_call_key_or_button(data_dir, clock):
    handset, app = await open_phone(data_dir, clock, FULL)
    async with app.run_test(size=SIZE) as pilot:
        await quick_bots(pilot)
        await open_app(pilot, "phone")
        await pilot.press("c")  # not on this OS: nothing is dialled
        await settle(pilot)
        assert handset.calls.current is None
        await pilot.press("k")
        await settle(pilot)
        assert isinstance(top(app), DialPadView) and not app.query("#dial-carrier")
        for char in DUTY.replace(" ", ""):
            await pilot.press({"+": "plus"}.get(char, char))
        await pilot.press("c")
        await settle(pilot)
        assert handset.calls.current is None
    ids = {binding.id for binding in bindings.ALL}
    assert {"phone.carrier_call", "dial.carrier_call"} <= ids


async def test_the_open_os_keypad_has_the_carrier_button(data_dir, clock):
    handset, app = await open_phone(data_dir, clock, OPEN_FULL)
    async with app.run_test(size=SIZE) as pilot:
        await quick_bots(pilot)
        await open_app(pilot, "phone")
        await pilot.press("k")
        await settle(pilot)
        for char in DUTY.replace(" ", ""):
            await pilot.press({"+": "plus"}.get(char, char))
        await pilot.click("#dial-carrier")
        await settle(pilot)
        assert handset.calls.current is not None and handset.calls.current.plain


def test_snapshot_of_the_plain_in_call_screen(snap_compare, tmp_path):
    from phone_tui.core.clock import ManualClock

    clock = ManualClock()
    handset = make_handset(tmp_path, clock=clock, settings=OPEN_FULL)
    asyncio.run(set_up(handset, locked=False))
    app = make_app(tmp_path, handset=handset, settings=OPEN_FULL, theme="open")

    async def connected(pilot) -> None:
        await carrier_call_to_duty(pilot)
        await wait_for(pilot, lambda: handset.calls.current is not None
                       and handset.calls.current.state == "connected", rounds=300)
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=connected)


async def test_a_carrier_call_rings_the_locked_open_os_and_the_pin_answers_it(data_dir, clock):
    from test_phone_app import TEST_PIN

    from phone_tui.ui.views.call import IncomingCallView

    handset, app = await open_phone(data_dir, clock, OPEN_FULL)
    async with app.run_test(size=SIZE) as pilot:
        await quick_bots(pilot)
        duty = next(bot for bot in app.bots if bot.seed.number == DUTY)
        handset.lock("user")
        await settle(pilot)
        duty.calls.place_plain(handset.number)
        await wait_for(pilot, lambda: isinstance(top(app), IncomingCallView), rounds=200)
        await settle(pilot)
        assert "carrier call" in text_of(app, "#incoming-title")
        assert duty.calls.current.state == "ringing"  # the locked phone's ALERTING came back
        await pilot.press(*TEST_PIN, "enter")
        await settle(pilot)
        await wait_for(pilot, lambda: handset.calls is not None
                       and handset.calls.current is not None
                       and handset.calls.current.state == "connected", rounds=300)
        assert duty.calls.current.state == "connected" and handset.calls.current.plain
        await settle(pilot)
        assert isinstance(top(app), InCallView) and app.query_one("#call-plain").display
        await pilot.press("e")
        await wait_for(pilot, lambda: handset.state.name == "LOCKED", rounds=200)


async def test_declined_on_the_lock_screen_and_the_secure_os_refuses(data_dir, clock):
    from phone_tui.ui.views.call import IncomingCallView

    handset, app = await open_phone(data_dir, clock, OPEN_FULL)
    async with app.run_test(size=SIZE) as pilot:
        await quick_bots(pilot)
        duty = next(bot for bot in app.bots if bot.seed.number == DUTY)
        handset.lock("user")
        await settle(pilot)
        duty.calls.place_plain(handset.number)
        await wait_for(pilot, lambda: isinstance(top(app), IncomingCallView), rounds=200)
        await pilot.press("d")
        await wait_for(pilot, lambda: duty.calls.current is None, rounds=300)
        assert duty.calls.log()[0].reason == "declined"
        assert handset.locked_call is None
    other = data_dir.parent / "secure"
    other.mkdir()
    handset, app = await open_phone(other, clock, FULL)
    async with app.run_test(size=SIZE) as pilot:
        await quick_bots(pilot)
        duty = next(bot for bot in app.bots if bot.seed.number == DUTY)
        for locked in (False, True):
            if locked:
                handset.lock("user")
                await settle(pilot)
            duty.calls.place_plain(handset.number)
            await wait_for(pilot, lambda: duty.calls.current is None, rounds=300)
            assert duty.calls.log()[0].reason == "no_carrier_calls"
            assert handset.locked_call is None and (
                handset.calls is None or handset.calls.current is None)
        # Its Open OS line, while the Secure OS runs: that OS could take the call, later.
        duty.calls.place_plain(handset.line_number("open"))
        await wait_for(pilot, lambda: duty.calls.current is None, rounds=300)
        assert duty.calls.log()[0].reason == "unavailable"

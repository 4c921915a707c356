"""A call answered on the lock screen opens the keys for that call only: the phone locks
again when it ends, whatever comes meanwhile; a lock during the answer leaves nothing behind;
the rest of the phone stays shut during the call; a forged ring cannot keep it ringing."""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import replace

import pytest
from test_messages_app import FULL, top, wait_for

from phone_tui.core.clock import ManualClock
from phone_tui.core.entropy import SystemEntropy
from phone_tui.errors import PhoneTuiError
from phone_tui.handset.bots import start_bots
from phone_tui.handset.contacts import load_contacts
from phone_tui.handset.handset import HandsetState
from phone_tui.modem.bus import Bus
from phone_tui.modem.frames import Envelope, EnvelopeKind
from phone_tui.modem.profiles import load_profiles
from phone_tui.testing import SIZE, TEST_PIN, make_app, make_handset, set_up, settle
from phone_tui.ui.commands import HandsetCommands
from phone_tui.ui.views.call import InCallView

SEEDS = load_contacts()
DESK = next(s.number for s in SEEDS if s.name == "IT Security Desk")  # does not answer calls
DUTY = "+86 190 0000 0110"


async def _world(tmp_path):
    clock = ManualClock()
    bus = Bus(random.Random(11))
    bots = start_bots(SEEDS, bus, load_profiles()["full"], SystemEntropy(), clock)
    phone = make_handset(tmp_path, clock=clock)
    phone.seed_contacts = SEEDS
    phone.attach(bus, load_profiles())
    await set_up(phone, locked=True)
    return bus, phone, next(b for b in bots if b.seed.number == DESK)


@pytest.mark.looptime
async def test_a_hangup_and_a_new_offer_in_one_burst_still_lock_the_phone(tmp_path):
    bus, phone, caller = await _world(tmp_path)
    caller.calls.dial(phone.number)
    await asyncio.sleep(2)
    await phone.answer_locked(TEST_PIN)
    await asyncio.sleep(2)
    assert phone.state is HandsetState.UNLOCKED and phone.answering_locked
    held: list[Envelope] = []

    def hold_two(src: str, dst: str, envelope: Envelope) -> bool:
        """The carrier (or a coverage gap) hands the hangup and the next offer over at once."""
        if src != caller.seed.number or envelope.kind is not EnvelopeKind.CALL:
            return False
        held.append(envelope)
        if len(held) == 2:
            bus.interceptor = None
            for each in held:
                bus._deliver_or_store(dst, each.encode(), each)
        return True

    bus.interceptor = hold_two
    caller.calls.hangup()
    await asyncio.sleep(0.5)
    caller.calls.dial(phone.number)
    await asyncio.sleep(3)
    assert phone.state is HandsetState.LOCKED and not phone.answering_locked


@pytest.mark.looptime
async def test_a_lock_during_the_answer_leaves_no_call_only_state_behind(tmp_path):
    _, phone, caller = await _world(tmp_path)
    caller.calls.dial(phone.number)
    await asyncio.sleep(2)
    real = phone.caught_up

    async def lock_meanwhile():
        await asyncio.sleep(0)
        phone.lock("user")  # Ctrl+L (or auto-lock, an OS switch) while the spool replays
        await real()

    phone.caught_up = lock_meanwhile
    with pytest.raises(PhoneTuiError):
        await phone.answer_locked(TEST_PIN)
    phone.caught_up = real
    assert phone.state is HandsetState.LOCKED and not phone.answering_locked
    caller.calls.hangup()
    await asyncio.sleep(2)
    await phone.unlock(TEST_PIN)  # an ordinary unlock afterwards is an ordinary unlock
    await asyncio.sleep(1)
    assert phone.state is HandsetState.UNLOCKED and not phone.answering_locked


@pytest.mark.looptime
async def test_a_forged_ring_cannot_keep_the_lock_screen_ringing(tmp_path):
    """The hint byte is the network's word only: an unanswered ring from a number waits a
    minute before that number rings again; a ring from another number takes over."""
    bus, phone, _ = await _world(tmp_path)
    forged = bus.forge(DUTY)
    rings: list[str] = []
    phone.events.listen(lambda e: rings.append(e.state) if type(e).__name__ ==
                        "CallStateChanged" else None)
    forged.send(phone.number, b"\x01garbage", kind=EnvelopeKind.CALL)
    await asyncio.sleep(1)
    assert phone.locked_call is not None and phone.locked_call.number == DUTY
    await asyncio.sleep(46)  # rings out
    assert phone.locked_call is None
    for _ in range(5):
        forged.send(phone.number, b"\x01garbage", kind=EnvelopeKind.CALL)
        await asyncio.sleep(1)
    assert phone.locked_call is None and rings == ["ringing", "ended"]
    bus.forge(DESK).send(phone.number, b"\x01garbage", kind=EnvelopeKind.CALL)
    await asyncio.sleep(1)
    assert phone.locked_call is not None and phone.locked_call.number == DESK
    with pytest.raises(PhoneTuiError, match="network's word"):
        await phone.answer_locked(TEST_PIN)
    assert phone.state is HandsetState.LOCKED


async def test_during_a_call_answered_on_the_lock_screen_only_the_call_is_reachable(
        data_dir, clock):
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for bot in app.bots:
            bot.seed = replace(bot.seed, answer_delay=0.0)
        duty = next(bot for bot in app.bots if bot.seed.number == DUTY)
        handset.lock("user")
        await settle(pilot)
        duty.calls.dial(handset.number)
        await wait_for(pilot, lambda: top(app).id == "incoming", rounds=200)
        await pilot.press(*TEST_PIN, "enter")
        await wait_for(pilot, lambda: handset.calls is not None and handset.calls.current
                       is not None and handset.calls.current.state == "connected", rounds=300)
        await settle(pilot)
        assert isinstance(top(app), InCallView) and handset.answering_locked

        class Commands(HandsetCommands):
            def __init__(self) -> None:  # the commands, without a palette screen
                pass

            app = property(lambda self: pilot.app)

        titles = [title for title, _, _ in Commands()._commands()]
        assert titles and set(titles) <= {"Back to the call", "Hang up", "Mute", "Unmute",
                                          "Speaker on", "Speaker off",
                                          "Hold the call", "Resume the call",
                                          "Unlock the phone"}
        assert "Speaker on" in titles
        view = app.query_one("HandsetView")
        for app_id in ("phone", "settings", "messages", "switch"):
            view.open_app(app_id)
            await settle(pilot)
            assert isinstance(top(app), InCallView), app_id
        await pilot.press("escape", "f2", "ctrl+n", "home")
        await settle(pilot)
        assert isinstance(top(app), InCallView)
        await pilot.press("e")
        await wait_for(pilot, lambda: handset.state is HandsetState.LOCKED, rounds=200)


@contextlib.asynccontextmanager
async def in_call_with_duty(data_dir, clock, auto_lock: int | None = None):
    """The app on an unlocked phone in a connected call with the Duty Officer (bots answer at
    once): (app, pilot, handset, its HandsetView)."""
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    if auto_lock is not None:
        handset.set_auto_lock(auto_lock)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for bot in app.bots:
            bot.seed = replace(bot.seed, answer_delay=0.0)
        handset.calls.dial(DUTY)
        await wait_for(pilot, lambda: handset.calls.current is not None
                       and handset.calls.current.state == "connected", rounds=300)
        yield app, pilot, handset, app.query_one("HandsetView")


async def test_the_auto_lock_during_a_call_leaves_only_the_call_and_the_pin_opens_the_rest(
        data_dir, clock):
    from phone_tui.ui.views.call import CallUnlockView

    async with in_call_with_duty(data_dir, clock, auto_lock=15) as (app, pilot, handset, view):
        view.open_app("messages")  # away from the call: a chat list under the banner
        await settle(pilot)
        assert top(app).id != "call"
        desk = next(bot for bot in app.bots if bot.seed.number == DESK)
        desk.messenger.send_text(handset.number, "the code is 4711")  # banner: name and text
        await wait_for(pilot, lambda: any("4711" in n.message for n in view.notices.history),
                       rounds=300)
        clock.advance(16)
        view.tick()
        await settle(pilot)
        assert isinstance(top(app), InCallView) and len(view._stack) == 1
        assert "esc" not in str(top(app).query_one(".view-title").render())
        assert not any("4711" in n.message for n in view.notices.history)  # it went too
        assert "Locked: call only" in str(
            top(app).query_one("#call-guard").render())
        # A message now: the banner says one came, not who sent what.
        echo = next(bot for bot in app.bots if bot.seed.number == DESK)
        echo.messenger.send_text(handset.number, "the meeting moved to 15:00")
        await wait_for(pilot, lambda: any("Unlock the phone to read it" in n.message
                                          for n in view.notices.history), rounds=300)
        assert not any("15:00" in n.message for n in view.notices.history)
        for app_id in ("messages", "settings"):
            view.open_app(app_id)
            await settle(pilot)
            assert isinstance(top(app), InCallView)
        # A click on the status bar (the shade, refused) left the call's keys dead: the
        # focus stayed on the phone's frame.
        await pilot.click("StatusBar")
        await settle(pilot)
        assert app.focused is not None and app.focused is not view
        assert app.check_action("next_theme", ()) is False
        await pilot.press("u")
        await settle(pilot)
        assert isinstance(top(app), CallUnlockView)
        await pilot.press("1", "2", "enter")
        await wait_for(pilot, lambda: "Wrong PIN" in str(
            top(app).query_one("#pin-message").render()), rounds=300)
        assert handset.answering_locked
        await pilot.press(*TEST_PIN, "enter")
        await wait_for(pilot, lambda: not handset.answering_locked, rounds=300)
        await settle(pilot)
        assert isinstance(top(app), InCallView) and len(view._stack) == 2
        assert "esc" in str(top(app).query_one(".view-title").render())
        assert not top(app).query_one("#call-guard").display
        await pilot.press("escape")
        await settle(pilot)
        assert top(app).id == "home" and handset.calls.current.state == "connected"


async def test_a_wrong_pin_to_answer_is_said_under_the_pin_pad(data_dir, clock):
    # It came as a banner over the caller's number for 5 s (a method name that did not exist).
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view = app.query_one("HandsetView")
        duty = next(bot for bot in app.bots if bot.seed.number == DUTY)
        handset.lock("user")
        await settle(pilot)
        duty.calls.dial(handset.number)
        await wait_for(pilot, lambda: top(app).id == "incoming", rounds=200)
        await pilot.press("1", "1", "1", "1", "enter")
        await wait_for(pilot, lambda: "Wrong PIN" in str(
            top(app).query_one("#pin-message").render()), rounds=300)
        assert view.notices.current is None or "Wrong PIN" not in view.notices.current.message


async def test_a_message_read_in_while_guarded_waits_on_the_lock_screen_after_the_call(
        data_dir, clock):
    async with in_call_with_duty(data_dir, clock, auto_lock=15) as (app, pilot, handset, view):
        clock.advance(16)
        view.tick()
        await settle(pilot)
        assert handset.answering_locked
        assert view.check_action("switch_os", ()) is False  # F2 is not offered while guarded
        desk = next(bot for bot in app.bots if bot.seed.number == DESK)
        desk.messenger.send_text(handset.number, "call me back")
        await wait_for(pilot, lambda: any("Unlock the phone to read it" in n.message
                                          for n in view.notices.history), rounds=300)
        handset.calls.current and handset.calls.hangup()
        await wait_for(pilot, lambda: handset.state is HandsetState.LOCKED, rounds=300)
        await settle(pilot)
        assert top(app).id == "lock" and view.waiting == 1  # before: nothing said it came


async def test_on_hold_the_call_screen_says_so_instead_of_the_last_figures(data_dir, clock):
    async with in_call_with_duty(data_dir, clock) as (app, pilot, handset, _):
        await settle(pilot)
        call = top(app)
        assert isinstance(call, InCallView)
        call.levels.extend([-20.0] * 5)  # something was heard before the hold
        await pilot.press("h")
        await wait_for(pilot, lambda: handset.calls.current.held, rounds=100)
        call.refresh_call()
        assert "On hold" in str(call.query_one("#call-quality").render())
        for _ in range(len(call.levels)):  # the meter scrolls the last sound out
            call._sample_level()
        assert all(column is None for column in call.levels)

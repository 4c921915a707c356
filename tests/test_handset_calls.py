"""Calls on the handset: the Duty Officer picks up, a locked phone rings, answering from the
lock screen, and calls to the OS that is not running."""

from __future__ import annotations

import asyncio
import random

import pytest

from phone_tui.core.clock import ManualClock
from phone_tui.core.entropy import SystemEntropy
from phone_tui.errors import WrongPin
from phone_tui.handset.bots import BOT_CALL_S, start_bots
from phone_tui.handset.calls import CallError, CallState, CallStateChanged, CallVerified
from phone_tui.handset.contacts import load_contacts
from phone_tui.handset.events import Locked
from phone_tui.handset.handset import HandsetState
from phone_tui.modem.bus import Bus
from phone_tui.modem.profiles import load_profiles
from phone_tui.testing import TEST_PIN, make_handset, set_up

PROFILES = load_profiles()
SEEDS = load_contacts()
DUTY = next(seed.number for seed in SEEDS if seed.name == "Duty Officer")
DESK = next(seed.number for seed in SEEDS if seed.name == "IT Security Desk")


class World:
    def __init__(self, tmp_path) -> None:
        self.clock = ManualClock()
        self.bus = Bus(random.Random(11))
        self.bots = start_bots(SEEDS, self.bus, PROFILES["full"], SystemEntropy(), self.clock)
        self.handset = make_handset(tmp_path, clock=self.clock)
        self.handset.seed_contacts = SEEDS
        self.handset.attach(self.bus, PROFILES)
        self.seen: list = []
        self.handset.events.listen(self.seen.append)

    def bot(self, number: str):  # noqa: ANN201
        return next(bot for bot in self.bots if bot.seed.number == number)

    def call_states(self) -> list[tuple[str, str, str]]:
        return [(e.call_id and "id", e.state, e.reason) for e in self.seen
                if isinstance(e, CallStateChanged)]


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


def test_the_duty_officer_answers_calls_and_the_schema_checks_the_new_keys(tmp_path):
    duty = next(seed for seed in SEEDS if seed.number == DUTY)
    assert duty.answers_calls and duty.answer_delay == 2.0
    assert not next(seed for seed in SEEDS if seed.number == DESK).answers_calls
    from phone_tui.errors import ConfigError

    bad = tmp_path / "contacts.toml"
    bad.write_text('[[contact]]\nname = "X"\nnumber = "+1"\nanswers_calls = "yes"\n')
    with pytest.raises(ConfigError, match="answers_calls"):
        load_contacts(bad)
    bad.write_text('[[contact]]\nname = "X"\nnumber = "+1"\nanswer_delay_s = -1\n')
    with pytest.raises(ConfigError, match="answer_delay_s"):
        load_contacts(bad)


@pytest.mark.looptime
async def test_the_duty_officer_picks_up_confirms_the_words_and_stays_until_hung_up(world):
    handset = world.handset
    await set_up(handset, locked=False)
    assert handset.calls is not None
    handset.calls.dial(DUTY)
    await asyncio.sleep(1.5)
    assert handset.calls.current.state is CallState.RINGING  # the bot waits answer_delay_s
    await asyncio.sleep(2)
    assert handset.calls.current.state is CallState.CONNECTED
    bot = world.bot(DUTY)
    assert bot.calls.current.sas == handset.calls.current.sas
    await asyncio.sleep(2)
    assert bot.calls.current.verified == "match"
    await asyncio.sleep(60)
    assert handset.calls.current.state is CallState.CONNECTED
    handset.calls.confirm_sas(True)
    assert any(isinstance(e, CallVerified) and e.match for e in world.seen)
    world.clock.advance(75)
    handset.calls.hangup()
    await asyncio.sleep(2)
    assert bot.calls.current is None
    (entry,) = handset.calls.log()
    assert (entry.number, entry.name, entry.outcome, entry.verified) == (
        DUTY, "Duty Officer", "outgoing", "match")
    assert entry.duration_s == 75.0


@pytest.mark.looptime
async def test_the_bot_hangs_up_after_two_minutes(world):
    handset = world.handset
    await set_up(handset, locked=False)
    handset.calls.dial(DUTY)
    await asyncio.sleep(5)
    assert handset.calls.current.state is CallState.CONNECTED
    await asyncio.sleep(BOT_CALL_S)
    assert handset.calls.current is None
    assert world.call_states()[-1] == ("id", "ended", "remote_hung_up")


@pytest.mark.looptime
async def test_a_bot_that_does_not_answer_calls_lets_them_ring_out(world):
    handset = world.handset
    await set_up(handset, locked=False)
    handset.calls.dial(DESK)
    await asyncio.sleep(10)
    assert handset.calls.current.state is CallState.RINGING
    world.clock.advance(45)
    handset.calls.tick()
    await asyncio.sleep(2)
    assert world.call_states()[-1] == ("id", "ended", "no_answer")


@pytest.mark.looptime
async def test_a_locked_phone_rings_by_the_hint_and_stops_when_the_caller_hangs_up(world):
    handset = world.handset
    await set_up(handset, locked=True)
    bot = world.bot(DESK)
    bot.calls.dial(handset.number)
    await asyncio.sleep(2)
    ringing = handset.locked_call
    assert ringing is not None and ringing.locked and ringing.number == DESK
    assert ringing.name == DESK  # the lock screen cannot read the contacts
    assert world.call_states() == [("", "ringing", "")]
    assert bot.calls.current.state is CallState.RINGING  # the phone took the envelope
    bot.calls.hangup()
    await asyncio.sleep(2)
    assert handset.locked_call is None
    assert world.call_states()[-1] == ("", "ended", "missed")
    assert handset.state is HandsetState.LOCKED
    await handset.unlock(TEST_PIN)
    await asyncio.sleep(2)
    # The spooled offer and hangup are read now: a missed call in the log, nothing rings.
    assert [e.outcome for e in handset.calls.log()] == ["missed"]
    assert handset.calls.current is None


@pytest.mark.looptime
async def test_answering_from_the_lock_screen_opens_the_keys_for_the_call_only(world):
    handset = world.handset
    await set_up(handset, locked=True)
    bot = world.bot(DESK)
    bot.calls.dial(handset.number)
    await asyncio.sleep(2)
    assert handset.locked_call is not None
    with pytest.raises(WrongPin):
        await handset.answer_locked("000000")
    assert handset.state is HandsetState.LOCKED and handset.failures() == 1
    await handset.answer_locked(TEST_PIN)
    assert handset.relock_after_call
    await asyncio.sleep(2)
    assert handset.calls.current.state is CallState.CONNECTED
    assert handset.calls.current.locked  # shown as it rang: number only
    assert handset.calls.current.sas == bot.calls.current.sas
    assert handset.idle_seconds_left() is None  # no auto-lock in a call
    bot.calls.hangup()
    await asyncio.sleep(2)
    assert handset.state is HandsetState.LOCKED
    assert any(isinstance(e, Locked) and e.reason == "call" for e in world.seen)


@pytest.mark.looptime
async def test_answering_from_the_lock_screen_after_the_caller_gave_up_locks_again(world):
    handset = world.handset
    await set_up(handset, locked=True)
    with pytest.raises(CallError):
        await handset.answer_locked(TEST_PIN)  # nothing rings
    bot = world.bot(DESK)
    bot.calls.dial(handset.number)
    await asyncio.sleep(2)
    world.clock.advance(50)  # the offer is stale by the time it is read
    with pytest.raises(CallError):
        await handset.answer_locked(TEST_PIN)
    assert handset.state is HandsetState.LOCKED


@pytest.mark.looptime
async def test_a_call_to_the_os_not_running_is_unavailable_and_a_missed_call_there_later(
        world):
    handset = world.handset
    await set_up(handset, locked=False)
    secure = handset.number
    handset.switch_persona("open")
    await set_up(handset, locked=False)
    bot = world.bot(DESK)
    bot.calls.dial(secure)
    await asyncio.sleep(2)
    assert bot.calls.current is None  # the network said "unavailable" at once
    assert [e.outcome for e in bot.calls.log()] == ["failed"]
    assert handset.calls.current is None  # the open OS hears nothing of it
    world.clock.advance(60)
    handset.switch_persona("secure")
    await handset.unlock(TEST_PIN)
    await asyncio.sleep(5)
    assert handset.calls.current is None
    (entry,) = handset.calls.log()
    assert (entry.number, entry.outcome, entry.direction) == (DESK, "missed", "incoming")


@pytest.mark.looptime
async def test_locking_during_a_call_hangs_it_up(world):
    handset = world.handset
    await set_up(handset, locked=False)
    handset.calls.dial(DUTY)
    await asyncio.sleep(5)
    assert handset.calls.current.state is CallState.CONNECTED
    handset.lock("user")
    assert handset.calls is None
    await asyncio.sleep(2)
    assert world.bot(DUTY).calls.current is None


async def _guarded_call(world):
    """An unlocked phone in a call with the Duty Officer whose auto-lock has come."""
    from phone_tui.handset.events import Guarded

    handset = world.handset
    await set_up(handset, locked=False)
    handset.set_auto_lock(15)
    handset.calls.dial(DUTY)
    await asyncio.sleep(4)
    assert handset.calls.current.state is CallState.CONNECTED
    world.clock.advance(16)
    assert handset.check_idle()  # it acted: guarded, not locked
    assert any(isinstance(e, Guarded) for e in world.seen)
    return handset


@pytest.mark.looptime
async def test_the_auto_lock_during_a_call_guards_the_phone_and_locks_it_when_the_call_ends(
        world):
    # Before, a call kept auto-lock paused: a caller who stayed on the line kept an unlocked
    # phone unlocked for as long as the call lasted.
    handset = await _guarded_call(world)
    assert handset.state is HandsetState.UNLOCKED and handset.answering_locked
    assert handset.calls.current.state is CallState.CONNECTED  # the call goes on
    assert handset.idle_seconds_left() is None and not handset.check_idle()
    await asyncio.sleep(2)
    assert handset.calls.current.state is CallState.CONNECTED
    world.bot(DUTY).calls.hangup()
    await asyncio.sleep(2)
    assert handset.state is HandsetState.LOCKED and not handset.answering_locked
    assert any(isinstance(e, Locked) and e.reason == "call" for e in world.seen)


@pytest.mark.looptime
async def test_the_pin_opens_a_guarded_phone_during_the_call_and_counts_wrong_pins(world):
    from phone_tui.handset.events import GuardLifted

    handset = await _guarded_call(world)
    with pytest.raises(WrongPin):
        await handset.lift_guard("000000")
    assert handset.answering_locked and handset.failures() == 1
    await handset.lift_guard(TEST_PIN)
    assert not handset.answering_locked and handset.failures() == 0
    assert any(isinstance(e, GuardLifted) for e in world.seen)
    assert handset.calls.current.state is CallState.CONNECTED
    world.bot(DUTY).calls.hangup()
    await asyncio.sleep(2)
    assert handset.state is HandsetState.UNLOCKED  # opened: it stays open after the call


@pytest.mark.looptime
@pytest.mark.parametrize("pin", [TEST_PIN, "000000"])
async def test_a_call_that_ends_while_the_pin_is_checked_leaves_the_phone_locked(world, pin):
    # Before, the call's end cleared the guard at once while the lock waited for the check:
    # for the length of Argon2id (a wrong PIN too) the whole phone was open.
    import threading

    from phone_tui.crypto import keystore
    from phone_tui.errors import PhoneTuiError
    from phone_tui.handset.events import GuardLifted

    handset = await _guarded_call(world)
    real, started, gate = keystore.derive, threading.Event(), threading.Event()

    def slow(*args):  # Argon2id as slow as on a phone: until the test lets it end
        started.set()
        gate.wait(10)
        return real(*args)

    keystore.derive = slow
    try:
        lifting = asyncio.ensure_future(handset.lift_guard(pin))
        while not started.is_set():
            await asyncio.sleep(0)
        handset.calls.hangup()  # the call ends during the check
        for _ in range(5):
            await asyncio.sleep(0)
        assert handset.answering_locked  # still open for nothing but the (ended) call
        assert handset.state is HandsetState.UNLOCKED and not handset.check_idle()
        gate.set()
        with pytest.raises(PhoneTuiError):  # WrongPin, or the call that is over
            await lifting
    finally:
        keystore.derive = real
        gate.set()
    await asyncio.sleep(1)
    assert handset.state is HandsetState.LOCKED and not handset.answering_locked
    assert not any(isinstance(e, GuardLifted) for e in world.seen)
    assert handset.failures() == (0 if pin == TEST_PIN else 1)


@pytest.mark.looptime
async def test_the_duress_pin_at_a_guarded_call_wipes_as_at_the_lock_screen(world):
    from phone_tui.crypto.keystore import UnlockOutcome
    from phone_tui.handset.events import Wiped

    handset = await _guarded_call(world)
    await handset.set_duress_pin(TEST_PIN, "909090")
    assert await handset.lift_guard("909090") is UnlockOutcome.DURESS
    assert any(isinstance(e, Wiped) and e.reason == "duress" for e in world.seen)
    assert handset.calls is None or handset.calls.current is None


@pytest.mark.looptime
async def test_words_that_match_verify_the_contact_bound_into_them_and_no_other(world):
    # The words are bound to both identity keys: a match verifies the safety number as
    # comparing it does (before, the contact stayed unverified after a matching call).
    handset = world.handset
    await set_up(handset, locked=False)
    messenger = handset.messenger
    assert not messenger.contact(DUTY).verified
    handset.calls.dial(DUTY)
    await asyncio.sleep(5)
    handset.calls.confirm_sas(True)
    assert messenger.contact(DUTY).verified
    notices = [m.body for m in messenger.history(DUTY, limit=5) if m.kind == "notice"]
    assert "Safety number verified: the words of a call matched." in notices
    handset.calls.hangup()
    await asyncio.sleep(2)
    # The same with the key changed during the call: the words were bound to the old one,
    # and the new safety number waits for the person's own check.
    messenger.store.execute("UPDATE contacts SET verified = 0 WHERE number = ?", (DUTY,))
    handset.calls.dial(DUTY)
    await asyncio.sleep(5)
    messenger.store.execute("UPDATE contacts SET identity = ? WHERE number = ?",
                            ("00" * 32, DUTY))
    handset.calls.confirm_sas(True)
    assert not messenger.contact(DUTY).verified


@pytest.mark.looptime
async def test_a_long_hold_is_not_a_network_failure(world):
    # No voice goes either way on hold: the media timeout (15 s without voice) ended every
    # hold longer than that as "the network failed". The reports keep the call alive.
    handset = world.handset
    await set_up(handset, locked=False)
    handset.calls.dial(DUTY)
    await asyncio.sleep(5)
    handset.calls.set_hold(True)
    for _ in range(60):
        await asyncio.sleep(1)
        world.clock.advance(1)
    assert handset.calls.current is not None
    assert handset.calls.current.state is CallState.CONNECTED
    handset.calls.set_hold(False)
    await asyncio.sleep(2)
    assert handset.calls.current.state is CallState.CONNECTED
    assert world.bot(DUTY).calls.current.state is CallState.CONNECTED


@pytest.mark.looptime
async def test_after_the_pin_opened_a_call_answered_on_the_lock_screen_calls_ring_as_usual(
        world):
    # Before, every later call rang as on a lock screen (number only, "enter your PIN") on
    # the open phone, and could only be declined.
    handset = world.handset
    await set_up(handset, locked=True)
    bot = world.bot(DESK)
    bot.calls.dial(handset.number)
    await asyncio.sleep(2)
    await handset.answer_locked(TEST_PIN)
    await asyncio.sleep(2)
    await handset.lift_guard(TEST_PIN)
    bot.calls.hangup()
    await asyncio.sleep(2)
    assert handset.state is HandsetState.UNLOCKED
    bot.calls.dial(handset.number)
    await asyncio.sleep(2)
    assert handset.calls.current.state is CallState.RINGING
    assert not handset.calls.current.locked
    handset.calls.answer()
    await asyncio.sleep(2)
    assert handset.calls.current.state is CallState.CONNECTED


@pytest.mark.looptime
async def test_matching_words_on_a_guarded_phone_verify_the_call_only(world):
    # Whoever holds a guarded phone has not given the PIN: "words match" marked the caller's
    # safety number verified for good.
    handset = await _guarded_call(world)
    handset.calls.confirm_sas(True)
    assert handset.calls.current.verified == "match"
    assert not handset.messenger.contact(DUTY).verified


@pytest.mark.looptime
async def test_a_carrier_call_to_the_open_os_line_while_the_secure_os_runs_is_absent_not_refused(
        world):
    """"Not supported" is the Secure OS's policy; the Open OS's line is only not running."""
    import os

    from phone_tui.modem.cc import Cause, CcMessage, CcType, decode_cc
    from phone_tui.modem.frames import Envelope, EnvelopeKind

    handset = world.handset
    await set_up(handset, locked=False)
    assert handset.running == "secure"
    answers: dict[str, list[bytes]] = {}
    for name, modem in handset.modems.items():
        modem.send_cc = lambda number, body, name=name: answers.setdefault(name, []).append(body)
    setup = CcMessage(CcType.SETUP, os.urandom(16), codec="opus").encode()
    for name in ("open", "secure"):
        handset._cc_without_calls(name, Envelope(EnvelopeKind.CC, os.urandom(16), DUTY,
                                                 handset.line_number(name), setup))
    causes = {name: decode_cc(body).cause for name, (body,) in answers.items()}
    assert causes == {"open": Cause.SUBSCRIBER_ABSENT, "secure": Cause.SERVICE_NOT_IMPLEMENTED}

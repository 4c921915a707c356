"""The phone's plain SMS (handset/texts.py): two Open OS phones text each other through the
carrier's SMS centre, states from its reports, the store across a restart and a lock, and the
Secure OS, which has no plain SMS by policy."""

from __future__ import annotations

import asyncio
import random

import pytest

from phone_tui.core.clock import ManualClock
from phone_tui.core.config import Settings
from phone_tui.crypto.keystore import UnlockOutcome
from phone_tui.errors import ConfigError
from phone_tui.handset.device import load_device
from phone_tui.handset.texts import NO_ANSWER, NOTE, SENDING_TIMEOUT, TextError, TextReceived
from phone_tui.modem.bus import Bus
from phone_tui.modem.profiles import load_profiles
from phone_tui.testing import TEST_PIN, make_handset, set_up

PROFILES = load_profiles()
OPEN = Settings(persona="open")


def digits(number: str) -> str:
    return number.replace(" ", "")


class Pair:
    def __init__(self, tmp_path, bus: Bus | None = None, *, b_persona: str = "open") -> None:
        self.bus = bus or Bus(random.Random(3))
        self.a = make_handset(tmp_path / "a", settings=OPEN, seed=1)
        self.b = make_handset(tmp_path / "b", settings=Settings(persona=b_persona), seed=2)
        self.a.attach(self.bus, PROFILES)
        self.b.attach(self.bus, PROFILES)
        self.seen: list = []
        self.b.events.listen(self.seen.append)


def test_the_device_file_says_which_os_has_plain_sms(tmp_path):
    device = load_device()
    assert device.personas["open"].plain_sms is True
    assert device.personas["secure"].plain_sms is False
    text = (load_device.__globals__["seeds_dir"]() / "device.toml").read_text()
    bad = tmp_path / "device.toml"
    bad.write_text(text.replace("plain_sms = true", 'plain_sms = "yes"'))
    with pytest.raises(ConfigError, match="plain_sms"):
        load_device(bad)


@pytest.mark.looptime
async def test_two_open_os_phones_text_each_other_with_delivery_states(tmp_path):
    pair = Pair(tmp_path)
    await set_up(pair.a, locked=False)
    await set_up(pair.b, locked=False)
    await asyncio.sleep(1)
    to = pair.b.number
    sent = pair.a.send_sms(to, "lunch at 12?")
    assert sent.state == "sending" and sent.parts == 1
    await asyncio.sleep(3)
    [thread] = pair.b.texts.threads()
    assert thread.number == digits(pair.a.number) and thread.unread == 1
    assert [(t.body, t.state, t.outgoing) for t in pair.b.texts.thread(thread.number)] == [
        ("lunch at 12?", "received", False)]
    assert any(isinstance(e, TextReceived) for e in pair.seen)
    assert pair.a.texts.get(sent.id).state == "delivered"
    long = "\u00e9t\u00e9 " * 60  # GSM-7, 240 characters: 2 parts
    reply = pair.b.send_sms(pair.a.number, long)
    assert reply.parts == 2
    await asyncio.sleep(3)
    assert pair.a.texts.thread(digits(to))[-1].body == long
    assert pair.b.texts.get(reply.id).state == "delivered"
    pair.b.texts.mark_read(thread.number)
    assert pair.b.texts.unread() == 0
    assert "carrier can read" in NOTE


@pytest.mark.looptime
async def test_a_text_to_a_phone_that_is_off_expires_or_arrives_when_it_is_back(tmp_path):
    pair = Pair(tmp_path)
    await set_up(pair.a, locked=False)
    await set_up(pair.b, locked=False)
    await asyncio.sleep(1)
    pair.b.modem.set_powered(False)
    sent = pair.a.send_sms(pair.b.number, "are you there")
    await asyncio.sleep(5)
    assert pair.a.texts.get(sent.id).state == "sent"  # the SMSC has it
    pair.b.modem.set_powered(True)
    await asyncio.sleep(3)
    assert pair.a.texts.get(sent.id).state == "delivered"
    assert pair.b.texts.thread(digits(pair.a.number))[-1].body == "are you there"


@pytest.mark.looptime
async def test_texts_that_come_while_locked_wait_in_the_spool_and_survive_a_restart(tmp_path):
    pair = Pair(tmp_path)
    await set_up(pair.a, locked=False)
    await set_up(pair.b, locked=True)
    await asyncio.sleep(1)
    pair.a.send_sms(pair.b.number, "while you were locked")
    await asyncio.sleep(3)
    assert pair.b.texts is None
    assert await pair.b.unlock(TEST_PIN) is UnlockOutcome.UNLOCKED
    await pair.b.caught_up()
    thread = digits(pair.a.number)
    assert [t.body for t in pair.b.texts.thread(thread)] == ["while you were locked"]
    # A new handset over the same folder: the thread is in the encrypted store.
    pair.b.lock()
    again = make_handset(tmp_path / "b", settings=OPEN, seed=2)
    assert await again.unlock(TEST_PIN) is UnlockOutcome.UNLOCKED
    again.attach(Bus(random.Random(9)), PROFILES)
    assert [t.body for t in again.texts.thread(thread)] == ["while you were locked"]
    for path in (tmp_path / "b").rglob("*"):
        if path.is_file():
            assert b"while you were" not in path.read_bytes(), path  # encrypted at rest


@pytest.mark.looptime
async def test_the_secure_os_has_no_plain_sms_and_keeps_nothing_of_one(tmp_path):
    pair = Pair(tmp_path, b_persona="secure")
    await set_up(pair.a, locked=False)
    await set_up(pair.b, locked=False)
    await asyncio.sleep(1)
    assert pair.b.texts is None
    with pytest.raises(TextError, match="no plain SMS"):
        pair.b.send_sms(pair.a.number, "hi")
    sent = pair.a.send_sms(pair.b.number, "plain to secure")
    await asyncio.sleep(5)
    # Accepted, then refused for good by the Secure OS: failed at once, and not tried again.
    text = pair.a.texts.get(sent.id)
    assert (text.state, text.reason) == ("failed", "the recipient's phone takes no SMS")
    states = [r.state for r in pair.bus.intercept.recent if r.service == "sms"]
    assert states == ["submitted", "failed"]
    assert pair.b.persona.spooled_messages() == 0
    assert not any(isinstance(e, TextReceived) for e in pair.seen)


@pytest.mark.looptime
async def test_what_cannot_be_sent_is_refused_before_it_leaves(tmp_path):
    pair = Pair(tmp_path)
    await set_up(pair.a, locked=False)
    for number, text, why in [(pair.b.number, "", "Nothing"), ("call me", "x", "not a number"),
                              (pair.b.number, "x" * 5000, "at most")]:
        with pytest.raises(TextError, match=why):
            pair.a.send_sms(number, text)
    assert pair.a.texts.threads() == []
    pair.a.lock()
    with pytest.raises(TextError, match="Unlock"):
        pair.a.send_sms(pair.b.number, "x")


@pytest.mark.looptime
async def test_a_text_with_no_answer_from_the_sms_centre_fails_in_time_and_after_a_restart(
        tmp_path):
    bus = Bus(random.Random(13))
    bus.sms.receive = lambda *_args: None  # the SMS centre's answer never comes
    clock = ManualClock()
    phone = make_handset(tmp_path, settings=Settings(persona="open"), clock=clock)
    phone.attach(bus, PROFILES)
    await set_up(phone, locked=False)
    await asyncio.sleep(1)
    first = phone.send_sms("+8619000000002", "anyone there?")
    await asyncio.sleep(SENDING_TIMEOUT / 2)
    clock.advance(SENDING_TIMEOUT / 2)
    assert phone.texts.get(first.id).state == "sending"
    clock.advance(SENDING_TIMEOUT / 2 + 1)
    await asyncio.sleep(SENDING_TIMEOUT / 2 + 1)
    assert (phone.texts.get(first.id).state, phone.texts.get(first.id).reason) == (
        "failed", NO_ANSWER)
    # A text left "sending" across a lock (a restart of the app is the same store read again).
    second = phone.send_sms("+8619000000002", "still there?")
    phone.lock()
    clock.advance(SENDING_TIMEOUT + 1)
    await phone.unlock(TEST_PIN)
    assert phone.texts.get(second.id).state == "failed"
    bus.close()

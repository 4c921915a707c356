"""Bots answer a plain SMS by plain SMS (and the carrier reads both)."""

from __future__ import annotations

import asyncio
import random

import pytest

from phone_tui.core.clock import ManualClock
from phone_tui.core.config import Settings
from phone_tui.core.entropy import SystemEntropy
from phone_tui.handset.bots import start_bots
from phone_tui.handset.contacts import load_contacts
from phone_tui.modem.bus import Bus
from phone_tui.modem.profiles import load_profiles
from phone_tui.testing import make_handset, set_up

PROFILES = load_profiles()
SEEDS = load_contacts()
DUTY = next(seed for seed in SEEDS if seed.name == "Duty Officer")
ECHO = next(seed for seed in SEEDS if seed.name == "Echo")


@pytest.mark.looptime
async def test_a_bot_answers_a_plain_sms_by_plain_sms_by_its_rules(tmp_path):
    bus = Bus(random.Random(12))
    clock = ManualClock()
    bots = start_bots(SEEDS, bus, PROFILES["full"], SystemEntropy(), clock)
    phone = make_handset(tmp_path, settings=Settings(persona="open"), clock=clock)
    phone.seed_contacts = SEEDS
    phone.attach(bus, PROFILES)
    await set_up(phone, locked=False)
    await asyncio.sleep(1)
    phone.send_sms(DUTY.number, "status please")
    phone.send_sms(ECHO.number, "ping \u00e9t\u00e9")
    await asyncio.sleep(DUTY.read_delay + DUTY.reply_delay + 5)
    duty = phone.texts.thread(DUTY.number.replace(" ", ""))
    assert [(t.outgoing, t.body) for t in duty] == [
        (True, "status please"), (False, DUTY.reply_to("status please"))]
    assert duty[0].state == "delivered"
    echo = phone.texts.thread(ECHO.number.replace(" ", ""))
    assert echo[-1].body == "ping \u00e9t\u00e9" and not echo[-1].outgoing
    # Nothing went end to end: the messenger has no such conversation.
    assert phone.messenger.history(DUTY.number) == []
    records = [(r.calling, r.state, r.sms_text) for r in bus.intercept.recent
               if r.service == "sms" and r.state == "submitted"]
    assert (DUTY.number, "submitted", DUTY.reply_to("status please")) in records
    bot = next(b for b in bots if b.seed is DUTY)
    assert bot.texts.unread() == 0  # read, as it reads messages
    for b in bots:
        b.close()
    bus.close()

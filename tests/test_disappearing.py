"""Disappearing messages: one timer per conversation, shared by both phones, as in Signal."""

from __future__ import annotations

import random

import pytest
from test_messenger import Phone, settle

from phone_tui.core.clock import ManualClock
from phone_tui.handset.disappearing import TIMER_LABELS, timer_label, timer_notice
from phone_tui.handset.payloads import TIMER_PRESETS
from phone_tui.modem.bus import Bus


@pytest.fixture
def world(tmp_path):
    clock = ManualClock()
    bus = Bus(random.Random(1))
    alice, bob = Phone(bus, "+1", tmp_path, clock), Phone(bus, "+2", tmp_path, clock)
    alice.messenger.add_contact("+2", "Bob")
    bob.messenger.add_contact("+1", "Alice")
    return bus, clock, alice, bob


def test_timer_labels_are_signals():
    assert [timer_label(seconds) for seconds in TIMER_PRESETS] == [
        "off", "30 s", "5 min", "1 h", "8 h", "1 day", "1 week", "4 weeks"]
    assert tuple(TIMER_LABELS) == TIMER_PRESETS


@pytest.mark.looptime
async def test_setting_the_timer_is_said_on_both_phones(world):
    _bus, _clock, alice, bob = world
    alice.messenger.send_text("+2", "hi")
    await settle()
    alice.messenger.set_timer("+2", 30)
    await settle()
    assert alice.notices("+2") == ["You set disappearing messages to 30 s."]
    assert bob.notices("+1") == ["Alice set disappearing messages to 30 s."]
    assert bob.messenger.contact("+1").timer == 30  # the conversation's timer is shared
    bob.messenger.set_timer("+1", 0)
    await settle()
    assert alice.notices("+2")[-1] == "Bob turned off disappearing messages."
    assert alice.messenger.contact("+2").timer == 0
    alice.messenger.set_timer("+2", 0)  # no change: nothing said
    assert alice.notices("+2")[-1] == "Bob turned off disappearing messages."


@pytest.mark.looptime
async def test_a_reply_after_the_timer_was_set_disappears_on_time(world):
    _bus, clock, alice, bob = world
    alice.messenger.set_timer("+2", 30)
    alice.messenger.send_text("+2", "this goes in 30 s")
    await settle()
    clock.advance(10)
    reply_at = clock.now()
    bob.messenger.send_text("+1", "so does my reply")  # Bob's phone carries the shared timer
    await settle()
    assert alice.bodies("+2") == ["so does my reply"]
    reply = next(m for m in alice.messenger.history("+2") if m.body == "so does my reply")
    assert reply.expires_at is not None and reply.expires_at - reply_at <= 30
    clock.set(reply.expires_at - 0.5)
    assert alice.messenger.expire(due_only=True) == 1  # her own, sent 10 s earlier
    assert alice.bodies("+2") == ["so does my reply"]
    clock.set(reply.expires_at)
    assert alice.messenger.expire(due_only=True) == 1  # the UI's each-second check finds it
    assert alice.bodies("+2") == []


@pytest.mark.looptime
async def test_a_message_with_another_timer_changes_the_conversations_with_a_notice(world):
    _bus, clock, alice, bob = world
    # Bob's phone has 1 h (its update to Alice was lost); its next message carries it.
    bob.store.execute("UPDATE contacts SET timer = 3600 WHERE number = '+1'")
    bob.messenger.send_text("+1", "an hour")
    await settle()
    history = alice.messenger.history("+2")
    assert [(m.kind, m.body) for m in history] == [
        ("notice", "Bob set disappearing messages to 1 h."), ("text", "an hour")]
    assert alice.messenger.contact("+2").timer == 3600
    alice.messenger.send_text("+2", "mine too")  # Alice's messages now carry 1 h
    await settle()
    mine = next(m for m in bob.messenger.history("+1") if m.body == "mine too")
    assert mine.expires_at == clock.now() + 3600
    clock.advance(3601)
    alice.messenger.expire()
    assert alice.bodies("+2") == []


def test_timer_notices_read_like_signals():
    assert timer_notice(None, 30) == "You set disappearing messages to 30 s."
    assert timer_notice("Li", 3600) == "Li set disappearing messages to 1 h."
    assert timer_notice("Li", 0) == "Li turned off disappearing messages."


@pytest.mark.parametrize("expire", [42, -30, True, 30.0, "30", None])
def test_a_timer_update_outside_the_presets_is_refused(expire):
    import json

    from phone_tui.handset.payloads import PayloadError, parse

    with pytest.raises(PayloadError) as refused:
        parse(json.dumps({"t": "timer", "expire": expire}).encode())
    assert refused.value.field == "expire" and refused.value.kind == "timer"


def test_a_timer_update_parses():
    from phone_tui.handset.payloads import TimerPayload, parse

    assert parse(b'{"t": "timer", "expire": 604800}') == TimerPayload(7 * 86400)
    with pytest.raises(ValueError):
        parse(b'{"t": "timer", "expire": 30, "by": "x"}')

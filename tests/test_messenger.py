"""The messenger service end to end: two phones' messengers over the emulated network."""

from __future__ import annotations

import asyncio
import random

import pytest

from phone_tui.core.clock import ManualClock
from phone_tui.core.entropy import SystemEntropy
from phone_tui.crypto.identity import IdentityKeys
from phone_tui.handset.events import EventStream
from phone_tui.handset.messenger import (
    IdentityChanged,
    IdentityChangedError,
    Messenger,
    MessengerError,
)
from phone_tui.modem.bus import Bus
from phone_tui.modem.profiles import load_profiles
from phone_tui.store.database import PersonaStore

PROFILES = load_profiles()
E = SystemEntropy()


class Phone:
    def __init__(self, bus: Bus, number: str, folder, clock: ManualClock, profile="lte",
                 identity: IdentityKeys | None = None) -> None:
        self.events = EventStream()
        self.store = PersonaStore(folder / f"{number}.db", E.token_bytes(32))
        self.identity = identity or IdentityKeys.generate(E, clock.now())
        self.saved = 0
        self.messenger: Messenger | None = None
        self.modem = bus.attach(number, PROFILES[profile],
                                on_message=lambda env: self.messenger.on_envelope(env),
                                on_state=lambda *args: self.messenger.on_state(*args))
        self.messenger = Messenger(number=number, persona="secure", store=self.store,
                                   identity=self.identity, network=bus, modem=self.modem,
                                   entropy=E, clock=clock, events=self.events,
                                   save_identity=self._saved)
        self.messenger.publish_keys()

    def _saved(self, _identity) -> None:
        self.saved += 1

    def bodies(self, number: str) -> list[str]:
        return [m.body for m in self.messenger.history(number) if not m.outgoing]

    def states(self, number: str) -> list[str]:
        return [m.state for m in self.messenger.history(number) if m.outgoing]


async def settle(seconds: float = 30) -> None:
    await asyncio.sleep(seconds)


@pytest.fixture
def world(tmp_path):
    clock = ManualClock()
    bus = Bus(random.Random(1))
    return bus, clock, Phone(bus, "+1", tmp_path, clock), Phone(bus, "+2", tmp_path, clock)


@pytest.mark.looptime
async def test_round_trip_both_ways_with_states_and_read_receipts(world):
    bus, clock, alice, bob = world
    alice.messenger.send_text("+2", "hello bob")
    await settle()
    assert bob.bodies("+1") == ["hello bob"]
    assert alice.states("+2") == ["delivered"]
    assert bob.messenger.conversations()[0].unread == 1
    bob.messenger.mark_read("+1")
    await settle()
    assert alice.states("+2") == ["read"]
    bob.messenger.send_text("+1", "hi alice")
    await settle()
    assert alice.bodies("+2") == ["hi alice"]
    tap = [r for r in bus.tap.recent if r.kind == "data"]
    assert tap and all(b"hello bob" not in r.data and b"hi alice" not in r.data for r in tap)


@pytest.mark.looptime
async def test_fifty_each_way_over_a_lossy_reordering_link(tmp_path):
    from dataclasses import replace

    clock = ManualClock()
    bus = Bus(random.Random(2))
    lossy = replace(PROFILES["lte"], loss=0.2, loss_burst=1.25, reorder=0.2, duplicate=0.1,
                    jitter_ms=30)
    PROFILES["lossy-test"] = lossy
    try:
        alice = Phone(bus, "+1", tmp_path, clock, profile="lossy-test")
        bob = Phone(bus, "+2", tmp_path, clock, profile="lossy-test")
        alice.messenger.send_text("+2", "first")
        await settle()
        for i in range(50):
            alice.messenger.send_text("+2", f"a{i}")
            bob.messenger.send_text("+1", f"b{i}")
        await settle(600)
        assert bob.bodies("+1") == ["first"] + [f"a{i}" for i in range(50)]
        assert alice.bodies("+2") == [f"b{i}" for i in range(50)]
        assert set(alice.states("+2")) == {"delivered"}
    finally:
        del PROFILES["lossy-test"]


@pytest.mark.looptime
async def test_changed_identity_blocks_sending_until_accepted(world, tmp_path):
    bus, clock, alice, bob = world
    alice.messenger.send_text("+2", "before")
    await settle()
    # Bob's phone is replaced (or a man in the middle): a new identity under his number.
    bus._subscribers.pop("+2")
    (tmp_path / "new").mkdir()
    new_bob = Phone(bus, "+2", tmp_path / "new", clock)
    old_number = alice.messenger.safety_number("+2")
    new_bob.messenger.send_text("+1", "it's me, honest")
    await settle()
    assert alice.bodies("+2") == ["it's me, honest"]
    assert any(isinstance(e, IdentityChanged) for e in alice.events.history)
    assert alice.messenger.safety_number("+2") != old_number
    with pytest.raises(IdentityChangedError):
        alice.messenger.send_text("+2", "blocked")
    alice.messenger.accept_identity("+2")
    alice.messenger.send_text("+2", "accepted")
    await settle()
    assert new_bob.bodies("+1") == ["accepted"]
    assert not alice.messenger.contact("+2").verified


@pytest.mark.looptime
async def test_garbage_replay_and_unknown_sender_leave_the_session_usable(world):
    bus, clock, alice, bob = world
    alice.messenger.send_text("+2", "one")
    await settle()
    captured = [r for r in bus.tap.recent if r.kind == "data" and r.direction == "down"
                and r.dst == "+2"][-1]
    from phone_tui.modem.frames import Envelope, HopFrame

    envelope = Envelope.decode(HopFrame.decode(captured.data).payload)
    bob.messenger.on_envelope(envelope)  # replay
    bob.messenger.on_envelope(Envelope(envelope.kind, envelope.msg_id, "+1", "+2", b"\x01junk"))
    bob.messenger.on_envelope(Envelope(envelope.kind, envelope.msg_id, "+9", "+2",
                                       envelope.body))
    bob.messenger.on_envelope(Envelope(envelope.kind, envelope.msg_id, "+1", "+2", b""))
    assert bob.bodies("+1") == ["one"]
    alice.messenger.send_text("+2", "two")
    await settle()
    assert bob.bodies("+1") == ["one", "two"]


@pytest.mark.looptime
async def test_persistence_across_a_restart(world, tmp_path):
    bus, clock, alice, bob = world
    alice.messenger.send_text("+2", "one")
    await settle()
    # Bob's messenger is rebuilt from his store and keys, as after an app restart.
    bob.messenger = Messenger(number="+2", persona="secure", store=bob.store,
                              identity=IdentityKeys.from_secrets(bob.identity.to_secrets()),
                              network=bus, modem=bob.modem, entropy=E, clock=clock,
                              events=bob.events, save_identity=lambda _i: None)
    alice.messenger.send_text("+2", "two")
    bob.messenger.send_text("+1", "back")
    await settle()
    assert bob.bodies("+1") == ["one", "two"]
    assert alice.bodies("+2") == ["back"]


@pytest.mark.looptime
async def test_search_timers_and_unknown_numbers(world):
    bus, clock, alice, bob = world
    alice.messenger.add_contact("+2", "Bob")
    alice.messenger.set_timer("+2", 30)
    alice.messenger.send_text("+2", "self-destructs 100% soon")
    alice.messenger.send_text("+2", "another")
    await settle()
    assert [m.body for m in alice.messenger.search("+2", "100%")] == [
        "self-destructs 100% soon"]
    assert [m.body for m in alice.messenger.search("+2", "_")] == []
    clock.advance(31)
    assert alice.messenger.expire() == 2 and bob.messenger.expire() == 2
    with pytest.raises(MessengerError):
        alice.messenger.set_timer("+2", 42)
    with pytest.raises(MessengerError, match="has not published keys"):
        alice.messenger.send_text("+999", "anyone?")


@pytest.mark.looptime
async def test_handset_spools_while_locked_and_reads_after_unlock(tmp_path):
    from phone_tui.handset.bots import start_bots
    from phone_tui.handset.contacts import load_contacts
    from phone_tui.testing import TEST_PIN, make_handset, set_up

    clock = ManualClock()
    bus = Bus(random.Random(3))
    seeds = load_contacts()
    bots = start_bots(seeds, bus, PROFILES["full"], E, clock)
    handset = make_handset(tmp_path / "phone", clock=clock)
    handset.seed_contacts = seeds
    handset.attach(bus, PROFILES)
    await set_up(handset, locked=False)
    messenger = handset.messenger
    assert {c.name for c in messenger.contacts()} >= {"Duty Officer", "IT Security Desk", "Echo"}
    desk = next(s.number for s in seeds if s.name == "IT Security Desk")
    messenger.send_text(desk, "What is a safety number?")
    handset.lock()  # the reply arrives while locked: spooled as ciphertext
    await settle(30)
    assert handset.messenger is None and handset.persona.spool_path.exists()
    assert b"safety number is" not in handset.persona.spool_path.read_bytes()
    await handset.unlock(TEST_PIN)
    replies = [m.body for m in handset.messenger.history(desk) if not m.outgoing]
    assert replies and "fingerprint of both phones" in replies[0]
    assert [m.state for m in handset.messenger.history(desk) if m.outgoing] == ["read"]
    assert not handset.persona.spool_path.exists()
    assert len(bots) == 3


@pytest.mark.looptime
async def test_maintenance_refills_prekeys_and_rotates_the_signed_prekey(world):
    bus, clock, alice, bob = world
    handed_out = {bus.fetch_keys("+1")[1][0] for _ in range(5)}  # five strangers
    assert bus.one_time_keys_left("+1") == 95
    alice.messenger.maintain()
    assert bus.one_time_keys_left("+1") == 100
    assert not handed_out & bus.directory.one_time_ids("+1")  # never offered twice
    alice.messenger.publish_keys()  # as after an unlock: nothing handed out comes back
    assert not handed_out & bus.directory.one_time_ids("+1")
    old = alice.messenger.identity.spk_id
    clock.advance(7 * 86400)
    alice.messenger.maintain()
    assert alice.messenger.identity.spk_id != old
    bundle = bus.fetch_keys("+1")[0]
    from phone_tui.crypto.identity import PrekeyBundle

    assert PrekeyBundle.decode(bundle).spk_id == alice.messenger.identity.spk_id


@pytest.mark.parametrize(("text", "key"), [
    ('[[contact]]\nname = "A"\n', "contact[0].number"),
    ('[[contact]]\nname = "A"\nnumber = "+1"\ncolour = "red"\n', "contact[0].colour"),
    ('[[contact]]\nname = "A"\nnumber = "+1"\n[[contact]]\nname = "B"\nnumber = "+1"\n',
     "contact[1].number"),
    ('[[contact]]\nname = "A"\nnumber = "+1"\nreply_delay_s = -1\n', "contact[0].reply_delay_s"),
    ('[[contact]]\nname = "A"\nnumber = "+1"\n[[contact.rule]]\nwhen = "hi"\nreply = "x"\n',
     "contact[0].rule[0]"),
])
def test_malformed_seed_contacts_name_the_file_and_key(tmp_path, text, key):
    from phone_tui.errors import ConfigError
    from phone_tui.handset.contacts import load_contacts

    path = tmp_path / "contacts.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_contacts(path)
    assert str(caught.value).startswith(f"{path}") and f"key '{key}'" in str(caught.value)


def test_bot_rules_pick_the_first_matching_keyword():
    from phone_tui.handset.contacts import load_contacts

    desk = next(c for c in load_contacts() if c.name == "IT Security Desk")
    assert "fingerprint" in desk.reply_to("How do I VERIFY someone?")
    assert desk.reply_to("lunch?") == desk.default_reply
    echo = next(c for c in load_contacts() if c.name == "Echo")
    assert echo.reply_to("same back") == "same back"


@pytest.mark.looptime
async def test_both_phones_starting_a_session_at_once_lose_nothing(world):
    bus, clock, alice, bob = world
    alice.messenger.send_text("+2", "a1")  # both initiate before either hears back
    alice.messenger.send_text("+2", "a2")
    bob.messenger.send_text("+1", "b1")
    await settle()
    for i in range(3):
        alice.messenger.send_text("+2", f"a{i + 3}")
        bob.messenger.send_text("+1", f"b{i + 2}")
        await settle()
    assert bob.bodies("+1") == ["a1", "a2", "a3", "a4", "a5"]
    assert alice.bodies("+2") == ["b1", "b2", "b3", "b4"]


@pytest.mark.looptime
async def test_an_unreadable_initial_message_does_not_change_trust(world):
    from phone_tui.handset.messenger import _INITIAL, PREKEY
    from phone_tui.modem.frames import Envelope, EnvelopeKind

    bus, clock, alice, bob = world
    alice.messenger.send_text("+2", "hello")
    await settle()
    trusted = bob.messenger.contact("+1").identity
    forged = (bytes([PREKEY]) + _INITIAL.pack(b"\x07" * 32, b"\x08" * 32, b"\x09" * 32, 1, 0)
              + b"\x00" * 200)
    events = []
    bob.events.listen(events.append)
    bob.messenger.on_envelope(Envelope(EnvelopeKind.MESSAGE, b"\x01" * 16, "+1", "+2", forged))
    contact = bob.messenger.contact("+1")
    assert contact.identity == trusted and contact.new_identity is None
    assert not [e for e in events if isinstance(e, IdentityChanged)]

"""CallService over real messengers on the emulated network: signalling, keys, the call log."""

from __future__ import annotations

import random

import pytest
from test_messenger import PROFILES, Phone, settle

from phone_tui.core.clock import ManualClock
from phone_tui.handset.calls import (
    CallError,
    CallSasReady,
    CallService,
    CallState,
    CallStateChanged,
    CallStatsUpdated,
)
from phone_tui.handset.messenger import HINT_RING, HINT_STOP, MessageReceived, SendBlocked
from phone_tui.modem.bus import Bus
from phone_tui.modem.frames import EnvelopeKind


class FakeMedia:
    def __init__(self, keys, codec, peer, log) -> None:
        self.keys, self.codec, self.peer, self.log = keys, codec, peer, log
        self.received: list[bytes] = []
        self.running = False

    def start(self) -> None:
        self.running = True
        self.log.append(("start", self.peer))

    def stop(self) -> None:
        self.running = False
        self.log.append(("stop", self.peer))

    def receive(self, packet: bytes) -> None:
        self.received.append(packet)

    def stats(self):
        return None


class Caller:
    """A test phone with a CallService and a recording media factory."""

    def __init__(self, phone: Phone, **options) -> None:
        self.phone = phone
        self.media: list[FakeMedia] = []
        self.media_log: list[tuple[str, str]] = []
        self.seen: list = []
        phone.events.listen(self.seen.append)
        self.calls = CallService(phone.messenger, media_factory=self._media, **options)

    def _media(self, keys, codec, peer):
        media = FakeMedia(keys, codec, peer, self.media_log)
        self.media.append(media)
        return media

    def states(self) -> list[tuple[str, str]]:
        return [(e.state, e.reason) for e in self.seen if isinstance(e, CallStateChanged)]


@pytest.fixture
def pair(tmp_path):
    clock = ManualClock()
    bus = Bus(random.Random(3))
    alice, bob = Phone(bus, "+1", tmp_path, clock), Phone(bus, "+2", tmp_path, clock)
    return bus, clock, Caller(alice), Caller(bob)


@pytest.mark.looptime
async def test_a_call_connects_with_the_same_words_and_mirrored_media_keys(pair):
    bus, clock, alice, bob = pair
    info = alice.calls.dial("+2")
    assert info.state is CallState.DIALING and info.direction == "outgoing"
    await settle(5)
    assert bob.calls.current.state is CallState.RINGING
    assert alice.calls.current.state is CallState.RINGING  # the offer was delivered
    bob.calls.answer()
    await settle(5)
    assert alice.calls.current.state is bob.calls.current.state is CallState.CONNECTED
    assert alice.calls.current.sas == bob.calls.current.sas
    words_a = [e.words for e in alice.seen if isinstance(e, CallSasReady)]
    assert words_a == [alice.calls.current.sas]
    (media_a,), (media_b,) = alice.media, bob.media
    assert media_a.peer == "+2" and media_b.peer == "+1" and media_a.codec == "opus-16k"
    assert media_a.keys.send_key == media_b.keys.recv_key
    assert media_a.keys.recv_ssrc == media_b.keys.send_ssrc
    alice.calls.on_voice("+2", b"frame")
    alice.calls.on_voice("+9", b"stray")  # not the peer: dropped before any work
    assert media_a.received == [b"frame"]
    bob.calls.confirm_sas(True)
    clock.advance(30)
    alice.calls.hangup()
    await settle(5)
    assert bob.calls.current is None and alice.calls.current is None
    assert alice.states()[-1] == ("ended", "hung_up")
    assert bob.states()[-1] == ("ended", "remote_hung_up")
    assert ("stop", "+2") in alice.media_log and ("stop", "+1") in bob.media_log
    (entry,) = alice.calls.log()
    assert (entry.outcome, entry.duration_s, entry.direction) == ("outgoing", 30.0, "outgoing")
    (entry_b,) = bob.calls.log()
    assert (entry_b.outcome, entry_b.verified) == ("incoming", "match")
    # Signalling never became a chat message; Bob's matching words verified Alice (a notice).
    assert alice.phone.messenger.history("+2") == []
    assert [(m.kind, m.body) for m in bob.phone.messenger.history("+1")] == [
        ("notice", "Safety number verified: the words of a call matched.")]
    assert bob.phone.messenger.contact("+1").verified
    assert not any(isinstance(e, MessageReceived) for e in alice.seen + bob.seen)


@pytest.mark.looptime
async def test_signalling_is_call_envelopes_with_the_hint_in_clear_and_nothing_else(pair):
    bus, clock, alice, bob = pair
    sent: list[tuple[int, int]] = []
    original = alice.phone.modem.send

    def spy(dst, body, *, msg_id=None, kind=EnvelopeKind.MESSAGE):
        sent.append((kind, body[0]))
        return original(dst, body, msg_id=msg_id, kind=kind)

    alice.phone.modem.send = spy
    alice.calls.dial("+2")
    await settle(5)
    alice.calls.hangup()
    await settle(5)
    assert sent == [(EnvelopeKind.CALL, HINT_RING), (EnvelopeKind.CALL, HINT_STOP)]
    assert bob.states()[-1] == ("ended", "missed")
    assert [e.outcome for e in bob.calls.log()] == ["missed"]


@pytest.mark.looptime
async def test_a_text_payload_in_a_call_envelope_and_a_call_payload_in_a_message_are_dropped(
        pair):
    bus, clock, alice, bob = pair
    messenger = alice.phone.messenger
    with messenger.batch():
        messenger._send_payload("+2", {"t": "text", "id": "0f8fad5b-d9cb-469f-a165-70867728950e",
                                       "body": "hi", "at": clock.now(), "expire": 0}, hint=0)
        messenger._send_payload("+2", {"t": "call", "op": "hangup",
                                       "call": "0f8fad5b-d9cb-469f-a165-70867728950e",
                                       "at": clock.now()})
    await settle(5)
    assert bob.phone.messenger.history("+1") == []
    assert bob.states() == []


@pytest.mark.looptime
async def test_a_call_while_in_a_call_gets_busy_and_is_a_missed_call(tmp_path):
    clock, bus = ManualClock(), Bus(random.Random(4))
    alice, bob, carol = (Caller(Phone(bus, n, tmp_path, clock)) for n in ("+1", "+2", "+3"))
    alice.calls.dial("+2")
    await settle(5)
    bob.calls.answer()
    await settle(5)
    carol.calls.dial("+2")
    await settle(5)
    assert carol.states()[-1] == ("ended", "busy")
    assert bob.calls.current.number == "+1" and bob.calls.current.state is CallState.CONNECTED
    assert [(e.number, e.outcome) for e in bob.calls.log()] == [("+3", "missed")]
    with pytest.raises(CallError):
        bob.calls.dial("+3")


@pytest.mark.looptime
async def test_no_answer_in_45_seconds_ends_the_call_on_both_phones(pair):
    bus, clock, alice, bob = pair
    alice.calls.dial("+2")
    await settle(5)
    clock.advance(45)
    alice.calls.tick()
    bob.calls.tick()
    await settle(5)
    assert alice.states()[-1] == ("ended", "no_answer")
    assert bob.states()[-1] == ("ended", "no_answer")
    assert [e.outcome for e in bob.calls.log()] == ["missed"]
    assert [e.outcome for e in alice.calls.log()] == ["outgoing"]


@pytest.mark.looptime
async def test_a_connected_call_tells_its_stats_each_second(pair):
    bus, clock, alice, bob = pair
    alice.calls.dial("+2")
    await settle(5)
    bob.calls.answer()
    await settle(5)
    before = sum(isinstance(e, CallStatsUpdated) for e in alice.seen)
    await settle(10)
    assert sum(isinstance(e, CallStatsUpdated) for e in alice.seen) - before >= 8
    alice.calls.hangup()
    await settle(3)
    after = sum(isinstance(e, CallStatsUpdated) for e in alice.seen)
    await settle(5)
    assert sum(isinstance(e, CallStatsUpdated) for e in alice.seen) == after


@pytest.mark.looptime
async def test_calling_a_contact_whose_safety_number_changed_is_blocked(pair):
    bus, clock, alice, bob = pair
    alice.phone.messenger.know_identity("+2", b"\x99" * 32)  # met before, with another key
    with pytest.raises(CallError, match="safety number"):
        alice.calls.dial("+2")
    assert any(isinstance(e, SendBlocked) for e in alice.seen)
    assert alice.calls.current is None
    with pytest.raises(CallError, match="safety number"):  # and again, now it is known
        alice.calls.dial("+2")
    await settle(5)
    assert bob.states() == []


@pytest.mark.looptime
async def test_an_incoming_call_from_a_changed_identity_rings_with_a_warning(pair):
    bus, clock, alice, bob = pair
    bob.phone.messenger.know_identity("+1", b"\x99" * 32)
    alice.calls.dial("+2")
    await settle(5)
    assert bob.calls.current is not None and "safety number" in bob.calls.current.warning
    bob.calls.answer()
    await settle(5)
    assert bob.calls.current.state is CallState.CONNECTED
    assert bob.calls.current.sas == alice.calls.current.sas


@pytest.mark.looptime
async def test_a_call_to_a_line_that_is_not_registered_is_unavailable_then_missed_later(
        tmp_path):
    clock, bus = ManualClock(), Bus(random.Random(6))
    alice = Caller(Phone(bus, "+1", tmp_path, clock))
    bob = Phone(bus, "+2", tmp_path, clock)
    bob.modem.set_powered(False)
    await settle(2)
    alice.calls.dial("+2")
    await settle(5)
    assert alice.states()[-1] == ("ended", "unavailable")
    assert [e.outcome for e in alice.calls.log()] == ["failed"]


@pytest.mark.looptime
async def test_without_service_a_call_cannot_be_made(pair):
    bus, clock, alice, bob = pair
    alice.phone.modem.set_airplane(True)
    with pytest.raises(CallError, match="service"):
        alice.calls.dial("+2")


@pytest.mark.looptime
async def test_the_call_log_survives_a_restart(tmp_path):
    from phone_tui.core.entropy import SystemEntropy
    from phone_tui.handset.messenger import Messenger
    from phone_tui.store.database import PersonaStore

    clock, bus = ManualClock(), Bus(random.Random(7))
    key = SystemEntropy().token_bytes(32)
    alice = Caller(Phone(bus, "+1", tmp_path, clock))
    store = PersonaStore(tmp_path / "bob.db", key)
    bob_phone = Phone.__new__(Phone)
    Phone.__init__(bob_phone, bus, "+2", tmp_path, clock)
    bob_phone.messenger.store.close()
    bob_phone.store = store
    bob_phone.messenger.store = store
    bob = Caller(bob_phone)
    alice.calls.dial("+2")
    await settle(5)
    bob.calls.decline()
    await settle(5)
    alice.calls.dial("+2")
    await settle(5)
    bob.calls.answer()
    await settle(5)
    clock.advance(12.5)
    bob.calls.hangup()
    await settle(5)
    before = bob.calls.log()
    assert [e.outcome for e in before] == ["incoming", "declined"]
    bob.calls.close()
    store.close()
    reopened = PersonaStore(tmp_path / "bob.db", key)
    messenger = Messenger(number="+2", persona="secure", store=reopened,
                          identity=bob_phone.identity, network=bus, modem=bob_phone.modem,
                          entropy=SystemEntropy(), clock=clock, events=bob_phone.events,
                          save_identity=lambda _keys: None)
    again = CallService(messenger)
    after = again.log()
    assert after == before
    assert after[0].duration_s == 12.5 and after[0].name == "+1"
    assert PROFILES  # the shared profiles loaded


def schema_6_store(path, key: bytes) -> None:
    """A store as phone-tui wrote it at schema 6 (before the log kept how calls ended), with
    one call in its log."""
    import sqlcipher3

    from phone_tui.store import database

    db = sqlcipher3.connect(str(path), isolation_level=None)
    db.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    for step in range(1, 7):
        for statement in database._MIGRATIONS[step]:
            db.execute(statement)
    db.execute("PRAGMA user_version = 6")
    db.execute("INSERT INTO calls (call_id, number, direction, outcome, at, duration_s) "
               "VALUES ('old', '+1', 'incoming', 'missed', 1.0, 0)")
    db.close()


@pytest.mark.looptime
async def test_a_schema_6_store_upgrades_in_place_and_the_log_keeps_how_calls_ended(tmp_path):
    """Across a real restart (new store, messenger and call service over the same file): the
    old row is kept with no reason, new ones keep theirs, and a reason this version does not
    know (written by a newer one, or altered) reads as none."""
    import sqlcipher3

    from phone_tui.core.entropy import SystemEntropy
    from phone_tui.handset.messenger import Messenger
    from phone_tui.store import database
    from phone_tui.store.database import PersonaStore

    clock, bus = ManualClock(), Bus(random.Random(7))
    key = SystemEntropy().token_bytes(32)
    path = tmp_path / "bob.db"
    schema_6_store(path, key)
    alice = Caller(Phone(bus, "+1", tmp_path, clock))
    store = PersonaStore(path, key)
    assert store.execute("PRAGMA user_version").fetchone()[0] == database.SCHEMA_VERSION == 9
    bob_phone = Phone.__new__(Phone)
    Phone.__init__(bob_phone, bus, "+2", tmp_path, clock)
    bob_phone.messenger.store.close()
    bob_phone.store = bob_phone.messenger.store = store
    bob = Caller(bob_phone)
    assert [(e.call_id, e.outcome, e.reason) for e in bob.calls.log()] == [
        ("old", "missed", "")]
    alice.calls.dial("+2")
    await settle(5)
    bob.calls.decline()
    await settle(5)
    alice.calls.dial("+2")
    await settle(5)
    bob.calls.answer()
    await settle(5)
    bob.calls.confirm_sas(False)  # the words differ: it ends on both phones
    await settle(5)
    assert [e.reason for e in alice.calls.log()] == ["words_differ_remote", "declined"]
    bob.calls.close()
    store.close()

    def restarted() -> CallService:
        messenger = Messenger(number="+2", persona="secure", store=PersonaStore(path, key),
                              identity=bob_phone.identity, network=bus, modem=bob_phone.modem,
                              entropy=SystemEntropy(), clock=clock, events=bob_phone.events,
                              save_identity=lambda _keys: None)
        return CallService(messenger)

    again = restarted()
    assert [(e.outcome, e.reason) for e in again.log()] == [
        ("incoming", "words_differ"), ("declined", "declined"), ("missed", "")]
    again.close()
    again.messenger.store.close()
    db = sqlcipher3.connect(str(path), isolation_level=None)  # a newer version, or tampering
    db.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    db.execute("UPDATE calls SET reason = 'exploded' WHERE outcome = 'declined'")
    db.execute("UPDATE calls SET reason = x'00ff' WHERE call_id = 'old'")
    db.close()
    assert [e.reason for e in restarted().log()] == ["words_differ", "", ""]


@pytest.mark.looptime
async def test_a_flood_of_stale_offers_leaves_a_bounded_call_log(pair, monkeypatch):
    """Each offer older than 45 s is a missed call, never a ring; the log keeps the newest."""
    import uuid

    from phone_tui.handset import calls as calls_module
    from phone_tui.handset.payloads import CallPayload

    monkeypatch.setattr(calls_module, "MAX_CALL_LOG", 5)
    bus, clock, alice, bob = pair
    old = clock.now() - 3600
    for index in range(8):
        alice.phone.messenger.send_call("+2", CallPayload(
            "offer", str(uuid.UUID(int=index + 1)), old + index, commit=bytes(32),
            codec="opus-16k"))
    await settle(10)
    entries = bob.calls.log()
    assert len(entries) == 5 and {e.outcome for e in entries} == {"missed"}
    assert [e.at for e in entries] == [old + i for i in range(7, 2, -1)]  # the newest five
    assert bob.calls.current is None


@pytest.mark.looptime
async def test_signalling_over_a_lossy_link_still_connects_with_equal_words_and_ends(tmp_path):
    """30 % of frames lost, reordered, duplicated and corrupted on both radio links: the
    offer, answer and reveal get through (the reliable hop resends them), both sides derive
    the same words, and a hangup still ends the call on both."""
    from dataclasses import replace

    lossy = replace(PROFILES["lte"], name="lossy", loss=0.3, loss_burst=1 / 0.7, reorder=0.1,
                    duplicate=0.05, corrupt=0.02)
    PROFILES["lossy"] = lossy
    try:
        clock = ManualClock()
        bus = Bus(random.Random(5))
        alice = Caller(Phone(bus, "+1", tmp_path, clock, profile="lossy"))
        bob = Caller(Phone(bus, "+2", tmp_path, clock, profile="lossy"))
        alice.calls.dial("+2")
        await settle(30)
        assert bob.calls.current is not None and bob.calls.current.state is CallState.RINGING
        bob.calls.answer()
        await settle(30)
        a, b = alice.calls.current, bob.calls.current
        assert a.state is b.state is CallState.CONNECTED
        assert a.sas is not None and a.sas == b.sas
        alice.calls.hangup()
        await settle(30)
        assert alice.calls.current is None and bob.calls.current is None
        assert ("ended", "remote_hung_up") in bob.states()
        assert alice.phone.modem.stats.frames_lost > 0  # the link did lose frames
    finally:
        del PROFILES["lossy"]

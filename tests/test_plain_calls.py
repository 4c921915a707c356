"""Plain carrier calls on the phone's side (handset/plaincall.py, CallService.place_plain):
set up through the carrier's voice switch, media unsealed, the Secure OS refusing them."""

from __future__ import annotations

import random

import pytest
from test_calls import Caller
from test_messenger import Phone, settle

from phone_tui.core.clock import ManualClock
from phone_tui.handset.calls import CallError, CallService, CallState, stream_media_factory
from phone_tui.handset.device import load_device
from phone_tui.media.plain import PlainOpener, PlainSealer
from phone_tui.media.srtp import PT_AUDIO, MediaFrameError
from phone_tui.modem.bus import Bus
from phone_tui.modem.frames import media_is_plain


def plain_caller(phone: Phone, *, allowed: bool = True, **options) -> Caller:
    caller = Caller(phone, **options)
    caller.calls.plain_calls = allowed
    phone.modem.on_cc = caller.calls.on_cc
    phone.modem.on_voice = caller.calls.on_voice
    return caller


@pytest.fixture
def plain_pair(tmp_path):
    clock = ManualClock()
    bus = Bus(random.Random(11))
    alice = plain_caller(Phone(bus, "+1", tmp_path, clock))
    bob = plain_caller(Phone(bus, "+2", tmp_path, clock))
    return bus, clock, alice, bob


def test_the_open_os_has_plain_calls_and_the_secure_os_does_not():
    device = load_device()
    assert device.personas["open"].plain_calls is True
    assert device.personas["secure"].plain_calls is False


def test_a_device_file_with_a_bad_plain_calls_names_the_key(tmp_path):
    from phone_tui.core.resources import seeds_dir
    from phone_tui.errors import ConfigError

    text = (seeds_dir() / "device.toml").read_text().replace("plain_calls = true",
                                                            'plain_calls = "yes"')
    path = tmp_path / "device.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="persona.open.plain_calls"):
        load_device(path)


def test_plain_media_frames_are_unsealed_and_still_checked():
    sealer, opener = PlainSealer(7), PlainOpener(7)
    packet = sealer.seal(0, 0, b"voice", marker=True)
    assert media_is_plain(packet) and packet.endswith(b"voice")
    frame = opener.open(packet)
    assert (frame.payload, frame.payload_type, frame.marker) == (b"voice", PT_AUDIO, True)
    for bad in (packet, packet[:5], PlainSealer(8).seal(1, 0, b"x"),
                packet[:1] + bytes([96]) + packet[2:]):  # replayed, short, other SSRC, sealed PT
        with pytest.raises(MediaFrameError):
            opener.open(bad)


@pytest.mark.looptime
async def test_a_plain_call_rings_connects_and_ends_through_the_switch(plain_pair):
    bus, clock, alice, bob = plain_pair
    info = alice.calls.place_plain("+2")
    assert info.plain and info.state is CallState.DIALING
    await settle(5)
    assert bob.calls.current.state is CallState.RINGING and bob.calls.current.plain
    assert alice.calls.current.state is CallState.RINGING  # the callee's ALERTING came back
    with pytest.raises(CallError):
        bob.calls.confirm_sas(True)  # no words on a carrier call
    bob.calls.answer()
    await settle(5)
    assert alice.calls.current.state is bob.calls.current.state is CallState.CONNECTED
    assert alice.calls.current.sas is None
    (media_a,), (media_b,) = alice.media, bob.media
    assert media_a.keys.plain and media_b.keys.plain
    assert media_a.keys.send_ssrc == media_b.keys.recv_ssrc != media_a.keys.recv_ssrc
    clock.advance(20)
    alice.calls.hangup()
    await settle(5)
    assert alice.states()[-1] == ("ended", "hung_up")
    assert bob.states()[-1] == ("ended", "remote_hung_up")
    (entry,) = alice.calls.log()
    assert (entry.outcome, entry.plain, entry.duration_s) == ("outgoing", True, 20.0)
    assert bob.calls.log()[0].plain
    records = [(r.record, r.state) for r in bus.intercept.recent if r.service == "call"]
    assert records == [("IRI-BEGIN", "setup"), ("IRI-CONTINUE", "alerting"),
                       ("IRI-CONTINUE", "answered"), ("IRI-END", "released")]


@pytest.mark.looptime
async def test_declined_busy_and_a_secure_os_line_are_told_to_the_caller(tmp_path):
    clock, bus = ManualClock(), Bus(random.Random(12))
    alice = plain_caller(Phone(bus, "+1", tmp_path, clock))
    bob = plain_caller(Phone(bus, "+2", tmp_path, clock))
    secure = plain_caller(Phone(bus, "+3", tmp_path, clock), allowed=False)
    alice.calls.place_plain("+2")
    await settle(5)
    bob.calls.decline()
    await settle(5)
    assert alice.states()[-1] == ("ended", "declined")
    alice.calls.place_plain("+3")
    await settle(5)
    # The true reason, not "unavailable": the Secure OS refuses carrier calls by policy.
    assert alice.states()[-1] == ("ended", "no_carrier_calls") and secure.calls.current is None
    assert (alice.calls.log()[0].reason, alice.calls.log()[0].outcome) == (
        "no_carrier_calls", "failed")
    assert secure.calls.log() == []
    end = [r for r in bus.intercept.recent if r.record == "IRI-END"][-1]
    assert end.called == "+3" and end.release_reason.startswith("not supported")
    with pytest.raises(CallError, match="no carrier calls"):
        secure.calls.place_plain("+1")
    bob.calls.dial("+3")  # an end-to-end call keeps Bob busy
    await settle(5)
    alice.calls.place_plain("+2")
    await settle(5)
    assert alice.states()[-1] == ("ended", "busy")
    assert bob.calls.log()[0].reason == "busy" and bob.calls.log()[0].plain


@pytest.mark.looptime
async def test_plain_media_flows_unsealed_and_the_switch_hands_it_over(tmp_path):
    clock, bus = ManualClock(), Bus(random.Random(13))
    alice_phone, bob_phone = Phone(bus, "+1", tmp_path, clock), Phone(bus, "+2", tmp_path, clock)
    heard: list[bytes] = []
    alice = CallService(alice_phone.messenger,
                        media_factory=stream_media_factory(alice_phone.modem))
    bob = CallService(bob_phone.messenger, media_factory=stream_media_factory(bob_phone.modem))
    for phone, calls in ((alice_phone, alice), (bob_phone, bob)):
        calls.plain_calls = True
        phone.modem.on_cc = calls.on_cc
        phone.modem.on_voice = calls.on_voice
    tap = bus.voice_interceptor = lambda src, dst, packet: heard.append(packet) and False
    assert tap is not None
    alice.place_plain("+2")
    await settle(5)
    bob.answer()
    await settle(5)
    await settle(3)
    assert alice.stats.received > 100 and bob.stats.received > 100
    voice = [p for p in heard if media_is_plain(p)]
    assert len(voice) > 200 and all(p[1] != 96 for p in heard)
    bob.hangup()
    await settle(5)
    hi3 = [r for r in bus.intercept.recent if r.record == "HI3"]
    # Every voice frame of the call, up to its release (those after it are not routed).
    voice = [p for p in heard if media_is_plain(p)]
    assert hi3[0].frames == 1 and len(voice) - 25 <= hi3[-1].frames <= len(voice)
    assert hi3[-1].size == 40 * hi3[-1].frames
    assert {r.content for r in hi3} == {"decodable"} and hi3[-1].codec == "opus-16k"
    assert alice.current is None and alice.log()[0].plain


@pytest.mark.looptime
async def test_a_plain_call_stays_plain_in_the_log_across_a_restart(tmp_path):
    from phone_tui.core.entropy import SystemEntropy
    from phone_tui.handset.messenger import Messenger
    from phone_tui.store.database import PersonaStore

    clock, bus = ManualClock(), Bus(random.Random(14))
    key = SystemEntropy().token_bytes(32)
    alice = plain_caller(Phone(bus, "+1", tmp_path, clock))
    bob_phone = Phone(bus, "+2", tmp_path, clock)
    bob_phone.messenger.store.close()
    store = PersonaStore(tmp_path / "bob.db", key)
    bob_phone.store = bob_phone.messenger.store = store
    bob = plain_caller(bob_phone)
    alice.calls.place_plain("+2")
    await settle(5)
    bob.calls.answer()
    await settle(5)
    clock.advance(7)
    bob.calls.hangup()
    await settle(5)
    alice.calls.dial("+2")  # and an end-to-end one
    await settle(5)
    bob.calls.decline()
    await settle(5)
    before = bob.calls.log()
    assert [(e.outcome, e.plain) for e in before] == [("declined", False), ("incoming", True)]
    bob.calls.close()
    store.close()
    reopened = PersonaStore(tmp_path / "bob.db", key)
    messenger = Messenger(number="+2", persona="open", store=reopened,
                          identity=bob_phone.identity, network=bus, modem=bob_phone.modem,
                          entropy=SystemEntropy(), clock=clock, events=bob_phone.events,
                          save_identity=lambda _keys: None)
    assert CallService(messenger).log() == before


@pytest.mark.looptime
async def test_a_late_setup_for_a_call_the_switch_cleared_stops_ringing_and_hostile_cc_drops(
        plain_pair):
    from phone_tui.handset.calls import CallMachine
    from phone_tui.modem.cc import CcMessage, CcType
    from phone_tui.modem.frames import Envelope, EnvelopeKind

    bus, _clock, _alice, bob = plain_pair
    late = CcMessage(CcType.SETUP, bytes(range(16)), codec="opus-16k").encode()
    bob.calls.on_cc(Envelope(EnvelopeKind.CC, bytes(16), "+1", "+2", late))
    assert bob.calls.current.state is CallState.RINGING
    await settle(5)  # its ALERTING met no call at the switch: told so at once
    assert bob.calls.current is None and bob.states()[-1] == ("ended", "missed")
    for body in (b"", b"\x01\x05" + bytes(20), late + b"x", b"\xff" * 5000):
        bob.calls.on_cc(Envelope(EnvelopeKind.CC, bytes(16), "+1", "+2", body))
    assert bob.calls.current is None
    # A message about the call under way from another number is not about it.
    machine = CallMachine(identity=bytes(32))
    machine.dial_plain(0.0, ref=bytes(16), number="+2", name="Bob")
    connect = CcMessage(CcType.CONNECT, bytes(16))
    assert machine.receive_cc(1.0, "+9", connect, name="x", allowed=True) == []
    assert machine.current.state is CallState.DIALING


@pytest.mark.looptime
async def test_a_real_e2e_call_gives_the_carrier_metadata_and_ciphertext_sizes_only(tmp_path):
    clock, bus = ManualClock(), Bus(random.Random(15))
    alice_phone, bob_phone = Phone(bus, "+1", tmp_path, clock), Phone(bus, "+2", tmp_path, clock)
    bodies: list[bytes] = []
    bus.interceptor = lambda src, dst, envelope: bodies.append(envelope.body) and False
    alice = CallService(alice_phone.messenger,
                        media_factory=stream_media_factory(alice_phone.modem))
    bob = CallService(bob_phone.messenger, media_factory=stream_media_factory(bob_phone.modem))
    for phone, calls in ((alice_phone, alice), (bob_phone, bob)):
        phone.modem.on_voice = calls.on_voice
    alice.dial("+2")
    await settle(5)
    bob.answer()
    await settle(5)
    words = alice.current.sas
    await settle(5)
    alice.hangup()
    await settle(5)
    records = [r for r in bus.intercept.recent if r.service == "e2e-call"]
    assert [r.record for r in records] == ["IRI-BEGIN", "IRI-CONTINUE", "IRI-CONTINUE", "HI3",
                                           "HI3", "IRI-END"]
    assert 9 < records[-1].duration_s < 11 and records[-1].release_reason.startswith("hangup")
    assert records[4].frames > 400 and records[4].size > 400 * 40
    assert not [r for r in bus.intercept.recent if r.service == "call"]
    texts = [r.to_json() for r in bus.intercept.recent]
    for secret in [*words, *(body[1:].hex()[:32] for body in bodies if len(body) > 17)]:
        assert not any(secret in text for text in texts)
    assert all(r.content == "ciphertext" and r.codec == "" and r.sms_text is None
               for r in records)

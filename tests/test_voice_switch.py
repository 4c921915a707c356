"""The carrier's voice switch (modem/switch.py): plain calls' call control (modem/cc.py), their
media, and the intercept records of plain and end-to-end calls."""

from __future__ import annotations

import asyncio
import random
import struct

import pytest
from test_modem import PROFILES, Phone, wait_until

from phone_tui.modem.bus import Bus
from phone_tui.modem.cc import MAX_BODY, Cause, CcError, CcMessage, CcType, decode_cc
from phone_tui.modem.frames import (
    Envelope,
    EnvelopeKind,
    FrameError,
    encode_voice,
    media_content,
    media_is_plain,
    plain_voice,
)
from phone_tui.modem.switch import E2E_AFTER_S, E2E_IDLE_S, MAX_CALLS, MAX_E2E, NO_ANSWER_S

REF = bytes(range(16))


def plain_packet(seq: int, payload: bytes = b"\x11" * 40, pt: int = 97) -> bytes:
    return struct.pack(">BBHII", 0x80, pt, seq, seq * 320, 0x1234) + payload


# ---- the CC body ------------------------------------------------------------------------------


def test_call_control_round_trips_and_hostile_bodies_are_refused():
    setup = CcMessage(CcType.SETUP, REF, codec="opus-16k")
    assert decode_cc(setup.encode()) == setup
    release = CcMessage(CcType.RELEASE, REF, Cause.USER_BUSY)
    assert decode_cc(release.encode()) == release
    # An unknown cause in a clearing message reads as "unspecified" (TS 24.008 does so).
    assert decode_cc(release.encode()[:18] + b"\x63\x00").cause is Cause.NORMAL_UNSPECIFIED
    good = setup.encode()
    for bad in (b"", good[:10], b"\x02" + good[1:], good[:1] + b"\x99" + good[2:],
                good + b"x", good[:18] + b"\x10" + good[19:],  # a cause in a SETUP
                good[:19] + b"\x00",  # a SETUP without a codec
                CcMessage(CcType.CONNECT, REF).encode()[:19] + b"\x01a",  # codec outside SETUP
                good[:19] + b"\x03A\xff!", b"\x01" * (MAX_BODY + 1), b"\x00" * 10_000_000):
        with pytest.raises(CcError):
            decode_cc(bad)


def test_plain_media_is_marked_in_its_clear_payload_type():
    assert media_is_plain(plain_packet(1))
    assert not media_is_plain(plain_packet(1, pt=96)) and not media_is_plain(b"\x80\x61")
    assert media_content(plain_packet(1)) == "voice"
    assert plain_voice(plain_packet(7, b"abc")) == (7, 7 * 320, 0x1234, b"abc")
    with pytest.raises(FrameError):
        plain_voice(plain_packet(7, pt=96))
    with pytest.raises(FrameError):
        plain_voice(b"\x40" + plain_packet(7)[1:])  # not RTP's version 2


# ---- plain calls through the switch ------------------------------------------------------------


class CcPhone(Phone):
    def __init__(self, bus: Bus, number: str) -> None:
        super().__init__(bus, number, PROFILES["lte"])
        self.cc: list[tuple[str, CcMessage]] = []
        self.voice: list[tuple[str, bytes]] = []
        self.modem.on_cc = lambda envelope: self.cc.append((envelope.src,
                                                            decode_cc(envelope.body)))
        self.modem.on_voice = lambda src, packet: self.voice.append((src, packet))

    def send(self, other: str, kind: CcType, cause: Cause = Cause.NORMAL_CLEARING,
             codec: str = "") -> None:
        self.modem.send_cc(other, CcMessage(kind, REF, cause, codec).encode())


def three_phones(seed: int = 1) -> tuple[Bus, CcPhone, CcPhone]:
    bus = Bus(random.Random(seed), wall=lambda: 1_800_000_000.0)
    alice, bob = CcPhone(bus, "+1"), CcPhone(bus, "+2")
    bus.intercept.identities.update({"+1": ("460990000000001", "864175030000019"),
                                     "+2": ("460990000000002", "864175030000027")})
    return bus, alice, bob


def call_records(bus: Bus, service: str = "call") -> list:
    return [r for r in bus.intercept.recent if r.service == service]


@pytest.mark.looptime
async def test_a_plain_call_is_set_up_carried_and_recorded_by_the_switch():
    bus, alice, bob = three_phones()
    alice.send("+2", CcType.SETUP, codec="opus-16k")
    await wait_until(lambda: bob.cc)
    assert bob.cc[0][0] == "+1" and bob.cc[0][1].type is CcType.SETUP
    bob.send("+1", CcType.ALERTING)
    await wait_until(lambda: alice.cc)
    await asyncio.sleep(3)
    bob.send("+1", CcType.CONNECT)
    await wait_until(lambda: len(alice.cc) == 2)
    assert [m.type for _, m in alice.cc] == [CcType.ALERTING, CcType.CONNECT]
    for seq in range(100):  # two seconds of voice each way
        alice.modem.send_voice("+2", plain_packet(seq))
        bob.modem.send_voice("+1", plain_packet(seq, b"\x22" * 40))
        await asyncio.sleep(0.02)
    await wait_until(lambda: len(bob.voice) >= 90 and len(alice.voice) >= 90)
    await asyncio.sleep(10)
    bob.send("+1", CcType.DISCONNECT)
    await wait_until(lambda: len(alice.cc) == 3)
    assert alice.cc[2][1].type is CcType.RELEASE
    assert alice.cc[2][1].cause is Cause.NORMAL_CLEARING
    await wait_until(lambda: any(r.record == "IRI-END" for r in call_records(bus)))
    records = call_records(bus)
    assert [(r.record, r.state) for r in records] == [
        ("IRI-BEGIN", "setup"), ("IRI-CONTINUE", "alerting"), ("IRI-CONTINUE", "answered"),
        ("HI3", "answered"), ("IRI-END", "released"), ("HI3", "released")]
    begin, end, hi3_end = records[0], records[4], records[5]
    assert (begin.calling, begin.called, begin.calling_imsi, begin.called_imei,
            begin.direction, begin.codec) == ("+1", "+2", "460990000000001",
                                               "864175030000027", "originating", "opus-16k")
    assert begin.cell == "lte-1" and begin.ref == REF.hex() == end.ref
    assert end.release_reason == "normal clearing"
    assert 11.5 < end.duration_s < 13.5  # from the answer (voice 2 s + 10 s) to the release
    assert records[3].frames == 1 and records[3].content == "decodable"
    assert (hi3_end.content, hi3_end.codec) == ("decodable", "opus-16k")
    assert 180 <= hi3_end.frames <= 200 and hi3_end.size == 40 * hi3_end.frames
    assert not bus.switch.calls


@pytest.mark.looptime
async def test_a_callee_not_registered_is_unavailable_at_once_and_busy_lines_say_so():
    bus, alice, bob = three_phones(2)
    bob.modem.set_airplane(True)
    await asyncio.sleep(1)
    alice.send("+2", CcType.SETUP, codec="opus-16k")
    await wait_until(lambda: alice.cc)
    assert alice.cc[0][1].type is CcType.RELEASE
    assert alice.cc[0][1].cause is Cause.SUBSCRIBER_ABSENT
    end = call_records(bus)[-1]
    assert (end.record, end.duration_s) == ("IRI-END", None)
    assert end.release_reason.startswith("unavailable")
    bob.modem.set_airplane(False)
    carol = CcPhone(bus, "+3")
    alice.send("+2", CcType.SETUP, codec="opus-16k")  # the same reference: a new call now
    await wait_until(lambda: bob.cc)
    carol.modem.send_cc("+2", CcMessage(CcType.SETUP, bytes(16), codec="amr-wb").encode())
    await wait_until(lambda: carol.cc)
    assert carol.cc[0][1].cause is Cause.USER_BUSY and len(bob.cc) == 1


@pytest.mark.looptime
async def test_a_leg_that_drops_ends_the_call_and_media_outside_a_call_is_not_routed():
    bus, alice, bob = three_phones(3)
    alice.send("+2", CcType.SETUP, codec="opus-16k")
    await wait_until(lambda: bob.cc)
    alice.modem.send_voice("+2", plain_packet(1))  # not answered yet: no plain media
    await asyncio.sleep(1)
    assert not bob.voice and bus.stats.voice_dropped == 1
    bob.send("+1", CcType.CONNECT)
    await wait_until(lambda: len(alice.cc) == 1)
    await asyncio.sleep(5)
    bob.modem.set_airplane(True)
    await wait_until(lambda: len(alice.cc) == 2)
    assert alice.cc[1][1].cause is Cause.DESTINATION_OUT_OF_ORDER
    end = [r for r in call_records(bus) if r.record == "IRI-END"][0]
    assert end.release_reason.startswith("destination out of order")
    assert 4.5 < end.duration_s < 6
    assert not bus.switch.calls and not bus.switch._by_line


@pytest.mark.looptime
async def test_no_answer_is_cleared_by_the_switch_and_strays_are_dropped():
    bus, alice, bob = three_phones(4)
    alice.send("+2", CcType.SETUP, codec="opus-16k")
    await wait_until(lambda: bob.cc)
    # A third phone cannot answer or clear a call it is not in; nor can a garbled body.
    mallory = CcPhone(bus, "+9")
    mallory.send("+1", CcType.CONNECT)
    mallory.modem.send_cc("+2", b"\x01\x07garbage")
    await asyncio.sleep(1)
    assert not alice.cc and bus.switch.dropped == 2
    # The stray CONNECT is told there is no such call (as a phone rung by a late SETUP is).
    assert [(m.type, m.cause) for _, m in mallory.cc] == [
        (CcType.RELEASE, Cause.INVALID_TRANSACTION)]
    await asyncio.sleep(NO_ANSWER_S)
    await wait_until(lambda: alice.cc and len(bob.cc) == 2)
    assert alice.cc[0][1].cause is Cause.NO_ANSWER is bob.cc[1][1].cause
    assert call_records(bus)[-1].release_reason == "no answer"


def test_the_switch_holds_a_bounded_number_of_calls():
    bus = Bus(random.Random(5))
    switch = bus.switch
    bus.is_registered = lambda number: True  # type: ignore[method-assign]
    bus._deliver_or_store = lambda *args: None  # type: ignore[method-assign]
    for n in range(MAX_CALLS + 50):
        body = CcMessage(CcType.SETUP, n.to_bytes(16, "big"), codec="opus-16k").encode()
        switch.on_cc(Envelope(EnvelopeKind.CC, bytes(16), f"+a{n}", f"+b{n}", body))
    assert len(switch.calls) == MAX_CALLS and len(switch._by_line) == 2 * MAX_CALLS


# ---- end-to-end calls: what the carrier sees ---------------------------------------------------


SEALED = struct.pack(">BBHII", 0x80, 96, 0, 0, 7) + b"\xc3" * 60  # header + ciphertext


async def ring(phone: CcPhone, other: str, *, idle: bool = False) -> None:
    """``phone`` rings ``other`` end to end (the CALL envelope's clear RING hint); ``idle``:
    then waits until the switch has given up on the unanswered ring."""
    phone.modem.send(other, b"\x01" + b"\x5a" * 120, kind=EnvelopeKind.CALL)
    await asyncio.sleep(1)
    if idle:
        await asyncio.sleep(E2E_IDLE_S)


@pytest.mark.looptime
async def test_sealed_voice_to_numbers_not_registered_is_dropped_before_the_switch():
    bus, alice, _bob = three_phones(10)
    bus.intercept.emit("IRI-REPORT", "sms", calling="+1", called="+2", state="submitted",
                       sms_text="the incriminating text", content="clear")
    before = len(bus.intercept.recent)
    for n in range(700):
        bus._route_voice("+1", encode_voice(f"+999{n:08d}", SEALED))
    assert len(bus.intercept.recent) == before and not bus.switch.e2e
    assert (bus.stats.voice_dropped, bus.stats.voice_routed) == (700, 0)
    assert [r.sms_text for r in bus.intercept.recent if r.service == "sms"] == [
        "the incriminating text"]


@pytest.mark.looptime
async def test_sealed_voice_opens_a_call_record_only_after_a_ring_and_not_after_the_hangup():
    bus, alice, bob = three_phones(11)
    for _ in range(50):  # between two registered lines, never rung: passed on, no record
        alice.modem.send_voice("+2", SEALED)
        await asyncio.sleep(0.02)
    await wait_until(lambda: len(bob.voice) >= 45)
    assert not call_records(bus, "e2e-call") and not bus.switch.e2e
    await ring(alice, "+2")
    alice.modem.send_voice("+2", SEALED)
    await asyncio.sleep(1)
    assert [r.record for r in call_records(bus, "e2e-call")] == [
        "IRI-BEGIN", "IRI-CONTINUE", "IRI-CONTINUE", "HI3"]
    bob.modem.send("+1", b"\x02", kind=EnvelopeKind.CALL)  # the hangup's clear hint
    await wait_until(lambda: not bus.switch.e2e)
    await asyncio.sleep(E2E_AFTER_S + 1)
    count = len(call_records(bus, "e2e-call"))
    for _ in range(50):  # after the hangup a new call needs a new ring
        alice.modem.send_voice("+2", SEALED)
        await asyncio.sleep(0.02)
    assert len(call_records(bus, "e2e-call")) == count and not bus.switch.e2e


@pytest.mark.looptime
async def test_the_rings_the_switch_remembers_are_bounded():
    bus = Bus(random.Random(12))
    switch = bus.switch
    for n in range(MAX_E2E + 50):
        switch.saw_call_signal(Envelope(EnvelopeKind.CALL, bytes(16), f"+a{n}", f"+b{n}",
                                        b"\x01"))
    assert len(switch._e2e_rang) == MAX_E2E == len(switch.e2e)


@pytest.mark.looptime
async def test_an_e2e_call_is_recorded_from_its_hint_and_sealed_voice_only():
    bus, alice, bob = three_phones(6)
    inside = b"\x5a" * 120  # stands for the sealed offer
    alice.modem.send("+2", b"\x01" + inside, kind=EnvelopeKind.CALL)
    await wait_until(lambda: bob.inbox)
    sealed = struct.pack(">BBHII", 0x80, 96, 0, 0, 7) + b"\xc3" * 60  # header + ciphertext
    for _ in range(50):
        alice.modem.send_voice("+2", sealed)
        await asyncio.sleep(0.02)
    await asyncio.sleep(4)
    for _ in range(50):
        bob.modem.send_voice("+1", sealed)
        await asyncio.sleep(0.02)
    bob.modem.send("+1", b"\x02" + inside, kind=EnvelopeKind.CALL)
    await wait_until(lambda: any(r.record == "IRI-END" for r in call_records(bus, "e2e-call")))
    records = call_records(bus, "e2e-call")
    assert [(r.record, r.state) for r in records] == [
        ("IRI-BEGIN", "setup"), ("IRI-CONTINUE", "alerting"), ("IRI-CONTINUE", "answered"),
        ("HI3", "answered"), ("HI3", "released"), ("IRI-END", "released")]
    assert all((r.calling, r.called, r.content) == ("+1", "+2", "ciphertext") for r in records)
    hi3 = records[4]
    # Every sealed frame that reached the carrier (LTE's link loses one now and then).
    arrived = sum(r.kind == "voice" and r.direction == "up" for r in bus.tap.recent)
    assert 95 <= arrived <= 100 and (hi3.frames, hi3.size) == (arrived, arrived * len(sealed))
    assert 5 < records[5].duration_s < 7
    for record in bus.intercept.recent:
        text = record.to_json()
        assert "5a5a" not in text and "c3c3" not in text and "ZZZZ" not in text
        assert record.sms_text is None and record.codec == "" if record.service == "e2e-call" \
            else True


@pytest.mark.looptime
async def test_an_e2e_call_whose_voice_stops_ends_after_the_idle_time():
    bus, alice, _bob = three_phones(7)
    await ring(alice, "+2", idle=True)
    sealed = struct.pack(">BBHII", 0x80, 96, 0, 0, 7) + b"\xc3" * 60
    alice.modem.send_voice("+2", sealed)
    await asyncio.sleep(30)
    records = call_records(bus, "e2e-call")
    # Rung, then idle before the answer (the record ends), then voice: a new record.
    assert [r.record for r in records] == ["IRI-BEGIN", "IRI-CONTINUE", "IRI-END",
                                           "IRI-BEGIN", "IRI-CONTINUE", "HI3", "HI3",
                                           "IRI-END"]
    assert records[-1].release_reason.startswith("no voice") and not bus.switch.e2e


@pytest.mark.looptime
async def test_with_audio_the_switch_decodes_what_it_hears_of_a_plain_call():
    from phone_tui.media.audio import open_audio, switch_decoder
    from phone_tui.media.codecs import load_codecs

    bus, alice, bob = three_phones(8)
    bus.switch.decoder_factory = switch_decoder
    speaker = open_audio(load_codecs()["opus-16k"], voice=None, record=None)
    alice.send("+2", CcType.SETUP, codec="opus-16k")
    await wait_until(lambda: bob.cc)
    bob.send("+1", CcType.CONNECT)
    await wait_until(lambda: alice.cc)
    for seq in range(50):
        alice.modem.send_voice("+2", plain_packet(seq, speaker.next_payload(muted=False)))
        await asyncio.sleep(0.02)
    await wait_until(lambda: len(bob.voice) >= 40)
    call = bus.switch.calls[REF]
    assert call.frames == call.decoded >= len(bob.voice)
    assert bus.switch._decoders[REF] is not None
    bob.send("+1", CcType.DISCONNECT)
    await wait_until(lambda: not bus.switch.calls)
    assert not bus.switch._decoders  # let go with the call
    speaker.close()


@pytest.mark.looptime
async def test_an_e2e_call_on_hold_goes_on_while_its_sealed_reports_flow():
    bus, alice, _bob = three_phones(9)
    await ring(alice, "+2")
    sealed = struct.pack(">BBHII", 0x80, 96, 0, 0, 7) + b"\xc3" * 60
    report = struct.pack(">BBHII", 0x80, 200, 0, 0, 7 | 0x80000000) + b"\xc3" * 60
    alice.modem.send_voice("+2", sealed)
    for _ in range(40):  # 40 s of reports only: the call is on hold, not over
        await asyncio.sleep(1)
        alice.modem.send_voice("+2", report)
    assert bus.switch.e2e and not [r for r in call_records(bus, "e2e-call")
                                   if r.record == "IRI-END"]
    await asyncio.sleep(30)
    end = call_records(bus, "e2e-call")[-1]
    # From the voice to the last report: the hold is part of the call.
    assert end.record == "IRI-END" and 39 <= end.duration_s <= 41
    hi3 = [r for r in call_records(bus, "e2e-call") if r.record == "HI3"]
    assert hi3[-1].frames == 1  # reports are not voice

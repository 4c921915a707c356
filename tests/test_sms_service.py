"""The carrier's SMS service: SMS-SUBMITs to the SMSC, SMS-DELIVERs down the recipient's hop,
status reports back, its queue across a restart, refusals, and the intercept records."""

from __future__ import annotations

import asyncio
import random

import pytest

from phone_tui.modem import sms_service
from phone_tui.modem.bus import Bus
from phone_tui.modem.frames import Envelope, EnvelopeKind
from phone_tui.modem.network import NETWORK
from phone_tui.modem.profiles import LinkProfile
from phone_tui.modem.sms import ReassemblyBuffer, segments
from phone_tui.modem.sms_pdu import (
    FailureCause,
    SmsDeliver,
    SmsDeliverReport,
    SmsStatusReport,
    SmsSubmit,
    SmsSubmitReport,
    TpStatus,
    read_sms,
)
from phone_tui.modem.sms_service import GATHER_TIMEOUT, MAX_GATHERING_PER_SENDER
from phone_tui.modem.smsc import RETRY_FIRST, SMSC_FILE

FAST = LinkProfile("fast", "Fast", latency_ms=5, jitter_ms=0, loss=0, loss_burst=1,
                   down_kbps=0, up_kbps=0)
BASE = 1_780_000_000.0


def wall() -> float:
    return BASE + asyncio.get_running_loop().time()


class Phone:
    """A line that keeps every TPDU the SMSC sends it, and may refuse SMS-DELIVERs."""

    def __init__(self, bus: Bus, number: str, *, powered: bool = True,
                 refuse: bool = False,
                 cause: FailureCause = FailureCause.TPDU_NOT_SUPPORTED) -> None:
        self.modem = bus.attach(number, FAST, on_message=lambda _e: None,
                                on_state=lambda *_a: None, powered=powered)
        self.modem.on_sms = self.on_sms
        self.refuse = refuse
        self.cause = cause
        self.got: list[object] = []
        self.ids: list[bytes] = []
        self.texts: list[str] = []
        self._buffer = ReassemblyBuffer()

    def on_sms(self, envelope: Envelope) -> bytes | None:
        tpdu = read_sms(envelope.body, uplink=False)
        if isinstance(tpdu, SmsDeliver):
            if self.refuse:
                return SmsDeliverReport(self.cause).encode()
            self.ids.append(envelope.msg_id)
            text = self._buffer.add(0.0, tpdu.sender, tpdu.part)
            if text is not None:
                self.texts.append(text)
        self.got.append(tpdu)
        return None

    def of(self, kind: type) -> list:
        return [tpdu for tpdu in self.got if isinstance(tpdu, kind)]


def sms_records(bus: Bus) -> list[tuple[str, str, str, str | None]]:
    return [(r.state, r.calling, r.called, r.sms_text) for r in bus.intercept.recent
            if r.service == "sms"]


@pytest.mark.looptime
async def test_an_sms_is_delivered_and_its_sender_hears_accepted_then_delivered():
    bus = Bus(random.Random(1), wall=wall)
    alice, bob = Phone(bus, "+111"), Phone(bus, "+222")
    await asyncio.sleep(1)
    ref, parts = alice.modem.send_sms("+222", "see you at 8", report=True)
    assert parts == 1
    await asyncio.sleep(5)
    assert bob.texts == ["see you at 8"]
    assert [d.sender for d in bob.of(SmsDeliver)] == ["+111"]
    assert alice.of(SmsSubmitReport) == [SmsSubmitReport(ref)]
    [report] = alice.of(SmsStatusReport)
    assert (report.message_ref, report.recipient, report.status) == (ref, "+222",
                                                                     TpStatus.DELIVERED)
    assert sms_records(bus) == [("submitted", "+111", "+222", "see you at 8"),
                                ("delivered", "+111", "+222", "see you at 8")]
    [submitted, delivered] = [r for r in bus.intercept.recent if r.service == "sms"]
    assert submitted.content == "clear" and submitted.size == 11  # 12 septets in 11 octets
    assert submitted.ref == delivered.ref
    assert bus.sms.smsc.queued_parts == 0
    bus.close()


@pytest.mark.looptime
async def test_a_long_text_goes_in_parts_and_the_intercept_has_it_whole_once():
    bus = Bus(random.Random(2), wall=wall)
    alice, bob = Phone(bus, "+111"), Phone(bus, "+222")
    await asyncio.sleep(1)
    text = "\u00fcber " + "\u0436" * 150  # UCS-2: 155 units, 3 parts of 67
    _ref, parts = alice.modem.send_sms("+222", text, report=False)
    assert parts == 3
    await asyncio.sleep(5)
    assert bob.texts == [text] and len(bob.of(SmsDeliver)) == 3
    assert alice.of(SmsStatusReport) == []  # none asked for
    records = sms_records(bus)
    assert records[0] == ("submitted", "+111", "+222", text)
    assert [state for state, *_ in records] == ["submitted"] + ["delivered"] * 3
    bus.close()


@pytest.mark.looptime
async def test_an_sms_waits_for_an_absent_phone_and_expires_with_a_report():
    bus = Bus(random.Random(3), wall=wall)
    alice, bob = Phone(bus, "+111"), Phone(bus, "+222", powered=False)
    await asyncio.sleep(1)
    alice.modem.send_sms("+222", "first")
    await asyncio.sleep(60)
    assert bob.got == [] and bus.sms.smsc.queued("+222") == 1
    bob.modem.set_powered(True)
    await asyncio.sleep(2)
    assert bob.texts == ["first"]
    bob.modem.set_powered(False)
    await asyncio.sleep(1)
    ref, _ = alice.modem.send_sms("+222", "too late", validity=600)
    await asyncio.sleep(700)
    [_, expired] = alice.of(SmsStatusReport)
    assert (expired.message_ref, expired.status) == (ref, TpStatus.EXPIRED)
    assert sms_records(bus)[-1] == ("expired", "+111", "+222", "too late")
    bob.modem.set_powered(True)
    await asyncio.sleep(5)
    assert bob.texts == ["first"]  # it is gone
    bus.close()


@pytest.mark.looptime
async def test_a_phone_that_takes_no_plain_sms_fails_the_text_at_once_with_a_failed_report():
    bus = Bus(random.Random(4), wall=wall)
    alice, _bob = Phone(bus, "+111"), Phone(bus, "+222", refuse=True)  # the Secure OS
    await asyncio.sleep(1)
    ref, _parts = alice.modem.send_sms("+222", "are you there? " * 20, report=True)  # 2 parts
    await asyncio.sleep(RETRY_FIRST / 2)
    assert [state for state, *_ in sms_records(bus)] == ["submitted", "failed"]
    assert [(r.message_ref, r.status) for r in alice.of(SmsStatusReport)] == [
        (ref, TpStatus.FAILED)]
    assert bus.sms.smsc.queued("+222") == 0 and bus.sms.smsc.queued_parts == 0
    await asyncio.sleep(RETRY_FIRST * 8)
    # Not tried again: the plain text went down the Secure line once, one record says so.
    assert [state for state, *_ in sms_records(bus)] == ["submitted", "failed"]
    assert bus.sms.stats.failed == 1 and bus.sms.smsc.next_wakeup() is None
    bus.close()


@pytest.mark.looptime
async def test_a_phone_that_cannot_keep_an_sms_now_gets_it_again_later():
    bus = Bus(random.Random(4), wall=wall)
    alice, bob = Phone(bus, "+111"), Phone(bus, "+222", refuse=True,
                                           cause=FailureCause.MS_ERROR)
    await asyncio.sleep(1)
    alice.modem.send_sms("+222", "hello?")
    await asyncio.sleep(RETRY_FIRST / 2)
    assert [state for state, *_ in sms_records(bus)] == ["submitted", "failed"]
    assert alice.of(SmsStatusReport) == []  # not "delivered": the refusal won over the ack
    assert bus.sms.smsc.queued("+222") == 1 and bus.sms.stats.delivered == 0
    await asyncio.sleep(RETRY_FIRST * 2)
    assert [state for state, *_ in sms_records(bus)].count("failed") == 2  # tried again
    bob.refuse = False  # the phone now takes plain SMS (the other OS)
    await asyncio.sleep(RETRY_FIRST * 4)
    assert bob.texts == ["hello?"]
    assert alice.of(SmsStatusReport)[0].status is TpStatus.DELIVERED
    bus.close()


@pytest.mark.looptime
async def test_an_sms_queued_for_an_absent_phone_survives_a_carrier_restart_and_arrives_once(
        tmp_path):
    folder = tmp_path / "network"
    bus = Bus(random.Random(5), folder=folder, wall=wall)
    alice, _bob = Phone(bus, "+111"), Phone(bus, "+222", powered=False)
    await asyncio.sleep(1)
    alice.modem.send_sms("+222", "kept for you " * 20)  # two parts
    await asyncio.sleep(2)
    assert bus.sms.smsc.queued("+222") == 2
    bus.close()
    assert (folder / SMSC_FILE).stat().st_mode & 0o777 == 0o600

    again = Bus(random.Random(6), folder=folder, wall=wall)
    Phone(again, "+111")
    bob = Phone(again, "+222")
    await asyncio.sleep(10)
    assert bob.texts == ["kept for you " * 20] and len(bob.ids) == len(set(bob.ids)) == 2
    assert again.sms.smsc.queued("+222") == 0
    again.close()
    third = Bus(random.Random(7), folder=folder, wall=wall)
    bob3 = Phone(third, "+222")
    await asyncio.sleep(10)
    assert bob3.got == []  # nothing delivered twice
    third.close()


@pytest.mark.looptime
async def test_hostile_sms_bodies_are_dropped_and_a_bad_number_is_refused():
    bus = Bus(random.Random(8), wall=wall)
    alice, bob = Phone(bus, "+111"), Phone(bus, "+222")
    await asyncio.sleep(1)
    modem = alice.modem
    for body in (b"", b"\x01\x00\x03", bytes(200), b"\x02" * 30):
        modem._submit(Envelope(EnvelopeKind.SMS, modem.new_id(), "+111", "network",
                               body).encode())
    await asyncio.sleep(2)
    assert bus.sms.stats.malformed == 4 and sms_records(bus) == []
    assert alice.got == [] and bob.got == []
    # A spoofed sender is the carrier's check: the SMSC never sees it.
    spoof = read_sms(bytes.fromhex("01000B915121551532F400000CC8F79D9C07E54F61363B04"))
    modem._submit(Envelope(EnvelopeKind.SMS, modem.new_id(), "+222", "network",
                           spoof.encode()).encode())
    await asyncio.sleep(2)
    assert sms_records(bus) == [] and bus.stats.rejected == 4 + 1
    # A number the carrier has no line for: refused, as an SMSC does after its HLR lookup
    # (nothing is queued for it: one phone cannot fill the SMSC with made-up numbers).
    modem.send_sms("+15125551234", "anyone?")
    await asyncio.sleep(2)
    assert alice.of(SmsSubmitReport)[-1].cause is FailureCause.INVALID_ADDRESS
    assert bus.sms.smsc.queued("+15125551234") == 0
    assert sms_records(bus)[-1][0] == "failed"
    bus.close()


@pytest.mark.looptime
async def test_a_delivery_the_link_gives_up_on_is_retried_by_the_smsc_not_the_mailbox():
    bus = Bus(random.Random(9), wall=wall)
    alice, bob = Phone(bus, "+111"), Phone(bus, "+222")
    await asyncio.sleep(1)
    blocked = {"on": True}
    carry = bus._carry

    def lossy(modem, frame: bytes, direction: str) -> None:
        if blocked["on"] and modem.number == "+222" and direction == "down":
            return  # the air eats every frame down to +222
        carry(modem, frame, direction)

    bus._carry = lossy  # type: ignore[method-assign]
    alice.modem.send_sms("+222", "through the storm")
    await asyncio.sleep(400)  # every retry of the hop fails: it gives up, a new session
    assert bus.sms.stats.failed >= 1 and bob.texts == []
    assert bus.stored_for("+222") == 0  # not handed to the mailbox as an envelope
    blocked["on"] = False
    await asyncio.sleep(RETRY_FIRST * 200)
    assert bob.texts == ["through the storm"] and len(set(bob.ids)) == 1
    assert [s for s, *_ in sms_records(bus)].count("delivered") == 1
    bus.close()


def _submit_part(bus: Bus, sender: str, part, ref: int, to: str = "+222") -> None:
    body = SmsSubmit(ref, to, part, None, False).encode()
    bus.sms.receive(sender, Envelope(EnvelopeKind.SMS, random.randbytes(16), sender, NETWORK,
                                     body))


@pytest.mark.looptime
async def test_one_senders_half_sent_messages_push_out_only_its_own_oldest_with_a_failed_report():
    bus = Bus(random.Random(11), wall=wall)
    friend, evil, bob = Phone(bus, "+111"), Phone(bus, "+666"), Phone(bus, "+222")
    await asyncio.sleep(1)
    honest = segments("a long honest text " * 20, 42)
    _submit_part(bus, "+111", honest[0], 42)
    for ref in range(64):  # first parts of 64 messages, never the rest
        _submit_part(bus, "+666", segments("y" * 200, ref)[0], ref)
    for part in honest[1:]:
        _submit_part(bus, "+111", part, 42)
    await asyncio.sleep(5)
    assert bob.texts == ["a long honest text " * 20]
    assert friend.of(SmsSubmitReport) == [SmsSubmitReport(42)]
    failed = evil.of(SmsSubmitReport)
    assert [r.message_ref for r in failed] == list(range(64 - MAX_GATHERING_PER_SENDER))
    assert {r.cause for r in failed} == {FailureCause.INCOMPLETE}
    assert len(bus.sms._gathering) == MAX_GATHERING_PER_SENDER
    bus.close()


@pytest.mark.looptime
async def test_a_message_whose_parts_stop_coming_fails_after_the_gathering_timeout():
    bus = Bus(random.Random(12), wall=wall)
    alice, _bob = Phone(bus, "+111"), Phone(bus, "+222")
    await asyncio.sleep(1)
    _submit_part(bus, "+111", segments("z" * 300, 7)[0], 7)
    await asyncio.sleep(GATHER_TIMEOUT - 5)
    assert alice.of(SmsSubmitReport) == []
    await asyncio.sleep(10)
    assert alice.of(SmsSubmitReport) == [SmsSubmitReport(7, FailureCause.INCOMPLETE)]
    assert bus.sms._gathering == {} and bus.sms._gathered_parts == 0
    assert sms_records(bus) == [("failed", "+111", "+222", "z" * 153)]
    bus.close()


def test_the_parts_being_gathered_are_bounded_on_every_part(monkeypatch):
    monkeypatch.setattr(sms_service, "MAX_GATHERING_PARTS", 300)
    bus = Bus(random.Random(13))
    for sender in ("+601", "+602"):  # two senders start a message each while there is room
        for ref in range(2):
            _submit_part(bus, sender, segments("z" * (153 * 255), ref)[0], ref)
    for sender in ("+601", "+602"):  # then grow them to 254 of their 255 parts
        for ref in range(2):
            for part in segments("z" * (153 * 255), ref)[1:-1]:
                _submit_part(bus, sender, part, ref)
                assert bus.sms._gathered_parts <= 300
    assert bus.sms.stats.rejected >= 1
    bus.close()


@pytest.mark.looptime
async def test_a_carrier_closed_just_after_a_delivery_was_acknowledged_writes_nothing_more(
        tmp_path):
    loop = asyncio.get_running_loop()
    problems: list[dict] = []
    loop.set_exception_handler(lambda _loop, context: problems.append(context))
    bus = Bus(random.Random(8), folder=tmp_path / "network", wall=wall)
    alice, bob = Phone(bus, "+111"), Phone(bus, "+222")
    await asyncio.sleep(1)
    acked = bus.sms.acked

    def close_on_ack(*args: object) -> None:
        acked(*args)  # the delivery settles on the next turn...
        bus.close()  # ...and the stage quits in this one

    bus.sms.acked = close_on_ack  # type: ignore[method-assign]
    alice.modem.send_sms("+222", "last words")
    await asyncio.sleep(5)
    assert bob.texts == ["last words"]
    assert problems == [], problems
    assert bus.sms._timer is None  # nothing left armed either


@pytest.mark.looptime
async def test_a_phone_acknowledges_each_sms_it_keeps_at_once_not_after_the_ack_delay():
    bus = Bus(random.Random(9), wall=wall)
    alice, bob = Phone(bus, "+111"), Phone(bus, "+222", powered=False)
    await asyncio.sleep(1)
    for n in range(20):
        alice.modem.send_sms("+222", f"part {n}", report=False)
    await asyncio.sleep(5)
    assert bus.sms.smsc.queued("+222") == 20
    loop = asyncio.get_running_loop()
    start = loop.time()
    bob.modem.set_powered(True)
    while len(bob.texts) < 20:
        await asyncio.sleep(0.001)
    # One at a time, each over two 5 ms hops and back: far less than 20 × the 40 ms ack delay.
    assert loop.time() - start < 20 * 0.04 / 2, loop.time() - start
    assert bob.texts == [f"part {n}" for n in range(20)]

"""Hop acknowledgements as TCP's: cumulative + selective, piggy-backed on data, delayed when
alone; and what that saves per message, from the sans-IO channel up to two messengers."""

from __future__ import annotations

import asyncio
import random
import struct
import zlib
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_messenger import Phone as MessengerPhone
from test_modem import Phone

from phone_tui.core.clock import ManualClock
from phone_tui.handset.messenger import MessageUpdated
from phone_tui.modem.bus import Bus, _Driver
from phone_tui.modem.channel import ACK_DELAY, Acked, Delivered, ReliableChannel
from phone_tui.modem.frames import MAGIC, VERSION, FrameError, HopFrame, HopKind
from phone_tui.modem.profiles import load_profiles

PROFILES = load_profiles()


def decoded(frames: list[bytes]) -> list[HopFrame]:
    return [HopFrame.decode(frame) for frame in frames]


def raw_frame(kind: int, seq: int, ack: int, sack: int, payload: bytes = b"",
              length: int | None = None, session: int = 1) -> bytes:
    """A frame built by hand (a hostile peer need not use our encoder)."""
    body = struct.pack(">2sBBHIIQH", MAGIC, VERSION, kind, session, seq, ack, sack,
                       len(payload) if length is None else length) + payload
    return body + struct.pack(">I", zlib.crc32(body))


# ---- the sans-IO channel ------------------------------------------------------------------------


def test_one_standalone_ack_covers_a_burst_of_frames():
    a, b = ReliableChannel(1), ReliableChannel(1)
    for i in range(5):
        a.send(f"m{i}".encode(), 0.0)
    burst = a.transmit()
    assert len(burst) == 5
    delivered = [e for frame in burst for e in b.receive(frame, 0.01)]
    assert [e.payload for e in delivered] == [f"m{i}".encode() for i in range(5)]
    assert b.transmit() == []  # nothing goes until the timer: the rest of a burst may follow
    assert b.next_deadline() == 0.01  # the second frame unacknowledged: at once
    b.on_timeout(0.01)
    [ack] = decoded(b.transmit())
    assert (ack.kind, ack.ack, ack.sack, ack.payload) == (HopKind.ACK, 5, 0, b"")
    events = a.receive(ack.encode(), 0.02)
    assert [e.seq for e in events if isinstance(e, Acked)] == [0, 1, 2, 3, 4]
    assert a.idle and b.stats.acks_sent == 1 and a.next_deadline() is not None  # stale floor
    a.on_timeout(a.next_deadline())  # a timer that fires early finds nothing and stops
    assert a.transmit() == [] and a.next_deadline() is None and a.stats.retransmissions == 0


def test_a_reply_within_the_delay_carries_the_ack_and_no_ack_frame_goes():
    a, b = ReliableChannel(1), ReliableChannel(1)
    a.send(b"question", 0.0)
    wire = a.transmit()
    b.receive(wire[0], 0.005)
    assert b.next_deadline() == pytest.approx(0.005 + ACK_DELAY)
    b.send(b"answer", 0.02)  # the reply, before the ack was due
    wire += b.transmit()
    [reply] = decoded(wire[1:])
    assert (reply.kind, reply.payload, reply.ack) == (HopKind.DATA, b"answer", 1)
    events = a.receive(wire[1], 0.025)
    assert Acked(0, 0.025) in events and Delivered(b"answer") in events
    b.on_timeout(1.0)
    assert b.transmit() == [] and b.stats.acks_sent == 0
    assert len(wire) == 2  # question and answer; a's ack of the answer comes later


def test_a_lone_frame_is_acknowledged_after_the_delay_and_its_rtt_includes_it():
    a, b = ReliableChannel(1), ReliableChannel(1)
    a.send(b"x", 0.0)
    b.receive(a.transmit()[0], 0.1)
    assert b.next_deadline() == pytest.approx(0.1 + ACK_DELAY)
    b.on_timeout(0.1 + ACK_DELAY / 2)
    assert b.transmit() == []
    b.on_timeout(0.1 + ACK_DELAY)
    [ack] = b.transmit()
    [event] = a.receive(ack, 0.2 + ACK_DELAY)
    assert event == Acked(0, pytest.approx(0.2 + ACK_DELAY))  # the delay is in the sample


def test_an_out_of_order_or_duplicate_frame_is_acknowledged_at_once_with_its_sack():
    a, b = ReliableChannel(1), ReliableChannel(1)
    for i in range(4):
        a.send(bytes([i]), 0.0)
    f0, f1, f2, f3 = a.transmit()
    assert b.receive(f0, 0.1) == [Delivered(b"\x00")]
    assert b.next_deadline() == pytest.approx(0.1 + ACK_DELAY)
    assert b.receive(f2, 0.11) == []  # f1 lost: a gap
    assert b.next_deadline() == 0.11
    b.receive(f3, 0.11)
    b.on_timeout(0.11)
    [ack] = decoded(b.transmit())
    assert (ack.ack, ack.sack) == (1, 0b11)  # expects 1; holds 2 and 3
    events = a.receive(ack.encode(), 0.2)
    assert events == [Acked(0, pytest.approx(0.2))]
    a.on_timeout(1.0)  # seq 1's timer (rto 1 s)
    [again] = decoded(a.transmit())
    assert again.seq == 1 and a.stats.retransmissions == 1  # 2 and 3 are not resent
    assert [e.payload for e in b.receive(again.encode(), 1.1)] == [b"\x01", b"\x02", b"\x03"]
    assert b.next_deadline() == 1.1  # it filled the gap: at once
    b.receive(f0, 1.2)  # a late duplicate
    assert b.stats.duplicates == 1 and b.next_deadline() == 1.1
    b.on_timeout(1.2)
    [ack] = decoded(b.transmit())
    assert (ack.ack, ack.sack) == (4, 0)
    events = a.receive(ack.encode(), 1.3)
    # Karn's rule: seq 1 was retransmitted; 2 and 3 were sampled when first selectively acked
    assert events == [Acked(1, None), Acked(2, pytest.approx(0.2)), Acked(3, pytest.approx(0.2))]
    assert a.idle


def test_sacked_frames_stay_until_the_cumulative_ack_and_go_back_to_the_store():
    a, b = ReliableChannel(1), ReliableChannel(1)
    for i in range(3):
        a.send(bytes([i]), 0.0)
    _f0, f1, f2 = a.transmit()
    b.receive(f1, 0.1)
    b.receive(f2, 0.1)
    b.on_timeout(0.1)
    assert a.receive(b.transmit()[0], 0.2) == []  # selectively acked: not released
    assert a.pending() == [b"\x00", b"\x01", b"\x02"]  # a registration lost now resends all


# ---- hostile acknowledgements -------------------------------------------------------------------


def test_an_ack_beyond_anything_sent_is_ignored_and_counted():
    a = ReliableChannel(1)
    a.send(b"x", 0.0)
    a.send(b"y", 0.0)
    a.transmit()
    assert a.receive(raw_frame(HopKind.ACK, 0, 3, 0), 0.1) == []
    assert a.receive(raw_frame(HopKind.ACK, 0, 0xFFFFFFFF, 2**64 - 1), 0.1) == []
    assert a.stats.bogus_acks == 2 and len(a.pending()) == 2


def test_sack_bits_for_never_sent_seqs_are_ignored_and_counted_the_rest_apply():
    a = ReliableChannel(1)
    for i in range(3):
        a.send(bytes([i]), 0.0)
    a.transmit()
    # expects 0, holds 1 and 2 (sent) and 3..63 (never sent)
    assert a.receive(raw_frame(HopKind.ACK, 0, 0, 2**64 - 1), 0.1) == []
    assert a.stats.bogus_sacks == 1
    a.on_timeout(1.0)
    assert [f.seq for f in decoded(a.transmit())] == [0]  # 1 and 2 were held: not resent
    assert a.receive(raw_frame(HopKind.ACK, 0, 3, 1), 1.1) != []  # bit for seq 4: never sent
    assert a.stats.bogus_sacks == 2 and a.idle


@pytest.mark.parametrize(("frame", "reason"), [
    (raw_frame(HopKind.ACK, 0, 0, 0, b"payload"), "acknowledgement with a payload"),
    (raw_frame(HopKind.ACK, 7, 0, 0), "acknowledgement with a payload or a seq"),
    (raw_frame(HopKind.DATA, 0, 0, 0, b"abc", length=9), "length field"),
    (raw_frame(HopKind.DATA, 0, 0, 0, b"abc", length=1), "length field"),
    (raw_frame(9, 0, 0, 0), "unknown frame kind"),
    (raw_frame(HopKind.DATA, 0, 0, 0)[:20], "truncated"),
])
def test_malformed_frames_are_refused_and_counted(frame, reason):
    channel = ReliableChannel(1)
    with pytest.raises(FrameError, match=reason):
        channel.receive(frame, 0.0)
    assert channel.stats.garbled == 1


def test_a_version_1_frame_is_refused():
    body = struct.pack(">2sBBHIH", MAGIC, 1, HopKind.DATA, 1, 0, 2) + b"hi"
    with pytest.raises(FrameError, match="unknown frame version 1|truncated"):
        HopFrame.decode(body + struct.pack(">I", zlib.crc32(body)))


@settings(max_examples=300, deadline=None)
@given(sent=st.integers(0, 40), acks=st.lists(
    st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1)), max_size=8))
def test_any_ack_fields_release_only_frames_sent_each_once(sent, acks):
    channel = ReliableChannel(1, window=32)
    for i in range(sent):
        channel.send(bytes([i]), 0.0)
    channel.transmit()
    released = []
    for ack, sack in acks:
        events = channel.receive(raw_frame(HopKind.ACK, 0, ack, sack), 0.1)
        assert len(events) <= channel.window
        released += [e.seq for e in events if isinstance(e, Acked)]
    assert len(released) == len(set(released)) and all(seq < min(sent, 32) for seq in released)
    assert len(channel.pending()) == sent - len(released)


# ---- loss ---------------------------------------------------------------------------------------


def test_both_ways_at_30_percent_loss_every_payload_arrives_once_in_order_and_is_acked():
    rng = random.Random(21)
    a, b = ReliableChannel(1), ReliableChannel(1)
    now, got = 0.0, {a: [], b: []}
    in_air: list[tuple[float, ReliableChannel, bytes]] = []
    wire = arrived = 0
    for i in range(300):
        a.send(f"a{i}".encode(), now)
        b.send(f"b{i}".encode(), now)
    while not (a.idle and b.idle and len(got[a]) == len(got[b]) == 300) and now < 10_000:
        for sender, receiver in ((a, b), (b, a)):
            sender.on_timeout(now)
            for frame in sender.transmit():
                wire += 1
                if rng.random() < 0.3:
                    continue
                for _ in range(2 if rng.random() < 0.1 else 1):
                    in_air.append((now + rng.uniform(0.01, 0.2), receiver, frame))
        in_air.sort(key=lambda item: item[0])
        now += 0.01
        while in_air and in_air[0][0] <= now:
            _, receiver, frame = in_air.pop(0)
            arrived += HopFrame.decode(frame).kind is HopKind.DATA
            got[receiver] += [e.payload.decode() for e in receiver.receive(frame, now)
                              if isinstance(e, Delivered)]
    assert got[b] == [f"a{i}" for i in range(300)] and got[a] == [f"b{i}" for i in range(300)]
    assert a.idle and b.idle  # every frame acknowledged, none given up
    data = a.stats.sent_frames + b.stats.sent_frames
    assert a.stats.retransmissions > 0 and b.stats.duplicates > 0
    acks = a.stats.acks_sent + b.stats.acks_sent
    # One ack per data frame that arrived was the old rule; at 30 % loss the gaps ask for many
    # at once, and still fewer go (482 for 680 here)
    assert wire - data == acks < 0.75 * arrived


# ---- on the bus and between messengers ----------------------------------------------------------


@pytest.mark.looptime
async def test_the_driver_sends_a_delayed_ack_on_its_own_timer():
    bus = Bus(random.Random(3))
    alice, bob = Phone(bus, "+1", PROFILES["full"]), Phone(bus, "+2", PROFILES["full"])
    bob.modem.set_airplane(True)
    msg = alice.modem.send("+2", b"for later")  # stored: nothing comes back to ride on
    await asyncio.sleep(1.0)
    assert alice.states[msg] == ["sent"]
    assert [t for _, t in alice.modem.stats.rtt] == [pytest.approx(ACK_DELAY)]  # it counts
    assert [r.kind for r in bus.tap.recent] == ["data", "ack"]


@pytest.mark.looptime
async def test_a_keep_alive_is_acknowledged_at_once_so_its_rtt_is_the_link_s():
    bus = Bus(random.Random(3))
    steady = replace(PROFILES["3g"], jitter_ms=0, loss=0.0, loss_burst=1.0)
    alice = Phone(bus, "+1", steady)
    alice.modem.ping()
    await asyncio.sleep(5.0)
    [(_, rtt)] = alice.modem.stats.rtt
    assert rtt == pytest.approx(2 * 0.150, abs=0.005)  # 150 ms each way (+ serialization)
    assert [r.kind for r in bus.tap.recent] == ["data", "ack"]


@pytest.mark.looptime
async def test_an_ack_owed_behind_a_retransmission_timer_goes_after_the_delay_not_the_rto():
    loop = asyncio.get_running_loop()
    wire: list[bytes] = []
    channel = ReliableChannel(1)
    driver = _Driver(channel, wire.append, lambda events: None)
    channel.send(b"mine", loop.time())
    driver.kick()  # its retransmission timer: one RTO (1 s) away
    peer = ReliableChannel(1)
    peer.send(b"theirs", 0.0)
    channel.receive(peer.transmit()[0], loop.time())
    driver.kick()
    await asyncio.sleep(ACK_DELAY * 1.5)
    assert [(f.kind, f.ack) for f in decoded(wire)] == [(HopKind.DATA, 0), (HopKind.ACK, 1)]
    await asyncio.sleep(1.0)
    assert len(wire) == 3 and channel.stats.retransmissions == 1  # the timer still runs
    driver.close()


async def _quiet(modems, step: float = 1.0) -> int:
    frames = -1
    while frames != (frames := sum(modem.stats.frames_sent for modem in modems)):
        await asyncio.sleep(step)
    return frames


@pytest.mark.looptime
async def test_a_lone_message_between_two_messengers_costs_six_hop_frames(tmp_path):
    """Was 8: each of message and report, up and down, had its own ack."""
    bus, clock = Bus(random.Random(4)), ManualClock()
    alice = MessengerPhone(bus, "+1", tmp_path, clock, profile="full")
    bob = MessengerPhone(bus, "+2", tmp_path, clock, profile="full")
    modems = [alice.modem, bob.modem]
    alice.messenger.send_text("+2", "first")  # the session starts
    before = await _quiet(modems)
    alice.messenger.send_text("+2", "second")
    # message up, down to Bob; his report up (his ack rides on it), down to Alice (the
    # network's ack of her message rides on it); the network's ack of Bob's report, Alice's of
    # the report: two standalone acks after the delay
    assert await _quiet(modems) - before == 6
    assert bob.bodies("+1") == ["first", "second"] and alice.states("+2") == ["delivered"] * 2


@pytest.mark.looptime
async def test_two_messengers_chatting_pay_about_four_hop_frames_per_message(tmp_path):
    """Each phone sends its next message when the last is delivered (as benchmarks/messenger.py
    does): every ack rides on a message or a report. Was 8 per message."""
    bus, clock = Bus(random.Random(5)), ManualClock()
    alice = MessengerPhone(bus, "+1", tmp_path, clock, profile="full")
    bob = MessengerPhone(bus, "+2", tmp_path, clock, profile="full")
    modems = [alice.modem, bob.modem]
    alice.messenger.send_text("+2", "hello")
    bob.messenger.send_text("+1", "hello")
    before = await _quiet(modems)
    each = 20
    left = {alice: each, bob: each}
    loop = asyncio.get_running_loop()

    def chat(phone: MessengerPhone, to: str) -> None:
        if left[phone]:
            left[phone] -= 1
            phone.messenger.send_text(to, f"{left[phone]}")

    for phone, to in ((alice, "+2"), (bob, "+1")):
        phone.events.listen(lambda event, phone=phone, to=to: loop.call_soon(chat, phone, to)
                            if isinstance(event, MessageUpdated) and event.state == "delivered"
                            else None)
        chat(phone, to)
    frames = await _quiet(modems) - before
    assert len(bob.bodies("+1")) == len(alice.bodies("+2")) == 1 + each
    assert set(alice.states("+2")) == set(bob.states("+1")) == {"delivered"}
    # 4 per message (message and report, up and down), and the last reports' 3 standalone acks
    assert frames == 4 * 2 * each + 3


# ---- a selective ack is advisory; a frame given up on does not wedge the hop --------------------


def test_a_forged_map_of_every_frame_does_not_hold_the_uplink():
    """One forged ACK (ack 0, all 64 bits: anyone on the link can write one, hop frames are not
    authenticated) claims the network holds frames it never got: they go again once the
    longest backoff passes without the cumulative ack, and every one arrives."""
    phone, net, now = ReliableChannel(session=7, max_retries=5), ReliableChannel(session=7), 0.0
    for index in range(40):
        phone.send(b"m%d" % index, now)
    first = phone.transmit()
    net.receive(first[0], now)  # a fake cell passes only seq 0 on
    phone.receive(HopFrame(HopKind.ACK, 7, 0, b"", ack=0, sack=(1 << 64) - 1).encode(), now)
    acked, delivered = [], []
    for _ in range(400):
        now += 2.0
        events = phone.on_timeout(now)
        for frame in phone.transmit():
            delivered += [e.payload for e in net.receive(frame, now) if isinstance(e, Delivered)]
        net.on_timeout(now)
        for frame in net.transmit():
            events += phone.receive(frame, now)
        acked += [e.seq for e in events if isinstance(e, Acked)]
    assert sorted(acked) == list(range(40)) and phone.idle
    assert delivered == [b"m%d" % index for index in range(1, 40)]


def test_frames_held_behind_one_given_up_on_are_given_up_on_too_not_kept_for_ever():
    phone, net, now = ReliableChannel(session=1, max_retries=5), ReliableChannel(session=1), 0.0
    for index in range(10):
        phone.send(b"m%d" % index, now)
    failed = []
    for _ in range(3000):
        for frame in phone.transmit():
            if HopFrame.decode(frame).seq != 0:  # seq 0 is lost every time
                net.receive(frame, now)
        net.on_timeout(now)
        for frame in net.transmit():
            phone.receive(frame, now)
        now += 1.0
        failed += [event.seq for event in phone.on_timeout(now) if hasattr(event, "reason")]
    assert failed == list(range(10)) and phone.idle


@pytest.mark.looptime
async def test_a_frame_the_network_gave_up_on_goes_again_in_a_new_session_with_what_follows():
    """The network gives up on the first frame down (lost on every try): the phone, which takes
    frames in order, would wait for its seq for good. A new session carries it and the rest."""
    from test_modem import wait_until

    bus = Bus(random.Random(5))
    lte = load_profiles()["lte"]
    alice, bob = Phone(bus, "+1", replace(lte, loss=0.0)), Phone(bus, "+2", replace(lte, loss=0.0))
    first_session = bus._subscribers["+2"].session
    carry = bus._carry

    def losing(modem, frame, direction):  # noqa: ANN001
        hop = HopFrame.decode(frame)
        if modem is bob.modem and direction == "down" and hop.kind is HopKind.DATA and \
                hop.session == first_session and hop.seq == 0:
            return  # lost on the air, every time
        carry(modem, frame, direction)

    bus._carry = losing
    ids = [alice.modem.send("+2", b"%d" % index) for index in range(5)]
    await wait_until(lambda: len(bob.inbox) >= 5, timeout=3600)
    assert bob.inbox == [b"%d" % index for index in range(5)]
    assert bus._subscribers["+2"].session != first_session
    await wait_until(lambda: all(alice.states.get(i) == ["sent", "delivered"] for i in ids))


@pytest.mark.looptime
async def test_frames_on_a_link_without_latency_arrive_in_the_order_sent():
    """Frames due at once go on the next loop turn in the order sent (not through the timer
    heap, which does not keep the order of equal times: out-of-order frames cost acks sent at
    once and selective acks)."""
    bus = Bus(random.Random(3))
    alice, bob = Phone(bus, "+1", PROFILES["full"]), Phone(bus, "+2", PROFILES["full"])
    for round_ in range(5):
        for i in range(12):
            alice.modem.send("+2", f"m{round_}.{i}".encode())
            bob.modem.send("+1", f"n{round_}.{i}".encode())
        await asyncio.sleep(0)
    await asyncio.sleep(1.0)
    for direction, phone in (("up", "+1"), ("down", "+1"), ("up", "+2"), ("down", "+2")):
        seqs = [frame.seq for record in bus.tap.recent
                if record.direction == direction and record.phone == phone
                and (frame := HopFrame.decode(record.data)).kind is HopKind.DATA]
        assert seqs == sorted(seqs) and len(seqs) >= 60, (direction, phone)

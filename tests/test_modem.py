"""The emulated link: sans-IO impairment and channel, and the asyncio bus with fast-forwarded
time (looptime)."""

from __future__ import annotations

import asyncio
import random
import statistics
from dataclasses import replace

import pytest

from phone_tui.errors import ConfigError
from phone_tui.modem.bus import Bus
from phone_tui.modem.channel import Delivered, ReliableChannel
from phone_tui.modem.frames import Envelope, EnvelopeKind, FrameError, HopFrame, HopKind
from phone_tui.modem.impairment import GilbertElliott, LinkImpairment, Serializer
from phone_tui.modem.profiles import LinkProfile, load_profiles, parse_profile

PROFILES = load_profiles()
LOSSY = LinkProfile(name="lossy", label="30 % loss", latency_ms=50, jitter_ms=40, loss=0.3,
                    loss_burst=1 / 0.7, down_kbps=0, up_kbps=0, reorder=0.1, duplicate=0.05,
                    corrupt=0.02)


# ---- profiles -----------------------------------------------------------------------------------


def test_shipped_profiles_have_the_design_figures():
    assert set(PROFILES) == {"full", "no-service", "gprs", "edge", "3g", "4g-slow", "lte", "5g",
                             "weak-signal"}
    gprs = PROFILES["gprs"]
    assert (gprs.latency_ms, gprs.jitter_ms, gprs.loss, gprs.down_kbps, gprs.up_kbps) == (
        350, 200, 0.02, 80, 40)
    assert not PROFILES["no-service"].in_service
    assert PROFILES["weak-signal"].loss_burst == 4.0


@pytest.mark.parametrize(("table", "key"), [
    ({"latency_ms": 10, "jitter_ms": 5, "loss": 2, "down_kbps": 1, "up_kbps": 1}, "loss"),
    ({"latency_ms": 10, "jitter_ms": 5, "loss": 0, "down_kbps": -1, "up_kbps": 1}, "down_kbps"),
    ({"latency_ms": 10, "jitter_ms": 50, "loss": 0, "down_kbps": 1, "up_kbps": 1}, "jitter_ms"),
    ({"latency_ms": 10, "jitter_ms": 5, "loss": 0, "down_kbps": 1, "up_kbps": 1, "warp": 9},
     "warp"),
    ({"jitter_ms": 5, "loss": 0, "down_kbps": 1, "up_kbps": 1}, "latency_ms"),
])
def test_bad_profile_names_the_key(tmp_path, table, key):
    with pytest.raises(ConfigError, match=f"profiles.mine.{key}"):
        parse_profile("mine", table, tmp_path / "settings.toml", "profiles.")


def test_user_profile_is_added():
    mine = {"latency_ms": 500, "jitter_ms": 0, "loss": 0.5, "down_kbps": 9, "up_kbps": 9}
    profiles = load_profiles({"satellite": mine})
    assert profiles["satellite"].latency_ms == 500 and "lte" in profiles


# ---- impairment model ---------------------------------------------------------------------------


@pytest.mark.parametrize(("loss", "burst"), [(0.02, 1 / 0.98), (0.1, 4.0), (0.3, 2.0)])
def test_gilbert_elliott_matches_its_closed_form(loss, burst):
    chain = GilbertElliott(loss, burst, random.Random(1))
    outcomes = [chain.lost() for _ in range(300_000)]
    rate = sum(outcomes) / len(outcomes)
    bursts, run = [], 0
    for lost in outcomes:
        if lost:
            run += 1
        elif run:
            bursts.append(run)
            run = 0
    assert rate == pytest.approx(loss, rel=0.05)
    assert statistics.mean(bursts) == pytest.approx(burst, rel=0.05)


@pytest.mark.parametrize("name", ["gprs", "edge", "3g", "4g-slow", "lte", "5g"])
def test_each_profile_delays_within_latency_plus_jitter(name):
    profile = replace(PROFILES[name], loss=0.0, loss_burst=1.0)
    link = LinkImpairment(profile, random.Random(2))
    size = 200
    delays = []
    for i in range(3000):
        now = i * 10.0  # far apart: no queueing
        decision = link.decide(size, "down", now)
        delays.append(decision.arrivals[0] - now)
    serialization = size * 8 / profile.rate_bps("down")
    low = (profile.latency_ms - profile.jitter_ms) / 1000 + serialization
    high = (profile.latency_ms + profile.jitter_ms) / 1000 + serialization
    assert low - 1e-9 <= min(delays) and max(delays) <= high + 1e-9
    assert statistics.median(delays) == pytest.approx(profile.latency_ms / 1000 + serialization,
                                                      abs=profile.jitter_ms / 1000 * 0.1)


def test_loss_rate_of_a_profile_is_its_configured_rate():
    link = LinkImpairment(PROFILES["weak-signal"], random.Random(3))
    drops = sum(not link.decide(100, "up", i * 10.0).delivered for i in range(40_000))
    assert drops / 40_000 == pytest.approx(0.10, abs=0.01)


def test_big_frames_queue_behind_each_other_and_overflow_is_tail_dropped():
    serializer = Serializer()
    rate = 8000.0  # 1000 bytes/s
    finishes = [serializer.enqueue(500, 0.0, rate, 2000) for _ in range(5)]
    assert finishes[:4] == [0.5, 1.0, 1.5, 2.0]
    assert finishes[4] is None  # 2000 bytes already waiting
    assert serializer.enqueue(500, 0.6, rate, 2000) == 2.5  # one left the buffer


def test_same_seed_same_decisions_and_no_service_drops_everything():
    def run(seed):
        link = LinkImpairment(LOSSY, random.Random(seed))
        return [link.decide(300, "up", i * 0.01) for i in range(500)]

    assert run(7) == run(7)
    assert run(7) != run(8)
    dead = LinkImpairment(PROFILES["no-service"], random.Random(1))
    assert dead.decide(10, "up", 0).dropped == "no-service"


def test_profile_change_applies_to_new_frames_only():
    link = LinkImpairment(PROFILES["gprs"], random.Random(4))
    slow = link.decide(100, "down", 0.0)
    link.profile = PROFILES["5g"]
    fast = link.decide(100, "down", 0.0)
    assert slow.arrivals[0] > 0.1 > fast.arrivals[0]


# ---- frames and the sans-IO channel -------------------------------------------------------------


def test_frames_round_trip_and_garbage_is_refused():
    frame = HopFrame(HopKind.DATA, 3, 42, b"payload")
    assert HopFrame.decode(frame.encode()) == frame
    data = frame.encode()
    for bad in (b"", data[:-1], b"XX" + data[2:], data[:10] + b"\xff" + data[11:]):
        with pytest.raises(FrameError):
            HopFrame.decode(bad)
    envelope = Envelope(EnvelopeKind.MESSAGE, bytes(16), "+1", "+2", b"hi")
    assert Envelope.decode(envelope.encode()) == envelope
    with pytest.raises(FrameError):
        Envelope.decode(b"\x01short")


def test_channel_delivers_in_order_exactly_once_over_a_bad_simulated_link():
    rng = random.Random(5)
    a, b = ReliableChannel(1), ReliableChannel(1)
    now, received = 0.0, []
    for i in range(300):
        a.send(f"m{i}".encode(), now)
    in_air: list[tuple[float, ReliableChannel, bytes]] = []
    while len(received) < 300 and now < 10_000:
        for sender, receiver in ((a, b), (b, a)):
            for frame in sender.transmit():
                if rng.random() < 0.3:
                    continue
                copies = 2 if rng.random() < 0.1 else 1
                for _ in range(copies):
                    in_air.append((now + rng.uniform(0.01, 0.2), receiver, frame))
        in_air.sort(key=lambda item: item[0])
        now += 0.05
        while in_air and in_air[0][0] <= now:
            _, receiver, frame = in_air.pop(0)
            events = receiver.receive(frame, now)
            received += [e.payload.decode() for e in events if isinstance(e, Delivered)]
        a.on_timeout(now)
        b.on_timeout(now)  # its delayed acknowledgements
    assert received == [f"m{i}" for i in range(300)]
    assert a.stats.retransmissions > 0 and b.stats.duplicates > 0


def test_frames_from_an_old_session_are_ignored():
    old, new = ReliableChannel(1), ReliableChannel(2)
    old.send(b"stale", 0.0)
    [frame] = old.transmit()
    assert new.receive(frame, 0.0) == []
    assert new.stats.stale == 1


# ---- the bus ------------------------------------------------------------------------------------


class Phone:
    """A test double of a handset: records what its modem tells it."""

    def __init__(self, bus: Bus, number: str, profile: LinkProfile) -> None:
        self.inbox: list[bytes] = []
        self.states: dict[bytes, list[str]] = {}
        self.modem = bus.attach(number, profile, on_message=self._message, on_state=self._state)

    def _message(self, envelope: Envelope) -> None:
        self.inbox.append(envelope.body)

    def _state(self, msg_id: bytes, state: str, reason: str) -> None:
        self.states.setdefault(msg_id, []).append(state if not reason else f"{state}: {reason}")


async def wait_until(predicate, timeout: float = 3600.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.5)


@pytest.mark.looptime
async def test_two_thousand_messages_at_30_percent_loss_arrive_once_and_in_order():
    bus = Bus(random.Random(11))
    alice, bob = Phone(bus, "+1", LOSSY), Phone(bus, "+2", LOSSY)
    ids = [alice.modem.send("+2", f"{i}".encode()) for i in range(2000)]
    await wait_until(lambda: len(bob.inbox) >= 2000 and all(
        "delivered" in alice.states.get(i, []) for i in ids))
    await asyncio.sleep(60)  # late duplicates would show up here
    assert bob.inbox == [f"{i}".encode() for i in range(2000)]
    assert all(alice.states[i][0] == "sent" and alice.states[i].count("delivered") == 1
               for i in ids)
    assert alice.modem.stats.frames_lost > 0 and bus.stats.garbled + bob.modem.stats.garbled > 0


@pytest.mark.looptime
async def test_unknown_number_fails_with_a_reason():
    bus = Bus(random.Random(1))
    alice = Phone(bus, "+1", PROFILES["lte"])
    msg = alice.modem.send("+999", b"hello?")
    await wait_until(lambda: len(alice.states.get(msg, [])) >= 2)
    assert alice.states[msg] == ["sent", "failed: unknown number +999"]


@pytest.mark.looptime
async def test_store_and_forward_across_airplane_mode_in_order():
    bus = Bus(random.Random(2))
    alice, bob = Phone(bus, "+1", PROFILES["lte"]), Phone(bus, "+2", PROFILES["lte"])
    bob.modem.set_airplane(True)
    assert bob.modem.registration == "unregistered" and bob.modem.bars == 0
    ids = [alice.modem.send("+2", f"{i}".encode()) for i in range(20)]
    await asyncio.sleep(3600)
    assert bob.inbox == [] and bus.stored_for("+2") == 20
    assert all(alice.states[i] == ["sent"] for i in ids)
    bob.modem.set_airplane(False)
    await wait_until(lambda: len(bob.inbox) == 20)
    assert bob.inbox == [f"{i}".encode() for i in range(20)]
    await wait_until(lambda: all(alice.states[i] == ["sent", "delivered"] for i in ids))


@pytest.mark.looptime
async def test_sender_without_service_holds_messages_until_it_has_service():
    bus = Bus(random.Random(3))
    alice, bob = Phone(bus, "+1", PROFILES["no-service"]), Phone(bus, "+2", PROFILES["lte"])
    msg = alice.modem.send("+2", b"later")
    await asyncio.sleep(600)
    assert msg not in alice.states and bob.inbox == []
    alice.modem.set_profile(PROFILES["3g"])
    await wait_until(lambda: alice.states.get(msg) == ["sent", "delivered"])
    assert bob.inbox == [b"later"]


@pytest.mark.looptime
async def test_stored_messages_expire_after_the_ttl_and_the_sender_is_told():
    bus = Bus(random.Random(4), ttl=3600)
    alice, bob = Phone(bus, "+1", PROFILES["lte"]), Phone(bus, "+2", PROFILES["lte"])
    bob.modem.set_airplane(True)
    msg = alice.modem.send("+2", b"too late")
    await asyncio.sleep(3601)
    assert alice.states[msg] == ["sent", "failed: expired in store-and-forward"]
    bob.modem.set_airplane(False)
    await asyncio.sleep(60)
    assert bob.inbox == []


@pytest.mark.looptime
async def test_a_full_mailbox_refuses_more():
    bus = Bus(random.Random(5), store_cap=3)
    alice, bob = Phone(bus, "+1", PROFILES["lte"]), Phone(bus, "+2", PROFILES["lte"])
    bob.modem.set_airplane(True)
    ids = [alice.modem.send("+2", b"x") for _ in range(4)]
    await asyncio.sleep(60)
    assert alice.states[ids[3]] == ["sent", "failed: +2 is unreachable and its mailbox is full"]
    assert bus.stored_for("+2") == 3


@pytest.mark.looptime
async def test_phone_that_vanishes_mid_transfer_loses_nothing():
    bus = Bus(random.Random(6))
    slow = replace(PROFILES["gprs"], loss=0.0, loss_burst=1.0)
    alice, bob = Phone(bus, "+1", PROFILES["lte"]), Phone(bus, "+2", slow)
    for i in range(50):
        alice.modem.send("+2", bytes([i]) * 300)
    await wait_until(lambda: len(bob.inbox) >= 5)
    bus.detach("+2")  # switched off with frames in the air and in its queue
    got = len(bob.inbox)
    assert got < 50 and bus.stored_for("+2") > 0
    bob.modem.set_powered(True)
    await wait_until(lambda: len(bob.inbox) >= 50)
    assert bob.inbox == [bytes([i]) * 300 for i in range(50)]


@pytest.mark.looptime
async def test_a_stalled_tap_reader_does_not_block_delivery():
    bus = Bus(random.Random(7))
    alice, bob = Phone(bus, "+1", PROFILES["lte"]), Phone(bus, "+2", PROFILES["lte"])
    records = bus.tap.records(maxsize=10)
    first = asyncio.ensure_future(anext(records))  # subscribes, then never reads again
    await asyncio.sleep(0)
    for i in range(200):
        alice.modem.send("+2", f"{i}".encode())
    await wait_until(lambda: len(bob.inbox) == 200)
    assert bus.tap.dropped > 0 and bus.tap.total >= 400
    await first
    await records.aclose()


@pytest.mark.looptime
async def test_tap_shows_metadata_and_ciphertext_only():
    bus = Bus(random.Random(8))
    alice, bob = Phone(bus, "+1", PROFILES["lte"]), Phone(bus, "+2", PROFILES["lte"])
    alice.modem.send("+2", b"opaque-body")
    await wait_until(lambda: bob.inbox == [b"opaque-body"])
    data = [r for r in bus.tap.recent if r.kind == "data"]
    assert {(r.direction, r.src, r.dst) for r in data} >= {("up", "+1", "+2"),
                                                           ("down", "+1", "+2")}
    assert all(r.cell == "lte-1" and r.size == len(r.data) for r in bus.tap.recent)


@pytest.mark.looptime
async def test_garbled_frames_are_counted_and_dropped():
    bus = Bus(random.Random(9))
    alice, bob = Phone(bus, "+1", PROFILES["lte"]), Phone(bus, "+2", PROFILES["lte"])
    bus._network_receive("+1", b"\x00garbage")
    bus._network_receive("+1", HopFrame(HopKind.DATA, 1, 0, b"\x09bad").encode()[:-2])
    alice.modem._receive(b"PT\x01\x01junk")
    await asyncio.sleep(0)  # the frames of a loop tick are taken together, at its end
    assert bus.stats.garbled == 2 and alice.modem.stats.garbled == 1
    alice.modem.send("+2", b"still works")
    await wait_until(lambda: bob.inbox == [b"still works"])


def test_envelope_claiming_another_sender_is_dropped():
    async def scenario():
        bus = Bus(random.Random(10))
        Phone(bus, "+1", PROFILES["lte"])
        bob = Phone(bus, "+2", PROFILES["lte"])
        forged = Envelope(EnvelopeKind.MESSAGE, bytes(16), "+3", "+2", b"spoof").encode()
        bus._route("+1", forged)
        await asyncio.sleep(0.5)
        return bob.inbox, bus.stats.rejected

    assert asyncio.run(scenario()) == ([], 1)


@pytest.mark.looptime
async def test_key_directory_echo_service_and_keep_alive():
    from phone_tui.modem.bus import ECHO_NUMBER

    bus = Bus(random.Random(12))
    alice = Phone(bus, "+1", PROFILES["3g"])
    bus.publish_keys("+1", b"bundle-1", {7: b"opk-7"})
    assert bus.fetch_keys("+1") == (b"bundle-1", (7, b"opk-7"))
    assert bus.fetch_keys("+1") == (b"bundle-1", None)  # each one-time key goes out once
    assert bus.fetch_keys("+2") is None and bus.one_time_keys_left("+1") == 0
    msg = alice.modem.send(ECHO_NUMBER, b"ping?")
    await wait_until(lambda: alice.inbox == [b"ping?"])
    await wait_until(lambda: alice.states.get(msg) == ["sent", "delivered"])
    before = len(alice.modem.stats.rtt)
    alice.modem.ping()
    await asyncio.sleep(5)
    assert len(alice.modem.stats.rtt) == before + 1
    assert 0.2 < alice.modem.stats.rtt[-1][1] < 0.5  # 3G: 150 ± 50 ms each way


@pytest.mark.looptime
async def test_a_link_too_bad_for_the_retry_cap_fails_the_message_with_the_reason():
    bus = Bus(random.Random(13))
    hopeless = replace(PROFILES["lte"], loss=0.999, loss_burst=1 / 0.001)
    alice, _bob = Phone(bus, "+1", hopeless), Phone(bus, "+2", PROFILES["lte"])
    msg = alice.modem.send("+2", b"into the void")
    await asyncio.sleep(3600)
    [state] = alice.states[msg]
    assert state.startswith("failed: the network did not answer (no acknowledgement after 24")


@pytest.mark.looptime
@pytest.mark.parametrize("name", ["gprs", "edge", "3g", "4g-slow", "lte", "5g", "weak-signal"])
async def test_message_delivery_time_through_the_bus_follows_the_profile(name):
    """Up one link and down the other: two one-way delays, on fast-forwarded loop time."""
    loop = asyncio.get_running_loop()
    profile = replace(PROFILES[name], loss=0.0, loss_burst=1.0)
    bus = Bus(random.Random(14))
    times: list[float] = []
    alice = Phone(bus, "+1", profile)
    bob = bus.attach("+2", profile, on_message=lambda _e: times.append(loop.time()),
                     on_state=lambda *_: None)
    assert bob.in_service
    delays = []
    for _ in range(40):
        sent, seen = loop.time(), len(times)
        alice.modem.send("+2", b"x" * 100)
        await wait_until(lambda seen=seen: len(times) > seen)
        delays.append(times[-1] - sent)
        await asyncio.sleep(30)
    size = 200  # about a frame's size on the wire with headers
    serialization = size * 8 / profile.rate_bps("up") + size * 8 / profile.rate_bps("down")
    low = 2 * (profile.latency_ms - profile.jitter_ms) / 1000
    high = 2 * (profile.latency_ms + profile.jitter_ms) / 1000 + serialization
    assert low <= min(delays) and max(delays) <= high + 1e-3
    expected = 2 * profile.latency_ms / 1000 + serialization / 2
    assert statistics.median(delays) == pytest.approx(expected, abs=max(0.002, 0.5 * (
        profile.jitter_ms / 1000) + serialization))


@pytest.mark.looptime
async def test_call_signalling_to_a_line_off_the_network_says_unavailable_and_waits():
    bus = Bus(random.Random(21))
    alice, bob = Phone(bus, "+1", PROFILES["lte"]), Phone(bus, "+2", PROFILES["lte"])
    kinds: list[EnvelopeKind] = []
    bob.modem._on_message = lambda envelope: (kinds.append(envelope.kind),
                                              bob.inbox.append(envelope.body))
    bob.modem.set_powered(False)  # the OS that is not running
    call = alice.modem.send("+2", b"offer", kind=EnvelopeKind.CALL)
    message = alice.modem.send("+2", b"text")
    await wait_until(lambda: len(alice.states.get(call, [])) >= 2)
    await asyncio.sleep(60)
    assert alice.states[call] == ["sent", "unavailable: +2 is not reachable now"]
    assert alice.states[message] == ["sent"]  # a message just waits, as before
    bob.modem.set_powered(True)
    await wait_until(lambda: len(bob.inbox) == 2 and "delivered" in alice.states[message])
    assert bob.inbox == [b"offer", b"text"] and kinds == [EnvelopeKind.CALL,
                                                          EnvelopeKind.MESSAGE]


@pytest.mark.looptime
async def test_call_signalling_to_a_registered_line_is_delivered_like_a_message():
    bus = Bus(random.Random(22))
    alice, bob = Phone(bus, "+1", PROFILES["gprs"]), Phone(bus, "+2", PROFILES["lte"])
    call = alice.modem.send("+2", b"offer", kind=EnvelopeKind.CALL)
    await wait_until(lambda: alice.states.get(call) == ["sent", "delivered"])
    assert bob.inbox == [b"offer"]
    with pytest.raises(ValueError, match="PING"):
        alice.modem.send("+2", b"", kind=EnvelopeKind.PING)

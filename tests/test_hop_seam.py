"""The hop seam between a phone and the carrier (``modem/network.py``): a carrier and phones
joined by another transport than the in-process ``Bus`` (a broker-like relay that passes only
bytes and plain values, a turn of the loop later) still deliver exactly once and in order, and
the link's impairment runs on the phone's side of it."""

from __future__ import annotations

import asyncio
import random
from collections import deque

import pytest
from test_modem import LOSSY, PROFILES, wait_until

from phone_tui.modem.carrier import Carrier
from phone_tui.modem.frames import Envelope
from phone_tui.modem.modem import Modem
from phone_tui.modem.network import PhoneEnd, Uplink
from phone_tui.modem.profiles import LinkProfile
from phone_tui.modem.tap import OperatorTap

BROKER_DELAY = 0.005  # a broker's own hop, each way


class Relay:
    """One phone's seam over a pretend broker: each call crosses as (method, plain values) and
    takes effect ``BROKER_DELAY`` later on the other side; what crossed is recorded."""

    def __init__(self) -> None:
        self.crossed: list[tuple[str, str, object]] = []  # side reached, method, argument
        self._queue: deque[tuple[object, str, tuple[object, ...]]] = deque()

    def _cross(self, side: str, target: object, method: str, *args: object) -> None:
        for arg in args:
            assert isinstance(arg, bytes | int | bool)  # nothing but what a wire carries
        self.crossed.append((side, method, args[0] if args else None))
        # In order, as a broker keeps one client's messages (timers due at the same time may
        # fire in any order: each takes the oldest call waiting).
        self._queue.append((target, method, args))
        asyncio.get_running_loop().call_later(BROKER_DELAY, self._arrive)

    def _arrive(self) -> None:
        target, method, args = self._queue.popleft()
        getattr(target, method)(*args)

    def uplink(self, carrier_end: Uplink) -> Uplink:
        relay = self

        class Up:
            def send(self, frame: bytes) -> None:
                relay._cross("carrier", carrier_end, "send", bytes(frame))

            def registration(self, in_service: bool) -> None:
                relay._cross("carrier", carrier_end, "registration", in_service)

            def restart_session(self) -> None:
                relay._cross("carrier", carrier_end, "restart_session")

        return Up()

    def phone_end(self, phone_end: PhoneEnd) -> PhoneEnd:
        relay = self

        class Down:
            def deliver(self, frame: bytes) -> None:
                relay._cross("phone", phone_end, "deliver", bytes(frame))

            def opened(self, session: int) -> None:
                relay._cross("phone", phone_end, "opened", session)

            def closed(self) -> None:
                relay._cross("phone", phone_end, "closed")

        return Down()


class RemotePhone:
    """A phone on a carrier reached only through the seam, as a trainee's process would be."""

    def __init__(self, carrier: Carrier, number: str, profile: LinkProfile, seed: int) -> None:
        self.inbox: list[bytes] = []
        self.states: dict[bytes, list[str]] = {}
        self.relay = Relay()
        self.modem = Modem(number, profile, random.Random(seed), self._message, self._state)
        carrier_end = carrier.connect(number, self.relay.phone_end(self.modem.radio))
        self.modem.connect(self.relay.uplink(carrier_end))

    def _message(self, envelope: Envelope) -> None:
        self.inbox.append(envelope.body)

    def _state(self, msg_id: bytes, state: str, reason: str) -> None:
        self.states.setdefault(msg_id, []).append(state if not reason else f"{state}: {reason}")


@pytest.mark.looptime
async def test_phones_behind_another_transport_get_every_message_once_and_in_order():
    carrier = Carrier(random.Random(21))
    alice = RemotePhone(carrier, "+1", LOSSY, 1)
    bob = RemotePhone(carrier, "+2", LOSSY, 2)
    await asyncio.sleep(1)
    assert carrier.is_registered("+1") and carrier.is_registered("+2")
    ids = [alice.modem.send("+2", b"%d" % i) for i in range(300)]
    await wait_until(lambda: len(bob.inbox) >= 300 and all(
        "delivered" in alice.states.get(i, []) for i in ids))
    await asyncio.sleep(60)  # late duplicates would show up here
    assert bob.inbox == [b"%d" % i for i in range(300)]
    assert all(alice.states[i][0] == "sent" and alice.states[i].count("delivered") == 1
               for i in ids)


@pytest.mark.looptime
async def test_store_and_forward_and_registration_cross_the_seam():
    carrier = Carrier(random.Random(22))
    alice = RemotePhone(carrier, "+1", PROFILES["lte"], 1)
    bob = RemotePhone(carrier, "+2", PROFILES["lte"], 2)
    bob.modem.set_airplane(True)
    await asyncio.sleep(1)
    assert not carrier.is_registered("+2")
    msg = alice.modem.send("+2", b"later")
    await asyncio.sleep(600)
    assert carrier.stored_for("+2") == 1 and alice.states[msg] == ["sent"]
    bob.modem.set_airplane(False)
    await wait_until(lambda: alice.states.get(msg) == ["sent", "delivered"])
    assert bob.inbox == [b"later"]
    assert ("phone", "closed", None) in bob.relay.crossed  # its session closed at the carrier


@pytest.mark.looptime
async def test_the_link_impairment_runs_on_the_phone_side_of_the_seam():
    carrier = Carrier(random.Random(23))
    carrier.tap = OperatorTap(history=1 << 16)  # keeps every frame of the test
    lossy = RemotePhone(carrier, "+1", LOSSY, 3)
    clean = RemotePhone(carrier, "+2", PROFILES["full"], 4)
    ids = [lossy.modem.send("+2", b"%d" % i) for i in range(100)]
    ids += [clean.modem.send("+1", b"%d" % i) for i in range(100)]
    await wait_until(lambda: len(lossy.inbox) >= 100 and len(clean.inbox) >= 100)
    await asyncio.sleep(60)
    crossed = lossy.relay.crossed
    up = [frame for side, method, frame in crossed if side == "carrier" and method == "send"]
    down = [frame for side, method, frame in crossed if side == "phone" and method == "deliver"]
    tapped_up = [r.data for r in carrier.tap.recent if r.phone == "+1" and r.direction == "up"]
    tapped_down = [r.data for r in carrier.tap.recent if r.phone == "+1" and r.direction == "down"]
    assert len(carrier.tap.recent) < 1 << 16
    # Up: only what survived the phone's link crossed (the carrier taps it as it arrives); down:
    # every frame the carrier sent crossed clean, and the phone's link then lost some.
    assert up == tapped_up and down == tapped_down
    assert lossy.modem.stats.frames_lost > 0
    assert len(up) + len(down) < lossy.modem.stats.frames_sent

"""At most one hop window of envelopes is in flight to a phone; the rest wait in
store-and-forward, so its cap and its TTL hold for a phone that is registered but slow: a flood
cannot fill the carrier's memory and file, and what is accepted is delivered in order."""

from __future__ import annotations

import asyncio
import random

import pytest

from phone_tui.modem.bus import Bus
from phone_tui.modem.frames import Envelope, EnvelopeKind
from phone_tui.modem.mailbox import MAILBOX_FILE, load_mailboxes
from phone_tui.modem.profiles import LinkProfile

FAST = LinkProfile("fast", "Fast", latency_ms=5, jitter_ms=0, loss=0, loss_burst=1,
                   down_kbps=0, up_kbps=0)
SLOW = LinkProfile("slow", "Slow", latency_ms=100, jitter_ms=0, loss=0, loss_burst=1,
                   down_kbps=80, up_kbps=80)  # a 1 KB envelope takes ~0.1 s
WINDOW = 32


def route(bus: Bus, src: str, tag: bytes) -> bytes:
    """An envelope from ``src`` to +2 reaching the carrier (its body says which it is)."""
    envelope = Envelope(EnvelopeKind.MESSAGE, bus.rng.randbytes(16), src, "+2",
                        tag + bytes(1000 - len(tag)))
    bus._deliver_or_store("+2", envelope.encode(), envelope)
    return tag


def attach_senders(bus: Bus) -> dict[str, list[str]]:
    """+1 (genuine) and +666 (the flood), both on; what each is told, by reason."""
    told: dict[str, list[str]] = {"+1": [], "+666": []}
    for number in told:
        bus.attach(number, FAST, on_message=lambda _e: None,
                   on_state=lambda _m, state, reason, n=number: told[n].append(
                       f"{state}: {reason}"))
    return told


@pytest.mark.looptime
async def test_a_flood_to_a_slow_registered_phone_keeps_a_window_in_flight_and_the_store_capped(
        tmp_path):
    folder = tmp_path / "network"
    bus = Bus(random.Random(1), folder=folder, store_cap=1000, ttl=24 * 3600)
    told = attach_senders(bus)
    got: list[bytes] = []
    bus.attach("+2", SLOW, on_message=lambda e: got.append(e.body[:8].rstrip(b"\0")),
               on_state=lambda *_a: None)
    await asyncio.sleep(1)
    sent = [route(bus, "+666", b"f%d" % n) for n in range(500)]
    sent.append(route(bus, "+1", b"genuine"))
    sent += [route(bus, "+666", b"f%d" % n) for n in range(500, 5000)]
    sub = bus._subscribers["+2"]
    for _ in range(30):
        await asyncio.sleep(1)
        assert len(sub.in_flight) <= WINDOW
        assert bus.stored_for("+2") <= bus.store_cap
        rows = load_mailboxes(folder / MAILBOX_FILE).get("+2", [])
        assert len(rows) <= WINDOW + bus.store_cap
    assert bus.stats.rejected >= 5000 - WINDOW - bus.store_cap
    refused = [t for t in told["+666"] if t == "failed: +2 is unreachable and its mailbox is full"]
    assert refused  # the excess is refused, and its sender told
    assert not any(t.startswith("failed") for t in told["+1"])  # the genuine one was accepted
    await asyncio.sleep(1200)
    accepted = sent[:WINDOW + bus.store_cap]
    assert got == accepted  # in order, each once, the genuine one in its place
    assert got.index(b"genuine") == 500
    assert told["+1"] == ["delivered: "]
    assert load_mailboxes(folder / MAILBOX_FILE).get("+2", []) == []
    bus.close()


@pytest.mark.looptime
async def test_envelopes_waiting_for_a_slow_registered_phone_expire_with_a_report(tmp_path):
    folder = tmp_path / "network"
    bus = Bus(random.Random(1), folder=folder, ttl=60, store_cap=2000)
    told = attach_senders(bus)
    got: list[bytes] = []
    bus.attach("+2", SLOW, on_message=lambda e: got.append(e.body[:8].rstrip(b"\0")),
               on_state=lambda *_a: None)
    await asyncio.sleep(1)
    sent = [route(bus, "+666", b"f%d" % n) for n in range(1200)]  # ~120 s of link
    await asyncio.sleep(200)
    expired = [t for t in told["+666"] if t == "failed: expired in store-and-forward"]
    assert bus.stats.expired == len(expired) > 0
    assert len(got) + len(expired) == len(sent)
    assert got == sent[:len(got)]  # what was delivered came in order
    assert load_mailboxes(folder / MAILBOX_FILE).get("+2", []) == []
    bus.close()

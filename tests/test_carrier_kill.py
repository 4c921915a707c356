"""The carrier's mailbox is its durable queue: an envelope leaves the file only when the
recipient's hop acknowledges it, so a carrier SIGKILLed at any point delivers everything its
senders were told was sent after a restart (a redelivery is de-duplicated by the phone)."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from phone_tui.core.clock import ManualClock
from phone_tui.core.entropy import SystemEntropy
from phone_tui.crypto.identity import IdentityKeys
from phone_tui.handset.events import EventStream
from phone_tui.handset.messenger import Messenger
from phone_tui.modem.bus import Bus
from phone_tui.modem.frames import Envelope, EnvelopeKind
from phone_tui.modem.mailbox import MAILBOX_FILE, MailboxFile, load_mailboxes
from phone_tui.modem.profiles import LinkProfile, load_profiles
from phone_tui.store.database import PersonaStore

ROOT = Path(__file__).resolve().parents[1]
FAST = LinkProfile("fast", "Fast", latency_ms=5, jitter_ms=0, loss=0, loss_burst=1,
                   down_kbps=0, up_kbps=0)
N = 12

# A carrier with two lines: +1 sends N messages to +2, which is off (or, for "direct", on) and
# on a slow link; the process SIGKILLs itself at ``point``. What +2's phone took and what +1 was
# told was sent go to ``log`` as they happen.
CHILD = r'''
import asyncio, os, random, signal, sys, time
from pathlib import Path
from phone_tui.modem.bus import Bus
from phone_tui.modem.profiles import LinkProfile

FAST = LinkProfile("fast", "Fast", 5, 0, 0, 1, 0, 0)
SLOW = LinkProfile("slow", "Slow", 100, 0, 0, 1, 80, 80)  # ~0.1 s a message, and the latency
folder, point, log, n = Path(sys.argv[1]), sys.argv[2], open(sys.argv[3], "a"), int(sys.argv[4])

def note(kind, msg_id):
    log.write(f"{kind} {msg_id.hex()}\n")
    log.flush()

async def until(condition):
    deadline = time.monotonic() + 10
    while not condition():
        if time.monotonic() > deadline:
            sys.exit(3)
        await asyncio.sleep(0.001)

def kill():
    os.kill(os.getpid(), signal.SIGKILL)

async def main():
    bus = Bus(random.Random(1), folder=folder)
    taken, sent = [], set()
    def on_message(envelope):
        taken.append(envelope.msg_id)
        note("taken", envelope.msg_id)
    def on_state(msg_id, state, reason):
        if state == "sent":
            sent.add(msg_id)
            note("sent", msg_id)
    rx = bus.attach("+2", SLOW, on_message=on_message, on_state=lambda *a: None,
                    powered=point == "direct")
    tx = bus.attach("+1", FAST, on_message=lambda e: None, on_state=on_state)
    await asyncio.sleep(0.3)  # registered; a direct route now goes straight down to +2
    ids = [tx.send("+2", os.urandom(900)) for _ in range(n)]
    await until(lambda: sent == set(ids))
    if point == "direct":
        kill()  # told "sent"; still on the slow link to +2
    rx.set_powered(True)  # +2 registers: the carrier hands its mailbox over
    if point == "registration":
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # the tick's save has run
        kill()
    await until(lambda: len(taken) >= 3)
    kill()  # mid-handover

asyncio.run(main())
'''


def run_and_kill(folder: Path, point: str, tmp_path: Path) -> tuple[list[bytes], list[bytes]]:
    """Run the child carrier until it kills itself; what +1 was told was sent and what +2's
    phone took, in order."""
    log = tmp_path / f"{point}.log"
    log.touch()
    child = subprocess.run([sys.executable, "-c", CHILD, str(folder), point, str(log), str(N)],
                           env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=30,
                           capture_output=True, text=True)
    assert child.returncode == -9, child.stderr  # SIGKILLed where it meant to be
    sent, taken = [], []
    for line in log.read_text().splitlines():
        kind, msg_id = line.split()
        (sent if kind == "sent" else taken).append(bytes.fromhex(msg_id))
    return sent, taken


async def restart_and_deliver(folder: Path, taken: list[bytes]) -> list[bytes]:
    """A new carrier on the same folder; +2's phone keeps what it took before (by msg_id) and
    takes the rest. Returns what it took in this run."""
    seen = set(taken)
    fresh: list[bytes] = []

    def on_message(envelope: Envelope) -> None:
        if envelope.msg_id not in seen:
            seen.add(envelope.msg_id)
            fresh.append(envelope.msg_id)

    bus = Bus(random.Random(2), folder=folder)
    bus.attach("+2", FAST, on_message=on_message, on_state=lambda *_a: None)
    bus.attach("+1", FAST, on_message=lambda _e: None, on_state=lambda *_a: None)
    await asyncio.sleep(30)
    assert bus.stored_for("+2") == 0
    bus.close()
    # Everything was acknowledged: nothing is left in the file to deliver a third time.
    assert load_mailboxes(folder / MAILBOX_FILE).get("+2", []) == []
    return fresh


@pytest.mark.looptime
@pytest.mark.parametrize("point", ["registration", "handover", "direct"])
async def test_a_carrier_killed_handing_messages_over_delivers_each_once_after_a_restart(
        tmp_path, point):
    folder = tmp_path / "carrier"
    sent, taken = run_and_kill(folder, point, tmp_path)
    assert len(sent) == N  # every sender was told "sent" before the kill
    if point == "handover":
        assert 3 <= len(taken) < N
    elif point == "direct":
        assert len(taken) < N
    fresh = await restart_and_deliver(folder, taken)
    assert len(taken) == len(set(taken))
    assert sorted(taken + fresh) == sorted(sent)  # each one, exactly once, none lost


@pytest.mark.looptime
async def test_messages_to_a_phone_that_is_on_write_and_delete_each_envelope_once(
        tmp_path, monkeypatch):
    """Routed straight down to a registered phone, each envelope is one row written (before
    its sender hears "sent") and one row deleted (when the phone acknowledges it)."""
    inserted, deleted = [], []
    apply = MailboxFile.apply

    def counting(self, inserts, deletes):  # noqa: ANN001, ANN202
        inserted.extend(len(envelope) for *_, envelope in inserts)
        deleted.extend(deletes)
        return apply(self, inserts, deletes)

    monkeypatch.setattr(MailboxFile, "apply", counting)
    bus = Bus(random.Random(1), folder=tmp_path / "network")
    got = []
    bus.attach("+2", FAST, on_message=got.append, on_state=lambda *_a: None)
    await asyncio.sleep(1)
    count, body = 200, bytes(20_000)
    for n in range(count):
        envelope = Envelope(EnvelopeKind.MESSAGE, n.to_bytes(16, "big"), "+1", "+2", body)
        bus._deliver_or_store("+2", envelope.encode(), envelope)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    await asyncio.sleep(30)
    bus.close()
    assert [e.msg_id for e in got] == [n.to_bytes(16, "big") for n in range(count)]
    assert len(inserted) == count and sum(inserted) < count * 21_000
    assert len(deleted) == len(set(deleted)) == count
    assert load_mailboxes(tmp_path / "network" / MAILBOX_FILE) == {}


class _Phone:
    """A messenger on ``bus`` over a store that outlives it (the phone keeps running while its
    carrier restarts)."""

    def __init__(self, bus: Bus, number: str, store: PersonaStore, identity: IdentityKeys,
                 clock: ManualClock, on_envelope=None) -> None:  # noqa: ANN001
        self.messenger: Messenger | None = None
        self.taken: list[Envelope] = []

        def on_message(envelope: Envelope) -> None:
            self.taken.append(envelope)
            self.messenger.on_envelope(envelope)

        self.modem = bus.attach(number, load_profiles()["lte"], on_message=on_message,
                                on_state=lambda *args: self.messenger.on_state(*args))
        self.messenger = Messenger(number=number, persona="secure", store=store,
                                   identity=identity, network=bus, modem=self.modem,
                                   entropy=SystemEntropy(), clock=clock, events=EventStream(),
                                   save_identity=lambda _identity: None)
        self.messenger.publish_keys()

    def texts(self, number: str) -> list[str]:
        return [m.body for m in self.messenger.history(number) if not m.outgoing]


@pytest.mark.looptime
async def test_a_message_redelivered_after_a_carrier_restart_is_shown_once(tmp_path):
    """A carrier killed after the phone took a message but before its acknowledgement came
    back delivers it again; the messenger shows it once (the ratchet refuses the replay, texts
    are de-duplicated by uuid) and the conversation goes on."""
    entropy, clock = SystemEntropy(), ManualClock()
    folder = tmp_path / "carrier"
    stores = {n: PersonaStore(tmp_path / f"{n}.db", entropy.token_bytes(32)) for n in "12"}
    ids = {n: IdentityKeys.generate(entropy, clock.now()) for n in "12"}
    bus = Bus(random.Random(1), folder=folder)
    alice = _Phone(bus, "+1", stores["1"], ids["1"], clock)
    bob = _Phone(bus, "+2", stores["2"], ids["2"], clock)
    alice.messenger.send_text("+2", "first")
    alice.messenger.send_text("+2", "second")
    await asyncio.sleep(30)
    assert bob.texts("+1") == ["first", "second"]
    taken = [e for e in bob.taken if e.src == "+1"]
    # The carrier dies (no close()); what it had not seen acknowledged is still in its file,
    # as if the kill came between the phone taking these and its acknowledgement arriving.
    bus._mailbox.close()
    mailbox = MailboxFile(folder / MAILBOX_FILE)
    mailbox.apply([("+2", 1000 + i, 1e12, e.encode()) for i, e in enumerate(taken)], [])
    mailbox.close()

    bus = Bus(random.Random(2), folder=folder)
    alice = _Phone(bus, "+1", stores["1"], ids["1"], clock)
    bob = _Phone(bus, "+2", stores["2"], ids["2"], clock)
    await asyncio.sleep(30)
    assert [e.msg_id for e in bob.taken] == [e.msg_id for e in taken]  # delivered again...
    assert bob.texts("+1") == ["first", "second"]  # ...and shown once, with no warning
    alice.messenger.send_text("+2", "third")
    await asyncio.sleep(30)
    assert bob.texts("+1") == ["first", "second", "third"]
    bus.close()


@pytest.mark.looptime
async def test_a_phone_that_drops_off_mid_handover_gets_the_rest_in_order_from_the_same_rows(
        tmp_path, monkeypatch):
    """What was in flight goes back to the front of the queue as the rows it already was: no
    envelope is written twice, and the phone gets every one, in order, once."""
    inserted, deleted = [], []
    apply = MailboxFile.apply

    def counting(self, inserts, deletes):  # noqa: ANN001, ANN202
        inserted.extend(envelope for *_, envelope in inserts)
        deleted.extend(deletes)
        return apply(self, inserts, deletes)

    monkeypatch.setattr(MailboxFile, "apply", counting)
    slow = LinkProfile("slow", "Slow", latency_ms=100, jitter_ms=0, loss=0, loss_burst=1,
                       down_kbps=80, up_kbps=80)
    bus = Bus(random.Random(1), folder=tmp_path / "network")
    got = []
    phone = bus.attach("+2", slow, on_message=got.append, on_state=lambda *_a: None,
                       powered=False)
    count = 20
    for n in range(count):
        envelope = Envelope(EnvelopeKind.MESSAGE, n.to_bytes(16, "big"), "+1", "+2", bytes(900))
        bus._deliver_or_store("+2", envelope.encode(), envelope)
    await asyncio.sleep(1)
    phone.set_powered(True)
    await asyncio.sleep(0.6)
    assert 0 < len(got) < count
    phone.set_powered(False)  # mid-handover
    await asyncio.sleep(1)
    # Back in the queue: all it had not acknowledged (one it took may not have been yet).
    assert count - len(got) <= bus.stored_for("+2") < count
    entries = load_mailboxes(tmp_path / "network" / MAILBOX_FILE)["+2"]
    assert len(entries) == bus.stored_for("+2")
    phone.set_powered(True)
    await asyncio.sleep(30)
    bus.close()
    assert sorted({e.msg_id for e in got}) == [e.msg_id for e in got]  # in order...
    assert len(got) == count  # ...each once (the modem de-duplicates a redelivery)
    assert len(inserted) == len(set(inserted)) == count and len(deleted) == count
    assert load_mailboxes(tmp_path / "network" / MAILBOX_FILE) == {}

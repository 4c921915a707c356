"""A mailbox save that fails (a full disk, the file locked by another process) keeps its batch
and is tried again later: nothing a sender was told was sent is lost, and a busy file never
freezes the carrier's event loop."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time

import pytest

from phone_tui.modem.bus import Bus
from phone_tui.modem.frames import Envelope, EnvelopeKind
from phone_tui.modem.mailbox import MAILBOX_FILE, MailboxFile, load_mailboxes
from phone_tui.modem.profiles import LinkProfile

FAST = LinkProfile("fast", "Fast", latency_ms=5, jitter_ms=0, loss=0, loss_burst=1,
                   down_kbps=0, up_kbps=0)


def carrier(folder) -> tuple[Bus, list]:  # noqa: ANN001
    """+1 on, +2 off (what +1 sends it must wait in the file); +1's states in the list."""
    bus = Bus(random.Random(1), folder=folder)
    states: list = []
    sender = bus.attach("+1", FAST, on_message=lambda _e: None,
                        on_state=lambda _m, state, _r: states.append(state))
    bus.attach("+2", FAST, on_message=lambda _e: None, on_state=lambda *_a: None, powered=False)
    return bus, [sender, states]


def held_for_two(folder) -> list[bytes]:  # noqa: ANN001
    return [Envelope.decode(entry.envelope).body
            for entry in load_mailboxes(folder / MAILBOX_FILE).get("+2", [])]


@pytest.mark.looptime
async def test_a_mailbox_save_that_fails_once_is_written_at_the_retry_and_survives_a_restart(
        tmp_path, monkeypatch, caplog):
    folder = tmp_path / "network"
    bus, (sender, states) = carrier(folder)
    await asyncio.sleep(1)
    errors: list = []
    asyncio.get_running_loop().set_exception_handler(lambda _l, ctx: errors.append(ctx))
    real, failures = MailboxFile.apply, [1]

    def apply(self, inserts, deletes):  # noqa: ANN001, ANN202
        if failures[0]:
            failures[0] -= 1
            raise sqlite3.OperationalError("database or disk is full")
        return real(self, inserts, deletes)

    monkeypatch.setattr(MailboxFile, "apply", apply)
    sender.send("+2", b"keep this for +2")
    await asyncio.sleep(0.2)
    assert failures == [0] and held_for_two(folder) == []  # the first save failed
    await asyncio.sleep(1)  # the retry (0.5 s later)
    assert held_for_two(folder) == [b"keep this for +2"]
    assert errors == [] and "sent" in states
    assert "keep this" not in caplog.text and "could not save 1 envelope" in caplog.text
    bus.close()
    again = Bus(random.Random(2), folder=folder)
    assert again.stored_for("+2") == 1
    again.close()


@pytest.mark.looptime
async def test_a_mailbox_locked_by_another_process_does_not_block_the_loop_and_lands_later(
        tmp_path, monkeypatch):
    folder = tmp_path / "network"
    bus, (sender, _states) = carrier(folder)
    await asyncio.sleep(1)
    attempts: list[float] = []
    real = MailboxFile.apply

    def timed(self, inserts, deletes):  # noqa: ANN001, ANN202
        start = time.perf_counter()
        try:
            return real(self, inserts, deletes)
        finally:
            attempts.append(time.perf_counter() - start)

    monkeypatch.setattr(MailboxFile, "apply", timed)
    other = sqlite3.connect(folder / MAILBOX_FILE, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        sender.send("+2", b"wait for the lock")
        await asyncio.sleep(20)
        assert len(attempts) >= 3  # tried, backing off (0.5, 1, 2, 4, 8 s...)
        assert len(attempts) <= 8
        assert max(attempts) < 0.2  # each attempt gives up fast (not sqlite's 5 s)
        assert held_for_two(folder) == []
    finally:
        other.execute("ROLLBACK")
        other.close()
    await asyncio.sleep(11)  # the next retry, at most 10 s later
    assert held_for_two(folder) == [b"wait for the lock"]
    bus.close()


@pytest.mark.looptime
async def test_acknowledged_rows_whose_delete_failed_are_deleted_at_the_retry(
        tmp_path, monkeypatch):
    folder = tmp_path / "network"
    bus = Bus(random.Random(1), folder=folder)
    phone = bus.attach("+2", FAST, on_message=lambda _e: None, on_state=lambda *_a: None,
                       powered=False)
    envelope = Envelope(EnvelopeKind.MESSAGE, bytes(16), "+1", "+2", b"x")
    await asyncio.sleep(0)
    bus._deliver_or_store("+2", envelope.encode(), envelope)
    await asyncio.sleep(1)
    assert len(held_for_two(folder)) == 1
    real, failures = MailboxFile.apply, [1]

    def apply(self, inserts, deletes):  # noqa: ANN001, ANN202
        if deletes and failures[0]:
            failures[0] -= 1
            raise sqlite3.OperationalError("database is locked")
        return real(self, inserts, deletes)

    monkeypatch.setattr(MailboxFile, "apply", apply)
    phone.set_powered(True)  # takes it and acknowledges it: the delete fails once
    await asyncio.sleep(0.3)
    assert failures == [0] and len(held_for_two(folder)) == 1
    await asyncio.sleep(1)
    assert held_for_two(folder) == []
    bus.close()

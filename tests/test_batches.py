"""One store transaction per batch of work: WAL, a burst of frames committed once, the live
sessions written once per batch, memory and disk in step after a rollback, nothing on the air
(ciphertext, "delivered", the hop ack) before the commit it depends on."""

from __future__ import annotations

import contextlib
import random
from unittest import mock

import pytest
import sqlcipher3
from test_messenger import E, Phone, settle

from phone_tui.core.clock import ManualClock
from phone_tui.handset.messenger import TextPayload
from phone_tui.modem.bus import Bus
from phone_tui.modem.channel import Delivered
from phone_tui.modem.frames import Envelope, EnvelopeKind, HopFrame, HopKind
from phone_tui.store.database import PersonaStore


class BatchedPhone(Phone):
    """A phone whose modem takes a burst of frames as one batch, as a Handset's does."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.modem.batch = self.messenger.batch


@pytest.fixture
def pair(tmp_path):
    clock = ManualClock()
    bus = Bus(random.Random(3))
    return bus, BatchedPhone(bus, "+1", tmp_path, clock), BatchedPhone(bus, "+2", tmp_path, clock)


class Trace:
    """Every statement a store runs, and whether a transaction was open when it started."""

    def __init__(self, store: PersonaStore) -> None:
        self.store = store
        self.statements: list[tuple[str, bool]] = []
        store._db.set_trace_callback(self._seen)

    def _seen(self, sql: str) -> None:
        self.statements.append((sql.strip(), self.store._db.in_transaction))

    def clear(self) -> None:
        self.statements.clear()

    def count(self, prefix: str) -> int:
        return sum(sql.upper().startswith(prefix) for sql, _open in self.statements)

    def writes_outside_a_transaction(self) -> list[str]:
        writes = ("INSERT", "UPDATE", "DELETE")
        return [sql for sql, open_ in self.statements
                if sql.upper().startswith(writes) and not open_]


def capture_sends(phone: Phone) -> list[bytes]:
    """Send through the phone's messenger without putting anything on the air: the bodies."""
    bodies: list[bytes] = []
    with mock.patch.object(phone.modem, "send",
                           lambda _dst, body, **_kw: bodies.append(body) or E.token_bytes(16)):
        for index in range(4):
            phone.messenger.send_text("+2", f"m{index}")
    return bodies


def burst(bodies: list[bytes], src: str = "+1", dst: str = "+2") -> list[Delivered]:
    return [Delivered(Envelope(EnvelopeKind.MESSAGE, E.token_bytes(16), src, dst, body).encode())
            for body in bodies]


def test_a_store_on_disk_uses_a_write_ahead_log_synced_at_checkpoints(tmp_path):
    store = PersonaStore(tmp_path / "s.db", E.token_bytes(32))
    assert store.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: synced at commit
    store.close()


@pytest.mark.looptime
async def test_a_burst_of_frames_is_one_commit_and_each_session_is_written_once(pair):
    bus, alice, bob = pair
    alice.messenger.send_text("+2", "hello")  # a session both ways, first
    await settle()
    bodies = capture_sends(alice)
    trace = Trace(bob.store)
    commits = bob.store.commits
    bob.modem._on_channel(burst(bodies))
    assert bob.bodies("+1") == ["hello", "m0", "m1", "m2", "m3"]
    assert bob.store.commits == commits + 1
    assert trace.count("COMMIT") == 1
    assert trace.count("INSERT INTO SESSIONS") == 1  # four ratchet steps, one write
    assert trace.writes_outside_a_transaction() == []


@pytest.mark.looptime
async def test_a_message_is_read_from_memory_not_from_the_stored_session(pair):
    bus, alice, bob = pair
    alice.messenger.send_text("+2", "hello")
    await settle()
    trace = Trace(bob.store)
    alice.messenger.send_text("+2", "again")
    await settle()
    assert bob.bodies("+1") == ["hello", "again"]
    assert trace.count("SELECT STATE FROM SESSIONS") == 0
    assert trace.count("INSERT INTO SESSIONS") == 1


@pytest.mark.looptime
async def test_sends_in_one_batch_commit_once_and_go_on_the_air_only_after(pair):
    bus, alice, bob = pair
    alice.messenger.send_text("+2", "hello")
    await settle()
    trace = Trace(alice.store)
    on_air: list[bool] = []
    send = alice.modem.send

    def sending(dst: str, body: bytes, **kwargs: bytes) -> bytes:
        on_air.append(alice.store.in_transaction)
        return send(dst, body, **kwargs)

    with mock.patch.object(alice.modem, "send", sending), alice.messenger.batch():
        for index in range(5):
            alice.messenger.send_text("+2", f"m{index}")
        assert on_air == []  # nothing left the phone while the ratchet steps were unwritten
    assert on_air == [False] * 5
    assert trace.count("COMMIT") == 1 and trace.count("INSERT INTO SESSIONS") == 1
    await settle()
    assert bob.bodies("+1") == ["hello"] + [f"m{index}" for index in range(5)]


@pytest.mark.looptime
async def test_a_batch_that_fails_sends_nothing_and_its_ratchet_steps_are_undone(pair):
    bus, alice, bob = pair
    alice.messenger.send_text("+2", "hello")
    await settle()
    before = alice.messenger._load_sessions("+2")[0].ratchet.ns
    sent = []
    with mock.patch.object(alice.modem, "send", lambda *a, **kw: sent.append(a) or b""), \
            contextlib.suppress(RuntimeError), alice.messenger.batch():
        alice.messenger.send_text("+2", "lost")
        assert alice.messenger._load_sessions("+2")[0].ratchet.ns == before + 1
        raise RuntimeError("the rest of the tick failed")
    assert sent == []
    assert alice.messenger.history("+2")[-1].body == "hello"  # the message row went too
    assert alice.messenger._load_sessions("+2")[0].ratchet.ns == before  # as on disk
    alice.messenger.send_text("+2", "after")
    await settle()
    assert bob.bodies("+1") == ["hello", "after"]
    assert bob.notices("+1") == []  # no key reused, nothing to heal


class FailingCommit:
    """The store's connection with a disk that is full for the next ``count`` commits."""

    def __init__(self, db, count: int = 1) -> None:  # noqa: ANN001
        self.db, self.left = db, count

    def execute(self, sql: str, *args):  # noqa: ANN002, ANN201
        if sql == "COMMIT" and self.left:
            self.left -= 1
            self.db.execute("ROLLBACK")  # what SQLite does on SQLITE_FULL
            raise sqlcipher3.OperationalError("database or disk is full")
        return self.db.execute(sql, *args)

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.db, name)


@pytest.mark.looptime
async def test_a_burst_whose_commit_fails_is_taken_again_frame_by_frame(pair):
    bus, alice, bob = pair
    alice.messenger.send_text("+2", "hello")
    await settle()
    bodies = capture_sends(alice)
    real = bob.store._db
    bob.store._db = FailingCommit(real)
    reports: list[bytes] = []
    submit = bob.modem._submit
    with mock.patch.object(bob.modem, "_submit", lambda e: reports.append(e) or submit(e)):
        bob.modem._on_channel(burst(bodies))
    bob.store._db = real
    assert bob.bodies("+1") == ["hello", "m0", "m1", "m2", "m3"]  # none lost, none twice
    assert len(reports) == 4
    assert all(Envelope.decode(r).body == Envelope.decode(reports[0]).body for r in reports)
    alice.messenger.send_text("+2", "after")  # memory and disk agree on the ratchet
    await settle()
    assert bob.bodies("+1")[-1] == "after" and bob.notices("+1") == []


@pytest.mark.looptime
async def test_a_frame_that_fails_in_a_burst_spoils_none_of_its_neighbours(pair):
    bus, alice, bob = pair
    alice.messenger.send_text("+2", "hello")
    await settle()
    bodies = capture_sends(alice)
    store_incoming = bob.messenger._store_incoming

    def flawed(sender: str, payload: TextPayload) -> None:
        store_incoming(sender, payload)
        if payload.body == "m1":
            raise KeyError("a flaw nobody knew of, after the message was written")

    commits = bob.store.commits
    with mock.patch.object(bob.messenger, "_store_incoming", flawed):
        bob.modem._on_channel(burst(bodies))
    assert bob.bodies("+1") == ["hello", "m0", "m2", "m3"]  # m1's frame: all or nothing
    assert bob.store.commits == commits + 1
    # Its ratchet step was undone in memory as on disk: the same frame reads again.
    bob.modem._on_channel(burst([bodies[1]]))
    assert bob.bodies("+1") == ["hello", "m0", "m2", "m3", "m1"]


@pytest.mark.looptime
async def test_the_hop_ack_and_the_delivered_report_leave_after_the_commit(pair):
    bus, alice, bob = pair
    messages_down: list[int] = []  # seqs of the data frames down to bob that carried a message
    seen: list[tuple[str, bool, int, int]] = []  # kind, transaction open, kept, messages acked
    carry = bus._carry

    def watching(modem, frame: bytes, direction: str) -> None:  # noqa: ANN001
        hop = HopFrame.decode(frame)
        if modem is bob.modem and direction == "down" and hop.kind is HopKind.DATA and \
                Envelope.decode(hop.payload).kind is EnvelopeKind.MESSAGE:
            messages_down.append(hop.seq)
        if modem is bob.modem and direction == "up":
            kind = "ack" if hop.kind is HopKind.ACK else Envelope.decode(hop.payload).kind.name
            acked = sum(1 for seq in messages_down if seq < hop.ack)  # the cumulative ack
            seen.append((kind, bob.store.in_transaction, len(bob.bodies("+1")), acked))
        carry(modem, frame, direction)

    bus._carry = watching
    for index in range(3):
        alice.messenger.send_text("+2", f"m{index}")
        await settle(1)
    assert bob.bodies("+1") == ["m0", "m1", "m2"]
    reports = [kept for kind, _open, kept, _acked in seen if kind == "REPORT"]
    assert reports == [1, 2, 3]
    # Every frame up (an ACK, or a report the ack rides on) left with no transaction open and
    # acknowledged only messages already kept; by the end all three were acknowledged.
    assert all(not open_ and acked <= kept for _kind, open_, kept, acked in seen), seen
    assert seen[-1][3] == 3


def test_a_savepoint_failure_that_loses_the_transaction_fails_the_batch(tmp_path):
    """SQLite may roll the whole transaction back under a failing statement (a full disk):
    the batch must not go on in autocommit, half of it kept."""
    store = PersonaStore(tmp_path / "s.db", E.token_bytes(32))
    with pytest.raises(Exception), store.transaction():  # noqa: B017, PT011
        store.put("settings", "a", 1)
        with contextlib.suppress(RuntimeError), store.transaction():
            store.put("settings", "b", 2)
            store._db.execute("ROLLBACK")  # what SQLite did
            raise RuntimeError("disk full")
        store.put("settings", "c", 3)  # refused: the batch is lost
    assert store.items("settings") == {}
    with store.transaction():  # and the next batch works
        store.put("settings", "d", 4)
    assert store.items("settings") == {"d": 4}
    store.close()


def test_settings_and_messages_survive_a_reopen_in_wal_mode(tmp_path):
    key = E.token_bytes(32)
    store = PersonaStore(tmp_path / "s.db", key)
    with store.transaction():
        store.put("settings", "x", 1)
    store.close()
    again = PersonaStore(tmp_path / "s.db", key)
    assert again.items("settings") == {"x": 1}
    again.close()




@pytest.mark.looptime
async def test_a_refused_send_keeps_the_changed_identity_it_found(pair, tmp_path):
    """Sending to a number whose published identity changed is refused, and the change (the
    contact flagged, the event, the notice) is kept: a refusal is not a failure of the batch."""
    from phone_tui.handset.messenger import IdentityChanged, IdentityChangedError

    bus, alice, bob = pair
    alice.messenger.know_identity("+2", E.token_bytes(32))  # met under another key
    with pytest.raises(IdentityChangedError):
        alice.messenger.send_text("+2", "blocked")
    assert alice.messenger.contact("+2").new_identity == bob.identity.public_dh
    assert any(isinstance(e, IdentityChanged) for e in alice.events.history)
    assert alice.notices("+2") and alice.messenger.history("+2")[-1].kind == "notice"


@pytest.mark.looptime
async def test_keep_alives_cost_an_idle_phone_no_store_transaction(pair):
    """An idle phone pings the network every few seconds; the acknowledgement has nothing for
    the store, and must not cost an empty BEGIN/COMMIT (stage.py counted 0.4 a second)."""
    _bus, alice, _bob = pair
    await settle(1)
    statements: list[str] = []
    alice.store._db.set_trace_callback(statements.append)
    for _ in range(5):
        alice.modem.ping()
        await settle(1)
    alice.store._db.set_trace_callback(None)
    assert alice.modem.stats.rtt and statements == []

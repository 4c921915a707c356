"""Schema 5's partial indexes (the unlock's look-ups) and the messenger's cheap repeats: its
contacts read from memory while unchanged, a burst's state changes written once."""

from __future__ import annotations

import json
import random

import pytest
from test_messenger import E, Phone, settle

from phone_tui.core.clock import ManualClock
from phone_tui.modem.bus import Bus
from phone_tui.store import database
from phone_tui.store.database import PersonaStore


def traced(store: PersonaStore) -> list[str]:
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    return statements


def plan(store: PersonaStore, sql: str) -> str:
    """EXPLAIN QUERY PLAN with the statement's literals as SQLite saw them."""
    return " | ".join(row[3] for row in store._db.execute(f"EXPLAIN QUERY PLAN {sql}"))


@pytest.fixture
def pair(tmp_path):
    clock = ManualClock()
    bus = Bus(random.Random(1))
    return clock, Phone(bus, "+1", tmp_path, clock), Phone(bus, "+2", tmp_path, clock)


@pytest.mark.looptime
async def test_the_unlock_queries_use_an_index_not_a_scan_of_the_history(pair):
    _clock, alice, _bob = pair
    alice.messenger.send_text("+2", "hi")
    await settle()
    statements = traced(alice.store)
    alice.messenger.expire()
    alice.messenger.resume_outbox()
    assert alice.messenger.id_range("+2") is not None
    asked = [s for s in statements if s.startswith("SELECT") or s.startswith("DELETE")]
    assert len(asked) == 4, asked  # the soonest expiry, the outbox, the range (and the delete)
    plans = {sql: plan(alice.store, sql) for sql in asked}
    for sql, how in plans.items():
        # Every step reads an index (a partial one holds only the few rows asked for); none
        # walks the table or the conversation index from end to end.
        for step in how.split(" | "):
            if step == "SCAN CONSTANT ROW":
                continue
            assert step.startswith("SCALAR SUBQUERY") or "INDEX" in step, (sql, how)
            assert "SCAN" not in step or "messages_sending" in step, (sql, how)
    # A sent message's network id (the report after a restart, a retry request).
    for sql in ("SELECT uuid FROM messages WHERE net_id = 'ab'",
                "SELECT id, uuid, body, at, expires_at, resent FROM messages WHERE net_id = 'ab' "
                "AND number = '+2' AND outgoing = 1 AND kind = 'text'"):
        assert "USING INDEX messages_by_net_id (net_id=?)" in plan(alice.store, sql)
    joined = " ".join(plans.values())
    assert "messages_expiring" in joined and "messages_sending" in joined
    assert "messages_by_conversation" in joined


def test_a_schema_4_store_on_disk_gains_the_indexes_and_keeps_its_messages(tmp_path):
    import sqlcipher3

    key = E.token_bytes(32)
    path = tmp_path / "v4.db"
    db = sqlcipher3.connect(str(path), isolation_level=None)
    db.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    for step in (1, 2, 3, 4):
        for statement in database._MIGRATIONS[step]:
            db.execute(statement)
    db.execute("PRAGMA user_version = 4")
    db.execute("INSERT INTO messages (uuid, number, outgoing, body, state, at, expires_at) "
               "VALUES ('a', '+2', 1, 'out', 'sending', 1.0, 50.0), "
               "('b', '+2', 0, 'in', 'received', 2.0, NULL)")
    db.close()
    store = PersonaStore(path, key)
    assert store.execute("PRAGMA user_version").fetchone()[0] == database.SCHEMA_VERSION == 9
    indexes = {name for (name,) in store.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"messages_expiring", "messages_sending"} <= indexes
    assert store.execute("SELECT uuid FROM messages INDEXED BY messages_sending "
                         "WHERE outgoing = 1 AND state = 'sending'").fetchall() == [("a",)]
    assert store.execute("SELECT min(expires_at) FROM messages INDEXED BY messages_expiring "
                         "WHERE expires_at IS NOT NULL").fetchone() == (50.0,)
    store.close()


@pytest.mark.looptime
async def test_a_message_costs_one_contact_lookup_at_most_while_contacts_are_unchanged(pair):
    _clock, alice, bob = pair
    alice.messenger.send_text("+2", "first")
    await settle()
    sent, received = traced(alice.store), traced(bob.store)
    for n in range(3):
        alice.messenger.send_text("+2", f"again {n}")
        await settle()
    lookups = [s for s in sent + received if "FROM contacts" in s]
    assert lookups == []
    assert bob.bodies("+1") == ["first", "again 0", "again 1", "again 2"]
    # The timer is the conversation's: INSERT OR IGNORE alone keeps the message once.
    assert [s for s in received if s.startswith("SELECT 1 FROM messages")] == []


@pytest.mark.looptime
async def test_a_copy_of_a_message_kept_already_is_kept_once_timer_or_not(pair):
    from phone_tui.handset.payloads import TextPayload

    clock, alice, bob = pair
    alice.messenger.send_text("+2", "first")
    await settle()
    for timer in (0, 3600):  # the same as the conversation's; a change (checked for a copy)
        payload = TextPayload(f"00000000-0000-4000-8000-00000000000{timer % 7}", "twice",
                              clock.now(), timer).to_dict()
        for _ in range(2):  # a resend: the same id again, in a new ratchet message
            with alice.messenger.batch():
                alice.messenger._send_payload("+2", payload)
            await settle()
    assert bob.bodies("+1") == ["first", "twice", "twice"]
    assert bob.messenger.contact("+1").timer == 3600


@pytest.mark.looptime
async def test_a_contact_written_behind_the_cache_or_rolled_back_is_read_again(pair):
    _clock, alice, _bob = pair
    alice.messenger.send_text("+2", "first")
    await settle()
    assert alice.messenger.contact("+2").timer == 0
    alice.store.execute("UPDATE contacts SET timer = 3600 WHERE number = '+2'")
    assert alice.messenger.contact("+2").timer == 3600
    with pytest.raises(RuntimeError), alice.messenger.batch():
        alice.messenger.set_timer("+2", 0)
        assert alice.messenger.contact("+2").timer == 0
        raise RuntimeError("the batch fails")
    assert alice.messenger.contact("+2").timer == 3600  # the store's, rolled back


@pytest.mark.looptime
async def test_sent_and_delivered_in_one_burst_are_one_update_and_both_told(pair):
    _clock, alice, _bob = pair
    alice.messenger.send_text("+2", "first")
    await settle()
    told: list[str] = []
    alice.events.listen(lambda event: told.append(getattr(event, "state", "")))
    statements = traced(alice.store)
    message_id = alice.messenger.send_text("+2", "second")
    net_id = next(n for n, u in alice.messenger._net_ids.items() if u == message_id)
    with alice.messenger.batch():  # as the modem does when the report overtakes the ack
        alice.messenger.on_state(net_id, "sent", "")
        alice.messenger.on_state(net_id, "delivered", "")
    updates = [s for s in statements if s.startswith("UPDATE messages SET state")]
    assert len(updates) == 1 and "'delivered'" in updates[0]
    assert told == ["sending", "sent", "delivered"]
    assert alice.states("+2") == ["delivered", "delivered"]


def test_a_nested_part_first_in_its_transaction_is_undone_without_a_savepoint(tmp_path):
    key = E.token_bytes(32)
    store = PersonaStore(tmp_path / "s.db", key)
    statements = traced(store)
    with store.transaction():
        with pytest.raises(RuntimeError), store.transaction():  # first: nothing before it
            store.put("settings", "a", 1)
            raise RuntimeError("this part fails")
        with store.transaction():  # first again (the failed part left nothing)
            store.put("settings", "b", 2)
        with pytest.raises(RuntimeError), store.transaction():  # after a write: a savepoint
            store.put("settings", "c", 3)
            raise RuntimeError("this part fails too")
        store.put("settings", "d", 4)
    assert store.items("settings") == {"b": 2, "d": 4}
    assert [s for s in statements if "sp1" in s] == [
        "SAVEPOINT sp1", "ROLLBACK TO sp1", "RELEASE sp1"]
    store.close()
    assert PersonaStore(tmp_path / "s.db", key).items("settings") == {"b": 2, "d": 4}


@pytest.mark.looptime
async def test_sessions_saved_as_json_by_an_older_version_load_and_are_rewritten_compact(pair):
    from phone_tui.handset.messenger import decode_sessions

    _clock, alice, bob = pair
    alice.messenger.send_text("+2", "first")
    await settle()
    (state,) = alice.store.execute("SELECT state FROM sessions WHERE number = '+2'").fetchone()
    assert isinstance(state, bytes)
    old = json.dumps({"sessions": [record.to_dict() for record in decode_sessions(state)]})
    alice.store.execute("UPDATE sessions SET state = ? WHERE number = '+2'", (old,))
    alice.messenger.forget_sessions_in_memory()
    alice.messenger.send_text("+2", "second")
    await settle()
    assert bob.bodies("+1") == ["first", "second"]
    (state,) = alice.store.execute("SELECT state FROM sessions WHERE number = '+2'").fetchone()
    assert isinstance(state, bytes) and len(state) * 2 < len(old)
    with pytest.raises(ValueError):
        decode_sessions(state[:-1])


@pytest.mark.looptime
async def test_a_sent_message_moves_on_without_reading_its_state_back(pair):
    _clock, alice, _bob = pair
    alice.messenger.send_text("+2", "first")
    await settle()
    statements = traced(alice.store)
    for n in range(3):
        alice.messenger.send_text("+2", f"again {n}")
        await settle()
    assert [s for s in statements if s.startswith("SELECT number, state")] == []
    assert alice.states("+2") == ["delivered"] * 4


@pytest.mark.looptime
async def test_a_remembered_state_is_forgotten_when_messages_are_deleted_or_rolled_back(pair):
    _clock, alice, _bob = pair
    told: list[str] = []
    alice.events.listen(lambda event: told.append(getattr(event, "state", "")))
    message_id = alice.messenger.send_text("+2", "first")
    net_id = next(n for n, u in alice.messenger._net_ids.items() if u == message_id)
    alice.store.execute("DELETE FROM messages")  # gone behind the messenger's back
    alice.messenger.on_state(net_id, "sent", "")
    assert told == ["sending"]  # no word on a message that is not there
    other = alice.messenger.send_text("+2", "second")
    other_net = next(n for n, u in alice.messenger._net_ids.items() if u == other)
    with pytest.raises(RuntimeError), alice.messenger.batch():
        alice.messenger.on_state(other_net, "sent", "")
        raise RuntimeError("the batch fails")
    alice.messenger.on_state(other_net, "sent", "")  # told again: the first was undone
    assert told == ["sending", "sending", "sent"]  # the failed batch told nothing
    assert alice.states("+2") == ["sent"]

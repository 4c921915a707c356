"""A PIN change re-keys the store, so an old keystore.bin opens nothing newer (item 12)."""

from __future__ import annotations

import shutil

import pytest

from phone_tui.crypto.keystore import Keystore, UnlockOutcome
from phone_tui.errors import StoreError
from phone_tui.handset.persona import PREVIOUS_STORE_KEY
from phone_tui.store.database import PersonaStore
from phone_tui.testing import TEST_PIN, make_handset, set_up

NEW_PIN = "551203"


def write_things(handset, label: str) -> None:
    """A setting and a message row in the running persona's store."""
    store = handset.persona.store
    store.put("settings", f"note.{label}", label)
    store.execute("INSERT INTO messages (uuid, number, outgoing, body, state, at) "
                  "VALUES (?, ?, 1, ?, 'sent', 0)", (label, "+86 190 0000 0001", label))


def things(handset) -> list[str]:
    store = handset.persona.store
    rows = store.execute("SELECT body FROM messages ORDER BY id").fetchall()
    notes = [v for k, v in store.items("settings").items() if k.startswith("note.")]
    assert sorted(notes) == sorted(row[0] for row in rows)
    return [row[0] for row in rows]


async def test_an_old_keystore_put_back_with_the_old_pin_opens_nothing_written_since(
        data_dir, clock, tmp_path):
    handset = make_handset(data_dir, clock=clock)
    await set_up(handset, locked=False)
    write_things(handset, "before")
    persona = handset.persona
    saved = tmp_path / "keystore.bin.old"
    shutil.copy2(persona.keystore_path, saved)
    await handset.change_pin(TEST_PIN, NEW_PIN)
    write_things(handset, "after")
    handset.lock()
    shutil.copy2(saved, persona.keystore_path)
    keystore_bytes = persona.keystore_path.read_bytes()
    store_bytes = persona.store_path.read_bytes()

    again = make_handset(data_dir, clock=clock)
    with pytest.raises(StoreError, match="store.db.*does not open.*older copy.*untouched"):
        await again.unlock(TEST_PIN)
    assert not again.persona.is_unlocked
    assert persona.keystore_path.read_bytes() == keystore_bytes
    assert persona.store_path.read_bytes() == store_bytes


async def test_the_new_pin_opens_everything_after_a_pin_change(data_dir, clock):
    handset = make_handset(data_dir, clock=clock)
    await set_up(handset, locked=False)
    key_before = handset.persona.keystore.secret("store_key")
    write_things(handset, "before")
    await handset.change_pin(TEST_PIN, NEW_PIN)
    assert handset.persona.keystore.secret("store_key") != key_before
    assert PREVIOUS_STORE_KEY not in handset.persona.keystore.secrets
    write_things(handset, "after")
    handset.lock()
    again = make_handset(data_dir, clock=clock)
    assert await again.unlock(NEW_PIN) is UnlockOutcome.UNLOCKED
    assert things(again) == ["before", "after"]


class Crash(Exception):
    """The process dies here."""


CRASH_POINTS = {
    # before anything is written: the old PIN still opens everything
    "keystore write": (Keystore, "change_pin", TEST_PIN),
    # the keystore holds the new PIN, the new key and the previous one; the store is old
    "store rekey": (PersonaStore, "rekey", NEW_PIN),
    # the store is rekeyed; the keystore still holds the previous key
    "forget previous": (Keystore, "forget", NEW_PIN),
}


@pytest.mark.parametrize("point", list(CRASH_POINTS))
async def test_a_crash_at_each_step_of_a_pin_change_still_opens_and_loses_nothing(
        data_dir, clock, monkeypatch, point):
    owner, name, pin_after = CRASH_POINTS[point]
    handset = make_handset(data_dir, clock=clock)
    await set_up(handset, locked=False)
    write_things(handset, "before")
    original = getattr(owner, name)
    with monkeypatch.context() as patch:
        def crash(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            if name == "change_pin":
                raise Crash
            original(*args, **kwargs)  # a crash right after this step is durable
            raise Crash

        patch.setattr(owner, name, crash)
        with pytest.raises(Crash):
            await handset.change_pin(TEST_PIN, NEW_PIN)
    handset.persona.store.close()  # the process is gone (nothing more is written)

    again = make_handset(data_dir, clock=clock)
    assert await again.unlock(pin_after) is UnlockOutcome.UNLOCKED
    assert things(again) == ["before"]
    # An interrupted rekey is finished at this unlock: one key, and it opens the store.
    keystore = again.persona.keystore
    assert PREVIOUS_STORE_KEY not in keystore.secrets
    assert PREVIOUS_STORE_KEY not in Keystore.unlock(
        keystore.path, pin_after, entropy=again.entropy, policy=again.persona.kdf.policy
    )[1].secrets
    write_things(again, "after")
    again.lock()
    third = make_handset(data_dir, clock=clock)
    assert await third.unlock(pin_after) is UnlockOutcome.UNLOCKED
    assert things(third) == ["before", "after"]


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_rekey_works_in_either_journal_mode(tmp_path, journal):
    path = tmp_path / "store.db"
    old, new = bytes(range(32)), bytes(range(1, 33))
    store = PersonaStore(path, old)
    assert store.execute(f"PRAGMA journal_mode = {journal}").fetchone()[0] == journal
    store.put("settings", "kept", True)
    store.rekey(new)
    store.put("settings", "later", True)
    store.close()
    with pytest.raises(StoreError):
        PersonaStore(path, old)
    assert PersonaStore(path, new).items("settings") == {"kept": True, "later": True}

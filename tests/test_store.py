from __future__ import annotations

import pytest

from phone_tui.errors import StoreError
from phone_tui.store.database import PersonaStore

KEY = bytes(range(32))


def test_values_persist_and_the_file_is_encrypted(tmp_path):
    path = tmp_path / "store.db"
    store = PersonaStore(path, KEY)
    store.put("profile", "number", "+86 190 0000 0001")
    store.put("settings", "auto_lock_seconds", 30)
    store.close()
    assert b"+86 190" not in path.read_bytes()
    assert b"SQLite format 3" not in path.read_bytes()
    reopened = PersonaStore(path, KEY)
    assert reopened.get("profile", "number") == "+86 190 0000 0001"
    assert reopened.items("settings") == {"auto_lock_seconds": 30}
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_wrong_key_is_a_clear_error_and_the_file_is_untouched(tmp_path):
    path = tmp_path / "store.db"
    PersonaStore(path, KEY).close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match=f"{path}.*does not open"):
        PersonaStore(path, bytes(32))
    assert path.read_bytes() == before


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "store.db"
    store = PersonaStore(path, KEY)
    store._db.execute("PRAGMA user_version = 99")
    store.close()
    with pytest.raises(StoreError, match="schema 99"):
        PersonaStore(path, KEY)

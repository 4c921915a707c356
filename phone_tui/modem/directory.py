"""The carrier's key directory: each number's signed prekey bundle and the one-time prekeys
it may still hand out.

Public material, but what it has handed out matters: a one-time prekey is handed out once,
ever. With a file the directory's view survives a restart (written atomically, 0600, after
every change); a file that does not read stops the carrier and is left untouched.
"""

from __future__ import annotations

import json
from pathlib import Path

from phone_tui.core.atomic import atomic_write
from phone_tui.core.documents import read_json
from phone_tui.errors import CarrierStateError

FORMAT = 1
DIRECTORY_FILE = "directory.json"


class KeyDirectory:
    """Bundles and one-time prekey pools by number; kept in ``path`` when given."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._bundles: dict[str, bytes] = {}
        self._one_time: dict[str, dict[int, bytes]] = {}
        if path is not None and path.exists():
            self._bundles, self._one_time = _read(path)

    def publish(self, number: str, bundle: bytes, one_time: dict[int, bytes] | None) -> None:
        """Store a number's bundle (replacing the old one) and add one-time prekeys."""
        self._bundles[number] = bytes(bundle)
        self._one_time.setdefault(number, {}).update(one_time or {})
        self._save()

    def fetch(self, number: str) -> tuple[bytes, tuple[int, bytes] | None] | None:
        """The bundle and one one-time prekey, which leaves the pool for good (saved before it
        is handed out)."""
        bundle = self._bundles.get(number)
        if bundle is None:
            return None
        pool = self._one_time.get(number, {})
        one_time = pool.popitem() if pool else None
        if one_time is not None:
            self._save()
        return bundle, one_time

    def peek(self, number: str) -> bytes | None:
        return self._bundles.get(number)

    def one_time_left(self, number: str) -> int:
        return len(self._one_time.get(number, {}))

    def one_time_ids(self, number: str) -> set[int]:
        return set(self._one_time.get(number, {}))

    def has(self, number: str) -> bool:
        return number in self._bundles

    def forget(self, number: str) -> None:
        """Drop a number's bundle and one-time prekeys (its phone was wiped)."""
        known = self._bundles.pop(number, None) is not None
        known = self._one_time.pop(number, None) is not None or known
        if known:
            self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        numbers = {number: {"bundle": bundle.hex(),
                            "one_time": {str(key_id): key.hex() for key_id, key in
                                         sorted(self._one_time.get(number, {}).items())}}
                   for number, bundle in sorted(self._bundles.items())}
        atomic_write(self.path, json.dumps({"format": FORMAT, "numbers": numbers}).encode())


ADVICE = ("it was left untouched. Remove it (phones publish their keys again at the next "
          "unlock)")


def _read(path: Path) -> tuple[dict[str, bytes], dict[str, dict[int, bytes]]]:
    def damaged(key: str) -> CarrierStateError:
        return CarrierStateError(path, f"the key directory is damaged; {ADVICE}", key=key)

    raw = read_json(path, CarrierStateError, ADVICE)
    if raw.get("format") != FORMAT:
        raise damaged("format")
    numbers = raw.get("numbers")
    if not isinstance(numbers, dict):
        raise damaged("numbers")
    bundles: dict[str, bytes] = {}
    pools: dict[str, dict[int, bytes]] = {}
    for number, entry in numbers.items():
        where = f"numbers.{number}"
        if not isinstance(entry, dict) or not isinstance(entry.get("one_time"), dict):
            raise damaged(where)
        bundles[number] = _hex(entry.get("bundle"), damaged, f"{where}.bundle")
        pool: dict[int, bytes] = {}
        for key_id, key in entry["one_time"].items():
            if not (isinstance(key_id, str) and key_id.isdigit() and len(key_id) <= 10):
                raise damaged(f"{where}.one_time")
            pool[int(key_id)] = _hex(key, damaged, f"{where}.one_time.{key_id}")
        pools[number] = pool
    return bundles, pools


def _hex(value: object, damaged, key: str) -> bytes:  # noqa: ANN001
    if not isinstance(value, str) or not value:
        raise damaged(key)
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise damaged(key) from None

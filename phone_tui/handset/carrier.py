"""The carrier's data folder, as the bots see it: the carrier key and each bot's store.

The bots' stores (identity keys, sessions, contacts, conversations) are SQLCipher databases
keyed by one random 256-bit carrier key, kept in ``carrier.key`` (0600) in the same folder, as
a server keeps its key: it protects a store copied away without the key file, not against
someone who can read the whole folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from phone_tui.core.atomic import atomic_write
from phone_tui.core.paths import ensure_private_dir
from phone_tui.errors import CarrierStateError

KEY_FILE = "carrier.key"
BOTS_DIR = "bots"
KEY_SIZE = 32


def carrier_key(folder: Path) -> bytes:
    """The carrier key in ``folder`` (made on first use, from the OS's random source: it is
    never shown, so deterministic runs need not fix it)."""
    path = folder / KEY_FILE
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        ensure_private_dir(folder)
        key = os.urandom(KEY_SIZE)
        atomic_write(path, key)
        return key
    except OSError as problem:
        raise CarrierStateError(path, f"the carrier key does not read ({problem.strerror}); "
                                      "it was left untouched") from None
    if len(key) != KEY_SIZE:
        raise CarrierStateError(path, f"the carrier key is damaged (expected {KEY_SIZE} bytes, "
                                      f"found {len(key)}); it was left untouched. Without it "
                                      f"the bots' stores in {folder / BOTS_DIR} do not open: "
                                      "remove both to start the bots afresh")
    return key


def bot_store_path(folder: Path, number: str) -> Path:
    """Where the bot on ``number`` keeps its store: ``bots/<digits>.db``."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if not digits:
        raise ValueError(f"a bot's number needs digits, not {number!r}")
    return ensure_private_dir(folder / BOTS_DIR) / f"{digits}.db"

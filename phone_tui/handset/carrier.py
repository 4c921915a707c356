"""The carrier's data folder, as the bots see it: the carrier key and each bot's store.

The bots' stores (identity keys, sessions, contacts, conversations) are SQLCipher databases
keyed by one random 256-bit carrier key, kept in ``carrier.key`` (0600) in the same folder, as
a server keeps its key: it protects a store copied away without the key file, not against
someone who can read the whole folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from phone_tui.core.atomic import atomic_write
from phone_tui.core.paths import ensure_private_dir
from phone_tui.errors import CarrierStateError

KEY_FILE = "carrier.key"
BOTS_DIR = "bots"
KEY_SIZE = 32
_BOT_FILE = re.compile(r"[0-9]+\.db(-journal|-wal|-shm)?")


def carrier_names() -> tuple[str, ...]:
    """The names phone-tui makes directly in a carrier folder."""
    from phone_tui.modem.directory import DIRECTORY_FILE
    from phone_tui.modem.mailbox import MAILBOX_FILE

    return KEY_FILE, DIRECTORY_FILE, MAILBOX_FILE, BOTS_DIR


def foreign_files(folder: Path) -> list[Path]:
    """What in a carrier folder phone-tui did not make (temp files of an interrupted write
    count as ours)."""
    ours = carrier_names()
    foreign = []
    for child in folder.iterdir() if folder.is_dir() else ():
        if child.name == BOTS_DIR and child.is_dir():
            foreign += [path for path in child.iterdir()
                        if not (path.is_file() and _BOT_FILE.fullmatch(path.name))]
        elif child.name not in ours and not _is_temp(child.name, ours):
            foreign.append(child)
    return foreign


def _is_temp(name: str, ours: tuple[str, ...]) -> bool:
    return any(name.startswith(f".{own}.") and name.endswith(".tmp") for own in ours)


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

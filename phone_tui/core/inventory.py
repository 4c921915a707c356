"""What phone-tui makes under its data and log folders: the one list that ``reset`` trusts.

Patterns are paths relative to the data (or log) folder, one segment at a time matched with
``fnmatch``; ``**`` matches any number of segments. Code that starts keeping a new file adds
its pattern here (or with ``add_data_files``), so ``reset`` deletes it and nothing else.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from phone_tui.core.config import PERSONAS

PERSONA_FILES = ["keystore.bin", "store.db", "store.db-wal", "store.db-shm", "store.db-journal",
                 "throttle.json", "policy.json", "spool.jsonl", "spool.rejected.jsonl",
                 "public.json"]

# The carrier's folder (bots' state, key directory, mailbox); names as its module keeps them.
NETWORK_FILES = ["network/carrier.key", "network/directory.json",
                 *(f"network/{name}.db{end}" for name in ("mailbox", "smsc")
                   for end in ("", "-journal", "-wal", "-shm")),
                 *(f"network/bots/[0-9]*.db{end}" for end in ("", "-journal", "-wal", "-shm"))]

DATA_FILES: list[str] = [
    "sim.json",
    "phone-tui.lock",
    "demo.lock",
    "training/*.json",
    "intercept/intercept-*.jsonl",  # the stage's exports of the lawful-intercept records
    *(f"personas/{persona}/{name}" for persona in PERSONAS for name in PERSONA_FILES),
    *NETWORK_FILES,
    *(f"demo/{pattern}" for pattern in NETWORK_FILES),
]

LOG_FILES: list[str] = ["phone-tui.log", "phone-tui.log.[0-9]*"]

# A demo phone is a whole phone-tui home of its own.
PHONE_HOME_FILES: list[str] = ["settings.toml"]


def add_data_files(*patterns: str) -> None:
    """Declare more files phone-tui keeps under the data folder (relative patterns)."""
    DATA_FILES.extend(pattern for pattern in patterns if pattern not in DATA_FILES)


def _with_temps(patterns: Iterable[str]) -> list[str]:
    """Each pattern, and the temp files core.atomic writes beside it (``.NAME.*.tmp``)."""
    out = []
    for pattern in patterns:
        head, _, name = pattern.rpartition("/")
        out.append(pattern)
        if name != "**":
            out.append(f"{head}/.{name}.*.tmp" if head else f".{name}.*.tmp")
    return out


def data_patterns() -> list[str]:
    own = [pattern for pattern in DATA_FILES if not pattern.startswith("demo/")]
    phone = [*PHONE_HOME_FILES, *(f"data/{pattern}" for pattern in own),
             *(f"logs/{pattern}" for pattern in LOG_FILES)]
    return _with_temps([*DATA_FILES, *(f"demo/phone-*/{pattern}" for pattern in phone)])


def log_patterns() -> list[str]:
    return _with_temps(LOG_FILES)


def _matches(parts: tuple[str, ...], pattern: tuple[str, ...], *, prefix: bool = False) -> bool:
    """Whether ``parts`` match ``pattern`` (or, with ``prefix``, lead to something it does)."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return True
    if not parts:
        return prefix
    return fnmatchcase(parts[0], pattern[0]) and _matches(parts[1:], pattern[1:], prefix=prefix)


@dataclass
class Inventory:
    """What a folder holds: files phone-tui made, folders it made, and everything else."""

    root: Path
    files: list[Path] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)  # deepest first
    foreign: list[Path] = field(default_factory=list)

    def delete(self) -> list[Path]:
        """Delete the files, then each folder that is empty; returns the folders kept."""
        for path in self.files:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        kept = []
        for folder in [*self.folders, self.root]:
            try:
                folder.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                kept.append(folder)  # something foreign is still inside
        return kept


def scan(root: Path, patterns: list[str]) -> Inventory:
    """Sort what is under ``root`` into phone-tui's (matching ``patterns``) and foreign. A
    folder no pattern leads into is foreign as a whole; symlinks are never followed."""
    split = [tuple(pattern.split("/")) for pattern in patterns]
    inventory = Inventory(root)
    if not root.is_dir():
        return inventory
    for folder, dirs, names in os.walk(root, topdown=True):
        here = Path(folder)
        rel = here.relative_to(root).parts
        keep_walking = []
        for name in sorted(dirs):
            path = here / name
            parts = (*rel, name)
            if not path.is_symlink() and any(_matches(parts, p, prefix=True) for p in split):
                keep_walking.append(name)
                inventory.folders.append(path)
            elif any(_matches(parts, p) for p in split):
                inventory.files.append(path)  # a link where a file of ours goes: the link
            else:
                inventory.foreign.append(path)
        dirs[:] = keep_walking
        for name in sorted(names):
            parts = (*rel, name)
            (inventory.files if any(_matches(parts, p) for p in split)
             else inventory.foreign).append(here / name)
    inventory.folders.sort(key=lambda path: len(path.parts), reverse=True)
    return inventory

"""One phone-tui at a time per data folder.

Two processes on one folder would both write its keystores, stores, spools and the carrier's
mailbox, and the last write would win. A second one is refused at start with one line. The
lock is an advisory ``flock`` on ``phone-tui.lock`` (``demo.lock`` for the stage) in the data
folder, released when the process ends however it ends (so a killed phone-tui leaves nothing
to clean up); where ``fcntl`` does not exist (Windows) there is no lock.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from phone_tui.core.paths import ensure_private_dir
from phone_tui.errors import UsageError

LOCK_NAME = "phone-tui.lock"
DEMO_LOCK_NAME = "demo.lock"


@contextlib.contextmanager
def only_instance(folder: Path, name: str = LOCK_NAME) -> Iterator[None]:
    """Hold ``folder`` (as ``name``) for this process; UsageError if another phone-tui
    holds it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        yield
        return
    ensure_private_dir(folder)
    fd = os.open(folder / name, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        what = "the demo stage in " if name == DEMO_LOCK_NAME else ""
        raise UsageError(f"{what}{folder} is in use by another phone-tui; quit that one "
                         "first, or give this one another --data-dir") from None
    try:
        yield
    finally:
        os.close(fd)

"""The log file: rotated, owner-only, and never given PINs, keys or message text."""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

from phone_tui.core.atomic import atomic_write
from phone_tui.core.paths import ensure_private_dir

_HANDLER_NAME = "phone-tui-file"
BACKUPS = 3


def _private_rotating_handler(log_file: Path, max_bytes: int) -> logging.Handler:
    import logging.handlers  # called after the first frame; keep it off the start-up path

    class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
        """Every file it opens, the fresh one after each rotation included, is 0600 from the
        first byte (the stock handler leaves it to the umask: 0644 as a rule)."""

        def _open(self):  # noqa: ANN202 - a text stream, as the base class returns
            fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with contextlib.suppress(OSError):
                os.fchmod(fd, 0o600)
            return open(fd, self.mode, encoding=self.encoding, errors=self.errors)  # noqa: SIM115

    return PrivateRotatingFileHandler(log_file, maxBytes=max_bytes, backupCount=BACKUPS,
                                      encoding="utf-8")


def log_files(log_file: Path) -> list[Path]:
    """The log and its rotations that exist (``phone-tui.log``, ``.1`` … ``.3``)."""
    candidates = [log_file, *(log_file.with_name(f"{log_file.name}.{n}")
                              for n in range(1, BACKUPS + 1))]
    return [path for path in candidates if path.is_file()]


def setup_logging(log_file: Path, level: str, *, max_bytes: int = 1 << 20) -> None:
    """Send the ``phone_tui`` logger to a rotating file (1 MiB × 3) at ``level``."""
    ensure_private_dir(log_file.parent)
    logger = logging.getLogger("phone_tui")
    for handler in list(logger.handlers):
        if handler.get_name() == _HANDLER_NAME:
            logger.removeHandler(handler)
            handler.close()
    for path in log_files(log_file):  # rotations left 0644 by an older phone-tui
        with contextlib.suppress(OSError):
            os.chmod(path, 0o600)
    handler = _private_rotating_handler(log_file, max_bytes)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False


def forget_lines(words: Iterable[str], log_file: Path | None = None) -> None:
    """Remove every line that contains one of ``words`` (as whole words) from the log the
    ``phone_tui`` logger writes, from ``log_file`` and from their rotations. Each file is
    rewritten atomically (0600); lines that do not name them stay byte for byte. The running
    handler is paused meanwhile and reopens the new file at its next record."""
    words = [word for word in words if word]
    if not words:
        return
    pattern = re.compile(b"|".join(rb"(?<!\w)" + re.escape(word.encode()) + rb"(?!\w)"
                                   for word in words))
    handler = next((h for h in logging.getLogger("phone_tui").handlers
                    if h.get_name() == _HANDLER_NAME and isinstance(h, logging.FileHandler)),
                   None)
    bases = {Path(handler.baseFilename)} if handler is not None else set()
    if log_file is not None:
        bases.add(log_file.absolute())
    if handler is not None:
        handler.acquire()
    try:
        if handler is not None and handler.stream is not None:
            handler.stream.close()
            handler.stream = None  # type: ignore[assignment]  # reopened at the next record
        for path in (path for base in sorted(bases) for path in log_files(base)):
            try:
                lines = path.read_bytes().splitlines(keepends=True)
            except OSError:
                continue
            kept = [line for line in lines if not pattern.search(line)]
            if len(kept) != len(lines):
                atomic_write(path, b"".join(kept))
    finally:
        if handler is not None:
            handler.release()

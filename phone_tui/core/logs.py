"""The log file: rotated, owner-only, and never given PINs, keys or message text."""

from __future__ import annotations

import os
from pathlib import Path

from phone_tui.core.paths import ensure_private_dir

_HANDLER_NAME = "phone-tui-file"


def setup_logging(log_file: Path, level: str) -> None:
    """Send the ``phone_tui`` logger to a rotating file (1 MiB × 3) at ``level``."""
    import logging.handlers  # called after the first frame; keep it off the start-up path

    ensure_private_dir(log_file.parent)
    logger = logging.getLogger("phone_tui")
    for handler in list(logger.handlers):
        if handler.get_name() == _HANDLER_NAME:
            logger.removeHandler(handler)
            handler.close()
    handler = logging.handlers.RotatingFileHandler(log_file, maxBytes=1 << 20, backupCount=3,
                                                   encoding="utf-8")
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
    os.chmod(log_file, 0o600)

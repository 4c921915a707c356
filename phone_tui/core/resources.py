"""Where the data shipped with phone_tui (themes/, seeds/) lives.

In a wheel they sit inside the package at ``phone_tui/_data``; in a source checkout (or an
editable install) they are the top-level folders of the repository.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent


@cache
def data_root() -> Path:
    shipped = _PACKAGE / "_data"
    if (shipped / "themes").is_dir():
        return shipped
    checkout = _PACKAGE.parent
    if (checkout / "themes").is_dir():
        return checkout
    raise FileNotFoundError(
        f"phone_tui's data folders (themes/, seeds/) are missing next to {_PACKAGE}; reinstall"
    )


def themes_dir() -> Path:
    return data_root() / "themes"


def seeds_dir() -> Path:
    return data_root() / "seeds"

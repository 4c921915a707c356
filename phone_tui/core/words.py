"""Counting words for people: "1 hint", "2 hints", never "1 hint(s)"."""

from __future__ import annotations


def count(number: int, singular: str, plural: str | None = None) -> str:
    """``number`` and the noun that agrees with it (``plural`` defaults to singular + "s")."""
    return f"{number} {singular if number == 1 else plural or singular + 's'}"

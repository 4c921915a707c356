"""Figures over interleaved rounds: median and min–max, ratios taken per round.

The benchmarks import it as a sibling module (``python benchmarks/x.py`` puts this folder first
on ``sys.path``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def spread(values: Sequence[float], digits: int = 1) -> dict[str, float]:
    """Median and min–max of one figure over the rounds."""
    return {"median": round(statistics.median(values), digits),
            "min": round(min(values), digits), "max": round(max(values), digits)}


def ratio_spread(numerators: Sequence[float], denominators: Sequence[float],
                 digits: int = 3) -> dict[str, float]:
    """The ratio taken per round (the pair measured side by side), then its median and min–max."""
    if len(numerators) != len(denominators):
        raise ValueError("ratios pair one round's figures: the lists must be as long")
    return spread([a / b for a, b in zip(numerators, denominators, strict=True)], digits)


def rotated(items: Sequence[T], round_index: int) -> list[T]:
    """The order things run in one round: rotated each round, so none always goes first."""
    shift = round_index % len(items)
    return [*items[shift:], *items[:shift]]


def timed(work: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) one call of ``work`` takes."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu

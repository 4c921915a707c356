"""Randomness: key material from the OS, or from a seed when deterministic."""

from __future__ import annotations

import os
import random
from typing import Protocol

DETERMINISTIC_SEED = 20260101


class Entropy(Protocol):
    """A source of random bytes for keys, salts and nonces."""

    secure: bool

    def token_bytes(self, n: int) -> bytes: ...

    def rng(self, name: str) -> random.Random: ...


class SystemEntropy:
    """``os.urandom`` for key material; component RNGs seeded from it."""

    secure = True

    def token_bytes(self, n: int) -> bytes:
        return os.urandom(n)

    def rng(self, name: str) -> random.Random:
        return random.Random(os.urandom(16))


class DeterministicEntropy:
    """Seeded bytes for everything: the same run gives the same keys. NOT SECURE."""

    secure = False

    def __init__(self, seed: int = DETERMINISTIC_SEED) -> None:
        self._seed = seed
        self._bytes = random.Random(seed)

    def token_bytes(self, n: int) -> bytes:
        return self._bytes.randbytes(n)

    def rng(self, name: str) -> random.Random:
        # Each component gets its own stream, so adding a component elsewhere changes nothing here.
        return random.Random(f"{self._seed}:{name}")

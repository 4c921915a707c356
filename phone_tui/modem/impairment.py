"""Sans-IO impairment model of one cellular link (like str0m's netem): no asyncio, no clock.

Given a frame's size, its direction and the current time, ``LinkImpairment.decide`` says when
the frame arrives (once, twice if duplicated, never if dropped) and which bits it arrives with
flipped. Everything random comes from the seeded ``random.Random`` it is given.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from phone_tui.modem.profiles import LinkProfile

DIRECTIONS = ("up", "down")


@dataclass(frozen=True)
class Decision:
    """What happens to one frame."""

    arrivals: tuple[float, ...]  # delivery times; two when duplicated; none when dropped
    dropped: str | None = None  # "loss", "queue" or "no-service"
    flipped_bits: tuple[int, ...] = ()  # bit positions flipped in the first copy

    @property
    def delivered(self) -> bool:
        return bool(self.arrivals)


class GilbertElliott:
    """Two-state burst loss: Good loses nothing, Bad loses everything.

    With p = P(Good→Bad) and r = P(Bad→Good): loss rate = p / (p + r), mean burst = 1 / r.
    """

    def __init__(self, loss: float, burst: float, rng: random.Random) -> None:
        self.rng = rng
        self.bad = False
        self.configure(loss, burst)

    def configure(self, loss: float, burst: float) -> None:
        self.loss = loss
        self.r = 1.0 / burst
        self.p = 1.0 if loss >= 1.0 else loss * self.r / (1.0 - loss)

    def lost(self) -> bool:
        """Step the chain for one frame; True if that frame is lost."""
        if self.loss <= 0.0:
            self.bad = False
            return False
        if self.loss >= 1.0:
            return True
        if self.bad:
            self.bad = self.rng.random() >= self.r
        else:
            self.bad = self.rng.random() < self.p
        return self.bad


class Serializer:
    """One direction's bottleneck: frames leave one after another at the link rate, and wait
    in a bounded buffer; a frame that does not fit is tail-dropped."""

    def __init__(self) -> None:
        self.busy_until = 0.0
        self._backlog: deque[tuple[float, int]] = deque()  # (finish time, size)
        self._queued = 0

    def queued_bytes(self, now: float) -> int:
        while self._backlog and self._backlog[0][0] <= now:
            self._queued -= self._backlog.popleft()[1]
        return self._queued

    def enqueue(self, size: int, now: float, rate_bps: float, limit: int) -> float | None:
        """When the last bit of the frame leaves, or None if the buffer is full."""
        if rate_bps <= 0:
            return now
        if self.queued_bytes(now) + size > limit:
            return None
        finish = max(now, self.busy_until) + size * 8 / rate_bps
        self.busy_until = finish
        self._backlog.append((finish, size))
        self._queued += size
        return finish


class LinkImpairment:
    """Both directions of one handset's radio link under a (changeable) profile."""

    def __init__(self, profile: LinkProfile, rng: random.Random) -> None:
        self.rng = rng
        self._loss = {d: GilbertElliott(profile.loss, profile.loss_burst, rng) for d in DIRECTIONS}
        self._serializers = {d: Serializer() for d in DIRECTIONS}
        self.profile = profile

    @property
    def profile(self) -> LinkProfile:
        return self._profile

    @profile.setter
    def profile(self, profile: LinkProfile) -> None:
        # Frames already decided keep their times; new frames see the new profile.
        self._profile = profile
        for chain in self._loss.values():
            chain.configure(profile.loss, profile.loss_burst)

    def decide(self, size: int, direction: str, now: float) -> Decision:
        profile = self._profile
        if not profile.in_service:
            return Decision((), "no-service")
        if self._loss[direction].lost():
            return Decision((), "loss")
        sent = self._serializers[direction].enqueue(
            size, now, profile.rate_bps(direction), int(profile.queue_kb * 1024))
        if sent is None:
            return Decision((), "queue")
        rng = self.rng
        delay = (profile.latency_ms + rng.uniform(-profile.jitter_ms, profile.jitter_ms)) / 1000
        if profile.reorder and rng.random() < profile.reorder:
            # Held back by up to one more latency: later frames overtake it.
            delay += rng.uniform(0, (profile.latency_ms + profile.jitter_ms) / 1000)
        arrivals = [sent + max(0.0, delay)]
        if profile.duplicate and rng.random() < profile.duplicate:
            arrivals.append(arrivals[0] + rng.uniform(0, max(profile.jitter_ms, 1.0)) / 1000)
        flipped: tuple[int, ...] = ()
        if profile.corrupt and rng.random() < profile.corrupt and size:
            flipped = tuple(sorted({rng.randrange(size * 8) for _ in range(rng.randint(1, 3))}))
        return Decision(tuple(arrivals), None, flipped)

    def queued_bytes(self, direction: str, now: float) -> int:
        return self._serializers[direction].queued_bytes(now)


def flip_bits(data: bytes, bits: tuple[int, ...]) -> bytes:
    """``data`` with the given bit positions inverted (what a corrupted frame looks like)."""
    if not bits:
        return data
    out = bytearray(data)
    for bit in bits:
        out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)

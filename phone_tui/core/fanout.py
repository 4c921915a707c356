"""Bounded fan-out to async readers: a slow reader loses its oldest items, never the writer."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Fanout(Generic[T]):
    """Hands every published item to each subscriber's bounded queue, without waiting."""

    def __init__(self) -> None:
        self._queues: list[asyncio.Queue[T]] = []
        self.dropped = 0

    def publish(self, item: T) -> None:
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
                self.dropped += 1
            queue.put_nowait(item)

    async def subscribe(self, maxsize: int = 1024) -> AsyncIterator[T]:
        queue: asyncio.Queue[T] = asyncio.Queue(maxsize)
        self._queues.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.remove(queue)


class Feed(Generic[T]):
    """Records kept in a bounded history and fanned out to bounded readers (the operator's
    tap, the fake base station's): a slow reader loses its oldest, counted in ``dropped``."""

    def __init__(self, history: int = 512) -> None:
        self.recent: deque[T] = deque(maxlen=history)
        self._fanout: Fanout[T] = Fanout()
        self.total = 0

    def clear(self) -> None:
        """Forget what was seen (a stage reset); readers keep getting new records."""
        self.recent.clear()

    @property
    def dropped(self) -> int:
        """Records slow readers lost."""
        return self._fanout.dropped

    def publish(self, record: T) -> None:
        self.total += 1
        self.recent.append(record)
        self._fanout.publish(record)

    def records(self, maxsize: int = 1000) -> AsyncIterator[T]:
        return self._fanout.subscribe(maxsize)

"""Bounded fan-out to async readers: a slow reader loses its oldest items, never the writer."""

from __future__ import annotations

import asyncio
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

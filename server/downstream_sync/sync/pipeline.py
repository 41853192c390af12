"""A bounded, coalescing work queue with a pool of workers.

Work is keyed by path: a new item for a path that is still waiting replaces the old one (latest
wins, through `merge` so nothing the old one implied is lost) and keeps its place; a path being
worked on is never handed to a second worker at the same time. A worker takes every ready item
up to `batch` at once, so a burst becomes few batched downloads. `submit` waits while the queue
holds `max_items` paths or `max_bytes` of inline content; `offer` does not wait for room: it adds
an item (a retry) only when its path is idle and there is room. Must not import pygls, lsprotocol or
terminal code.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any, Awaitable, Callable, Hashable

__all__ = ["Pipeline"]

log = logging.getLogger("downstream_sync")


class Pipeline:
    def __init__(self, handler: Callable[[list[Any]], Awaitable[None]], *, workers: int = 8,
                 batch: int = 128, max_items: int = 4096, max_bytes: int = 64 << 20,
                 weigh: Callable[[Any], int] = lambda item: 0,
                 on_failure: Callable[[BaseException], None] | None = None,
                 merge: Callable[[Any, Any], Any] = lambda old, new: new):
        self._handler = handler
        self._batch = batch
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._weigh = weigh
        self._on_failure = on_failure
        self._merge = merge
        self._pending: dict[Hashable, Any] = {}
        self._ready: deque[Hashable] = deque()
        self._in_flight: dict[Hashable, Any] = {}
        self._bytes = 0
        self._wake = asyncio.Condition()
        self._space = asyncio.Event()
        self._space.set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self.failure: BaseException | None = None
        self._workers = [asyncio.get_running_loop().create_task(self._work()) for _ in range(workers)]

    def __len__(self) -> int:
        return len(self._pending) + len(self._in_flight)

    def items(self) -> list[Any]:
        """Everything not finished yet (waiting or being worked on)."""
        return list(self._pending.values()) + list(self._in_flight.values())

    async def submit(self, key: Hashable, item: Any) -> None:
        while (len(self._pending) >= self._max_items or self._bytes >= self._max_bytes) and key not in self._pending:
            if self._closed:
                break
            self._space.clear()
            await self._space.wait()
        if self._closed:
            raise self.failure or RuntimeError("the work queue is closed")
        old = self._pending.get(key)
        if old is not None:
            self._bytes -= self._weigh(old)
            item = self._merge(old, item)
        self._pending[key] = item
        self._bytes += self._weigh(item)
        self._idle.clear()
        if old is None and key not in self._in_flight:
            self._ready.append(key)
            async with self._wake:
                self._wake.notify()

    async def offer(self, key: Hashable, item: Any) -> bool:
        """Add `item` when nothing for `key` is waiting or being worked on and there is room;
        False otherwise, and then nothing was added (the caller tries again later)."""
        async with self._wake:
            if (self._closed or key in self._pending or key in self._in_flight
                    or len(self._pending) >= self._max_items or self._bytes >= self._max_bytes):
                return False
            self._pending[key] = item
            self._bytes += self._weigh(item)
            self._idle.clear()
            self._ready.append(key)
            self._wake.notify()
        return True

    async def _take(self) -> list[tuple[Hashable, Any]]:
        async with self._wake:
            await self._wake.wait_for(lambda: bool(self._ready) or self._closed)
        taken = []
        while self._ready and len(taken) < self._batch:
            key = self._ready.popleft()
            item = self._pending.pop(key)
            self._bytes -= self._weigh(item)
            self._in_flight[key] = item
            taken.append((key, item))
        if len(self._pending) < self._max_items and self._bytes < self._max_bytes:
            self._space.set()
        return taken

    async def _work(self) -> None:
        while not self._closed:
            taken = await self._take()
            if not taken:
                continue
            try:
                await self._handler([item for _, item in taken])
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the handler reports per item; this is a lost connection or a bug
                if self.failure is None:
                    self.failure = e
                    if self._on_failure is not None:
                        self._on_failure(e)
                log.debug("pipeline: batch failed: %r", e)
                for key, item in taken:
                    self._pending.setdefault(key, item)
                self._closed = True
                self._space.set()
                async with self._wake:
                    self._wake.notify_all()
                self._idle.set()
                return
            finally:
                requeue = False
                for key, _ in taken:
                    self._in_flight.pop(key, None)
                    if key in self._pending and not self._closed:
                        self._ready.append(key)
                        requeue = True
                if requeue:
                    async with self._wake:
                        self._wake.notify_all()
                if not self._pending and not self._in_flight:
                    self._idle.set()

    async def drain(self) -> None:
        """Wait until every submitted item was handled (or the pipeline failed)."""
        await self._idle.wait()
        if self.failure is not None:
            raise self.failure

    async def close(self) -> None:
        self._closed = True
        self._space.set()
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

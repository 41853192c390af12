"""Retrying work whose local write failed for a reason that passes (a full disk, a folder made
writable again), for a running session.

The Applier hands every failed write here (`failed`). One that failed on the local file system
(an OSError: writer.DiskFull, permission denied, an I/O error) is put back in the session's work
queue after a backoff (0.5 s doubling to 10 s) until it succeeds or newer work for its path
replaces it (the container's version changed: that work is what must land). Refusals that will
not change by themselves are not retried: writer.RefusedPath (a symlink or a file on the way),
bytes that do not match their MD5. The first failure of an item is reported, the failures of its
retries are not: a full disk is one error per file, not one every few seconds. Retries outlive a
reconnect; no restart is needed. A retry keeps no file content: it downloads the file again. Must not import pygls, lsprotocol or terminal code.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Awaitable, Callable

from .work import Work
from .writer import RefusedPath, WriteError

__all__ = ["Retries", "retryable"]

_FIRST = 0.5
_MAX = 10.0


def retryable(error: WriteError) -> bool:
    """A write that failed on the local file system, and may work later as it is."""
    return isinstance(error.__cause__, OSError) and not isinstance(error, RefusedPath)


@dataclass(eq=False)
class _Retry:
    work: Work
    delay: float
    task: asyncio.Task | None = None  # waiting to go back in the queue; None: in the queue


class Retries:
    """The pending retries of one session, by wire path. `submit(work)` puts work in the current
    connection's queue, False when it cannot now (no connection, the queue full, the path busy)."""

    def __init__(self, submit: Callable[[Work], Awaitable[bool]]):
        self._submit = submit
        self._by_path: dict[str, _Retry] = {}

    def __len__(self) -> int:
        return len(self._by_path)

    def failed(self, w: Work, error: WriteError) -> str | None:
        """Take a failed write of `w`; returns the message to report, None for a retry's failure."""
        if not retryable(error):
            return str(error)
        known = self._by_path.get(w.path)
        again = known is not None and known.work is w
        if known is not None:
            self._drop(w.path)
        # A retry downloads the file again rather than keep its bytes: a long outage holds no memory.
        work = w if again else replace(w, reconcile=None, content=None)
        retry = _Retry(work, min(known.delay * 2, _MAX) if again else _FIRST)
        self._by_path[w.path] = retry
        retry.task = asyncio.get_running_loop().create_task(self._later(retry))
        return None if again else f"{error}; it is tried again until it can be written"

    def taken(self, batch: list[Work]) -> None:
        """Work about to be applied: a newer item for a path replaces that path's retry."""
        for w in batch:
            known = self._by_path.get(w.path)
            if known is not None and known.work is not w:
                self._drop(w.path)

    def settled(self, batch: list[Work], finished: bool) -> None:
        """Work applied (`finished`), or handed back by a lost connection: a retry that did not
        fail again is done; one whose batch was cut short waits for its next turn."""
        for w in batch:
            known = self._by_path.get(w.path)
            if known is not None and known.work is w and known.task is None:
                if finished:
                    del self._by_path[w.path]
                else:
                    known.task = asyncio.get_running_loop().create_task(self._later(known))

    def clear(self) -> None:
        for path in list(self._by_path):
            self._drop(path)

    def _drop(self, path: str) -> None:
        retry = self._by_path.pop(path)
        if retry.task is not None:
            retry.task.cancel()

    async def _later(self, retry: _Retry) -> None:
        while True:
            await asyncio.sleep(retry.delay)
            if await self._submit(retry.work):
                retry.task = None
                return

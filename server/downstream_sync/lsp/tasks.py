"""Background tasks of the language server: kept referenced until done, their failures logged.

Must not import pygls, the engine or config.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable

log = logging.getLogger(__name__)


class Background:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task] = set()

    def spawn(self, coro: Awaitable[Any], what: str) -> asyncio.Task:
        """Run `coro` as a task; an exception it ends with is logged with `what` it was doing."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("%s failed", what, exc_info=t.exception())

        task.add_done_callback(done)
        return task

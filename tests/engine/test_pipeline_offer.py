"""The pipeline's `offer` (how a retry goes back in the queue): added only when its path is idle
and there is room, never over newer work."""

from __future__ import annotations

import asyncio

from downstream_sync.sync.pipeline import Pipeline


async def test_offer_adds_only_for_an_idle_path_with_room():
    release, started = asyncio.Event(), asyncio.Event()
    seen: list[tuple[str, str]] = []

    async def handle(batch):
        started.set()
        await release.wait()
        seen.extend(batch)

    pipe = Pipeline(handle, workers=1, batch=1, max_items=2)
    await pipe.submit("a", ("a", "new"))
    await started.wait()                                 # the worker took a and blocks
    assert not await pipe.offer("a", ("a", "retry"))     # a is being worked on
    await pipe.submit("b", ("b", "new"))
    assert not await pipe.offer("b", ("b", "retry"))     # newer work for b waits: it wins
    await pipe.submit("c", ("c", "new"))
    assert not await pipe.offer("d", ("d", "retry"))     # no room
    release.set()
    await pipe.drain()
    assert await pipe.offer("a", ("a", "retry"))         # idle again
    await pipe.drain()
    await pipe.close()
    assert not await pipe.offer("e", ("e", "retry"))     # closed
    assert seen == [("a", "new"), ("b", "new"), ("c", "new"), ("a", "retry")]

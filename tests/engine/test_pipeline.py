"""The work pipeline: latest wins per key, one worker per key at a time, bounded submission."""

from __future__ import annotations

import asyncio

from downstream_sync.sync.pipeline import Pipeline


async def test_events_for_one_path_coalesce_latest_wins():
    release = asyncio.Event()
    started = asyncio.Event()
    seen: list[tuple[str, int]] = []
    active: set[str] = set()
    overlap = []

    async def handle(batch):
        for key, value in batch:
            if key in active:
                overlap.append(key)
            active.add(key)
        started.set()
        await release.wait()
        for key, value in batch:
            seen.append((key, value))
            active.discard(key)

    pipe = Pipeline(handle, workers=4, batch=1)
    await pipe.submit("a", ("a", 1))
    await started.wait()                   # a worker took a/1 and blocks
    for v in range(2, 10):                 # a changes eight more times meanwhile
        await pipe.submit("a", ("a", v))
    await pipe.submit("b", ("b", 1))
    release.set()
    await pipe.drain()
    await pipe.close()
    assert [v for k, v in seen if k == "a"] == [1, 9]
    assert ("b", 1) in seen
    assert not overlap


async def test_submit_waits_while_the_queue_is_full():
    release = asyncio.Event()

    started = asyncio.Event()

    async def handle(batch):
        started.set()
        await release.wait()

    pipe = Pipeline(handle, workers=1, batch=1, max_items=3)
    await pipe.submit(0, 0)
    await started.wait()                   # one taken by the worker
    for i in range(1, 4):                  # three waiting: the queue is full
        await pipe.submit(i, i)
    blocked = asyncio.ensure_future(pipe.submit(99, 99))
    await asyncio.sleep(0.05)
    assert not blocked.done()
    release.set()
    await asyncio.wait_for(blocked, 10)
    await pipe.drain()
    await pipe.close()


def test_a_later_event_keeps_what_a_pending_rename_implied():
    """rename a->b, then b changes (or goes) before the rename ran: a must still be removed."""
    from downstream_sync.sync.apply import Work, merge
    changed = merge(Work("rename", "src/b", md5="m1", old_path="src/a"), Work("change", "src/b", md5="m2"))
    assert (changed.kind, changed.old_path, changed.md5) == ("rename", "src/a", "m2")
    deleted = merge(Work("rename", "src/b", old_path="src/a"), Work("delete", "src/b"))
    assert (deleted.kind, deleted.old_path) == ("delete", "src/a")
    plain = merge(Work("change", "src/b", md5="m1"), Work("change", "src/b", md5="m2"))
    assert (plain.kind, plain.old_path, plain.md5) == ("change", "", "m2")

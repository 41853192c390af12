"""Bursts: 10,000 files created at once in the container all arrive and the trees match; a burst
moved in at once arrives complete past a slow consumer."""

from __future__ import annotations

import asyncio
import os
import time

from downstream_sync.sync.events import FileSynced, SessionState

from engine_support import count_files, eventually, tree


def make_files(root, n):
    for d in range(100):
        folder = root / f"d{d:02}"
        folder.mkdir()
        for i in range(n // 100):
            (folder / f"f{i:03}.txt").write_bytes(f"{d}/{i}\n".encode() * 200)


async def test_ten_thousand_files_at_once(helper, container, project, make_session):
    session, rec = await make_session(helper)
    await eventually(lambda: session.state is SessionState.WATCHING, "watching")
    await asyncio.get_running_loop().run_in_executor(None, make_files, container / "src", 10_000)
    want = tree(container / "src")
    assert len(want) == 10_000

    await eventually(lambda: count_files(project / "out") >= 10_000, "10,000 files", limit=120)
    assert tree(project / "out") == want
    assert not rec.errors


async def test_a_burst_moved_in_at_once_with_a_slow_consumer_arrives_complete(helper, container, project,
                                                                               make_session):
    """The helper sends the burst in BATCH messages while a subscriber holds the session's loop for
    each synced file: every file still arrives, intact, with nothing reported wrong."""
    session, rec = await make_session(helper)
    await eventually(lambda: session.state is SessionState.WATCHING, "watching")

    def slow(event):
        if isinstance(event, FileSynced):
            time.sleep(0.002)
    session.subscribe(slow)
    staging = container / "staging"
    staging.mkdir()
    await asyncio.get_running_loop().run_in_executor(None, make_files, staging, 2_000)
    os.rename(staging, container / "src" / "burst")
    want = tree(container / "src")
    await eventually(lambda: tree(project / "out") == want, "the whole burst", limit=120)
    await eventually(lambda: len(rec.of(FileSynced)) == 2_000, "every file reported")
    assert not rec.errors

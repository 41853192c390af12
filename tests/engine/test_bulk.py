"""10,000 files created at once in the container all arrive and the trees match."""

from __future__ import annotations

import asyncio
import os

from downstream_sync.sync.events import SessionState

from engine_support import eventually, tree


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

    def count():
        return sum(len(files) for _, _, files in os.walk(project / "out"))
    await eventually(lambda: count() >= 10_000, "10,000 files", limit=120)
    assert tree(project / "out") == want
    assert not rec.errors

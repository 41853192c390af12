"""localDst and a folder below it swapped with symlinks to a folder outside the project while a
session syncs a burst of writes, then of deletes: nothing may appear outside, and nothing there may
change or go (the outside files even hold the container's content, so a look through the symlink
finds them "in sync"). Real app-server, real Session, swapping processes of their own."""

from __future__ import annotations

import asyncio
import hashlib
import pathlib
import subprocess
import sys

import pytest

from downstream_sync.sync.events import SessionState

from engine_support import eventually

SWAPPER = str(pathlib.Path(__file__).with_name("swapper.py"))
FILES = 200


def _state(folder: pathlib.Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
            for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("swapped", ["out", "out/sub"])
async def test_symlink_swaps_during_a_burst_touch_nothing_outside(helper, container, project, make_session,
                                                                   tmp_path, swapped):
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    for i in range(FILES):
        (outside / f"f{i}.txt").write_text(f"c{i}")
        (outside / "sub" / f"f{i}.txt").write_text(f"c{i}")
        (outside / f"g{i}.txt").write_text("outside only")
    before = _state(outside)
    out = project / "out"
    (out / "sub").mkdir(parents=True)
    session, rec = await make_session(helper)
    await eventually(lambda: session.state is SessionState.WATCHING, "the session to watch")
    target = outside / "sub" if swapped == "out/sub" else outside
    swappers = [subprocess.Popen([sys.executable, SWAPPER, str(project / swapped), str(target), "200", "0.001"],
                                 stdout=subprocess.PIPE, text=True)]
    try:
        src = container / "src"
        (src / "sub").mkdir()
        for i in range(FILES):
            (src / f"f{i}.txt").write_text(f"c{i}")
            (src / "sub" / f"f{i}.txt").write_text(f"c{i}")
        await asyncio.sleep(1.0)
        for i in range(FILES):
            (src / f"f{i}.txt").unlink()
            (src / "sub" / f"f{i}.txt").unlink()
        for p in swappers:
            await asyncio.to_thread(p.wait, 60)
        await asyncio.sleep(2.0)
    finally:
        for p in swappers:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
    await session.stop()
    after = _state(outside)
    assert after == before, (f"outside changed: new {sorted(set(after) - set(before))[:5]}, "
                             f"gone {sorted(set(before) - set(after))[:5]}")

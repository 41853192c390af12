"""The synced file itself, and its conflict copy's name, swapped with symlinks to a file outside
the project while the container rewrites the file again and again: the outside file never changes.
Real app-server, real Session, a swapping process of its own."""

from __future__ import annotations

import asyncio
import pathlib
import subprocess
import sys

import pytest

from downstream_sync.sync.events import SessionState

from engine_support import eventually

SWAPPER = str(pathlib.Path(__file__).with_name("swapper.py"))
REWRITES = 200


@pytest.mark.parametrize("swapped", ["app.conf", "app.conf.downstream-conflict"])
async def test_a_file_name_swapped_for_a_symlink_never_writes_outside(helper, container, project, make_session,
                                                                      tmp_path, swapped):
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.conf"
    victim.write_text("precious")
    session, rec = await make_session(helper)
    await eventually(lambda: session.state is SessionState.WATCHING, "the session to watch")
    remote = container / "src" / "app.conf"
    local = project / "out" / "app.conf"
    remote.write_text("v0")
    await eventually(lambda: local.exists(), "the first version")
    if swapped.endswith(".downstream-conflict"):
        local.write_text("mine")  # every next version is a conflict copy
        remote.write_text("v1")
        await eventually(lambda: (local.parent / swapped).exists(), "the first conflict copy")
    proc = subprocess.Popen([sys.executable, SWAPPER, str(local.parent / swapped), str(victim), "200", "0.001"],
                            stdout=subprocess.PIPE, text=True)
    try:
        for i in range(REWRITES):
            remote.write_text(f"version {i}")
            await asyncio.sleep(0.002)
        await asyncio.to_thread(proc.wait, 60)
        await asyncio.sleep(1.0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    await session.stop()
    assert victim.read_text() == "precious"
    assert sorted(p.name for p in outside.iterdir()) == ["victim.conf"]

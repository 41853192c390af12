"""A folder below localDst swapped with a symlink to a folder outside the project while sessions
start (a start removes this tool's stale temporary files below localDst): nothing outside may be
deleted. Real app-server, real Sessions, a swapping process of its own."""

from __future__ import annotations

import pathlib
import subprocess
import sys

from downstream_sync.sync.events import SessionState

from engine_support import eventually

SWAPPER = str(pathlib.Path(__file__).with_name("swapper.py"))
FOLDERS = 150
STARTS = 30


async def test_a_folder_swapped_for_a_symlink_while_a_session_starts(helper, container, project,
                                                                     make_session, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    victims = [outside / f".notes{i}.txt.dstmp-{i:08x}" for i in range(5)]
    for v in victims:
        v.write_text("someone else's file")
    out = project / "out"
    for i in range(FOLDERS):  # folders visited before the swapped one
        d = out / f"d{i:03d}"
        d.mkdir(parents=True)
        for j in range(20):
            (d / f"f{j}").write_text("x")
    swapped = out / "a-swapped"
    swapped.mkdir()
    proc = subprocess.Popen([sys.executable, SWAPPER, str(swapped), str(outside), "100000", "0.0005"],
                            stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(STARTS):
            session, rec = await make_session(helper)
            await eventually(lambda: session.state is SessionState.WATCHING, "the session to watch")
            await session.stop()
            if not all(v.exists() for v in victims):
                break
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    gone = [v.name for v in victims if not v.exists()]
    assert not gone, f"files outside the project were deleted: {gone}"

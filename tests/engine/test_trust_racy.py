"""Same-size edits within one timestamp tick of a sync, on file systems with coarse timestamps
(ramfs) and fine ones (tmpfs), mounted by the test: the stat the engine recorded is no proof then,
and the next container change must not overwrite the edit. Real app-server, real files."""

from __future__ import annotations

import asyncio

import pytest

from downstream_sync.sync.events import Conflict, FileSynced, SessionState

from engine_support import Racer, eventually, holding, mounted

EDITS = 40


@pytest.fixture(params=["ramfs", "tmpfs"])
def project(request, tmp_path):
    with mounted(request.param, tmp_path / "project") as root:
        yield root


@pytest.fixture
def racer():
    r = Racer()
    yield r
    r.stop()


async def test_same_size_edits_right_after_a_sync_are_never_overwritten(helper, container, project, make_session,
                                                                        racer, request):
    session, rec = await make_session(helper)
    await eventually(lambda: session.state is SessionState.WATCHING, "the session to watch")
    out = project / "out"
    lost = 0
    for i in range(EDITS):
        name = f"f{i:02d}.txt"
        first, mine, later = (f"{tag}-{i:02d}-{'x' * 30}".encode() for tag in ("remote", "mine--", "later-"))
        local = out / name
        out.mkdir(exist_ok=True)
        # The user saves in place, the moment the engine has written the file (same size, same tick).
        edit = asyncio.create_task(racer.ask("follow", local, "inplace", first.hex(), mine.hex()))
        (container / "src" / name).write_bytes(first)
        await edit
        seen = len(rec.of(FileSynced, path=f"out/{name}")) + len(rec.of(Conflict, path=f"out/{name}"))
        (container / "src" / name).write_bytes(later)
        await eventually(lambda: len(rec.of(FileSynced, path=f"out/{name}"))
                         + len(rec.of(Conflict, path=f"out/{name}")) > seen, f"the engine to take {name} again")
        if not holding(out, mine):
            lost += 1
    print(f"\n{request.node.callspec.id}: {lost} of {EDITS} same-size edits overwritten without a copy")
    assert lost == 0, f"{lost} of {EDITS} edits were overwritten without a copy"
    assert not rec.errors

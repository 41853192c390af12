"""Edits that land while the engine replaces, deletes or renames the file: a user saves (as an editor does, by rename,
or in place) a moment after the container changed the same file, at delays swept across the
engine's check-then-replace window. Every version the user wrote must still be somewhere (the
file, its conflict copy or its backup). Real app-server, real gRPC, a racing process of its own."""

from __future__ import annotations

import pytest

from downstream_sync.sync.events import Conflict, FileSkipped, FileSynced, SessionState, SyncError

from engine_support import Helper, Racer, eventually, holding

EDITS = 1000
DELETES = 500
RENAMES = 300
FILES = 50


@pytest.fixture
def racer():
    r = Racer()
    yield r
    r.stop()


@pytest.mark.parametrize("policy", ["safe", "remote-wins"])
async def test_no_simultaneous_edit_is_lost(helper, container, project, make_session, racer, policy):
    session, rec = await make_session(helper, policy=policy)
    await eventually(lambda: session.state is SessionState.WATCHING, "the session to watch")
    out = project / "out"
    lost = []
    for i in range(EDITS):
        # A fresh synced file per round, so each round races an update over a clean file.
        name = f"f{i:04d}.txt"
        remote = container / "src" / name
        relpath = f"out/{name}"
        remote.write_bytes(f"first {i}".encode())
        await eventually(lambda: (out / name).exists() and rec.of(FileSynced, path=relpath), f"{name} synced")
        seen = _answers(rec, relpath)
        mine = f"mine {i} {'y' * (i % 7)}".encode()
        mode = "rename" if i % 2 == 0 else "inplace"
        delay_us = (i * 37) % 2500
        await racer.ask("race", remote, out / name, delay_us, mode, f"second {i}".encode().hex(), mine.hex())
        await eventually(lambda: _answers(rec, relpath) > seen, f"the engine to take {name} again")
        if not holding(out, mine):
            lost.append((name, mode, delay_us))
        if i % FILES == FILES - 1:  # keep the folder small
            for p in list(out.iterdir()):
                p.unlink()
            for p in list((container / "src").iterdir()):
                p.unlink()
            await eventually(lambda: not any((container / "src").iterdir()), "the container folder emptied")
    print(f"\n{policy}: {len(lost)} of {EDITS} simultaneous edits gone without a copy: {lost[:10]}")
    assert not lost


def _answers(rec, relpath: str) -> int:
    return sum(len(rec.of(kind, path=relpath)) for kind in (FileSynced, Conflict, FileSkipped, SyncError))


@pytest.mark.parametrize("policy", ["safe", "remote-wins"])
async def test_no_edit_racing_a_delete_is_lost(container, tmp_path, project, make_session, racer, policy):
    # The helper holds a DELETE for --delete-hold after the file vanished (0.2 s by default), which
    # would put the engine's delete far behind every racing save; 2 ms keeps the sweep on the window.
    helper = Helper(container, tmp_path / "helper.sock", ["src"], extra=["--delete-hold", "0.002"]).start()
    try:
        await _race_deletes(helper, project, container, make_session, racer, policy)
    finally:
        helper.kill()


async def _race_deletes(helper, project, container, make_session, racer, policy):
    session, rec = await make_session(helper, policy=policy)
    await eventually(lambda: session.state is SessionState.WATCHING, "the session to watch")
    out = project / "out"
    lost = []
    for i in range(DELETES):
        name = f"d{i:04d}.txt"
        remote = container / "src" / name
        relpath = f"out/{name}"
        remote.write_bytes(f"first {i}".encode())
        await eventually(lambda: (out / name).exists() and rec.of(FileSynced, path=relpath), f"{name} synced")
        seen = _answers(rec, relpath)
        mine = f"mine {i} {'z' * (i % 5)}".encode()
        mode = "rename" if i % 2 == 0 else "inplace"
        delay_us = (i * 53) % 4500
        await racer.ask("race-delete", remote, out / name, delay_us, mode, mine.hex())
        await eventually(lambda: _answers(rec, relpath) > seen, f"the engine to take the delete of {name}")
        if not holding(out, mine):
            lost.append((name, mode, delay_us))
        if i % FILES == FILES - 1:
            for p in list(out.iterdir()):
                p.unlink()
    print(f"\n{policy}: {len(lost)} of {DELETES} edits racing a delete gone without a copy: {lost[:10]}")
    assert not lost


@pytest.mark.parametrize("policy", ["safe", "remote-wins"])
async def test_no_edit_racing_a_rename_is_lost(helper, container, project, make_session, racer, policy):
    session, rec = await make_session(helper, policy=policy)
    await eventually(lambda: session.state is SessionState.WATCHING, "the session to watch")
    out = project / "out"
    lost = []
    for i in range(RENAMES):
        name, new_name = f"r{i:04d}.txt", f"r{i:04d}.moved"
        remote = container / "src" / name
        remote.write_bytes(f"first {i}".encode())
        await eventually(lambda: (out / name).exists() and rec.of(FileSynced, path=f"out/{name}"), f"{name} synced")
        mine = f"mine {i} {'w' * (i % 3)}".encode()
        mode = "rename" if i % 2 == 0 else "inplace"
        delay_us = (i * 71) % 2500
        await racer.ask("race-rename", remote, new_name, out / name, delay_us, mode, mine.hex())
        await eventually(lambda: _answers(rec, f"out/{new_name}") > 0, f"the engine to take the rename of {name}")
        moved = lambda: any(e.old_path == f"out/{name}" for e in rec.of(FileSynced, path=f"out/{new_name}"))
        await eventually(lambda: moved() or _answers(rec, f"out/{name}") > 1, f"the engine to settle {name}")
        if not holding(out, mine):
            lost.append((name, mode, delay_us))
        if i % FILES == FILES - 1:
            for p in list(out.iterdir()):
                p.unlink()
            for p in list((container / "src").iterdir()):
                p.unlink()
            await eventually(lambda: not any((container / "src").iterdir()), "the container folder emptied")
    print(f"\n{policy}: {len(lost)} of {RENAMES} edits racing a rename gone without a copy: {lost[:10]}")
    assert not lost

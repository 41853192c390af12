"""The state folder `.downstream-sync` (and the files in it) replaced by symlinks to a folder outside
the project: a session must write nothing there and change nothing there. Real app-server, real
Session."""

from __future__ import annotations

import os

from downstream_sync.sync.events import SessionState
from downstream_sync.sync.lock import LOCKS_DIR_NAME, _file_name

from engine_support import eventually


async def _said(make_session, helper) -> str:
    """What a session said when it refused its state folder ("" when it did not)."""
    try:
        session, rec = await make_session(helper)
    except Exception as e:
        return str(e)
    await eventually(lambda: session.state in (SessionState.WATCHING, SessionState.FAILED), "the session")
    await session.stop()
    return " ".join(e.message for e in rec.errors)


def _refused(said: str, link) -> bool:
    return f"{link} is a symbolic link" in said and "remove the link" in said


def _snapshot(folder):
    return {p.name: (p.read_bytes() if p.is_file() else None) for p in folder.iterdir()}


async def test_a_lock_file_symlinked_outside_is_not_truncated(helper, container, project, make_session, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "precious.txt"
    victim.write_bytes(b"do not touch\n" * 10)
    locks = project / ".downstream-sync" / LOCKS_DIR_NAME
    locks.mkdir(parents=True)
    os.symlink(victim, locks / _file_name("web"))
    (container / "src" / "a.txt").write_text("a")
    said = await _said(make_session, helper)
    assert victim.read_bytes() == b"do not touch\n" * 10, f"outside file now holds {victim.read_bytes()!r}"
    assert _refused(said, locks / _file_name("web")), said


async def test_a_state_folder_symlinked_outside_gets_no_files(helper, container, project, make_session, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    os.symlink(outside, project / ".downstream-sync")
    (container / "src" / "a.txt").write_text("a")
    before = _snapshot(outside)
    said = await _said(make_session, helper)
    after = _snapshot(outside)
    assert after == before, f"files written outside the project: {sorted(set(after) - set(before))}"
    assert _refused(said, project / ".downstream-sync"), said


async def test_a_ledger_symlinked_outside_is_not_created_there(helper, container, project, make_session, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    state = project / ".downstream-sync"
    state.mkdir()
    os.symlink(outside / "ledger.db", state / "ledger.db")  # dangling: sqlite creates the target
    (container / "src" / "a.txt").write_text("a")
    said = await _said(make_session, helper)
    assert sorted(p.name for p in outside.iterdir()) == [], "the ledger was created outside the project"
    assert _refused(said, state / "ledger.db"), said

"""Conflicts a person can finish: a conflict ends when the local file holds the container's
version however it got there, a file deleted locally is a change of the user's, and the
container's delete takes the conflict copy with it. A real app-server, real files."""

from __future__ import annotations

import asyncio
import os

from downstream_sync.sync.events import Conflict, ConflictResolved, SessionState
from downstream_sync.sync.ledger import Ledger

from engine_support import eventually


async def watching(session):
    await eventually(lambda: session.state is SessionState.WATCHING, "the session to watch")


async def in_conflict(helper, container, project, make_session):
    """A watching session with out/a.txt in conflict: synced as "v1", edited to "mine" locally, then
    "v2" in the container. Returns the session, its recorder, the container's file, the local file
    and the conflict copy."""
    session, rec = await make_session(helper)
    await watching(session)
    f = container / "src" / "a.txt"
    f.write_text("v1")
    local, copy = project / "out" / "a.txt", project / "out" / "a.txt.downstream-conflict"
    await eventually(lambda: local.exists(), "v1")
    local.write_text("mine")
    f.write_text("v2")
    await eventually(lambda: copy.exists(), "the conflict copy")
    return session, rec, f, local, copy


async def test_moving_the_copy_into_place_ends_the_conflict(helper, container, project, make_session):
    session, rec, f, local, copy = await in_conflict(helper, container, project, make_session)
    os.replace(copy, local)  # the user takes the container's version by hand
    f.write_text("v3")
    await eventually(lambda: local.read_text() == "v3", "an ordinary update")
    assert len(rec.of(Conflict, path="out/a.txt")) == 1
    assert rec.of(ConflictResolved, path="out/a.txt")
    assert not copy.exists()
    await eventually(lambda: not _recorded_conflict(project, "out/a.txt"), "the ledger to record its end")


def _recorded_conflict(project, relpath: str) -> str | None:
    """What the ledger in the database says of a conflict on relpath, read as another process would."""
    ledger = Ledger(project / ".downstream-sync", "web")
    try:
        return ledger.meta(f"conflict:{relpath}")
    finally:
        ledger.close()


async def test_making_the_same_edit_ends_the_conflict_and_removes_the_copy(helper, container, project, make_session):
    session, rec, f, local, copy = await in_conflict(helper, container, project, make_session)
    local.write_text("v3")  # the same edit as the container's next one
    f.write_text("v3")
    await eventually(lambda: rec.of(ConflictResolved, path="out/a.txt"), "the conflict to end")
    assert not copy.exists() and local.read_text() == "v3"
    f.write_text("v4")
    await eventually(lambda: local.read_text() == "v4", "an ordinary update")
    assert len(rec.of(Conflict, path="out/a.txt")) == 1


async def test_a_repeated_conflict_says_so_and_keeps_one_copy(helper, container, project, make_session):
    session, rec, f, local, copy = await in_conflict(helper, container, project, make_session)
    f.write_text("v3")
    await eventually(lambda: copy.read_text() == "v3", "the copy to hold the newest version")
    first, *later = rec.of(Conflict, path="out/a.txt")
    assert not first.repeat and later and all(c.repeat for c in later)
    assert sorted(p.name for p in local.parent.iterdir()) == ["a.txt", "a.txt.downstream-conflict"]


async def test_a_file_deleted_locally_is_not_recreated_under_safe(helper, container, project, make_session):
    session, rec = await make_session(helper)
    await watching(session)
    f = container / "src" / "a.txt"
    f.write_text("v1")
    local, copy = project / "out" / "a.txt", project / "out" / "a.txt.downstream-conflict"
    await eventually(lambda: local.exists(), "v1")
    local.unlink()
    f.write_text("v2")
    await eventually(lambda: rec.of(Conflict, path="out/a.txt"), "a conflict")
    conflict = rec.of(Conflict, path="out/a.txt")[0]
    assert "deleted locally" in conflict.reason and "resolve out/a.txt --take-remote" in conflict.reason
    assert not local.exists() and copy.read_text() == "v2"
    await session.resolve_conflict("out/a.txt", "take-remote")
    assert local.read_text() == "v2" and not copy.exists()
    f.write_text("v3")
    await eventually(lambda: local.read_text() == "v3", "an ordinary update")


async def test_a_file_deleted_locally_comes_back_under_remote_wins(helper, container, project, make_session):
    session, rec = await make_session(helper, policy="remote-wins")
    await watching(session)
    f = container / "src" / "a.txt"
    f.write_text("v1")
    local = project / "out" / "a.txt"
    await eventually(lambda: local.exists(), "v1")
    local.unlink()
    f.write_text("v2")
    await eventually(lambda: local.exists() and local.read_text() == "v2", "the file re-created")
    assert not rec.of(Conflict)


async def test_a_conflict_settled_while_no_session_ran_ends_at_the_next_start(helper, container, project,
                                                                             make_session):
    session, rec, f, local, copy = await in_conflict(helper, container, project, make_session)
    await session.stop()
    local.write_text("v2")  # the same bytes as the container's
    session2, rec2 = await make_session(helper)
    await watching(session2)
    assert rec2.of(ConflictResolved, path="out/a.txt") and not copy.exists()
    assert not rec2.of(Conflict)


async def test_a_conflict_settled_by_hand_ends_without_a_container_event(helper, container, project, make_session):
    session, rec, f, local, copy = await in_conflict(helper, container, project, make_session)
    os.replace(copy, local)
    await eventually(lambda: rec.of(ConflictResolved, path="out/a.txt"), "the conflict to end on its own")
    f.write_text("v3")
    await eventually(lambda: local.read_text() == "v3", "an ordinary update")
    assert len(rec.of(Conflict, path="out/a.txt")) == 1


async def test_a_conflict_resolved_by_another_process_is_seen_by_the_running_session(helper, container, project,
                                                                                     make_session):
    """The second session object opens the ledger on its own sqlite connection in a thread of its
    own, as the `downstream-sync resolve` process does (tests/cli/test_cli_resolve.py runs that one
    for real): the running session's loop goes on committing meanwhile."""
    session, rec, f, local, copy = await in_conflict(helper, container, project, make_session)
    await eventually(lambda: _recorded_conflict(project, "out/a.txt"), "the conflict in the ledger's database")
    other, _ = await make_session(helper, start=False)
    await asyncio.to_thread(asyncio.run, other.resolve_conflict("out/a.txt", "keep-local"))
    assert not copy.exists() and local.read_text() == "mine"
    resolved = await eventually(lambda: rec.of(ConflictResolved, path="out/a.txt"), "the running session to see it")
    assert resolved[0].how == "resolved by another process"
    f.write_text("v3")  # kept local: the next change is a conflict again, with a fresh copy
    await eventually(lambda: copy.exists() and copy.read_text() == "v3", "a new conflict copy")
    assert local.read_text() == "mine"
    new = rec.of(Conflict, path="out/a.txt")[-1]
    assert not new.repeat


async def test_an_open_conflict_is_listed_at_the_next_start_and_its_copy_left_alone(helper, container, project,
                                                                                    make_session):
    session, rec, f, local, copy = await in_conflict(helper, container, project, make_session)
    await session.stop()
    before = copy.stat()
    session2, rec2 = await make_session(helper)
    await watching(session2)
    (listed,) = rec2.of(Conflict, path="out/a.txt")
    assert listed.repeat and listed.remote_copy == "out/a.txt.downstream-conflict"
    after = copy.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


async def test_removing_the_copy_keeps_the_local_version(helper, container, project, make_session):
    session, rec, f, local, copy = await in_conflict(helper, container, project, make_session)
    copy.unlink()
    (resolved,) = await eventually(lambda: rec.of(ConflictResolved, path="out/a.txt"), "the conflict to end")
    assert "the local version is kept" in resolved.how
    f.write_text("v3")  # still the user's file
    await eventually(lambda: copy.exists() and copy.read_text() == "v3", "a new conflict")
    assert local.read_text() == "mine" and not rec.of(Conflict, path="out/a.txt")[-1].repeat

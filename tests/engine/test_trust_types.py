"""Type changes in the container: a folder replaced by a file of the same name and the reverse are
applied; folders this tool made go when the container empties them; a user's file is never lost.
Real app-server, real gRPC, real files."""

from __future__ import annotations

import shutil

from downstream_sync.sync.events import Conflict, SessionState

from engine_support import eventually


async def watching(session):
    await eventually(lambda: session.state is SessionState.WATCHING, "the session to watch")


async def test_a_folder_replaced_by_a_file_and_back(helper, container, project, make_session):
    session, rec = await make_session(helper)
    await watching(session)
    src, out = container / "src", project / "out"
    (src / "gen" / "deep").mkdir(parents=True)
    (src / "gen" / "a.txt").write_text("a")
    (src / "gen" / "deep" / "b.txt").write_text("b")
    await eventually(lambda: (out / "gen" / "deep" / "b.txt").exists() and (out / "gen" / "a.txt").exists(),
                     "the folder")
    shutil.rmtree(src / "gen")
    (src / "gen").write_text("now a file")
    await eventually(lambda: (out / "gen").is_file() and (out / "gen").read_text() == "now a file",
                     "the file in place of the folder")
    (src / "gen").unlink()
    (src / "gen").mkdir()
    (src / "gen" / "c.txt").write_text("a folder again")
    await eventually(lambda: (out / "gen" / "c.txt").exists() and (out / "gen" / "c.txt").read_text() == "a folder again",
                     "the folder in place of the file")
    assert not rec.errors, [e.message for e in rec.errors]
    assert not rec.of(Conflict)


async def test_empty_folders_made_by_the_engine_go_with_the_container_ones(helper, container, project, make_session):
    session, rec = await make_session(helper)
    await watching(session)
    src, out = container / "src", project / "out"
    (src / "tmp" / "x").mkdir(parents=True)
    (src / "tmp" / "x" / "one.txt").write_text("1")
    (src / "keep").mkdir()
    (src / "keep" / "two.txt").write_text("2")
    await eventually(lambda: (out / "tmp" / "x" / "one.txt").exists() and (out / "keep" / "two.txt").exists(),
                     "the folders")
    (out / "keep" / "mine.txt").write_text("a file the user made")
    (out / "mine").mkdir()
    shutil.rmtree(src / "tmp")
    shutil.rmtree(src / "keep")
    await eventually(lambda: not (out / "tmp").exists(), "the emptied folders removed")
    await eventually(lambda: not (out / "keep" / "two.txt").exists(), "the synced file removed")
    assert (out / "keep" / "mine.txt").read_text() == "a file the user made"
    assert (out / "mine").is_dir()  # a folder the user made is never removed


async def test_a_folder_holding_a_user_file_is_a_conflict_and_kept(helper, container, project, make_session):
    session, rec = await make_session(helper)
    await watching(session)
    src, out = container / "src", project / "out"
    (src / "gen").mkdir()
    (src / "gen" / "a.txt").write_text("a")
    await eventually(lambda: (out / "gen" / "a.txt").exists(), "the folder")
    (out / "gen" / "notes.txt").write_text("mine")
    shutil.rmtree(src / "gen")
    (src / "gen").write_text("now a file")
    await eventually(lambda: rec.of(Conflict, path="out/gen"), "the conflict")
    assert (out / "gen" / "notes.txt").read_text() == "mine"
    message = rec.of(Conflict, path="out/gen")[-1].reason
    assert "out/gen/notes.txt" in message and "move it away" in message

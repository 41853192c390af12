"""Live sync through a real app-server and app-connect: create, modify, delete, rename, modes,
echo suppression, conflicts under both policies and their resolution."""

from __future__ import annotations

import os
import stat

from downstream_sync.sync.events import (Conflict, ConflictResolved, FileSkipped, FileSynced, ReconcileProgress,
                                         SessionState)

from engine_support import eventually, md5, tree


async def watching(session):
    await eventually(lambda: session.state is SessionState.WATCHING, "the session to watch")


async def test_initial_reconcile_then_create_modify_delete_rename(helper, container, project, make_session):
    (container / "src" / "old.txt").write_text("from before the session")
    (container / "src" / "deep" / "er").mkdir(parents=True)
    (container / "src" / "deep" / "er" / "x.json").write_text('{"a": 1}')
    session, rec = await make_session(helper)
    await watching(session)
    out = project / "out"
    await eventually(lambda: tree(out) == tree(container / "src"), "the initial files")
    assert rec.of(ReconcileProgress)

    (container / "src" / "new.txt").write_text("new")
    await eventually(lambda: md5(out / "new.txt") == md5(container / "src" / "new.txt"), "a created file")
    (container / "src" / "new.txt").write_text("modified, and longer")
    await eventually(lambda: (out / "new.txt").read_text() == "modified, and longer", "a modified file")
    big = os.urandom(700_000)  # above the inline limit: downloaded
    (container / "src" / "deep" / "big.bin").write_bytes(big)
    await eventually(lambda: (out / "deep" / "big.bin").exists() and
                     (out / "deep" / "big.bin").read_bytes() == big, "a large file")
    os.rename(container / "src" / "deep" / "er" / "x.json", container / "src" / "moved.json")
    await eventually(lambda: (out / "moved.json").exists() and not (out / "deep" / "er" / "x.json").exists(),
                     "a renamed file")
    (container / "src" / "old.txt").unlink()
    await eventually(lambda: not (out / "old.txt").exists(), "a deleted file")
    assert tree(out) == tree(container / "src")
    assert rec.of(FileSynced, path="out/moved.json")[-1].action in ("renamed", "created")
    assert rec.of(FileSynced, path="out/old.txt", action="deleted")
    assert not rec.errors
    assert session.stats.files_synced >= 6
    assert not [p for p in out.rglob("*") if ".dstmp-" in p.name or ".dsswap-" in p.name]


async def test_exec_bit_is_kept(helper, container, project, make_session):
    session, rec = await make_session(helper)
    await watching(session)
    script = container / "src" / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    local = project / "out" / "run.sh"
    await eventually(lambda: local.exists() and local.stat().st_mode & stat.S_IXUSR, "an executable file")
    assert local.read_text() == "#!/bin/sh\necho hi\n"


async def test_a_mode_only_change_reaches_the_local_file(helper, container, project, make_session):
    """chmod +x in the container changes no byte: the local copy still gets the exec bit."""
    session, rec = await make_session(helper)
    await watching(session)
    script = container / "src" / "tool.sh"
    script.write_text("#!/bin/sh\n")
    local = project / "out" / "tool.sh"
    await eventually(lambda: local.exists(), "the first download")
    assert not local.stat().st_mode & stat.S_IXUSR
    script.chmod(0o755)
    await eventually(lambda: local.stat().st_mode & stat.S_IXUSR, "the exec bit on the local copy")
    assert local.read_text() == "#!/bin/sh\n"


async def test_echo_of_an_upload_is_not_downloaded_again(helper, container, project, make_session):
    """Skaffold's upstream sync uploads what we downloaded: the same bytes arrive as a new event."""
    session, rec = await make_session(helper)
    await watching(session)
    f = container / "src" / "gen.txt"
    f.write_text("generated")
    local = project / "out" / "gen.txt"
    await eventually(lambda: local.exists(), "the first download")
    before = local.stat()
    synced = len(rec.of(FileSynced))
    # The upload: the same bytes written again into the container (a new inode, as tar -x does).
    tmp = container / "src" / ".gen.txt.upload"
    tmp.write_text("generated")
    os.replace(tmp, f)
    # Events arrive in order: once a later file is here, the echo was handled (or never sent).
    (container / "src" / "sentinel.txt").write_text("after the echo")
    await eventually(lambda: (project / "out" / "sentinel.txt").exists(), "a later file")
    assert [e.path for e in rec.of(FileSynced)[synced:]] == ["out/sentinel.txt"]
    after = local.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    # A local edit uploaded by Skaffold comes back as an echo too: the local file already has it.
    local.write_text("edited locally")
    f.write_text("edited locally")
    await eventually(lambda: rec.of(FileSkipped, path="out/gen.txt", reason="already up to date"),
                     "the echo of a local edit to be skipped")
    assert local.read_text() == "edited locally"
    assert not rec.of(Conflict)


async def test_conflict_keeps_local_and_the_remote_copy_beside_it(helper, container, project, make_session):
    session, rec = await make_session(helper)
    await watching(session)
    f = container / "src" / "config.json"
    f.write_text("v1")
    local = project / "out" / "config.json"
    await eventually(lambda: local.exists(), "v1")
    local.write_text("my local edit")
    f.write_text("v2 from the container")
    copy = project / "out" / "config.json.downstream-conflict"
    await eventually(lambda: rec.of(Conflict, path="out/config.json"), "a conflict")
    assert local.read_text() == "my local edit"
    assert copy.read_text() == "v2 from the container"
    assert rec.of(Conflict)[-1].remote_copy == "out/config.json.downstream-conflict"
    # A remote delete does not remove the locally changed file either; the copy of a version that
    # no longer exists goes, and the conflict with it.
    f.unlink()
    await eventually(lambda: rec.of(ConflictResolved, path="out/config.json"), "the conflict ended by the delete")
    assert local.read_text() == "my local edit" and not copy.exists()
    # The ledger outlives the session: a new session still sees the local change as a conflict.
    await session.stop()
    f.write_text("v3")
    session2, rec2 = await make_session(helper, name="web")
    await watching(session2)
    assert rec2.of(Conflict, path="out/config.json")
    assert local.read_text() == "my local edit"
    assert copy.read_text() == "v3"
    await session2.resolve_conflict("out/config.json", "take-remote")
    assert local.read_text() == "v3" and not copy.exists()
    f.write_text("v4")
    await eventually(lambda: local.read_text() == "v4", "a clean update after resolving")


async def test_keep_local_resolution(helper, container, project, make_session):
    session, rec = await make_session(helper)
    await watching(session)
    f = container / "src" / "a.txt"
    f.write_text("remote")
    local = project / "out" / "a.txt"
    await eventually(lambda: local.exists(), "the first download")
    local.write_text("mine")
    f.write_text("remote 2")
    await eventually(lambda: rec.of(Conflict, path="out/a.txt"), "a conflict")
    await session.resolve_conflict(str(local), "keep-local")
    assert local.read_text() == "mine"
    assert not (project / "out" / "a.txt.downstream-conflict").exists()
    # Keeping it once is no licence to overwrite it later: the next change is a conflict again.
    f.write_text("remote 3")
    await eventually(lambda: len(rec.of(Conflict, path="out/a.txt")) == 2, "a second conflict")
    assert local.read_text() == "mine"
    assert (project / "out" / "a.txt.downstream-conflict").read_text() == "remote 3"


async def test_pre_existing_local_file_is_a_conflict_under_safe(helper, container, project, make_session):
    (project / "out").mkdir()
    (project / "out" / "mine.txt").write_text("never synced")
    (container / "src" / "mine.txt").write_text("container's")
    session, rec = await make_session(helper)
    await watching(session)
    assert (project / "out" / "mine.txt").read_text() == "never synced"
    assert (project / "out" / "mine.txt.downstream-conflict").read_text() == "container's"
    assert rec.of(Conflict, path="out/mine.txt")


async def test_remote_wins_overwrites_and_keeps_a_backup(helper, container, project, make_session):
    session, rec = await make_session(helper, policy="remote-wins")
    await watching(session)
    f = container / "src" / "config.json"
    f.write_text("v1")
    local = project / "out" / "config.json"
    await eventually(lambda: local.exists(), "v1")
    local.write_text("local edit")
    f.write_text("v2")
    await eventually(lambda: local.read_text() == "v2", "remote-wins to overwrite")
    assert (project / "out" / "config.json.downstream-local").read_text() == "local edit"
    assert rec.of(Conflict, path="out/config.json")[-1].remote_copy is None
    # Without a local change there is no backup and no conflict.
    n = len(rec.of(Conflict))
    f.write_text("v3")
    await eventually(lambda: local.read_text() == "v3", "a plain update")
    assert len(rec.of(Conflict)) == n


async def test_excluded_paths_are_never_written(container, project, make_session, tmp_path):
    from engine_support import Helper
    # The helper excludes nothing; the local rules exclude: the local side must hold on its own.
    h = Helper(container, tmp_path / "h.sock", ["src"]).start()
    try:
        session, rec = await make_session(h, excludes=["node_modules/**", "**/*.log"])
        await watching(session)
        (container / "src" / "node_modules" / "x").mkdir(parents=True)
        (container / "src" / "node_modules" / "x" / "i.js").write_text("x")
        (container / "src" / "app.log").write_text("log")
        (container / "src" / "ok.txt").write_text("ok")
        await eventually(lambda: (project / "out" / "ok.txt").exists(), "the included file")
        await eventually(lambda: len(rec.of(FileSkipped, reason="excluded")) >= 2, "the excluded ones skipped")
        assert tree(project / "out") == {"ok.txt": md5(container / "src" / "ok.txt")}
    finally:
        h.kill()

"""Where the engine may write: never through a symlink that replaced localDst or a folder above it
mid-session, never over the project's own configuration, and only names that fit the file system.
Real app-server, real gRPC, real files."""

from __future__ import annotations

import os

from downstream_sync.config import load_project
from downstream_sync.sync.events import Conflict, FileSynced, SessionState, SyncError
from downstream_sync.sync.rules import RuleSet
from downstream_sync.sync.session import Session
from downstream_sync.sync.writer import clean_stale_temps

from engine_support import Recorder, eventually, tree


async def watching(session):
    await eventually(lambda: session.state is SessionState.WATCHING, "the session to watch")


async def test_local_dst_or_a_folder_above_it_replaced_by_a_symlink_is_never_followed(
        helper, container, project, make_session, tmp_path):
    outside = tmp_path / "outside"
    (outside / "out").mkdir(parents=True)
    (outside / "victim.txt").write_text("not the project's")
    session, rec = await make_session(helper, mappings=(("src", "a/out"),))
    await watching(session)
    (container / "src" / "victim.txt").write_text("v1")
    await eventually(lambda: (project / "a" / "out" / "victim.txt").exists(), "the first file")

    # localDst itself becomes a symlink to a folder outside the project.
    os.rename(project / "a" / "out", project / "a" / "out.real")
    os.symlink(outside, project / "a" / "out")
    (container / "src" / "victim.txt").write_text("v2 from the container")
    (container / "src" / "new.txt").write_text("new")
    await eventually(lambda: len(rec.of(SyncError)) >= 2, "the refusals")

    # A folder above localDst becomes a symlink to a folder outside the project.
    os.unlink(project / "a" / "out")
    os.rename(project / "a", project / "a.real")
    os.symlink(outside, project / "a")
    n = len(rec.of(SyncError))
    (container / "src" / "third.txt").write_text("third")
    await eventually(lambda: len(rec.of(SyncError)) > n, "the refusal above localDst")

    assert tree(outside) == {"victim.txt": _md5(b"not the project's")}, tree(outside)
    assert all("symlink" in e.message for e in rec.of(SyncError)), [e.message for e in rec.errors]


async def test_the_projects_own_configuration_is_never_written(helper, container, project, tmp_path):
    (project / "skaffold.yaml").write_text(
        "apiVersion: skaffold/v4beta11\nkind: Config\nrequires:\n- path: more.yaml\nbuild:\n  artifacts:\n"
        "  - image: web\n    download:\n      manual:\n      - remoteSrc: src\n        localDst: .\n")
    (project / "more.yaml").write_text("apiVersion: skaffold/v4beta11\nkind: Config\n")
    config = load_project(project / "skaffold.yaml")
    rules = RuleSet.from_download([("src", ".")], [], project, config.files)
    for policy in ("safe", "remote-wins"):
        session = Session(f"web-{policy}", rules, helper.transport(), project, policy=policy)
        rec = Recorder()
        session.subscribe(rec)
        await session.start()
        try:
            await watching(session)
            n = len(rec.errors)
            (container / "src" / "skaffold.yaml").write_text("apiVersion: evil\n")
            (container / "src" / "more.yaml").write_text(f"apiVersion: evil {policy}\n")
            (container / "src" / "fine.txt").write_text(policy)
            await eventually(lambda: (project / "fine.txt").exists() and (project / "fine.txt").read_text() == policy,
                             "the file beside the config")
            await eventually(lambda: {e.path for e in rec.errors[n:]} >= {"skaffold.yaml", "more.yaml"},
                             "both config files refused")
            (container / "src" / "more.yaml").unlink()
            os.rename(container / "src" / "fine.txt", container / "src" / "skaffold.yaml")
            await eventually(lambda: not (project / "fine.txt").exists() or len(rec.errors) > n + 3,
                             "the rename onto the config")
        finally:
            await session.stop()
        assert (project / "skaffold.yaml").read_text().startswith("apiVersion: skaffold/v4beta11")
        assert (project / "more.yaml").read_text() == "apiVersion: skaffold/v4beta11\nkind: Config\n"
        assert not [p.name for p in project.iterdir() if p.name.endswith((".downstream-conflict", ".downstream-local"))]
        message = next(e.message for e in rec.errors if e.path == "skaffold.yaml")
        assert "skaffold.yaml" in message and "configuration" in message and "never" in message
        for p in (container / "src").iterdir():
            p.unlink()


async def test_long_multibyte_names_are_written_with_their_copies_and_temporaries(
        helper, container, project, make_session):
    name = "語" * 85  # 255 bytes in UTF-8: the longest legal name
    assert len(name.encode()) == 255
    session, rec = await make_session(helper)
    await watching(session)
    remote = container / "src" / name
    local = project / "out" / name
    remote.write_text("v1")
    await eventually(lambda: local.exists() or rec.errors, "the long name")
    assert not rec.errors, rec.errors[0].message
    local.write_text("mine")
    remote.write_text("v2")
    await eventually(lambda: rec.of(Conflict, path=f"out/{name}"), "a conflict on the long name")
    copies = [p for p in (project / "out").iterdir() if p.name != name]
    assert len(copies) == 1 and copies[0].read_text() == "v2", copies
    copy = copies[0].name
    assert copy.endswith(".downstream-conflict") and len(copy.encode()) <= 255
    assert rec.of(Conflict, path=f"out/{name}")[-1].remote_copy == f"out/{copy}"
    # The copy is recognized as this tool's: an upload of it to the container is not synced back.
    (container / "src" / copy).write_text("v2")
    (container / "src" / "after.txt").write_text("after")
    await eventually(lambda: (project / "out" / "after.txt").exists(), "a later file")
    assert not rec.of(FileSynced, path=f"out/{copy}")
    # A temporary file left under a cut name is found and removed.
    stale = project / "out" / (f".{name[:70]}~0123abcd.dstmp-0badf00d")
    stale.write_text("half")
    assert clean_stale_temps(project, "out", lambda path: None) == (1, []) and not stale.exists()
    await session.stop()
    session2, rec2 = await make_session(helper, policy="remote-wins", name="web2")
    await watching(session2)
    remote.write_text("v3")
    await eventually(lambda: local.read_text() == "v3", "remote-wins over the long name")
    backups = [p.name for p in (project / "out").iterdir() if p.name.endswith(".downstream-local")]
    assert backups and all(len(b.encode()) <= 255 for b in backups)
    assert not rec2.errors, rec2.errors[0].message


def _md5(data: bytes) -> str:
    import hashlib
    return hashlib.md5(data).hexdigest()


async def test_a_session_started_on_a_symlinked_local_dst_touches_nothing_outside(
        helper, container, project, make_session, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / ".notes.txt.dstmp-0badf00d").write_text("named like a temporary file, but not ours")
    os.symlink(outside, project / "out")
    (container / "src" / "a.txt").write_text("a")
    session, rec = await make_session(helper)
    await watching(session)
    await eventually(lambda: rec.of(SyncError, path="out/a.txt"), "the refusal")
    assert sorted(p.name for p in outside.iterdir()) == [".notes.txt.dstmp-0badf00d"]

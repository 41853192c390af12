"""A target that does not exist is unknown, not empty: a helper restarted before its target exists
(a container restarted with a fresh volume) makes the engine delete nothing, and once the target
appears a fresh snapshot of it decides what is gone.

The helper says which targets are missing in SNAPSHOT_END.missing_targets; the engine keeps every
ledger entry below such a target until a snapshot in which the target exists. A real app-server is
killed and restarted, reached through a real app-connect; the files are real.
"""

from __future__ import annotations

import os
import shutil

from downstream_sync.sync.events import FileSynced, SessionState, StateChanged

from engine_support import eventually, tree

FILES = 22
LARGE = 50 << 20


def _fill(src) -> None:
    for i in range(FILES):
        (src / f"f{i:02}.txt").write_text(f"file {i}\n" * (i + 1))
    (src / "sub").mkdir()
    with open(src / "sub" / "large.bin", "wb") as f:
        block = os.urandom(1 << 20)
        for i in range(LARGE >> 20):
            f.write(bytes([i]) + block[1:])


async def test_a_helper_restarted_before_its_target_exists_deletes_nothing(helper, container, project,
                                                                          make_session):
    """Before the fix the engine took the missing target as empty and deleted 23 of 23 local files."""
    src, out = container / "src", project / "out"
    _fill(src)
    session, rec = await make_session(helper)
    await eventually(lambda: tree(out) == tree(src), "the first sync")
    before = tree(out)
    assert len(before) == FILES + 1

    helper.kill()
    await eventually(lambda: rec.of(StateChanged, state=SessionState.RECONNECTING), "the loss to be noticed")
    os.rename(src, container / "old-volume")  # the restarted container has a fresh, empty mount point
    mark = len(rec.events)
    helper.start()
    reconciled = await eventually(lambda: [e for e in rec.events[mark:] if isinstance(e, StateChanged)
                                           and e.state is SessionState.WATCHING and "reconciled" in e.detail],
                                  "the reconcile after the restart")
    lost = len(set(before) - set(tree(out)))
    assert lost == 0, f"{lost} of {len(before)} local files deleted while their target did not exist"
    assert not [e for e in rec.of(FileSynced) if e.action == "deleted"]
    assert "src does not exist in the container yet" in reconciled[0].detail

    # The target appears (the volume is mounted), two files fewer and one changed: now it decides.
    old = container / "old-volume"
    (old / "f00.txt").unlink()
    (old / "f01.txt").unlink()
    (old / "f02.txt").write_text("changed in the container\n")
    os.rename(old, src)
    await eventually(lambda: tree(out) == tree(src), "the target's files after it appeared")
    deleted = {e.path for e in rec.of(FileSynced) if e.action == "deleted"}
    assert deleted == {"out/f00.txt", "out/f01.txt"}
    assert (out / "sub" / "large.bin").stat().st_size == LARGE


async def test_a_target_removed_as_a_whole_while_watched_deletes_nothing(helper, container, project,
                                                                        make_session):
    """A target moved away as a whole at runtime is unknown again, not emptied; files deleted inside a
    target that still exists are ordinary deletes."""
    src, out = container / "src", project / "out"
    for i in range(5):
        (src / f"k{i}.txt").write_text(f"keep {i}")
    session, rec = await make_session(helper)
    await eventually(lambda: tree(out) == tree(src), "the first sync")
    (src / "k4.txt").unlink()
    await eventually(lambda: not (out / "k4.txt").exists(), "an ordinary delete")
    os.rename(src, container / "elsewhere")
    (container / "elsewhere" / "k0.txt").unlink()
    os.rename(container / "elsewhere", src)
    await eventually(lambda: tree(out) == tree(src), "the files after the target came back")
    deleted = sorted(e.path for e in rec.of(FileSynced) if e.action == "deleted")
    assert deleted == ["out/k0.txt", "out/k4.txt"], "only the files gone from the target are deleted"


async def test_a_target_deleted_with_everything_in_it_deletes_nothing(helper, container, project, make_session):
    """`rm -rf` of the target removes its files one by one, then the folder: that is the target
    going away (unknown), not 20 deletes. When it is made again, the fresh snapshot decides: only
    the file it lacks is deleted. Before the fix every file's DELETE went out first."""
    src, out = container / "src", project / "out"
    for i in range(20):
        (src / "d" if i % 2 else src).mkdir(exist_ok=True)
        ((src / "d" if i % 2 else src) / f"r{i:02}.txt").write_text(f"r {i}")
    session, rec = await make_session(helper)
    await eventually(lambda: tree(out) == tree(src), "the first sync")
    saved = {p: (src / p).read_bytes() for p in tree(src)}
    mark = len(rec.events)
    shutil.rmtree(src)
    src.mkdir()
    for rel, data in saved.items():
        if rel != "r00.txt":
            (src / rel).parent.mkdir(exist_ok=True)
            (src / rel).write_bytes(data)
    await eventually(lambda: [e for e in rec.events[mark:] if isinstance(e, StateChanged)
                              and e.state is SessionState.WATCHING and "reconciled" in e.detail],
                     "the reconcile after the target came back")
    await eventually(lambda: tree(out) == tree(src), "the files after the target came back")
    deleted = sorted(e.path for e in rec.of(FileSynced) if e.action == "deleted")
    assert deleted == ["out/r00.txt"], f"{len(deleted)} deletes: {deleted}"


async def test_a_pull_while_the_target_is_missing_keeps_everything_and_is_not_in_sync(helper, container, project,
                                                                                     make_session):
    src, out = container / "src", project / "out"
    for i in range(3):
        (src / f"p{i}.txt").write_text(f"p {i}")
    session, rec = await make_session(helper, start=False)
    assert (await session.pull()).in_sync
    helper.kill()
    shutil.rmtree(src)
    helper.start()
    again, rec2 = await make_session(helper, start=False)
    result = await again.pull()
    assert sorted(tree(out)) == ["p0.txt", "p1.txt", "p2.txt"]
    assert not result.in_sync and result.errors == 1
    assert "nothing was pulled from src" in rec2.errors[0].message and "kept" in rec2.errors[0].message

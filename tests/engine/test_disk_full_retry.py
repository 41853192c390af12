"""After a full disk, a running session retries the files it could not write, on its own: no
restart, no reconnect; a newer version of a path replaces its retry. A 2 MiB tmpfs is localDst.

Needs root to mount the tmpfs; skipped with that reason elsewhere, never in CI (CI runs as root)."""

from __future__ import annotations

import asyncio
import errno
import os
import subprocess

import pytest

from downstream_sync.sync.events import FileSynced, SessionState, StateChanged

from engine_support import eventually, tree

FILES = 200


@pytest.fixture
def full_disk(project):
    """localDst on a 2 MiB tmpfs, and a filler that takes all its space (`fill()`, `free()`)."""
    out = project / "out"
    out.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(out)], check=True, capture_output=True)
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"cannot mount a tmpfs here (needs root): {e}")
    filler = project / "out" / "filler"

    class Disk:
        path = out

        @staticmethod
        def fill() -> None:
            with open(filler, "ab", buffering=0) as f:
                try:
                    while True:
                        f.write(b"\0" * 4096)
                except OSError as e:
                    assert e.errno == errno.ENOSPC

        @staticmethod
        def free() -> None:
            filler.unlink()

    try:
        yield Disk
    finally:
        subprocess.run(["umount", str(out)], check=True)


def _reconnects(rec) -> list:
    return [e for e in rec.of(StateChanged) if e.state in (SessionState.RECONNECTING, SessionState.CONNECTING)]


@pytest.mark.parametrize("files, size", [(FILES, 4000), (1, 1 << 20)], ids=["inline", "downloaded"])
async def test_files_that_did_not_fit_arrive_once_space_is_back(full_disk, helper, container, make_session,
                                                                files, size):
    session, rec = await make_session(helper)
    await eventually(lambda: session.state is SessionState.WATCHING, "watching")
    connects = len(_reconnects(rec))
    full_disk.fill()
    src = container / "src"
    for i in range(files):
        (src / f"f{i:03}.txt").write_bytes(os.urandom(size))
    expected = tree(src)
    reported = lambda: {e.path for e in rec.errors} | {e.path for e in rec.of(FileSynced)}  # noqa: E731
    await eventually(lambda: len(reported()) >= files, "every file written or reported")
    assert rec.errors and "no space left on device" in rec.errors[0].message
    failed = len({e.path for e in rec.errors})

    full_disk.free()
    try:
        await eventually(lambda: tree(full_disk.path) == expected, "every file once space came back")
    except AssertionError:
        missing = sorted(set(expected) - {p for p, h in tree(full_disk.path).items() if expected.get(p) == h})
        raise AssertionError(f"{len(missing)} of {files} files missing after space came back "
                             f"({failed} had failed): {missing[:5]}") from None
    assert len(_reconnects(rec)) == connects  # recovered without a reconnect
    assert session.state is SessionState.WATCHING
    assert not [p for p in full_disk.path.iterdir() if ".dstmp-" in p.name]


async def test_a_newer_version_replaces_the_retry(full_disk, helper, container, make_session):
    session, rec = await make_session(helper)
    await eventually(lambda: session.state is SessionState.WATCHING, "watching")
    full_disk.fill()
    f = container / "src" / "config.json"
    f.write_text('{"v": 1}' + " " * 20000)
    await eventually(lambda: rec.errors, "the first version failing")
    full_disk.free()
    f.write_text('{"v": 2}')  # lands before the first version's retry is due
    local = full_disk.path / "config.json"
    await eventually(lambda: local.exists() and local.read_text() == '{"v": 2}', "the newer version")
    assert len(session._retries) == 0  # the newer version replaced the retry: nothing left to bring back v1
    await asyncio.sleep(1.5)  # past the first backoff: the old version's retry would have landed by now
    assert local.read_text() == '{"v": 2}'
    assert not [p for p in full_disk.path.iterdir() if p.name.endswith(".downstream-conflict")]


async def test_a_refused_path_is_not_retried(helper, container, project, make_session, tmp_path):
    (project / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (project / "out" / "sub").symlink_to(tmp_path / "elsewhere")
    session, rec = await make_session(helper)
    await eventually(lambda: session.state is SessionState.WATCHING, "watching")
    (container / "src" / "sub").mkdir()
    (container / "src" / "sub" / "x.txt").write_text("never written through a symlink")
    await eventually(lambda: rec.errors, "the refusal")
    assert "symlink" in rec.errors[0].message and "tried again" not in rec.errors[0].message
    assert len(session._retries) == 0
    assert not list((tmp_path / "elsewhere").iterdir())

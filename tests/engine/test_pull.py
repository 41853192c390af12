"""pull(): one reconcile without watching, deletes of files gone remotely, and local errors."""

from __future__ import annotations

import os

import pytest

from downstream_sync.cluster.transport import CommandTransport, TransportError
from downstream_sync.sync.events import FileSynced, ReconcileProgress, SessionState, SyncError

from engine_support import APP_CONNECT, tree


async def test_pull_brings_everything_and_reports_progress(helper, container, project, make_session):
    for i in range(30):
        (container / "src" / f"f{i}.txt").write_text(f"{i}" * i)
    (container / "src" / "big.bin").write_bytes(os.urandom(600_000))
    session, rec = await make_session(helper, start=False)
    result = await session.pull()
    assert tree(project / "out") == tree(container / "src")
    assert (result.synced, result.conflicts, result.errors, result.in_sync) == (31, 0, 0, True)
    last = rec.of(ReconcileProgress)[-1]
    assert (last.files_done, last.files_total) == (31, 31)
    assert last.bytes_done == last.bytes_total == sum(p.stat().st_size for p in (container / "src").iterdir())
    assert session.state is SessionState.STOPPED

    # Again: nothing to do. Then a file gone remotely is deleted locally, unless changed locally.
    (container / "src" / "f3.txt").unlink()
    (container / "src" / "f4.txt").unlink()
    (project / "out" / "f4.txt").write_text("local edit")
    session2, rec2 = await make_session(helper, start=False)
    result = await session2.pull()
    assert not (project / "out" / "f3.txt").exists()
    assert (project / "out" / "f4.txt").read_text() == "local edit"
    assert rec2.of(FileSynced, path="out/f3.txt", action="deleted")
    assert (result.synced, result.conflicts, result.in_sync) == (1, 1, False)


async def test_pull_without_a_helper_raises_a_clear_error(project, make_session, tmp_path):
    transport = CommandTransport([APP_CONNECT, "--socket", str(tmp_path / "none.sock")])
    session, rec = await make_session(transport, start=False)
    with pytest.raises(TransportError) as info:
        await session.pull()
    assert "none.sock" in str(info.value) and "helper" in str(info.value)


@pytest.fixture
def locked_out(project):
    """localDst made immutable (chattr +i), which refuses writes even to root."""
    import subprocess
    out = project / "out"
    out.mkdir()
    try:
        subprocess.run(["chattr", "+i", str(out)], check=True, capture_output=True)
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        pytest.skip(f"cannot make a folder immutable here: {e}")
    yield out
    subprocess.run(["chattr", "-i", str(out)], check=True)


async def test_permission_denied_is_clear_and_not_fatal(locked_out, helper, container, make_session):
    (container / "src" / "a.txt").write_text("a")
    (container / "src" / "b.txt").write_text("b")
    session, rec = await make_session(helper, start=False)
    result = await session.pull()
    assert result.errors == 2 and not result.in_sync
    messages = sorted(e.message for e in rec.of(SyncError))
    assert str(locked_out / "a.txt") in messages[0]
    assert all("permission denied" in m and str(locked_out) in m and "writable" in m for m in messages)

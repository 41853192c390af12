"""What a write or delete displaces is never lost: a backup takes a free name, a failure after the
exchange puts the user's version back, and a start after a crash right after the exchange keeps
the user's version that sat under the swap name. The writer on a real disk; the crash state is
made directly on disk, then a real session starts over a real app-server."""

from __future__ import annotations

import errno
import hashlib

import pytest

from downstream_sync.sync import writer
from downstream_sync.sync.events import Conflict, SessionState
from downstream_sync.sync.ledger import Ledger
from downstream_sync.sync.writer import AtomicFile, WriteError, remove_file

from engine_support import eventually

MINE = b"the user's only copy\n"


def _write(project, data: bytes, backup: bool = True) -> str | None:
    af = AtomicFile(project, "out/notes.txt")
    af.write(data)
    return af.commit(None, None, backup)[1]


def _files(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_a_backup_never_replaces_anything(project):
    out = project / "out"
    out.mkdir()
    (out / "notes.txt").write_bytes(b"first\n")
    (out / "notes.txt.downstream-local").mkdir()  # a folder at the first backup name
    assert _write(project, b"second\n") == "notes.txt~2.downstream-local"
    assert _write(project, b"third\n") == "notes.txt~3.downstream-local"
    assert remove_file(project, "out/notes.txt", None, True) == "notes.txt~4.downstream-local"
    assert _files(out) == {"notes.txt~2.downstream-local": b"first\n", "notes.txt~3.downstream-local": b"second\n",
                           "notes.txt~4.downstream-local": b"third\n"}


def _failing_keep_aside(*args):
    raise OSError(errno.EIO, "I/O error")


def test_a_failure_after_the_exchange_puts_the_user_version_back(project, monkeypatch):
    out = project / "out"
    out.mkdir()
    (out / "notes.txt").write_bytes(MINE)
    monkeypatch.setattr(writer, "_keep_aside", _failing_keep_aside)
    with pytest.raises(WriteError):
        _write(project, b"container\n")
    assert _files(out) == {"notes.txt": MINE}


def test_a_failure_after_a_rename_aside_puts_the_user_version_back(project, monkeypatch):
    out = project / "out"
    out.mkdir()
    (out / "notes.txt").write_bytes(MINE)
    monkeypatch.setattr(writer, "_keep_aside", _failing_keep_aside)
    with pytest.raises(WriteError):
        remove_file(project, "out/notes.txt", None, True)
    assert _files(out) == {"notes.txt": MINE}


def test_a_file_of_another_is_never_dropped_as_a_temporary_file(project):
    out = project / "out"
    out.mkdir()
    af = AtomicFile(project, "out/notes.txt")
    af.write(b"container\n")
    (out / af._tmp).unlink()
    (out / af._tmp).write_bytes(MINE)  # what sits under the temporary name is not the file written
    af.abort()
    assert _files(out) == {af._tmp: MINE}


@pytest.mark.parametrize("swapped, kept", [(b"c1", False), (MINE, True)])
async def test_a_start_after_a_crash_right_after_the_exchange(helper, container, project, make_session,
                                                                swapped, kept):
    """The state of a kill -9 right after the exchange: the new file in place, what it displaced
    under the swap name, the ledger as it was. This tool's own last version goes; a user's stays."""
    (container / "src" / "app.conf").write_bytes(b"c1")
    session, rec = await make_session(helper)
    local = project / "out" / "app.conf"
    await eventually(lambda: local.exists() and local.read_bytes() == b"c1", "c1")
    await session.stop()
    ledger = Ledger(project / ".downstream-sync", "web")
    assert ledger.get("out/app.conf").md5 == hashlib.md5(b"c1").hexdigest()
    ledger.close()
    (container / "src" / "app.conf").write_bytes(b"c2")
    local.write_bytes(b"c2")
    (project / "out" / ".app.conf.dsswap-0badf00d").write_bytes(swapped)

    session, rec = await make_session(helper)
    await eventually(lambda: session.state is SessionState.WATCHING, "the session to watch")
    out = _files(project / "out")
    assert ".app.conf.dsswap-0badf00d" not in out
    if kept:
        assert out.get("app.conf.downstream-local") == MINE, out
        assert [c.reason for c in rec.of(Conflict, path="out/app.conf") if "app.conf.downstream-local" in c.reason]
    else:
        assert out == {"app.conf": b"c2"}
        assert not rec.of(Conflict, path="out/app.conf")
    assert not rec.errors, rec.errors[0].message


def test_cleaning_never_follows_a_symlink_below_local_dst(project, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    theirs = outside / ".notes.txt.dstmp-0badf00d"
    theirs.write_bytes(b"someone else's file")
    (project / "out" / "real").mkdir(parents=True)
    (project / "out" / "real" / ".notes.txt.dstmp-0badf00d").write_bytes(b"half")
    (project / "out" / "link").symlink_to(outside, target_is_directory=True)
    assert writer.clean_stale_temps(project, "out", lambda path: None) == (1, [])
    assert theirs.exists() and not (project / "out" / "real" / ".notes.txt.dstmp-0badf00d").exists()
    (project / "elsewhere").symlink_to(outside, target_is_directory=True)
    assert writer.clean_stale_temps(project, "elsewhere", lambda path: None) == (0, [])
    assert theirs.exists()

"""localDst made read-only (a read-only bind mount, which binds root too) while the container
writes: a clear error, nothing changed, and the files arrive once it is writable again."""

from __future__ import annotations

import subprocess

from downstream_sync.sync.events import SessionState

from engine_support import eventually, md5


async def test_a_read_only_local_dst_gives_a_clear_error_and_recovers(helper, container, project, make_session):
    out = project / "out"
    out.mkdir()
    (out / "mine.txt").write_bytes(b"user\n")
    subprocess.run(["mount", "--bind", str(out), str(out)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(out)], check=True)
        session, rec = await make_session(helper)
        await eventually(lambda: session.state is SessionState.WATCHING, "the session to watch")
        (container / "src" / "a.txt").write_bytes(b"a\n")
        (container / "src" / "mine.txt").write_bytes(b"container\n")
        await eventually(lambda: any("read-only" in e.message for e in rec.errors), "a read-only error")
        assert (out / "mine.txt").read_bytes() == b"user\n"
        subprocess.run(["mount", "-o", "remount,rw,bind", str(out)], check=True)
        await eventually(lambda: md5(out / "a.txt") == md5(container / "src" / "a.txt"), "a.txt once writable")
        assert (out / "mine.txt").read_bytes() == b"user\n"
        await session.stop()
    finally:
        subprocess.run(["umount", "-l", str(out)], check=False)

"""The whole project (state folder and ledger included) on a small tmpfs that fills up during a
burst, a user file edited meanwhile, then space freed: clear errors, no user edit lost, no partial
file under a real name, and everything arrives without a restart. Real app-server, real Session."""

from __future__ import annotations

import asyncio
import os
import subprocess

from downstream_sync.sync.events import SessionState
from downstream_sync.sync.ledger import Ledger

from engine_support import eventually, md5


async def test_a_full_project_disk_loses_nothing_and_recovers(helper, container, tmp_path, make_session, project):
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m,mode=0755", "tmpfs", str(project)], check=True)
    try:
        out = project / "out"
        out.mkdir()
        (out / "mine.txt").write_bytes(b"user v1\n")
        session, rec = await make_session(helper)
        await eventually(lambda: session.state is SessionState.WATCHING, "the session to watch")
        filler = project / "filler.bin"
        with open(filler, "wb") as f:  # fill the disk, leaving a little
            try:
                while True:
                    f.write(b"\0" * 65536)
            except OSError:
                pass
        os.truncate(filler, max(0, os.path.getsize(filler) - 64 * 1024))
        (out / "mine.txt").write_bytes(b"user v2\n")  # the user's edit, while the disk is nearly full
        src = container / "src"
        data = {f"f{i:02d}.bin": os.urandom(100_000) for i in range(20)}
        for name, blob in data.items():
            (src / name).write_bytes(blob)
        (src / "mine.txt").write_bytes(b"container version\n")
        await eventually(lambda: any("no space" in e.message for e in rec.errors), "a disk-full error")
        for p in out.iterdir():  # nothing partial under a real name
            if p.name in data:
                assert md5(p) == md5(src / p.name), f"{p.name} is partial"
        filler.unlink()
        await eventually(lambda: all(md5(out / n) == md5(src / n) for n in data), "every file after space returned")
        await asyncio.sleep(0.5)
        assert (out / "mine.txt").read_bytes() == b"user v2\n"
        assert not [p.name for p in out.iterdir() if ".dstmp-" in p.name]
        await session.stop()
        Ledger(project / ".downstream-sync", "web").close()  # the ledger still opens
    finally:
        subprocess.run(["umount", "-l", str(project)], check=False)

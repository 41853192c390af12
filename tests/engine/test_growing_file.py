"""A file that never stops changing still syncs: a 20 MB log appended every 10 ms reaches the local
side again and again while it grows, each copy a consistent prefix of what was written.

The helper sends such a file as its first N bytes as of one stat, with the MD5 of those bytes, once
two reads of them agree; before, every read "changed while read" and nothing arrived. A real
app-server, the real engine through a real app-connect (the data lane, as the file is large), and a
real writer process appending to a real file.
"""

from __future__ import annotations

import subprocess
import sys

from downstream_sync.sync.events import FileSynced

from engine_support import eventually

WRITER = r"""
import os, sys, time
path = sys.argv[1]
with open(path, "ab") as f:
    line = 0
    for _ in range(20):
        f.write(b"".join(b"%09d %s\n" % (line + i, b"x" * 1000) for i in range(1000)))
        line += 1000
    f.flush()
    while True:
        f.write(b"%09d appended\n" % line)
        f.flush()
        line += 1
        time.sleep(0.01)
"""

UPDATES = 4


async def test_a_log_appended_every_10ms_keeps_reaching_the_local_side(helper, container, project, make_session):
    """Before the fix: 0 copies of the log arrived while it grew. After: UPDATES or more, each a prefix."""
    src, out = container / "src", project / "out"
    log = src / "app.log"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(log)])
    try:
        session, rec = await make_session(helper)
        copies: list[int] = []  # sizes of the distinct local copies seen
        synced = [0]

        def arrived() -> bool:
            count = len([e for e in rec.of(FileSynced) if e.path == "out/app.log"])
            if count > synced[0]:
                synced[0] = count
                local = (out / "app.log").read_bytes()
                with open(log, "rb") as f:
                    written = f.read(len(local))
                assert local == written, f"copy {count} ({len(local)} bytes) is not a prefix of the log"
                if not copies or copies[-1] != len(local):
                    copies.append(len(local))
            return len(copies) >= UPDATES

        try:
            await eventually(arrived, f"{UPDATES} copies of the growing log")
        except AssertionError:
            raise AssertionError(f"{len(copies)} copies of the log arrived while it grew") from None
        assert writer.poll() is None, "the writer stopped: the log did not grow all along"
        assert all(a < b for a, b in zip(copies, copies[1:])) and copies[0] >= 20_000_000
    finally:
        writer.kill()
        writer.wait()

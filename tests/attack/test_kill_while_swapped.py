"""kill -9 of the engine at the worst moment of a write: the container's new version has just
been swapped in and the user's version (saved during the download) sits under the swap name
while it is checked. The restart must not delete that version. Real app-server, the engine in a
process of its own killed with SIGKILL, a user editing in place. The same state made directly on
disk, without a kill, is in tests/engine/test_displaced.py."""

from __future__ import annotations

import hashlib
import os
import pathlib
import signal
import subprocess
import sys
import time

from engine_support import APP_CONNECT, LIMIT, eventually, md5

RUNNER = str(pathlib.Path(__file__).resolve().parent.parent / "engine" / "run_session.py")
SIZE = 256 << 20
ATTEMPTS = 4


def _temps(folder: pathlib.Path) -> list[pathlib.Path]:
    """The engine's temporary and swap files."""
    return [p for p in folder.iterdir() if ".dstmp-" in p.name or ".dsswap-" in p.name] if folder.exists() else []


def _holding(folder: pathlib.Path, digest: str) -> list[str]:
    """The files under a name a person looks for (not a temporary or swap name) holding digest."""
    hidden = set(_temps(folder))
    out = []
    for p in folder.iterdir():
        if p not in hidden and p.is_file() and md5(p) == digest:
            out.append(p.name)
    return out


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


async def test_kill_9_while_the_user_version_is_swapped_out_loses_nothing(helper, container, project):
    """Tried up to ATTEMPTS times, until the kill lands in the window (the user's version under the
    swap name, while the engine hashes it); fails when it never does."""
    for attempt in range(ATTEMPTS):
        hit = await _attempt(helper, container, project, attempt)
        if hit:
            return
    raise AssertionError(f"the kill never landed while the user's version was swapped out ({ATTEMPTS} tries)")


async def _attempt(helper, container, project, attempt: int) -> bool:
    for folder in (container / "src", project / "out"):  # an earlier attempt's files (no engine runs)
        for p in folder.glob("*big*") if folder.exists() else ():
            p.unlink()
    big = container / "src" / f"big{attempt}.bin"
    big.write_bytes(b"A" * SIZE)
    out = project / "out"
    local = out / big.name
    argv = ["nice", "-n", "19", sys.executable, RUNNER, str(project), "src", "out", "--", APP_CONNECT,
            "--socket", str(helper.sock)]
    proc = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    try:
        await eventually(lambda: md5(local) == hashlib.md5(b"A" * SIZE).hexdigest(), "the first version",
                         limit=LIMIT * 2)
        time.sleep(3)  # the ledger committed, the stat old enough to prove
        big.write_bytes(b"B" * SIZE)  # the container's next version, same size
        deadline = time.monotonic() + LIMIT
        while not _temps(out):
            assert time.monotonic() < deadline, "no download started"
            time.sleep(0.001)
        # The user saves during the download: same size, in place.
        fd = os.open(local, os.O_WRONLY)
        os.pwrite(fd, b"USER EDIT", 0)
        os.close(fd)
        user = md5(local)
        ino = os.stat(local).st_ino
        deadline = time.monotonic() + LIMIT
        while True:
            try:
                if os.stat(local).st_ino != ino:
                    break
            except FileNotFoundError:
                pass
            assert time.monotonic() < deadline, "the new version never arrived"
        _kill(proc)  # right after the exchange: the user's version is under the temporary name
        swapped = [p.name for p in _temps(out) if md5(p) == user]
    finally:
        _kill(proc)
    if not swapped:
        return False  # the kill missed the window
    proc = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    try:  # the restart's start-up check ends with no swap name left (it hashes the 256 MB first)
        await eventually(lambda: not _temps(out), "the restart's check of the swapped-out version",
                         limit=LIMIT * 2)
    finally:
        _kill(proc)
    assert _holding(out, user), (f"the user's save is gone after a kill -9 and a restart (it was under "
                                 f"{swapped} when the engine died); files: {sorted(p.name for p in out.iterdir())}")
    return True

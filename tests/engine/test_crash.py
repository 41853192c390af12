"""kill -9 of the local side in the middle of a download leaves no partial file; the next run
cleans up its temporary file and completes the download."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time

from engine_support import APP_CONNECT, LIMIT, eventually, md5

RUNNER = str(pathlib.Path(__file__).with_name("run_session.py"))


def temps(folder: pathlib.Path) -> list[pathlib.Path]:
    return [p for p in folder.iterdir() if ".dstmp-" in p.name] if folder.exists() else []


async def test_kill_9_mid_download_leaves_no_partial_file(helper, container, project):
    block = os.urandom(1 << 20)
    big = container / "src" / "big.bin"
    big.write_bytes(block * 256)
    want = md5(big)
    out = project / "out"
    argv = [sys.executable, RUNNER, str(project), "src", "out", "--", APP_CONNECT, "--socket", str(helper.sock)]
    proc = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + LIMIT
        while not temps(out):
            assert not (out / "big.bin").exists(), "the download finished before it could be interrupted"
            assert time.monotonic() < deadline, "no download started"
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not (out / "big.bin").exists()      # never a partial file under the real name
    assert temps(out)                          # the interrupted temporary file, hidden and marked

    proc = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    try:
        await eventually(lambda: md5(out / "big.bin") == want, "the download after a restart", limit=LIMIT * 2)
        assert not temps(out)
    finally:
        proc.kill()
        proc.wait()

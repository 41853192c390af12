"""The local side stopped (SIGSTOP: a suspended laptop, a debugger) while the container writes
160 MB of files that would travel inline: the helper's memory stays bounded (it tells the lagging
client to resync rather than queue everything for it), and once the engine runs again it converges
to the container's tree. Real app-server, real engine process, real app-connect."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import subprocess
import sys

from engine_support import APP_CONNECT, LIMIT, eventually, tree

RUNNER = str(pathlib.Path(__file__).with_name("run_session.py"))
FILES, SIZE = 8000, 32 << 10  # 250 MiB, well past the helper's bound of 64 MiB queued for one client


def rss_mib(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


async def test_a_stopped_engine_costs_the_helper_bounded_memory_and_converges(helper, container, project):
    out = project / "out"
    (container / "src" / "first.txt").write_text("first\n")
    argv = [sys.executable, RUNNER, str(project), "src", "out", "--", APP_CONNECT, "--socket", str(helper.sock)]
    proc = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    try:
        await eventually(lambda: (out / "first.txt").exists(), "the session to sync a first file")
        before = rss_mib(helper.proc.pid)
        peak = before
        proc.send_signal(signal.SIGSTOP)
        try:
            for i in range(FILES):
                folder = container / "src" / f"d{i // 250:02d}"
                folder.mkdir(exist_ok=True)
                (folder / f"f{i:05d}.bin").write_bytes(os.urandom(SIZE))
                if i % 500 == 0:
                    peak = max(peak, rss_mib(helper.proc.pid))
            for _ in range(20):  # the helper hashes and publishes what it saw; watch it meanwhile
                await asyncio.sleep(0.1)
                peak = max(peak, rss_mib(helper.proc.pid))
        finally:
            proc.send_signal(signal.SIGCONT)
        await eventually(lambda: tree(out) == tree(container / "src"), "the trees to match after SIGCONT",
                         limit=LIMIT * 4)
    finally:
        proc.kill()
        proc.wait()
    grew = peak - before
    print(f"\nhelper RSS {before:.0f} MiB before, {peak:.0f} MiB at most while the engine was stopped")
    # The bound (hub.py): 64 MiB of queued content a client, then a resync; the rest is buffers.
    assert grew < 96, f"the helper grew by {grew:.0f} MiB for a stopped client ({FILES * SIZE >> 20} MiB written)"

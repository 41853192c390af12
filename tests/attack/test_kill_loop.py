"""kill -9 of the engine at random moments of a burst (writes, renames, deletes, ledger commits),
in a bounded loop, with a user file edited between kills; then a restart: the ledger opens, the
tree matches the container, no temporary file is left, the user's edit is kept."""

from __future__ import annotations

import os
import pathlib
import random
import signal
import subprocess
import sys
import time

from downstream_sync.sync.ledger import Ledger

from engine_support import APP_CONNECT, LIMIT, eventually, tree

RUNNER = str(pathlib.Path(__file__).resolve().parent.parent / "engine" / "run_session.py")
KILLS = 12


def _kill(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


async def test_kill_9_in_a_loop_corrupts_nothing(helper, container, project):
    rnd = random.Random(7)
    src = container / "src"
    out = project / "out"
    argv = [sys.executable, RUNNER, str(project), "src", "out", "--", APP_CONNECT, "--socket", str(helper.sock)]
    (src / "mine.txt").write_text("container")
    for k in range(KILLS):
        proc = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
        try:
            for i in range(300):
                n = rnd.randrange(120)
                p = src / f"d{n % 5}" / f"f{n}.txt"
                op = rnd.random()
                if op < 0.6:
                    p.parent.mkdir(exist_ok=True)
                    p.write_bytes(os.urandom(rnd.randrange(1, 5000)))
                elif op < 0.8 and p.exists():
                    p.rename(src / f"d{(n + 1) % 5}" / f"r{k}-{n}.txt") if (src / f"d{(n + 1) % 5}").exists() else None
                elif p.exists():
                    p.unlink()
            time.sleep(rnd.uniform(0.4, 1.5))  # past start-up, into the burst
        finally:
            _kill(proc)
        if k == KILLS // 2 and (out / "mine.txt").exists():
            (out / "mine.txt").write_text("the user's edit")
            (src / "mine.txt").write_text("container, later")
    proc = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    try:
        def settled():
            want = {k: v for k, v in tree(src).items() if k != "mine.txt"}
            have = {k: v for k, v in tree(out).items() if k != "mine.txt" and not k.endswith(
                (".downstream-conflict", ".downstream-local"))}
            return want == have
        await eventually(settled, "the tree after the restart", limit=LIMIT * 2)
    finally:
        _kill(proc)
    assert not [p for p in out.rglob("*") if ".dstmp-" in p.name or ".dsswap-" in p.name]
    Ledger(project / ".downstream-sync", "web").close()
    if (out / "mine.txt").exists():
        texts = [p.read_text() for p in out.glob("mine.txt*")]
        assert "the user's edit" in texts or (out / "mine.txt").read_text() == "container", texts

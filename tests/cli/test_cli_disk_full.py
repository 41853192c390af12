"""`downstream-sync start` on a full disk: every file that did not fit arrives once space is back,
in the same run (no restart, no reconnect), and the summary says the errors were made good.
A real console script, a real app-server, real app-connect; localDst is a 2 MiB tmpfs.

Needs root to mount the tmpfs; skipped with that reason elsewhere, never in CI (CI runs as root)."""

import errno
import os
import signal
import subprocess

import pytest

from clitools import wait_for
from test_cli_start import Output, start

FILES = 60


@pytest.fixture
def small_local_dst(project):
    out = project / "local" / "out"
    out.mkdir(parents=True)
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(out)], check=True, capture_output=True)
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"cannot mount a tmpfs here (needs root): {e}")
    try:
        yield out
    finally:
        subprocess.run(["umount", str(out)], check=True)


def fill(folder) -> None:
    with open(folder / "filler", "ab", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as e:
            assert e.errno == errno.ENOSPC


def test_start_writes_what_did_not_fit_once_space_is_back(project, helper, small_local_dst):
    proc = start(project, helper)
    out = Output(proc)
    try:
        wait_for(lambda: out.has("watching"), "the watching state")
        fill(small_local_dst)
        names = [f"late{i:02}.txt" for i in range(FILES)]
        for name in names:
            (helper.container / "out" / name).write_bytes(os.urandom(3000))
        wait_for(lambda: out.has("error", "no space left on device"), "an error line")
        (small_local_dst / "filler").unlink()
        wait_for(lambda: all((small_local_dst / n).exists() and (small_local_dst / n).read_bytes()
                             == (helper.container / "out" / n).read_bytes() for n in names),
                 "every file once space came back", timeout=40)
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
        out.thread.join(10)
    assert code == 130, out.text  # stopped by Ctrl+C
    assert not out.has("reconnecting"), out.text
    assert out.has("error", "no space left on device", "it is tried again until it can be written"), out.text
    summary = [line for line in out.lines if line.startswith("Stopped.")]
    assert summary and "of them written on a later try" in summary[0], out.text

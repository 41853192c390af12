"""A full local disk (a 1 MiB tmpfs as localDst): a clear error naming the file and the folder,
the previous version kept, no temporary file left, and the session goes on."""

from __future__ import annotations

import os
import subprocess

import pytest

from downstream_sync.sync.events import SessionState

from engine_support import eventually


@pytest.fixture
def small_disk(project):
    out = project / "out"
    out.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(out)], check=True,
                       capture_output=True)
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {e}")
    yield out
    subprocess.run(["umount", str(out)], check=True)


@pytest.mark.parametrize("size", [250_000, 3 << 20, 9 << 20], ids=["inline", "downloaded", "data-lane"])
async def test_full_disk_is_reported_and_corrupts_nothing(small_disk, helper, container, make_session, size):
    out = small_disk
    session, rec = await make_session(helper)
    await eventually(lambda: session.state is SessionState.WATCHING, "watching")
    f = container / "src" / "data.bin"
    f.write_bytes(b"v1" * 1000)
    await eventually(lambda: (out / "data.bin").exists() and (out / "data.bin").stat().st_size == 2000, "v1")
    (out / "filler").write_bytes(b"\0" * 850_000)  # someone else's file uses part of the disk
    f.write_bytes(os.urandom(size))
    await eventually(lambda: rec.errors, "an error")
    message = rec.errors[0].message
    assert "no space left on device" in message
    assert str(out / "data.bin") in message and str(out) in message
    assert rec.errors[0].path == "out/data.bin"
    assert (out / "data.bin").read_bytes() == b"v1" * 1000
    assert not [p for p in out.iterdir() if ".dstmp-" in p.name]
    # One bad event does not end the session.
    (out / "filler").unlink()
    (container / "src" / "small.txt").write_text("fits")
    await eventually(lambda: (out / "small.txt").exists(), "a later file")
    assert session.state is SessionState.WATCHING

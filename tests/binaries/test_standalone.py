"""The standalone app-server and app-connect in an empty root file system (a real chroot): no
Python, no libc, no shell, nothing but the binaries, /proc, /dev/null, /dev/urandom and /tmp."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import subprocess
import sys
import time

from downstream_sync.cluster.transport import CommandTransport
from downstream_sync.sync.rules import RuleSet
from downstream_sync.sync.session import Session

from standalone import WAIT, serving


async def _eventually(predicate, what: str):
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.02)


def _libraries(root) -> list[str]:
    found = []
    for top in root.path.iterdir():
        if top.name not in ("proc", "dev"):
            found += [str(p.relative_to(root.path)) for p in top.rglob("*") if p.is_file() and ".so" in p.name]
    return found


async def test_a_file_syncs_through_both_binaries_in_an_empty_root(make_root, tmp_path):
    root = make_root()
    (root.path / "app" / "src").mkdir()
    assert not _libraries(root), "the root must hold no shared library"
    project = tmp_path / "project"
    project.mkdir()
    with serving(root, "--targets", "/app/src"):
        transport = CommandTransport(root.argv("/sync-helper/app-connect", "--socket", "/sync-helper/app-server.sock"))
        session = Session("web", RuleSet.from_download([("/app/src", "out")], [], project), transport, project)
        await session.start()
        try:
            body = os.urandom(300_000)
            (root.path / "app" / "src" / "gen.bin").write_bytes(body)
            (root.path / "app" / "src" / "note.txt").write_text("from the container\n")
            local = project / "out" / "gen.bin"
            await _eventually(lambda: local.exists() and hashlib.md5(local.read_bytes()).digest()
                              == hashlib.md5(body).digest(), "gen.bin synced")
            await _eventually(lambda: (project / "out" / "note.txt").exists(), "note.txt synced")
            assert (project / "out" / "note.txt").read_text() == "from the container\n"
        finally:
            await session.stop()


def test_both_binaries_run_without_python_or_libc(make_root):
    root = make_root()
    for name in ("app-server", "app-connect"):
        done = root.run(f"/sync-helper/{name}", "--version")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"{name} ")
    with open(root.path / "sync-helper" / "app-connect", "rb") as f:
        assert f.read(4) == b"\x7fELF"


def test_install_copies_both_binaries_and_makes_the_tmp_folder(make_root):
    root = make_root()
    (root.path / "target").mkdir()
    done = root.run("/sync-helper/app-server", "--install", "/target")
    assert done.returncode == 0, done.stderr
    for name in ("app-server", "app-connect"):
        copied = root.path / "target" / name
        assert copied.read_bytes() == (root.path / "sync-helper" / name).read_bytes()
        assert os.access(copied, os.X_OK)
    assert (root.path / "target" / "tmp").is_dir()
    assert root.run("/target/app-connect", "--version", env={"TMPDIR": "/target/tmp"}).returncode == 0


def test_install_from_a_python_installation_is_refused(tmp_path):
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "app-server"), "--install", str(tmp_path)],
                          capture_output=True, text=True, timeout=WAIT)
    assert done.returncode == 1 and "copies the standalone binaries" in done.stderr
    assert os.listdir(tmp_path) == []


def test_install_into_a_full_or_read_only_folder_says_so_and_leaves_nothing(make_root):
    root = make_root()
    full, ro = root.path / "full", root.path / "ro"
    full.mkdir()
    ro.mkdir()
    root.mount(["-t", "tmpfs", "-o", "size=1m", "tmpfs"], full)
    root.mount(["-t", "tmpfs", "-o", "ro", "tmpfs"], ro)
    done = root.run("/sync-helper/app-server", "--install", "/full")
    assert done.returncode == 1
    assert "cannot install into /full: the volume is too small" in done.stderr and "sizeLimit" in done.stderr
    assert os.listdir(full) == []
    done = root.run("/sync-helper/app-server", "--install", "/ro")
    assert done.returncode == 1
    assert "/ro is read-only" in done.stderr
    done = root.run("/sync-helper/app-server", "--install", "/missing")
    assert done.returncode == 1 and "/missing" in done.stderr and "not a folder" in done.stderr


def test_a_volume_with_room_for_the_copy_but_not_for_unpacking_is_refused_before_writing(make_root):
    """64 MiB holds both binaries (about 36 MB) but not what app-server unpacks at start; the size
    the message asks for is enough for the helper and a connection at once, unpacking there."""
    root = make_root()
    small, enough = root.path / "small", root.path / "enough"
    small.mkdir()
    enough.mkdir()
    root.mount(["-t", "tmpfs", "-o", "size=64m", "tmpfs"], small)
    done = root.run("/sync-helper/app-server", "--install", "/small")
    assert done.returncode == 1 and os.listdir(small) == []
    said = re.search(r"the volume is too small \((\d+) MiB free; .* unpacks about \d+ MiB into /small/tmp.*"
                     r"give it (\d+) MiB or more \(the emptyDir's sizeLimit\)", done.stderr)
    assert said, done.stderr
    asked = int(said.group(2))
    root.mount(["-t", "tmpfs", "-o", f"size={asked}m", "tmpfs"], enough)
    done = root.run("/sync-helper/app-server", "--install", "/enough")
    assert done.returncode == 0, done.stderr
    root.path.joinpath("enough", "src").mkdir()
    env = {"TMPDIR": "/enough/tmp"}
    with serving(root, "--targets", "/enough/src", socket="/enough/app-server.sock", env=env):
        connect = root.run("/enough/app-connect", "--version", env=env)  # beside the unpacked helper
        assert connect.returncode == 0, connect.stderr


def test_no_proc_is_a_clear_error(make_root):
    root = make_root(proc=False)
    for name in ("app-server", "app-connect"):
        done = root.run(f"/sync-helper/{name}", "--version")
        assert done.returncode != 0
        assert "/proc/self/exe" in done.stderr


def test_no_urandom_stops_the_sync_side_only(make_root):
    """gRPC aborts without /dev/urandom; the helper refuses before loading it and the app runs on."""
    root = make_root(urandom=False)
    done = root.run("/sync-helper/app-server", "--socket", "/tmp/s.sock", "--",
                    "/sync-helper/app-connect", "--version")
    assert done.returncode == 0, done.stderr
    assert "app-connect 0.1.0" in done.stdout
    assert "cannot read /dev/urandom" in done.stderr


def test_the_app_gets_its_own_environment_back(make_root, tmp_path):
    """busybox-static (Debian's) stands in for the app: it prints the environment it was given."""
    root = make_root()
    (root.path / "bin").mkdir()
    busybox = "/bin/busybox"
    subprocess.run(["cp", busybox, str(root.path / "bin" / "busybox")], check=True)
    env = {"TMPDIR": "/sync-helper/tmp", "DOWNSTREAM_SYNC_APP_TMPDIR": "/var/app-tmp", "LD_LIBRARY_PATH": "/x"}
    (root.path / "sync-helper" / "tmp").mkdir()
    done = root.run("/sync-helper/app-server", "--socket", "/tmp/s.sock", "--", "/bin/busybox", "env", env=env)
    assert done.returncode == 0, done.stderr
    seen = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    assert seen.get("TMPDIR") == "/var/app-tmp"
    assert seen.get("LD_LIBRARY_PATH") == "/x"
    assert not [k for k in seen if k.startswith(("_PYI_", "STATICX_", "DOWNSTREAM_SYNC_"))], seen


def test_a_kill_9_leaves_extracted_files_that_the_next_start_removes(make_root):
    root = make_root()
    (root.path / "app" / "src").mkdir()
    tmp = root.path / "tmp"
    with serving(root, "--targets", "/app/src") as proc:
        extracted = set(os.listdir(tmp))
        assert any(n.startswith("staticx-") for n in extracted) and any(n.startswith("_MEI") for n in extracted)
        for pid in root.processes():  # as when the container's PID 1 is killed: all of them at once
            os.kill(pid, 9)
        proc.wait()
    left = sorted(os.listdir(tmp))
    assert left, "kill -9 left nothing to clean"
    for name in left:  # left long ago, as far as the next start can tell
        os.utime(tmp / name, (time.time() - 3600, time.time() - 3600))
    (root.path / "sync-helper" / "app-server.sock").unlink(missing_ok=True)
    with serving(root, "--targets", "/app/src"):
        assert not set(left) & set(os.listdir(tmp))

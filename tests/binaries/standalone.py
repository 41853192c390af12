"""Test equipment for the standalone binaries: built once by helper/build.sh (a no-op when built),
and an empty root file system holding only the binaries, /proc, /dev/null, /dev/urandom and a
temporary folder, entered with a real chroot(8)."""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import subprocess
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
OUT = REPO / ".cache" / "binaries" / "linux-amd64"
CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"
WAIT = 30.0  # a bound on what must happen, never a measure


def build() -> pathlib.Path:
    """The binaries' folder, after helper/build.sh (which does nothing when they are up to date)."""
    done = subprocess.run(["bash", str(REPO / "helper" / "build.sh"), str(OUT)], capture_output=True, text=True)
    assert done.returncode == 0, f"helper/build.sh failed:\n{done.stderr[-4000:]}"
    return OUT


class Root:
    """An empty root file system at `path`: /sync-helper (the binaries), /tmp, /proc, /dev/null,
    /dev/urandom, /app (the app's folder), each mount undone by close()."""

    def __init__(self, path: pathlib.Path, binaries: pathlib.Path, proc: bool = True, urandom: bool = True):
        self.path = path
        self.mounts: list[pathlib.Path] = []
        for name in ("sync-helper", "tmp", "proc", "dev", "app"):
            (path / name).mkdir(parents=True, exist_ok=True)
        os.chmod(path / "tmp", 0o1777)
        for name in ("app-server", "app-connect"):
            shutil.copy2(binaries / name, path / "sync-helper" / name)
        if proc:
            self.mount(["-t", "proc", "proc"], path / "proc")
        devices = ["null"] + (["urandom"] if urandom else [])
        for dev in devices:
            (path / "dev" / dev).touch()
            self.mount(["--bind", f"/dev/{dev}"], path / "dev" / dev)

    def mount(self, how: list[str], where: pathlib.Path) -> None:
        subprocess.run(["mount", *how, str(where)], check=True)
        self.mounts.append(where)

    def argv(self, *args: str) -> list[str]:
        return [CHROOT, str(self.path), *args]

    def run(self, *args: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*args), env=env or {"TMPDIR": "/tmp"}, capture_output=True, text=True,
                              timeout=WAIT, **kw)

    def popen(self, *args: str, env: dict | None = None, **kw) -> subprocess.Popen:
        return subprocess.Popen(self.argv(*args), env=env or {"TMPDIR": "/tmp"}, **kw)

    def processes(self) -> list[int]:
        """The processes running in this root."""
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if os.readlink(f"/proc/{pid}/root") == str(self.path):
                    found.append(int(pid))
            except OSError:
                pass
        return found

    def close(self) -> None:
        for where in reversed(self.mounts):
            subprocess.run(["umount", "-l", str(where)], check=False)
        self.mounts.clear()


@contextlib.contextmanager
def serving(root: Root, *args: str, socket: str = "/sync-helper/app-server.sock", env: dict | None = None):
    """app-server in `root`, watching `args`' targets, until the block ends (then SIGTERM)."""
    log = open(root.path.parent / "app-server.err", "w+")
    proc = root.popen("/sync-helper/app-server", "--socket", socket, *args, env=env, stderr=log, cwd="/")
    sock = root.path / socket.lstrip("/")
    deadline = time.monotonic() + WAIT
    try:
        while not sock.exists():
            if proc.poll() is not None:
                log.seek(0)
                raise AssertionError(f"app-server exited {proc.returncode}: {log.read()}")
            assert time.monotonic() < deadline, "app-server made no socket"
            time.sleep(0.02)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()

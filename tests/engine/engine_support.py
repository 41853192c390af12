"""Support for the engine tests: a real app-server in a temporary "container" folder, reached
through a real app-connect by the engine's command transport; polling, tree comparison, event recording."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import pathlib
import signal
import subprocess
import sys
import time

import grpc
from sync_helper.wire import filedownload_pb2_grpc as pb_grpc

from downstream_sync.cluster.transport import CommandTransport
from downstream_sync.sync.events import SyncError
from downstream_sync.sync.writer import TEMP_MARK

BIN = pathlib.Path(sys.executable).parent
APP_SERVER = str(BIN / "app-server")
APP_CONNECT = str(BIN / "app-connect")
LIMIT = float(os.environ.get("ENGINE_TEST_LIMIT", 30))  # a bound on things that must happen, never a measure


async def eventually(predicate, what: str, limit: float = LIMIT):
    """Poll until predicate() is truthy; fail naming `what` after `limit` seconds."""
    deadline = time.monotonic() + limit
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.01)


def md5(path: pathlib.Path) -> str | None:
    try:
        return hashlib.md5(path.read_bytes()).hexdigest()
    except (FileNotFoundError, IsADirectoryError):
        return None


def tree(root: pathlib.Path) -> dict[str, str]:
    """Relative path -> MD5 of every regular file below root, but the engine's temporary files
    (being written while this looks)."""
    out = {}
    if not root.exists():
        return out
    for dirpath, _, files in os.walk(root):
        for name in files:
            if TEMP_MARK in name:
                continue
            p = pathlib.Path(dirpath, name)
            try:
                out[p.relative_to(root).as_posix()] = hashlib.md5(p.read_bytes()).hexdigest()
            except FileNotFoundError:
                continue
    return out


def count_files(root: pathlib.Path) -> int:
    """Regular files below root, but the engine's temporary files."""
    return sum(1 for _, _, files in os.walk(root) for name in files if TEMP_MARK not in name)


class Helper:
    """A real app-server watching `targets` below `cwd`, serving on a unix socket."""

    def __init__(self, cwd: pathlib.Path, sock: pathlib.Path, targets: list[str], excludes: list[str] = (),
                 extra: list[str] = ()):
        self.cwd, self.sock, self.targets, self.excludes = cwd, sock, targets, list(excludes)
        self.extra = list(extra)
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Helper":
        if self.sock.exists():
            self.sock.unlink()
        argv = [APP_SERVER, "--targets", ",".join(self.targets), "--socket", str(self.sock)]
        if self.excludes:
            argv += ["--excludes", ",".join(self.excludes)]
        argv += self.extra
        self.proc = subprocess.Popen(argv, cwd=self.cwd, stderr=subprocess.PIPE)
        deadline = time.monotonic() + LIMIT
        while not self.sock.exists():
            if self.proc.poll() is not None:
                raise AssertionError(f"app-server exited: {self.proc.stderr.read().decode()}")
            if time.monotonic() > deadline:
                raise AssertionError("app-server did not create its socket")
            time.sleep(0.01)
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def transport(self) -> CommandTransport:
        return CommandTransport([APP_CONNECT, "--socket", str(self.sock)])


class Recorder:
    """Collects a session's events."""

    def __init__(self):
        self.events = []

    def __call__(self, event):
        self.events.append(event)

    def of(self, kind, **match):
        return [e for e in self.events if isinstance(e, kind)
                and all(getattr(e, k) == v for k, v in match.items())]

    @property
    def errors(self) -> list[SyncError]:
        return self.of(SyncError)




@contextlib.asynccontextmanager
async def fake_helper(servicer, sock: pathlib.Path):
    """A real gRPC server of the test's own FileService (a hostile or older helper) on `sock`."""
    server = grpc.aio.server()
    pb_grpc.add_FileServiceServicer_to_server(servicer, server)
    server.add_insecure_port(f"unix:{sock}")
    await server.start()
    try:
        yield sock
    finally:
        await server.stop(None)


class Racer:
    """A user editing files in a process of its own (racer.py), to race the engine."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, str(pathlib.Path(__file__).with_name("racer.py"))],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def _ask(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        if self.proc.stdout.readline().strip() != "ok":
            raise AssertionError(f"the racer failed on {line.split()[0]}")

    async def ask(self, *words) -> None:
        """Run one racer command (see racer.py) without blocking the engine's loop."""
        await asyncio.to_thread(self._ask, " ".join(str(w) for w in words))

    def stop(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()
        self.proc.stdout.close()


@contextlib.contextmanager
def mounted(kind: str, where: pathlib.Path):
    """A fresh `kind` file system (ramfs, tmpfs) mounted at `where`, unmounted after. Needs root;
    skipped with the reason otherwise, but never in CI (CI=true), which runs as root."""
    import pytest

    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"mounting {kind} needs root, and CI runs as root")
        pytest.skip(f"mounting {kind} needs root")
    subprocess.run(["mount", "-t", kind, "-o", "mode=0755", kind, str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def holding(folder: pathlib.Path, data: bytes) -> list[str]:
    """The names of the files in folder whose content is data."""
    out = []
    for p in folder.iterdir():
        try:
            if p.is_file() and p.read_bytes() == data:
                out.append(p.name)
        except FileNotFoundError:
            continue
    return out

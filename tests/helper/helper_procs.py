"""Test helpers: a real app-server wrapping a real child, and real gRPC clients through a real app-connect.

The bridge listens on a local unix socket and runs `app-connect --socket HELPER_SOCK` for each accepted
connection, with the connection as its stdin and stdout: the same shape as the local engine's
`kubectl exec -i POD -- /sync-helper/app-connect`.
"""

from __future__ import annotations

import os
import pathlib
import queue
import signal
import socket
import subprocess
import sys
import threading
import time

import grpc
import pytest

from sync_helper.wire import filedownload_pb2 as pb
from sync_helper.wire import filedownload_pb2_grpc as pb_grpc

BIN = pathlib.Path(sys.executable).parent
APP_SERVER = str(BIN / "app-server")
APP_CONNECT = str(BIN / "app-connect")
WAIT = 20.0  # generous: a limit for things that must happen, never a measure
OPTIONS = [("grpc.max_receive_message_length", 8 << 20), ("grpc.max_send_message_length", 8 << 20)]


def wait_until(predicate, what: str, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"gave up waiting for {what}")


class Helper:
    """A running app-server."""

    def __init__(self, proc: subprocess.Popen, sock: str, cwd: pathlib.Path, stderr_path: pathlib.Path):
        self.proc, self.sock, self.cwd, self.stderr_path = proc, sock, cwd, stderr_path

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def rss_kib(self, field: str = "VmHWM") -> int:
        for line in pathlib.Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise AssertionError(f"no {field} for pid {self.proc.pid}")

    def watched_inodes(self) -> set[int]:
        """Inodes of every folder the helper holds an inotify watch on (from /proc/PID/fdinfo)."""
        inodes = set()
        fdinfo = pathlib.Path(f"/proc/{self.proc.pid}/fdinfo")
        for entry in fdinfo.iterdir():
            try:
                text = entry.read_text()
            except OSError:
                continue
            for line in text.splitlines():
                if line.startswith("inotify wd:"):
                    fields = dict(f.split(":", 1) for f in line.split()[1:])
                    inodes.add(int(fields["ino"], 16))
        return inodes

    def wait(self, timeout: float = WAIT) -> int:
        return self.proc.wait(timeout)


class Bridge:
    """A local unix socket; each connection is relayed to the helper by a real app-connect process."""

    def __init__(self, helper_sock: str, path: str):
        self.path = path
        self.helper_sock = helper_sock
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(16)
        self.procs: list[subprocess.Popen] = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            proc = subprocess.Popen([APP_CONNECT, "--socket", self.helper_sock], stdin=conn, stdout=conn)
            conn.close()
            self.procs.append(proc)

    def channel(self) -> grpc.Channel:
        return grpc.insecure_channel(f"unix:{self.path}", options=OPTIONS)

    def stub(self) -> pb_grpc.FileServiceStub:
        return pb_grpc.FileServiceStub(self.channel())

    def close(self) -> None:
        self._stop = True
        self.listener.close()
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


class Events:
    """Collects a Watch stream in a thread."""

    def __init__(self, stub: pb_grpc.FileServiceStub, request: pb.FileWatchRequest):
        self.call = stub.Watch(request)
        self.q: queue.Queue = queue.Queue()
        self.seen: list[pb.FileEvent] = []
        self.error: grpc.RpcError | None = None
        self.reading = threading.Event()  # clear it to stop taking events (a slow client)
        self.reading.set()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for ev in self.call:
                self.reading.wait()
                self.q.put(ev)
        except grpc.RpcError as e:
            self.error = e
            self.q.put(None)

    def next(self, timeout: float = WAIT) -> pb.FileEvent:
        try:
            ev = self.q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no event arrived") from None
        if ev is None:
            raise AssertionError(f"the watch ended: {self.error}")
        self.seen.append(ev)
        return ev

    def until(self, predicate, timeout: float = WAIT) -> pb.FileEvent:
        """Read events until one matches; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            ev = self.next(max(0.01, deadline - time.monotonic()))
            if predicate(ev):
                return ev

    def changes_until(self, predicate, timeout: float = WAIT) -> list[pb.FileEvent]:
        """CHANGE events read until (and including) the first that matches."""
        start = len(self.seen)
        self.until(predicate, timeout)
        return [e for e in self.seen[start:] if e.kind == pb.FileEvent.CHANGE]

    def quiet(self, timeout: float = 0.5) -> list[pb.FileEvent]:
        """Events that arrive within `timeout` (used to show nothing more came)."""
        out = []
        while True:
            try:
                ev = self.q.get(timeout=timeout)
            except queue.Empty:
                return out
            if ev is None:
                return out
            self.seen.append(ev)
            out.append(ev)

    def cancel(self) -> None:
        self.call.cancel()


def start_helper(tmp_path: pathlib.Path, args: list[str], command: list[str] | None = None,
                 cwd: pathlib.Path | None = None, wait_socket: bool = True, name: str = "helper",
                 prefix: list[str] = ()) -> Helper:
    cwd = cwd or tmp_path / "work"
    cwd.mkdir(parents=True, exist_ok=True)
    sock = str(tmp_path / f"{name}.sock")
    stderr_path = tmp_path / f"{name}.stderr"
    argv = [*prefix, APP_SERVER, "--socket", sock, *args]
    if command is not None:
        argv += ["--", *command]
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(argv, cwd=cwd, stderr=err)
    helper = Helper(proc, sock, cwd, stderr_path)
    if wait_socket:
        wait_until(lambda: os.path.exists(sock) or proc.poll() is not None, "the helper's socket")
        assert proc.poll() is None, f"app-server exited early: {helper.stderr}"
    return helper


def stop(helper: Helper) -> None:
    if helper.proc.poll() is None:
        helper.proc.send_signal(signal.SIGTERM)
        try:
            helper.proc.wait(10)
        except subprocess.TimeoutExpired:
            helper.proc.kill()
            helper.proc.wait()


@pytest.fixture
def run_helper(tmp_path):
    """Start app-server (by default wrapping `sleep 600`); stopped at the end of the test."""
    started: list[Helper] = []

    def start(args: list[str], command: list[str] | None = ("sleep", "600"), **kw) -> Helper:
        helper = start_helper(tmp_path, args, list(command) if command is not None else None, **kw)
        started.append(helper)
        return helper

    yield start
    for helper in started:
        stop(helper)


@pytest.fixture
def bridge(tmp_path):
    """Bridges to a helper socket through app-connect: bridge(helper) -> Bridge."""
    made: list[Bridge] = []

    def make(helper: Helper) -> Bridge:
        b = Bridge(helper.sock, str(tmp_path / f"bridge{len(made)}.sock"))
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


def watch(stub, **fields) -> Events:
    fields.setdefault("protocol", 1)
    return Events(stub, pb.FileWatchRequest(**fields))


def hello_and_snapshot(events: Events) -> tuple[pb.FileEvent, list[pb.FileEvent], pb.FileEvent]:
    hello = events.next()
    assert hello.kind == pb.FileEvent.HELLO
    files = []
    while True:
        ev = events.next()
        if ev.kind == pb.FileEvent.SNAPSHOT_END:
            return hello, files, ev
        if ev.kind == pb.FileEvent.NOTICE:
            continue  # kept in events.seen
        assert ev.kind == pb.FileEvent.SNAPSHOT_FILE
        files.append(ev)

"""The byte-stream bridge: a private unix socket whose every connection runs a transport's command.

A gRPC channel dials `unix:<path>`; for each accepted connection the bridge asks the transport
for an argv and spawns it with the accepted socket itself as its stdin and stdout, so the bytes
flow between gRPC and the process with no copying in Python. The bridge keeps the tail of each
process's stderr and its exit status to explain failures ("app-connect: no helper socket at ...").
Must not import pygls, lsprotocol or terminal code.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import shutil
import signal
import socket
import tempfile
import time
from dataclasses import dataclass

from .transport import Transport, TransportError

__all__ = ["Bridge", "BridgeFailure"]

log = logging.getLogger("downstream_sync")
_STDERR_TAIL = 4096


@dataclass(frozen=True)
class BridgeFailure:
    """Why the last connection through the bridge ended badly."""
    message: str
    time: float
    returncode: int | None = None


class Bridge:
    """Owns a listening unix socket in a private 0700 folder and the processes it spawns."""

    def __init__(self, transport: Transport):
        self.transport = transport
        self._dir: str | None = None
        self._sock: socket.socket | None = None
        self._accept_task: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._procs: set[asyncio.subprocess.Process] = set()
        self.last_failure: BridgeFailure | None = None
        self._reaped: set[int] = set()
        self.connections = 0

    @property
    def target(self) -> str:
        """The gRPC target to dial."""
        assert self._dir is not None, "bridge not started"
        return f"unix:{os.path.join(self._dir, 'bridge.sock')}"

    async def start(self) -> str:
        self._dir = tempfile.mkdtemp(prefix="downstream-sync-")
        os.chmod(self._dir, 0o700)
        path = os.path.join(self._dir, "bridge.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        sock.listen(16)
        sock.setblocking(False)
        self._sock = sock
        self._accept_task = asyncio.get_running_loop().create_task(self._accept_loop())
        return self.target

    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._sock is not None
        while True:
            conn, _ = await loop.sock_accept(self._sock)
            task = loop.create_task(self._serve(conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _fail(self, message: str, returncode: int | None = None) -> None:
        self.last_failure = BridgeFailure(message, time.time(), returncode)
        log.debug("bridge: %s", message)

    async def _serve(self, conn: socket.socket) -> None:
        self.connections += 1
        try:
            try:
                argv = await self.transport.command()
            except TransportError as e:
                self._fail(str(e))
                return
            except Exception as e:  # a transport bug must not end the session
                self._fail(f"{self.transport.describe()}: could not build the command: {e}")
                return
            # The child shares the socket's open file description: it must be blocking for it.
            conn.setblocking(True)
            try:
                proc = await asyncio.create_subprocess_exec(
                    *argv, stdin=conn.fileno(), stdout=conn.fileno(), stderr=asyncio.subprocess.PIPE,
                    start_new_session=True)
            except OSError as e:
                hint = " (is it installed and on PATH?)" if isinstance(e, FileNotFoundError) else ""
                self._fail(f"cannot run {shlex.join(argv)}: {e.strerror or e}{hint}")
                return
        finally:
            conn.close()
        self._procs.add(proc)
        try:
            tail = b""
            assert proc.stderr is not None
            while True:
                chunk = await proc.stderr.read(65536)
                if not chunk:
                    break
                tail = (tail + chunk)[-_STDERR_TAIL:]
            rc = await proc.wait()
        finally:
            self._procs.discard(proc)
        text = tail.decode("utf-8", "replace").strip()
        if proc.pid in self._reaped:
            self._reaped.discard(proc.pid)
            return
        if rc != 0 or text:
            status = f"exited with status {rc}" if rc >= 0 else f"was killed by signal {-rc}"
            self._fail(text or f"the command {status}", rc)  # its own words say more than its status

    async def close(self) -> None:
        if self._accept_task is not None:
            self._accept_task.cancel()
            try:
                await self._accept_task
            except (asyncio.CancelledError, Exception):
                pass
            self._accept_task = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        await self.reap()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    async def reap(self) -> None:
        """End the processes of earlier connections (SIGTERM, then SIGKILL after 2 s)."""
        for proc in list(self._procs):
            self._reaped.add(proc.pid)
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        if self._procs:
            await asyncio.wait([asyncio.ensure_future(p.wait()) for p in self._procs], timeout=2)
            for proc in list(self._procs):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

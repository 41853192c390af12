"""The data lane, local side: a large file's bytes straight from the transport's stdout.

For a file of LANE_MIN bytes or more, OpenTransfer (gRPC) opens it in the helper and returns a
token and its header; a second process of the same transport command (a new app-connect) gets
"DSYNC-DATA/1 <token>" on its stdin and its stdout carries "OK", the bytes and "DONE" or
"CHANGED" (proto/filedownload.proto). The bytes are written to the temporary file in one thread
and hashed in another; `fetch_large` hands the file on (download.Received, for the Applier to
place) only after "DONE" and a matching MD5. An older helper (OpenTransfer UNIMPLEMENTED) or
app-connect (no answer) turns the lane off for the connection and the file goes through DownloadFiles. Must not import pygls, lsprotocol or terminal code.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import queue
import signal
import subprocess
import threading
import time
from typing import Callable

import grpc
from sync_helper.protocol import CHANGED, LANE_DONE, LANE_ERR, LANE_MIN, LANE_OK, PREFACE, code_of_status, new_md5

from ..cluster.transport import Transport, TransportError

from .client import HelperClient, connection_lost, pb
from .download import NotReceived, Received, Wanted
from .place import open_temp
from .writer import WriteError, _explain

__all__ = ["Lane", "LaneUnavailable", "LANE_MIN", "fetch_large"]

_CHUNK = 1 << 20
_QUEUED = 16
_ATTEMPTS = 3
_F_SETPIPE_SZ = 1031
PROGRESS_EVERY = 0.25


class LaneUnavailable(Exception):
    """The other end does not speak the data lane (an older helper or app-connect)."""


class Lane:
    """Runs data-lane transfers through `transport`; `usable` turns False on an older helper."""

    def __init__(self, transport: Transport):
        self.transport = transport
        self.usable = True

    async def receive(self, token: str, size: int, fd: int,
                      on_progress: Callable[[int], None] | None = None) -> tuple[str, "hashlib._Hash", int]:
        """Write the ticket's bytes into `fd`. Returns (status, md5, bytes): status "done" (the helper
        saw the file unchanged), "changed", "short" (the file shrank) or "refused: <reason>".
        `on_progress(bytes_done)` runs on the loop a few times a second while bytes arrive."""
        try:
            argv = await self.transport.command()
        except TransportError as e:
            raise LaneUnavailable(str(e)) from e
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    bufsize=0, start_new_session=True)
        except OSError as e:
            raise LaneUnavailable(f"the data lane's command could not start: {e}") from e
        assert proc.stdin is not None and proc.stdout is not None
        try:
            try:
                fcntl.fcntl(proc.stdout.fileno(), _F_SETPIPE_SZ, _CHUNK)
            except OSError:
                pass
            try:
                proc.stdin.write(PREFACE + token.encode("ascii") + b"\n")
            except OSError as e:
                raise LaneUnavailable(f"the data lane's process ended at once: {e}") from e
            # stdin stays open until the end: app-connect stops relaying soon after its stdin closes.
            loop = asyncio.get_running_loop()
            report = None if on_progress is None else lambda done: loop.call_soon_threadsafe(on_progress, done)
            job = loop.run_in_executor(None, _copy, proc.stdout.fileno(), fd, size, report)
            try:
                return await asyncio.shield(job)
            except asyncio.CancelledError:
                _end(proc)
                await asyncio.gather(job, return_exceptions=True)
                raise
        finally:
            _end(proc)
            proc.stdin.close()
            proc.stdout.close()
            try:
                proc.wait(2)
            except subprocess.TimeoutExpired:
                pass


def _end(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _line(src: int, limit: int = 512) -> bytes:
    line = b""
    while not line.endswith(b"\n") and len(line) < limit:
        got = os.read(src, 1)
        if not got:
            break
        line += got
    return line


def _copy(src: int, dst: int, size: int,
          report: Callable[[int], None] | None = None) -> tuple[str, "hashlib._Hash", int]:
    """Read the answer from `src`; write the bytes to `dst` here and hash them in a second thread;
    `report(bytes_done)` at most every PROGRESS_EVERY seconds."""
    head = _line(src)
    if head.startswith(LANE_ERR):
        return "refused: " + head[3:].decode("utf-8", "replace").strip(), new_md5(), 0
    if head != LANE_OK:
        raise LaneUnavailable("no data lane at the other end")
    md5 = new_md5()
    chunks: queue.Queue = queue.Queue(maxsize=_QUEUED)  # bounds memory when hashing lags

    def hash_all() -> None:
        while (data := chunks.get()) is not None:
            md5.update(data)

    hasher = threading.Thread(target=hash_all, daemon=True)
    hasher.start()
    done = 0
    reported = time.monotonic()
    if report is not None:
        report(0)  # the download has begun
    try:
        while done < size:
            data = os.read(src, min(_CHUNK, size - done))
            if not data:
                break
            view = memoryview(data)
            while view:
                view = view[os.write(dst, view):]
            chunks.put(data)
            done += len(data)
            if report is not None and time.monotonic() - reported >= PROGRESS_EVERY:
                reported = time.monotonic()
                report(done)
    finally:
        chunks.put(None)
        hasher.join()
    if done < size:
        return "short", md5, done
    return ("done" if _line(src) == LANE_DONE else "changed"), md5, done


async def fetch_large(client: HelperClient, lane: Lane | None, wanted: Wanted,
                      progress: Callable[[int, int, bool], None]) -> Received | NotReceived | None:
    """Download one file through the lane, as download.py's values; None when the lane cannot be
    used for it (the caller downloads it with DownloadFiles). `progress(bytes_done, bytes_total,
    finished)` runs on the loop while bytes arrive."""
    w = wanted.work
    if lane is None or not lane.usable or w.size < LANE_MIN:
        return None
    for _ in range(_ATTEMPTS):
        try:
            ticket = await client.stub.OpenTransfer(pb.DownloadRequest(path=w.path))
        except grpc.aio.AioRpcError as e:
            if e.code() == grpc.StatusCode.UNIMPLEMENTED:
                lane.usable = False
                return None
            if connection_lost(e):
                raise
            return NotReceived(wanted, code_of_status(e.code().name), e.details() or "")
        h = ticket.header
        started = time.monotonic()
        made: list[str] = []
        try:
            af = open_temp(wanted.target, wanted.decision, h.mode or w.mode, made)
        except WriteError as e:
            return NotReceived(wanted, error=e)
        received = 0

        def report(done: int, finished: bool = False) -> None:
            nonlocal received
            received = done
            progress(done, h.size, finished)

        try:
            status, md5, size = await lane.receive(ticket.token, h.size, af.fileno(), report)
            received = size
        except LaneUnavailable:
            af.abort()
            lane.usable = False
            return None
        except OSError as e:
            af.abort()
            error = _explain(e, af.display, af.folder)
            error.__cause__ = e
            return NotReceived(wanted, error=error)
        except BaseException:
            af.abort()
            raise
        finally:
            report(received, finished=True)
        if status.startswith("refused"):
            af.abort()
            return None
        if status != "done" or (h.md5 and md5.hexdigest() != h.md5.lower()):
            af.abort()
            continue  # changed while it was sent: ask again
        af.adopt(md5, size)
        return Received(wanted, af, h.md5, size, started, tuple(made))
    return NotReceived(wanted, CHANGED)

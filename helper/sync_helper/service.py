"""The gRPC FileService (grpc.aio): Watch, DownloadFile and DownloadFiles, as proto/filedownload.proto defines.

Owns the per-call protocol: HELLO, resume from the backlog or a snapshot, RESYNC after an overflow,
inline content capped per client, and streaming file bytes in 1 MiB chunks that are checked against
the header's MD5 before the last chunk goes out (a file that changed while read is never completed).
Must not import watchdog.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import time
from typing import AsyncIterator, Callable

import grpc

from .hub import Hub
from .index import Index
from .paths import PathMissing, PathRefused, Targets, open_regular
from .tracker import read_small
from .transfer import TransferDesk
from .wire import filedownload_pb2 as pb
from .wire import filedownload_pb2_grpc as pb_grpc

__all__ = ["FileService", "CHUNK", "SMALL"]

CHUNK = 1 << 20        # bytes per DownloadResponse chunk
SMALL = 256 << 10      # files up to this size are read in one go on the loop
SETTLED_NS = 100_000_000  # a file unwritten for this long has a distinct mtime for any later write
Event = pb.FileEvent


class Changed(Exception):
    """The file changed while it was being read."""


class FileService(pb_grpc.FileServiceServicer):
    def __init__(self, targets: Targets, index: Index, hub: Hub, ready: asyncio.Event, info: pb.HelperInfo,
                 busy: Callable[[str], bool] = lambda wire: True, desk: TransferDesk | None = None):
        self.targets = targets
        self.desk = desk  # the data lane's tickets; None: OpenTransfer is not offered
        self.busy = busy  # True while the watcher has a check of this path in progress
        self.index = index
        self.hub = hub
        self.ready = ready
        self.info = info

    # -- Watch -----------------------------------------------------------------------------------

    async def Watch(self, request: pb.FileWatchRequest, context) -> AsyncIterator[Event]:
        """After HELLO: the snapshot when asked for; else the missed events when `instance_id` is this
        helper's and the backlog holds them; else nothing for a client that names no instance and no
        version (it wants live events only); else (an older instance, a lost backlog) the snapshot."""
        await self.ready.wait()
        sub = self.hub.subscribe()
        try:
            if request.protocol == 0:
                while True:
                    ev = await sub.get()
                    if ev is None:
                        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                            "this client fell too far behind; watch again")
                    yield _capped(ev, 0)
            limit = max(0, min(request.inline_limit, self.info.max_inline))
            version = self.index.version
            hello = Event(kind=Event.HELLO, version=version, instance_id=self.index.instance_id, helper=self.info)
            missed: list[Event] | None = []
            if request.snapshot:
                missed = None
            elif request.instance_id == self.index.instance_id:
                missed = self.index.since(request.since_version)
            elif request.instance_id or request.since_version:
                missed = None
            snapshot = list(self.index.files.items()) if missed is None else None
            yield hello
            if snapshot is not None:
                async for ev in self._snapshot(snapshot, version, limit):
                    yield ev
            else:
                async for ev in self._with_content(missed, limit):
                    yield ev
            while True:
                ev = await sub.get()
                if ev is None:
                    sub.take_overflow()
                    version = self.index.version
                    snapshot = list(self.index.files.items())
                    yield Event(kind=Event.RESYNC, version=version, instance_id=self.index.instance_id)
                    async for ev in self._snapshot(snapshot, version, limit):
                        yield ev
                    continue
                if ev.version > version:
                    yield _capped(ev, limit)
        finally:
            self.hub.unsubscribe(sub)

    async def _snapshot(self, entries, version: int, limit: int) -> AsyncIterator[Event]:
        events = [self.index.snapshot_event(path, info) for path, info in entries]
        async for ev in self._with_content(events, limit):
            yield ev
        yield Event(kind=Event.SNAPSHOT_END, version=version, instance_id=self.index.instance_id)

    async def _with_content(self, events: list[Event], limit: int, batch: int = 256) -> AsyncIterator[Event]:
        """The events, with the content of small files read from disk when it still has the event's MD5."""
        loop = asyncio.get_running_loop()
        for start in range(0, len(events), batch):
            part = events[start:start + batch]
            if limit:
                await loop.run_in_executor(None, self._fill, part, limit)
            for ev in part:
                yield ev

    def _fill(self, events: list[Event], limit: int) -> None:
        for i, ev in enumerate(events):
            if ev.event_type == Event.DELETE or ev.size > limit or ev.HasField("content"):
                continue
            try:
                target, rel = self.targets.resolve(ev.path)
            except PathRefused:
                continue
            got = read_small(target.abs(rel), limit)
            if got is not None and hashlib.md5(got[1]).hexdigest() == ev.MD5Hash:
                events[i] = full = Event()  # a copy: backlog events never hold content
                full.CopyFrom(ev)
                full.content = got[1]

    # -- downloads -------------------------------------------------------------------------------

    async def DownloadFile(self, request: pb.DownloadRequest, context) -> AsyncIterator[pb.DownloadResponse]:
        try:
            fd, st = self._open(request.path)
        except PathRefused as e:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(e))
        except PathMissing as e:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(e))
        except OSError as e:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"{request.path!r} cannot be read: {e.strerror}")
        try:
            async for msg in self._stream(request.path, fd, st, pack=False):
                yield msg
        except Changed:
            await context.abort(grpc.StatusCode.ABORTED, f"{request.path!r} changed while it was read; ask again")
        except OSError as e:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"{request.path!r} cannot be read: {e.strerror}")
        finally:
            os.close(fd)

    async def DownloadFiles(self, request: pb.DownloadFilesRequest, context) -> AsyncIterator[pb.DownloadResponse]:
        for path in request.paths:
            try:
                fd, st = self._open(path)
            except PathRefused as e:
                yield _error(path, pb.FileError.REFUSED, str(e))
                continue
            except PathMissing as e:
                yield _error(path, pb.FileError.NOT_FOUND, str(e))
                continue
            except OSError as e:
                yield _error(path, pb.FileError.UNREADABLE, f"{path!r} cannot be read: {e.strerror}")
                continue
            try:
                async for msg in self._stream(path, fd, st, pack=True):
                    yield msg
            except Changed:
                yield _error(path, pb.FileError.CHANGED, f"{path!r} changed while it was read; ask again")
            except OSError as e:
                yield _error(path, pb.FileError.UNREADABLE, f"{path!r} cannot be read: {e.strerror}")
            finally:
                os.close(fd)

    async def OpenTransfer(self, request: pb.DownloadRequest, context) -> pb.TransferTicket:
        """A one-time token for the file's bytes on the data socket (see transfer.py), with its header.
        The MD5 is the index's when it hashed exactly this file, else computed here, once."""
        if self.desk is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "this helper has no data lane")
        try:
            fd, st = self._open(request.path)
        except PathRefused as e:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(e))
        except PathMissing as e:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(e))
        except OSError as e:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"{request.path!r} cannot be read: {e.strerror}")
        try:
            known = self.index.files.get(request.path)
            if known is not None and (known.size, known.mtime_ns, known.ino) == (st.st_size, st.st_mtime_ns, st.st_ino):
                md5 = known.md5
            else:
                md5 = await asyncio.get_running_loop().run_in_executor(None, _hash_fd, fd)
        except BaseException:
            os.close(fd)
            raise
        return pb.TransferTicket(token=self.desk.issue(request.path, fd, st), header=_header(request.path, st, md5))

    def _open(self, wire: str) -> tuple[int, os.stat_result]:
        target, rel = self.targets.resolve(wire)
        return open_regular(target, rel)

    async def _stream(self, wire: str, fd: int, st: os.stat_result, pack: bool) -> AsyncIterator[pb.DownloadResponse]:
        """Header, then chunks; raises Changed (before the last chunk) when the bytes are not the header's."""
        mode = stat.S_IMODE(st.st_mode)
        if st.st_size <= SMALL:
            data = os.pread(fd, st.st_size + 1, 0) if st.st_size else b""
            if len(data) != st.st_size or _moved(fd, st):
                raise Changed()
            header = pb.FileHeader(path=wire, size=st.st_size, md5=hashlib.md5(data).hexdigest(), mode=mode,
                                   mtime_ns=st.st_mtime_ns)
            if pack:
                yield pb.DownloadResponse(header=header, chunk=data)
            else:
                yield pb.DownloadResponse(header=header)
                if data:
                    yield pb.DownloadResponse(chunk=data)
            return
        loop = asyncio.get_running_loop()
        known = self.index.files.get(wire)
        if self._trusted(wire, known, st):
            # The index hashed exactly this file and it has not been written since: stream it without
            # hashing again; a write while streaming changes its mtime (it is older than a timestamp tick).
            yield pb.DownloadResponse(header=_header(wire, st, known.md5))
            held, total = None, 0
            while True:
                data = os.pread(fd, CHUNK, total)
                if not data:
                    break
                total += len(data)
                if held is not None:
                    yield pb.DownloadResponse(chunk=held)
                held = data
                if total > st.st_size:
                    break
            if total != st.st_size or _moved(fd, st) or self.busy(wire):
                raise Changed()
            if held is not None:
                yield pb.DownloadResponse(chunk=held)
            return
        if known is not None and (known.size, known.mtime_ns, known.ino) == (st.st_size, st.st_mtime_ns, st.st_ino):
            md5 = known.md5
        else:
            md5 = await loop.run_in_executor(None, _hash_fd, fd)
        yield pb.DownloadResponse(header=_header(wire, st, md5))
        reader = _Reader(fd, st.st_size)
        held = None
        pending = loop.run_in_executor(None, reader.next)
        while True:
            data = await pending
            if not data:
                break
            pending = loop.run_in_executor(None, reader.next)  # read and hash the next chunk meanwhile
            if held is not None:
                yield pb.DownloadResponse(chunk=held)
            held = data
        if reader.total != st.st_size or reader.md5.hexdigest() != md5 or _moved(fd, st):
            raise Changed()
        if held is not None:
            yield pb.DownloadResponse(chunk=held)

    def _trusted(self, wire: str, known, st: os.stat_result) -> bool:
        """The index's MD5 is this file's: same size, mtime and inode, no check pending, and the last
        write is older than any timestamp tick (so a later write shows as a new mtime)."""
        return (known is not None
                and (known.size, known.mtime_ns, known.ino) == (st.st_size, st.st_mtime_ns, st.st_ino)
                and time.time_ns() - st.st_mtime_ns > SETTLED_NS
                and not self.busy(wire))


class _Reader:
    """Reads a file in chunks, hashing as it goes (off the loop); stops once past `size`."""

    def __init__(self, fd: int, size: int):
        self.fd, self.size, self.total = fd, size, 0
        self.md5 = hashlib.md5()

    def next(self) -> bytes:
        if self.total > self.size:
            return b""
        data = os.pread(self.fd, CHUNK, self.total)
        self.md5.update(data)
        self.total += len(data)
        return data


def _hash_fd(fd: int) -> str:
    h = hashlib.md5()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    offset = 0
    while True:
        n = os.preadv(fd, [buf], offset)
        if not n:
            return h.hexdigest()
        h.update(view[:n])
        offset += n


def _moved(fd: int, st: os.stat_result) -> bool:
    now = os.fstat(fd)
    return (now.st_size, now.st_mtime_ns, now.st_ctime_ns) != (st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _header(wire: str, st: os.stat_result, md5: str) -> pb.FileHeader:
    return pb.FileHeader(path=wire, size=st.st_size, md5=md5, mode=stat.S_IMODE(st.st_mode), mtime_ns=st.st_mtime_ns)


def _capped(ev: Event, limit: int) -> Event:
    if ev.HasField("content") and len(ev.content) > limit:
        plain = Event()
        plain.CopyFrom(ev)
        plain.ClearField("content")
        return plain
    return ev


def _error(path: str, code: int, message: str) -> pb.DownloadResponse:
    return pb.DownloadResponse(error=pb.FileError(path=path, code=code, message=message))

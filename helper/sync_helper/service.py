"""The gRPC FileService (grpc.aio): Watch, DownloadFile and DownloadFiles, as proto/filedownload.proto defines.

Owns the per-call protocol: HELLO, resume from the backlog or a snapshot (naming the targets that are
missing, with the NOTICEs still true), RESYNC after an overflow or when a missing target appeared,
inline content capped per client, BATCH messages of whatever is ready for a client that asked for
them, small files packed several to a DownloadFiles message, and streaming file bytes in 1 MiB
chunks that are checked against the header's MD5 before the last chunk goes out (a file that
changed while read is never completed).
Must not import watchdog.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import time
from typing import AsyncIterator, Awaitable, Callable

import grpc

from .hub import Hub
from .index import Index
from .paths import PathMissing, PathRefused, Targets, open_regular
from .protocol import CHANGED, CHUNK, NOT_FOUND, PACK, PACK_BYTES, REFUSED, STATUS_OF_CODE, UNREADABLE, md5_hex, new_md5
from .reads import only_grew, prefix_md5, read_prefix, consistent_prefix, unchanged
from .tracker import read_small
from .transfer import TransferDesk
from .wire import filedownload_pb2 as pb
from .wire import filedownload_pb2_grpc as pb_grpc

__all__ = ["FileService", "CHUNK", "SMALL"]

log = logging.getLogger("app-server")

SMALL = 256 << 10      # files up to this size are read in one go on the loop
SETTLED_NS = 100_000_000  # a file unwritten for this long has a distinct mtime for any later write
BATCH_EVENTS = 1000    # events per BATCH message at most
BATCH_BYTES = 1 << 20  # a BATCH message is closed once its inline content reaches this
Event = pb.FileEvent


class Changed(Exception):
    """The file changed while it was being read."""


class FileService(pb_grpc.FileServiceServicer):
    def __init__(self, targets: Targets, index: Index, hub: Hub, ready: asyncio.Event, info: pb.HelperInfo,
                 busy: Callable[[str], bool] = lambda wire: True, desk: TransferDesk | None = None,
                 settled: Callable[[], Awaitable[None]] | None = None):
        self.targets = targets
        self.settled = settled  # waits until the files that vanished are decided (deleted, or target gone)
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
        sub = self.hub.subscribe(seed=request.protocol == 0)
        try:
            if request.protocol == 0:
                while True:
                    ev = await sub.get()
                    if ev is None:
                        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                            "this client fell too far behind; watch again")
                    yield _capped(ev, 0)
            limit = max(0, min(request.inline_limit, self.info.max_inline))
            await self._settled()
            version = self.index.version
            hello = Event(kind=Event.HELLO, version=version, instance_id=self.index.instance_id, helper=self.info,
                          missing_targets=sorted(self.index.missing))
            missed: list[Event] | None = []
            if request.snapshot:
                missed = None
            elif request.instance_id == self.index.instance_id:
                missed = self.index.since(request.since_version)
            elif request.instance_id or request.since_version:
                missed = None
            snapshot = self._take_snapshot() if missed is None else None
            pack = request.batch
            yield hello
            if snapshot is not None:
                async for msg in self._snapshot(snapshot, version, limit, pack):
                    yield msg
            else:
                async for part in self._with_content(missed, limit):
                    for msg in _messages(part, pack):
                        yield msg
            while True:
                ev = await sub.get()
                if ev is None:
                    sub.take_overflow()
                    await self._settled()
                    version = self.index.version
                    snapshot = self._take_snapshot()
                    yield Event(kind=Event.RESYNC, version=version, instance_id=self.index.instance_id)
                    async for msg in self._snapshot(snapshot, version, limit, pack):
                        yield msg
                    continue
                if ev.version <= version and ev.kind != Event.NOTICE:
                    continue
                if not pack:
                    yield _capped(ev, limit)
                    continue
                # Whatever else is ready goes along in one BATCH; a lone event goes alone, at once.
                ready = [ev] + [e for e in sub.take_ready(BATCH_EVENTS - 1, BATCH_BYTES)
                                if e.version > version or e.kind == Event.NOTICE]
                for msg in _messages([_capped(e, limit) for e in ready], True):
                    yield msg
        except grpc.aio.AbortError:
            raise
        except Exception as e:  # never end a client's watch without a word on stderr
            log.exception("app-server: a client's watch failed: %s", e)
            raise
        finally:
            self.hub.unsubscribe(sub)

    async def _settled(self) -> None:
        """Until every file that vanished is decided (DELETE published, or its target gone)."""
        if self.settled is not None:
            await self.settled()

    def _take_snapshot(self) -> tuple[list, list[str]]:
        """The known files and the missing targets, as of one instant (after `settled`)."""
        return list(self.index.files.items()), sorted(self.index.missing)

    async def _snapshot(self, snapshot: tuple[list, list[str]], version: int, limit: int,
                        pack: bool) -> AsyncIterator[Event]:
        """SNAPSHOT_FILEs, the notices still true, and SNAPSHOT_END naming the targets that were missing."""
        entries, missing = snapshot
        events = [self.index.snapshot_event(path, info) for path, info in entries]
        events += [Event(kind=Event.NOTICE, notice=text) for text in self.index.notices.values()]
        async for part in self._with_content(events, limit):
            for msg in _messages(part, pack):
                yield msg
        yield Event(kind=Event.SNAPSHOT_END, version=version, instance_id=self.index.instance_id,
                    missing_targets=missing)

    async def _with_content(self, events: list[Event], limit: int, batch: int = 256) -> AsyncIterator[list[Event]]:
        """The events in parts, with the content of small files read from disk when it still has the
        event's MD5."""
        loop = asyncio.get_running_loop()
        for start in range(0, len(events), batch):
            part = events[start:start + batch]
            if limit:
                await loop.run_in_executor(None, self._fill, part, limit)
            yield part

    def _fill(self, events: list[Event], limit: int) -> None:
        for i, ev in enumerate(events):
            if ev.kind == Event.NOTICE or ev.event_type == Event.DELETE or ev.size > limit or ev.HasField("content"):
                continue
            try:
                target, rel = self.targets.resolve(ev.path)
            except PathRefused:
                continue
            got = read_small(target, rel, limit)
            if got is not None and md5_hex(got[1]) == ev.MD5Hash:
                events[i] = full = Event()  # a copy: backlog events never hold content
                full.CopyFrom(ev)
                full.content = got[1]

    # -- downloads -------------------------------------------------------------------------------

    async def DownloadFile(self, request: pb.DownloadRequest, context) -> AsyncIterator[pb.DownloadResponse]:
        fd, st = await self._open_or_abort(request.path, context)
        try:
            async for msg in self._stream(request.path, fd, st, pack=False):
                yield msg
        except Changed:
            await context.abort(_status(CHANGED), f"{request.path!r} changed while it was read; ask again")
        except OSError as e:
            await context.abort(_status(UNREADABLE), f"{request.path!r} cannot be read: {e.strerror}")
        finally:
            os.close(fd)

    async def DownloadFiles(self, request: pb.DownloadFilesRequest, context) -> AsyncIterator[pb.DownloadResponse]:
        """Files up to PACK bytes go whole, several to a message (FileBlobs); the others as header and
        chunks. Packed files wait in `blobs` until the message is full or another kind of answer is due."""
        blobs: list[pb.FileBlob] = []
        packed = 0
        for path in request.paths:
            try:
                fd, st = self._open(path)
            except PathRefused as e:
                answer = _error(path, REFUSED, str(e))
            except PathMissing as e:
                answer = _error(path, NOT_FOUND, str(e))
            except OSError as e:
                answer = _error(path, UNREADABLE, f"{path!r} cannot be read: {e.strerror}")
            else:
                answer = None
                if st.st_size <= PACK:
                    try:
                        blobs.append(_blob(path, fd, st))
                        packed += st.st_size
                    except Changed:
                        answer = _error(path, CHANGED, f"{path!r} changed while it was read; ask again")
                    except OSError as e:
                        answer = _error(path, UNREADABLE, f"{path!r} cannot be read: {e.strerror}")
                    finally:
                        os.close(fd)
                    if answer is None:
                        if packed >= PACK_BYTES or len(blobs) >= BATCH_EVENTS:
                            yield pb.DownloadResponse(files=blobs)
                            blobs, packed = [], 0
                        continue
            if answer is not None:
                if blobs:
                    yield pb.DownloadResponse(files=blobs)
                    blobs, packed = [], 0
                yield answer
                continue
            try:
                if blobs:  # inside the try: a client that leaves here must not leak fd
                    yield pb.DownloadResponse(files=blobs)
                    blobs, packed = [], 0
                async for msg in self._stream(path, fd, st, pack=True):
                    yield msg
            except Changed:
                yield _error(path, CHANGED, f"{path!r} changed while it was read; ask again")
            except OSError as e:
                yield _error(path, UNREADABLE, f"{path!r} cannot be read: {e.strerror}")
            finally:
                os.close(fd)
        if blobs:
            yield pb.DownloadResponse(files=blobs)

    async def OpenTransfer(self, request: pb.DownloadRequest, context) -> pb.TransferTicket:
        """A one-time token for the file's bytes on the data socket (see transfer.py), with its header.
        The MD5 is the index's when it hashed exactly this file, else computed here, once."""
        if self.desk is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "this helper has no data lane")
        fd, st = await self._open_or_abort(request.path, context)
        try:
            known = self.index.files.get(request.path)
            if known is not None and (known.size, known.mtime_ns, known.ino) == (st.st_size, st.st_mtime_ns, st.st_ino):
                md5 = known.md5
            else:
                md5 = await asyncio.get_running_loop().run_in_executor(None, prefix_md5, fd, st.st_size)
            if md5 is None:
                await context.abort(_status(CHANGED), f"{request.path!r} changed while it was read; ask again")
        except BaseException:
            os.close(fd)
            raise
        return pb.TransferTicket(token=self.desk.issue(request.path, fd, st), header=_header(request.path, st, md5))

    async def _open_or_abort(self, wire: str, context) -> tuple[int, os.stat_result]:
        """Open a requested file, or end the call with the status that says why not."""
        try:
            return self._open(wire)
        except PathRefused as e:
            await context.abort(_status(REFUSED), str(e))
        except PathMissing as e:
            await context.abort(_status(NOT_FOUND), str(e))
        except OSError as e:
            await context.abort(_status(UNREADABLE), f"{wire!r} cannot be read: {e.strerror}")
        raise AssertionError("context.abort returns only by raising")

    def _open(self, wire: str) -> tuple[int, os.stat_result]:
        target, rel = self.targets.resolve(wire)
        return open_regular(target, rel)

    async def _stream(self, wire: str, fd: int, st: os.stat_result, pack: bool) -> AsyncIterator[pb.DownloadResponse]:
        """Header, then chunks; raises Changed (before the last chunk) when the bytes are not the header's."""
        mode = stat.S_IMODE(st.st_mode)
        if st.st_size <= SMALL:
            data = _read_small(fd, st)
            header = pb.FileHeader(path=wire, size=st.st_size, md5=md5_hex(data), mode=mode,
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
            if total != st.st_size or not unchanged(fd, st) or self.busy(wire):
                raise Changed()
            if held is not None:
                yield pb.DownloadResponse(chunk=held)
            return
        if known is not None and (known.size, known.mtime_ns, known.ino) == (st.st_size, st.st_mtime_ns, st.st_ino):
            md5 = known.md5
        else:
            md5 = await loop.run_in_executor(None, prefix_md5, fd, st.st_size)
            if md5 is None:
                raise Changed()
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
        # Two reads of the prefix agree (the header's MD5 and this one): unchanged, or only appended to.
        if reader.total != st.st_size or reader.md5.hexdigest() != md5 or not (unchanged(fd, st) or only_grew(fd, st)):
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
    """Reads the first `size` bytes of a file in chunks, hashing as it goes (off the loop)."""

    def __init__(self, fd: int, size: int):
        self.fd, self.size, self.total = fd, size, 0
        self.md5 = new_md5()

    def next(self) -> bytes:
        if self.total >= self.size:
            return b""
        data = os.pread(self.fd, min(CHUNK, self.size - self.total), self.total)
        self.md5.update(data)
        self.total += len(data)
        return data


def _read_small(fd: int, st: os.stat_result) -> bytes:
    """A small file's first st.st_size bytes, read consistently (see reads.py); raises Changed."""
    data = read_prefix(fd, st.st_size)
    if data is None or not consistent_prefix(fd, st, data):
        raise Changed()
    return data


def _blob(wire: str, fd: int, st: os.stat_result) -> pb.FileBlob:
    """A small file whole; raises Changed when it is not what `st` says."""
    data = _read_small(fd, st)
    return pb.FileBlob(header=_header(wire, st, md5_hex(data)), content=data)


def _status(code: int) -> grpc.StatusCode:
    """The status a single-file call ends with when it cannot send the file (protocol.py)."""
    return grpc.StatusCode[STATUS_OF_CODE[code]]


def _header(wire: str, st: os.stat_result, md5: str) -> pb.FileHeader:
    return pb.FileHeader(path=wire, size=st.st_size, md5=md5, mode=stat.S_IMODE(st.st_mode), mtime_ns=st.st_mtime_ns)


def _capped(ev: Event, limit: int) -> Event:
    if ev.HasField("content") and len(ev.content) > limit:
        plain = Event()
        plain.CopyFrom(ev)
        plain.ClearField("content")
        return plain
    return ev


def _messages(events: list[Event], pack: bool) -> list[Event]:
    """The events as messages: one each, or (`pack`) BATCH messages within the bounds; a BATCH of
    one is sent as the event itself."""
    if not pack or len(events) < 2:
        return events
    out: list[Event] = []
    group: list[Event] = []
    size = 0
    for ev in events:
        group.append(ev)
        if ev.HasField("content"):
            size += len(ev.content)
        if len(group) >= BATCH_EVENTS or size >= BATCH_BYTES:
            out.append(_batch(group))
            group, size = [], 0
    if group:
        out.append(_batch(group))
    return out


def _batch(events: list[Event]) -> Event:
    if len(events) == 1:
        return events[0]
    msg = Event(kind=Event.BATCH)
    msg.batch.extend(events)
    return msg


def _error(path: str, code: int, message: str) -> pb.DownloadResponse:
    return pb.DownloadResponse(error=pb.FileError(path=path, code=code, message=message))

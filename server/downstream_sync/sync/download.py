"""Downloading files the rules want with DownloadFiles, as values for placing.

`download(client, wanted)` asks the helper for the files and yields, in the order they complete,
each one as `Received` (its verified bytes in a temporary file, to be put in place by its receiver,
who then owns the file) or as `NotReceived` (the helper could not send it, or writing it locally
failed). It never places a file and never reports: the Applier does both. Small files arrive
packed, several to a message; large ones as a header and chunks, each chunk of a large file
hashed and written in a worker thread while the next one arrives. A file that changed while the
helper read it is asked for again, twice at most. Must not import pygls, lsprotocol or terminal code.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import AsyncIterator

from sync_helper.protocol import CHANGED

from .client import HelperClient, pb
from .decide import Decision
from .place import open_temp
from .targets import Target
from .work import Work
from .writer import AtomicFile, Expected, WriteError

__all__ = ["Wanted", "Received", "NotReceived", "LostStream", "download", "HASH_IN_THREAD"]

HASH_IN_THREAD = 1 << 20
_ATTEMPTS = 3


class LostStream(Exception):
    """The stream to the helper ended, or broke the protocol."""


@dataclass(frozen=True)
class Wanted:
    """A file to download, with the decision made on the local file and what that file was."""
    work: Work
    target: Target
    decision: Decision
    before: Expected | None


@dataclass(frozen=True)
class Received:
    wanted: Wanted
    file: AtomicFile        # written, not yet verified against md5 nor placed
    md5: str                # the helper's MD5 of the content
    size: int
    started: float
    made: tuple[str, ...] = ()


@dataclass(frozen=True)
class NotReceived:
    wanted: Wanted
    code: int = 0                   # the helper's FileError code, when it answered so
    message: str = ""
    error: WriteError | None = None  # the local write failed
    lost: bool = False              # the helper did not answer for it at all


@dataclass
class _Incoming:
    wanted: Wanted
    af: AtomicFile | None
    size: int
    md5: str
    started: float
    made: list[str]
    error: WriteError | None = None
    received: int = 0
    writing: asyncio.Future | None = None

    async def finished(self) -> Received | NotReceived:
        if self.writing is not None:
            try:
                await self.writing
            except WriteError as e:
                self.af, self.error = None, e
            self.writing = None
        if self.af is None:
            return NotReceived(self.wanted, error=self.error)
        return Received(self.wanted, self.af, self.md5, self.size, self.started, tuple(self.made))

    async def drop(self) -> None:
        if self.writing is not None:
            await asyncio.gather(self.writing, return_exceptions=True)
            self.writing = None
        if self.af is not None:
            self.af.abort()
            self.af = None


def _open(w: Wanted, mode: int, made: list[str]) -> tuple[AtomicFile | None, WriteError | None]:
    try:
        return open_temp(w.target, w.decision, mode or w.work.mode, made), None
    except WriteError as e:
        return None, e


def _blob(blob: pb.FileBlob, w: Wanted) -> Received | NotReceived:
    """A whole small file: written to its temporary file here."""
    h = blob.header
    started = time.monotonic()
    if len(blob.content) != h.size:
        return NotReceived(w, error=WriteError(f"the helper sent {len(blob.content)} bytes of {h.path}, not {h.size}"))
    made: list[str] = []
    af, error = _open(w, h.mode, made)
    if af is None:
        return NotReceived(w, error=error)
    try:
        af.write(blob.content)
    except WriteError as e:
        return NotReceived(w, error=e)
    except BaseException:
        af.abort()
        raise
    return Received(w, af, (h.md5 or w.work.md5).lower(), h.size, started, tuple(made))


async def download(client: HelperClient, wanted: list[Wanted]) -> AsyncIterator[Received | NotReceived]:
    """Each wanted file, received or not (see the module docstring); raises LostStream."""
    for attempt in range(1, _ATTEMPTS + 1):
        again: list[Wanted] = []
        async with contextlib.aclosing(_one_call(client, wanted)) as answers:
            async for got in answers:
                if (isinstance(got, NotReceived) and got.code == CHANGED and got.error is None
                        and not got.lost and attempt < _ATTEMPTS):
                    again.append(got.wanted)
                else:
                    yield got
        if not again:
            return
        wanted = again


async def _one_call(client: HelperClient, wanted: list[Wanted]) -> AsyncIterator[Received | NotReceived]:
    by_path = {w.work.path: w for w in wanted}
    answered: set[str] = set()
    current: _Incoming | None = None
    complete: _Incoming | None = None  # fully received; handed out at the next message boundary

    def ask(path: str) -> Wanted:
        if path not in by_path or path in answered:
            raise LostStream(f"the helper sent {path!r}, which was not asked for")
        answered.add(path)
        return by_path[path]

    try:
        async for msg in client.download_files(list(by_path)):
            if complete is not None and (msg.files or msg.HasField("header") or msg.HasField("error")):
                done, complete = complete, None
                if msg.HasField("error") and msg.error.path == done.wanted.work.path:
                    await done.drop()  # not sent after all
                else:
                    yield await done.finished()
            if msg.files:
                if current is not None:
                    raise LostStream(f"the helper broke the DownloadFiles stream: {current.wanted.work.path} "
                                     f"was cut short")
                for blob in msg.files:
                    yield _blob(blob, ask(blob.header.path))
                continue
            if msg.HasField("error"):
                err = msg.error
                if current is not None and current.wanted.work.path == err.path:
                    await current.drop()
                    current = None
                answered.add(err.path)
                w = by_path.get(err.path)
                if w is not None:
                    yield NotReceived(w, err.code, err.message)
                continue
            if msg.HasField("header"):
                if current is not None:
                    raise LostStream(f"the helper broke the DownloadFiles stream: {current.wanted.work.path} "
                                     f"was cut short")
                h = msg.header
                w = ask(h.path)
                made: list[str] = []
                af, error = _open(w, h.mode, made)
                current = _Incoming(w, af, h.size, (h.md5 or w.work.md5).lower(), time.monotonic(), made, error)
            if msg.chunk:
                if current is None:
                    raise LostStream("the helper sent bytes outside any file")
                current.received += len(msg.chunk)
                if current.af is not None:
                    try:
                        # Large chunks are hashed and written in a thread while the next one
                        # arrives; one write at a time per file keeps the order and bounds memory.
                        if current.writing is not None:
                            await current.writing
                            current.writing = None
                        if current.size >= HASH_IN_THREAD:
                            current.writing = asyncio.get_running_loop().run_in_executor(
                                None, current.af.write, msg.chunk)
                        else:
                            current.af.write(msg.chunk)
                    except WriteError as e:
                        current.af, current.error, current.writing = None, e, None
            if current is not None and current.received >= current.size:
                complete, current = current, None
        if complete is not None:
            done, complete = complete, None
            yield await done.finished()
        if current is not None:
            raise LostStream(f"the helper ended DownloadFiles in the middle of {current.wanted.work.path}")
    except BaseException:
        for pending in (current, complete):
            if pending is not None:
                await pending.drop()
        raise
    for path, w in by_path.items():
        if path not in answered:
            yield NotReceived(w, message=f"the helper did not send {path}", lost=True)

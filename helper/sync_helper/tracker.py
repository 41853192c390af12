"""Turns filesystem facts ("this file may have changed", "this folder went away", "moved") into events.

It stats the file, compares with the index, hashes when size, mtime, inode or mode differ, and
publishes CREATE/MODIFY/DELETE/RENAME through the index. Small files are read and hashed on the loop
(their bytes become the event's inline content); larger ones are hashed in the executor, one job per
path at a time, and re-checked afterwards so that what is published is what is on disk (a file that
only grew meanwhile is published as its consistent prefix: see reads.py). A vanished file's DELETE
is held briefly: when its whole target goes meanwhile, the target is unknown, not emptied, and no
DELETE is sent. Names that are not UTF-8 are skipped, each told once (stderr and a NOTICE).
Must not import grpc or watchdog.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import time

from .index import FileInfo, Index
from .paths import PathMissing, PathRefused, Target, below_target as _below, lstat_below, open_regular
from .protocol import md5_hex
from .reads import prefix_md5, read_prefix, consistent_prefix
from .wire import filedownload_pb2 as pb

__all__ = ["Tracker", "hash_file", "read_small"]

log = logging.getLogger("app-server")
Event = pb.FileEvent
DELETE_HOLD = 0.2  # a vanished file's DELETE waits until no file vanished for this long...
DELETE_MAX = 2.0   # ...or this long at most: if its whole target went meanwhile, it is no delete
MAX_NOTICES = 1000  # names told as skipped; past it, one last notice says more are skipped silently


def _open(target: Target, rel: str) -> int | None:
    try:
        fd, _ = open_regular(target, rel)
        return fd
    except (PathMissing, PathRefused, OSError):
        return None


def read_small(target: Target, rel: str, limit: int) -> tuple[os.stat_result, bytes] | None:
    """(stat, bytes) of a regular file below the target (no symlink followed) no larger than `limit`,
    read consistently (a file that only grew gives its prefix as of `stat`: see reads.py); None otherwise."""
    fd = _open(target, rel)
    if fd is None:
        return None
    try:
        st = os.fstat(fd)
        if st.st_size > limit:
            return None
        data = read_prefix(fd, st.st_size)
        if data is None or not consistent_prefix(fd, st, data):
            return None
        return st, data
    except OSError:
        return None
    finally:
        os.close(fd)


def hash_file(target: Target, rel: str) -> tuple[os.stat_result, str] | None:
    """(stat, md5) of a regular file below the target (no symlink followed), read in 1 MiB chunks
    (a file that only grew gives its prefix as of `stat`: see reads.py); None if it vanished, is not
    regular or changed while read."""
    fd = _open(target, rel)
    if fd is None:
        return None
    try:
        st = os.fstat(fd)
        md5 = prefix_md5(fd, st.st_size)
        if md5 is None or not consistent_prefix(fd, st, md5):
            return None
        return st, md5
    except OSError:
        return None
    finally:
        os.close(fd)


def _rel_of(target: Target, wire: str) -> str:
    """The path below `target` of one of its files' wire paths."""
    return wire if target.name == "." else wire[len(target.name.rstrip("/")) + 1:]


def _escaped(raw: bytes) -> str:
    """A file name in bytes, printable: undecodable bytes and control characters as \\xNN."""
    return repr(raw)[2:-1]


def info_of(st: os.stat_result, md5: str) -> FileInfo:
    return FileInfo(st.st_size, stat.S_IMODE(st.st_mode), st.st_mtime_ns, st.st_ino, md5)


def same_stat(info: FileInfo, st: os.stat_result) -> bool:
    return (info.size, info.mtime_ns, info.ino, info.mode) == (
        st.st_size, st.st_mtime_ns, st.st_ino, stat.S_IMODE(st.st_mode))


class Tracker:
    """Checks paths against the index and publishes what changed."""

    def __init__(self, index: Index, inline_max: int, delete_hold: float = DELETE_HOLD):
        self.index = index
        self.inline_max = inline_max
        self.delete_hold = delete_hold
        self._busy: dict[str, bool] = {}  # wire path -> re-check requested while hashing
        self._vanished: dict[str, tuple[Target, str]] = {}  # wire path -> where, DELETE held
        self._hold: list = []  # [first vanish, last vanish, timer] while DELETEs are held
        self._released = asyncio.Event()  # set while no DELETE is held
        self._released.set()

    def pending(self, wire: str) -> bool:
        """True while this path is being hashed."""
        return wire in self._busy

    def check(self, target: Target, rel: str, force: bool = False) -> None:
        """The file at `rel` may have been created, changed or removed. With `force` (it was written),
        it is hashed even when size and mtime look unchanged (a write within one timestamp tick)."""
        wire = target.wire(rel)
        if wire in self._busy:
            self._busy[wire] = True
            return
        st = lstat_below(target, rel)
        known = self.index.files.get(wire)
        if st is None:
            if known is not None:
                self._vanish(target, rel)
            return
        if not stat.S_ISREG(st.st_mode) or target.excluded(rel):
            if known is not None:
                self.index.publish(Event.DELETE, wire, None)
            return
        if known is not None and not force and same_stat(known, st):
            return
        if st.st_size <= self.inline_max:
            got = read_small(target, rel, self.inline_max)
            if got is None:
                self._hash_later(target, rel)
                return
            st, data = got
            self._record(wire, info_of(st, md5_hex(data)), data)
        else:
            self._hash_later(target, rel)

    def _record(self, wire: str, info: FileInfo, content: bytes | None) -> None:
        known = self.index.files.get(wire)
        if known is not None and (known.md5, known.mode) == (info.md5, info.mode):
            info.version = known.version
            self.index.files[wire] = info  # only the mtime moved: nothing to tell
            return
        kind = Event.CREATE if known is None else Event.MODIFY
        self.index.publish(kind, wire, info, content=content)

    def _hash_later(self, target: Target, rel: str) -> None:
        wire = target.wire(rel)
        self._busy[wire] = False
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(None, hash_file, target, rel)

        def done(f: asyncio.Future) -> None:
            again = self._busy.pop(wire, False)
            try:
                got = f.result()
            except Exception as e:  # never let a hashing fault stop the watcher
                log.error("app-server: hashing %s failed: %s", wire, e)
                got = None
            if again:  # written again while it was hashed
                self.check(target, rel, force=True)
                return
            if got is None:
                # Unreadable, refused, gone or changed under the read: the change that caused it
                # comes as its own event. Checking again at once would spin on an unreadable file.
                if lstat_below(target, rel) is None and wire in self.index.files:
                    self._vanish(target, rel)
                return
            st, md5 = got
            now = lstat_below(target, rel)
            grew = now is not None and now.st_size > st.st_size
            if now is None or now.st_ino != st.st_ino or not grew and now.st_mtime_ns != st.st_mtime_ns:
                self.check(target, rel)
                return
            # Unchanged, or only grown since: the prefix it hashed is consistent and goes out now, so a
            # file that never stops growing still syncs; its next write brings the next check.
            self._record(wire, info_of(st, md5), None)

        fut.add_done_callback(done)

    def removed(self, target: Target, rel: str) -> None:
        """`rel` (a file or a folder) is gone: every known file at or below it is deleted."""
        wire = target.wire(rel)
        if wire in self.index.files:
            self._vanish(target, rel)
        for path in self.index.under(wire) if rel else self._all(target):
            self._vanish(target, _rel_of(target, path))

    def skip_name(self, folder: str, raw: bytes, is_dir: bool = False) -> None:
        """An entry whose name is not UTF-8 cannot be a wire path: skipped, said once on stderr and to
        every client; every other file goes on syncing."""
        name = _escaped(raw)
        what = "folder" if is_dir else "file"
        text = (f"skipped the {what} '{name}' in {folder}{' and everything in it' if is_dir else ''}: its name "
                f"is not valid UTF-8, which a synced path must be; rename it in the container to sync it")
        if len(self.index.notices) >= MAX_NOTICES:
            key, text = "", (f"skips more names that are not valid UTF-8 (in {folder} and elsewhere) without a "
                             f"notice each; rename them in the container to sync them")
        else:
            key = f"{folder}/{name}"
        if self.index.notice(key, text):
            log.warning("app-server: %s", text)

    def unskip_name(self, folder: str, raw: bytes) -> None:
        """That entry is gone: its notice is no longer repeated in snapshots."""
        self.index.notices.pop(f"{folder}/{_escaped(raw)}", None)

    def _vanish(self, target: Target, rel: str) -> None:
        """A known file is gone: its DELETE is held briefly, so that a target removed as a whole (its
        files go first, then its folder) is told as unknown, not as every file deleted."""
        self._vanished[target.wire(rel)] = (target, rel)
        now = time.monotonic()
        if self._hold:
            self._hold[1] = now
            return
        self._hold = [now, now, asyncio.get_running_loop().call_later(self.delete_hold, self._release)]
        self._released.clear()

    def _release(self) -> None:
        """Publish the held DELETEs of files still gone whose target still exists."""
        first, last, _ = self._hold
        now = time.monotonic()
        if now - last < self.delete_hold and now - first < DELETE_MAX:
            self._hold[2] = asyncio.get_running_loop().call_later(self.delete_hold - (now - last), self._release)
            return
        self._hold = []
        self._released.set()
        vanished, self._vanished = self._vanished, {}
        for wire, (target, rel) in vanished.items():
            if (wire in self.index.files and target.name not in self.index.missing and os.path.isdir(target.dir)
                    and lstat_below(target, rel) is None):
                self.index.publish(Event.DELETE, wire, None)

    async def settled(self) -> None:
        """Until no DELETE is held: a snapshot taken then has every vanished file decided."""
        await self._released.wait()

    def forget(self, target: Target) -> None:
        """The target went away as a whole: its files are unknown now, not deleted (no DELETE events)."""
        self.index.forget(self._all(target))
        for wire in [w for w in self._vanished if _below(w, target.name)]:
            del self._vanished[wire]

    def found(self, wire: str, info: FileInfo) -> None:
        """A file read whole while its target was attached: published when it is news."""
        self._record(wire, info, None)

    def hashing_under(self, target: Target) -> bool:
        """True while a file of this target is being hashed."""
        return any(_below(wire, target.name) for wire in self._busy)

    def moved(self, src: Target, src_rel: str, dst: Target, dst_rel: str, is_dir: bool) -> None:
        """`src_rel` was renamed to `dst_rel`; known files follow as RENAME events."""
        old_wire, new_wire = src.wire(src_rel), dst.wire(dst_rel)
        pairs: list[tuple[str, str]] = []
        if is_dir:
            prefix = old_wire.rstrip("/") + "/"
            pairs = [(p, new_wire + "/" + p[len(prefix):]) for p in self.index.under(old_wire)]
        elif old_wire in self.index.files:
            pairs = [(old_wire, new_wire)]
        for old, new in pairs:
            rel = dst_rel + new[len(new_wire):]
            if dst.excluded(rel):
                self.index.publish(Event.DELETE, old, None)
                continue
            info = self.index.files[old]
            self.index.publish(Event.RENAME, new, FileInfo(info.size, info.mode, info.mtime_ns, info.ino, info.md5),
                               old_path=old)
            self.check(dst, rel)  # its content may have changed while it moved
        if not is_dir and not pairs:
            self.check(dst, dst_rel)

    def _all(self, target: Target) -> list[str]:
        return [p for p in self.index.files if _below(p, target.name)]

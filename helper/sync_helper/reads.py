"""Reading a file consistently: the one answer to "did this file change while I read it?".

A file is read as its first `st.st_size` bytes, `st` being its fstat when it was opened. The copy is
consistent when the file is unchanged since (size, mtime and ctime alike), or when it only grew and
a second read of those bytes agrees with the first: a log being appended to is sent as a consistent
prefix instead of never. A file rewritten in place (its size kept or smaller) changed while read.
Must not import grpc, watchdog or asyncio.
"""

from __future__ import annotations

import hashlib
import os

from .protocol import CHUNK

__all__ = ["CHUNK", "unchanged", "only_grew", "prefix_md5", "read_prefix", "consistent_prefix"]


def unchanged(fd: int, st: os.stat_result) -> bool:
    now = os.fstat(fd)
    return (now.st_size, now.st_mtime_ns, now.st_ctime_ns) == (st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def only_grew(fd: int, st: os.stat_result) -> bool:
    """True when the file is larger than `st` says (it was appended to, or rewritten larger: the
    caller's second read of the prefix tells which)."""
    return os.fstat(fd).st_size > st.st_size


def prefix_md5(fd: int, size: int) -> str | None:
    """The MD5 of the first `size` bytes, read in chunks; None when the file is shorter."""
    h = hashlib.md5()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    offset = 0
    while offset < size:
        n = os.preadv(fd, [view[:min(CHUNK, size - offset)]], offset)
        if not n:
            return None
        h.update(view[:n])
        offset += n
    return h.hexdigest()


def read_prefix(fd: int, size: int) -> bytes | None:
    """The first `size` bytes (a small file, in one read); None when the file is shorter."""
    data = os.pread(fd, size, 0) if size else b""
    return data if len(data) == size else None


def consistent_prefix(fd: int, st: os.stat_result, first: str | bytes) -> bool:
    """After a read of the first st.st_size bytes that gave `first` (their MD5, or the bytes): True
    when that copy is consistent (see the module docstring). Reads the prefix again when it grew."""
    if unchanged(fd, st):
        return True
    if not only_grew(fd, st):
        return False
    again = read_prefix(fd, st.st_size) if isinstance(first, bytes) else prefix_md5(fd, st.st_size)
    return again == first

"""What a local file holds: its MD5, from the ledger or a cache of recent hashes when its stat
proves it (writer.stat_proves), else read. The cache belongs to the loop; a worker thread gets a
`Known` snapshot of a path and returns the `Look` it took, which the loop remembers.
Must not import pygls, lsprotocol or terminal code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import NamedTuple

from .ledger import Entry
from .writer import md5_file, stat_proves

__all__ = ["Known", "Look", "HashCache", "md5_now"]

_CACHED = 10_000  # hashes kept; the cache starts over past this


class Look(NamedTuple):
    """A local file's MD5 as of `checked` (the clock before st was taken)."""
    st: os.stat_result
    checked: int
    md5: str


@dataclass(frozen=True)
class Known:
    """What the loop knows of a path's content before a thread looks at it."""
    entry: Entry | None = None
    cached: Look | None = None

    def md5_for(self, st: os.stat_result) -> str | None:
        """The MD5 that st proves, or None (the file must be read)."""
        if self.entry is not None and self.entry.matches_stat(st):
            return self.entry.md5
        c = self.cached
        if c is not None and stat_proves(st, c.st.st_size, c.st.st_mtime_ns, c.st.st_ino, c.checked):
            return c.md5
        return None


def md5_now(local: str, st: os.stat_result | None, known: Known, checked: int) -> tuple[str | None, Look | None]:
    """The file's MD5 (None when absent), and the Look to remember when it was read here."""
    if st is None:
        return None, None
    md5 = known.md5_for(st)
    if md5 is not None:
        return md5, None
    look = Look(st, checked, md5_file(local))
    return look.md5, look


class HashCache:
    """Recent hashes by project-relative path (the loop's)."""

    def __init__(self) -> None:
        self._looks: dict[str, Look] = {}

    def known(self, relpath: str, entry: Entry | None) -> Known:
        return Known(entry, self._looks.get(relpath))

    def remember(self, relpath: str, look: Look | None) -> None:
        if look is None:
            return
        if len(self._looks) > _CACHED:
            self._looks.clear()
        self._looks[relpath] = look

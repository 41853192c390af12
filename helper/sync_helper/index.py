"""The helper's knowledge of files: wire path -> size, mode, mtime, MD5 and version of the last change.

Owns the version counter (one per published CHANGE event, starting at 1) and the bounded backlog of
recent events that a reconnecting client resumes from. Publishing goes through `Index.publish`, which
assigns the version, updates the known files, keeps the backlog and hands the event to the hub.
Must not import grpc or watchdog; runs on the event loop only.
"""

from __future__ import annotations

import collections
import uuid
from dataclasses import dataclass
from typing import Callable

from .wire import filedownload_pb2 as pb

__all__ = ["FileInfo", "Index"]

Event = pb.FileEvent


@dataclass
class FileInfo:
    size: int
    mode: int
    mtime_ns: int
    ino: int
    md5: str
    version: int = 0


class Index:
    """Known files, the version counter and the backlog of recent CHANGE events (without content)."""

    def __init__(self, backlog: int = 10_000, on_publish: Callable[[Event], None] | None = None,
                 on_notice: Callable[[Event], None] | None = None):
        self.files: dict[str, FileInfo] = {}
        self.version = 0
        self.instance_id = uuid.uuid4().hex
        self.backlog_size = backlog
        self._backlog: collections.deque[Event] = collections.deque(maxlen=backlog)
        self.on_publish = on_publish
        self.on_notice = on_notice
        self.missing: set[str] = set()  # targets that do not exist: their files are unknown, not gone
        self.notices: dict[str, str] = {}  # what is skipped (key -> sentence), repeated in every snapshot

    def notice(self, key: str, text: str) -> bool:
        """Tell every client, once, about something skipped (a NOTICE); False when it was told already."""
        if key in self.notices:
            return False
        self.notices[key] = text
        if self.on_notice is not None:
            self.on_notice(Event(kind=Event.NOTICE, notice=text, instance_id=self.instance_id))
        return True

    def forget(self, paths: list[str]) -> None:
        """Drop files from the index without DELETE events (their target is unknown now, not empty)."""
        for path in paths:
            self.files.pop(path, None)

    def refresh(self) -> None:
        """Skip one version and drop the backlog: a client resuming from before now gets a snapshot."""
        self.version += 1
        self._backlog.clear()

    def publish(self, kind: int, path: str, info: FileInfo | None, old_path: str = "",
                content: bytes | None = None) -> Event:
        """Record a change (CREATE, MODIFY, DELETE or RENAME) and send it to every client."""
        self.version += 1
        ev = Event(path=path, event_type=kind, version=self.version, instance_id=self.instance_id,
                   kind=Event.CHANGE, old_path=old_path)
        if kind == Event.RENAME:
            self.files.pop(old_path, None)
        if kind == Event.DELETE:
            self.files.pop(path, None)
        else:
            assert info is not None
            info.version = self.version
            self.files[path] = info
            ev.MD5Hash, ev.size, ev.mode, ev.mtime_ns = info.md5, info.size, info.mode, info.mtime_ns
        self._backlog.append(ev)
        if content is not None:
            full = Event()
            full.CopyFrom(ev)
            full.content = content
            ev = full
        if self.on_publish is not None:
            self.on_publish(ev)
        return ev

    def since(self, version: int) -> list[Event] | None:
        """The events after `version`, or None when the backlog no longer holds all of them."""
        if version == self.version:
            return []
        if version > self.version or not self._backlog or self._backlog[0].version > version + 1:
            return None
        return [ev for ev in self._backlog if ev.version > version]

    def under(self, prefix: str) -> list[str]:
        """Known paths below the folder `prefix` (a wire path)."""
        start = prefix.rstrip("/") + "/" if prefix not in ("", ".") else ""
        return [p for p in self.files if p.startswith(start)]

    def snapshot_event(self, path: str, info: FileInfo) -> Event:
        return Event(path=path, kind=Event.SNAPSHOT_FILE, event_type=Event.CREATE, version=info.version,
                     MD5Hash=info.md5, size=info.size, mode=info.mode, mtime_ns=info.mtime_ns,
                     instance_id=self.instance_id)

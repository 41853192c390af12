"""Session events: what a session tells its subscribers (the CLI, the language server).

Frozen dataclasses, each with the session name and a wall-clock time. Paths are local paths
relative to the project root, in POSIX spelling; remote paths are wire paths. Their text comes
from a container (file names, the helper's messages): a face shows it to a person only through
`printable`. Must not import pygls, lsprotocol or terminal code.
"""

from __future__ import annotations

import enum
import time as _time
import unicodedata
from dataclasses import dataclass, field
from typing import Literal, Union

__all__ = ["SessionState", "StateChanged", "ReconcileProgress", "DownloadProgress", "FileSynced", "FileSkipped",
           "Conflict", "ConflictResolved", "SyncError", "SessionWarning", "Event", "SessionStats", "PullResult", "printable"]

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_JOINERS = ("\u200c", "\u200d")  # format characters that ordinary scripts and emoji need


def _hidden(char: str) -> bool:
    """A character that moves the cursor, drives the terminal, reorders text or is not text."""
    category = unicodedata.category(char)
    return category in ("Cc", "Cs", "Zl", "Zp") or (category == "Cf" and char not in _JOINERS)


def printable(text: str) -> str:
    """`text` as a person may safely read it: controls (C0, C1, DEL, ESC, newlines), bidi overrides
    and other invisible format characters spelled as escapes (\\x1b, \\n, \\u202e); every other
    character, of any script, kept as it is."""
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char in _NAMED:
            out.append(_NAMED[char])
        elif _hidden(char):
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(char)
    return "".join(out)


class SessionState(enum.Enum):
    STARTING = "starting"
    CONNECTING = "connecting"
    RECONCILING = "reconciling"
    WATCHING = "watching"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"
    FAILED = "failed"


def _now() -> float:
    return _time.time()


@dataclass(frozen=True, kw_only=True)
class _Base:
    session: str
    time: float = field(default_factory=_now)


@dataclass(frozen=True, kw_only=True)
class StateChanged(_Base):
    state: SessionState
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class ReconcileProgress(_Base):
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int


@dataclass(frozen=True, kw_only=True)
class DownloadProgress(_Base):
    """A large download under way: sent a few times a second while its bytes arrive, and once
    with `finished` True when it ends (written, retried or failed: other events say which)."""
    path: str
    remote_path: str
    bytes_done: int
    bytes_total: int
    finished: bool = False


@dataclass(frozen=True, kw_only=True)
class FileSynced(_Base):
    path: str
    remote_path: str
    action: Literal["created", "updated", "deleted", "renamed"]
    bytes: int
    duration: float
    old_path: str | None = None


@dataclass(frozen=True, kw_only=True)
class FileSkipped(_Base):
    path: str
    remote_path: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class Conflict(_Base):
    """A local change kept against the container's version. `remote_copy`: where that version is
    kept (project-relative; None when nothing was kept, e.g. a remote delete). `repeat`: the path
    was already in conflict (the container changed it again; the copy holds the newest version)."""
    path: str
    remote_path: str
    remote_copy: str | None
    reason: str
    repeat: bool = False


@dataclass(frozen=True, kw_only=True)
class ConflictResolved(_Base):
    """An open conflict ended: `how` says why (resolve --keep-local or --take-remote, the local
    file now holds the container's version, the container deleted the file); `removed_copy`: the
    conflict copy that was removed (None when it was moved into place, or kept because it was edited)."""
    path: str
    how: str
    removed_copy: str | None = None


@dataclass(frozen=True, kw_only=True)
class SyncError(_Base):
    path: str | None
    message: str


@dataclass(frozen=True, kw_only=True)
class SessionWarning(_Base):
    """Something the user should act on that stops nothing, e.g. the pod was injected from other
    download rules than the current ones (redeploy it)."""
    message: str


Event = Union[StateChanged, ReconcileProgress, DownloadProgress, FileSynced, FileSkipped, Conflict, ConflictResolved,
              SyncError, SessionWarning]


@dataclass
class SessionStats:
    files_synced: int = 0
    bytes_synced: int = 0
    conflicts: int = 0
    errors: int = 0
    last_version: int = 0


@dataclass(frozen=True)
class PullResult:
    """One reconcile's outcome; `in_sync` is True when the local tree now matches the container's
    (no conflict and no error was left)."""
    synced: int
    conflicts: int
    errors: int
    in_sync: bool

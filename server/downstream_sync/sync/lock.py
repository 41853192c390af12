"""One session per artifact and project: a lock file per session name in the state folder.

`<project>/.downstream-sync/locks/<name>.lock` is held with flock(2) by the process whose session
runs, and holds its pid and the face that runs it ("downstream-sync start", "language server").
A second session of that name (another terminal, the editor) is refused with a message naming
the first. The kernel drops the lock when its holder dies, so a crashed process leaves a file but
never blocks. The locks folder and the lock file are opened without following a symlink
(`state_folder`). Must not import pygls, lsprotocol or terminal code.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
from pathlib import Path

from .state_folder import open_file, open_folder

__all__ = ["SessionLock", "SessionBusy"]

LOCKS_DIR_NAME = "locks"


class SessionBusy(Exception):
    """Another process runs a session of the same name for the same project."""


def _file_name(name: str) -> str:
    """A file name for any session name (an image name has slashes and colons)."""
    plain = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:80]
    return f"{plain}-{hashlib.sha256(name.encode()).hexdigest()[:12]}.lock"


class SessionLock:
    """Held from `acquire()` to `release()`; `acquire` raises SessionBusy, StateFolderError at a
    symlink, or OSError when the state folder cannot be written."""

    def __init__(self, state_dir: Path, name: str, owner: str):
        self.name = name
        self.owner = owner
        self.state_dir = Path(state_dir)
        self.project = self.state_dir.parent
        self.path = self.state_dir / LOCKS_DIR_NAME / _file_name(name)
        self._fd = -1

    def acquire(self) -> None:
        locks_fd = open_folder(self.state_dir, LOCKS_DIR_NAME)
        try:
            fd = open_file(locks_fd, self.path.name, os.O_RDWR | os.O_CREAT, self.path.parent)
        finally:
            os.close(locks_fd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise SessionBusy(self._refusal(holder)) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "owner": self.owner, "session": self.name}).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # the lock goes with the descriptor; the file stays for the next one
            self._fd = -1

    def _refusal(self, holder: dict) -> str:
        who = f"{holder.get('owner') or 'another process'} (pid {holder['pid']})" if "pid" in holder \
            else "another process"
        return (f"session {self.name} of {self.project} is already running in {who}; it syncs the same files: "
                f"stop that one first, or leave the syncing to it")


def _read(fd: int) -> dict:
    """What the holder wrote (empty while it is writing it)."""
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}

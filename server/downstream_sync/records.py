"""Records of the processes that run sessions (`downstream-sync start`, `downstream-sync skaffold
dev`), for `downstream-sync status`.

Each process writes `<project>/.downstream-sync/sessions/<pid>.json` (atomically) while it runs
and removes it on exit; readers skip and delete the records of processes that are gone. The
folders and files are opened without following a symlink (`sync/state_folder.py`).
Owns that folder's format only. Must not import pygls, lsprotocol, or the terminal.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from .sync.state_folder import STATE_DIR_NAME, StateFolderError, open_file, open_folder

SESSIONS_DIR_NAME = "sessions"


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return started is None or _start_time(pid) in (None, started)


class Record:
    """This process's record: `update(sessions)` rewrites it, `remove()` deletes it. `face` names
    what runs the sessions, as their locks do ("downstream-sync start")."""

    def __init__(self, project_root: Path, skaffold_file: Path, face: str):
        self.state_dir = project_root / STATE_DIR_NAME
        self.folder = self.state_dir / SESSIONS_DIR_NAME
        self.path = self.folder / f"{os.getpid()}.json"
        self.base = {
            "pid": os.getpid(),
            "proc_start": _start_time(os.getpid()),
            "skaffold": str(skaffold_file),
            "face": face,
        }

    def update(self, sessions: list[dict]) -> bool:
        """Rewrite the record; False when it cannot be written (status is best effort: a
        read-only project still syncs, it is only missing from `status`)."""
        tmp = f".tmp-{os.getpid()}-{secrets.token_hex(4)}.json"
        try:
            folder = open_folder(self.state_dir, SESSIONS_DIR_NAME)
        except (OSError, StateFolderError):
            return False
        try:
            with os.fdopen(open_file(folder, tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, self.folder), "w") as out:
                json.dump({**self.base, "sessions": sessions}, out, indent=1)
            os.replace(tmp, self.path.name, src_dir_fd=folder, dst_dir_fd=folder)
            return True
        except (OSError, StateFolderError):
            _unlink(folder, tmp)
            return False
        finally:
            os.close(folder)

    def remove(self) -> None:
        try:
            folder = open_folder(self.state_dir, SESSIONS_DIR_NAME, create=False)
        except (OSError, StateFolderError):
            return
        _unlink(folder, self.path.name)
        os.close(folder)


def _unlink(folder: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=folder)
    except OSError:
        pass


def live_records(project_root: Path) -> list[dict]:
    """The records of processes that still run, oldest pid first; stale ones are deleted."""
    try:
        folder = open_folder(project_root / STATE_DIR_NAME, SESSIONS_DIR_NAME, create=False)
    except (OSError, StateFolderError):
        return []
    found = []
    try:
        for name in sorted(n for n in os.listdir(folder) if n.endswith(".json") and not n.startswith(".")):
            try:
                with os.fdopen(open_file(folder, name, os.O_RDONLY, project_root), "rb") as f:
                    data = json.loads(f.read())
                pid = int(data["pid"])
            except (OSError, StateFolderError, ValueError, KeyError, TypeError):
                continue  # being written, or not ours
            if _alive(pid, data.get("proc_start")):
                found.append(data)
            else:
                _unlink(folder, name)
    finally:
        os.close(folder)
    return sorted(found, key=lambda d: d["pid"])

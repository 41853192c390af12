"""Records of running `downstream-sync start` processes, for `downstream-sync status`.

Each process writes `<project>/.downstream-sync/sessions/<pid>.json` (atomically) while it runs
and removes it on exit; readers skip and delete the records of processes that are gone.
Owns that folder's format only. Must not import pygls, lsprotocol, or the terminal.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

SESSIONS_DIR = Path(".downstream-sync") / "sessions"


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
    """This process's record: `update(sessions)` rewrites it, `remove()` deletes it."""

    def __init__(self, project_root: Path, skaffold_file: Path):
        self.folder = project_root / SESSIONS_DIR
        self.path = self.folder / f"{os.getpid()}.json"
        self.base = {
            "pid": os.getpid(),
            "proc_start": _start_time(os.getpid()),
            "skaffold": str(skaffold_file),
        }

    def update(self, sessions: list[dict]) -> bool:
        """Rewrite the record; False when it cannot be written (status is best effort: a
        read-only project still syncs, it is only missing from `status`)."""
        tmp = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w") as out:
                json.dump({**self.base, "sessions": sessions}, out, indent=1)
            os.replace(tmp, self.path)
            return True
        except OSError:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            return False

    def remove(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass


def live_records(project_root: Path) -> list[dict]:
    """The records of processes that still run, oldest pid first; stale ones are deleted."""
    folder = project_root / SESSIONS_DIR
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text())
            pid = int(data["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # being written, or not ours
        if _alive(pid, data.get("proc_start")):
            found.append(data)
        else:
            path.unlink(missing_ok=True)
    return sorted(found, key=lambda d: d["pid"])

"""The decision per path, as a pure function of MD5s: the remote's, the local file's, the
ledger's (what this tool last wrote there) and, when a conflict is open on the path, the
container's version kept for it (its conflict copy). No I/O here.

Rules: a local file that already has the remote MD5 is skipped (this breaks the echo with
Skaffold's upstream sync). A local file that differs from the ledger was changed by someone else:
under `safe` it is never overwritten or deleted (conflict: the remote copy is kept beside it);
under `remote-wins` the local version is moved to a backup beside it and the remote one written.
A file this tool wrote that is gone locally was deleted by someone: under `safe` that is a change
too (a conflict), under `remote-wins` it is written again. An open conflict ends when the local
file holds the container's current version or the conflict's version (however it got there), or
when the container deletes the file: `ends_conflict` says so, and the conflict's version then
counts as what this tool last wrote (what comes next is an ordinary update). A conflict that
stands while its copy already holds the remote version is held: nothing to write again.
Must not import pygls, lsprotocol or terminal code.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

__all__ = ["Action", "Decision", "Policy", "DELETED_LOCALLY", "decide_change", "decide_delete"]

Policy = Literal["safe", "remote-wins"]


class Action(enum.Enum):
    SKIP = "skip"                    # nothing to do (reason says why)
    WRITE = "write"                  # write the remote content (created or updated)
    WRITE_WITH_BACKUP = "backup"     # remote-wins over a local change: back it up, then write
    CONFLICT = "conflict"            # keep local, write the remote copy beside it
    HELD = "held"                    # an open conflict stands, its copy holds this version already
    DELETE = "delete"                # remove the local file
    DELETE_WITH_BACKUP = "del-backup"  # remote-wins delete over a local change: move it to the backup
    KEEP = "keep"                    # a remote delete that would lose a local change: keep it


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str = ""
    ends_conflict: bool = False  # the open conflict on this path is over (see the module docstring)


DELETED_LOCALLY = "deleted locally since it was last synced"


def decide_change(remote_md5: str, local_md5: str | None, ledger_md5: str | None, policy: Policy,
                  conflict_md5: str | None = None) -> Decision:
    """A file exists remotely with remote_md5; local_md5 is None when there is no local file;
    conflict_md5 is the container's version kept for an open conflict (None: no conflict)."""
    settled = conflict_md5 is not None and local_md5 == conflict_md5
    d = _change(remote_md5, local_md5, conflict_md5 if settled else ledger_md5, policy)
    if conflict_md5 is None:
        return d
    if d.action is not Action.CONFLICT:
        return Decision(d.action, d.reason, ends_conflict=True)
    return Decision(Action.HELD, d.reason) if remote_md5 == conflict_md5 else d


def _change(remote_md5: str, local_md5: str | None, ledger_md5: str | None, policy: Policy) -> Decision:
    if local_md5 is None:
        if ledger_md5 is not None and policy == "safe":
            return Decision(Action.CONFLICT, DELETED_LOCALLY)
        return Decision(Action.WRITE, "created")
    if local_md5 == remote_md5:
        return Decision(Action.SKIP, "already up to date")
    if ledger_md5 is not None and local_md5 == ledger_md5:
        return Decision(Action.WRITE, "updated")
    why = ("changed locally since it was last synced" if ledger_md5 is not None
           else "exists locally and was not written by downstream sync")
    if policy == "remote-wins":
        return Decision(Action.WRITE_WITH_BACKUP, why)
    return Decision(Action.CONFLICT, why)


def decide_delete(local_md5: str | None, ledger_md5: str | None, policy: Policy,
                  conflict_md5: str | None = None) -> Decision:
    """A file was deleted remotely; an open conflict on it ends (its copy is of a version that no
    longer exists), and a local file holding the conflict's version counts as this tool's."""
    settled = conflict_md5 is not None and local_md5 == conflict_md5
    d = _delete(local_md5, conflict_md5 if settled else ledger_md5, policy)
    return Decision(d.action, d.reason, ends_conflict=conflict_md5 is not None)


def _delete(local_md5: str | None, ledger_md5: str | None, policy: Policy) -> Decision:
    if local_md5 is None:
        return Decision(Action.SKIP, "already absent")
    if ledger_md5 is not None and local_md5 == ledger_md5:
        return Decision(Action.DELETE, "deleted")
    if ledger_md5 is None:
        # Never ours: a remote delete has no say over a file this tool did not write.
        return Decision(Action.SKIP, "not written by downstream sync; kept")
    if policy == "remote-wins":
        return Decision(Action.DELETE_WITH_BACKUP, "changed locally since it was last synced")
    return Decision(Action.KEEP, "deleted remotely but changed locally since it was last synced; kept the local file")

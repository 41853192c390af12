"""The decision per path, as a pure function of three MD5s: the remote's, the local file's and
the ledger's (what this tool last wrote there). No I/O here.

Rules: a local file that already has the remote MD5 is skipped (this breaks the echo with
Skaffold's upstream sync). A local file that differs from the ledger was changed by someone else:
under `safe` it is never overwritten or deleted (conflict: the remote copy is kept beside it);
under `remote-wins` the local version is moved to a backup beside it and the remote one written.
Must not import pygls, lsprotocol or terminal code.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

__all__ = ["Action", "Decision", "Policy", "decide_change", "decide_delete"]

Policy = Literal["safe", "remote-wins"]


class Action(enum.Enum):
    SKIP = "skip"                    # nothing to do (reason says why)
    WRITE = "write"                  # write the remote content (created or updated)
    WRITE_WITH_BACKUP = "backup"     # remote-wins over a local change: back it up, then write
    CONFLICT = "conflict"            # keep local, write the remote copy beside it
    DELETE = "delete"                # remove the local file
    DELETE_WITH_BACKUP = "del-backup"  # remote-wins delete over a local change: move it to the backup
    KEEP = "keep"                    # a remote delete that would lose a local change: keep it


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str = ""


def decide_change(remote_md5: str, local_md5: str | None, ledger_md5: str | None, policy: Policy) -> Decision:
    """A file exists remotely with remote_md5; local_md5 is None when there is no local file."""
    if local_md5 is None:
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


def decide_delete(local_md5: str | None, ledger_md5: str | None, policy: Policy) -> Decision:
    """A file was deleted remotely."""
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

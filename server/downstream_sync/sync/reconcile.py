"""One snapshot reconcile: which remote files were seen, progress, and what to delete after.

The session feeds every SNAPSHOT_FILE through its normal pipeline (so a reconcile follows the
same rules as live events); this object counts progress and, at SNAPSHOT_END, names the ledger
entries whose remote file no longer exists (candidates for a delete, which the delete rules then
decide). Must not import pygls, lsprotocol or terminal code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sync_helper.paths import below_target

from .ledger import Ledger
from .rules import RuleSet

__all__ = ["Reconcile"]


@dataclass
class Reconcile:
    seen: dict[str, int] = field(default_factory=dict)  # wire path -> size: what the snapshot sent that the rules cover
    finished: set[str] = field(default_factory=set)  # of those, the ones applied (each counted once)
    files_total: int = 0
    bytes_total: int = 0
    files_done: int = 0
    bytes_done: int = 0
    synced: int = 0
    conflicts: int = 0
    errors: int = 0
    missing: tuple[str, ...] = ()  # targets the helper could not see: their files are unknown, not gone
    deleted_locally: list = field(default_factory=list)  # their Conflict events, told per folder at the end
    _last_report: float = 0.0

    def add(self, wire_path: str, size: int) -> None:
        """A file of the snapshot that the rules cover (the session leaves the others out)."""
        if wire_path not in self.seen:
            self.seen[wire_path] = max(size, 0)
            self.files_total += 1
            self.bytes_total += max(size, 0)

    def done(self, wire_path: str) -> None:
        """`wire_path` was applied: counted once, by the size it was counted with, and only when it
        is in the total (so done never passes total, whatever was applied twice or came late)."""
        if wire_path in self.seen and wire_path not in self.finished:
            self.finished.add(wire_path)
            self.files_done += 1
            self.bytes_done += self.seen[wire_path]

    def should_report(self) -> bool:
        """Throttle progress reports to about ten a second."""
        now = time.monotonic()
        if now - self._last_report >= 0.1:
            self._last_report = now
            return True
        return False

    def gone(self, ledger: Ledger, rules: RuleSet) -> list[str]:
        """Ledger paths whose remote file was not in the snapshot and that the rules still map, but
        none below a missing target (a fresh volume is not an empty one)."""
        seen = {rules.canonical(path) for path in self.seen}  # the helper may spell a target otherwise now
        return [e.path for e in ledger.entries()
                if rules.canonical(e.remote_path) not in seen and rules.local_path(e.remote_path) is not None
                and not self.unknown(e.remote_path)]

    def unknown(self, wire_path: str) -> bool:
        """True when the file lies below a target that did not exist for this snapshot."""
        return any(below_target(wire_path, t) for t in self.missing)

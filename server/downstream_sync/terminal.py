"""Session events as terminal lines: one line per event, a progress line during a reconcile,
and a summary at the end. Used by the CLI only.

Owns formatting and colors (none when the stream is not a TTY or NO_COLOR is set). Every text
an event carries (names and messages from a container) is shown through `printable`, so a file
name cannot drive the terminal or forge a line. Knows the engine's event types; must not be
imported by the core (config/, sync/, cluster/, inject/).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from .sync.events import (Conflict, ConflictResolved, DownloadProgress, FileSkipped, FileSynced, ReconcileProgress, StateChanged,
                          SessionWarning, SyncError, printable)

_COLORS = {
    "created": "32", "updated": "33", "deleted": "31", "renamed": "36",
    "conflict": "35;1", "warning": "33;1", "error": "31;1", "skipped": "2", "dim": "2", "bold": "1", "state": "34",
}


def silence(stream: TextIO) -> None:
    """The reader of `stream` went away (`downstream-sync start | head`): send the rest of the
    output to /dev/null, so syncing goes on and ends as it would have."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


class PrintableFormatter(logging.Formatter):
    """Log lines that cannot drive the terminal: the message escaped whole, a traceback line by line."""

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord({**record.__dict__, "msg": printable(record.getMessage()), "args": None})
        return "\n".join(printable(line) for line in super().format(record).split("\n"))


class QuietPipe:
    """Wraps stdout so that a reader going away silences the output instead of raising."""

    def __init__(self, stream: TextIO):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            silence(self._stream)
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            silence(self._stream)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def human_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


@dataclass
class OpenConflict:
    """A file in conflict: where the container's copy is, and how often the container changed it since."""

    copy: str | None
    repeats: int = 0


@dataclass
class Tally:
    """What one session did, counted from its events (the summary's figures)."""

    synced: int = 0
    bytes: int = 0
    actions: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    conflicts: int = 0
    errors: int = 0
    failed_paths: set[str] = field(default_factory=set)  # files whose write failed, not written since
    recovered: int = 0  # errors whose file was written on a later try
    last_state: str = ""
    last_detail: str = ""
    last_error: str = ""
    said: set[str] = field(default_factory=set)  # why it reconnects, once shown (an error line or a retry's)
    in_conflict: dict[str, OpenConflict] = field(default_factory=dict)  # by path, until synced again
    reconciling: bool = False
    lines_in_reconcile: int = 0   # file lines shown in the current reconcile
    hidden_in_reconcile: int = 0  # and those counted without a line (see RECONCILE_LINES)


RECONCILE_LINES = 20  # file lines a reconcile shows before it only counts them (-v shows every one)


class TerminalPrinter:
    """A subscriber for one or more sessions that writes what they do to a stream. A reconcile (a
    first sync of a large tree) names its first RECONCILE_LINES files, then counts the rest."""

    def __init__(self, stream: TextIO | None = None, *, show_names: bool = False, verbose: bool = False,
                 roots: dict[str, Path] | None = None):
        """`roots`: each session's project folder, where its conflict copies are (a conflict whose
        copy is gone is settled)."""
        self.roots = roots or {}
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.color = self.tty and not os.environ.get("NO_COLOR")
        self.show_names = show_names
        self.verbose = verbose
        self.tallies: dict[str, Tally] = {}
        self._progress_shown = False
        self._progress_step: dict[str, int] = {}

    # plumbing ---------------------------------------------------------------------------------

    def paint(self, text: str, style: str) -> str:
        return f"\x1b[{_COLORS[style]}m{text}\x1b[0m" if self.color else text

    def write(self, text: str) -> None:
        """Print a whole line, first clearing a progress line that is being rewritten."""
        if self._progress_shown:
            text = "\r\x1b[K" + text
            self._progress_shown = False
        self._put(text + "\n")

    def _put(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except BrokenPipeError:
            silence(self.stream)

    def tally(self, session: str) -> Tally:
        return self.tallies.setdefault(session, Tally())

    def _prefix(self, event) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(event.time))
        name = f"[{printable(event.session)}] " if self.show_names else ""
        return f"{self.paint(stamp, 'dim')}  {name}"

    def _action(self, word: str, style: str) -> str:
        return self.paint(f"{word:<11}", style)

    # events -----------------------------------------------------------------------------------

    def __call__(self, event) -> None:
        tally = self.tally(event.session)
        if isinstance(event, FileSynced):
            tally.in_conflict.pop(event.path, None)  # synced since: no longer in conflict
            if event.old_path:
                tally.in_conflict.pop(event.old_path, None)
            if event.path in tally.failed_paths:
                tally.failed_paths.discard(event.path)
                tally.recovered += 1
            tally.synced += 1
            tally.bytes += event.bytes
            tally.actions[event.action] = tally.actions.get(event.action, 0) + 1
            if tally.reconciling and not self.verbose:
                if tally.lines_in_reconcile >= RECONCILE_LINES:
                    tally.hidden_in_reconcile += 1
                    return
                tally.lines_in_reconcile += 1
            path = printable(f"{event.old_path} -> {event.path}" if event.action == "renamed" and event.old_path
                             else event.path)
            if event.action == "deleted":
                self.write(f"{self._prefix(event)}{self._action(event.action, event.action)} {path}")
            else:
                took = self.paint(human_duration(event.duration), "dim")
                self.write(f"{self._prefix(event)}{self._action(event.action, event.action)} {path:<44} "
                           f"{human_size(event.bytes):>9}  {took}")
        elif isinstance(event, FileSkipped):
            tally.skipped += 1
            if self.verbose:
                where = event.path or f"{event.remote_path} (in the container)"
                self.write(f"{self._prefix(event)}{self._action('skipped', 'skipped')} {printable(where)}  "
                           f"({printable(event.reason)})")
        elif isinstance(event, Conflict):
            # One line per file in conflict: the container changing it again (a file rewritten every
            # second) is counted, not printed, while its copy stays where the line said.
            known = tally.in_conflict.get(event.path)
            if known is not None and known.copy == event.remote_copy:
                known.repeats += 1
                return
            if known is None:
                tally.conflicts += 1
            tally.in_conflict[event.path] = OpenConflict(event.remote_copy)
            copy = f"; the container's copy is {printable(event.remote_copy)}" if event.remote_copy else ""
            self.write(f"{self._prefix(event)}{self._action('conflict', 'conflict')} {printable(event.path)}  "
                       f"({printable(event.reason)}{copy})")
        elif isinstance(event, ConflictResolved):
            if tally.in_conflict.pop(event.path, None) is not None:
                self.write(f"{self._prefix(event)}{self._action('resolved', 'created')} {printable(event.path)}  "
                           f"({printable(event.how)})")
        elif isinstance(event, SyncError):
            tally.errors += 1
            tally.last_error = event.message
            tally.said.add(event.message)
            if event.path:
                tally.failed_paths.add(event.path)
            where = f"{event.path}: " if event.path else ""
            self.write(f"{self._prefix(event)}{self._action('error', 'error')} {printable(where + event.message)}")
        elif isinstance(event, SessionWarning):
            self.write(f"{self._prefix(event)}{self._action('warning', 'warning')} {printable(event.message)}")
        elif isinstance(event, StateChanged):
            state = event.state.name.lower() if hasattr(event.state, "name") else str(event.state)
            self._reconcile_state(event, tally, state == "reconciling")
            if (state, event.detail) == (tally.last_state, tally.last_detail):
                return
            tally.last_state, tally.last_detail = state, event.detail
            if state == "reconciling":
                self._progress_step.pop(event.session, None)  # a new reconcile reports its progress afresh
            detail = event.detail
            if state == "reconnecting":  # "<why>; retrying in 0.4s": why once, then each retry in one short line
                why, _, retry = detail.rpartition("; ")
                if why in tally.said:
                    detail = retry
                tally.said.add(why)
            shown = printable(detail) if detail and detail != state else ""
            if shown:
                self.write(f"{self._prefix(event)}{self._action(state, 'state')} {self.paint(shown, 'dim')}")
            else:
                self.write(f"{self._prefix(event)}{self.paint(state, 'state')}")
        elif isinstance(event, ReconcileProgress):
            self.progress(event)
        elif isinstance(event, DownloadProgress) and self.tty and not event.finished:
            text = f"downloading {printable(event.path)}: {human_size(event.bytes_done)} of {human_size(event.bytes_total)}"
            self._put("\r\x1b[K" + self._prefix(event) + self.paint(text, "dim"))
            self._progress_shown = True  # the next line replaces it

    def _reconcile_state(self, event: StateChanged, tally: Tally, reconciling: bool) -> None:
        """A reconcile starts counting its file lines afresh; at its end, the files it only counted."""
        if tally.reconciling and not reconciling and tally.hidden_in_reconcile:
            self.write(f"{self._prefix(event)}{self.paint(f'... and {tally.hidden_in_reconcile} more files synced', 'dim')} "
                       f"(-v names each)")
        if reconciling and not tally.reconciling:
            tally.lines_in_reconcile = tally.hidden_in_reconcile = 0
        tally.reconciling = reconciling

    def progress(self, event: ReconcileProgress) -> None:
        done, total = event.files_done, event.files_total
        text = f"reconciling {done}/{total} files"
        if event.bytes_total:
            text += f", {human_size(event.bytes_done)} of {human_size(event.bytes_total)}"
        if self.tty:
            self._put("\r\x1b[K" + self._prefix(event) + self.paint(text, "dim"))
            self._progress_shown = True  # the next line replaces it
            return
        # Plain output: the first figure, then each quarter, and the end.
        step = 4 if not total else min(4, done * 4 // total)
        last = self._progress_step.get(event.session, -1)
        if step > last:
            self._progress_step[event.session] = step
            self.write(self._prefix(event) + text)

    def open_conflicts(self, name: str) -> dict[str, OpenConflict]:
        """The files still in conflict: not synced since, and their copy (when there is one) still there."""
        t, root = self.tally(name), self.roots.get(name)
        return {path: c for path, c in sorted(t.in_conflict.items())
                if c.copy is None or root is None or os.path.lexists(root / c.copy)}

    def conflicts_note(self, name: str) -> str | None:
        """The conflicts still open, to look at by hand."""
        still = self.open_conflicts(name)
        if not still:
            return None
        shown = [printable(path) + (f" (changed {c.repeats} more time{'s' if c.repeats != 1 else ''} in the "
                                    f"container since)" if c.repeats else "") for path, c in still.items()]
        listed = ", ".join(shown[:5]) + (f" and {len(shown) - 5} more" if len(shown) > 5 else "")
        return f"Conflicts to look at: {listed}; each conflict line above says where the other copy is."

    # the end ----------------------------------------------------------------------------------

    def summary_line(self, name: str, elapsed: float | None = None) -> str:
        t = self.tally(name)
        kinds = ", ".join(f"{n} {a}" for a in ("created", "updated", "renamed", "deleted") if (n := t.actions.get(a)))
        parts = [f"{t.synced} change{'s' if t.synced != 1 else ''} synced ({human_size(t.bytes)}"
                 + (f": {kinds})" if kinds else ")")]
        if t.skipped:
            parts.append(f"{t.skipped} skipped (up to date or excluded)")
        still = len(self.open_conflicts(name))
        settled = f" ({t.conflicts - still} settled since)" if still < t.conflicts else ""
        parts.append(self.paint(f"{t.conflicts} conflict{'s' if t.conflicts != 1 else ''}", "conflict") + settled
                     if t.conflicts else "0 conflicts")
        recovered = f" ({t.recovered} of them written on a later try)" if t.recovered else ""
        parts.append(self.paint(f"{t.errors} error{'s' if t.errors != 1 else ''}", "error") + recovered if t.errors
                     else "0 errors")
        took = f" in {human_duration(elapsed)}" if elapsed is not None else ""
        return ", ".join(parts) + took

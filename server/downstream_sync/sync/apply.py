"""Applying work to the local disk: one change, delete or rename at a time, by the rules.

For each item: map the wire path (refusing unsafe ones and the project's config), look at the
local file (its MD5 cached by stat in the ledger, when the stat proves it), decide (decide.py),
then write atomically, keep a conflict copy, back up, delete or move, record the result in the
ledger and tell the subscribers. A type change in the container (a folder replaced by a file of
the same name, or the reverse) removes what is in the way locally only when it is all this tool's
own unchanged files and the folders it made (recorded in the ledger's meta as `dir:PATH`), and
those folders go when a delete empties them; anything of the user's makes it a conflict instead. Changes that came with
their content are written a group at a time in a worker thread (file creation is mostly kernel
work, and groups of other pipeline workers overlap); their ledger entries and events are made on
the loop. Files whose content was not inline are fetched in batches with DownloadFiles (small ones
arrive packed, several to a message), each put in place as soon as it is complete.
Must not import pygls, lsprotocol or terminal code.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat as stat_mod
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

from .client import HelperClient, connection_lost, pb
from .decide import DELETED_LOCALLY, Action, Decision, Policy, decide_change, decide_delete
from .events import (Conflict, ConflictResolved, Event, FileSkipped, FileSynced, ReconcileProgress, SessionStats,
                     SyncError)
from .lane import Lane, fetch_large
from .ledger import Entry, Ledger
from .reconcile import Reconcile
from .rules import RESERVED, RuleSet
from .writer import (BACKUP_SUFFIX, CONFLICT_SUFFIX, SWAP_MARK, TEMP_MARK, AtomicFile, Expected, LocalChanged, WriteError,
                     conflict_name, lstat, match_exec_bits, md5_file, move_file, now_ns,
                     remove_empty_dir, remove_file, stat_proves)

__all__ = ["Applier", "Work", "Target", "LostStream", "merge", "conflict_keys", "open_conflict"]

log = logging.getLogger("downstream_sync")

_FETCH_BATCH_FILES = 256
_FETCH_BATCH_BYTES = 64 << 20
_HASH_IN_THREAD = 1 << 20
_MAX_COPIES = 100  # conflict copies of one file that the user edited, before writes of it stop


class LostStream(Exception):
    """The stream to the helper ended."""


@dataclass
class Work:
    kind: str                 # "change", "delete", "rename"
    path: str                 # wire path
    md5: str = ""
    size: int = 0
    mode: int = 0
    content: bytes | None = None
    old_path: str = ""
    version: int = 0
    reconcile: Reconcile | None = None


class _Stat(NamedTuple):
    """The part of a stat that a record of a written file keeps."""
    st_size: int
    st_mtime_ns: int
    st_ino: int


@dataclass
class _Incoming:
    path: str
    af: AtomicFile | None
    size: int
    md5: str
    started: float
    received: int = 0
    writing: asyncio.Future | None = None


@dataclass
class Target:
    wire: str
    dir: Path      # the folder the safe walk starts from: the project root
    rel: str       # below dir, POSIX (the same as relpath)
    local: str     # the absolute local path
    relpath: str   # relative to the project root, POSIX
    base: str = "" # the rule's localDst, relative to the project root

    @property
    def name(self) -> str:
        return self.rel.rsplit("/", 1)[-1]


def merge(old: Work, new: Work) -> Work:
    """Coalesce two items for one path, latest wins: but a rename's old path must still go, and a
    reconcile still counts its file done when a live change took its place."""
    if new.reconcile is None:
        new.reconcile = old.reconcile
    if old.kind == "rename" and not new.old_path:
        new.old_path = old.old_path
        if new.kind == "change":
            new.kind = "rename"
    return new


def _ours(name: str) -> bool:
    """A conflict copy, a backup or a temporary file of this tool: never synced from a container."""
    return (name.endswith((CONFLICT_SUFFIX, BACKUP_SUFFIX))
            or (name.startswith(".") and (TEMP_MARK in name or SWAP_MARK in name)))


def _expected(st: os.stat_result | None, md5: str | None, checked: int) -> Expected | None:
    """What the local file was when it was looked at (None: absent)."""
    return None if st is None else Expected(st, md5, checked)


def _beside(relpath: str, name: str) -> str:
    """The project-relative path of `name` in the folder of relpath."""
    folder = relpath.rpartition("/")[0]
    return f"{folder}/{name}" if folder else name


def _inside(root: Path, rel: str) -> tuple[list[tuple[str, os.stat_result]], list[str], list[str]]:
    """Below the folder root/rel (not following symlinks): its regular files with their stats, its
    folders (rel included) and everything else, all as paths relative to root."""
    files, folders, others = [], [], []
    stack = [rel]
    while stack:
        folder = stack.pop()
        folders.append(folder)
        with os.scandir(root / folder) as it:
            for entry in it:
                path = f"{folder}/{entry.name}"
                if entry.is_dir(follow_symlinks=False):
                    stack.append(path)
                elif entry.is_file(follow_symlinks=False) and not _ours(entry.name):
                    files.append((path, entry.stat(follow_symlinks=False)))
                else:
                    others.append(path)
    return files, folders, others


def written_copy(ledger: Ledger, root: Path, relpath: str) -> Expected | None:
    """What this tool last wrote as the conflict copy `relpath`, or None when there is no record
    or no such file (then a new copy must find the name free)."""
    record = ledger.meta(f"copy:{relpath}")
    if not record or lstat(root / relpath) is None:
        return None
    md5, size, mtime_ns, ino, checked = record.split()
    return Expected(_Stat(int(size), int(mtime_ns), int(ino)), md5, int(checked))


def conflict_keys(ledger: Ledger, relpath: str) -> list[str]:
    """The ledger's meta keys of a conflict on relpath: its wire path, its copy's path, the MD5 of
    the container's version kept there, and the record of that copy as written."""
    keys = [f"conflict:{relpath}", f"conflict-copy:{relpath}", f"conflict-md5:{relpath}"]
    copy = ledger.meta(keys[1])
    return keys + [f"copy:{copy}"] if copy else keys


def open_conflict(ledger: Ledger, relpath: str) -> str | None:
    """The MD5 of the container's version kept for the open conflict on relpath, or None."""
    return (ledger.meta(f"conflict-md5:{relpath}") or None) if ledger.meta(f"conflict:{relpath}") else None


_COPY_REMOVED = "its conflict copy was removed: the local version is kept"


def _explained(reason: str, relpath: str) -> str:
    """A conflict's reason, with what to do when that is not plain."""
    if reason == DELETED_LOCALLY:
        return f"{reason}; `downstream-sync resolve {relpath} --take-remote` brings it back"
    return reason


def _unsafe(wire: str) -> bool:
    body = wire[1:] if wire.startswith("/") else wire
    return (not wire or "\x00" in wire or "\\" in wire
            or any(seg in ("", ".", "..") for seg in body.split("/")))


def _reserved(wire: str) -> str | None:
    """The reserved folder (.git, ours) a wire path goes through, or None."""
    return next((seg for seg in wire.split("/") if seg.casefold() in RESERVED), None)


class Applier:
    """Applies work items for one session; the session sets `ledger` and, per connection, `client`."""

    def __init__(self, name: str, rules: RuleSet, policy: Policy, stats: SessionStats,
                 emit: Callable[[Event], None], schedule_commit: Callable[[], None]):
        self.name = name
        self.rules = rules
        self.policy: Policy = policy
        self.stats = stats
        self._emit = emit
        self._schedule_commit = schedule_commit
        self.ledger: Ledger | None = None
        self.client: HelperClient | None = None
        self.lane: Lane | None = None  # large files take the data lane when set (per connection)
        # Set by a running session (retry.py): takes a failed write, returns the message to report or None.
        self.write_failed: Callable[[Work, WriteError], str | None] | None = None
        self._hash_cache: dict[str, tuple[int, int, int, int, str]] = {}  # size, mtime, ino, checked_ns, md5
        self._renamed_away: dict[str, int] = {}
        self._made_dirs: list[str] = []  # folders made by writes (maybe in worker threads), to record
        self.every_skip = False  # also report each file a reconcile skips (a face that shows them all)

    def _error(self, path: str | None, message: str, rec: Reconcile | None = None) -> None:
        self.stats.errors += 1
        if rec is not None:
            rec.errors += 1
        log.debug("session %s: %s", self.name, message)
        self._emit(SyncError(session=self.name, path=path, message=message))

    def _write_failed(self, w: Work, relpath: str | None, error: WriteError) -> None:
        """A write of `w` failed: reported, unless write_failed says it is a retry's, reported already."""
        message = self.write_failed(w, error) if self.write_failed is not None else str(error)
        if message is not None:
            self._error(relpath, message, w.reconcile)

    def _skipped(self, t: Target | str | None, wire: str, reason: str, w: Work | None = None) -> None:
        """`t`: the target, or the local path it would have had ("" when no rule maps it)."""
        if w is not None and w.reconcile is not None and not self.every_skip:
            return  # a reconcile reports progress, not one event per unchanged file
        path = t.relpath if isinstance(t, Target) else t or ""
        self._emit(FileSkipped(session=self.name, path=path, remote_path=wire, reason=reason))

    def progress(self, rec: Reconcile, final: bool = False) -> None:
        if final:
            self._tell_deleted_locally(rec)
        if final or rec.should_report():
            self._emit(ReconcileProgress(session=self.name, files_done=rec.files_done, files_total=rec.files_total,
                                         bytes_done=rec.bytes_done, bytes_total=rec.bytes_total))

    def _done(self, w: Work) -> None:
        if w.reconcile is not None:
            w.reconcile.done(w.path)
            self.progress(w.reconcile)

    # --- applying work ------------------------------------------------------------------------

    def target(self, wire: str, quiet: bool = False, w: Work | None = None) -> Target | None:
        found = self.rules.match(wire)
        if found is None:
            if not quiet:
                if _unsafe(wire):
                    self._error(None, f"refused a path from the helper that is not safe: {wire!r} "
                                      f"(only plain paths below the download targets are accepted)",
                                w.reconcile if w else None)
                elif folder := _reserved(wire):
                    self._skipped(self.rules.named(wire), wire, f"in {folder}/, a folder never written from a "
                                                              f"container (exclude it in the stanza to say so)", w)
                else:
                    self._skipped(None, wire, "not covered by any download rule", w)
            return None
        rule, rel = found
        relpath = f"{rule.local_rel}/{rel}" if rule.local_rel and rel else rule.local_rel or rel
        if self.rules.is_excluded(rule, rel):
            if not quiet:
                self._skipped(relpath, wire, "excluded", w)
            return None
        if any(_ours(part) for part in wire.split("/")):  # a folder so named would block one of ours
            if not quiet:
                self._skipped(relpath, wire, "named like a file of downstream sync itself (an echo of an upload)", w)
            return None
        refused = self.rules.refusal(relpath)
        if refused:
            if not quiet:
                self._error(relpath, refused, w.reconcile if w else None)
            return None
        if self.ledger is not None and self.ledger.meta(f"conflict:{relpath}"):
            # Another process (`downstream-sync resolve`) may have settled it: read its record again.
            self.ledger.refresh(relpath, conflict_keys(self.ledger, relpath))
        root = self.rules.project_root
        if relpath:  # walked from the project root down, never following a symlink
            return Target(wire, root, relpath, f"{root}/{relpath}", relpath, rule.local_rel)
        return Target(wire, root.parent, root.name, str(root), relpath)

    async def _local_md5(self, t: Target, st: os.stat_result | None, checked: int) -> str | None:
        """The local file's MD5 (None when absent): from the ledger or the cache when its stat proves
        it, else hashed (large files in a worker thread). `checked`: the clock before st was taken."""
        entry = self.ledger.get(t.relpath)
        if st is not None and st.st_size >= _HASH_IN_THREAD and self._known_md5(t, st, entry) is None:
            digest = await asyncio.get_running_loop().run_in_executor(None, md5_file, t.local)
            return self._remember(t, st, checked, digest)
        return self._local_md5_now(t, st, entry, checked)

    def _known_md5(self, t: Target, st: os.stat_result, entry: Entry | None) -> str | None:
        if entry is not None and entry.matches_stat(st):
            return entry.md5
        cached = self._hash_cache.get(t.relpath)
        if cached is not None and stat_proves(st, *cached[:4]):
            return cached[4]
        return None

    def _remember(self, t: Target, st: os.stat_result, checked: int, digest: str) -> str:
        return self._remember_hash(t.relpath, st, checked, digest)

    def _remember_hash(self, relpath: str, st: os.stat_result, checked: int, digest: str) -> str:
        if len(self._hash_cache) > 10000:
            self._hash_cache.clear()
        self._hash_cache[relpath] = (st.st_size, st.st_mtime_ns, st.st_ino, checked, digest)
        return digest

    def _regular_or_absent(self, t: Target, st: os.stat_result | None, w: Work) -> bool:
        if st is not None and not stat_mod.S_ISREG(st.st_mode):
            what = "a symlink" if stat_mod.S_ISLNK(st.st_mode) else "not a regular file"
            self._error(t.relpath, f"refused to write {t.local}: it is {what}; move it away to sync this file",
                        w.reconcile)
            return False
        return True

    async def handle(self, batch: list[Work]) -> None:
        """The pipeline's handler: apply each item; download what is not inline in batches."""
        fetch: list[tuple[Work, Target, Decision, os.stat_result | None]] = []
        inline: list[tuple[Work, Target]] = []
        for w in batch:
            if w.kind == "change" and w.content is not None and w.md5:
                t = self.target(w.path, w=w)
                if t is None:
                    self._done(w)
                else:
                    inline.append((w, t))
                continue
            if inline:  # in order: what came before this item is applied before it
                await self._write_inline(inline)
                inline = []
            try:
                if w.kind == "delete":
                    t = self.target(w.path, w=w)
                    if t is not None:
                        await self._apply_delete(w, t)
                    if w.old_path:  # a rename, then a delete of its new path
                        old_t = self.target(w.old_path, quiet=True)
                        if old_t is not None:
                            await self._apply_delete(Work("delete", w.old_path, reconcile=w.reconcile), old_t)
                    self._done(w)
                    continue
                if w.kind == "rename":
                    need = await self._apply_rename(w)
                else:
                    t = self.target(w.path, w=w)
                    need = await self._apply_change(w, t) if t is not None else None
                if need is not None:
                    fetch.append(need)
                else:
                    self._done(w)
            except WriteError as e:
                self._write_failed(w, self._relpath_of(w.path), e)
                self._done(w)
            except Exception as e:
                if connection_lost(e):
                    raise
                log.exception("session %s: failed on %s", self.name, w.path)
                self._error(self._relpath_of(w.path), f"could not sync {w.path}: {e}", w.reconcile)
                self._done(w)
        if inline:
            await self._write_inline(inline)
        self._note_made_dirs()
        if self.lane is not None and self.lane.usable:
            fetch = [item for item in fetch if not await fetch_large(self, item)]
        for start in range(0, len(fetch), _FETCH_BATCH_FILES):
            part = fetch[start:start + _FETCH_BATCH_FILES]
            chunk: list = []
            size = 0
            for item in part:
                chunk.append(item)
                size += item[0].size
                if size >= _FETCH_BATCH_BYTES:
                    await self._fetch(chunk)
                    chunk, size = [], 0
            if chunk:
                await self._fetch(chunk)
        self._note_made_dirs()
        self._schedule_commit()

    async def _write_inline(self, group: list[tuple[Work, "Target"]]) -> None:
        """Changes that came with their content: the disk work of a group runs in a worker thread
        (creating files is mostly waiting on the file system, and groups of other workers overlap),
        then the ledger and the events here. A lone change is written here, without the hop."""
        started = time.monotonic()
        if len(group) == 1:
            results = self._write_inline_disk(group)
        else:
            results = await asyncio.get_running_loop().run_in_executor(None, self._write_inline_disk, group)
        for (w, t), res in zip(group, results):
            try:
                if res[0] == "renamed":
                    self._skipped(t, w.path, "renamed in the container since", w)
                elif res[0] == "retype":
                    await self._apply_change(w, t)
                elif res[0] == "refused":
                    self._regular_or_absent(t, res[1], w)
                elif res[0] == "skip":
                    _, d, st, checked = res
                    self._note_in_sync(w, t, st, checked)
                    self._skipped(t, w.path, d.reason, w)
                    if d.ends_conflict:
                        self._settle(t.relpath, "the local file holds the container's version")
                elif res[0] == "held":
                    self._held(w, t, res[1])
                elif res[0] == "error":
                    raise res[1]
                else:
                    _, d, st, placed = res
                    self._record(w, t, d, st, placed, started)
            except WriteError as e:
                self._write_failed(w, t.relpath, e)
            except Exception as e:
                log.exception("session %s: failed on %s", self.name, w.path)
                self._error(t.relpath, f"could not sync {w.path}: {e}", w.reconcile)
            self._done(w)

    def _write_inline_disk(self, group: list[tuple[Work, "Target"]]) -> list[tuple]:
        """Per item: decide on the local file and write it; no ledger writes and no events (this may
        run in a worker thread; the pipeline never hands one path to two workers at once)."""
        out: list[tuple] = []
        for w, t in group:
            try:
                # An older change of a path renamed away since must not bring the old name back.
                if w.version and self._renamed_away.get(w.path, 0) > w.version:
                    out.append(("renamed",))
                    continue
                checked = now_ns()
                st = lstat(t.local)
                if self._in_the_way(t, st):
                    out.append(("retype",))  # on the loop: it may change the ledger
                    continue
                if st is not None and not stat_mod.S_ISREG(st.st_mode):
                    out.append(("refused", st))
                    continue
                entry = self.ledger.get(t.relpath)
                local_md5 = self._local_md5_now(t, st, entry, checked)
                d = decide_change(w.md5, local_md5, entry.md5 if entry else None, self.policy,
                                  open_conflict(self.ledger, t.relpath))
                if d.action is Action.SKIP:
                    if st is not None and match_exec_bits(t.dir, t.rel, w.mode):
                        checked, st = now_ns(), lstat(t.local)
                    out.append(("skip", d, st, checked))
                    continue
                if d.action is Action.HELD:
                    out.append(("held", d))
                    continue
                af = self._open_for(t, d, w.mode)
                try:
                    af.write(w.content)
                except BaseException:
                    af.abort()
                    raise
                out.append(("placed", d, st, self._place(t, d, _expected(st, local_md5, checked), af, w.md5)))
            except Exception as e:
                out.append(("error", e))
        return out

    def _local_md5_now(self, t: "Target", st: os.stat_result | None, entry: Entry | None, checked: int) -> str | None:
        """As _local_md5, hashing here (this may run in a worker thread)."""
        if st is None:
            return None
        known = self._known_md5(t, st, entry)
        return known if known is not None else self._remember(t, st, checked, md5_file(t.local))

    def _note_in_sync(self, w: Work, t: Target, st: os.stat_result, checked: int) -> None:
        """Record that the local file, as of `checked`, already holds the container's version."""
        entry = self.ledger.get(t.relpath)
        if entry is None or entry.md5 != w.md5 or not entry.matches_stat(st):
            self.ledger.put(Entry(t.relpath, w.path, w.md5, st.st_size, st.st_mtime_ns, st.st_ino, checked))

    def _relpath_of(self, wire: str) -> str | None:
        t = self.target(wire, quiet=True)
        return t.relpath if t else None

    def renamed_away(self, path: str, version: int) -> None:
        """Note that the file at `path` was renamed away at `version` (see _apply_change)."""
        if len(self._renamed_away) > 10000:
            self._renamed_away.clear()
        self._renamed_away[path] = version

    async def _apply_change(self, w: Work, t: Target):
        # Items of different paths run in parallel: an older change of a path that was renamed
        # away since (its inline content in hand) must not bring the old name back.
        if w.version and self._renamed_away.get(w.path, 0) > w.version:
            self._skipped(t, w.path, "renamed in the container since", w)
            return None
        checked = now_ns()
        st = lstat(t.local)
        if self._in_the_way(t, st):
            if not await self._make_way(w, t, st):
                return None
            checked, st = now_ns(), lstat(t.local)
        if not self._regular_or_absent(t, st, w):
            return None
        local_md5 = await self._local_md5(t, st, checked)
        entry = self.ledger.get(t.relpath)
        expect = _expected(st, local_md5, checked)
        if not w.md5 and w.content is None:
            # No MD5 from the helper (a seed helper): download and decide on the header's MD5.
            d = decide_change("", local_md5, entry.md5 if entry else None, self.policy,
                              open_conflict(self.ledger, t.relpath))
            return (w, t, d, expect)
        d = decide_change(w.md5, local_md5, entry.md5 if entry else None, self.policy,
                          open_conflict(self.ledger, t.relpath))
        if d.action is Action.SKIP:
            try:
                if match_exec_bits(t.dir, t.rel, w.mode):
                    checked, st = now_ns(), lstat(t.local)
            except (OSError, WriteError) as e:
                self._error(t.relpath, f"could not set the exec bit of {t.relpath}: {getattr(e, 'strerror', None) or e}",
                            w.reconcile)
            self._note_in_sync(w, t, st, checked)
            self._skipped(t, w.path, d.reason, w)
            if d.ends_conflict:
                self._settle(t.relpath, "the local file holds the container's version")
            return None
        if d.action is Action.HELD:
            self._held(w, t, d)
            return None
        if w.content is not None:
            started = time.monotonic()
            af = self._open_for(t, d, w.mode)
            try:
                af.write(w.content)
            except BaseException:
                af.abort()
                raise
            self._finish(w, t, d, expect, af, w.md5, started)
            return None
        return (w, t, d, expect)

    def _open_for(self, t: Target, d: Decision, mode: int) -> AtomicFile:
        name = conflict_name(t.name) if d.action is Action.CONFLICT else None
        return AtomicFile(t.dir, t.rel, mode, name=name, on_mkdir=self._made_dirs.append)

    def _note_made_dirs(self) -> None:
        """Record the folders this tool made, so that they go when the container empties them."""
        while self._made_dirs:
            self.ledger.set_meta(f"dir:{self._made_dirs.pop()}", "made")

    # --- type changes: a folder replaced by a file of the same name, or the reverse -------------

    def _in_the_way(self, t: Target, st: os.stat_result | None) -> bool:
        """Whether t is a local folder, or a folder above it (below localDst) a local file."""
        if st is not None:
            return stat_mod.S_ISDIR(st.st_mode) and bool(t.base != t.relpath)
        parent = t.local.rpartition("/")[0]
        above = lstat(Path(parent))
        return not (above is not None and stat_mod.S_ISDIR(above.st_mode)) and self._file_above(t) is not None

    def _file_above(self, t: Target) -> str | None:
        """The first folder on t's way below localDst that is a regular file locally (a symlink
        there is no type change: the safe walk refuses it)."""
        parts = t.relpath.split("/")
        start = t.base.count("/") + 1 if t.base else 0
        for depth in range(start + 1, len(parts)):
            rel = "/".join(parts[:depth])
            st = lstat(t.dir / rel)
            if st is None or not stat_mod.S_ISDIR(st.st_mode):
                return rel if st is not None and stat_mod.S_ISREG(st.st_mode) else None
        return None

    def _ours_unchanged(self, relpath: str, st: os.stat_result) -> bool:
        entry = self.ledger.get(relpath)
        if entry is None or not stat_mod.S_ISREG(st.st_mode):
            return False
        return entry.matches_stat(st) or md5_file(self.rules.project_root / relpath) == entry.md5

    def _remove_ours(self, relpath: str, st: os.stat_result, checked: int) -> None:
        remove_file(self.rules.project_root, relpath, Expected(st, self.ledger.get(relpath).md5, checked))
        self.ledger.remove(relpath)

    async def _make_way(self, w: Work, t: Target, st: os.stat_result | None) -> bool:
        """The container changed a type: remove what is in the way locally when it is only this
        tool's own unchanged files and folders; else report a conflict and touch nothing.
        True when the way is clear."""
        root = self.rules.project_root
        checked = now_ns()
        try:
            if st is None:
                above = self._file_above(t)
                above_st = lstat(root / above) if above else None
                if above_st is None:
                    return True
                if not self._ours_unchanged(above, above_st):
                    self._conflict(w, t, None, f"the container has a folder {above} where a local file is that "
                                               f"downstream sync did not write or that changed; kept it, nothing "
                                               f"written: move it away to sync {t.relpath}")
                    return False
                self._remove_ours(above, above_st, checked)
                return True
            files, folders, others = _inside(root, t.rel)
            theirs = others + [rel for rel, fst in files if not self._ours_unchanged(rel, fst)]
            if theirs:
                self._conflict(w, t, None, f"the container has a file {t.relpath} where a local folder is that "
                                           f"holds files downstream sync did not write or that changed (e.g. "
                                           f"{theirs[0]}); kept it, nothing written: move it away to sync this file")
                return False
            for rel, fst in files:
                self._remove_ours(rel, fst, checked)
            for rel in sorted(folders, key=lambda f: f.count("/"), reverse=True):
                if not remove_empty_dir(root, rel):
                    self._conflict(w, t, None, f"{rel} got new files while it was being replaced by the "
                                               f"container's file {t.relpath}; kept it, nothing written")
                    return False
                self.ledger.set_meta(f"dir:{rel}", "")
            return True
        except LocalChanged:
            self._conflict(w, t, None, f"changed locally while a type change in the container was applied to "
                                       f"{t.relpath}; kept it, nothing written")
            return False

    def _prune(self, t: Target) -> None:
        """After a delete: remove the folders above t that this tool made and that are now empty."""
        rel = t.relpath
        while "/" in rel:
            rel = rel.rpartition("/")[0]
            if rel == t.base or not rel.startswith(f"{t.base}/" if t.base else "") or not self.ledger.meta(f"dir:{rel}"):
                return
            if not remove_empty_dir(self.rules.project_root, rel):
                return
            self.ledger.set_meta(f"dir:{rel}", "")

    def _conflict(self, w: Work, t: Target, copy: str | None, reason: str, md5: str = "") -> None:
        """Report a conflict; with `copy` (holding the container's version, of `md5`) it stays open
        in the ledger until it is resolved or ends (decide.py)."""
        self.stats.conflicts += 1
        if w.reconcile is not None:
            w.reconcile.conflicts += 1
        repeat = bool(self.ledger.meta(f"conflict:{t.relpath}"))
        if copy is not None:
            self.ledger.set_meta(f"conflict:{t.relpath}", w.path)
            self.ledger.set_meta(f"conflict-copy:{t.relpath}", copy)
            self.ledger.set_meta(f"conflict-md5:{t.relpath}", md5)
        event = Conflict(session=self.name, path=t.relpath, remote_path=w.path, remote_copy=copy, reason=reason,
                         repeat=repeat)
        if w.reconcile is not None and copy is not None and reason.startswith(DELETED_LOCALLY):
            w.reconcile.deleted_locally.append(event)  # a folder deleted locally is one line, not one a file
        else:
            self._emit(event)

    def _tell_deleted_locally(self, rec: Reconcile) -> None:
        """The conflicts of a reconcile over files deleted locally: one event per file alone in its
        folder, one per folder for the others (its path the folder, a count in the reason, no copy
        named: resolving the folder settles them all)."""
        by_folder: dict[str, list[Conflict]] = {}
        for event in rec.deleted_locally:
            by_folder.setdefault(event.path.rpartition("/")[0], []).append(event)
        rec.deleted_locally = []
        for folder, events in sorted(by_folder.items()):
            if len(events) == 1:
                self._emit(events[0])
                continue
            first = events[0]
            self._emit(Conflict(session=self.name, path=folder, remote_path=first.remote_path.rpartition("/")[0],
                                remote_copy=None, repeat=all(e.repeat for e in events),
                                reason=f"{len(events)} files in it were deleted locally since they were last "
                                       f"synced (e.g. {first.path.rpartition('/')[2]}); the container's versions "
                                       f"are kept beside them as conflict copies: `downstream-sync resolve "
                                       f"{folder or '.'} --take-remote` brings them back"))

    def _held(self, w: Work, t: Target, d: Decision) -> None:
        """An open conflict stands and its copy holds this version already: nothing is written. A
        reconcile reports it again (a session start says which conflicts are open); a copy that the
        user removed ends it, the local version kept (see check_conflicts)."""
        copy_rel = self.ledger.meta(f"conflict-copy:{t.relpath}")
        if not copy_rel or lstat(self.rules.project_root / copy_rel) is None:
            self._settle(t.relpath, _COPY_REMOVED)
        elif w.reconcile is not None:
            self._conflict(w, t, copy_rel, _explained(d.reason, t.relpath), w.md5)
        else:
            self._skipped(t, w.path, f"still in conflict; {copy_rel} holds this version already", w)

    def check_conflicts(self) -> None:
        """Without waiting for the container: end each open conflict that another process resolved
        (`downstream-sync resolve`), or whose local file now holds the container's version kept for
        it. A file is hashed only when its stat changed since it was last looked at."""
        root = self.rules.project_root
        for relpath in [key.partition(":")[2] for key in self.ledger.meta_keys("conflict:")]:
            self.ledger.refresh(relpath, conflict_keys(self.ledger, relpath))
            md5 = open_conflict(self.ledger, relpath)
            if not self.ledger.meta(f"conflict:{relpath}"):
                self._emit(ConflictResolved(session=self.name, path=relpath, how="resolved by another process"))
                continue
            checked = now_ns()
            st = lstat(root / relpath)
            if md5 is not None and st is not None and stat_mod.S_ISREG(st.st_mode):
                cached = self._hash_cache.get(relpath)
                if cached is not None and stat_proves(st, *cached[:4]):
                    local_md5 = cached[4]
                else:
                    try:
                        local_md5 = md5_file(root / relpath)
                    except OSError:
                        continue
                    self._remember_hash(relpath, st, checked, local_md5)
                if local_md5 == md5:
                    wire = self.ledger.meta(f"conflict:{relpath}")
                    self.ledger.put(Entry(relpath, wire, md5, st.st_size, st.st_mtime_ns, st.st_ino, checked))
                    self._settle(relpath, "the local file holds the container's version")
                    continue
            copy_rel = self.ledger.meta(f"conflict-copy:{relpath}")
            if not copy_rel or lstat(root / copy_rel) is None:
                self._settle(relpath, _COPY_REMOVED)

    def _settle(self, relpath: str, how: str) -> None:
        """The open conflict on t is over: forget it, and remove its copy when that is still as this
        tool wrote it (a copy edited since is the user's merge: it stays)."""
        self.ledger.refresh(relpath, conflict_keys(self.ledger, relpath))
        if not self.ledger.meta(f"conflict:{relpath}"):
            return  # settled meanwhile (by `downstream-sync resolve`)
        root = self.rules.project_root
        copy_rel = self.ledger.meta(f"conflict-copy:{relpath}")
        as_written = written_copy(self.ledger, root, copy_rel) if copy_rel else None
        for key in conflict_keys(self.ledger, relpath):
            self.ledger.set_meta(key, "")
        removed = None
        if as_written is not None:
            try:
                remove_file(root, copy_rel, as_written)
                removed = copy_rel
            except LocalChanged:
                pass
            except WriteError as e:
                self._error(copy_rel, f"could not remove the conflict copy {copy_rel}: {e}; remove it yourself")
        self._emit(ConflictResolved(session=self.name, path=relpath, how=how, removed_copy=removed))
        self._schedule_commit()

    def _synced(self, w: Work, t: Target, action: str, size: int, started: float, old: str | None = None) -> None:
        self.stats.files_synced += 1
        self.stats.bytes_synced += size
        if w.reconcile is not None:
            w.reconcile.synced += 1
        self._emit(FileSynced(session=self.name, path=t.relpath, remote_path=w.path, action=action,  # type: ignore[arg-type]
                              bytes=size, duration=time.monotonic() - started, old_path=old))

    def _finish(self, w: Work, t: Target, d: Decision, expect: Expected | None, af: AtomicFile,
                md5: str, started: float) -> None:
        """Verify and put a fully received file in place, per the decision."""
        self._record(w, t, d, expect, self._place(t, d, expect, af, md5), started)

    def _place(self, t: Target, d: Decision, expect: Expected | None, af: AtomicFile, md5: str) -> tuple:
        """The disk half of _finish (no ledger, no events; safe in a worker thread):
        ("copy",) a conflict copy was written beside the file, ("changed",) the file changed locally
        meanwhile so the copy went beside it, or ("written", new stat, backup name or None, md5, checked)."""
        if d.action is Action.CONFLICT:
            return ("copy", *self._keep_copy(t, af, md5))
        backup = self.policy == "remote-wins"
        if d.action is Action.WRITE_WITH_BACKUP:
            expect = None  # nothing there is this tool's: whatever the new file displaces is kept
        checked = now_ns()
        try:
            new_st, kept = af.commit(md5 or None, expect, backup)
        except LocalChanged:
            return ("changed", *self._keep_copy(t, af, md5))
        return ("written", new_st, kept, af.md5, checked)

    def _keep_copy(self, t: Target, af: AtomicFile, md5: str) -> tuple[str, os.stat_result, int, str]:
        """Put the container's version beside the file as its conflict copy: the first of
        NAME.downstream-conflict, NAME~2.downstream-conflict, ... that is absent or still holds
        what this tool wrote there (a copy the user touched is theirs). Returns name, stat, checked, MD5."""
        for n in range(1, _MAX_COPIES + 1):
            name = conflict_name(t.name, n)
            checked = now_ns()
            try:
                as_written = written_copy(self.ledger, self.rules.project_root, _beside(t.relpath, name))
                st, _ = af.commit(md5 or None, as_written, name=name)
                return name, st, checked, af.md5
            except LocalChanged:
                continue
        af.abort()
        raise WriteError(f"cannot keep the container's version of {t.local}: {_MAX_COPIES} conflict copies "
                         f"beside it hold edits; merge or remove them ({conflict_name(t.name)} and the like)")

    def _record(self, w: Work, t: Target, d: Decision, before: Expected | None, placed: tuple,
                started: float) -> None:
        """The ledger and events half of _finish."""
        if placed[0] in ("copy", "changed"):
            _, copy, st, checked, md5 = placed
            copy_rel = _beside(t.relpath, copy)
            self.ledger.set_meta(f"copy:{copy_rel}", f"{md5} {st.st_size} {st.st_mtime_ns} {st.st_ino} {checked}")
            why = d.reason if placed[0] == "copy" else "changed locally while it was being synced"
            self._conflict(w, t, copy_rel, _explained(why, t.relpath), md5)
            return
        _, new_st, backup, md5, checked = placed
        self.ledger.put(Entry(t.relpath, w.path, md5, new_st.st_size, new_st.st_mtime_ns, new_st.st_ino, checked))
        self._synced(w, t, "created" if before is None else "updated", new_st.st_size, started)
        if d.ends_conflict:
            self._settle(t.relpath, "the local file went back to a version of the container's" if backup is None
                         else "took the container's version (policy remote-wins)")
        if backup is not None:
            why = d.reason if d.action is Action.WRITE_WITH_BACKUP else "changed locally while it was being synced"
            self._conflict(w, t, None, f"{why}; took the container's version (policy remote-wins), "
                                       f"the local one is kept as {backup}")

    async def _fetch(self, items: list[tuple[Work, Target, Decision, os.stat_result | None]], attempt: int = 1) -> None:
        """Download files in one DownloadFiles call and apply each as it completes."""
        assert self.client is not None
        by_path = {w.path: (w, t, d, st) for w, t, d, st in items}
        answered: set[str] = set()
        retry: list = []
        current: _Incoming | None = None
        complete: _Incoming | None = None   # fully received; put in place at the next message boundary

        async def settle() -> None:
            nonlocal complete
            if complete is None:
                return
            done, complete = complete, None
            if done.writing is not None:
                try:
                    await done.writing
                except WriteError as e:
                    w, t = by_path[done.path][:2]
                    self._write_failed(w, t.relpath, e)
                    done.af = None
                except BaseException:  # cancelled (a reconnect, a stop): leave no temporary file
                    if done.af is not None:
                        done.af.abort()
                    raise
            w, t, d, st = by_path[done.path]
            if done.af is not None:
                try:
                    self._finish(w, t, d, st, done.af, done.md5, done.started)
                except WriteError as e:
                    self._write_failed(w, t.relpath, e)
            self._done(w)

        try:
            async for msg in self.client.download_files(list(by_path)):
                if msg.files:
                    await settle()
                    if current is not None:
                        raise LostStream(f"the helper broke the DownloadFiles stream: {current.path} was cut short")
                    for blob in msg.files:
                        self._take_blob(blob, by_path, answered)
                    continue
                if msg.HasField("error"):
                    err = msg.error
                    for pending in (current, complete):
                        if pending is not None and pending.path == err.path and pending.af is not None:
                            if pending.writing is not None:
                                await asyncio.gather(pending.writing, return_exceptions=True)
                            pending.af.abort()
                    if current is not None and current.path == err.path:
                        current = None
                    if complete is not None and complete.path == err.path:
                        complete = None
                    await settle()
                    answered.add(err.path)
                    item = by_path.get(err.path)
                    if item is not None:
                        if err.code == pb.FileError.CHANGED and attempt < 3:
                            retry.append(item)
                        else:
                            self._fetch_failed(err, item)
                    continue
                if msg.HasField("header"):
                    await settle()
                    if current is not None:
                        raise LostStream(f"the helper broke the DownloadFiles stream: {current.path} was cut short")
                    h = msg.header
                    if h.path not in by_path or h.path in answered:
                        raise LostStream(f"the helper sent {h.path!r}, which was not asked for")
                    answered.add(h.path)
                    w, t, d, st = by_path[h.path]
                    w.size = h.size
                    af = None
                    try:
                        af = self._open_for(t, d, h.mode or w.mode)
                    except WriteError as e:
                        self._write_failed(w, t.relpath, e)
                    current = _Incoming(h.path, af, h.size, (h.md5 or w.md5).lower(), time.monotonic())
                if msg.chunk:
                    if current is None:
                        raise LostStream("the helper sent bytes outside any file")
                    current.received += len(msg.chunk)
                    if current.af is not None:
                        try:
                            # Large chunks are hashed and written in a thread while the next one
                            # arrives; one write at a time per file keeps the order and bounds memory.
                            if current.writing is not None:
                                await current.writing
                                current.writing = None
                            if current.size >= _HASH_IN_THREAD:
                                current.writing = asyncio.get_running_loop().run_in_executor(
                                    None, current.af.write, msg.chunk)
                            else:
                                current.af.write(msg.chunk)
                        except WriteError as e:
                            w, t = by_path[current.path][:2]
                            self._write_failed(w, t.relpath, e)
                            current.af = None
                            current.writing = None
                if current is not None and current.received >= current.size:
                    complete, current = current, None
            await settle()
            if current is not None:
                raise LostStream(f"the helper ended DownloadFiles in the middle of {current.path}")
        except BaseException:
            for pending in (current, complete):
                if pending is not None and pending.af is not None:
                    if pending.writing is not None:
                        await asyncio.gather(pending.writing, return_exceptions=True)
                    pending.af.abort()
            raise
        for path in by_path:
            if path not in answered:
                w, t, _, _ = by_path[path]
                self._error(t.relpath, f"the helper did not send {path}", w.reconcile)
                self._done(w)
        if retry:
            await self._fetch(retry, attempt + 1)

    def _take_blob(self, blob: pb.FileBlob, by_path: dict, answered: set[str]) -> None:
        """A whole small file from DownloadFiles: write, verify and put it in place."""
        h = blob.header
        if h.path not in by_path or h.path in answered:
            raise LostStream(f"the helper sent {h.path!r}, which was not asked for")
        answered.add(h.path)
        w, t, d, st = by_path[h.path]
        w.size = h.size
        started = time.monotonic()
        try:
            if len(blob.content) != h.size:
                raise WriteError(f"the helper sent {len(blob.content)} bytes of {h.path}, not {h.size}")
            af = self._open_for(t, d, h.mode or w.mode)
            try:
                af.write(blob.content)
            except BaseException:
                af.abort()
                raise
            self._finish(w, t, d, st, af, (h.md5 or w.md5).lower(), started)
        except WriteError as e:
            self._write_failed(w, t.relpath, e)
        self._done(w)

    def _fetch_failed(self, err: pb.FileError, item) -> None:
        w, t, _, _ = item
        if err.code == pb.FileError.NOT_FOUND:
            self._skipped(t, w.path, "removed in the container before it could be downloaded", w)
        elif err.code == pb.FileError.CHANGED:
            self._skipped(t, w.path, "kept changing in the container during the download; the next change brings it", w)
        else:
            self._error(t.relpath, err.message or f"the helper could not send {w.path} (code {err.code})", w.reconcile)
        self._done(w)

    async def _apply_delete(self, w: Work, t: Target) -> None:
        checked = now_ns()
        st = lstat(t.local)
        entry = self.ledger.get(t.relpath)
        if st is not None and not stat_mod.S_ISREG(st.st_mode):
            self._skipped(t, w.path, "not a regular file locally; kept", w)
            return
        local_md5 = await self._local_md5(t, st, checked)
        d = decide_delete(local_md5, entry.md5 if entry else None, self.policy, open_conflict(self.ledger, t.relpath))
        if d.ends_conflict:  # the container's version kept for it no longer exists
            self._settle(t.relpath, "deleted in the container" + ("; the local file is kept" if d.action is Action.KEEP
                                                          else ""))
            if d.action is Action.KEEP:
                return  # reported as a conflict already
        if st is None:
            if entry is not None:
                self.ledger.remove(t.relpath)
            self._skipped(t, w.path, "already absent", w)
            return
        started = time.monotonic()
        if d.action is Action.SKIP:
            self._skipped(t, w.path, d.reason, w)
        elif d.action is Action.DELETE:
            try:
                kept = remove_file(t.dir, t.rel, _expected(st, local_md5, checked), self.policy == "remote-wins")
            except LocalChanged:
                self._conflict(w, t, None, "deleted in the container but changed locally meanwhile; kept the local file")
                return
            self.ledger.remove(t.relpath)
            self._prune(t)
            self._synced(w, t, "deleted", 0, started)
            if kept:
                self._conflict(w, t, None, f"changed locally while it was being deleted; deleted it (policy "
                                           f"remote-wins), the local one is kept as {kept}")
        elif d.action is Action.KEEP:
            self._conflict(w, t, None, d.reason)
        elif d.action is Action.DELETE_WITH_BACKUP:
            kept = remove_file(t.dir, t.rel, None, True)
            self.ledger.remove(t.relpath)
            self._synced(w, t, "deleted", 0, started)
            if kept:
                    self._conflict(w, t, None, f"{d.reason}; deleted it (policy remote-wins), the local one is "
                                           f"kept as {kept}")

    async def _apply_rename(self, w: Work):
        new_t = self.target(w.path, quiet=True)
        old_t = self.target(w.old_path, quiet=True) if w.old_path else None
        old_w = Work("delete", w.old_path, reconcile=w.reconcile)
        if new_t is None:
            self.target(w.path, w=w)  # reports why
            if old_t is not None:
                await self._apply_delete(old_w, old_t)
            return None
        if old_t is not None:
            checked = now_ns()
            old_st = lstat(old_t.local)
            old_entry = self.ledger.get(old_t.relpath)
            new_st = lstat(new_t.local)
            if (old_st is not None and stat_mod.S_ISREG(old_st.st_mode) and old_entry is not None
                    and new_st is None):
                old_md5 = await self._local_md5(old_t, old_st, checked)
                if old_md5 == old_entry.md5 and (not w.md5 or w.md5 == old_md5):
                    started = time.monotonic()
                    try:
                        checked = now_ns()
                        st = move_file(old_t.dir, old_t.rel, new_t.dir, new_t.rel,
                                       Expected(old_st, old_md5, checked), replace=False)
                    except LocalChanged:
                        pass
                    else:
                        self.ledger.remove(old_t.relpath)
                        self.ledger.put(Entry(new_t.relpath, w.path, old_md5, st.st_size, st.st_mtime_ns, st.st_ino,
                                              checked))
                        self._synced(w, new_t, "renamed", st.st_size, started, old=old_t.relpath)
                        return None
        need = await self._apply_change(w, new_t)
        if old_t is not None:
            await self._apply_delete(old_w, old_t)
        return need

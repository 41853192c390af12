"""Applying work to the local disk by the rules: the ledger and the events of each change,
delete or rename.

For each item: map the wire path (targets.py), look at the local file (its MD5 known from the
ledger or the hash cache when its stat proves it, local.py), decide (decide.py), then have the
file placed (place.py), kept as a conflict copy, backed up, deleted or moved, and record the one
`Outcome` in the ledger and tell the subscribers. A type change in the container (a folder
replaced by a file of the same name, or the reverse) removes what is in the way locally only when
it is all this tool's own unchanged files and the folders it made (recorded in the ledger's meta as
`dir:PATH`), and those folders go when a delete empties them; anything of the user's makes it a
conflict instead.

Changes that came with their content are written a group at a time in a worker thread
(`place.write_change`: values in, an Outcome out; file creation is mostly kernel work, and groups
of other pipeline workers overlap). Files whose content was not inline are downloaded
(download.py, or the data lane for large ones, lane.py), each handed back as a value and put in
place here as soon as it is complete. Ledger entries and events are made on the loop only.
Must not import pygls, lsprotocol or terminal code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat as stat_mod
import time
from typing import Callable, NamedTuple

from sync_helper.protocol import CHANGED, NOT_FOUND

from .client import HelperClient, connection_lost
from .decide import DELETED_LOCALLY, Action, Decision, Policy, decide_change, decide_delete
from .download import HASH_IN_THREAD, LostStream, NotReceived, Received, Wanted, download
from .events import (Conflict, ConflictResolved, DownloadProgress, Event, FileSkipped, FileSynced, ReconcileProgress,
                     SessionStats, SyncError)
from .lane import Lane, fetch_large
from .ledger import Entry, Ledger
from .local import HashCache, md5_now
from .place import (Change, Outcome, Result, alias, expected, file_above, in_sync, in_the_way, keep_copy, open_temp,
                    place, write_change)
from .reconcile import Reconcile
from .rules import RuleSet
from .targets import Target, Unmapped, beside, inside, map_wire
from .work import Work, merge
from .writer import Expected, LocalChanged, RefusedPath, WriteError, lstat, md5_file, move_file, now_ns, remove_empty_dir, remove_file

__all__ = ["Applier", "Work", "Target", "LostStream", "merge", "conflict_keys", "open_conflict", "written_copy"]

log = logging.getLogger("downstream_sync")

_FETCH_BATCH_FILES = 256
_FETCH_BATCH_BYTES = 64 << 20


class _Stat(NamedTuple):
    """The part of a stat that a record of a written file keeps."""
    st_size: int
    st_mtime_ns: int
    st_ino: int


def written_copy(ledger: Ledger, root, relpath: str) -> Expected | None:
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


def _folded(t: Target, other: str) -> str:
    """The reason of a conflict between t and the local file `other` that its name reaches."""
    return (f"this file system takes {t.name} and the local {other} for one name (it does not tell case or "
            f"Unicode forms apart), and the container has both or changed one of them: the local {other} is kept")


def _explained(reason: str, relpath: str) -> str:
    """A conflict's reason, with what to do when that is not plain."""
    if reason == DELETED_LOCALLY:
        return f"{reason}; `downstream-sync resolve {relpath} --take-remote` brings it back"
    return reason


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
        self._hashes = HashCache()
        self._renamed_away: dict[str, int] = {}
        self.every_skip = False  # also report each file a reconcile skips (a face that shows them all)

    # --- reporting ------------------------------------------------------------------------------

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

    def _synced(self, w: Work, t: Target, action: str, size: int, started: float, old: str | None = None) -> None:
        self.stats.files_synced += 1
        self.stats.bytes_synced += size
        if w.reconcile is not None:
            w.reconcile.synced += 1
        self._emit(FileSynced(session=self.name, path=t.relpath, remote_path=w.path, action=action,  # type: ignore[arg-type]
                              bytes=size, duration=time.monotonic() - started, old_path=old))

    # --- mapping --------------------------------------------------------------------------------

    def target(self, wire: str, quiet: bool = False, w: Work | None = None) -> Target | None:
        """The local target of a wire path, or None (reported, unless quiet)."""
        found = map_wire(self.rules, wire)
        if isinstance(found, Unmapped):
            if not quiet:
                if found.error:
                    self._error(found.path or None, found.reason, w.reconcile if w else None)
                else:
                    self._skipped(found.path, wire, found.reason, w)
            return None
        if self.ledger is not None and self.ledger.meta(f"conflict:{found.relpath}"):
            # Another process (`downstream-sync resolve`) may have settled it: read its record again.
            self.ledger.refresh(found.relpath, conflict_keys(self.ledger, found.relpath))
        return found

    def _relpath_of(self, wire: str) -> str | None:
        t = self.target(wire, quiet=True)
        return t.relpath if t else None

    def renamed_away(self, path: str, version: int) -> None:
        """Note that the file at `path` was renamed away at `version` (see _apply_change)."""
        if len(self._renamed_away) > 10000:
            self._renamed_away.clear()
        self._renamed_away[path] = version

    def _is_renamed_away(self, w: Work) -> bool:
        # Items of different paths run in parallel: an older change of a path that was renamed
        # away since (its inline content in hand) must not bring the old name back.
        return bool(w.version) and self._renamed_away.get(w.path, 0) > w.version

    # --- the local file -------------------------------------------------------------------------

    async def _local_md5(self, t: Target, st: os.stat_result | None, checked: int) -> str | None:
        """The local file's MD5 (None when absent): from the ledger or the cache when its stat proves
        it, else hashed (large files in a worker thread). `checked`: the clock before st was taken."""
        known = self._hashes.known(t.relpath, self.ledger.get(t.relpath))
        if st is not None and st.st_size >= HASH_IN_THREAD and known.md5_for(st) is None:
            md5, look = await asyncio.get_running_loop().run_in_executor(None, md5_now, t.local, st, known, checked)
        else:
            md5, look = md5_now(t.local, st, known, checked)
        self._hashes.remember(t.relpath, look)
        return md5

    def _regular_or_absent(self, t: Target, st: os.stat_result | None, w: Work) -> bool:
        if st is not None and not stat_mod.S_ISREG(st.st_mode):
            what = "a symlink" if stat_mod.S_ISLNK(st.st_mode) else "not a regular file"
            self._error(t.relpath, f"refused to write {t.local}: it is {what}; move it away to sync this file",
                        w.reconcile)
            return False
        return True

    def _note_in_sync(self, w: Work, t: Target, st: os.stat_result, checked: int) -> None:
        """Record that the local file, as of `checked`, already holds the container's version."""
        entry = self.ledger.get(t.relpath)
        if entry is None or entry.md5 != w.md5 or not entry.matches_stat(st):
            self.ledger.put(Entry(t.relpath, w.path, w.md5, st.st_size, st.st_mtime_ns, st.st_ino, checked))

    # --- applying work --------------------------------------------------------------------------

    async def handle(self, batch: list[Work]) -> None:
        """The pipeline's handler: apply each item; download what is not inline in batches."""
        fetch: list[Wanted] = []
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
        await self._fetch_all(fetch)
        self._schedule_commit()

    async def _write_inline(self, group: list[tuple[Work, Target]]) -> None:
        """Changes that came with their content: the disk work of a group runs in a worker thread
        (place.write_change), then the ledger and the events here. A lone change is written here."""
        started = time.monotonic()
        changes = [self._change_of(w, t) for w, t in group]
        if len(changes) == 1:
            outcomes = [write_change(changes[0])]
        else:
            outcomes = await asyncio.get_running_loop().run_in_executor(None, _write_all, changes)
        for (w, t), o in zip(group, outcomes):
            await self._conclude(w, t, o, started)
            self._done(w)

    def _change_of(self, w: Work, t: Target) -> Change:
        assert w.content is not None
        return Change(t, w.md5, w.mode, w.content, self._hashes.known(t.relpath, self.ledger.get(t.relpath)),
                      open_conflict(self.ledger, t.relpath), self.policy, self._is_renamed_away(w))

    async def _conclude(self, w: Work, t: Target, o: Outcome, started: float) -> None:
        """Record an outcome: the ledger and the events of what happened to the file (both paths,
        inline and downloaded, end here)."""
        try:
            self._hashes.remember(t.relpath, o.look)
            self._note_made_dirs(o.made)
            if o.result is Result.FAILED:
                assert o.error is not None
                raise o.error
            if o.result is Result.RENAMED_AWAY:
                self._skipped(t, w.path, "renamed in the container since", w)
            elif o.result is Result.RETYPE:
                need = await self._apply_change(w, t)
                if need is not None:  # not inline after all (cannot be: the content is in hand)
                    await self._fetch_all([need])
            elif o.result is Result.REFUSED:
                self._regular_or_absent(t, o.st, w)
            elif o.result is Result.IN_SYNC:
                self._in_sync(w, t, o)
            elif o.result is Result.HELD:
                self._held(w, t, o.decision)
            else:
                if o.unplaced is not None:
                    o = keep_copy(t, o, lambda name: written_copy(self.ledger, self.rules.project_root,
                                                                  beside(t.relpath, name)))
                self._record(w, t, o, started)
        except WriteError as e:
            self._write_failed(w, t.relpath, e)
        except Exception as e:
            if connection_lost(e):
                raise
            log.exception("session %s: failed on %s", self.name, w.path)
            self._error(t.relpath, f"could not sync {w.path}: {e}", w.reconcile)

    def _in_sync(self, w: Work, t: Target, o: Outcome) -> None:
        """The local file holds the container's content (the one answer, whichever path found it)."""
        if isinstance(o.error, RefusedPath):  # reached through a symlink: not this tool's to record
            self._error(t.relpath, str(o.error), w.reconcile)
            return
        if o.error is not None:
            e = o.error
            self._error(t.relpath, f"could not set the exec bit of {t.relpath}: {getattr(e, 'strerror', None) or e}",
                        w.reconcile)
        self._note_in_sync(w, t, o.st, o.checked)
        self._skipped(t, w.path, o.decision.reason, w)
        if o.decision.ends_conflict:
            self._settle(t.relpath, "the local file holds the container's version")

    def _record(self, w: Work, t: Target, o: Outcome, started: float) -> None:
        """The ledger entry and the events of a file put in place (or beside, as a conflict copy)."""
        d = o.decision
        if o.result in (Result.COPY, Result.CHANGED):
            st = o.st
            copy_rel = beside(t.relpath, o.copy)
            self.ledger.set_meta(f"copy:{copy_rel}", f"{o.md5} {st.st_size} {st.st_mtime_ns} {st.st_ino} {o.checked}")
            why = d.reason if o.result is Result.COPY else "changed locally while it was being synced"
            other = alias(t) if o.before is not None else None
            if other is not None:
                why = _folded(t, other)
            self._conflict(w, t, copy_rel, _explained(why, t.relpath), o.md5)
            return
        new_st = o.st
        self.ledger.put(Entry(t.relpath, w.path, o.md5, new_st.st_size, new_st.st_mtime_ns, new_st.st_ino, o.checked))
        self._synced(w, t, "created" if o.before is None else "updated", new_st.st_size, started)
        if d.ends_conflict:
            self._settle(t.relpath, "the local file went back to a version of the container's" if o.backup is None
                         else "took the container's version (policy remote-wins)")
        if o.backup is not None:
            why = d.reason if d.action is Action.WRITE_WITH_BACKUP else "changed locally while it was being synced"
            self._conflict(w, t, None, f"{why}; took the container's version (policy remote-wins), "
                                       f"the local one is kept as {o.backup}")

    def _note_made_dirs(self, made: tuple[str, ...]) -> None:
        """Record the folders this tool made, so that they go when the container empties them."""
        for rel in made:
            self.ledger.set_meta(f"dir:{rel}", "made")

    async def _apply_change(self, w: Work, t: Target) -> Wanted | None:
        """A change on the loop: decide, write what is in hand, or say what to download."""
        if self._is_renamed_away(w):
            self._skipped(t, w.path, "renamed in the container since", w)
            return None
        checked = now_ns()
        st = lstat(t.local)
        if in_the_way(t, st):
            if not await self._make_way(w, t, st):
                return None
            checked, st = now_ns(), lstat(t.local)
        if not self._regular_or_absent(t, st, w):
            return None
        local_md5 = await self._local_md5(t, st, checked)
        entry = self.ledger.get(t.relpath)
        before = expected(st, local_md5, checked)
        # No MD5 from the helper (a seed helper): download and decide on the header's MD5.
        d = decide_change(w.md5, local_md5, entry.md5 if entry else None, self.policy,
                          open_conflict(self.ledger, t.relpath))
        if not w.md5 and w.content is None:
            return Wanted(w, t, d, before)
        if d.action is Action.SKIP:
            self._in_sync(w, t, in_sync(t, d, st, checked, w.mode))
            return None
        if d.action is Action.HELD:
            self._held(w, t, d)
            return None
        if w.content is not None:
            started = time.monotonic()
            made: list[str] = []
            af = open_temp(t, d, w.mode, made)
            try:
                af.write(w.content)
            except BaseException:
                af.abort()
                raise
            await self._conclude(w, t, place(t, d, before, af, w.md5, self.policy, tuple(made)), started)
            return None
        return Wanted(w, t, d, before)

    # --- downloads ------------------------------------------------------------------------------

    async def _fetch_all(self, fetch: list[Wanted]) -> None:
        """Download what the changes need: large files on the data lane, the rest in batches."""
        if self.lane is not None and self.lane.usable and self.client is not None:
            rest = []
            for wanted in fetch:
                got = await fetch_large(self.client, self.lane, wanted, self._progress_of(wanted))
                if got is None:
                    rest.append(wanted)
                else:
                    await self._take(got)
            fetch = rest
        for start in range(0, len(fetch), _FETCH_BATCH_FILES):
            part = fetch[start:start + _FETCH_BATCH_FILES]
            chunk: list[Wanted] = []
            size = 0
            for wanted in part:
                chunk.append(wanted)
                size += wanted.work.size
                if size >= _FETCH_BATCH_BYTES:
                    await self._fetch(chunk)
                    chunk, size = [], 0
            if chunk:
                await self._fetch(chunk)

    def _progress_of(self, wanted: Wanted) -> Callable[[int, int, bool], None]:
        w, t = wanted.work, wanted.target

        def progress(done: int, total: int, finished: bool) -> None:
            self._emit(DownloadProgress(session=self.name, path=t.relpath, remote_path=w.path,
                                        bytes_done=done, bytes_total=total, finished=finished))
        return progress

    async def _fetch(self, wanted: list[Wanted]) -> None:
        """Download files in one DownloadFiles call and put each in place as it completes."""
        assert self.client is not None
        async with contextlib.aclosing(download(self.client, wanted)) as answers:
            async for got in answers:
                await self._take(got)

    async def _take(self, got: Received | NotReceived) -> None:
        """Put a downloaded file in place, or report why it was not."""
        wanted = got.wanted
        w, t = wanted.work, wanted.target
        if isinstance(got, Received):
            try:
                o = place(t, wanted.decision, wanted.before, got.file, got.md5, self.policy, got.made)
            except WriteError as e:
                self._note_made_dirs(got.made)
                self._write_failed(w, t.relpath, e)
            else:
                await self._conclude(w, t, o, got.started)
        elif got.error is not None:
            self._write_failed(w, t.relpath, got.error)
        elif got.lost:
            self._error(t.relpath, got.message, w.reconcile)
        elif got.code == NOT_FOUND:
            self._skipped(t, w.path, "removed in the container before it could be downloaded", w)
        elif got.code == CHANGED:
            self._skipped(t, w.path, "kept changing in the container during the download; the next change brings it", w)
        else:
            self._error(t.relpath, got.message or f"the helper could not send {w.path} (code {got.code})", w.reconcile)
        self._done(w)

    # --- type changes: a folder replaced by a file of the same name, or the reverse -------------

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
                above = file_above(t)
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
            files, folders, others = inside(root, t.rel)
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
                try:
                    local_md5, look = md5_now(str(root / relpath), st, self._hashes.known(relpath, None), checked)
                except OSError:
                    continue
                self._hashes.remember(relpath, look)
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
        if d.action in (Action.DELETE, Action.DELETE_WITH_BACKUP) and (other := alias(t)) is not None:
            # The file there is another name's (a case twin the container still has, or renamed to).
            self.ledger.remove(t.relpath)
            self._skipped(t, w.path, f"deleted in the container, but on this file system {t.name} reaches the local "
                                     f"{other}, a file of another name: kept", w)
            return
        if d.action is Action.SKIP:
            self._skipped(t, w.path, d.reason, w)
        elif d.action is Action.DELETE:
            try:
                kept = remove_file(t.dir, t.rel, expected(st, local_md5, checked), self.policy == "remote-wins")
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
            by_case = new_st is not None and alias(new_t) == old_t.name  # a rename by case (or Unicode form) only
            if (old_st is not None and stat_mod.S_ISREG(old_st.st_mode) and old_entry is not None
                    and (new_st is None or by_case)):
                old_md5 = await self._local_md5(old_t, old_st, checked)
                if old_md5 == old_entry.md5 and (not w.md5 or w.md5 == old_md5):
                    started = time.monotonic()
                    try:
                        checked = now_ns()
                        st = move_file(old_t.dir, old_t.rel, new_t.dir, new_t.rel,
                                       Expected(old_st, old_md5, checked), replace=by_case)
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


def _write_all(changes: list[Change]) -> list[Outcome]:
    """The disk work of a group of inline changes (in a worker thread)."""
    return [write_change(c) for c in changes]

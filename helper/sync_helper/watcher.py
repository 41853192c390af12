"""Watching the targets with inotify, through watchdog's inotify layer, one watch per non-excluded folder.

Owns the map of inotify watch descriptors to (target, folder), the quiet-interval timers, move pairing
(IN_MOVED_FROM/IN_MOVED_TO by cookie), watching the nearest existing parent of a target that does not
exist yet (it is "missing": unknown, not empty), reading such a target whole when it appears before
clients take a fresh snapshot of it, and the initial scan. It turns inotify events into calls on the
Tracker. IN_CLOSE_WRITE is acted on at once; IN_MODIFY without a close waits for a quiet interval
(bounded by a maximum delay).
The inotify reader is watchdog's thread; it hands events to the loop with call_soon_threadsafe.
Must not import grpc.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import threading
import time
import warnings
from typing import Callable

from watchdog.observers.inotify_c import InotifyConstants as IN
from watchdog.observers.inotify_c import InotifyFD

from .index import FileInfo
from .paths import Target, Targets
from .tracker import Tracker, hash_file, info_of

__all__ = ["Watcher"]

log = logging.getLogger("app-server")

MASK = (IN.IN_CLOSE_WRITE | IN.IN_MODIFY | IN.IN_ATTRIB | IN.IN_CREATE | IN.IN_DELETE | IN.IN_MOVED_FROM
        | IN.IN_MOVED_TO | IN.IN_DELETE_SELF | IN.IN_MOVE_SELF | IN.IN_ONLYDIR | IN.IN_DONT_FOLLOW
        | IN.IN_EXCL_UNLINK)
QUIET = 0.15      # seconds without IN_MODIFY before a file still open for writing is checked
MAX_DELAY = 1.5   # a file appended to without pause is still checked this often (and sent, within 2 s)
MAX_HELD = 100_000  # events kept while the first index is built; past it, one rescan instead
MOVE_PAIRING = 0.05  # how long an IN_MOVED_FROM waits for its IN_MOVED_TO
SETTLE = 0.5      # a target that appeared is declared present once its files went unchanged this long...
SETTLE_MAX = 10.0  # ...or after this long at most (a target still being filled is read as it is then)

warnings.filterwarnings("ignore", message="Callback with id", category=RuntimeWarning)


class _Forward:
    """The callback watchdog's reader thread calls; it batches events onto the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, handle: Callable[[list], None]):
        self._loop = loop
        self._handle = handle
        self._lock = threading.Lock()
        self._batch: list = []

    def _push(self, item) -> None:
        with self._lock:
            first = not self._batch
            self._batch.append(item)
        if first:
            try:
                self._loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # the loop is closed: the helper is exiting
                pass

    def _drain(self) -> None:
        with self._lock:
            batch, self._batch = self._batch, []
        self._handle(batch)

    def on_event(self, event) -> None:
        self._push(("event", event))

    def on_watch_deleted(self, wd) -> None:
        self._push(("gone", wd))

    def on_queue_overflow(self) -> None:
        self._push(("overflow", None))


class Watcher:
    """Watches every target; reports changes to the tracker."""

    def __init__(self, targets: Targets, tracker: Tracker, on_overflow: Callable[[], None],
                 on_found: Callable[[], None] = lambda: None):
        self.targets = targets
        self.tracker = tracker
        self.on_overflow = on_overflow
        self.on_found = on_found  # a missing target was read whole: clients need a fresh snapshot
        self.ready = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._fd = InotifyFD.get_instance()
        self._cb = _Forward(self._loop, self._handle_batch)
        self._id = id(self)
        self._dirs: dict[int, tuple[Target, str]] = {}
        self._waiting: dict[int, set[Target]] = {}  # ancestor watch -> targets that do not exist yet
        self._quiet: dict[str, list] = {}
        self._moves: dict[int, tuple[Target, str, bool] | None] = {}
        self._held: list = []
        self._limit_logged = False
        self._attaching: dict[Target, float] = {}  # target being attached -> time of its last file event

    # -- watches ---------------------------------------------------------------------------------

    def watch_count(self) -> int:
        return len(set(self._dirs) | set(self._waiting))

    def _add_watch(self, path: str) -> int | None:
        try:
            return self._fd.add_callback(os.fsencode(path), MASK, self._cb, self._id)
        except FileNotFoundError:
            return None
        except OSError as e:
            if e.errno == errno.ENOSPC:
                if not self._limit_logged:
                    self._limit_logged = True
                    log.error("app-server: cannot watch %s and further folders: the inotify watch limit is "
                              "reached (raise fs.inotify.max_user_watches, or exclude more)", path)
                return None
            log.error("app-server: cannot watch %s: %s", path, e.strerror or e)
            return None

    def _remove_watch(self, wd: int) -> None:
        if wd in self._dirs or wd in self._waiting:
            return
        self._fd.remove_callbacks([(wd, self._id)])

    def _walk(self, target: Target, rel: str, on_file: Callable[[Target, str], None],
              dirs: dict[int, tuple[Target, str]]) -> None:
        """Watch `rel` and every non-excluded folder below it; call on_file for each entry that is a file."""
        stack = [rel]
        while stack:
            d = stack.pop()
            if target.excluded(d) or target.everything_below_excluded(d):
                continue
            wd = self._add_watch(target.abs(d))
            if wd is None:
                continue
            dirs[wd] = (target, d)
            try:
                with os.scandir(target.abs(d)) as it:
                    entries = list(it)
            except OSError as e:
                log.error("app-server: cannot read folder %s: %s", target.abs(d), e.strerror or e)
                continue
            for entry in entries:
                child = f"{d}/{entry.name}" if d else entry.name
                try:
                    if not _utf8(entry.name):
                        self._loop.call_soon_threadsafe(self.tracker.skip_name, target.abs(d),
                                                        os.fsencode(entry.name), entry.is_dir(follow_symlinks=False))
                    elif entry.is_dir(follow_symlinks=False):
                        stack.append(child)
                    elif not target.excluded(child):
                        on_file(target, child)
                except OSError:
                    continue

    def _watch_tree(self, target: Target, rel: str) -> None:
        """A folder appeared (created or moved in): watch it, and check every file in it once it is quiet
        (a file may still be being written; its IN_CLOSE_WRITE, if any, checks it at once)."""
        self._walk(target, rel, self._quiet_check, self._dirs)

    def _unwatch_tree(self, target: Target, rel: str) -> None:
        for wd in self._wds_under(target, rel):
            del self._dirs[wd]
            self._remove_watch(wd)

    def _wds_under(self, target: Target, rel: str) -> list[int]:
        prefix = rel + "/"
        return [wd for wd, (t, d) in self._dirs.items() if t is target and (not rel or d == rel or d.startswith(prefix))]

    # -- start -----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Index and watch every existing target (hashing off the loop); wait for the missing ones."""
        try:
            await self._start()
        finally:
            self.ready.set()  # clients are served even when indexing failed (the error is logged)
        held, self._held = self._held, []
        self._handle_batch(held)

    async def _start(self) -> None:
        for target in self.targets:
            if not os.path.isdir(target.dir):
                if os.path.exists(target.dir):
                    log.error("app-server: target %s (%s) is not a folder; it is watched until it becomes one",
                              target.name, target.dir)
                else:
                    log.warning("app-server: target %s (%s) does not exist yet; it is watched for (clients keep "
                                "their copies of its files until it appears)", target.name, target.dir)
                self.tracker.index.missing.add(target.name)
                self._wait_for(target)
                continue
            if not os.access(target.dir, os.R_OK | os.X_OK):
                log.error("app-server: target %s (%s) is not readable; its files cannot be synced",
                          target.name, target.dir)
            dirs, files = await self._loop.run_in_executor(None, self._initial_scan, target)
            self._dirs.update(dirs)
            self.tracker.index.files.update(files)

    def _initial_scan(self, target: Target) -> tuple[dict, dict[str, FileInfo]]:
        found: list[tuple[Target, str]] = []
        dirs: dict[int, tuple[Target, str]] = {}
        self._walk(target, "", lambda t, r: found.append((t, r)), dirs)
        files: dict[str, FileInfo] = {}
        for t, rel in found:
            got = hash_file(t, rel)
            if got is not None:
                st, md5 = got
                files[t.wire(rel)] = info_of(st, md5)
        return dirs, files

    def _wait_for(self, target: Target) -> None:
        """Watch the nearest existing parent of a missing target; attach when the target appears."""
        while True:
            self._unwait(target)
            if os.path.isdir(target.dir):
                self._appeared(target)
                return
            path = _nearest_folder(target.dir)
            wd = self._add_watch(path) if path else None
            if wd is None:
                if path and not os.path.isdir(path):
                    continue  # removed under us (an rm -rf still under way): the next folder up
                log.error("app-server: cannot watch any parent of target %s", target.name)
                return
            self._waiting.setdefault(wd, set()).add(target)
            if not os.path.isdir(target.dir) and _nearest_folder(target.dir) == path:
                return  # nothing appeared while the watch was added; its events take over

    def _appeared(self, target: Target) -> None:
        if target in self._attaching:
            return
        log.info("app-server: target %s appeared; reading it", target.name)
        self._attaching[target] = time.monotonic()
        self._loop.create_task(self._attach(target)).add_done_callback(_log_failure)

    async def _attach(self, target: Target) -> None:
        """Read a target that appeared whole (hashing off the loop), publish its files, then tell clients
        to take a fresh snapshot, which decides what is gone: until then the target stays missing."""
        try:
            dirs, files = await self._loop.run_in_executor(None, self._initial_scan, target)
            self._dirs.update(dirs)
            for wire, info in files.items():
                self.tracker.found(wire, info)
            self._walk(target, "", self.tracker.check, self._dirs)  # what changed while it was read
            started = time.monotonic()
            while self._unsettled(target) and time.monotonic() - started < SETTLE_MAX:
                await asyncio.sleep(QUIET)
        finally:
            self._attaching.pop(target, None)
        if not os.path.isdir(target.dir):
            self._lost_root(target)  # gone again while it was read
            return
        self.tracker.index.missing.discard(target.name)
        self.tracker.index.refresh()
        log.info("app-server: target %s is watched (%d files)", target.name, len(files))
        self.on_found()

    def _unsettled(self, target: Target) -> bool:
        """True while files of a target being attached still change or wait to be checked."""
        return (time.monotonic() - self._attaching[target] < SETTLE or self.tracker.hashing_under(target)
                or any(entry[0] is target for entry in self._quiet.values()))

    def _unwait(self, target: Target) -> None:
        for wd, waiting in list(self._waiting.items()):
            waiting.discard(target)
            if not waiting:
                del self._waiting[wd]
                self._remove_watch(wd)

    # -- events ----------------------------------------------------------------------------------

    def _handle_batch(self, batch: list) -> None:
        if not self.ready.is_set():
            if len(self._held) < MAX_HELD:
                self._held.extend(batch)
            elif not self._held or self._held[-1][0] != "overflow":
                self._held = [("overflow", None)]  # too many to keep: rescan once indexing is done
            return
        for what, item in batch:
            try:
                if what == "event":
                    self._on_event(item)
                elif what == "gone":
                    self._on_gone(item)
                else:
                    self._on_overflow()
            except Exception:  # a fault here must never stop the helper
                log.exception("app-server: error while handling a file event")

    def _on_overflow(self) -> None:
        log.warning("app-server: the kernel dropped file events (inotify queue overflow); rescanning")
        for wire in list(self.tracker.index.files):
            try:
                target, rel = self.targets.resolve(wire)
            except Exception:
                continue
            self.tracker.check(target, rel)
        for target in self.targets:
            if os.path.isdir(target.dir):
                # Watch what is new and compare every file's stat: only what changed is hashed again.
                self._walk(target, "", self.tracker.check, self._dirs)
        self.on_overflow()

    def _on_gone(self, wd: int) -> None:
        entry = self._dirs.pop(wd, None)
        waiting = self._waiting.pop(wd, set())
        if entry is not None and entry[1] == "":
            self._lost_root(entry[0])
        for target in waiting:
            self._wait_for(target)

    def _lost_root(self, target: Target) -> None:
        """The target itself went away (a fresh volume, an rm -rf of it): its files are unknown, not
        deleted, until it appears again."""
        log.warning("app-server: target %s (%s) went away; waiting for it to come back (clients keep their "
                    "copies of its files)", target.name, target.dir)
        self._unwatch_tree(target, "")
        self.tracker.forget(target)
        self.tracker.index.missing.add(target.name)
        self._wait_for(target)

    def _on_event(self, ev) -> None:
        mask = ev.mask
        waiting = self._waiting.get(ev.wd)
        if waiting and mask & (IN.IN_CREATE | IN.IN_MOVED_TO):
            for target in list(waiting):
                self._wait_for(target)
        entry = self._dirs.get(ev.wd)
        if entry is None:
            return
        target, folder = entry
        if target in self._attaching:
            self._attaching[target] = time.monotonic()
        if not ev.name:
            if folder == "" and mask & IN.IN_MOVE_SELF:
                self._lost_root(target)
            return
        try:
            name = ev.name.decode("utf-8")
        except UnicodeDecodeError:
            if mask & (IN.IN_DELETE | IN.IN_MOVED_FROM):
                self.tracker.unskip_name(target.abs(folder), ev.name)
            else:
                self.tracker.skip_name(target.abs(folder), ev.name, bool(mask & IN.IN_ISDIR))
            return
        rel = f"{folder}/{name}" if folder else name
        is_dir = bool(mask & IN.IN_ISDIR)
        if mask & IN.IN_MOVED_FROM:
            self._moves[ev.cookie] = None if target.excluded(rel) else (target, rel, is_dir)
            self._loop.call_later(MOVE_PAIRING, self._move_expired, ev.cookie)
            self._cancel_quiet(target.wire(rel))
            return
        if mask & IN.IN_MOVED_TO:
            dst = None if target.excluded(rel) else (target, rel)
            self._moved(self._moves.pop(ev.cookie, None), dst, is_dir)
            return
        if target.excluded(rel):
            return
        if mask & IN.IN_CLOSE_WRITE:
            self._cancel_quiet(target.wire(rel))
            self.tracker.check(target, rel, force=True)
        elif mask & IN.IN_MODIFY:
            self._quiet_check(target, rel)
        elif mask & IN.IN_CREATE:
            if is_dir:
                self._watch_tree(target, rel)
            else:
                self._quiet_check(target, rel)
        elif mask & IN.IN_DELETE:
            self._cancel_quiet(target.wire(rel))
            if is_dir:
                self.tracker.removed(target, rel)
            else:
                self.tracker.check(target, rel)
        elif mask & IN.IN_ATTRIB and not is_dir:
            self.tracker.check(target, rel)

    def _move_expired(self, cookie: int) -> None:
        if cookie in self._moves:
            src = self._moves.pop(cookie)
            try:
                self._moved(src, None, src[2] if src else False)
            except Exception:
                log.exception("app-server: error while handling a move")

    def _moved(self, src: tuple[Target, str, bool] | None, dst: tuple[Target, str] | None, is_dir: bool) -> None:
        if src is None and dst is None:
            return
        if src is None:  # moved in from outside the targets or from an excluded place
            if is_dir:
                self._watch_tree(*dst)
            else:
                self.tracker.check(*dst)
            return
        s_target, s_rel, _ = src
        if dst is None:  # moved out of the targets or into an excluded place
            if is_dir:
                self._unwatch_tree(s_target, s_rel)
            self.tracker.removed(s_target, s_rel)
            return
        d_target, d_rel = dst
        if is_dir:
            for wd in self._wds_under(s_target, s_rel):
                folder = self._dirs[wd][1]
                self._dirs[wd] = (d_target, d_rel + folder[len(s_rel):])
        self.tracker.moved(s_target, s_rel, d_target, d_rel, is_dir)
        if is_dir:
            self._watch_tree(d_target, d_rel)

    # -- quiet interval --------------------------------------------------------------------------

    def _quiet_check(self, target: Target, rel: str) -> None:
        key = target.wire(rel)
        now = time.monotonic()
        entry = self._quiet.get(key)
        if entry is not None:
            entry[3] = now
            return
        handle = self._loop.call_later(QUIET, self._quiet_fire, key)
        self._quiet[key] = [target, rel, now, now, handle]

    def _quiet_fire(self, key: str) -> None:
        entry = self._quiet.get(key)
        if entry is None:
            return
        target, rel, first, last, _ = entry
        now = time.monotonic()
        if now - last < QUIET and now - first < MAX_DELAY:
            entry[4] = self._loop.call_later(QUIET - (now - last), self._quiet_fire, key)
            return
        del self._quiet[key]
        try:
            self.tracker.check(target, rel, force=True)
        except Exception:
            log.exception("app-server: error while checking %s", key)

    def _cancel_quiet(self, key: str) -> None:
        entry = self._quiet.pop(key, None)
        if entry is not None:
            entry[4].cancel()

    def pending(self, wire: str) -> bool:
        """True while a check of this path waits for its quiet interval."""
        return wire in self._quiet

    def close(self) -> None:
        for key in list(self._quiet):
            self._cancel_quiet(key)
        wds = set(self._dirs) | set(self._waiting)
        self._dirs.clear()
        self._waiting.clear()
        try:
            self._fd.remove_callbacks([(wd, self._id) for wd in wds])
        except OSError:
            pass


def _utf8(name: str) -> bool:
    """True when a name from os.scandir (undecodable bytes kept as surrogates) is valid UTF-8."""
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("app-server: reading a target that appeared failed: %s", task.exception())


def _nearest_folder(path: str) -> str | None:
    """The nearest existing folder above `path`."""
    while True:
        parent = os.path.dirname(path)
        if parent == path:
            return None
        if os.path.isdir(parent):
            return parent
        path = parent

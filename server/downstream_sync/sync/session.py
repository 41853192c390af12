"""A sync session: one artifact's rules, one transport, one local project, live.

The session owns the connection loop (connect through the bridge, watch, reconnect with backoff,
resume from the last version, reconcile from a snapshot when the helper asks for it or restarted),
the work pipeline (coalescing per path, bounded, batched downloads), the application of each
decision to the disk, and the events its subscribers see. Must not import pygls, lsprotocol or
terminal code; never prints.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import stat as stat_mod
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

from ..cluster.bridge import Bridge
from ..cluster.transport import Transport, TransportError
from .client import HelperClient, connection_lost, pb
from .decide import Action, Decision, Policy, decide_change, decide_delete
from .events import (Conflict, Event, FileSkipped, FileSynced, PullResult, ReconcileProgress,
                     SessionState, SessionStats, StateChanged, SyncError)
from .ledger import STATE_DIR_NAME, Entry, Ledger, LedgerError
from .pipeline import Pipeline
from .reconcile import Reconcile
from .rules import Rule, RuleSet
from .writer import (BACKUP_SUFFIX, CONFLICT_SUFFIX, AtomicFile, LocalChanged, WriteError,
                     clean_stale_temps, lstat, md5_file, move_file, remove_file)

__all__ = ["Session", "Policy", "SessionState", "SessionStats", "PullResult"]

log = logging.getLogger("downstream_sync")

_BACKOFF_FIRST = 0.2
_BACKOFF_MAX = 10.0
_WORKERS = 8
_FETCH_BATCH_FILES = 256
_FETCH_BATCH_BYTES = 64 << 20
_HASH_IN_THREAD = 1 << 20
_HELPER_HINT = ("make sure the helper runs in the container: deploy the artifact with its download "
                "stanza so /sync-helper/app-server wraps the container's command, or attach the helper "
                "to the running container")


class _Lost(Exception):
    """The stream to the helper ended."""


@dataclass
class _Work:
    kind: str                 # "change", "delete", "rename"
    path: str                 # wire path
    md5: str = ""
    size: int = 0
    mode: int = 0
    content: bytes | None = None
    old_path: str = ""
    version: int = 0
    reconcile: Reconcile | None = None


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
class _Target:
    wire: str
    dir: Path      # the folder the safe walk starts from (the rule's localDst)
    rel: str       # below dir, POSIX
    local: str     # the absolute local path
    relpath: str   # relative to the project root, POSIX

    @property
    def name(self) -> str:
        return self.rel.rsplit("/", 1)[-1]


def _unsafe(wire: str) -> bool:
    body = wire[1:] if wire.startswith("/") else wire
    return (not wire or "\x00" in wire or "\\" in wire
            or any(seg in ("", ".", "..") for seg in body.split("/")))


class Session:
    def __init__(self, name: str, rules: RuleSet, transport: Transport, project_root: Path,
                 policy: Policy = "safe", state_dir: Path | None = None):
        if policy not in ("safe", "remote-wins"):
            raise ValueError(f"policy must be 'safe' or 'remote-wins', got {policy!r}")
        self.name = name
        self.rules = rules
        self.transport = transport
        self.project_root = Path(project_root).resolve()
        self.policy: Policy = policy
        self.state_dir = Path(state_dir) if state_dir is not None else self.project_root / STATE_DIR_NAME
        self.stats = SessionStats()
        self._state = SessionState.STARTING
        self._subscribers: list[Callable[[Event], None]] = []
        self._ledger: Ledger | None = None
        self._bridge: Bridge | None = None
        self._task: asyncio.Task | None = None
        self._finished = asyncio.Event()
        self._stopping = False
        self._started = False
        self._instance_id = ""
        self._received = 0
        self._resume_version = 0
        self._need_snapshot = True
        self._commit_handle: asyncio.TimerHandle | None = None
        self._last_error_message = ""
        self._hash_cache: dict[str, tuple[int, int, int, str]] = {}
        self._client: HelperClient | None = None
        self._hello = False
        self._rec: Reconcile | None = None

    # --- public API ---------------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        return self._state

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            try:
                self._subscribers.remove(callback)
            except ValueError:
                pass
        return unsubscribe

    async def start(self) -> None:
        """Start syncing; returns at once, the connection is made (and retried) in the background."""
        if self._started:
            return
        self._started = True
        self._set_state(SessionState.STARTING, f"syncing {', '.join(self.rules.targets)} through {self.transport.describe()}")
        if not await self._open():
            return
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop cleanly; safe to call more than once."""
        if self._finished.is_set():
            return
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
        await self._close()
        self._set_state(SessionState.STOPPED, "stopped")
        self._finished.set()

    async def wait(self) -> None:
        """Until the session stopped or failed."""
        await self._finished.wait()

    async def pull(self) -> PullResult:
        """One reconcile and no live watching, on a session that was not started.
        Raises TransportError when the helper cannot be reached."""
        if self._started:
            raise RuntimeError("pull() is for a session that was not started")
        self._started = True
        self._set_state(SessionState.STARTING, f"pulling {', '.join(self.rules.targets)} through {self.transport.describe()}")
        if not await self._open():
            raise LedgerError(self._last_error_message)
        try:
            delay = _BACKOFF_FIRST
            for attempt in range(3):
                self._set_state(SessionState.CONNECTING, self.transport.describe())
                started = time.time()
                try:
                    rec = await self._connect_once(snapshot=True, once=True)
                    assert rec is not None
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    message = await self._explain(e, started, hello=False)
                    if attempt == 2:
                        raise TransportError(message) from None
                    await asyncio.sleep(delay)
                    delay *= 2
            self._set_state(SessionState.STOPPED, "pull complete")
            return PullResult(synced=rec.synced, conflicts=rec.conflicts, errors=rec.errors,
                              in_sync=rec.conflicts == 0 and rec.errors == 0)
        except BaseException:
            self._set_state(SessionState.STOPPED, "pull ended")
            raise
        finally:
            await self._close()
            self._finished.set()

    async def resolve_conflict(self, path: str, choice: Literal["keep-local", "take-remote"]) -> None:
        """Settle a conflict on `path` (relative to the project root, or absolute).
        keep-local drops the remote copy; take-remote puts the remote copy in place of the local file.
        Raises ValueError when there is no such conflict."""
        if choice not in ("keep-local", "take-remote"):
            raise ValueError(f"choice must be 'keep-local' or 'take-remote', got {choice!r}")
        local = Path(path)
        if not local.is_absolute():
            local = self.project_root / local
        try:
            relpath = local.relative_to(self.project_root).as_posix()
        except ValueError:
            raise ValueError(f"{path} is not inside the project {self.project_root}") from None
        own = self._ledger is None
        ledger = self._ledger or Ledger(self.state_dir, self.name)
        try:
            wire = ledger.meta(f"conflict:{relpath}")
            entry = ledger.get(relpath)
            if wire is None and entry is not None:
                wire = entry.remote_path
            t = self._target(wire, quiet=True) if wire else None
            copy = local.with_name(local.name + CONFLICT_SUFFIX)
            copy_st = lstat(copy)
            if t is None or t.local != str(local) or copy_st is None:
                raise ValueError(f"no conflict to resolve for {relpath}: there is no {copy.name} beside it")
            if choice == "take-remote":
                digest = md5_file(copy)
                started = time.monotonic()
                st = move_file(t.dir, t.rel + CONFLICT_SUFFIX, t.dir, t.rel, copy_st)
                ledger.put(Entry(relpath, t.wire, digest, st.st_size, st.st_mtime_ns, st.st_ino))
                self._emit(FileSynced(session=self.name, path=relpath, remote_path=t.wire, action="updated",
                                      bytes=st.st_size, duration=time.monotonic() - started))
            else:
                os.unlink(copy)
                st = lstat(local)
                if st is not None and stat_mod.S_ISREG(st.st_mode):
                    ledger.put(Entry(relpath, t.wire, md5_file(local), st.st_size, st.st_mtime_ns, st.st_ino))
            ledger.set_meta(f"conflict:{relpath}", "")
            ledger.commit()
        except (WriteError, OSError) as e:
            raise ValueError(f"could not resolve the conflict on {relpath}: {e}") from e
        finally:
            if own:
                ledger.close()

    # --- events -------------------------------------------------------------------------------

    def _emit(self, event: Event) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                log.exception("a subscriber of session %s failed on %s", self.name, type(event).__name__)

    def _set_state(self, state: SessionState, detail: str = "") -> None:
        self._state = state
        self._emit(StateChanged(session=self.name, state=state, detail=detail))

    def _error(self, path: str | None, message: str, rec: Reconcile | None = None) -> None:
        self.stats.errors += 1
        if rec is not None:
            rec.errors += 1
        log.debug("session %s: %s", self.name, message)
        self._emit(SyncError(session=self.name, path=path, message=message))

    def _skipped(self, t: _Target | None, wire: str, reason: str, w: _Work | None = None) -> None:
        if w is not None and w.reconcile is not None:
            return  # a reconcile reports progress, not one line per unchanged file
        self._emit(FileSkipped(session=self.name, path=t.relpath if t else "", remote_path=wire, reason=reason))

    # --- lifecycle ----------------------------------------------------------------------------

    async def _open(self) -> bool:
        try:
            self._ledger = Ledger(self.state_dir, self.name)
        except LedgerError as e:
            self._last_error_message = str(e)
            self._error(None, str(e))
            self._set_state(SessionState.FAILED, str(e))
            self._finished.set()
            return False
        for rule in self.rules.rules:
            if rule.local_dir.is_dir():
                clean_stale_temps(rule.local_dir)
        self._bridge = Bridge(self.transport)
        await self._bridge.start()
        return True

    async def _close(self) -> None:
        if self._bridge is not None:
            await self._bridge.close()
            self._bridge = None
        if self._commit_handle is not None:
            self._commit_handle.cancel()
            self._commit_handle = None
        if self._ledger is not None:
            try:
                self._ledger.close()
            except Exception as e:
                log.warning("session %s: could not close the ledger: %s", self.name, e)
            self._ledger = None

    def _schedule_commit(self) -> None:
        if self._commit_handle is None and self._ledger is not None and self._ledger.dirty:
            self._commit_handle = asyncio.get_running_loop().call_later(0.02, self._commit)

    def _commit(self) -> None:
        self._commit_handle = None
        if self._ledger is not None:
            try:
                self._ledger.commit()
            except Exception as e:
                self._error(None, f"cannot write the sync ledger in {self.state_dir}: {e}")

    async def _run(self) -> None:
        delay = _BACKOFF_FIRST
        first = True
        try:
            while not self._stopping:
                if first:
                    self._set_state(SessionState.CONNECTING, self.transport.describe())
                first = False
                started = time.time()
                self._hello = False
                try:
                    await self._connect_once(snapshot=self._need_snapshot, once=False)
                    message = "the helper ended the watch"
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    message = await self._explain(e, started, hello=self._hello)
                if self._hello:
                    delay = _BACKOFF_FIRST
                self._set_state(SessionState.RECONNECTING, f"{message}; retrying in {delay:.1f}s")
                if message != self._last_error_message:
                    self._last_error_message = message
                    self._error(None, message)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _BACKOFF_MAX)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bug; say so rather than die silently
            log.exception("session %s failed", self.name)
            self._error(None, f"internal error: {e!r}")
            self._set_state(SessionState.FAILED, str(e))
            await self._close()
            self._finished.set()

    async def _explain(self, e: BaseException, started: float, hello: bool) -> str:
        where = self.transport.describe()
        if isinstance(e, _Lost):
            return f"{e} ({where})"
        if not connection_lost(e) and not isinstance(e, OSError):
            return f"sync with {where} failed: {e}"
        # Give the bridge a moment to see its process exit, to report its stderr.
        failure = None
        for _ in range(20):
            failure = self._bridge.last_failure if self._bridge else None
            if failure is not None and failure.time >= started:
                break
            failure = None
            await asyncio.sleep(0.05)
        if hello:
            text = f"lost the connection to the helper through {where}"
            return f"{text}: {failure.message}" if failure else text
        text = f"cannot reach the helper through {where}"
        if failure is not None:
            return f"{text}: {failure.message}; {_HELPER_HINT}"
        details = e.details() if hasattr(e, "details") else str(e)
        return f"{text} ({details}); {_HELPER_HINT}"

    # --- one connection -----------------------------------------------------------------------

    async def _connect_once(self, snapshot: bool, once: bool) -> Reconcile | None:
        assert self._bridge is not None
        client = HelperClient(self._bridge.target)
        self._client = client
        call = client.watch(since_version=0 if snapshot else self._resume_version,
                            instance_id="" if snapshot else self._instance_id, snapshot=snapshot)
        # A batch that fails for the connection's sake ends the watch too.
        pipe = Pipeline(self._handle, workers=_WORKERS, on_failure=lambda e: call.cancel(),
                        weigh=lambda w: len(w.content) if w.content is not None else 0)
        self._rec = None
        try:
            return await self._consume(call, pipe, snapshot, once)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if pipe.failure is not None and not (task and task.cancelling()):
                raise pipe.failure from None
            raise
        finally:
            unfinished = [w.version for w in pipe.items() if w.reconcile is None and w.version]
            if unfinished:
                self._resume_version = min(unfinished) - 1
            else:
                self._resume_version = self._received
            if self._rec is not None:
                self._need_snapshot = True
            await pipe.close()
            self._client = None
            await client.close()
            self._commit()

    async def _consume(self, call, pipe: Pipeline, snapshot: bool, once: bool) -> Reconcile | None:
        """Read one Watch stream to its end, feeding the pipeline; returns after one reconcile when `once`."""
        rec: Reconcile | None = None
        first = True
        try:
            async for ev in call:
                if pipe.failure is not None:
                    raise pipe.failure
                kind = ev.kind
                if first and kind != pb.FileEvent.HELLO and once:
                    raise _Lost("the helper did not greet this client: it is older than this tool; update the helper image")
                first = False
                if kind == pb.FileEvent.CHANGE:
                    self._received = max(self._received, ev.version)
                    self.stats.last_version = self._received
                    await pipe.submit(ev.path, self._work_from(ev))
                elif kind == pb.FileEvent.SNAPSHOT_FILE:
                    if rec is None:
                        rec = Reconcile()
                        self._set_state(SessionState.RECONCILING, "the helper sends a fresh snapshot")
                    rec.add(ev.path, ev.size)
                    work = self._work_from(ev)
                    work.reconcile = rec
                    await pipe.submit(ev.path, work)
                elif kind == pb.FileEvent.SNAPSHOT_END:
                    rec = rec or Reconcile()
                    await pipe.drain()
                    for relpath in rec.gone(self._ledger, self.rules):
                        entry = self._ledger.get(relpath)
                        if entry is not None:
                            await pipe.submit(entry.remote_path, _Work("delete", entry.remote_path, reconcile=rec))
                    await pipe.drain()
                    self._progress(rec, final=True)
                    self._received = max(self._received, ev.version)
                    self._resume_version = self._received
                    self.stats.last_version = self._received
                    self._need_snapshot = False
                    self._ledger.set_meta("instance_id", self._instance_id)
                    self._ledger.set_meta("last_version", str(self._received))
                    self._commit()
                    self._set_state(SessionState.WATCHING,
                                    f"reconciled {rec.files_total} files ({rec.synced} synced); watching")
                    if once:
                        call.cancel()
                        return rec
                    rec = None
                elif kind == pb.FileEvent.HELLO:
                    self._hello = True
                    restarted = bool(self._instance_id) and ev.instance_id != self._instance_id
                    self._instance_id = ev.instance_id
                    if snapshot or restarted:
                        rec = Reconcile()
                        self._set_state(SessionState.RECONCILING,
                                        "the helper restarted; reconciling" if restarted else "reconciling")
                    else:
                        self._set_state(SessionState.WATCHING, f"resumed after version {self._resume_version}")
                elif kind == pb.FileEvent.RESYNC:
                    rec = Reconcile()
                    self._need_snapshot = True
                    self._set_state(SessionState.RECONCILING, "fell behind the helper; reconciling from a snapshot")
            raise _Lost("the helper ended the watch")
        finally:
            self._rec = rec

    def _work_from(self, ev: pb.FileEvent) -> _Work:
        kind = {pb.FileEvent.DELETE: "delete", pb.FileEvent.RENAME: "rename"}.get(ev.event_type, "change")
        if ev.kind == pb.FileEvent.SNAPSHOT_FILE:
            kind = "change"
        content = ev.content if ev.HasField("content") else None
        md5 = ev.MD5Hash.lower()
        if content is not None and not md5:
            md5 = hashlib.md5(content).hexdigest()
        return _Work(kind, ev.path, md5, ev.size, ev.mode, content, ev.old_path, ev.version)

    def _progress(self, rec: Reconcile, final: bool = False) -> None:
        if final or rec.should_report():
            self._emit(ReconcileProgress(session=self.name, files_done=rec.files_done, files_total=rec.files_total,
                                         bytes_done=rec.bytes_done, bytes_total=rec.bytes_total))

    def _done(self, w: _Work) -> None:
        if w.reconcile is not None:
            w.reconcile.done(w.size)
            self._progress(w.reconcile)

    # --- applying work ------------------------------------------------------------------------

    def _target(self, wire: str, quiet: bool = False, w: _Work | None = None) -> _Target | None:
        found = self.rules.match(wire)
        if found is None:
            if not quiet:
                if _unsafe(wire):
                    self._error(None, f"refused a path from the helper that is not safe: {wire!r} "
                                      f"(only plain paths below the download targets are accepted)",
                                w.reconcile if w else None)
                else:
                    self._skipped(None, wire, "not covered by any download rule", w)
            return None
        rule, rel = found
        if self.rules.is_excluded(wire, rel):
            if not quiet:
                self._skipped(None, wire, "excluded", w)
            return None
        if rel:
            relpath = f"{rule.local_rel}/{rel}" if rule.local_rel else rel
            return _Target(wire, rule.local_dir, rel, f"{rule.local_dir}/{rel}", relpath)
        return _Target(wire, rule.local_dir.parent, rule.local_dir.name, str(rule.local_dir), rule.local_rel)

    async def _local_md5(self, t: _Target, st: os.stat_result | None) -> str | None:
        if st is None:
            return None
        entry = self._ledger.get(t.relpath)
        if entry is not None and entry.matches_stat(st):
            return entry.md5
        key = (st.st_size, st.st_mtime_ns, st.st_ino)
        cached = self._hash_cache.get(t.relpath)
        if cached is not None and cached[:3] == key:
            return cached[3]
        if st.st_size >= _HASH_IN_THREAD:
            digest = await asyncio.get_running_loop().run_in_executor(None, md5_file, t.local)
        else:
            digest = md5_file(t.local)
        if len(self._hash_cache) > 10000:
            self._hash_cache.clear()
        self._hash_cache[t.relpath] = (*key, digest)
        return digest

    def _regular_or_absent(self, t: _Target, st: os.stat_result | None, w: _Work) -> bool:
        if st is not None and not stat_mod.S_ISREG(st.st_mode):
            what = "a symlink" if stat_mod.S_ISLNK(st.st_mode) else "not a regular file"
            self._error(t.relpath, f"refused to write {t.local}: it is {what}; move it away to sync this file",
                        w.reconcile)
            return False
        return True

    async def _handle(self, batch: list[_Work]) -> None:
        """The pipeline's handler: apply each item; download what is not inline in batches."""
        fetch: list[tuple[_Work, _Target, Decision, os.stat_result | None]] = []
        for w in batch:
            try:
                if w.kind == "delete":
                    t = self._target(w.path, w=w)
                    if t is not None:
                        await self._apply_delete(w, t)
                    self._done(w)
                    continue
                if w.kind == "rename":
                    need = await self._apply_rename(w)
                else:
                    t = self._target(w.path, w=w)
                    need = await self._apply_change(w, t) if t is not None else None
                if need is not None:
                    fetch.append(need)
                else:
                    self._done(w)
            except WriteError as e:
                self._error(self._relpath_of(w.path), str(e), w.reconcile)
                self._done(w)
            except Exception as e:
                if connection_lost(e):
                    raise
                log.exception("session %s: failed on %s", self.name, w.path)
                self._error(self._relpath_of(w.path), f"could not sync {w.path}: {e}", w.reconcile)
                self._done(w)
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
        self._schedule_commit()

    def _relpath_of(self, wire: str) -> str | None:
        t = self._target(wire, quiet=True)
        return t.relpath if t else None

    async def _apply_change(self, w: _Work, t: _Target):
        st = lstat(t.local)
        if not self._regular_or_absent(t, st, w):
            return None
        local_md5 = await self._local_md5(t, st)
        entry = self._ledger.get(t.relpath)
        if not w.md5 and w.content is None:
            # No MD5 from the helper (a seed helper): download and decide on the header's MD5.
            d = decide_change("", local_md5, entry.md5 if entry else None, self.policy)
            return (w, t, d, st)
        d = decide_change(w.md5, local_md5, entry.md5 if entry else None, self.policy)
        if d.action is Action.SKIP:
            if entry is None or entry.md5 != w.md5 or not entry.matches_stat(st):
                self._ledger.put(Entry(t.relpath, w.path, w.md5, st.st_size, st.st_mtime_ns, st.st_ino))
            self._skipped(t, w.path, d.reason, w)
            return None
        if w.content is not None:
            started = time.monotonic()
            af = self._open_for(t, d, w.mode)
            try:
                af.write(w.content)
            except BaseException:
                af.abort()
                raise
            self._finish(w, t, d, st, af, w.md5, started)
            return None
        return (w, t, d, st)

    def _open_for(self, t: _Target, d: Decision, mode: int) -> AtomicFile:
        if d.action is Action.CONFLICT:
            return AtomicFile(t.dir, t.rel, mode, name=t.name + CONFLICT_SUFFIX)
        return AtomicFile(t.dir, t.rel, mode)

    def _conflict(self, w: _Work, t: _Target, copy: str | None, reason: str) -> None:
        self.stats.conflicts += 1
        if w.reconcile is not None:
            w.reconcile.conflicts += 1
        if copy is not None:
            self._ledger.set_meta(f"conflict:{t.relpath}", w.path)
        self._emit(Conflict(session=self.name, path=t.relpath, remote_path=w.path, remote_copy=copy, reason=reason))

    def _synced(self, w: _Work, t: _Target, action: str, size: int, started: float, old: str | None = None) -> None:
        self.stats.files_synced += 1
        self.stats.bytes_synced += size
        if w.reconcile is not None:
            w.reconcile.synced += 1
        self._emit(FileSynced(session=self.name, path=t.relpath, remote_path=w.path, action=action,  # type: ignore[arg-type]
                              bytes=size, duration=time.monotonic() - started, old_path=old))

    def _finish(self, w: _Work, t: _Target, d: Decision, st: os.stat_result | None, af: AtomicFile,
                md5: str, started: float) -> None:
        """Verify and put a fully received file in place, per the decision."""
        if d.action is Action.CONFLICT:
            af.commit(md5, True)
            self._conflict(w, t, t.relpath + CONFLICT_SUFFIX,
                           f"{d.reason}; the container's version is kept beside it as {t.name}{CONFLICT_SUFFIX}")
            return
        expect = st
        backup = None
        if d.action is Action.WRITE_WITH_BACKUP and st is not None:
            try:
                move_file(t.dir, t.rel, t.dir, t.rel, st, dst_name=t.name + BACKUP_SUFFIX)
            except BaseException:
                af.abort()
                raise
            backup = t.name + BACKUP_SUFFIX
            expect = None
        try:
            new_st = af.commit(md5 or None, expect)
        except LocalChanged:
            af.commit_as(t.name + CONFLICT_SUFFIX)
            self._conflict(w, t, t.relpath + CONFLICT_SUFFIX,
                           f"changed locally while it was being synced; the container's version is kept "
                           f"beside it as {t.name}{CONFLICT_SUFFIX}")
            return
        self._ledger.put(Entry(t.relpath, w.path, af.md5, new_st.st_size, new_st.st_mtime_ns, new_st.st_ino))
        self._synced(w, t, "created" if st is None else "updated", new_st.st_size, started)
        if backup is not None:
            self._conflict(w, t, None, f"{d.reason}; took the container's version (policy remote-wins), "
                                       f"the local one is kept as {backup}")

    async def _fetch(self, items: list[tuple[_Work, _Target, Decision, os.stat_result | None]], attempt: int = 1) -> None:
        """Download files in one DownloadFiles call and apply each as it completes."""
        assert self._client is not None
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
                    self._error(t.relpath, str(e), w.reconcile)
                    done.af = None
            w, t, d, st = by_path[done.path]
            if done.af is not None:
                try:
                    self._finish(w, t, d, st, done.af, done.md5, done.started)
                except WriteError as e:
                    self._error(t.relpath, str(e), w.reconcile)
            self._done(w)

        try:
            async for msg in self._client.download_files(list(by_path)):
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
                        raise _Lost(f"the helper broke the DownloadFiles stream: {current.path} was cut short")
                    h = msg.header
                    if h.path not in by_path or h.path in answered:
                        raise _Lost(f"the helper sent {h.path!r}, which was not asked for")
                    answered.add(h.path)
                    w, t, d, st = by_path[h.path]
                    w.size = h.size
                    af = None
                    try:
                        af = self._open_for(t, d, h.mode or w.mode)
                    except WriteError as e:
                        self._error(t.relpath, str(e), w.reconcile)
                    current = _Incoming(h.path, af, h.size, (h.md5 or w.md5).lower(), time.monotonic())
                if msg.chunk:
                    if current is None:
                        raise _Lost("the helper sent bytes outside any file")
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
                            self._error(t.relpath, str(e), w.reconcile)
                            current.af = None
                            current.writing = None
                if current is not None and current.received >= current.size:
                    complete, current = current, None
            await settle()
            if current is not None:
                raise _Lost(f"the helper ended DownloadFiles in the middle of {current.path}")
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

    def _fetch_failed(self, err: pb.FileError, item) -> None:
        w, t, _, _ = item
        if err.code == pb.FileError.NOT_FOUND:
            self._skipped(t, w.path, "removed in the container before it could be downloaded", w)
        elif err.code == pb.FileError.CHANGED:
            self._skipped(t, w.path, "kept changing in the container during the download; the next change brings it", w)
        else:
            self._error(t.relpath, err.message or f"the helper could not send {w.path} (code {err.code})", w.reconcile)
        self._done(w)

    async def _apply_delete(self, w: _Work, t: _Target) -> None:
        st = lstat(t.local)
        entry = self._ledger.get(t.relpath)
        if st is None:
            if entry is not None:
                self._ledger.remove(t.relpath)
            self._skipped(t, w.path, "already absent", w)
            return
        if not stat_mod.S_ISREG(st.st_mode):
            self._skipped(t, w.path, "not a regular file locally; kept", w)
            return
        local_md5 = await self._local_md5(t, st)
        d = decide_delete(local_md5, entry.md5 if entry else None, self.policy)
        started = time.monotonic()
        if d.action is Action.SKIP:
            self._skipped(t, w.path, d.reason, w)
        elif d.action is Action.DELETE:
            try:
                remove_file(t.dir, t.rel, st)
            except LocalChanged:
                self._conflict(w, t, None, "deleted in the container but changed locally meanwhile; kept the local file")
                return
            self._ledger.remove(t.relpath)
            self._synced(w, t, "deleted", 0, started)
        elif d.action is Action.KEEP:
            self._conflict(w, t, None, d.reason)
        elif d.action is Action.DELETE_WITH_BACKUP:
            move_file(t.dir, t.rel, t.dir, t.rel, st, dst_name=t.name + BACKUP_SUFFIX)
            self._ledger.remove(t.relpath)
            self._synced(w, t, "deleted", 0, started)
            self._conflict(w, t, None, f"{d.reason}; deleted it (policy remote-wins), the local one is kept "
                                       f"as {t.name}{BACKUP_SUFFIX}")

    async def _apply_rename(self, w: _Work):
        new_t = self._target(w.path, quiet=True)
        old_t = self._target(w.old_path, quiet=True) if w.old_path else None
        old_w = _Work("delete", w.old_path, reconcile=w.reconcile)
        if new_t is None:
            self._target(w.path, w=w)  # reports why
            if old_t is not None:
                await self._apply_delete(old_w, old_t)
            return None
        if old_t is not None:
            old_st = lstat(old_t.local)
            old_entry = self._ledger.get(old_t.relpath)
            new_st = lstat(new_t.local)
            if (old_st is not None and stat_mod.S_ISREG(old_st.st_mode) and old_entry is not None
                    and new_st is None):
                old_md5 = await self._local_md5(old_t, old_st)
                if old_md5 == old_entry.md5 and (not w.md5 or w.md5 == old_md5):
                    started = time.monotonic()
                    try:
                        st = move_file(old_t.dir, old_t.rel, new_t.dir, new_t.rel, old_st)
                    except LocalChanged:
                        pass
                    else:
                        self._ledger.remove(old_t.relpath)
                        self._ledger.put(Entry(new_t.relpath, w.path, old_md5, st.st_size, st.st_mtime_ns, st.st_ino))
                        self._synced(w, new_t, "renamed", st.st_size, started, old=old_t.relpath)
                        return None
        need = await self._apply_change(w, new_t)
        if old_t is not None:
            await self._apply_delete(old_w, old_t)
        return need

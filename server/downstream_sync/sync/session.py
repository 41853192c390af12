"""A sync session: one artifact's rules, one transport, one local project, live.

The session owns the connection loop (connect through the bridge, watch, reconnect with backoff,
resume from the last version, reconcile from a snapshot when the helper asks for it or restarted),
the work pipeline (coalescing per path, bounded) that feeds the Applier (apply.py), the retries of
writes that failed on the local disk (retry.py; live sessions only), conflict resolution, and the
events its subscribers see. While it runs (start or pull) it holds its lock (lock.py): a second
session of the same name for the same project is refused. Must not import pygls, lsprotocol or
terminal code; never prints.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from pathlib import Path
from typing import Callable, Literal

from ..cluster.bridge import Bridge
from ..cluster.transport import HELPER_ADVICE, Transport, TransportError
from .apply import Applier, conflict_keys, written_copy
from .client import HelperClient, connection_lost, pb
from .decide import Policy
from .download import LostStream
from .events import (Conflict, ConflictResolved, Event, FileSynced, PullResult, SessionState, SessionStats,
                     SessionWarning, StateChanged, SyncError)
from .ledger import STATE_DIR_NAME, Entry, Ledger, LedgerError
from .lane import Lane
from .lock import SessionBusy, SessionLock
from .pipeline import Pipeline
from .reconcile import Reconcile
from .retry import Retries
from .rules import RuleSet
from .state_folder import StateFolderError
from .work import Work, merge
from .writer import (Expected, LocalChanged, WriteError, clean_stale_temps, conflict_name, lstat, md5_file,
                     move_file, now_ns, remove_file)

__all__ = ["Session", "SessionBusy", "Policy", "SessionState", "SessionStats", "PullResult"]

log = logging.getLogger("downstream_sync")

_BACKOFF_FIRST = 0.2
_BACKOFF_MAX = 10.0
_WORKERS = 8
_CONFLICT_CHECK = 2.0  # seconds between looks at the open conflicts of a live session (apply.check_conflicts)


class Session:
    def __init__(self, name: str, rules: RuleSet, transport: Transport, project_root: Path,
                 policy: Policy = "safe", state_dir: Path | None = None, owner: str = "downstream-sync",
                 every_skip: bool = False):
        """`owner` names the face running the session, for the refusal of a second one; `every_skip`:
        a reconcile reports each file it skips too (not only its progress)."""
        if policy not in ("safe", "remote-wins"):
            raise ValueError(f"policy must be 'safe' or 'remote-wins', got {policy!r}")
        self.name = name
        self.rules = rules
        self.transport = transport
        set_targets = getattr(transport, "set_targets", None)  # a transport that may start a helper (attach)
        if set_targets is not None:
            set_targets(rules.targets, rules.excludes)
        if hasattr(transport, "on_warning"):  # a transport that can tell the pod runs other rules
            transport.on_warning = self._warn
        self.project_root = Path(project_root).resolve()
        self.policy: Policy = policy
        self.state_dir = Path(state_dir) if state_dir is not None else self.project_root / STATE_DIR_NAME
        self.stats = SessionStats()
        self._lock = SessionLock(self.state_dir, name, owner)
        self._state = SessionState.STARTING
        self._subscribers: list[Callable[[Event], None]] = []
        self._ledger: Ledger | None = None
        self._bridge: Bridge | None = None
        self._task: asyncio.Task | None = None
        self._checker: asyncio.Task | None = None
        self._finished = asyncio.Event()
        self._stopping = False
        self._started = False
        self._instance_id = ""
        self._received = 0
        self._resume_version = 0
        self._need_snapshot = True
        self._commit_handle: asyncio.TimerHandle | None = None
        self._last_error_message = ""
        self._applier = Applier(name, rules, policy, self.stats, self._emit, self._schedule_commit)
        self._applier.every_skip = every_skip
        self._retries = Retries(self._resubmit)
        self._pipe: Pipeline | None = None  # the current connection's work queue
        self._hello = False
        self._rec: Reconcile | None = None
        self._notices: set[str] = set()  # what the helper said it skips, reported once

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
        """Start syncing; returns at once, the connection is made (and retried) in the background.
        Raises SessionBusy when another session of this name runs for this project."""
        if self._started:
            return
        self._started = True
        self._hold_lock()
        self._applier.write_failed = self._retries.failed  # a pull reports failed writes, it does not wait on them
        self._set_state(SessionState.STARTING, f"syncing {', '.join(self.rules.targets)} through {self.transport.describe()}")
        if not await self._open():
            return
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._checker = asyncio.get_running_loop().create_task(self._check_conflicts())

    async def stop(self) -> None:
        """Stop cleanly; safe to call more than once."""
        if self._finished.is_set():
            return
        self._stopping = True
        if self._checker is not None:
            self._checker.cancel()
            await asyncio.gather(self._checker, return_exceptions=True)
            self._checker = None
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
        Raises TransportError when the helper cannot be reached, SessionBusy as start() does."""
        if self._started:
            raise RuntimeError("pull() is for a session that was not started")
        self._started = True
        self._hold_lock()
        self._set_state(SessionState.STARTING, f"pulling {', '.join(self.rules.targets)} through {self.transport.describe()}")
        if not await self._open():
            raise LedgerError(self._last_error_message)
        try:
            delay = _BACKOFF_FIRST
            self._set_state(SessionState.CONNECTING, self.transport.describe())
            for attempt in range(3):
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
                    # Short: the error that ends a pull says why, once.
                    self._set_state(SessionState.RECONNECTING, f"retrying in {delay:.1f}s")
                    await asyncio.sleep(delay)
                    delay *= 2
            self._set_state(SessionState.STOPPED, f"pull complete: {_reconciled(rec)}")
            return PullResult(synced=rec.synced, conflicts=rec.conflicts, errors=rec.errors,
                              in_sync=rec.conflicts == 0 and rec.errors == 0)
        except BaseException:
            self._set_state(SessionState.STOPPED, "pull ended")
            raise
        finally:
            await self._close()
            self._finished.set()

    async def resolve_conflict(self, path: str, choice: Literal["keep-local", "take-remote"]) -> None:
        """Settle a conflict on `path` (relative to the project root, or absolute), or every open
        conflict below it when it names a folder (a folder deleted locally, say).
        keep-local drops the remote copy (never one the user edited since); take-remote puts the
        latest copy in place of the local file (bringing back a file deleted locally). Raises
        ValueError when there is no such conflict, naming what is left.

        Works on a running session, and on one that is not started: then the ledger is opened for
        the call, while a session of this name may run in another process. That one reads the
        record of a path in conflict again before it decides on it (apply.py), so what is written
        here is not undone by its older copy."""
        if choice not in ("keep-local", "take-remote"):
            raise ValueError(f"choice must be 'keep-local' or 'take-remote', got {choice!r}")
        local = Path(path)
        if not local.is_absolute():
            local = self.project_root / local
        try:
            relpath = local.relative_to(self.project_root).as_posix()
        except ValueError:
            raise ValueError(f"{path} is not inside the project {self.project_root}") from None
        relpath = "" if relpath == "." else relpath
        own = self._ledger is None
        ledger = self._ledger or Ledger(self.state_dir, self.name)
        try:
            below = [] if ledger.meta(f"conflict:{relpath}") else sorted(
                key.partition(":")[2] for key in ledger.meta_keys(f"conflict:{relpath}/" if relpath else "conflict:"))
            if not below:
                self._resolve_one(ledger, relpath, choice)
                return
            left = []
            for one in below:
                try:
                    self._resolve_one(ledger, one, choice)
                except ValueError as e:
                    left.append(str(e))
            if left:
                more = f" (and {len(left) - 1} more)" if len(left) > 1 else ""
                raise ValueError(f"{len(left)} of the {len(below)} conflicts below {relpath or '.'} are left: "
                                 f"{left[0]}{more}")
        finally:
            if own:
                ledger.close()

    def _resolve_one(self, ledger: Ledger, relpath: str, choice: str) -> None:
        """resolve_conflict of one file."""
        local = self.project_root / relpath
        try:
            ledger.refresh(relpath, conflict_keys(ledger, relpath))
            wire = ledger.meta(f"conflict:{relpath}")
            entry = ledger.get(relpath)
            if not wire and entry is not None:
                wire = entry.remote_path
            t = self._applier.target(wire, quiet=True) if wire else None
            copy_rel = (ledger.meta(f"conflict-copy:{relpath}")
                        or f"{relpath.rpartition('/')[0]}/{conflict_name(local.name)}".lstrip("/"))
            copy = self.project_root / copy_rel
            checked = now_ns()
            copy_st = lstat(copy)
            if t is None or t.local != str(local) or copy_st is None:
                raise ValueError(f"no conflict to resolve for {relpath}: there is no {copy.name} beside it")
            if choice == "take-remote":
                digest = md5_file(copy)
                started = time.monotonic()
                st = move_file(t.dir, copy_rel, t.dir, t.rel, Expected(copy_st, digest, checked))
                ledger.put(Entry(relpath, t.wire, digest, st.st_size, st.st_mtime_ns, st.st_ino, checked))
                self._emit(FileSynced(session=self.name, path=relpath, remote_path=t.wire, action="updated",
                                      bytes=st.st_size, duration=time.monotonic() - started))
                removed = None
            else:
                # The ledger keeps what this tool last wrote: the kept local version still differs
                # from it, so the container's next change or delete is a conflict again, never a
                # silent overwrite. A copy edited since it was written (a merge) is kept.
                as_written = written_copy(ledger, self.project_root, copy_rel)
                if as_written is None:
                    os.unlink(copy)
                else:
                    try:
                        remove_file(self.project_root, copy_rel, as_written)
                    except LocalChanged:
                        raise ValueError(f"{copy_rel} was edited since the container's version was written "
                                         f"there; it is kept: remove it yourself if the merge is done") from None
                removed = copy_rel
            for key in {*conflict_keys(ledger, relpath), f"copy:{copy_rel}"}:
                ledger.set_meta(key, "")
            ledger.commit()
            how = "kept the local version" if choice == "keep-local" else "took the container's version"
            self._emit(ConflictResolved(session=self.name, path=relpath, how=how, removed_copy=removed))
        except (WriteError, OSError) as e:
            raise ValueError(f"could not resolve the conflict on {relpath}: {e}") from e

    # --- events -------------------------------------------------------------------------------

    def _emit(self, event: Event) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                log.exception("a subscriber of session %s failed on %s", self.name, type(event).__name__)

    def _warn(self, message: str) -> None:
        self._emit(SessionWarning(session=self.name, message=message))

    def _set_state(self, state: SessionState, detail: str = "") -> None:
        self._state = state
        self._emit(StateChanged(session=self.name, state=state, detail=detail))

    def _error(self, path: str | None, message: str, rec: Reconcile | None = None) -> None:
        self.stats.errors += 1
        if rec is not None:
            rec.errors += 1
        log.debug("session %s: %s", self.name, message)
        self._emit(SyncError(session=self.name, path=path, message=message))

    def _hold_lock(self) -> None:
        """Take this session's lock, or raise (SessionBusy, LedgerError) having started nothing."""
        try:
            self._lock.acquire()
        except (SessionBusy, StateFolderError, OSError) as e:
            self._state = SessionState.FAILED
            self._finished.set()
            if isinstance(e, SessionBusy):
                raise
            if isinstance(e, StateFolderError):
                raise LedgerError(str(e)) from e
            raise LedgerError(f"cannot lock session {self.name} in {self.state_dir}: {e.strerror or e}; "
                              f"check that the folder is writable") from e

    async def _open(self) -> bool:
        try:
            self._ledger = Ledger(self.state_dir, self.name)
            self._applier.ledger = self._ledger
        except LedgerError as e:
            self._lock.release()
            self._last_error_message = str(e)
            self._error(None, str(e))
            self._set_state(SessionState.FAILED, str(e))
            self._finished.set()
            return False
        self._clean_at_start()
        self._bridge = Bridge(self.transport)
        await self._bridge.start()
        return True

    def _clean_at_start(self) -> None:
        """Remove what a crashed run left below each localDst; a version a write or delete had
        displaced that is not this tool's last one is kept as a backup and reported."""
        def last_md5(relpath: str) -> str | None:
            entry = self._ledger.get(relpath)
            return entry.md5 if entry else None

        for rule in self.rules.rules:
            _, kept = clean_stale_temps(self.rules.project_root, rule.local_rel, last_md5)
            for relpath, backup in kept:
                entry = self._ledger.get(relpath)
                self._emit(Conflict(session=self.name, path=relpath, remote_path=entry.remote_path if entry else "",
                                    remote_copy=None, reason=f"a local version was displaced when the engine stopped "
                                                             f"mid-write; it is kept as {backup}"))

    async def _close(self) -> None:
        self._retries.clear()
        if self._bridge is not None:
            await self._bridge.close()
            self._bridge = None
        aclose = getattr(self.transport, "aclose", None)  # a transport that set something up (attach)
        if aclose is not None:
            try:
                await aclose()
            except Exception as e:
                log.warning("session %s: could not close %s: %s", self.name, self.transport.describe(), e)
        if self._commit_handle is not None:
            self._commit_handle.cancel()
            self._commit_handle = None
        if self._ledger is not None:
            try:
                self._ledger.close()
            except Exception as e:
                log.warning("session %s: could not close the ledger: %s", self.name, e)
            self._ledger = None
            self._applier.ledger = None
        self._lock.release()

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
                if message != self._last_error_message:  # an error once, not on every retry
                    self._last_error_message = message
                    self._error(None, message)
                self._set_state(SessionState.RECONNECTING, f"{message}; retrying in {delay:.1f}s")
                await asyncio.sleep(delay)
                delay = min(delay * 2, _BACKOFF_MAX)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bug; say so rather than die silently
            log.exception("session %s failed", self.name)
            if self._checker is not None:
                self._checker.cancel()
            self._error(None, f"internal error: {e!r}")
            self._set_state(SessionState.FAILED, str(e))
            await self._close()
            self._finished.set()

    async def _check_conflicts(self) -> None:
        """A live session's look, every few seconds, at its open conflicts: one resolved in another
        process or settled by hand ends without waiting for the container's next change."""
        while True:
            await asyncio.sleep(_CONFLICT_CHECK)
            if self._ledger is None:
                continue
            try:
                self._applier.check_conflicts()
            except Exception as e:  # the ledger cannot be read now: the next event or reconcile sees it
                log.warning("session %s: could not look at its open conflicts: %s", self.name, e)

    async def _explain(self, e: BaseException, started: float, hello: bool) -> str:
        where = self.transport.describe()
        if isinstance(e, LostStream):
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
        advice = getattr(self.transport, "advice", HELPER_ADVICE)
        if failure is not None:
            return f"{text}: {failure.message}; {advice}"
        details = e.details() if hasattr(e, "details") else str(e)
        return f"{text} ({details}); {advice}"

    # --- one connection -----------------------------------------------------------------------

    async def _connect_once(self, snapshot: bool, once: bool) -> Reconcile | None:
        assert self._bridge is not None
        await self._bridge.reap()  # a process of a dead connection that did not exit on its own
        client = HelperClient(self._bridge.target)
        self._applier.client = client
        self._applier.lane = Lane(self.transport)
        call = client.watch(since_version=0 if snapshot else self._resume_version,
                            instance_id="" if snapshot else self._instance_id, snapshot=snapshot)
        # A batch that fails for the connection's sake ends the watch too.
        pipe = Pipeline(self._apply, workers=_WORKERS, on_failure=lambda e: call.cancel(),
                        merge=merge, weigh=lambda w: len(w.content) if w.content is not None else 0)
        self._rec = None
        self._pipe = pipe
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
            self._pipe = None
            await pipe.close()
            self._applier.client = None
            await client.close()
            self._commit()

    async def _apply(self, batch: list[Work]) -> None:
        """The pipeline's handler: the Applier's, with the retries told what was taken and how it ended."""
        self._retries.taken(batch)
        finished = False
        try:
            await self._applier.handle(batch)
            finished = True
        finally:
            self._retries.settled(batch, finished)

    async def _resubmit(self, work: Work) -> bool:
        """A retry back in the current connection's queue; False when there is none or it has no room."""
        return self._pipe is not None and await self._pipe.offer(work.path, work)

    async def _consume(self, call, pipe: Pipeline, snapshot: bool, once: bool) -> Reconcile | None:
        """Read one Watch stream to its end, feeding the pipeline; returns after one reconcile when `once`."""
        rec: Reconcile | None = None
        first = True
        try:
            async for msg in call:
                if pipe.failure is not None:
                    raise pipe.failure
                if first and msg.kind != pb.FileEvent.HELLO and once:
                    raise LostStream("the helper did not greet this client: it is older than this tool; update the helper image")
                first = False
                for ev in msg.batch if msg.kind == pb.FileEvent.BATCH else (msg,):
                    kind = ev.kind
                    if kind == pb.FileEvent.CHANGE:
                        self._received = max(self._received, ev.version)
                        self.stats.last_version = self._received
                        if ev.event_type == pb.FileEvent.RENAME and ev.old_path:
                            self._applier.renamed_away(ev.old_path, ev.version)
                        await pipe.submit(ev.path, self._work_from(ev))
                    elif kind == pb.FileEvent.SNAPSHOT_FILE:
                        if rec is None:
                            rec = Reconcile()
                            self._set_state(SessionState.RECONCILING, "the helper sends a fresh snapshot")
                        if self.rules.local_path(ev.path) is not None:  # counts what the rules cover
                            rec.add(ev.path, ev.size)
                        work = self._work_from(ev)
                        work.reconcile = rec
                        await pipe.submit(ev.path, work)
                    elif kind == pb.FileEvent.SNAPSHOT_END:
                        rec = rec or Reconcile()
                        rec.missing = tuple(ev.missing_targets)
                        await pipe.drain()
                        for relpath in rec.gone(self._ledger, self.rules):
                            entry = self._ledger.get(relpath)
                            if entry is not None:
                                await pipe.submit(entry.remote_path, Work("delete", entry.remote_path, reconcile=rec))
                        await pipe.drain()
                        self._applier.progress(rec, final=True)
                        self._received = max(self._received, ev.version)
                        self._resume_version = self._received
                        self.stats.last_version = self._received
                        self._need_snapshot = False
                        self._ledger.set_meta("instance_id", self._instance_id)
                        self._ledger.set_meta("last_version", str(self._received))
                        self._commit()
                        if once:
                            if rec.missing:  # a pull cannot say these are in sync
                                self._error(None, f"nothing was pulled from {', '.join(rec.missing)}"
                                                  f"{_missing_note(rec.missing)}", rec)
                            call.cancel()
                            return rec
                        self._set_state(SessionState.WATCHING, f"{_reconciled(rec)}; watching")
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
                        self._check_targets(ev.helper, rec)
                    elif kind == pb.FileEvent.NOTICE:
                        self._notice(ev.notice)
                    elif kind == pb.FileEvent.RESYNC:
                        rec = Reconcile()
                        self._need_snapshot = True
                        self._set_state(SessionState.RECONCILING, "fell behind the helper; reconciling from a snapshot")
            raise LostStream("the helper ended the watch")
        finally:
            self._rec = rec

    def _check_targets(self, info: pb.HelperInfo, rec: Reconcile | None) -> None:
        """Every rule's remoteSrc must be a folder the helper watches: one that none covers is an
        error (once per session, and in the reconcile's count); the covered rules sync on."""
        if not info.working_dir and not info.targets:
            return  # an older helper, that does not say
        for rule in self.rules.bind(info.working_dir, list(info.targets), list(info.target_dirs)):
            text = (f"download rule {rule.remote} -> {rule.local_dst}: the helper in {self.transport.describe()} "
                    f"does not watch {rule.remote}; it watches {', '.join(info.targets)}"
                    f"{f' in {info.working_dir}' if info.working_dir else ''}, so nothing of this rule is synced: "
                    f"give the helper every remoteSrc of the download stanza as its --targets (redeploy the "
                    f"artifact, or attach the helper again)")
            if text not in self._notices:
                self._notices.add(text)
                self._error(None, text, rec)

    def _notice(self, text: str) -> None:
        """Something the helper skips (a name that is not UTF-8): reported once per session."""
        if text and text not in self._notices:
            self._notices.add(text)
            self._error(None, f"the helper in {self.transport.describe()} {text}")

    def _work_from(self, ev: pb.FileEvent) -> Work:
        kind = {pb.FileEvent.DELETE: "delete", pb.FileEvent.RENAME: "rename"}.get(ev.event_type, "change")
        if ev.kind == pb.FileEvent.SNAPSHOT_FILE:
            kind = "change"
        content = ev.content if ev.HasField("content") else None
        md5 = ev.MD5Hash.lower()
        if content is not None and not md5:
            md5 = hashlib.md5(content).hexdigest()
        return Work(kind, ev.path, md5, ev.size, ev.mode, content, ev.old_path, ev.version)


def _reconciled(rec: Reconcile) -> str:
    return f"reconciled {rec.files_total} files ({rec.synced} synced){_missing_note(rec.missing)}"


def _missing_note(missing: tuple[str, ...]) -> str:
    """What a reconcile says of targets the helper could not see."""
    if not missing:
        return ""
    one = len(missing) == 1
    return (f"; {', '.join(missing)} {'does' if one else 'do'} not exist in the container yet: "
            f"{'its' if one else 'their'} local files are kept, and reconciled when "
            f"{'it appears' if one else 'they appear'}")

"""Sync sessions run by the language server: start, stop, list, and engine events turned into
notifications, `$/progress`, `window/showMessage` and conflict prompts.

Sessions run as tasks on the server's asyncio loop; their events arrive on that loop. Imports
the engine lazily so that diagnostics work even where the engine cannot start. Never prints.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable

from lsprotocol import types as lsp
from pygls.uris import to_fs_path

from downstream_sync.sync.events import (Conflict, ConflictResolved, DownloadProgress, FileSkipped, FileSynced,
                                         ReconcileProgress, SessionState, SessionWarning, StateChanged, SyncError,
                                         printable)

from . import protocol

if TYPE_CHECKING:
    from .server import DownstreamSyncServer

log = logging.getLogger(__name__)

MAX_PROMPTS = 5  # conflict prompts open at once, a session; later conflicts only notify
ERROR_QUIET = 5.0  # seconds between two error pop-ups of one session


class CommandError(Exception):
    """A command that cannot be carried out; the message says what and what to do."""


@dataclass
class _Running:
    name: str
    session: Any
    config_path: Path
    artifact: str
    transport: str
    root: Path
    unsubscribe: Any = None
    events: asyncio.Queue = field(default_factory=asyncio.Queue)
    progress_token: str | None = None
    progress_count: int = 0
    downloads: dict[str, str] = field(default_factory=dict)  # local path -> its progress token
    open_prompts: int = 0
    last_shown: float = float("-inf")
    tasks: list[asyncio.Task] = field(default_factory=list)

    def info(self) -> dict[str, Any]:
        state = self.session.state
        stats = self.session.stats
        return {
            "name": self.name,
            "state": str(getattr(state, "name", state)).lower(),
            "configPath": str(self.config_path),
            "artifact": self.artifact,
            "transport": self.transport,
            "stats": {
                "filesSynced": stats.files_synced,
                "bytesSynced": stats.bytes_synced,
                "conflicts": stats.conflicts,
                "errors": stats.errors,
            },
        }


def _options(args: tuple[Any, ...]) -> dict[str, Any]:
    """Command arguments: one object, or a bare config path."""
    if not args:
        return {}
    first = args[0]
    if isinstance(first, str):
        return {"configPath": first}
    if isinstance(first, dict):
        return first
    if hasattr(first, "__dict__"):
        return dict(vars(first))
    raise CommandError(f"expected one object argument, got {type(first).__name__}")


def _optional_str(opts: dict[str, Any], key: str) -> str | None:
    value = opts.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise CommandError(f"'{key}' must be a string, got {value!r}")
    return value


def _argv(opts: dict[str, Any], key: str) -> list[str] | None:
    """A command as an argv list; a string is refused: no shell ever reads what a client sends."""
    value = opts.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        raise CommandError(f"'{key}' must be a list of strings (the program and its arguments, run "
                           f"without a shell), not a command line: write {_as_list(value)}")
    if not isinstance(value, list) or not value or not all(isinstance(a, str) for a in value) or not value[0]:
        raise CommandError(f"'{key}' must be a list of strings, the program first, got {value!r}")
    return value


def _as_list(line: str) -> str:
    """How a command line looks as an argv list, to show in an error."""
    try:
        return json.dumps(shlex.split(line))
    except ValueError:
        return '["program", "arg", ...]'


def config_path(server: "DownstreamSyncServer", opts: dict[str, Any], must_exist: bool = True) -> Path:
    """The skaffold.yaml a command names (`configPath`: a path, workspace-relative or absolute, or a
    file URI), or `skaffold.yaml` at the workspace root."""
    raw = _optional_str(opts, "configPath")
    root = server.workspace.root_path
    if raw is None:
        if root and (Path(root) / "skaffold.yaml").is_file():
            return Path(root) / "skaffold.yaml"
        raise CommandError("this command needs 'configPath': the skaffold.yaml to use")
    path = Path(to_fs_path(raw) or raw) if raw.startswith("file:") else Path(raw).expanduser()
    if not path.is_absolute() and root:
        path = Path(root) / path
    if must_exist and not path.is_file():
        raise CommandError(f"{path} does not exist or is not a file")
    return path.resolve()


def open_text(server: "DownstreamSyncServer", path: Path) -> str | None:
    """The editor's unsaved text of `path`, if it is open."""
    for doc in list(server.workspace.text_documents.values()):
        if doc.path and Path(doc.path).resolve() == path:
            return doc.source
    return None


class Sessions:
    """The sessions of one language server, keyed by name."""

    def __init__(self, server: "DownstreamSyncServer"):
        self.server = server
        self.running: dict[str, _Running] = {}

    def spawn(self, coro: Awaitable[Any], what: str) -> asyncio.Task:
        return self.server.background.spawn(coro, what)

    # --- commands -------------------------------------------------------------------------

    def _config_path(self, opts: dict[str, Any], must_exist: bool = True) -> Path:
        return config_path(self.server, opts, must_exist)

    async def start(self, *args: Any) -> dict[str, Any]:
        """Plan every artifact's session (planner.py) before starting any; a session that cannot
        start takes down those this call started."""
        from downstream_sync.planner import PlanError, plan_sessions

        opts = _options(args)
        options = self._sync_options(opts, self._config_path(opts))
        try:
            planned = await asyncio.to_thread(plan_sessions, options)
        except PlanError as exc:
            raise CommandError(exc.with_details()) from None
        started: list[dict[str, Any]] = []
        fresh: list[str] = []
        for plan in planned.sessions:
            if plan.name in self.running:
                started.append({**self.running[plan.name].info(), "alreadyRunning": True})
                continue
            session = plan.session(owner="the language server of an editor")
            entry = _Running(plan.name, session, options.config_path, plan.image, plan.transport.describe(), plan.root)
            self.running[plan.name] = entry
            entry.unsubscribe = session.subscribe(entry.events.put_nowait)
            entry.tasks.append(self.spawn(self._pump(entry), f"events of session {plan.name}"))
            try:
                await session.start()
            except Exception as exc:
                await self._forget(plan.name)
                for name in fresh:
                    await self._stop_one(name)
                raise CommandError(f"session {plan.name} could not start: {printable(str(exc))}") from exc
            fresh.append(plan.name)
            entry.tasks.append(self.spawn(self._watch(entry), f"session {plan.name}"))
            started.append(entry.info())
        return {"sessions": started}

    def _sync_options(self, opts: dict[str, Any], config_path: Path):
        """The planner's options from a startSession argument (see PROTOCOL.md)."""
        from downstream_sync.planner import SyncOptions

        profile = _optional_str(opts, "profile")
        wanted = opts.get("artifact")
        if isinstance(wanted, str) or wanted is None:
            artifacts = (wanted,) if wanted else ()
        elif isinstance(wanted, list) and all(isinstance(a, str) and a for a in wanted):
            artifacts = tuple(wanted)
        else:
            raise CommandError(f"'artifact' must be an image name or a list of them, got {wanted!r}")
        timeout = opts.get("podTimeout", 60.0)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise CommandError(f"'podTimeout' must be a number of seconds, got {timeout!r}")
        policy = opts.get("policy") or "safe"
        if not isinstance(policy, str):
            raise CommandError(f"'policy' must be 'safe' or 'remote-wins', got {policy!r}")
        connect = _argv(opts, "connectCommand")
        kubeconfig = _optional_str(opts, "kubeconfig")
        return SyncOptions(
            config_path,
            profiles=tuple(p.strip() for p in profile.split(",") if p.strip()) if profile else (),
            artifacts=artifacts,
            namespace=_optional_str(opts, "namespace"),
            kube_context=_optional_str(opts, "kubeContext"),
            kubeconfig=self._path(kubeconfig) if kubeconfig else None,
            selector=_optional_str(opts, "selector"),
            container=_optional_str(opts, "container"),
            connect_command=tuple(connect) if connect else None,
            policy=policy,  # type: ignore[arg-type]
            pod_timeout=float(timeout),
            helper_mode=_optional_str(opts, "helper") or "auto",
            name=_optional_str(opts, "name"),
            text=open_text(self.server, config_path),
        )

    def _path(self, raw: str) -> Path:
        """A path a client sends: a file URI, absolute, `~/...`, or relative to the workspace root."""
        path = Path(to_fs_path(raw) or raw) if raw.startswith("file:") else Path(raw).expanduser()
        root = self.server.workspace.root_path
        return path if path.is_absolute() or not root else Path(root) / path

    async def stop(self, *args: Any) -> dict[str, Any]:
        opts = _options(args)
        name = _optional_str(opts, "name")
        config = _optional_str(opts, "configPath")
        if name is not None:
            if name not in self.running:
                known = ", ".join(sorted(self.running)) or "none"
                raise CommandError(f"no session named '{name}' is running (running: {known})")
            names = [name]
        elif config is not None:
            path = self._config_path(opts, must_exist=False)  # a deleted config's sessions can still stop
            names = [n for n, e in self.running.items() if e.config_path == path]
        else:
            names = list(self.running)
        for n in names:
            await self._stop_one(n)
        return {"stopped": names}

    def list(self, *args: Any) -> dict[str, Any]:
        return {"sessions": [entry.info() for entry in self.running.values()]}

    async def resolve(self, *args: Any) -> dict[str, Any]:
        opts = _options(args)
        name, path, choice = opts.get("session"), opts.get("path"), opts.get("choice")
        if not isinstance(name, str) or name not in self.running:
            raise CommandError(f"no session named '{name}' is running")
        if choice not in ("keep-local", "take-remote"):
            raise CommandError(f"'choice' must be 'keep-local' or 'take-remote', got {choice!r}")
        if not isinstance(path, str) or not path:
            raise CommandError("'path' must be the conflicting file's path")
        try:
            await self.running[name].session.resolve_conflict(path, choice)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        return {"session": name, "path": path, "choice": choice}

    async def stop_all(self) -> None:
        for name in list(self.running):
            await self._stop_one(name)

    # --- internals ------------------------------------------------------------------------

    async def _stop_one(self, name: str) -> None:
        entry = self.running.get(name)
        if entry is None:
            return
        await entry.session.stop()
        await self._forget(name)

    async def _forget(self, name: str) -> None:
        entry = self.running.pop(name, None)
        if entry is None:
            return
        # Deliver, in order, everything the session said up to now; then stop listening.
        if entry.unsubscribe:
            entry.unsubscribe()
        entry.events.put_nowait(None)
        pump = entry.tasks[0]
        try:
            await asyncio.wait_for(asyncio.shield(pump), 10)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            log.warning("events of session %s were not all delivered", name)
        for task in entry.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        self._end_progress(entry, "stopped")
        for token in entry.downloads.values():
            self.server.work_done_progress.end(token, lsp.WorkDoneProgressEnd(message="stopped"))
        entry.downloads.clear()

    async def _watch(self, entry: _Running) -> None:
        try:
            await entry.session.wait()
        except asyncio.CancelledError:
            # Stopped by us, or the loop is closing because the client went away without a
            # shutdown: stop the session properly so its transport process ends too.
            await entry.session.stop()
            raise
        if self.running.get(entry.name) is entry:
            await self._forget(entry.name)

    async def _pump(self, entry: _Running) -> None:
        while True:
            event = await entry.events.get()
            if event is None:
                return
            try:
                await self._handle(entry, event)
            except Exception:
                log.exception("handling %r of session %s failed", event, entry.name)

    async def _handle(self, entry: _Running, event: Any) -> None:
        """One engine event, by its type. Text from a container reaches a person only escaped."""
        if isinstance(event, StateChanged):
            info = {"configPath": str(entry.config_path), "artifact": entry.artifact}
            self.server.protocol.notify(protocol.SESSION_STATE, protocol.session_state(event, info))
            if event.state is not SessionState.RECONCILING:
                self._end_progress(entry, event.detail or event.state.value)
            if event.state is SessionState.FAILED:
                self.server.show_message(f"Downstream Sync session '{entry.name}' failed: {printable(event.detail)}",
                                         lsp.MessageType.Error)
        elif isinstance(event, SessionWarning):
            self.server.show_message(f"Downstream Sync '{entry.name}': {printable(event.message)}",
                                     lsp.MessageType.Warning)
        elif isinstance(event, ReconcileProgress):
            await self._progress(entry, event)
        elif isinstance(event, DownloadProgress):
            await self._download_progress(entry, event)
        elif isinstance(event, (FileSynced, FileSkipped, Conflict, ConflictResolved, SyncError)):
            self.server.protocol.notify(protocol.FILE_EVENT, protocol.file_event(event))
            if isinstance(event, SyncError):
                where = f" ({printable(event.path)})" if event.path else ""
                self._error(entry, f"Downstream Sync '{entry.name}'{where}: {printable(event.message)}")
            elif isinstance(event, Conflict) and not event.repeat:  # a repeat has its prompt, or had it
                if entry.open_prompts < MAX_PROMPTS:
                    entry.open_prompts += 1
                    self.spawn(self._ask(entry, event), f"conflict prompt for {event.path}")
                else:
                    self._error(
                        entry,
                        f"Downstream Sync '{entry.name}': {printable(event.path)} is in conflict too; answer the "
                        "open prompts first, or resolve it with resolveConflict",
                        lsp.MessageType.Warning,
                    )

    def _error(self, entry: _Running, message: str, kind: lsp.MessageType = lsp.MessageType.Error) -> None:
        """window/showMessage, at most one a session every ERROR_QUIET seconds; the rest go to
        window/logMessage, so a burst of failures does not bury the editor in pop-ups."""
        now = time.monotonic()
        if now - entry.last_shown >= ERROR_QUIET:
            entry.last_shown = now
            self.server.show_message(message, kind)
        else:
            self.server.window_log_message(lsp.LogMessageParams(type=kind, message=message))

    # --- progress -------------------------------------------------------------------------

    def _supports_progress(self) -> bool:
        caps = self.server.client_capabilities
        return bool(caps and caps.window and caps.window.work_done_progress)

    async def _progress(self, entry: _Running, event: Any) -> None:
        if not self._supports_progress():
            return
        total = event.files_total
        message = f"{event.files_done}/{total} files"
        if event.bytes_total:
            message += f", {_size(event.bytes_done)} of {_size(event.bytes_total)}"
            percentage = int(100 * event.bytes_done / event.bytes_total)
        else:
            percentage = int(100 * event.files_done / total) if total else 100
        percentage = max(0, min(100, percentage))
        progress = self.server.work_done_progress
        if entry.progress_token is None:
            entry.progress_count += 1
            token = f"downstreamSync/{entry.name}/reconcile/{entry.progress_count}"
            try:
                await progress.create_async(token)
            except Exception as exc:
                log.warning("the client refused progress token %s: %s", token, exc)
                return
            entry.progress_token = token
            progress.begin(
                token,
                lsp.WorkDoneProgressBegin(
                    title=f"Downstream Sync: {entry.name}",
                    message=message,
                    percentage=percentage,
                    cancellable=False,
                ),
            )
        else:
            progress.report(entry.progress_token, lsp.WorkDoneProgressReport(message=message, percentage=percentage))
        if event.files_done >= total:
            self._end_progress(entry, f"{total} files checked")

    async def _download_progress(self, entry: _Running, event: Any) -> None:
        """One `$/progress` token per large download, ended when the download ends."""
        token = entry.downloads.get(event.path)
        progress = self.server.work_done_progress
        if event.finished:
            if token is not None:
                del entry.downloads[event.path]
                progress.end(token, lsp.WorkDoneProgressEnd(message=f"{_size(event.bytes_done)} received"))
            return
        if not self._supports_progress():
            return
        message = f"{_size(event.bytes_done)} of {_size(event.bytes_total)}"
        percentage = max(0, min(100, int(100 * event.bytes_done / event.bytes_total))) if event.bytes_total else 0
        if token is not None:
            progress.report(token, lsp.WorkDoneProgressReport(message=message, percentage=percentage))
            return
        entry.progress_count += 1
        token = f"downstreamSync/{entry.name}/download/{entry.progress_count}"
        try:
            await progress.create_async(token)
        except Exception as exc:
            log.warning("the client refused progress token %s: %s", token, exc)
            return
        entry.downloads[event.path] = token
        progress.begin(token, lsp.WorkDoneProgressBegin(
            title=f"Downstream Sync: {printable(event.path)}", message=message, percentage=percentage,
            cancellable=False))

    def _end_progress(self, entry: _Running, message: str) -> None:
        if entry.progress_token is None:
            return
        token, entry.progress_token = entry.progress_token, None
        self.server.work_done_progress.end(token, lsp.WorkDoneProgressEnd(message=message))

    # --- conflicts ------------------------------------------------------------------------

    async def _ask(self, entry: _Running, event: Any) -> None:
        try:
            await self._prompt(entry, event)
        finally:
            entry.open_prompts -= 1

    async def _prompt(self, entry: _Running, event: Any) -> None:
        kept = f" The container's copy is kept at {printable(event.remote_copy)}." if event.remote_copy else ""
        answer = await self.server.window_show_message_request_async(
            lsp.ShowMessageRequestParams(
                type=lsp.MessageType.Warning,
                message=(
                    f"Downstream Sync '{entry.name}': {printable(event.path)} differs from what was "
                    f"last synced ({printable(event.reason)}).{kept} Which version do you keep?"
                ),
                actions=[lsp.MessageActionItem(title=t) for t in (protocol.KEEP_LOCAL, protocol.TAKE_REMOTE, protocol.SHOW_BOTH)],
            )
        )
        title = getattr(answer, "title", None)
        if title in protocol.CONFLICT_CHOICES:
            if self.running.get(entry.name) is entry:
                try:
                    await entry.session.resolve_conflict(event.path, protocol.CONFLICT_CHOICES[title])
                except ValueError as exc:  # settled meanwhile, or the copy is gone
                    self.server.show_message(f"Downstream Sync '{entry.name}': {printable(str(exc))}",
                                             lsp.MessageType.Warning)
        elif title == protocol.SHOW_BOTH:
            root = entry.root
            for rel in (event.path, event.remote_copy):
                if rel:
                    uri = (root / rel).resolve().as_uri()
                    await self.server.window_show_document_async(lsp.ShowDocumentParams(uri=uri, take_focus=False))


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"

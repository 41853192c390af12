"""Names and payloads of everything this server adds to LSP, as PROTOCOL.md documents them.

Owns the command ids, the notification methods and the builders that turn engine events into
camelCase JSON payloads. Must not import pygls; of the engine, only its event types.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from downstream_sync.sync.events import Conflict, ConflictResolved, FileSkipped, FileSynced, SyncError

START_SESSION = "downstreamSync.server.startSession"
STOP_SESSION = "downstreamSync.server.stopSession"
LIST_SESSIONS = "downstreamSync.server.listSessions"
RESOLVE_CONFLICT = "downstreamSync.server.resolveConflict"
SHOW_INJECTED_MANIFESTS = "downstreamSync.server.showInjectedManifests"
COMMANDS = [START_SESSION, STOP_SESSION, LIST_SESSIONS, RESOLVE_CONFLICT, SHOW_INJECTED_MANIFESTS]

SESSION_STATE = "downstreamSync/sessionState"
FILE_EVENT = "downstreamSync/fileEvent"

# Conflict prompt choices (window/showMessageRequest action titles) and what they mean.
KEEP_LOCAL = "Keep local"
TAKE_REMOTE = "Take remote"
SHOW_BOTH = "Show both"
CONFLICT_CHOICES = {KEEP_LOCAL: "keep-local", TAKE_REMOTE: "take-remote"}

# Engine event type -> fileEvent `kind`.
FILE_EVENT_KINDS = {
    FileSynced: "synced",
    FileSkipped: "skipped",
    Conflict: "conflict",
    ConflictResolved: "resolved",
    SyncError: "error",
}


def camel(name: str) -> str:
    """`remote_copy` -> `remoteCopy`."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return str(value.name).lower()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def fields(event: Any) -> dict[str, Any]:
    """An event dataclass as a camelCase JSON object."""
    return {camel(f.name): _jsonable(getattr(event, f.name)) for f in dataclasses.fields(event)}


def session_state(event: Any, info: dict[str, Any]) -> dict[str, Any]:
    """Payload of downstreamSync/sessionState for a StateChanged event."""
    return {
        "session": event.session,
        "state": _jsonable(event.state),
        "detail": event.detail,
        "time": event.time,
        **info,
    }


def file_event(event: Any) -> dict[str, Any] | None:
    """Payload of downstreamSync/fileEvent, or None for events that are not file events."""
    kind = FILE_EVENT_KINDS.get(type(event))
    if kind is None:
        return None
    return {"kind": kind, **fields(event)}

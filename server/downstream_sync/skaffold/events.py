"""Skaffold's event API (`--rpc-http-port`, `GET /v2/events`) read into the moments the wrapper acts on.

The stream is one JSON object per line, `{"result": {"timestamp": ..., "<eventType>": {...}}}`, with
the event types of proto/v2/skaffold.proto. Of them the wrapper reads the task events: a `DevLoop`
task that `Succeeded` means iteration N deployed (and passed its status check, when one runs: a
failed check fails the iteration); a `StatusCheck` task that `Succeeded` says the pods are ready.
`DeployWatch` turns lines into typed moments; it holds no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = ["DeployUp", "IterationFailed", "Ended", "DeployWatch", "parse_line"]


@dataclass(frozen=True)
class DeployUp:
    """Iteration `iteration` deployed and its pods passed the status check (first: iteration 1)."""

    iteration: int
    status_checked: bool


@dataclass(frozen=True)
class IterationFailed:
    iteration: int
    message: str


@dataclass(frozen=True)
class Ended:
    """Skaffold said it is ending (a TerminationEvent): `status` is Completed or Failed."""

    status: str
    message: str


def parse_line(line: str | bytes) -> dict | None:
    """One event of the stream (the object under "result"), or None for a line that is not one."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    event = value.get("result", value)
    return event if isinstance(event, dict) else None


class DeployWatch:
    """Feed it events (`feed`), in order; it returns the moments they make, each once."""

    def __init__(self) -> None:
        self.checked: set[int] = set()   # iterations whose status check succeeded
        self.reported: set[int] = set()

    def feed(self, event: dict) -> list[DeployUp | IterationFailed | Ended]:
        task = event.get("taskEvent")
        if isinstance(task, dict):
            name, status = task.get("task"), task.get("status")
            iteration = task.get("iteration")
            iteration = int(iteration) if isinstance(iteration, (int, str)) and str(iteration).isdigit() else 0
            if name == "StatusCheck" and status == "Succeeded":
                self.checked.add(iteration)
            elif name == "DevLoop" and status == "Succeeded" and iteration not in self.reported:
                self.reported.add(iteration)
                return [DeployUp(iteration, iteration in self.checked)]
            elif name == "DevLoop" and status == "Failed":
                return [IterationFailed(iteration, _error_message(task))]
            return []
        end = event.get("terminationEvent")
        if isinstance(end, dict):
            return [Ended(str(end.get("status") or ""), _error_message(end, "err"))]
        return []


def _error_message(event: dict, key: str = "actionableErr") -> str:
    err = event.get(key)
    return str(err.get("message") or "") if isinstance(err, dict) else ""

"""Diagnostics of Skaffold YAML documents: which files are checked, debounce per document,
and conversion from config.Diagnostic to lsprotocol.

Must not import the engine (sync/, cluster/).
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import re
from pathlib import Path
from typing import Any, Callable

from lsprotocol import types as lsp

log = logging.getLogger(__name__)

SOURCE = "downstream-sync"
DEFAULT_DELAY = 0.2  # seconds of quiet after a change before checking
_API_VERSION = re.compile(r"^apiVersion:\s*['\"]?skaffold/", re.MULTILINE)

_SEVERITIES = {
    "ERROR": lsp.DiagnosticSeverity.Error,
    "WARNING": lsp.DiagnosticSeverity.Warning,
    "INFORMATION": lsp.DiagnosticSeverity.Information,
    "HINT": lsp.DiagnosticSeverity.Hint,
}


def is_skaffold_yaml(path: Path, text: str | None) -> bool:
    """Named skaffold*.yaml / skaffold*.yml, or YAML whose content says `apiVersion: skaffold/`."""
    name = path.name.lower()
    if fnmatch.fnmatch(name, "skaffold*.yaml") or fnmatch.fnmatch(name, "skaffold*.yml"):
        return True
    if not (name.endswith(".yaml") or name.endswith(".yml")):
        return False
    return bool(text) and _API_VERSION.search(text[:65536]) is not None


def to_lsp(diag: Any) -> lsp.Diagnostic:
    """One config.Diagnostic as lsprotocol; `data` carries the code and the check's data."""
    severity = _SEVERITIES.get(getattr(diag.severity, "name", str(diag.severity)).upper(),
                               lsp.DiagnosticSeverity.Error)
    data = {"code": diag.code}
    if diag.data:
        data.update(diag.data)
    return lsp.Diagnostic(
        range=lsp.Range(
            start=lsp.Position(line=diag.range.start.line, character=diag.range.start.character),
            end=lsp.Position(line=diag.range.end.line, character=diag.range.end.character),
        ),
        severity=severity,
        code=diag.code,
        source=SOURCE,
        message=diag.message,
        data=data,
    )


def _same_file(a: Any, b: Path) -> bool:
    if a is None:
        return True
    try:
        return Path(a).resolve() == b.resolve()
    except (OSError, ValueError):
        return Path(a) == b


def check(path: Path, text: str | None) -> list[lsp.Diagnostic]:
    """The diagnostics of one file; a failure of the checks becomes one diagnostic, never a crash."""
    try:
        from downstream_sync.config import check_file

        found = check_file(path, text=text)
        return [to_lsp(d) for d in found if _same_file(getattr(d, "file", None), path)]
    except RecursionError:
        reason = "it is nested too deeply to read"
    except Exception as exc:  # the checks must never take the server down
        log.exception("checking %s failed", path)
        reason = f"the checks failed: {type(exc).__name__}: {exc}"
    return [
        lsp.Diagnostic(
            range=lsp.Range(start=lsp.Position(line=0, character=0), end=lsp.Position(line=0, character=0)),
            severity=lsp.DiagnosticSeverity.Error,
            code="internal-error",
            source=SOURCE,
            message=f"{path.name} could not be checked: {reason}",
        )
    ]


class Debouncer:
    """Runs a document's check once its text has been quiet for `delay` seconds.

    `publish(uri, version, diagnostics)` is called on the loop; results for a version that is no
    longer current are dropped by the caller's version check.
    """

    def __init__(self, run: Callable[[str], Any], delay: float = DEFAULT_DELAY):
        self.delay = delay
        self._run = run
        self._pending: dict[str, asyncio.TimerHandle] = {}

    def schedule(self, uri: str) -> None:
        self.cancel(uri)
        loop = asyncio.get_running_loop()
        if self.delay <= 0:
            self._pending[uri] = loop.call_soon(self._fire, uri)
        else:
            self._pending[uri] = loop.call_later(self.delay, self._fire, uri)

    def cancel(self, uri: str) -> None:
        handle = self._pending.pop(uri, None)
        if handle is not None:
            handle.cancel()

    def _fire(self, uri: str) -> None:
        self._pending.pop(uri, None)
        self._run(uri)

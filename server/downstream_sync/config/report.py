"""The lines of `downstream-sync validate FILE`: every diagnostic as `file:line:col: severity: code: message`.

Owns formatting diagnostics for a terminal (1-based line and column) and the exit code; it returns
lines and never prints. Must not import pygls or lsprotocol.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .loader import load_project
from .model import Diagnostic, Severity

_NAMES = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFORMATION: "info", Severity.HINT: "hint"}


def _shown(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return rel if not rel.startswith("..") else str(path)


def format_diagnostic(d: Diagnostic) -> str:
    """`file:line:col: severity: code: message`, with 1-based line and column."""
    return (f"{_shown(d.file)}:{d.range.start.line + 1}:{d.range.start.character + 1}: "
            f"{_NAMES[d.severity]}: {d.code}: {d.message}")


def validate(path: str | os.PathLike, profiles: Iterable[str] = ()) -> tuple[list[str], int]:
    """The lines to print for a project's config and the exit code: 1 when any error, else 0."""
    project = load_project(path, profiles=profiles)
    lines = [format_diagnostic(d) for d in project.diagnostics]
    return lines, 1 if project.has_errors else 0

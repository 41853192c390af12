"""Reading skaffold.yaml with positions, checking the download stanza, turning it into sync rules.

Owns the project model. Must not import pygls, lsprotocol, or anything of the terminal.

    project = load_project("skaffold.yaml", profiles=("dev",))
    project.artifacts[0].download.mappings[0].local_path
    for d in project.diagnostics: print(format_diagnostic(d))
"""

from __future__ import annotations

import os
from pathlib import Path

from .loader import find_config, load_project
from .model import Artifact, Diagnostic, Download, Location, Mapping, Position, Project, Range, Severity
from .report import format_diagnostic, validate

__all__ = [
    "load_project", "check_file", "format_diagnostic", "validate", "find_config",
    "Project", "Artifact", "Download", "Mapping", "Diagnostic", "Severity", "Range", "Position", "Location",
]


def check_file(path: str | os.PathLike, text: str | None = None) -> list[Diagnostic]:
    """The diagnostics of one config file as an editor sees it (`text` is its unsaved content);
    files it requires are read too, but only this file's diagnostics are returned."""
    project = load_project(path, text=text)
    main = project.path
    return [d for d in project.diagnostics if d.file == main]

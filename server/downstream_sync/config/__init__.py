"""Reading skaffold.yaml with positions and checking its download stanza: one loader for the project.

Owns the project model the engine reads and the diagnostics the editor and the CLI show (codes in
CODES.md). Modules: yamlpos (text to nodes, safely), loader (files, documents, requires), profiles
(activation, patches), checks and overlaps (the download checks), sink, model, report (CLI lines).
Must not import pygls, lsprotocol, or anything of the terminal.

    project = load_project("skaffold.yaml", profiles=("dev",), command="dev")
    for artifact in project.artifacts:
        for m in artifact.download.mappings if artifact.download else ():
            m.remote_src, m.local_path   # local_path: absolute, inside the folder of its skaffold.yaml
    lines, exit_code = validate("skaffold.yaml")
"""

from __future__ import annotations

import os

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

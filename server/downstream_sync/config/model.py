"""The project model: positions, diagnostics, artifacts and their download stanzas, as plain dataclasses.

Owns the shapes every other part reads. Must not import YAML, pygls, lsprotocol or the terminal.
Lines and characters are 0-based, as in LSP; characters count Unicode code points of the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any


@dataclass(frozen=True, order=True)
class Position:
    line: int
    character: int


@dataclass(frozen=True)
class Range:
    start: Position
    end: Position

    @classmethod
    def at(cls, line: int, character: int, length: int = 0) -> "Range":
        """A range on one line, `length` characters long."""
        return cls(Position(line, character), Position(line, character + length))


START = Range(Position(0, 0), Position(0, 0))


class Severity(IntEnum):
    """Same numbers as LSP's DiagnosticSeverity."""

    ERROR = 1
    WARNING = 2
    INFORMATION = 3
    HINT = 4


@dataclass(frozen=True)
class Diagnostic:
    file: Path
    range: Range
    severity: Severity
    code: str
    message: str
    data: dict[str, Any] | None = None


@dataclass(frozen=True)
class Location:
    file: Path
    range: Range


@dataclass(frozen=True)
class Mapping:
    """One `download.manual` rule: `remote_src` in the container, `local_dst` relative to the
    folder of the skaffold.yaml that declares it (`local_path` is that, resolved and absolute)."""

    remote_src: str
    local_dst: str
    range: Range
    remote_src_range: Range
    local_dst_range: Range
    local_path: Path | None = None


@dataclass(frozen=True)
class Download:
    mappings: list[Mapping]
    excludes: list[str]
    range: Range
    exclude_ranges: list[Range] = field(default_factory=list)


@dataclass
class Artifact:
    """One `build.artifacts` entry after profiles. `source` is where it is written (for a patched
    artifact, where its node came from); `root` is the folder of its skaffold.yaml, which
    `context` and `localDst` are relative to. `sync_sources` are the local globs of its sync rules
    (manual `src` and `infer`), joined to `context` so they are relative to `root`."""

    image: str
    context: str
    source: Location
    root: Path
    sync: dict[str, Any] | None = None
    sync_sources: list[str] = field(default_factory=list)
    download: Download | None = None
    config_name: str | None = None


@dataclass
class Project:
    root: Path
    path: Path
    files: list[Path] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
    # The raw YAML manifests it deploys (`manifests.rawYaml`, or `deploy.kubectl.manifests` of
    # older configs), after profiles: each glob with the folder of the config that names it.
    raw_yaml: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def has_errors(self) -> bool:
        return any(d.severity == Severity.ERROR for d in self.diagnostics)

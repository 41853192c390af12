"""Where the checks of one file put their diagnostics, and the rule that keeps localDst in its folder.

Owns Sink and normalize_local. Must not import the checks, the loader, pygls, lsprotocol or the terminal.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path

from .model import Diagnostic, Range, Severity


@dataclass
class Sink:
    """Where the checks of one file put their diagnostics; `root` is the folder localDst is relative to."""

    file: Path
    root: Path
    out: list[Diagnostic] = field(default_factory=list)
    memo: dict = field(default_factory=dict)  # id(node) -> (node, model) already read and checked

    def add(self, rng: Range, severity: Severity, code: str, message: str, data: dict | None = None) -> None:
        self.out.append(Diagnostic(self.file, rng, severity, code, message, data))

    def error(self, rng: Range, code: str, message: str, data: dict | None = None) -> None:
        self.add(rng, Severity.ERROR, code, message, data)

    def warning(self, rng: Range, code: str, message: str, data: dict | None = None) -> None:
        self.add(rng, Severity.WARNING, code, message, data)


def normalize_local(local_dst: str, sink_root: Path) -> str | None:
    """`local_dst` as a normalized POSIX path relative to `sink_root`, or None when it leaves it."""
    text = local_dst.replace("\\", "/")
    if posixpath.isabs(text) or (len(text) > 1 and text[1] == ":"):
        try:
            rel = Path(os.path.normpath(text)).relative_to(Path(os.path.normpath(sink_root)))
        except ValueError:
            return None
        text = rel.as_posix()
    norm = posixpath.normpath(text)
    if norm == ".." or norm.startswith("../"):
        return None
    return norm

"""Hover documentation for the download stanza's keys. Must not import the engine."""

from __future__ import annotations

from lsprotocol import types as lsp

from .context import parents, read_line, stanza_parent
from .keys import BY_NAME, markdown


def hover(lines: list[str], position: lsp.Position) -> lsp.Hover | None:
    if position.line >= len(lines):
        return None
    line = read_line(lines[position.line])
    if line is None or line.key is None:
        return None
    start, end = line.key_col, line.key_col + len(line.key)
    if lines[position.line][start : start + 1] in ("'", '"'):
        end += 2
    if not start <= position.character <= end:
        return None
    parent = stanza_parent(parents(lines, position.line, start))
    key = BY_NAME.get((parent, line.key)) if parent else None
    if key is None:
        return None
    return lsp.Hover(
        contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=markdown(key)),
        range=lsp.Range(
            start=lsp.Position(line=position.line, character=start),
            end=lsp.Position(line=position.line, character=end),
        ),
    )

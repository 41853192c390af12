"""Where in a YAML document a position is: the chain of mapping keys above it.

A light reading by indentation, made for completion and hover on buffers that are often half
typed and do not parse. Must not import pygls or the engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# An optional run of "- " list markers, then a plain or quoted key and a colon.
_LINE = re.compile(r"^(?P<indent> *)(?P<dashes>(?:- +)*)(?P<key>[A-Za-z_][\w.-]*|\"[^\"]*\"|'[^']*')?(?P<colon> *:(?: |$))?")

# Reading stops this many lines above the position: stanzas are never that long.
_MAX_LOOKBACK = 2000


@dataclass(frozen=True)
class Line:
    key_col: int  # column where the key (or the content) starts, after list markers
    dash_col: int | None  # column of the last "- " marker, if any
    key: str | None  # the key, when the line is "key:" or "key: value"


def read_line(text: str) -> Line | None:
    """None for blank and comment lines."""
    stripped = text.strip()
    if not stripped or stripped.startswith("#"):
        return None
    m = _LINE.match(text)
    indent = len(m.group("indent"))
    dashes = m.group("dashes")
    dash_col = None
    if dashes:
        dash_col = indent + dashes.rstrip().rfind("-")
    key = m.group("key") if m.group("colon") else None
    if key and key[0] in "\"'":
        key = key[1:-1]
    return Line(indent + len(dashes), dash_col, key)


def parents(lines: list[str], line_no: int, column: int) -> list[str]:
    """The keys of the mappings that hold a key starting at (line_no, column), outermost first.

    List items are transparent: inside `manual: [- remoteSrc: ...]` the parent is "manual".
    """
    prefix = lines[line_no][:column] if line_no < len(lines) else ""
    m = _LINE.match(prefix)
    dashes = m.group("dashes")
    if dashes:
        limit, in_item = len(m.group("indent")) + dashes.rstrip().rfind("-"), True
    else:
        limit, in_item = len(m.group("indent")), False
    chain: list[str] = []
    for i in range(min(line_no, len(lines)) - 1, max(-1, line_no - 1 - _MAX_LOOKBACK), -1):
        if limit == 0 and not in_item:
            break
        line = read_line(lines[i])
        if line is None:
            continue
        if line.key is not None and (
            line.key_col < limit or (in_item and line.key_col == limit and line.dash_col is None)
        ):
            chain.append(line.key)
            if line.dash_col is not None:
                limit, in_item = line.dash_col, True
            else:
                limit, in_item = line.key_col, False
        elif line.dash_col is not None and line.dash_col < limit <= line.key_col:
            limit, in_item = line.dash_col, True
    chain.reverse()
    return chain


def word_at(line: str, column: int) -> tuple[str, int, int] | None:
    """The identifier under `column` with its start and end columns."""
    for m in re.finditer(r"[A-Za-z_][\w-]*", line):
        if m.start() <= column <= m.end():
            return m.group(), m.start(), m.end()
    return None


def stanza_parent(chain: list[str]) -> str | None:
    """Which table parent (see keys.KEYS) a key chain corresponds to, if any."""
    if len(chain) >= 2 and chain[0] == "build" and chain[1] == "artifacts":
        rest = chain[2:]
    elif len(chain) >= 3 and chain[0] == "profiles" and chain[1] == "build" and chain[2] == "artifacts":
        rest = chain[3:]
    else:
        return None
    if not rest:
        return "artifact"
    if rest == ["download"]:
        return "download"
    if rest == ["download", "manual"]:
        return "manual"
    return None

"""Doublestar globs for excludes, shared by the helper and the local side so both agree.

Patterns are POSIX: `*` and `?` stay within one path segment, `**` as a whole segment spans any
number of segments (zero included), `[abc]`/`[!a-z]` are classes, `{a,b}` alternatives, and `\\`
escapes.

What a pattern is matched against (the one meaning, on both sides of the wire): a file below a
target (a remoteSrc folder) is excluded when a pattern matches its path below the target, or its
path as the wire spells it, target included. With targets `src,abc,/tmp`: `node_modules/*`
excludes `src/node_modules/x`; `abc/bb.js` excludes the file `bb.js` of target `abc`; `/tmp/*.log`
excludes the logs of target `/tmp`, and `tmp/*` excludes nothing there (the wire path of an absolute
target starts with `/`). A path is also excluded when a folder above it, up to its target, matches,
so `node_modules/*` excludes everything below `node_modules`, and such a folder need not be watched.
A pattern never excludes a target itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["GlobError", "compile_glob", "Excludes"]


class GlobError(ValueError):
    """A pattern that does not parse; `position` is the 0-based offset of the fault in it."""

    def __init__(self, pattern: str, position: int, reason: str):
        super().__init__(f"bad glob {pattern!r} at character {position + 1}: {reason}")
        self.pattern = pattern
        self.position = position
        self.reason = reason


def _segment_regex(pattern: str, seg: str, offset: int) -> str:
    out: list[str] = []
    i = 0
    brace_depth = 0
    while i < len(seg):
        c = seg[i]
        if c == "\\":
            if i + 1 >= len(seg):
                raise GlobError(pattern, offset + i, "a trailing backslash escapes nothing")
            out.append(re.escape(seg[i + 1]))
            i += 2
            continue
        if c == "*":
            if i + 1 < len(seg) and seg[i + 1] == "*":
                raise GlobError(pattern, offset + i, "'**' must be a whole path segment, as in 'a/**/b'")
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = i + 1
            if end < len(seg) and seg[end] in "!^":
                end += 1
            if end < len(seg) and seg[end] == "]":
                end += 1
            while end < len(seg) and seg[end] != "]":
                end += 1
            if end >= len(seg):
                raise GlobError(pattern, offset + i, "'[' opens a character class that is never closed")
            body = seg[i + 1:end]
            negate = body[:1] in ("!", "^")
            if negate:
                body = body[1:]
            if not body:
                raise GlobError(pattern, offset + i, "empty character class '[]'")
            for k in range(1, len(body) - 1):
                if body[k] == "-" and body[k - 1] > body[k + 1]:
                    raise GlobError(pattern, offset + i,
                                    f"reversed range '{body[k - 1]}-{body[k + 1]}' in a character class")
            body = body.replace("\\", "\\\\").replace("[", "\\[")
            out.append(f"[^/{body}]" if negate else f"[{body}]")
            i = end
        elif c == "{":
            brace_depth += 1
            out.append("(?:")
        elif c == "}":
            if brace_depth == 0:
                raise GlobError(pattern, offset + i, "'}' closes no '{'")
            brace_depth -= 1
            out.append(")")
        elif c == "," and brace_depth:
            out.append("|")
        else:
            out.append(re.escape(c))
        i += 1
    if brace_depth:
        raise GlobError(pattern, offset + seg.rindex("{"), "'{' opens alternatives that are never closed")
    return "".join(out)


def compile_glob(pattern: str) -> re.Pattern[str]:
    """Compile one doublestar pattern to a regex over a POSIX path (a leading `/` stays: such a
    pattern matches only wire paths of absolute targets); raises GlobError."""
    if not pattern or not pattern.strip("/"):
        raise GlobError(pattern, 0, "an empty pattern matches nothing")
    body = pattern.strip("/")
    offset = len(pattern) - len(pattern.lstrip("/"))
    parts: list[str] = []
    segments = body.split("/")
    for index, seg in enumerate(segments):
        if seg == "**":
            last = index == len(segments) - 1
            parts.append(".*" if last else "(?:[^/]+/)*")
        else:
            parts.append(_segment_regex(pattern, seg, offset) + ("" if index == len(segments) - 1 else "/"))
        offset += len(seg) + 1
    regex = ("/" if pattern.startswith("/") else "") + "".join(parts)
    # "a/**" also matches "a" itself, as in doublestar.
    regex = regex.replace("/.*", "(?:/.*)?") if regex.endswith("/.*") else regex
    try:
        return re.compile(f"(?s:{regex})\\Z")
    except re.error as e:  # a last guard: the parser above names every fault it knows
        raise GlobError(pattern, 0, e.msg) from None


@dataclass(frozen=True)
class Excludes:
    """A set of exclude patterns, checked against paths relative to one target."""

    patterns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regexes", tuple(compile_glob(p) for p in self.patterns))
        # `a/*` and `a/**` exclude everything below a folder matching `a`.
        folders = [p.rstrip("/")[: -len(tail)] for p in self.patterns for tail in ("/**", "/*")
                   if p.rstrip("/").endswith(tail) and p.rstrip("/")[: -len(tail)].strip("/")]
        object.__setattr__(self, "_folders", tuple(compile_glob(f) for f in folders))

    def matches(self, rel_path: str) -> bool:
        """True when `rel_path` itself matches a pattern (not looking at its parents)."""
        return any(r.match(rel_path) for r in self._regexes)  # type: ignore[attr-defined]

    def excludes_all_below(self, rel_folder: str, target: str = ".") -> bool:
        """True when every path below `rel_folder` of `target` is excluded (it needs no watch): the
        folder itself or a folder above it is excluded, or a pattern is `<folder>/*` or `<folder>/**`."""
        if self.excludes(rel_folder, target):
            return True
        return any(r.match(spelling) for r in self._folders  # type: ignore[attr-defined]
                   for spelling in _spellings(rel_folder, target))

    def excludes(self, rel_path: str, target: str = ".") -> bool:
        """True when `rel_path` below `target` (as the wire spells the target; "." for the working
        directory), or a folder above it up to the target, matches a pattern (see the module)."""
        if not self.patterns or not rel_path:
            return False
        return any(self.matches(spelling) for spelling in _spellings(rel_path, target))


def _spellings(rel_path: str, target: str):
    """`rel_path` and each folder above it below the target, as a path below the target and as
    the wire spells it (target included)."""
    parts = rel_path.strip("/").split("/")
    prefix = "" if target in ("", ".") else target.rstrip("/") + "/"
    for n in range(1, len(parts) + 1):
        below = "/".join(parts[:n])
        yield below
        if prefix:
            yield prefix + below

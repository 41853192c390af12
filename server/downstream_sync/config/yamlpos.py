"""YAML text to position-carrying nodes, safely: no Python objects from tags, no alias expansion.

Owns decoding bytes, composing documents from the parser's events (libyaml when present), and the
guards against hostile input (binary data, bad UTF-8, huge files, deep nesting, alias bombs,
recursive aliases). Problems come back as `Problem`s, never as exceptions.
Must not import the checks, the loader, pygls, lsprotocol or the terminal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml
from yaml.resolver import Resolver

from .model import Position, Range, Severity, START

MAX_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 200
MAX_EXPANDED = 100_000  # nodes that aliases may add to one document

_Parser = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
_resolver = Resolver()
_MERGE = "tag:yaml.org,2002:merge"

SCALAR, SEQ, MAP = "scalar", "seq", "map"
SEVERITY = {"yaml-unicode-line-break": Severity.WARNING}  # problems that are not errors


class Node:
    """One YAML node. `value` is a str (scalar), a list of nodes (seq) or of (key, value) pairs (map).
    Aliased nodes are the same object wherever they are used. Positions are kept as (line, column)
    tuples and handed out as Position."""

    __slots__ = ("kind", "value", "_start", "_end", "tag", "style", "implicit", "flow", "_open", "_resolved", "_items")

    def __init__(self, kind, value, start: tuple[int, int], end: tuple[int, int], tag=None, style=None,
                 implicit=(True, True), flow=False):
        self.kind = kind
        self.value = value
        self._start = start
        self._end = end
        self.tag = tag
        self.style = style
        self.implicit = implicit
        self.flow = flow
        self._open = False
        self._resolved: str | None = None
        self._items: list | None = None

    @property
    def start(self) -> Position:
        return Position(*self._start)

    @property
    def end(self) -> Position:
        return Position(*self._end)

    @property
    def range(self) -> Range:
        return Range(Position(*self._start), Position(*self._end))

    @property
    def resolved_tag(self) -> str:
        if self._resolved is None:
            if self.tag not in (None, "!"):
                self._resolved = self.tag
            elif self.kind == SCALAR:
                self._resolved = _resolver.resolve(yaml.ScalarNode, self.value, self.implicit)
            else:
                self._resolved = "tag:yaml.org,2002:" + ("seq" if self.kind == SEQ else "map")
        return self._resolved

    def __repr__(self) -> str:
        return f"Node({self.kind}, {self._start[0]}:{self._start[1]})"


def clone(node: Node, value) -> Node:
    """A copy of `node` holding `value`; used to patch a tree without touching the original."""
    return Node(node.kind, value, node._start, node._end, node.tag, node.style, node.implicit, node.flow)


def kind_name(node: Node | None) -> str:
    """How a message names what it found: 'a string', 'a list', ..."""
    if node is None:
        return "nothing"
    if node.kind == SEQ:
        return "a list"
    if node.kind == MAP:
        return "a mapping"
    tag = node.resolved_tag.rsplit(":", 1)[-1]
    return {"str": "a string", "int": "a number", "float": "a number", "bool": "a boolean",
            "null": "an empty value"}.get(tag, f"a {tag}")


def is_str(node: Node | None) -> bool:
    return node is not None and node.kind == SCALAR and node.resolved_tag == "tag:yaml.org,2002:str"


def is_text(node: Node | None) -> bool:
    """A scalar usable as a path or a glob: a string, or a number written as such (`2024`), as
    Skaffold itself reads numbers into string fields."""
    return node is not None and node.kind == SCALAR and node.resolved_tag in _TEXT_TAGS


_TEXT_TAGS = frozenset("tag:yaml.org,2002:" + t for t in ("str", "int", "float"))


def is_null(node: Node | None) -> bool:
    return node is None or (node.kind == SCALAR and node.resolved_tag == "tag:yaml.org,2002:null")


def _is_merge(key: Node) -> bool:
    return key.kind == SCALAR and (key.value == "<<" or key.tag == _MERGE) and key.resolved_tag == _MERGE


def items(node: Node) -> list[tuple[Node, Node]]:
    """The (key, value) pairs of a mapping, with `<<` merge keys applied (own keys win).
    Nodes do not change once composed, so the answer is kept; callers must not modify it."""
    if node._items is None:
        node._items = _merged(node)
    return node._items


def _merged(node: Node) -> list[tuple[Node, Node]]:
    pairs = node.value
    if not any(_is_merge(k) for k, _ in pairs):
        return pairs
    own = [(k, v) for k, v in pairs if not _is_merge(k)]
    merges = [v for k, v in pairs if _is_merge(k)]
    seen = {k.value for k, _ in own if k.kind == SCALAR}
    out = list(own)
    sources: list[Node] = []
    for m in merges:
        sources.extend(m.value if m.kind == SEQ else [m])
    for src in sources:
        if src.kind != MAP:
            continue
        for k, v in items(src):
            if k.kind == SCALAR and k.value not in seen:
                seen.add(k.value)
                out.append((k, v))
    return out


def get(node: Node | None, key: str) -> tuple[Node, Node] | None:
    """The (key node, value node) for `key` in a mapping node, or None."""
    if node is None or node.kind != MAP:
        return None
    for k, v in items(node):
        if k.kind == SCALAR and k.value == key:
            return k, v
    return None


def value(node: Node | None, key: str) -> Node | None:
    pair = get(node, key)
    return pair[1] if pair else None


def to_data(node: Node | None, _memo: dict | None = None):
    """Plain Python data for a node (str, int, float, bool, None, list, dict). Shared nodes give
    shared objects, so aliases are not expanded."""
    if node is None:
        return None
    memo = {} if _memo is None else _memo
    if id(node) in memo:
        return memo[id(node)]
    if node.kind == SCALAR:
        return _scalar(node)
    if node.kind == SEQ:
        out_list: list = []
        memo[id(node)] = out_list
        out_list.extend(to_data(n, memo) for n in node.value)
        return out_list
    out: dict = {}
    memo[id(node)] = out
    for k, v in items(node):
        key = to_data(k, memo)
        out[key if isinstance(key, (str, int, float, bool, type(None))) else str(key)] = to_data(v, memo)
    return out


_constructor = yaml.constructor.SafeConstructor()
_TYPED = {"tag:yaml.org,2002:" + t for t in ("null", "bool", "int", "float")}


def _scalar(node: Node):
    tag = node.resolved_tag
    if tag not in _TYPED:
        return node.value
    try:
        return _constructor.yaml_constructors[tag](_constructor, yaml.ScalarNode(tag, node.value))
    except (ValueError, TypeError, yaml.YAMLError):
        return node.value


@dataclass
class Problem:
    range: Range
    code: str
    message: str


@dataclass
class Document:
    root: Node | None
    range: Range


@dataclass
class Parsed:
    documents: list[Document] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def decode(data: bytes) -> tuple[str | None, Problem | None]:
    """Bytes to text; a binary or non-UTF-8 file gives a Problem instead."""
    if b"\0" in data[:8192]:
        return None, Problem(START, "file-binary", "this is a binary file, not YAML text")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as e:
        head = data[: e.start].decode("utf-8", "replace")
        line = head.count("\n")
        char = len(head) - (head.rfind("\n") + 1)
        return None, Problem(Range.at(line, char, 1), "file-not-utf8",
                             f"byte 0x{data[e.start]:02x} at offset {e.start} is not valid UTF-8; save the file as UTF-8")


def parse(text: str) -> Parsed:
    """Compose every document of `text` into nodes with positions; never raises on bad input."""
    out = Parsed()
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        out.problems.append(Problem(START, "file-too-large",
                                    f"file is {size / 1048576:.1f} MB; files over {MAX_BYTES // 1048576} MB are not read"))
        return out
    if "\0" in text:
        at = text.index("\0")
        out.problems.append(Problem(_index_range(text, at), "file-binary", "this is a binary file, not YAML text"))
        return out
    surrogate = _SURROGATE.search(text)
    if surrogate:
        out.problems.append(Problem(_index_range(text, surrogate.start()), "file-not-utf8",
                                    f"U+{ord(surrogate.group()):04X} is a lone surrogate, not Unicode text"))
        return out
    odd = _ODD_BREAK.search(text)
    if odd:
        # YAML 1.1 ends lines at these, editors do not: read them as spaces so positions agree.
        out.problems.append(Problem(_index_range(text, odd.start()), "yaml-unicode-line-break",
                                    f"U+{ord(odd.group()):04X} is a line break to YAML but not to editors; "
                                    "it is read as a space"))
        text = _ODD_BREAK.sub(" ", text)
    try:
        _compose(text, out)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        rng = Range.at(mark.line, mark.column, 1) if mark else START
        msg = " ".join(x for x in (e.context, e.problem) if x) or str(e)
        if "nesting depth" in msg:  # libyaml's own limit
            out.problems.append(Problem(rng, "yaml-too-deep", f"YAML nested too deeply: {msg}; the file is not read"))
        else:
            out.problems.append(Problem(rng, "yaml-syntax", f"YAML syntax: {msg}"))
    except yaml.reader.ReaderError as e:
        out.problems.append(Problem(_index_range(text, e.position), "yaml-syntax", f"YAML: {e.reason}"))
    except _Stop as e:
        out.problems.append(e.problem)
    except (yaml.YAMLError, RecursionError, MemoryError, ValueError) as e:  # last resort, never raise
        out.problems.append(Problem(START, "yaml-syntax", f"YAML could not be read: {e}"))
    return out


_SURROGATE = re.compile("[\ud800-\udfff]")
_ODD_BREAK = re.compile("[\x85\u2028\u2029]")


class _Stop(Exception):
    def __init__(self, problem: Problem):
        self.problem = problem


def _index_range(text: str, index: int) -> Range:
    head = text[:index]
    line = head.count("\n")
    return Range.at(line, index - (head.rfind("\n") + 1), 1)


def _pos(mark) -> tuple[int, int]:
    return mark.line, mark.column


def _compose(text: str, out: Parsed) -> None:
    stack: list[list] = []  # [node, pending key]
    anchors: dict[str, Node] = {}
    root: Node | None = None
    doc_start = (0, 0)
    measured: dict[int, tuple[int, int]] = {}  # alias targets: (expanded size, height)
    expanded = 0  # nodes added to this document by its aliases

    def attach(node: Node) -> None:
        nonlocal root
        if not stack:
            root = node
            return
        frame = stack[-1]
        parent = frame[0]
        if parent.kind == SEQ:
            parent.value.append(node)
        elif frame[1] is None:
            frame[1] = node
        else:
            parent.value.append((frame[1], node))
            frame[1] = None

    scalar_event = yaml.ScalarEvent
    for ev in yaml.parse(text, Loader=_Parser):
        cls = type(ev)
        if cls is scalar_event:  # the common case, attached inline
            sm, em = ev.start_mark, ev.end_mark
            node = Node(SCALAR, ev.value, (sm.line, sm.column), (em.line, em.column), ev.tag, ev.style, ev.implicit)
            if ev.anchor:
                anchors[ev.anchor] = node
            if not stack:
                root = node
                continue
            frame = stack[-1]
            if frame[0].kind == SEQ:
                frame[0].value.append(node)
            elif frame[1] is None:
                frame[1] = node
            else:
                frame[0].value.append((frame[1], node))
                frame[1] = None
        elif cls is yaml.MappingStartEvent or cls is yaml.SequenceStartEvent:
            if len(stack) >= MAX_DEPTH:
                raise _Stop(Problem(Range.at(ev.start_mark.line, ev.start_mark.column, 1), "yaml-too-deep",
                                    f"YAML nested deeper than {MAX_DEPTH} levels; the file is not read"))
            kind = MAP if cls is yaml.MappingStartEvent else SEQ
            node = Node(kind, [], _pos(ev.start_mark), _pos(ev.end_mark), ev.tag, None, (ev.implicit, ev.implicit),
                        bool(ev.flow_style))
            node._open = True
            if ev.anchor:
                anchors[ev.anchor] = node
            attach(node)
            stack.append([node, None])
        elif cls is yaml.MappingEndEvent or cls is yaml.SequenceEndEvent:
            node = stack.pop()[0]
            node._open = False
            if node.flow or not node.value:
                node._end = _pos(ev.end_mark)
            else:
                last = node.value[-1]
                node._end = (last[1] if node.kind == MAP else last)._end
        elif cls is yaml.AliasEvent:
            target = anchors.get(ev.anchor)
            rng = Range(Position(*_pos(ev.start_mark)), Position(*_pos(ev.end_mark)))
            if target is None:
                raise _Stop(Problem(rng, "yaml-syntax", f"YAML syntax: alias *{ev.anchor} names no anchor defined before it"))
            if target._open:
                raise _Stop(Problem(rng, "yaml-recursive-alias",
                                    f"alias *{ev.anchor} is used inside its own anchor; recursive YAML is not read"))
            size, height = _measure(target, measured)
            expanded += size
            if expanded > MAX_EXPANDED:
                raise _Stop(Problem(rng, "yaml-alias-bomb", f"aliases expand this document past {MAX_EXPANDED:,} "
                                    f"nodes at *{ev.anchor}; the file is not read further"))
            if len(stack) + height > MAX_DEPTH:
                raise _Stop(Problem(rng, "yaml-too-deep", f"alias *{ev.anchor} nests the YAML deeper than "
                                    f"{MAX_DEPTH} levels; the file is not read further"))
            attach(target)
        elif cls is yaml.DocumentStartEvent:
            root, anchors, doc_start = None, {}, _pos(ev.start_mark)
            measured, expanded = {}, 0
        elif cls is yaml.DocumentEndEvent:
            out.documents.append(Document(root, Range(Position(*doc_start), Position(*_pos(ev.end_mark)))))


def _measure(node: Node, memo: dict[int, tuple[int, int]]) -> tuple[int, int]:
    """(nodes reached when aliases are expanded, height) of a complete node, without recursion;
    `memo` keeps the answer for every collection measured in this document."""
    if node.kind == SCALAR:
        return 1, 0
    todo = [(node, False)]
    while todo:
        current, children_done = todo.pop()
        if id(current) in memo:
            continue
        kids = current.value if current.kind == SEQ else [x for pair in current.value for x in pair]
        if not children_done:
            todo.append((current, True))
            todo.extend((k, False) for k in kids if k.kind != SCALAR and id(k) not in memo)
            continue
        size, height = 1, 0
        for k in kids:
            ks, kh = (1, 0) if k.kind == SCALAR else memo[id(k)]
            size, height = size + ks, max(height, kh)
        memo[id(current)] = (min(size, MAX_EXPANDED + 1), height + 1)
    return memo[id(node)]

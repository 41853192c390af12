"""The checks of the `download` stanza: each problem is a Diagnostic with an exact range and a stable code.

Owns reading a `download` node into the model while checking it (types, unknown keys, missing or
empty values, a localDst that leaves the project, exclude globs), the checks between rules (duplicates,
overlaps, two artifacts writing one folder, overlap with the artifact's sync sources) and the
checks of profile patches that touch `download`.
Must not import the loader, pygls, lsprotocol or the terminal.
"""

from __future__ import annotations

import difflib
import functools
import os
import posixpath
import stat
from dataclasses import dataclass, field
from pathlib import Path

from sync_helper.globs import GlobError, compile_glob

from . import yamlpos as y
from .model import Artifact, Diagnostic, Download, Mapping, Range, Severity

_compile = functools.lru_cache(maxsize=2048)(compile_glob)

DOWNLOAD_KEYS = ("manual", "excludes")
RULE_KEYS = ("remoteSrc", "localDst")

# Names people reach for, and the key they mean.
_ALIASES = {
    "remotesource": "remoteSrc", "remotepath": "remoteSrc", "remote": "remoteSrc", "remotedir": "remoteSrc",
    "src": "remoteSrc", "source": "remoteSrc", "from": "remoteSrc",
    "localdest": "localDst", "localdestination": "localDst", "localpath": "localDst", "local": "localDst",
    "localdir": "localDst", "dest": "localDst", "dst": "localDst", "destination": "localDst", "to": "localDst",
    "exclude": "excludes", "ignore": "excludes", "ignores": "excludes", "exclusions": "excludes",
    "rules": "manual", "paths": "manual", "mappings": "manual",
}

UNSUPPORTED_MESSAGE = (
    "`download` is read by Downstream Sync, not by Skaffold: stock Skaffold rejects unknown fields, "
    "so plain `skaffold dev` fails on this file"
)


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


def suggest(key: str, valid: tuple[str, ...]) -> str | None:
    """The valid key a misspelt `key` most likely means, or None."""
    lowered = key.lower()
    for v in valid:
        if v.lower() == lowered:
            return v
    alias = _ALIASES.get(lowered.replace("_", "").replace("-", ""))
    if alias in valid:
        return alias
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    return close[0] if close else None


def _unknown_keys(node: y.Node, valid: tuple[str, ...], where: str, sink: Sink) -> None:
    """Unknown keys (with a suggestion) and keys written twice, in one mapping of the stanza."""
    first: dict[str, y.Node] = {}
    for k, _ in node.value:
        name = k.value if k.kind == y.SCALAR else None
        if name is not None and name in first:
            sink.error(k.range, "download-duplicate-key",
                       f"'{name}' is written twice in {where} (first on line {first[name].start.line + 1}); "
                       "only the first is read", {"line": first[name].start.line})
            continue
        if name is not None:
            first[name] = k
        if name in valid or name == "<<":
            continue
        label = name if name is not None else "(a non-scalar key)"
        hint = suggest(name, valid) if name is not None else None
        expected = ", ".join(f"'{v}'" for v in valid)
        if hint:
            sink.error(k.range, "download-unknown-key", f"unknown key '{label}' in {where}; did you mean '{hint}'?",
                       {"replacement": hint})
        else:
            sink.error(k.range, "download-unknown-key", f"unknown key '{label}' in {where}; expected {expected}")


# The keys of a Skaffold artifact (v4beta14), and ours.
ARTIFACT_KEYS = frozenset({
    "image", "context", "sync", "requires", "hooks", "platforms", "runtimeType", "docker", "bazel", "buildpacks",
    "custom", "jib", "kaniko", "ko", "download",
})


def check_artifact_keys(node: y.Node, sink: Sink) -> None:
    """A key of an artifact that is not Skaffold's and looks like a misspelt `download`."""
    for k, _ in node.value:
        if k.kind == y.SCALAR and k.value not in ARTIFACT_KEYS and k.value != "<<":
            if difflib.SequenceMatcher(None, k.value.lower(), "download").ratio() >= 0.75:
                sink.error(k.range, "download-unknown-key",
                           f"unknown artifact key '{k.value}'; did you mean 'download'?", {"replacement": "download"})


def _wrong_type(sink: Sink, node: y.Node | None, what: str, expected: str, data: dict | None = None) -> None:
    sink.error(node.range, "download-wrong-type", f"{what} must be {expected}, not {y.kind_name(node)}", data)


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


def _string_field(item: y.Node, key: str, sink: Sink, where: str) -> tuple[str | None, y.Node | None]:
    pair = y.get(item, key)
    if pair is None:
        sink.error(item.range, "download-missing-key", f"{where} has no '{key}'", {"key": key})
        return None, None
    knode, vnode = pair
    return _check_string(knode, vnode, key, sink)


def _check_string(knode: y.Node | None, vnode: y.Node, key: str, sink: Sink) -> tuple[str | None, y.Node | None]:
    if y.is_null(vnode) or (y.is_str(vnode) and not vnode.value.strip()):
        rng = vnode.range if y.is_str(vnode) or knode is None else knode.range
        sink.error(rng, "download-empty-value", f"'{key}' is empty", {"key": key})
        return None, None
    if not y.is_text(vnode):
        _wrong_type(sink, vnode, f"'{key}'", "a path string")
        return None, None
    return vnode.value, vnode


def _local_dst_ok(value: str, node: y.Node, sink: Sink) -> str | None:
    norm = normalize_local(value, sink.root)
    if norm is None:
        sink.error(node.range, "download-localdst-outside",
                   f"localDst '{value}' leaves the project folder {sink.root.name or sink.root}; "
                   "use a path inside the folder of skaffold.yaml")
        return None
    link = _symlink_out(sink.root, norm)
    if link is not None:
        sink.error(node.range, "download-localdst-outside",
                   f"localDst '{value}' leaves the project folder through the symbolic link '{link}'; "
                   "use a path inside the folder of skaffold.yaml")
        return None
    return norm


def _symlink_out(root: Path, rel: str) -> str | None:
    """The first part of `rel` that is a symbolic link leading out of `root`, or None."""
    path = str(root)
    parts = [] if rel == "." else rel.split("/")
    for i, part in enumerate(parts):
        path = os.path.join(path, part)
        try:
            is_link = os.path.islink(path) if i else stat.S_ISLNK(os.lstat(path).st_mode)
        except OSError:
            return None  # not there yet: nothing to follow
        if is_link:
            real_root = os.path.realpath(root)
            target = os.path.realpath(path)
            if target != real_root and not target.startswith(real_root.rstrip(os.sep) + os.sep):
                return "/".join(parts[: i + 1])
    return None


def read_rule(item: y.Node, sink: Sink) -> Mapping | None:
    """One `manual` rule, checked; None when it cannot be used."""
    if item.kind != y.MAP:
        _wrong_type(sink, item, "a download rule", "a mapping {remoteSrc, localDst}")
        return None
    _unknown_keys(item, RULE_KEYS, "a download rule", sink)
    remote, rnode = _string_field(item, "remoteSrc", sink, "this download rule")
    local, lnode = _string_field(item, "localDst", sink, "this download rule")
    if local is not None and _local_dst_ok(local, lnode, sink) is None:
        local = None
    if remote is None or local is None:
        return None
    path = Path(os.path.normpath(sink.root / normalize_local(local, sink.root)))
    return Mapping(remote, local, item.range, rnode.range, lnode.range, path)


def read_excludes(node: y.Node, sink: Sink) -> tuple[list[str], list[Range]]:
    if y.is_null(node):
        return [], []
    if node.kind != y.SEQ:
        data = {"wrap_in_list": True} if y.is_str(node) else None
        _wrong_type(sink, node, "'excludes'", "a list of glob strings", data)
        return [], []
    globs, ranges = [], []
    for item in node.value:
        if check_exclude(item, sink):
            globs.append(item.value)
            ranges.append(item.range)
    return globs, ranges


def check_exclude(item: y.Node, sink: Sink) -> bool:
    if not y.is_text(item):
        _wrong_type(sink, item, "an exclude", "a glob string")
        return False
    text = item.value
    if text.startswith("/") or text == ".." or text.startswith("../") or "/../" in text:
        sink.warning(item.range, "download-exclude-never-matches",
                     f"exclude '{text}' never matches: excludes are relative to each remoteSrc folder "
                     "and cannot leave it")
    try:
        _compile(item.value)
    except GlobError as e:
        sink.error(_char_range(item, e.position), "download-bad-exclude",
                   f"exclude '{item.value}' does not parse at character {e.position + 1}: {e.reason}",
                   {"position": e.position})
        return False
    return True


def _char_range(node: y.Node, offset: int) -> Range:
    """The range of character `offset` of a one-line string scalar (see _sub_range)."""
    return _sub_range(node, min(offset, max(len(node.value) - 1, 0)), 1)


def _sub_range(node: y.Node, offset: int, length: int) -> Range:
    """The range of `length` characters at `offset` in a one-line string scalar whose source text
    is its value; the whole scalar when escapes or folding make the source differ."""
    if node.start.line != node.end.line or not node.value:
        return node.range
    quoted = node.style in ("'", '"')
    width = node.end.character - node.start.character - (2 if quoted else 0)
    if width != len(node.value) or ("\\" in node.value and node.style == '"') or ("'" in node.value and node.style == "'"):
        return node.range
    return Range.at(node.start.line, node.start.character + (1 if quoted else 0) + offset, length)


def read_download(node: y.Node, sink: Sink) -> Download | None:
    """The `download` stanza of one artifact, checked; None when it is not a mapping."""
    if y.is_null(node):
        sink.warning(node.range, "download-no-rules", "download has no 'manual' rules; nothing is brought back")
        return Download([], [], node.range)
    if node.kind != y.MAP:
        _wrong_type(sink, node, "'download'", "a mapping with 'manual' and 'excludes'")
        return None
    _unknown_keys(node, DOWNLOAD_KEYS, "download", sink)
    mappings = read_manual(y.get(node, "manual"), node, sink)
    excludes_node = y.value(node, "excludes")
    globs, ranges = read_excludes(excludes_node, sink) if excludes_node is not None else ([], [])
    download = Download(mappings, globs, node.range, ranges)
    return Download(check_rules(download, sink), globs, node.range, ranges)


def read_manual(pair: tuple[y.Node, y.Node] | None, parent: y.Node, sink: Sink) -> list[Mapping]:
    if pair is None or y.is_null(pair[1]) or (pair[1].kind == y.SEQ and not pair[1].value):
        rng = pair[0].range if pair else parent.range
        sink.warning(rng, "download-no-rules", "download has no 'manual' rules; nothing is brought back")
        return []
    node = pair[1]
    if node.kind != y.SEQ:
        data = {"wrap_in_list": True} if node.kind == y.MAP else None
        _wrong_type(sink, node, "'manual'", "a list of {remoteSrc, localDst} rules", data)
        return []
    return [m for m in (read_rule(item, sink) for item in node.value) if m is not None]


def _contains(outer: str, inner: str) -> bool:
    return outer == "." or inner == outer or inner.startswith(outer.rstrip("/") + "/")


def check_rules(download: Download, sink: Sink) -> list[Mapping]:
    """Duplicate and overlapping rules within one artifact; returns the rules kept (no exact repeats)."""
    kept: list[Mapping] = []
    for m in download.mappings:
        local = normalize_local(m.local_dst, sink.root)
        remote = posixpath.normpath(m.remote_src)
        repeat = False
        for prior in kept:
            p_local = normalize_local(prior.local_dst, sink.root)
            p_remote = posixpath.normpath(prior.remote_src)
            line = prior.range.start.line + 1
            if local == p_local:
                what = "repeats the rule" if remote == p_remote else "writes into the same folder as the rule"
                sink.error(m.local_dst_range, "download-duplicate-mapping",
                           f"localDst '{m.local_dst}' {what} on line {line}", {"line": prior.range.start.line})
                repeat = remote == p_remote
            elif _contains(p_local, local) or _contains(local, p_local):
                sink.warning(m.local_dst_range, "download-overlapping-mapping",
                             f"localDst '{m.local_dst}' overlaps '{prior.local_dst}' of the rule on line {line}; "
                             "files there could come from two remote folders", {"line": prior.range.start.line})
            elif posixpath.isabs(remote) == posixpath.isabs(p_remote) and (
                    _contains(p_remote, remote) or _contains(remote, p_remote)):
                sink.warning(m.remote_src_range, "download-overlapping-mapping",
                             f"remoteSrc '{m.remote_src}' overlaps '{prior.remote_src}' of the rule on line {line}; "
                             "the same files would be brought back twice", {"line": prior.range.start.line})
            else:
                continue
            break  # one finding per rule: the first rule it clashes with
        if not repeat:
            kept.append(m)
    return kept


@dataclass(frozen=True)
class SyncSource:
    glob: str  # relative to the artifact's root folder
    text: str  # how the rule reads, for messages
    range: Range


def sync_sources(sync: y.Node | None, context: str) -> list[SyncSource]:
    """The local globs that the artifact's `sync` uploads (manual `src`, `infer`), relative to the root."""
    out: list[SyncSource] = []
    if sync is None or sync.kind != y.MAP:
        return out
    manual = y.value(sync, "manual")
    if manual is not None and manual.kind == y.SEQ:
        for rule in manual.value:
            src = y.value(rule, "src")
            if y.is_str(src) and src.value:
                out.append(SyncSource(_join(context, src.value), f"src: '{src.value}'", rule.range))
    infer = y.value(sync, "infer")
    if infer is not None and infer.kind == y.SEQ:
        for glob in infer.value:
            if y.is_str(glob) and glob.value:
                out.append(SyncSource(_join(context, glob.value), f"infer: '{glob.value}'", glob.range))
    return out


def _join(context: str, glob: str) -> str:
    joined = posixpath.normpath(posixpath.join(context.replace("\\", "/") or ".", glob))
    return joined


def glob_overlaps(folder: str, glob: str) -> bool:
    """True when `glob` (relative to the root) can match files inside `folder` (relative to the root)."""
    dsegs = [] if folder in (".", "") else folder.split("/")
    gsegs = glob.split("/")
    for i, seg in enumerate(gsegs):
        if seg == "**" or i >= len(dsegs):
            return True
        if seg == dsegs[i]:
            continue
        if not any(c in seg for c in "*?[{\\"):
            return False
        try:
            if not _compile(seg).match(dsegs[i]):
                return False
        except GlobError:
            return False
    return len(gsegs) == len(dsegs)


def check_sync_overlap(download: Download, sources: list[SyncSource], sink: Sink) -> None:
    for m in download.mappings:
        local = normalize_local(m.local_dst, sink.root)
        for src in sources:
            if local is not None and glob_overlaps(local, src.glob):
                sink.warning(m.local_dst_range, "download-overlaps-sync",
                             f"localDst '{m.local_dst}' overlaps the sync rule `{src.text}` on line "
                             f"{src.range.start.line + 1}: Skaffold will upload again what is downloaded here",
                             {"rule_line": src.range.start.line, "rule": src.text})


def check_shared_folders(artifacts: list[Artifact], sinks: dict[Path, Sink]) -> None:
    """Two artifacts must not write into the same local folder (or one inside the other)."""
    exact: dict[str, tuple[Artifact, Mapping]] = {}
    below: dict[str, tuple[Artifact, Mapping]] = {}  # folder -> first rule writing somewhere inside it
    for art in artifacts:
        if art.download is None:
            continue
        mine: list[tuple[str, Mapping]] = []
        for m in art.download.mappings:
            if m.local_path is None:
                continue
            path = m.local_path.as_posix()
            parents = [path[:i] for i in range(len(path)) if path[i] == "/" and i > 0]
            hit = exact.get(path) or below.get(path) or next((exact[p] for p in parents if p in exact), None)
            if hit is not None and hit[0] is not art:
                other_art, other = hit
                sink = sinks.get(art.source.file)
                if sink is not None:
                    where = f"{other_art.source.file.name}:{other.range.start.line + 1}"
                    sink.error(m.local_dst_range, "download-shared-local-dst",
                               f"localDst '{m.local_dst}' is also written by artifact '{other_art.image}' ({where}); "
                               "give each artifact its own folder",
                               {"other_image": other_art.image, "other_line": other.range.start.line})
            mine.append((path, m))
        for path, m in mine:
            exact.setdefault(path, (art, m))
            for i in range(1, len(path)):
                if path[i] == "/":
                    below.setdefault(path[:i], (art, m))


def check_patch(path: y.Node, tokens: list[str], value: y.Node | None, sink: Sink) -> bool:
    """Checks a profile patch whose `path` (a string node, as `tokens`) goes into a download stanza:
    the keys it names, and its `value` as the part of the stanza the path points at.
    Returns True when the path touches a download stanza."""
    if len(tokens) < 4 or tokens[:2] != ["build", "artifacts"] or tokens[3] != "download":
        return False
    rest = tokens[4:]
    if rest and not _path_key_ok(path, 4, rest[0], DOWNLOAD_KEYS, "download", sink):
        return True
    if rest[:1] == ["manual"] and len(rest) >= 3 and not _path_key_ok(path, 6, rest[2], RULE_KEYS, "a download rule", sink):
        return True
    if value is None:
        return True
    if not rest:
        read_download(value, sink)
    elif rest[0] == "manual":
        if len(rest) == 1:
            kept = read_manual((value, value), value, sink)
            check_rules(Download(kept, [], value.range), sink)
        elif len(rest) == 2:
            read_rule(value, sink)
        elif len(rest) == 3:
            text, node = _check_string(None, value, rest[2], sink)
            if rest[2] == "localDst" and text is not None:
                _local_dst_ok(text, node, sink)
    elif rest[0] == "excludes":
        if len(rest) == 1:
            read_excludes(value, sink)
        elif len(rest) == 2:
            check_exclude(value, sink)
    return True


def _path_key_ok(path: y.Node, index: int, key: str, valid: tuple[str, ...], where: str, sink: Sink) -> bool:
    """Whether token `index` of a patch path is a valid key; if not, a diagnostic on that token."""
    if key in valid:
        return True
    raw = path.value.split("/")
    offset = sum(len(t) + 1 for t in raw[:index + 1])
    rng = _sub_range(path, offset, len(raw[index + 1]))
    hint = suggest(key, valid)
    if hint:
        sink.error(rng, "download-unknown-key", f"patch path names unknown key '{key}' in {where}; did you mean '{hint}'?",
                   {"replacement": hint} if rng != path.range else None)
    else:
        expected = ", ".join(f"'{v}'" for v in valid)
        sink.error(rng, "download-unknown-key", f"patch path names unknown key '{key}' in {where}; expected {expected}")
    return False

"""The checks of one `download` stanza: each problem is a Diagnostic with an exact range and a stable code.

Owns reading a `download` node into the model while checking it (types, unknown and repeated keys,
missing or empty values, a localDst that leaves the project or lies in .git or .downstream-sync,
exclude globs), and the checks of profile patches that touch `download`. The checks between rules are in overlaps.py.
Must not import the loader, pygls, lsprotocol or the terminal.
"""

from __future__ import annotations

import difflib
import os
import stat
from pathlib import Path

from sync_helper.globs import GlobError
from sync_helper.paths import reserved_folder

from . import yamlpos as y
from .model import Download, Mapping, Range
from .overlaps import check_rules, compile_cached
from .sink import Sink, normalize_local

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
    folder = reserved_folder(norm)
    if folder is not None:
        sink.error(node.range, "download-localdst-reserved",
                   f"localDst '{value}' is inside {folder}, which a container never writes (git's hooks run "
                   "code, .downstream-sync holds the sync state); choose a folder outside it")
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


_GLOB_CHARS = "*?[]{}"


def _remote_src_ok(value: str, node: y.Node, sink: Sink) -> bool:
    """A remoteSrc names one folder in the container: no glob characters, no '..', not '/' or '.'."""
    glob_at = next((i for i, ch in enumerate(value) if ch in _GLOB_CHARS), None)
    if glob_at is not None:
        sink.error(_char_range(node, glob_at), "download-bad-remote-src",
                   f"remoteSrc '{value}' has the glob character '{value[glob_at]}': remoteSrc names a folder; "
                   "put the folder here and leave file patterns to excludes")
        return False
    parts = [p for p in value.split("/") if p not in ("", ".")]
    problem = None
    if "\\" in value or "\x00" in value:
        problem = "must be a POSIX path (no backslashes or NUL)"
    elif ".." in value.split("/"):
        problem = "must not contain '..': name the folder directly"
    elif not parts:
        problem = ("would sync the whole container: name a folder below '/'" if value.startswith("/")
                   else "is the working directory itself: name a folder below it")
    if problem:
        sink.error(node.range, "download-bad-remote-src", f"remoteSrc '{value}' {problem}")
        return False
    return True


def read_rule(item: y.Node, sink: Sink) -> Mapping | None:
    """One `manual` rule, checked; None when it cannot be used."""
    if item.kind != y.MAP:
        _wrong_type(sink, item, "a download rule", "a mapping {remoteSrc, localDst}")
        return None
    _unknown_keys(item, RULE_KEYS, "a download rule", sink)
    remote, rnode = _string_field(item, "remoteSrc", sink, "this download rule")
    if remote is not None and not _remote_src_ok(remote, rnode, sink):
        remote = None
    local, lnode = _string_field(item, "localDst", sink, "this download rule")
    if local is not None and _local_dst_ok(local, lnode, sink) is None:
        local = None
    if remote is None or local is None:
        return None
    path = Path(os.path.normpath(sink.root / normalize_local(local, sink.root)))
    return Mapping(remote, local, item.range, rnode.range, lnode.range, path)


def read_excludes(node: y.Node, sink: Sink, absolute: tuple[str, ...] | None = None) -> tuple[list[str], list[Range]]:
    """The exclude globs; `absolute` are the stanza's absolute remoteSrc folders (an absolute glob
    can only match below one of them), None where they are not known (a profile's patch)."""
    if y.is_null(node):
        return [], []
    if node.kind != y.SEQ:
        data = {"wrap_in_list": True} if y.is_str(node) else None
        _wrong_type(sink, node, "'excludes'", "a list of glob strings", data)
        return [], []
    globs, ranges = [], []
    for item in node.value:
        if check_exclude(item, sink, absolute):
            globs.append(item.value)
            ranges.append(item.range)
    return globs, ranges


def check_exclude(item: y.Node, sink: Sink, absolute: tuple[str, ...] | None = None) -> bool:
    if not y.is_text(item):
        _wrong_type(sink, item, "an exclude", "a glob string")
        return False
    text = item.value
    if text == ".." or text.startswith("../") or "/../" in text:
        sink.warning(item.range, "download-exclude-never-matches",
                     f"exclude '{text}' never matches: excludes are relative to each remoteSrc folder "
                     "and cannot leave it")
    elif text.startswith("/") and absolute is not None and not any(text.startswith(root.rstrip("/") + "/") for root in absolute):
        sink.warning(item.range, "download-exclude-never-matches",
                     f"exclude '{text}' never matches: an absolute exclude applies only below an absolute "
                     "remoteSrc of this stanza; write it relative to the remoteSrc folder")
    try:
        compile_cached(item.value)
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
    absolute = tuple("/" + m.remote_src.strip("/") for m in mappings if m.remote_src.startswith("/"))
    globs, ranges = read_excludes(excludes_node, sink, absolute) if excludes_node is not None else ([], [])
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

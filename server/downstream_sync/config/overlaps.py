"""Checks between download rules: duplicates and overlaps in one artifact, two artifacts writing one
folder, and a localDst that the artifact's own `sync` would upload again.

Must not import the loader, pygls, lsprotocol or the terminal.
"""

from __future__ import annotations

import functools
import posixpath
from dataclasses import dataclass
from pathlib import Path

from sync_helper.globs import GlobError, compile_glob

from . import yamlpos as y
from .model import Artifact, Download, Mapping, Range
from .sink import Sink, normalize_local

compile_cached = functools.lru_cache(maxsize=2048)(compile_glob)


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
            if not compile_cached(seg).match(dsegs[i]):
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
                             f"{src.range.start.line + 1}: Skaffold will upload again what is downloaded here (once: "
                             "the echo guard stops it there, and Skaffold syncs it rather than rebuilding)",
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

"""The rebuild loop: a localDst inside an artifact's build context that Skaffold watches.

To Skaffold a downloaded file in the build context is a changed dependency: it rebuilds and
redeploys, the new container writes the file again, and the loop goes on. For a docker artifact
Skaffold's dependencies are the sources of the Dockerfile's COPY and ADD (no Dockerfile: nothing
is known, nothing is said). For custom, buildpacks and ko artifacts they are the files of
`dependencies.paths`, less `dependencies.ignore`; without `dependencies` Skaffold takes `paths: ["."]`,
every file of the context, but a `dependencies` without `paths` has none (Skaffold watches nothing
of it, so the fix for a build without `dependencies` names both `paths` and `ignore`). A custom artifact whose `dependencies.dockerfile` names a Dockerfile
follows the docker rules for it; one whose dependencies come from `dependencies.command` is not
known here (nothing is said). Not so when a `sync` rule covers the file (Skaffold uploads it once,
and the echo guard stops it there), or when the builder's ignore rules leave it out: `.dockerignore`
for docker artifacts (`Dockerfile.dockerignore` beside the Dockerfile first, as BuildKit reads it,
else `.dockerignore` at the context's root), `dependencies.ignore` for the others (a pattern that
matches the folder or one above it skips it, as Skaffold's walk does).
`check_rebuild_loop` warns on each such localDst (code `download-rebuild-loop`). Reads the ignore
files; never raises. Must not import the loader, pygls, lsprotocol or the terminal.
"""

from __future__ import annotations

import functools
import json
import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from . import yamlpos as y
from .model import Download
from .overlaps import SyncSource, glob_overlaps
from .sink import Sink, normalize_local

__all__ = ["Builder", "builder_of", "check_rebuild_loop", "dockerignore_file", "dockerignore_excludes"]

_BUILDERS = ("docker", "bazel", "buildpacks", "custom", "jib", "kaniko", "ko")


@dataclass(frozen=True)
class Builder:
    kind: str                             # docker (also the default), custom, buildpacks, ko, ...
    dockerfile: str = "Dockerfile"        # docker and kaniko (and custom by dependencies.dockerfile)
    paths: tuple[str, ...] | None = None  # dependencies.paths: None when every file counts
    ignore: tuple[str, ...] = ()          # dependencies.ignore
    by_dockerfile: bool = False           # custom: dependencies.dockerfile, the docker rules apply
    unknown: bool = False                 # custom: dependencies.command, known only when it runs
    defaulted: bool = False               # no dependencies given: Skaffold's default paths ["."]


def _strings(node: y.Node | None) -> tuple[str, ...] | None:
    if node is None or node.kind != y.SEQ:
        return None
    return tuple(item.value for item in node.value if y.is_str(item) and item.value)


def builder_of(node: y.Node) -> Builder:
    """The builder an artifact node names (docker when it names none)."""
    for kind in _BUILDERS:
        spec = y.value(node, kind)
        if spec is None:
            continue
        if kind in ("docker", "kaniko"):
            dockerfile = y.value(spec, "dockerfile")
            return Builder(kind, dockerfile.value if y.is_str(dockerfile) and dockerfile.value else "Dockerfile")
        deps = y.value(spec, "dependencies")
        if kind == "custom" and deps is not None:
            dockerfile = y.value(deps, "dockerfile")
            if dockerfile is not None:
                path = y.value(dockerfile, "path")
                return Builder(kind, path.value if y.is_str(path) and path.value else "Dockerfile", by_dockerfile=True)
            command = y.value(deps, "command")
            if y.is_str(command) and command.value:
                return Builder(kind, unknown=True)
        if deps is None and kind in ("custom", "buildpacks"):
            return Builder(kind, paths=None, defaulted=True)
        if deps is None:
            return Builder(kind)
        return Builder(kind, paths=_strings(y.value(deps, "paths")) or (), ignore=_strings(y.value(deps, "ignore")) or ())
    return Builder("docker")


def dockerignore_file(context: Path, dockerfile: str) -> Path:
    """The ignore file Docker reads for this Dockerfile: `<Dockerfile>.dockerignore` when it exists,
    else `.dockerignore` at the context's root (which may not exist)."""
    beside = context / (dockerfile + ".dockerignore")
    return beside if beside.is_file() else context / ".dockerignore"


def _read_patterns(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        body = line[1:].strip() if negate else line
        body = posixpath.normpath(body.lstrip("/")) if body.lstrip("/") else "."
        out.append(("!" if negate else "") + body)
    return out


@functools.lru_cache(maxsize=512)
def _docker_regex(pattern: str) -> re.Pattern:
    """A .dockerignore pattern (Go filepath.Match with `**`) as a regular expression over a path."""
    out, i = "", 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                out += "(?:.*/)?"
                i += 1
            else:
                out += ".*"
            continue
        if ch == "*":
            out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out += re.escape(ch)
            else:
                body = pattern[i + 1:end]
                out += "[" + ("^" + body[1:] if body.startswith("^") else body).replace("\\", "\\\\") + "]"
                i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(ch)
        i += 1
    return re.compile(out + r"\Z")


def _matches(pattern: str, path: str) -> bool:
    """Docker's rule: a pattern matches a path, or any folder above it."""
    regex = _docker_regex(pattern)
    parts = path.split("/")
    return any(regex.match("/".join(parts[:n])) for n in range(len(parts), 0, -1))


def dockerignore_excludes(patterns: list[str], folder: str) -> bool:
    """Whether the patterns leave out the whole `folder` (relative to the context): the last
    pattern that matches it excludes it, and no exception below it brings files back."""
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        if _matches(body, folder):
            excluded = not negate
        elif negate and (body + "/").startswith(folder.rstrip("/") + "/"):
            return False  # an exception inside the folder: some of its files are sent
    return excluded


_INSTRUCTION = re.compile(r"^\s*(COPY|ADD)\s+(.*)$", re.IGNORECASE | re.DOTALL)


def dockerfile_sources(path: Path) -> list[str] | None:
    """The local sources of the COPY and ADD instructions of a Dockerfile (relative to the context;
    a source with a variable counts as the whole context), or None when it cannot be read.
    Copies from another stage or image (`--from`) and URLs are not local."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    logical, lines = "", []
    for raw in text.splitlines():
        if raw.lstrip().startswith("#") and not logical:
            continue
        if raw.rstrip().endswith("\\"):
            logical += raw.rstrip()[:-1] + " "
            continue
        lines.append(logical + raw)
        logical = ""
    lines.append(logical)
    sources: list[str] = []
    for line in lines:
        found = _INSTRUCTION.match(line)
        if not found:
            continue
        rest = found.group(2).strip()
        if rest.startswith("["):
            try:
                words = [str(w) for w in json.loads(rest)]
            except ValueError:
                continue
        else:
            words = rest.split()
        flags = [w for w in words if w.startswith("--")]
        if any(f.startswith("--from") for f in flags):
            continue
        for word in [w for w in words if not w.startswith("--")][:-1]:
            if "://" in word or word.startswith("<<"):
                continue
            word = "." if "$" in word else posixpath.normpath(word.lstrip("/")) if word.lstrip("/") else "."
            sources.append(word)
    return sources


def _inside(outer: str, inner: str) -> bool:
    return outer == "." or inner == outer or inner.startswith(outer.rstrip("/") + "/")


def check_rebuild_loop(download: Download, context: str, builder: Builder, sources: list[SyncSource],
                       sink: Sink, image: str) -> None:
    """A warning on each localDst that lies in the build context, uncovered and not ignored."""
    ctx = normalize_local(context, sink.root)
    if ctx is None:
        return
    ctx_path = sink.root / ctx
    for m in download.mappings:
        local = normalize_local(m.local_dst, sink.root)
        if local is None or not (_inside(ctx, local) or _inside(local, ctx)):
            continue
        if any(glob_overlaps(local, s.glob) for s in sources):
            continue  # Skaffold syncs these files instead of rebuilding (see download-overlaps-sync)
        inner = "." if _inside(local, ctx) else posixpath.relpath(local, ctx)
        data: dict = {"sync_src": f"{inner}/**" if inner != "." else "**"}
        if builder.unknown:
            continue
        if builder.kind in ("docker", "kaniko") or builder.by_dockerfile:
            copied = dockerfile_sources(ctx_path / builder.dockerfile)
            if copied is None or not any(_inside(src, inner) or glob_overlaps(inner, src) for src in copied):
                continue  # no Dockerfile to read, or it copies nothing from there
            ignore = dockerignore_file(ctx_path, builder.dockerfile)
            if inner != "." and dockerignore_excludes(_read_patterns(ignore), inner):
                continue
            where = os.path.relpath(ignore, sink.root).replace(os.sep, "/")
            fix = (f"add '{inner}/' to {where}" if inner != "." else
                   f"give the download its own folder outside the context, or list what it writes in {where}")
            data.update({"ignore_file": str(ignore), "ignore_entry": f"{inner}/"} if inner != "." else {})
        else:
            if builder.paths is not None and not any(_reads(p, inner) for p in builder.paths):
                continue
            if inner != "." and any(_covers(p, inner) for p in builder.ignore):
                continue
            fix = (f"give {builder.kind} `dependencies: {{paths: ['.'], ignore: ['{inner}/**']}}` (a dependencies "
                   "without paths has Skaffold watch nothing)" if builder.defaulted else
                   f"add '{inner}/**' to {builder.kind}.dependencies.ignore")
        inside = f"inside the build context '{context}'" if inner != "." else f"around the build context '{context}'"
        sink.warning(m.local_dst_range, "download-rebuild-loop",
                     f"localDst '{m.local_dst}' is {inside} of artifact '{image}': to Skaffold each downloaded "
                     "file there is a changed source, so it rebuilds and redeploys, and the new container writes "
                     f"the file again; {fix}, or add a sync rule with src '{data['sync_src']}' (Skaffold then "
                     "uploads the file once and the echo guard stops it)", data)


def _reads(path: str, folder: str) -> bool:
    """Whether a `dependencies.paths` entry takes files of `folder`: Skaffold walks each folder the
    glob matches (`.` is the whole context), so a folder above counts as well as a glob inside."""
    path = posixpath.normpath(path.lstrip("/")) if path.lstrip("/") else "."
    return _inside(path, folder) or glob_overlaps(folder, path)


def _covers(glob: str, folder: str) -> bool:
    """Whether `glob` leaves out every file below `folder`: it matches the folder or one above it
    (Skaffold's walk skips a matched folder), or ends in `**` past them (`folder/**`, `**`)."""
    gsegs, fsegs = glob.split("/"), folder.split("/")
    for i, seg in enumerate(gsegs):
        if seg == "**":
            return i == len(gsegs) - 1  # a trailing `**`; `**/x` leaves out only what ends in x
        if i >= len(fsegs) or not _docker_regex(seg).match(fsegs[i]):
            return False
    return True  # every segment matched a folder at or above `folder`

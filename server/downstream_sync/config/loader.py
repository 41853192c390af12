"""One loader for the whole project: skaffold.yaml, its documents, `requires`, profiles and patches.

Owns finding and reading config files, choosing the documents and profiles that are in effect, and
building the artifacts the engine reads; it runs the checks on every document of every file read.
Never raises on bad input: problems become diagnostics. Must not import pygls, lsprotocol or the terminal.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import stat
import threading
from collections.abc import Iterable, Mapping as MappingABC
from pathlib import Path

from . import checks, overlaps, profiles as prof, rebuild
from . import yamlpos as y
from .sink import Sink
from .model import START, Artifact, Diagnostic, Location, Project, Range, Severity

CONFIG_NAMES = ("skaffold.yaml", "skaffold.yml")


def find_config(path: Path) -> Path:
    """The config file `path` names: itself, or skaffold.yaml / skaffold.yml in a folder."""
    if path.is_dir():
        for name in CONFIG_NAMES:
            if (path / name).is_file():
                return path / name
        return path / CONFIG_NAMES[0]
    return path


def load_project(path: str | os.PathLike, profiles: Iterable[str] = (), text: str | None = None, *,
                 command: str | None = None, env: MappingABC[str, str] | None = None) -> Project:
    """Read the project whose config is at `path` (a file or a folder holding skaffold.yaml).
    `profiles` are activated by name ('-name' deactivates); `command` (such as "dev") and `env`
    auto-activate profiles by their `activation`; `text` replaces the main file's content."""
    if isinstance(profiles, str):
        profiles = profiles.split(",")
    path = Path(os.path.abspath(path))
    with _gc_paused():
        try:
            return _load(path, list(profiles), text, command, env)
        except RecursionError:  # nesting is bounded when composing; this is the last guard
            main = find_config(path)
            return Project(main.parent, main, [main], [], [Diagnostic(
                main, START, Severity.ERROR, "yaml-too-deep", "the config is nested too deeply to read")])


_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = False


@contextlib.contextmanager
def _gc_paused():
    """Composing makes many small objects and no cycles; the cyclic collector would rescan them
    again and again (seconds on a large file), so it waits until the project is built. The
    collector is process-wide: loads in several threads share one pause, the last one ends it."""
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


def _load(path: Path, profiles: list[str], text: str | None, command: str | None,
          env: MappingABC[str, str] | None) -> Project:
    main = find_config(path)
    project = Project(root=main.parent, path=main, profiles=[p.strip() for p in profiles if p.strip()])
    loader = _Loader(project, command, env)
    loader.load_file(main, text, None, project.profiles, None, ())
    overlaps.check_shared_folders(project.artifacts, loader.sinks)
    known = loader.profile_names
    for name in project.profiles:
        bare = name[1:] if name.startswith("-") else name
        if bare and bare not in known and main in loader.sinks:
            loader.sinks[main].error(START, "profile-not-found",
                                     f"profile '{bare}' is not defined in any config of this project")
    project.diagnostics = _dedupe(d for sink in loader.sinks.values() for d in sink.out)
    return project


def _dedupe(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    seen: set = set()
    out: list[Diagnostic] = []
    for d in diags:
        key = (d.file, d.range, d.code, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    order = {}
    for d in out:
        order.setdefault(d.file, len(order))
    return sorted(out, key=lambda d: (order[d.file], d.range.start, d.range.end))


class _Loader:
    def __init__(self, project: Project, command: str | None, env: MappingABC[str, str] | None):
        self.project = project
        self.command = command
        self.env = env
        self.sinks: dict[Path, Sink] = {}
        self.parsed: dict[Path, y.Parsed] = {}
        self.loaded: set[tuple[Path, int]] = set()
        self.profile_names: set[str] = set()

    def read(self, file: Path, text: str | None) -> tuple[Sink, y.Parsed]:
        """Parse a file once and run the per-document checks on all its documents."""
        if file in self.parsed:
            return self.sinks[file], self.parsed[file]
        sink = self.sinks[file] = Sink(file, file.parent)
        self.project.files.append(file)
        if text is None:
            data, problem = _read_bytes(file)
            if data is None:
                sink.error(START, problem[0], problem[1])
                self.parsed[file] = y.Parsed()
                return sink, self.parsed[file]
            text, problem = y.decode(data)
            if problem is not None:
                sink.error(problem.range, problem.code, problem.message)
                self.parsed[file] = y.Parsed()
                return sink, self.parsed[file]
        parsed = self.parsed[file] = y.parse(text)
        for p in parsed.problems:
            sink.add(p.range, y.SEVERITY.get(p.code, Severity.ERROR), p.code, p.message)
        for doc in parsed.documents:
            if y.is_null(doc.root):
                continue  # an empty document
            if doc.root.kind != y.MAP:
                sink.error(Range(doc.root.start, doc.root.start), "config-not-mapping",
                           f"a Skaffold config must be a mapping, not {y.kind_name(doc.root)}")
                continue
            self.profile_names.update(n for n, _ in prof.profile_nodes(doc.root))
            check_document(doc.root, sink)
        return sink, parsed

    def load_file(self, file: Path, text: str | None, configs: list[str] | None, requested: list[str],
                  via: tuple[Sink, y.Node] | None, chain: tuple[Path, ...]) -> None:
        key = Path(os.path.realpath(file))
        if key in chain:
            if via is not None:
                base = os.path.realpath(self.project.root)
                names = " -> ".join(os.path.relpath(p, base) for p in (*chain, key))
                via[0].error(via[1].range, "requires-cycle",
                             f"requires '{via[1].value}' goes back to a config already being read ({names})")
            return
        if via is not None and not file.is_file():
            via[0].error(via[1].range, "requires-missing",
                         f"required config '{via[1].value}' not found (looked for {file})")
            return
        sink, parsed = self.read(file, text)
        for index, doc in enumerate(parsed.documents):
            root = doc.root
            if root is None or root.kind != y.MAP or not _is_skaffold(root):
                continue
            name = y.value(y.value(root, "metadata"), "name")
            config_name = name.value if y.is_str(name) else None
            if configs and config_name not in configs:
                continue
            if (key, index) in self.loaded:
                continue
            self.loaded.add((key, index))
            active = prof.active(root, requested, self.command, self.env)
            for pname, pnode in active:
                root, failures = prof.apply(root, pnode)
                for node, message in failures:
                    sink.error(node.range, "profile-patch-failed", f"profile '{pname}': patch cannot apply: {message}")
            self.follow_requires(root, sink, [n for n, _ in active], requested, (*chain, key))
            self.project.raw_yaml += [(sink.root, glob) for glob in _raw_yaml(root)]
            artifacts = y.value(y.value(root, "build"), "artifacts")
            if artifacts is not None and artifacts.kind == y.SEQ:
                for node in artifacts.value:
                    art = artifact_from_node(node, sink, config_name)
                    if art is not None:
                        self.project.artifacts.append(art)

    def follow_requires(self, root: y.Node, sink: Sink, active: list[str], requested: list[str],
                        chain: tuple[Path, ...]) -> None:
        requires = y.value(root, "requires")
        if requires is None or requires.kind != y.SEQ:
            return
        for dep in requires.value:
            path = y.value(dep, "path")
            if not y.is_str(path):
                continue  # git, googleCloudStorage and others are remote: not followed here
            target = find_config(Path(os.path.normpath(sink.root / path.value)))
            configs = y.to_data(y.value(dep, "configs"))
            names = [c for c in configs if isinstance(c, str)] if isinstance(configs, list) else None
            wanted = list(requested) + _activated_by(y.value(dep, "activeProfiles"), active)
            self.load_file(target, None, names or None, wanted, (sink, path), chain)


def _read_bytes(file: Path) -> tuple[bytes | None, tuple[str, str] | None]:
    """The bytes of a regular file of at most MAX_BYTES, or (None, (code, message))."""
    try:
        info = os.stat(file)  # before opening: opening a pipe would wait for a writer
        if not stat.S_ISREG(info.st_mode):
            return None, ("file-unreadable", f"cannot read {file.name}: not a regular file")
        if info.st_size > y.MAX_BYTES:
            return None, ("file-too-large", f"file is {info.st_size / 1048576:.1f} MB; "
                                            f"files over {y.MAX_BYTES // 1048576} MB are not read")
        with open(file, "rb") as f:
            return f.read(y.MAX_BYTES + 1), None
    except OSError as e:
        return None, ("file-unreadable", f"cannot read {file.name}: {e.strerror or e}")


def _activated_by(node: y.Node | None, active: list[str]) -> list[str]:
    out = []
    for entry in (node.value if node is not None and node.kind == y.SEQ else []):
        name = y.value(entry, "name")
        by = y.to_data(y.value(entry, "activatedBy")) or []
        by = [by] if isinstance(by, str) else by if isinstance(by, list) else []
        if y.is_str(name) and (not by or any(a in by for a in active)):
            out.append(name.value)
    return out


def _raw_yaml(root: y.Node) -> list[str]:
    """The manifest globs of one config document: `manifests.rawYaml` (skaffold/v3 and later), else
    `deploy.kubectl.manifests` (skaffold/v2)."""
    globs = y.to_data(y.value(y.value(root, "manifests"), "rawYaml"))
    if not isinstance(globs, list):
        globs = y.to_data(y.value(y.value(y.value(root, "deploy"), "kubectl"), "manifests"))
    return [g for g in globs if isinstance(g, str) and g] if isinstance(globs, list) else []


def _is_skaffold(root: y.Node) -> bool:
    api = y.value(root, "apiVersion")
    return y.is_str(api) and api.value.startswith("skaffold/")


def artifact_from_node(node: y.Node, sink: Sink, config_name: str | None = None) -> Artifact | None:
    """An artifact from its node, checking its `download` stanza on the way (once per node)."""
    if node.kind != y.MAP:
        return None
    seen = sink.memo.get(id(node))
    if seen is not None and seen[0] is node:
        return dataclasses.replace(seen[1], config_name=config_name)
    image = y.value(node, "image")
    context = y.value(node, "context")
    ctx = context.value if y.is_str(context) and context.value else "."
    sync_node = y.value(node, "sync")
    sources = overlaps.sync_sources(sync_node, ctx)
    checks.check_artifact_keys(node, sink)
    pair = y.get(node, "download")
    download = checks.read_download(pair[1], sink) if pair else None
    if download is not None:
        overlaps.check_sync_overlap(download, sources, sink)
        rebuild.check_rebuild_loop(download, ctx, rebuild.builder_of(node), sources, sink,
                                   image.value if y.is_str(image) else "?")
    sync = y.to_data(sync_node) if sync_node is not None and sync_node.kind == y.MAP else None
    art = Artifact(image=image.value if image is not None and image.kind == y.SCALAR else "", context=ctx,
                   source=Location(sink.file, node.range), root=sink.root, sync=sync,
                   sync_sources=[s.glob for s in sources], download=download, config_name=config_name)
    sink.memo[id(node)] = (node, art)
    return art


def check_document(root: y.Node, sink: Sink) -> None:
    """Checks every download stanza written in one config document: its artifacts, those of each
    profile, and the profile patches that touch `download`; active or not."""
    sites: list[y.Node] = []  # the `download` keys, or patch paths, that declare a stanza

    def artifacts_in(node: y.Node | None) -> None:
        if node is None or node.kind != y.SEQ:
            return
        for art in node.value:
            artifact_in(art)

    def artifact_in(art: y.Node | None) -> None:
        if art is not None and art.kind == y.MAP:
            pair = y.get(art, "download")
            if pair is not None:
                sites.append(pair[0])
            artifact_from_node(art, sink)

    def misplaced(node: y.Node | None, where: str) -> None:
        pair = y.get(node, "download")
        if pair is not None:
            sink.error(pair[0].range, "download-misplaced",
                       f"download belongs in each entry of build.artifacts, not {where}")

    misplaced(root, "at the top of the config")
    misplaced(y.value(root, "build"), "directly under build")
    artifacts_in(y.value(y.value(root, "build"), "artifacts"))
    for _, profile in prof.profile_nodes(root):
        misplaced(profile, "directly in a profile")
        misplaced(y.value(profile, "build"), "directly under build")
        artifacts_in(y.value(y.value(profile, "build"), "artifacts"))
        patches = y.value(profile, "patches")
        for patch in (patches.value if patches is not None and patches.kind == y.SEQ else []):
            path, value = y.value(patch, "path"), y.value(patch, "value")
            if not y.is_str(path):
                continue
            try:
                tokens = prof.pointer(path.value)
            except prof.PatchError:
                continue
            if checks.check_patch(path, tokens, value, sink):
                sites.append(path)
            elif tokens == ["build"]:
                artifacts_in(y.value(value, "artifacts"))
            elif tokens == ["build", "artifacts"]:
                artifacts_in(value)
            elif len(tokens) == 3 and tokens[:2] == ["build", "artifacts"]:
                artifact_in(value)
    if not sites:
        return
    api = y.get(root, "apiVersion")
    if _is_skaffold(root):
        for site in sites:
            if site.value == "download":
                sink.add(site.range, Severity.INFORMATION, "download-not-in-skaffold", checks.UNSUPPORTED_MESSAGE)
        return
    found = f"'{api[1].value}'" if api and api[1].kind == y.SCALAR else "none"
    where = f" (line {api[0].start.line + 1})" if api else ""
    for site in sites:
        sink.error(site.range, "download-not-skaffold-config",
                   f"download belongs in a Skaffold config, but this document's apiVersion is {found}{where}; "
                   "it must start with 'skaffold/'")

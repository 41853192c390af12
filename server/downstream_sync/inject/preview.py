"""A preview of the injection for a whole Skaffold project: the manifests it deploys, before and
after, for an editor to show side by side.

The manifests are the files its `manifests.rawYaml` globs name (read from disk, relative to the
config that names them), or, for a project that has none (Helm, kustomize), what `skaffold render`
writes when a Skaffold executable is given: it runs from the config's folder on a copy of the
config without the `download` stanzas (stock Skaffold rejects them), read from stdin. Either way
the rewriting is `inject_streams`, the function every face uses. Errors are InjectError, naming the
file, document and container. Must not import pygls, lsprotocol or the terminal.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .imageconfig import ConfigSource
from .names import DEFAULT_HELPER_IMAGE
from .transform import InjectError, InjectRequest, inject_streams, project_rules

__all__ = ["Preview", "preview_project", "project_manifests", "without_download"]

MAX_BYTES = 16 * 1024 * 1024  # a manifest file larger than this is refused
RENDER_TIMEOUT = 300.0  # seconds `skaffold render` may take


@dataclass
class Preview:
    """`original` and `injected`: every manifest file, each after a `# Source: NAME` line, in order."""

    original: str
    injected: str
    files: list[str]
    containers: list[str] = field(default_factory=list)  # "FILE: document 2: Deployment web: container app"
    warnings: list[str] = field(default_factory=list)
    renderer: str = "rawYaml"  # or "skaffold render"


def preview_project(config_path: str | Path, profiles: tuple[str, ...] = (), *, text: str | None = None,
                    helper_image: str | None = None, image_configs: ConfigSource | None = None,
                    skaffold: str | None = None) -> Preview:
    """The project's manifests before and after injection; raises InjectError."""
    project, rules = project_rules(config_path, profiles, text)
    streams, warnings, renderer = project_manifests(project, skaffold, text, profiles)
    request = InjectRequest(rules, image_configs or ConfigSource(), helper_image or DEFAULT_HELPER_IMAGE)
    results = inject_streams(streams, request)
    return Preview(
        original=_joined((name, body) for name, body in streams),
        injected=_joined((name, result.text) for (name, _), result in zip(streams, results)),
        files=[name for name, _ in streams],
        containers=[c for r in results for c in r.injected],
        warnings=warnings + [w for r in results for w in r.warnings],
        renderer=renderer,
    )


def _joined(streams) -> str:
    parts = []
    for name, body in streams:
        if body and not body.endswith("\n"):
            body += "\n"
        parts.append(f"# Source: {name}\n{body}")
    return "---\n".join(parts)


def project_manifests(project, skaffold: str | None = None, text: str | None = None,
                      profiles: tuple[str, ...] = ()) -> tuple[list[tuple[str, str]], list[str], str]:
    """([(name, text)], warnings, how they were found) for a loaded project; raises InjectError."""
    if project.raw_yaml:
        files, warnings = _raw_yaml_files(project)
        return files, warnings, "rawYaml"
    if skaffold:
        return [(f"skaffold render of {project.path.name}", _render(project, skaffold, text, profiles))], [], \
            "skaffold render"
    raise InjectError(f"{project.path}: no manifests to show: the config has no manifests.rawYaml (nor "
                      "deploy.kubectl.manifests), and no skaffold executable was given to run `skaffold render` "
                      "(set the Skaffold path)")


def _raw_yaml_files(project) -> tuple[list[tuple[str, str]], list[str]]:
    seen: dict[Path, str] = {}
    warnings = []
    for root, pattern in project.raw_yaml:
        found = sorted(glob.glob(pattern, root_dir=root, recursive=True)) if not os.path.isabs(pattern) \
            else sorted(glob.glob(pattern, recursive=True))
        files = [Path(root, f) for f in found if Path(root, f).is_file()]
        if not files:
            warnings.append(f"{project.path}: manifests.rawYaml '{pattern}' matches no file in {root}")
        for path in files:
            key = Path(os.path.realpath(path))
            if key not in seen:
                seen[key] = _relative(path, project.root)
    if not seen:
        globs = ", ".join(f"'{p}'" for _, p in project.raw_yaml)
        raise InjectError(f"{project.path}: manifests.rawYaml ({globs}) matches no file: no manifests to show")
    return [(name, _read(path, name)) for path, name in seen.items()], warnings


def _relative(path: Path, root: Path) -> str:
    try:
        return os.path.relpath(path, root)
    except ValueError:
        return str(path)


def _read(path: Path, name: str) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise InjectError(f"{name}: {size / 1048576:.1f} MB; manifest files over {MAX_BYTES // 1048576} MB "
                              "are not read")
        data = path.read_bytes()
    except OSError as error:
        raise InjectError(f"{name}: cannot read it: {error.strerror or error}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InjectError(f"{name}: not UTF-8 (byte {error.start + 1})") from None


def without_download(text: str, source: str = "skaffold.yaml") -> str:
    """The config with every `download` stanza taken out (of artifacts, of profiles' artifacts, and
    the profile patches that touch one), as stock Skaffold accepts it."""
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        raise InjectError(f"{source}: not YAML: {error}") from None

    def strip_build(build) -> None:
        artifacts = build.get("artifacts") if isinstance(build, dict) else None
        for artifact in artifacts if isinstance(artifacts, list) else []:
            if isinstance(artifact, dict):
                artifact.pop("download", None)

    for doc in docs:
        if not isinstance(doc, dict):
            continue
        strip_build(doc.get("build"))
        for profile in doc.get("profiles") or []:
            if not isinstance(profile, dict):
                continue
            strip_build(profile.get("build"))
            patches = profile.get("patches")
            if isinstance(patches, list):
                profile["patches"] = [p for p in patches
                                      if not (isinstance(p, dict) and "/download" in str(p.get("path", "")))]
    return yaml.safe_dump_all(docs, sort_keys=False)


def _render(project, skaffold: str, text: str | None, profiles: tuple[str, ...]) -> str:
    program = shutil.which(skaffold)
    if program is None:
        raise InjectError(f"skaffold not found ({skaffold!r} is not an executable, nor on PATH): set the Skaffold "
                          "path, or list the manifests under manifests.rawYaml")
    if text is None:
        text = _read(project.path, project.path.name)
    with tempfile.TemporaryDirectory(prefix="downstream-sync-render-") as folder:
        output = os.path.join(folder, "manifests.yaml")  # stdout carries Skaffold's own notes too
        argv = [program, "render", "--digest-source=none", "--filename", "-", f"--output={output}"]
        argv += [f"--profile={','.join(profiles)}"] if profiles else []
        try:
            done = subprocess.run(argv, input=without_download(text, project.path.name).encode(), cwd=project.root,
                                  capture_output=True, timeout=RENDER_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise InjectError(f"`skaffold render` for {project.path} did not finish within {RENDER_TIMEOUT:.0f} s") \
                from None
        except OSError as error:
            raise InjectError(f"cannot run {program}: {error.strerror or error}") from None
        if done.returncode != 0:
            said = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()[-3:]
            raise InjectError(f"`skaffold render` for {project.path} failed (exit {done.returncode})"
                              + (f": {' '.join(said)}" if said else ""))
        try:
            with open(output, "rb") as f:
                rendered = f.read()
        except OSError:
            raise InjectError(f"`skaffold render` for {project.path} wrote no manifests") from None
    try:
        return rendered.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InjectError(f"`skaffold render` for {project.path} printed text that is not UTF-8 "
                          f"(byte {error.start + 1})") from None

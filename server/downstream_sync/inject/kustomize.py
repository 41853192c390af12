"""The kustomize transformers, both configured by one `Injector` object and both calling
inject_manifests: a KRM function (`kustomize build --enable-exec`: a ResourceList on stdin whose
functionConfig is the Injector, the ResourceList back with `results`) and a legacy exec plugin
(`kustomize build --enable-alpha-plugins`, also `kubectl kustomize`: the Injector's file as
argv[1], resources on stdin, resources on stdout).

    apiVersion: downstream-sync.dev/v1
    kind: Injector
    metadata: {name: inject}
    spec:
      skaffold: ../skaffold.yaml         # relative to the kustomization's folder
      profiles: [dev]                    # optional
      helperImage: REF                   # optional
      imageConfig: {app: app.json}       # optional: IMAGE: FILE, as --image-config

One kustomization is a part of the project, so an artifact it does not run is a warning.
Must not import pygls, lsprotocol or the terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .imageconfig import ConfigSource, ImageConfigError
from .images import parse_ref
from .manifests import dump_document
from .names import DEFAULT_HELPER_IMAGE
from .transform import InjectError, InjectRequest, InjectResult, inject_manifests, rules_from_project

__all__ = ["API_VERSION", "KIND", "InjectorConfig", "read_injector", "run_function", "run_plugin",
           "plugin_path", "write_plugin"]

API_VERSION = "downstream-sync.dev/v1"
KIND = "Injector"
_FIELDS = ("skaffold", "profiles", "helperImage", "imageConfig")


@dataclass(frozen=True)
class InjectorConfig:
    skaffold: Path
    profiles: tuple[str, ...] = ()
    helper_image: str = DEFAULT_HELPER_IMAGE
    image_configs: dict[str, Path] = field(default_factory=dict)


def read_injector(value, root: Path, where: str) -> InjectorConfig:
    """The Injector object `value` (paths in it relative to `root`); raises InjectError naming `where`."""
    if not isinstance(value, dict) or value.get("kind") != KIND or value.get("apiVersion") != API_VERSION:
        raise InjectError(f"{where}: expected an object of apiVersion {API_VERSION}, kind {KIND}")
    spec = value.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("skaffold"), str) or not spec["skaffold"].strip():
        raise InjectError(f"{where}: spec.skaffold must name the skaffold.yaml (relative to the kustomization)")
    unknown = sorted(set(spec) - set(_FIELDS))
    if unknown:
        raise InjectError(f"{where}: unknown field{'s' if len(unknown) > 1 else ''} spec.{', spec.'.join(unknown)} "
                          f"(known: {', '.join(_FIELDS)})")
    profiles = spec.get("profiles", [])
    if isinstance(profiles, str):
        profiles = [p.strip() for p in profiles.split(",") if p.strip()]
    if not isinstance(profiles, list) or not all(isinstance(p, str) and p for p in profiles):
        raise InjectError(f"{where}: spec.profiles must be a list of profile names")
    helper = spec.get("helperImage", DEFAULT_HELPER_IMAGE)
    if not isinstance(helper, str) or not helper.strip():
        raise InjectError(f"{where}: spec.helperImage must be an image reference")
    configs = spec.get("imageConfig", {})
    if not isinstance(configs, dict) or not all(isinstance(k, str) and isinstance(v, str) and v
                                                for k, v in configs.items()):
        raise InjectError(f"{where}: spec.imageConfig must map image names to JSON files (IMAGE: FILE)")
    for image in configs:
        try:
            parse_ref(image)
        except ValueError as error:
            raise InjectError(f"{where}: spec.imageConfig: {error}") from None
    return InjectorConfig(root / spec["skaffold"], tuple(profiles), helper.strip(),
                          {image: root / path for image, path in configs.items()})


def _inject(text: str, config: InjectorConfig, source: str, where: str) -> InjectResult:
    configs = ConfigSource(config.image_configs, named_by=f"{where}: spec.imageConfig")
    try:
        configs.check_files()
    except ImageConfigError as error:
        raise InjectError(str(error)) from None
    request = InjectRequest(rules_from_project(config.skaffold, config.profiles), configs, config.helper_image,
                            source, missing="warn")
    return inject_manifests(text, request)


def run_function(text: str, root: Path) -> tuple[str, str | None]:
    """The KRM function: a ResourceList in, the ResourceList out with its items injected and the
    warnings in `results`, and None; on an error the items are unchanged, the error is a result of
    severity error and is returned too (the caller exits non-zero, as the KRM function spec asks)."""
    try:
        values = [v for v in yaml.safe_load_all(text) if v is not None]
    except yaml.YAMLError as error:
        value, failure = None, f"stdin: not YAML: {getattr(error, 'problem', None) or error}"
    else:
        value, failure = (values[0] if len(values) == 1 else None), None
    if not isinstance(value, dict) or value.get("kind") != "ResourceList":
        value = {"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": []}
        failure = failure or "stdin: expected a KRM ResourceList (kind: ResourceList with items and functionConfig)"
    else:
        try:
            config = read_injector(value.get("functionConfig"), root, "functionConfig")
            result = _inject(text, config, "ResourceList", "functionConfig")
            value = yaml.safe_load(result.text)
            results = [{"message": w, "severity": "warning"} for w in result.warnings]
        except InjectError as error:
            failure = str(error)
    if failure is not None:
        results = [{"message": failure, "severity": "error"}]
    if results:
        value["results"] = list(value.get("results") or []) + results
    return dump_document(value), failure


def run_plugin(config_file: Path, resources: str, root: Path) -> InjectResult:
    """The legacy exec plugin: the Injector in `config_file`, the resources' YAML stream; raises InjectError."""
    try:
        value = yaml.safe_load(Path(config_file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise InjectError(f"{config_file}: cannot read the Injector config: {error}") from None
    where = f"the Injector config {_describe(value)}"
    return _inject(resources, read_injector(value, root, where), "kustomize", where)


def _describe(value) -> str:
    meta = value.get("metadata") if isinstance(value, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    return repr(name) if isinstance(name, str) else "(no name)"


def plugin_path(plugin_home: Path) -> Path:
    """Where kustomize looks for the Injector's exec plugin: HOME/GROUP/VERSION/lowercasekind/Kind."""
    group, version = API_VERSION.split("/")
    return Path(plugin_home) / group / version / KIND.lower() / KIND


def write_plugin(plugin_home: Path, command: list[str]) -> Path:
    """Write the exec plugin: a shell script that runs `command kustomize plugin CONFIG`. Each word
    is quoted for the shell, and written as the bytes the file system gave (any name is kept whole)."""
    import os
    import shlex

    path = plugin_path(plugin_home)
    path.parent.mkdir(parents=True, exist_ok=True)
    words = " ".join(shlex.quote(word) for word in command)
    path.write_bytes(os.fsencode(f"#!/bin/sh\n# kustomize's exec plugin for {API_VERSION} {KIND} (downstream-sync "
                                 f"kustomize install-plugin)\nexec {words} kustomize plugin \"$@\"\n"))
    path.chmod(0o755)
    return path

"""The one injection function every face calls (the `inject` filter, which is also the Helm
post-renderer, and the kustomize transformers of kustomize.py): manifests text in, manifests text out.

It reads the rules of every artifact with a `download` stanza, finds the containers that run those
artifacts in every document (and in the items of a `List` or `ResourceList`), and rewrites their
pod templates (rewrite.py). The whole output is built before anything is returned: on any error
the caller gets an InjectError and no text, so nothing is half-written. Documents with nothing to
inject keep their text byte for byte. Must not import pygls, lsprotocol or the terminal.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .imageconfig import ConfigSource, ImageConfig, ImageConfigError
from .images import match_strength
from .manifests import (LIST_KINDS, Document, ManifestError, describe, dump_document, find_pod_templates,
                        get_path, leading_comments, load_document, pod_spec_path, split_stream)
from .names import DEFAULT_HELPER_IMAGE, rules_fingerprint
from .rewrite import ContainerRules, RewriteError, rewrite_pod

__all__ = ["InjectError", "InjectRequest", "InjectResult", "inject_manifests", "inject_streams", "rules_from_project"]


class InjectError(Exception):
    """Injection refused; the message says what and where (file, document, kind and name, container)."""


@dataclass(frozen=True)
class InjectRequest:
    """`rules`: one ContainerRules per artifact image; `source`: the manifests' name for messages.
    `missing`: what an artifact that no container runs is: "error"; "warn" when the manifests are a
    part of the project's (one Helm chart, one kustomization); "ignore" when Skaffold applies only
    the manifests that changed."""

    rules: tuple[ContainerRules, ...]
    image_configs: ConfigSource | Callable[[str], ImageConfig] = field(default_factory=ConfigSource)
    helper_image: str = DEFAULT_HELPER_IMAGE
    source: str = "<stdin>"
    missing: str = "error"


@dataclass
class InjectResult:
    text: str
    injected: list[str] = field(default_factory=list)  # "document 2: Deployment web: container app"
    warnings: list[str] = field(default_factory=list)


def rules_from_project(config_path: str | Path, profiles: tuple[str, ...] = (),
                       text: str | None = None) -> tuple[ContainerRules, ...]:
    """The rules of every artifact with a download stanza; raises InjectError on config errors.
    `text`: an editor's unsaved content of the config."""
    return project_rules(config_path, profiles, text)[1]


def project_rules(config_path: str | Path, profiles: tuple[str, ...] = (),
                  text: str | None = None) -> tuple[object, tuple[ContainerRules, ...]]:
    """The project and its artifacts' rules, read by the planner's own `plan_rules` (so a pod is
    injected with exactly the rules its sessions use); raises InjectError."""
    from ..planner import PlanError, SyncOptions, plan_rules

    try:
        project, chosen = plan_rules(SyncOptions(Path(config_path), profiles=tuple(profiles), text=text))
    except PlanError as error:
        raise InjectError(error.with_details()) from None
    return project, tuple(ContainerRules(artifact.image, tuple(rules.targets), tuple(rules.excludes),
                                         rules_fingerprint(rules.targets, rules.excludes))
                          for artifact, rules in chosen)


def _best_rules(image: str, rules: tuple[ContainerRules, ...]) -> ContainerRules | None:
    scored = [(match_strength(r.artifact, image), -i, r) for i, r in enumerate(rules)]
    best = max(scored, key=lambda s: s[:2], default=(0, 0, None))
    return best[2] if best[0] else None


class _Run:
    def __init__(self, request: InjectRequest):
        self.request = request
        self.result = InjectResult("")
        self.images_seen: list[str] = []
        self.matched: set[str] = set()
        source = request.image_configs
        self.config_for = source.get if isinstance(source, ConfigSource) else source

    def where(self, doc: Document, item: int | None, obj) -> str:
        at = f"{self.request.source}: document {doc.number}"
        return (at + (f", item {item + 1}" if item is not None else "")) + f": {describe(obj)}"

    def object(self, doc: Document, item: int | None, obj) -> bool:
        """Inject into one object in place; True when it changed."""
        if not isinstance(obj, dict):
            return False
        path = pod_spec_path(obj)
        if path is None:
            self.unknown_kind(doc, item, obj)
            return False
        spec = get_path(obj, path)
        if spec is None:
            return False
        where = self.where(doc, item, obj)
        containers = spec.get("containers") if isinstance(spec, dict) else None
        if not isinstance(containers, list):
            raise InjectError(f"{where}: {'.'.join(path)}.containers must be a list of containers")
        chosen = {}
        for index, container in enumerate(containers):
            label = container.get("name") if isinstance(container, dict) else None
            label = f"container {label}" if label else f"container #{index + 1}"
            if not isinstance(container, dict):
                raise InjectError(f"{where}: {label} is not a mapping")
            image = container.get("image")
            if not isinstance(image, str) or not image.strip():
                raise InjectError(f"{where}: {label} has no image")
            self.images_seen.append(image)
            rules = _best_rules(image, self.request.rules)
            if rules is not None:
                chosen[index] = rules
                self.matched.add(rules.artifact)
        if not chosen:
            return False
        template = obj if len(path) == 1 else get_path(obj, path[:-1])
        try:
            names = rewrite_pod(template, spec, chosen, self.config_for, self.request.helper_image,
                                lambda name, message: self.result.warnings.append(f"{where}: container {name}: {message}"))
        except RewriteError as error:
            label = f": container {error.container}" if error.container else ""
            raise InjectError(f"{where}{label}: {error}") from None
        except ImageConfigError as error:
            raise InjectError(f"{where}: {error}") from None
        self.result.injected += [f"{where}: container {n}" for n in names]
        return True

    def unknown_kind(self, doc: Document, item: int | None, obj) -> None:
        for path, spec in find_pod_templates(obj):
            for container in spec.get("containers") or []:
                image = container.get("image") if isinstance(container, dict) else None
                if isinstance(image, str) and (rules := _best_rules(image, self.request.rules)) is not None:
                    self.matched.add(rules.artifact)
                    self.result.warnings.append(
                        f"{self.where(doc, item, obj)}: container {container.get('name') or '?'} at "
                        f"{'.'.join(map(str, path))} runs {image} (artifact {rules.artifact}), but kind "
                        f"{obj.get('kind')!r} is not one this tool knows; left untouched")

    def document(self, doc: Document) -> str:
        value = load_document(doc, self.request.source)
        if not isinstance(value, dict):
            return doc.text
        work = copy.deepcopy(value)
        changed = False
        if work.get("kind") in LIST_KINDS and isinstance(work.get("items"), list):
            for i, item in enumerate(work["items"]):
                changed |= self.object(doc, i, item)
        else:
            changed = self.object(doc, None, work)
        if not changed:
            return doc.text
        comments = leading_comments(doc.body)
        return (doc.head or ("---\n" if doc.number > 1 else "")) + comments + dump_document(work)


def inject_manifests(text: str, request: InjectRequest) -> InjectResult:
    """Rewrite the manifests in `text` (a YAML stream); raises InjectError, returning nothing partial."""
    return inject_streams([(request.source, text)], request)[0]


def inject_streams(streams: list[tuple[str, str]], request: InjectRequest) -> list[InjectResult]:
    """Rewrite several manifest files that deploy together, given as (name, text): one result per
    file, each message naming its file. An artifact no container of any of them runs is as `request.missing` says."""
    if not request.rules:
        raise InjectError("no download rules to inject")
    results, matched, images_seen = [], set(), []
    for name, text in streams:
        run = _Run(dataclasses.replace(request, source=name))
        try:
            pieces = [run.document(doc) for doc in split_stream(text)]
        except ManifestError as error:
            raise InjectError(str(error)) from None
        run.result.text = "".join(pieces)
        results.append(run.result)
        matched |= run.matched
        images_seen += run.images_seen
    missing = [r.artifact for r in request.rules if r.artifact not in matched]
    if missing and request.missing != "ignore":
        seen = ", ".join(dict.fromkeys(images_seen)) or "none"
        where = streams[0][0] if len(streams) == 1 else ", ".join(name for name, _ in streams)
        message = (f"{where}: no container runs artifact{'s' if len(missing) > 1 else ''} "
                   f"{', '.join(missing)} (images found: {seen})")
        if request.missing == "error":
            raise InjectError(message)
        results[0].warnings.append(message + "; nothing injected for " + ("them" if len(missing) > 1 else "it"))
    return results

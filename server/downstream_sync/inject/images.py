"""Image references: their parts (registry, repository, tag, digest) as the distribution API needs
them, and whether a container's image is an artifact's whatever tag, digest or default-repo prefix
Skaffold gave it. Pure; must not import YAML, pygls, lsprotocol or the terminal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..cluster.pods import image_matches, image_repository

__all__ = ["ImageRef", "parse_ref", "artifact_matches", "match_strength", "image_repository"]

DOCKER_HUB = "docker.io"
_DIGEST = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")
_ESCAPE = re.compile(r"[/._:@]")  # what Skaffold turns into '_' when a default repo cannot be a prefix


@dataclass(frozen=True)
class ImageRef:
    """`registry` is a host[:port] (docker.io for Docker Hub); `reference` is the digest, else the tag."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def reference(self) -> str:
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_ref(image: str) -> ImageRef:
    """Split an image reference; raises ValueError when it is not one."""
    text = image.strip()
    if not text or any(c.isspace() for c in text):
        raise ValueError(f"{image!r} is not an image reference")
    name, _, digest = text.partition("@")
    if digest and not _DIGEST.match(digest):
        raise ValueError(f"{image!r}: {digest!r} is not a digest")
    tag = None
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
        if not tag:
            raise ValueError(f"{image!r}: empty tag")
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = DOCKER_HUB, name
    if registry in ("index.docker.io", "registry-1.docker.io"):
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    if not repository or repository != repository.lower():
        raise ValueError(f"{image!r}: the repository must be lowercase and not empty")
    return ImageRef(registry, repository, tag, digest or None)


def artifact_matches(artifact_image: str, container_image: str) -> bool:
    """Whether a container runs the artifact: same repository once tag and digest are dropped, or the
    artifact's behind a default repo (`gcr.io/p/node-example`), or escaped by Skaffold behind one
    (`registry.example/gcr_io_k8s_app` for `gcr.io/k8s/app`)."""
    if image_matches(artifact_image, container_image):
        return True
    want = _ESCAPE.sub("_", image_repository(artifact_image))
    have = image_repository(container_image or "")
    return bool(want) and have.endswith("/" + want)


def match_strength(artifact_image: str, container_image: str) -> int:
    """2 when the repositories are equal, 1 for a prefix match, 0 for none (the best artifact wins)."""
    if image_repository(artifact_image) == image_repository(container_image or ""):
        return 2
    return 1 if artifact_matches(artifact_image, container_image) else 0

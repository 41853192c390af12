"""An image's config (ENTRYPOINT, CMD, WorkingDir, Env) and where it comes from: a file named by
`--image-config IMAGE=FILE`, a local Docker daemon when one answers, else the image's registry.
When none has it, the error names the image and every way to supply its config: nothing is guessed.
Must not import YAML, pygls, lsprotocol or the terminal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .images import artifact_matches, image_repository, parse_ref

__all__ = ["ImageConfig", "ImageConfigError", "ConfigSource", "config_from_json", "load_config_file",
           "parse_image_config_flag"]


class ImageConfigError(Exception):
    """An image config that cannot be had or read; the message says which image and why."""


@dataclass(frozen=True)
class ImageConfig:
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    working_dir: str = ""
    env: dict[str, str] = field(default_factory=dict)
    source: str = ""  # where it came from, for messages


def config_from_json(data, source: str) -> ImageConfig:
    """The config in `docker inspect` output, an image config blob (OCI or Docker) or a bare
    container config (the seed's `{"Entrypoint": ..., "Cmd": ...}`)."""
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if isinstance(data, dict):
        for key in ("config", "Config"):
            if isinstance(data.get(key), dict):
                data = data[key]
                break
    if not isinstance(data, dict):
        raise ImageConfigError(f"{source}: not an image config (expected a JSON object with Entrypoint, Cmd, WorkingDir)")

    def words(key: str) -> list[str] | None:
        value = data.get(key)
        if value is None:
            return None
        if isinstance(value, str):  # a shell-form string in some hand-written configs
            value = [value]
        if not isinstance(value, list) or not all(isinstance(w, str) for w in value):
            raise ImageConfigError(f"{source}: {key} must be a list of strings")
        return list(value)

    env = {}
    for item in data.get("Env") or []:
        if isinstance(item, str):
            name, _, value = item.partition("=")
            env[name] = value
    working_dir = data.get("WorkingDir") or ""
    if not isinstance(working_dir, str):
        raise ImageConfigError(f"{source}: WorkingDir must be a string")
    return ImageConfig(words("Entrypoint"), words("Cmd"), working_dir, env, source)


def load_config_file(path: Path, named_by: str = "--image-config") -> ImageConfig:
    """The config in a JSON file; `named_by` is what gave the file, for messages."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ImageConfigError(f"{named_by} {path}: {error.strerror or error}") from None
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ImageConfigError(f"{named_by} {path}: not JSON ({error})") from None
    return config_from_json(data, str(path))


def parse_image_config_flag(value: str) -> tuple[str, Path]:
    """`IMAGE=FILE` as (image, path); raises ValueError."""
    image, sep, file = value.partition("=")
    if not sep or not image.strip() or not file.strip():
        raise ValueError(f"{value!r}: give IMAGE=FILE, e.g. node-example=config.json")
    parse_ref(image)
    return image.strip(), Path(file.strip())


HOW_TO_SUPPLY = ("give the container a command and args in the manifest, pass --image-config IMAGE=FILE "
                 "(a JSON file with the image's config, such as `docker inspect IMAGE` prints), "
                 "run a Docker daemon that has the image, or make its registry reachable")


class ConfigSource:
    """Finds image configs: files first, then the Docker daemon, then the registry; one lookup per image."""

    def __init__(self, files: dict[str, Path] | None = None, *, use_docker: bool = True, use_registry: bool = True,
                 registry_timeout: float = 10.0, named_by: str = "--image-config"):
        self.files = dict(files or {})
        self.named_by = named_by  # what gave the files, for messages
        self.use_docker = use_docker
        self.use_registry = use_registry
        self.registry_timeout = registry_timeout
        self._cache: dict[str, ImageConfig | ImageConfigError] = {}

    def check_files(self) -> None:
        """Read every file given, so that a bad one is an error before any manifest is read."""
        for path in self.files.values():
            load_config_file(path, self.named_by)

    def file_for(self, image: str) -> Path | None:
        """The file given for `image`: one named with its exact reference, else with its repository
        (a name without tag or digest stands for every tag)."""
        if image in self.files:
            return self.files[image]
        for named, path in self.files.items():
            if image_repository(named) == named and artifact_matches(named, image):
                return path
        return None

    def get(self, image: str) -> ImageConfig:
        """The config of `image`, looked up once (a failure too); raises ImageConfigError."""
        if image not in self._cache:
            try:
                self._cache[image] = self._find(image)
            except ImageConfigError as error:
                self._cache[image] = error
        found = self._cache[image]
        if isinstance(found, ImageConfigError):
            raise found
        return found

    def _find(self, image: str) -> ImageConfig:
        path = self.file_for(image)
        if path is not None:
            return load_config_file(path, self.named_by)
        tried = []
        if self.use_docker:
            from .docker import DockerUnavailable, docker_image_config

            try:
                found = docker_image_config(image)
            except DockerUnavailable as why:
                tried.append(f"Docker daemon: {why}")
            else:
                if found is not None:
                    return found
                tried.append("Docker daemon: no such image there")
        if self.use_registry:
            from .registry import RegistryError, fetch_image_config

            try:
                return fetch_image_config(image, timeout=self.registry_timeout)
            except RegistryError as why:
                tried.append(f"registry: {why}")
        raise ImageConfigError(f"cannot read the config of image {image} ({'; '.join(tried) or 'no source tried'}); "
                               f"to supply it, {HOW_TO_SUPPLY}")

"""The config Skaffold is given: the user's skaffold.yaml without download stanzas (config/strip.py),
and, where it deploys with Helm, our post-renderer in `deploy.helm.flags.install` and `.upgrade`.

Skaffold runs the first `--post-renderer` of those flags inside its own `skaffold filter` (Helm
takes one), so a post-renderer of the user's there is taken out, with its `--post-renderer-args`,
and ours runs it first: its output, which may hold the very containers to inject, is what we
inject (then Skaffold's filter sets the images). `renderer(chain)` names the program for a flags
list: ours alone for an empty chain, ours running `chain` (the user's argv) otherwise.

Skaffold reads it from stdin (`--filename -`), so no file is written into the project, except where
the config deploys or renders with Helm (`deploy.helm` or `manifests.helm`, in the config or a
profile; `names_helm`): Skaffold runs Helm with itself (`skaffold filter`) as the post-renderer, and
that filter reads the config again from the same `--filename`, where `-` would be Helm's manifests.
Then the copy is a file in the config's own folder (so relative paths in it mean what they mean in
the original), `.skaffold.downstream-sync-PID.yaml` (PID the wrapper's; `write_copy_file`, created
exclusively, never through a symlink, mode 0600), removed when Skaffold ends; a leftover of a
wrapper that was killed (its PID no longer alive) is removed at the next start (`remove_leftovers`).

A config it `requires` is read by Skaffold from disk: one with a download stanza is refused, naming it.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Callable

import yaml

from ..config.strip import StripError, strip_download

__all__ = ["CopyError", "config_copy", "POST_RENDERER_FLAG", "names_helm", "copy_file_name", "write_copy_file",
           "remove_leftovers"]

POST_RENDERER_FLAG = "--post-renderer"
_Loader = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
_Dumper = getattr(yaml, "CSafeDumper", None) or yaml.SafeDumper


_COPY_FILE = re.compile(r"\.skaffold\.downstream-sync-([0-9]+)\.yaml")
_HELM_PATCH = re.compile(r"/(deploy|manifests)(/helm(/|$)|$)")


class CopyError(Exception):
    """The config cannot be handed to Skaffold; the message names the file."""


def _get(node, key):
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def _scalar(value: str) -> yaml.ScalarNode:
    return yaml.ScalarNode("tag:yaml.org,2002:str", value)


def _ensure(node: yaml.MappingNode, key: str, make) -> yaml.Node:
    found = _get(node, key)
    if found is None or (isinstance(found, yaml.ScalarNode) and found.value in ("", "~", "null")):
        if found is not None:
            node.value = [(k, v) for k, v in node.value if v is not found]
        found = make()
        node.value.append((_scalar(key), found))
    return found


_ARGS_FLAG = POST_RENDERER_FLAG + "-args"


def _take_post_renderer(seq: yaml.SequenceNode, where: str) -> tuple[str, ...]:
    """Take the user's `--post-renderer P` and its `--post-renderer-args A` out of a flags list;
    returns (P, A...), or () when it has none."""
    kept, program, args = [], None, []
    words = seq.value
    i = 0
    while i < len(words):
        word = words[i].value if isinstance(words[i], yaml.ScalarNode) else None
        flag = next((f for f in (POST_RENDERER_FLAG, _ARGS_FLAG) if word == f or (word or "").startswith(f + "=")),
                    None)
        if flag is None:
            kept.append(words[i])
            i += 1
            continue
        if word == flag:
            if i + 1 >= len(words) or not isinstance(words[i + 1], yaml.ScalarNode):
                raise CopyError(f"{where}: {flag} needs a value after it")
            value, i = words[i + 1].value, i + 2
        else:
            value, i = word[len(flag) + 1:], i + 1
        if flag == _ARGS_FLAG:
            args.append(value)
        elif program is not None:
            raise CopyError(f"{where}: two {POST_RENDERER_FLAG} flags ({program}, {value}); Helm runs one: keep one")
        elif not value:
            raise CopyError(f"{where}: {POST_RENDERER_FLAG} names no program")
        else:
            program = value
    if args and program is None:
        raise CopyError(f"{where}: {_ARGS_FLAG} without a {POST_RENDERER_FLAG} to give them to")
    seq.value = kept
    return (program, *args) if program else ()


def _add_post_renderer(helm, renderer: Callable[[tuple[str, ...]], str], where: str) -> None:
    if not isinstance(helm, yaml.MappingNode):
        return
    flags = _ensure(helm, "flags", lambda: yaml.MappingNode("tag:yaml.org,2002:map", []))
    if not isinstance(flags, yaml.MappingNode):
        raise CopyError(f"{where}.flags must be a mapping")
    for name in ("install", "upgrade"):
        seq = _ensure(flags, name, lambda: yaml.SequenceNode("tag:yaml.org,2002:seq", []))
        if not isinstance(seq, yaml.SequenceNode):
            raise CopyError(f"{where}.flags.{name} must be a list")
        chain = _take_post_renderer(seq, f"{where}.flags.{name}")
        seq.value += [_scalar(POST_RENDERER_FLAG), _scalar(renderer(chain))]


def _with_post_renderer(text: str, renderer: Callable[[tuple[str, ...]], str], source: str) -> str:
    documents = list(yaml.compose_all(text, Loader=_Loader))
    changed = False
    for root in documents:
        api = _get(root, "apiVersion")
        if not (isinstance(api, yaml.ScalarNode) and api.value.startswith("skaffold/")):
            continue
        sites = [(_get(_get(root, "deploy"), "helm"), f"{source}: deploy.helm")]
        profiles = _get(root, "profiles")
        for profile in profiles.value if isinstance(profiles, yaml.SequenceNode) else []:
            name = _get(profile, "name")
            label = name.value if isinstance(name, yaml.ScalarNode) else "?"
            sites.append((_get(_get(profile, "deploy"), "helm"), f"{source}: profile {label}: deploy.helm"))
        for helm, where in sites:
            if isinstance(helm, yaml.MappingNode):
                _add_post_renderer(helm, renderer, where)
                changed = True
    if not changed:
        return text
    return yaml.serialize_all(documents, Dumper=_Dumper, explicit_start=len(documents) > 1, allow_unicode=True)


def config_copy(main: Path, required: list[Path], post_renderer: Callable[[tuple[str, ...]], str] | None) -> str:
    """The text Skaffold reads for `main`; `required` are the other config files the project reads;
    `post_renderer(chain)` names our post-renderer running the user's `chain` first (see above)."""
    for path in required:
        try:
            _, removed = strip_download(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, StripError):
            continue  # Skaffold reads it and reports its own problem
        if removed:
            raise CopyError(f"{path}: a config that {main.name} requires has a download stanza; Skaffold reads "
                            "required configs from disk, so move the stanza into the main config")
    try:
        text, _ = strip_download(main.read_text(encoding="utf-8"))
        if post_renderer is not None:
            text = _with_post_renderer(text, post_renderer, main.name)
    except (OSError, UnicodeDecodeError) as error:
        raise CopyError(f"{main}: cannot read: {error}") from None
    except (StripError, yaml.YAMLError) as error:
        raise CopyError(f"{main}: {error}") from None
    return text


def names_helm(text: str) -> bool:
    """Whether the copy deploys or renders with Helm anywhere: a `deploy` or `manifests` mapping with
    a `helm` key (in a config or a profile), or a profile's patch whose path reaches there."""
    try:
        documents = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.YAMLError:
        return False
    seen: set[int] = set()
    stack = [d for d in documents if d is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else None
                if name in ("deploy", "manifests") and _get(value, "helm") is not None:
                    return True
                if name == "path" and isinstance(value, yaml.ScalarNode) and _HELM_PATCH.fullmatch(value.value):
                    return True
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value
    return False


def copy_file_name(pid: int) -> str:
    """The copy's file name for the wrapper with process id `pid`."""
    return f".skaffold.downstream-sync-{pid}.yaml"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def remove_leftovers(folder: Path, own_pid: int | None = None) -> list[Path]:
    """Removes the copies in `folder` whose wrapper is no longer alive (killed before it could remove
    its own), and one named for `own_pid` (a dead wrapper's whose PID this one has been given);
    returns them. Only regular files are removed; a copy of a live wrapper is kept."""
    own = os.getpid() if own_pid is None else own_pid
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = _COPY_FILE.fullmatch(name)
        if match is None:
            continue
        pid, path = int(match.group(1)), folder / name
        try:
            if not stat.S_ISREG(path.lstat().st_mode) or (pid != own and _alive(pid)):
                continue
            path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed


def write_copy_file(folder: Path, text: str, pid: int | None = None) -> Path:
    """Writes the copy into `folder` under the wrapper's own name (`copy_file_name`): created, never
    opened when something (a symlink included) is already there, mode 0600. Raises CopyError."""
    path = folder / copy_file_name(os.getpid() if pid is None else pid)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise CopyError(f"{path}: already exists (a file or a symlink of another process's?); the wrapper "
                        "writes its config copy there for Skaffold's Helm post-renderer, and does not write "
                        "through what is there: remove it") from None
    except OSError as error:
        raise CopyError(f"{path}: cannot write the config copy there for Skaffold's Helm post-renderer: "
                        f"{error.strerror or error}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    except BaseException as error:
        path.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise CopyError(f"{path}: cannot write the config copy: {error.strerror or error}") from None
        raise
    return path

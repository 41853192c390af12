"""The download stanza's keys with their documentation: the one table completion and hover read.

Must not import pygls or the engine.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Key:
    name: str
    parent: str  # the key this one sits under: "artifact" is an item of build.artifacts
    summary: str
    doc: str
    insert: str  # snippet text inserted by completion (LSP snippet syntax)


KEYS: list[Key] = [
    Key(
        "download",
        "artifact",
        "Files to bring back from the running container to this machine.",
        "Downstream Sync: files that the container creates or changes below each `remoteSrc` are "
        "copied to `localDst` while `skaffold dev` runs. Holds `manual` (the mappings) and "
        "`excludes` (globs of paths never brought back).",
        "download:\n  manual:\n    - remoteSrc: ${1:src}\n      localDst: ${2:.}\n",
    ),
    Key(
        "manual",
        "download",
        "The mappings: which container folders land in which local folders.",
        "A list of `{remoteSrc, localDst}` pairs. Each file below `remoteSrc` in the container "
        "is written below `localDst` on this machine, keeping its path below `remoteSrc`.",
        "manual:\n  - remoteSrc: ${1:src}\n    localDst: ${2:.}\n",
    ),
    Key(
        "excludes",
        "download",
        "Globs of container paths that are never brought back.",
        "Doublestar globs relative to a `remoteSrc` (`node_modules/**`, `**/*.log`): `*` stays in "
        "one path segment, `**` spans any number. A path is excluded when it or a folder above "
        "it matches.",
        "excludes:\n  - ${1:node_modules/**}\n",
    ),
    Key(
        "remoteSrc",
        "manual",
        "A folder (or file) in the container to watch.",
        "Relative to the container's working directory, or absolute (`/var/log`). The helper "
        "in the container watches it and reports every change below it.",
        "remoteSrc: ${1:src}",
    ),
    Key(
        "localDst",
        "manual",
        "Where the files of `remoteSrc` land on this machine.",
        "Relative to the folder of skaffold.yaml; it must stay inside it. Files keep their "
        "path below `remoteSrc`.",
        "localDst: ${1:.}",
    ),
]

BY_PARENT: dict[str, list[Key]] = {}
for _key in KEYS:
    BY_PARENT.setdefault(_key.parent, []).append(_key)
BY_NAME: dict[tuple[str, str], Key] = {(k.parent, k.name): k for k in KEYS}


def markdown(key: Key) -> str:
    return f"**{key.name}**: {key.summary}\n\n{key.doc}"

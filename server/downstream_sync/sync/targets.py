"""Where a wire path goes locally, or why it goes nowhere: the mapping of the rules, refusing
unsafe paths, reserved folders, names like this tool's own files and the project's config.
A pure function of the rules; the Applier reports what it answers. Must not import pygls,
lsprotocol or terminal code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .rules import RESERVED, RuleSet
from .writer import BACKUP_SUFFIX, CONFLICT_SUFFIX, SWAP_MARK, TEMP_MARK

__all__ = ["Target", "Unmapped", "map_wire", "ours", "beside", "inside"]


@dataclass(frozen=True)
class Target:
    wire: str
    dir: Path      # the folder the safe walk starts from: the project root
    rel: str       # below dir, POSIX (the same as relpath)
    local: str     # the absolute local path
    relpath: str   # relative to the project root, POSIX
    base: str = "" # the rule's localDst, relative to the project root

    @property
    def name(self) -> str:
        return self.rel.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Unmapped:
    """Why a wire path is not written: `error` when that is a fault to report (else a skip);
    `path` the local path it would have had, "" when no rule maps it."""
    reason: str
    path: str = ""
    error: bool = False


def ours(name: str) -> bool:
    """A conflict copy, a backup or a temporary file of this tool: never synced from a container."""
    return (name.endswith((CONFLICT_SUFFIX, BACKUP_SUFFIX))
            or (name.startswith(".") and (TEMP_MARK in name or SWAP_MARK in name)))


def beside(relpath: str, name: str) -> str:
    """The project-relative path of `name` in the folder of relpath."""
    folder = relpath.rpartition("/")[0]
    return f"{folder}/{name}" if folder else name


def _unsafe(wire: str) -> bool:
    body = wire[1:] if wire.startswith("/") else wire
    return (not wire or "\x00" in wire or "\\" in wire
            or any(seg in ("", ".", "..") for seg in body.split("/")))


def _reserved(wire: str) -> str | None:
    """The reserved folder (.git, ours) a wire path goes through, or None."""
    return next((seg for seg in wire.split("/") if seg.casefold() in RESERVED), None)


def map_wire(rules: RuleSet, wire: str) -> Target | Unmapped:
    """The local target of a wire path, or why there is none."""
    found = rules.match(wire)
    if found is None:
        if _unsafe(wire):
            return Unmapped(f"refused a path from the helper that is not safe: {wire!r} "
                            f"(only plain paths below the download targets are accepted)", error=True)
        if folder := _reserved(wire):
            return Unmapped(f"in {folder}/, a folder never written from a container (exclude it in the stanza "
                            f"to say so)", rules.named(wire) or "")
        return Unmapped("not covered by any download rule")
    rule, rel = found
    relpath = f"{rule.local_rel}/{rel}" if rule.local_rel and rel else rule.local_rel or rel
    if rules.is_excluded(rule, rel):
        return Unmapped("excluded", relpath)
    if any(ours(part) for part in wire.split("/")):  # a folder so named would block one of ours
        return Unmapped("named like a file of downstream sync itself (an echo of an upload)", relpath)
    refused = rules.refusal(relpath)
    if refused:
        return Unmapped(refused, relpath, error=True)
    root = rules.project_root
    if relpath:  # walked from the project root down, never following a symlink
        return Target(wire, root, relpath, f"{root}/{relpath}", relpath, rule.local_rel)
    return Target(wire, root.parent, root.name, str(root), relpath)


def inside(root: Path, rel: str) -> tuple[list[tuple[str, os.stat_result]], list[str], list[str]]:
    """Below the folder root/rel (not following symlinks): its regular files with their stats, its
    folders (rel included) and everything else, all as paths relative to root."""
    files, folders, others = [], [], []
    stack = [rel]
    while stack:
        folder = stack.pop()
        folders.append(folder)
        with os.scandir(root / folder) as it:
            for entry in it:
                path = f"{folder}/{entry.name}"
                if entry.is_dir(follow_symlinks=False):
                    stack.append(path)
                elif entry.is_file(follow_symlinks=False) and not ours(entry.name):
                    files.append((path, entry.stat(follow_symlinks=False)))
                else:
                    others.append(path)
    return files, folders, others

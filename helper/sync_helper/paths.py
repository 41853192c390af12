"""Watched targets and the safe mapping between wire paths and files on disk.

Owns: target normalization, wire-path spelling (target + "/" + path below it), and opening a file
named by a client without ever leaving its target (no "..", no absolute path outside a target, no
symlink on the way: every component is opened with O_NOFOLLOW relative to its parent).
Must not import grpc, watchdog or asyncio.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from dataclasses import dataclass, field

from .globs import Excludes

__all__ = ["Target", "Targets", "PathRefused", "PathMissing", "normalize_target", "open_regular", "lstat_below",
           "below_target", "RESERVED_FOLDERS", "reserved_folder"]

# Folders of a project that a container never writes into, whatever the rules say: git's (its hooks
# run code) and the state folder of downstream sync (its ledger and locks).
RESERVED_FOLDERS = frozenset({".git", ".downstream-sync"})


class PathRefused(Exception):
    """The path is outside the targets, excluded, goes through a symlink, or is not a regular file."""


class PathMissing(Exception):
    """The path names nothing (it vanished or never existed)."""


def normalize_target(spec: str) -> str:
    """The wire spelling of a target: POSIX-normalized, no "./", no trailing "/"."""
    spec = spec.strip()
    if not spec:
        raise ValueError("an empty target")
    return posixpath.normpath(spec)


def below_target(wire: str, target: str) -> bool:
    """True when the wire path `wire` names a file below the target spelled `target` (both sides use this)."""
    if target == ".":  # no file below it climbs ("../shared" is a target of its own)
        return not wire.startswith(("/", "../"))
    if target == "/":
        return wire.startswith("/")
    return wire.startswith(target + "/")


def reserved_folder(path: str) -> str | None:
    """The first segment of the POSIX path `path` that names a reserved folder (in any case), or None."""
    return next((seg for seg in path.split("/") if seg.casefold() in RESERVED_FOLDERS), None)


@dataclass(frozen=True)
class Target:
    """One watched folder: its wire name, its absolute folder, and its excludes."""

    name: str
    dir: str
    excludes: Excludes = field(default_factory=Excludes)

    def wire(self, rel: str) -> str:
        """The wire path of `rel` (a POSIX path below this target)."""
        if not rel:
            return self.name
        return rel if self.name == "." else f"{self.name}/{rel}" if self.name != "/" else f"/{rel}"

    def abs(self, rel: str) -> str:
        return os.path.join(self.dir, rel) if rel else self.dir

    def excluded(self, rel: str) -> bool:
        return self.excludes.excludes(rel, self.name)

    def everything_below_excluded(self, rel: str) -> bool:
        """True when any name at all below folder `rel` is excluded (`node_modules/*`): it needs no watch."""
        return bool(rel) and self.excludes.excludes_all_below(rel, self.name)


class Targets:
    """The ordered set of targets; maps wire paths back to (target, relative path)."""

    def __init__(self, specs: list[str], excludes: Excludes, working_dir: str):
        self.working_dir = working_dir
        self.items: list[Target] = []
        self.skipped: list[tuple[str, str]] = []  # (target, reason) for targets dropped as redundant
        for spec in specs:
            name = normalize_target(spec)
            # A target may itself be a symlink to a folder (a logs folder often is): watch where it points.
            folder = os.path.realpath(os.path.join(working_dir, name))
            for other in self.items:
                if _inside(folder, other.dir):
                    self.skipped.append((name, f"it is inside target {other.name!r}"))
                    break
            else:
                self.items = [t for t in self.items if not self._drop_if_inside(t, folder, name)]
                self.items.append(Target(name, folder, excludes))

    def _drop_if_inside(self, t: Target, folder: str, name: str) -> bool:
        if _inside(t.dir, folder):
            self.skipped.append((t.name, f"it is inside target {name!r}"))
            return True
        return False

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def resolve(self, wire_path: str) -> tuple[Target, str]:
        """(target, relative path) for a wire path; raises PathRefused when it is not inside a target."""
        if not wire_path or "\0" in wire_path:
            raise PathRefused(f"{wire_path!r} is not a file path")
        # A target's own name may climb (`../shared`); what lies below it never may.
        best: tuple[Target, str] | None = None
        for t in self.items:
            if t.name == ".":
                if wire_path.startswith("/"):
                    continue
                rel = wire_path
            elif wire_path == t.name:
                rel = ""
            elif wire_path.startswith(t.name.rstrip("/") + "/"):
                rel = wire_path[len(t.name.rstrip("/")) + 1:]
            else:
                continue
            if best is None or len(t.name) > len(best[0].name):
                best = (t, rel)
        if best is None:
            raise PathRefused(f"{wire_path!r} is not inside any watched target")
        t, rel = best
        if ".." in rel.split("/"):
            raise PathRefused(f"{wire_path!r} contains '..'")
        rel = posixpath.normpath(rel).lstrip("/") if rel else rel
        if rel == ".":
            rel = ""
        if not rel:
            raise PathRefused(f"{wire_path!r} is a target folder, not a file")
        if t.excluded(rel):
            raise PathRefused(f"{wire_path!r} is excluded")
        return t, rel


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


def _open_parent(target: Target, rel: str) -> tuple[int, str]:
    """(fd of the folder holding `rel`, the file's name), walking down from the target without
    following any symlink below it. Raises as open_regular does."""
    wire = target.wire(rel)
    try:
        dir_fd = os.open(target.dir, _DIR_FLAGS & ~os.O_NOFOLLOW)
    except FileNotFoundError:
        raise PathMissing(f"{wire!r}: its target folder {target.dir} does not exist") from None
    parts = rel.split("/")
    try:
        for part in parts[:-1]:
            if part in ("", "."):
                continue
            try:
                next_fd = os.open(part, _DIR_FLAGS, dir_fd=dir_fd)
            except OSError as e:
                raise _classify(e, wire, "a folder on its way") from None
            os.close(dir_fd)
            dir_fd = next_fd
    except BaseException:
        os.close(dir_fd)
        raise
    return dir_fd, parts[-1]


def lstat_below(target: Target, rel: str) -> os.stat_result | None:
    """The stat of `rel` itself (a symlink is not followed), or None when it is missing or a folder
    on its way is a symlink: such a path is not below the target any more."""
    try:
        dir_fd, name = _open_parent(target, rel)
    except (PathMissing, PathRefused, OSError):
        return None
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return None
    finally:
        os.close(dir_fd)


def open_regular(target: Target, rel: str) -> tuple[int, os.stat_result]:
    """Open the regular file `rel` below `target` without following any symlink below the target.

    Returns (fd, fstat). Raises PathMissing when it does not exist, PathRefused when a component is
    a symlink or the file is not regular, and OSError for other failures (permissions, I/O).
    """
    wire = target.wire(rel)
    dir_fd, name = _open_parent(target, rel)
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            raise PathRefused(f"{wire!r} is not a regular file")  # checked before opening: no device is opened
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        raise PathMissing(f"{wire!r} does not exist") from None
    except OSError as e:
        raise _classify(e, wire, "the file") from None
    finally:
        os.close(dir_fd)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise PathRefused(f"{wire!r} is not a regular file")
    return fd, st


def _classify(e: OSError, wire: str, what: str) -> Exception:
    if e.errno == errno.ENOENT:
        return PathMissing(f"{wire!r} does not exist")
    if e.errno in (errno.ELOOP, errno.ENOTDIR):
        return PathRefused(f"{wire!r}: {what} is a symlink or not a folder; symlinks are never followed")
    return e

"""Sync rules: which local path, if any, a container path maps to.

Built from one artifact's `download` stanza: `manual` (remoteSrc, localDst) pairs and `excludes`.
A remoteSrc is relative to the container's working directory or absolute; a localDst is relative
to the project root (the folder holding skaffold.yaml) and must stay inside it and out of the
reserved folders (.git, .downstream-sync: sync_helper/paths.py). The most specific remoteSrc wins.
Paths from the wire are not trusted: anything odd maps to None. The project's own configuration
(skaffold.yaml and every file it requires, as the loader read them) and the reserved folders are
never written, whatever the rules and the policy say (`refusal`).

Owns path mapping only; must not touch the disk beyond resolving the project root and the config
files, and must not import pygls, lsprotocol or terminal code.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path

from sync_helper.globs import Excludes, GlobError
from sync_helper.paths import RESERVED_FOLDERS as RESERVED
from sync_helper.paths import reserved_folder

__all__ = ["RuleError", "Rule", "RuleSet", "normalize_remote"]


class RuleError(ValueError):
    """A download rule that cannot be used; the message says which one and why."""


@dataclass(frozen=True)
class Rule:
    remote: str       # normalized remoteSrc, as the helper spells the target on the wire
    local_dir: Path   # absolute localDst
    local_dst: str    # localDst as written, for messages
    local_rel: str = ""  # localDst relative to the project root, POSIX ("" for the root itself)


def normalize_remote(remote_src: str) -> str:
    """Normalize a remoteSrc the way the helper spells targets: no "./", no trailing "/"."""
    if not isinstance(remote_src, str) or not remote_src.strip():
        raise RuleError("remoteSrc is empty: give a folder in the container, e.g. 'src' or '/app/out'")
    if "\x00" in remote_src or "\\" in remote_src:
        raise RuleError(f"remoteSrc {remote_src!r} must be a POSIX path (no backslashes or NUL)")
    absolute = remote_src.startswith("/")
    parts = [p for p in remote_src.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise RuleError(f"remoteSrc {remote_src!r} must not contain '..': name the folder directly")
    if not parts:
        if absolute:
            raise RuleError("remoteSrc '/' would sync the whole container: name a folder below it")
        raise RuleError(f"remoteSrc {remote_src!r} is the working directory itself: name a folder below it")
    return ("/" if absolute else "") + "/".join(parts)


def _check_rel_wire(rel: str) -> bool:
    """A path below a target: non-empty POSIX segments, no '.', '..', NUL, backslash or reserved folder."""
    if not rel or "\x00" in rel or "\\" in rel:
        return False
    return all(seg not in ("", ".", "..") and seg.casefold() not in RESERVED for seg in rel.split("/"))


def _protected(root: Path, config_files) -> frozenset[str]:
    """The config files inside the project, as casefolded project-relative POSIX paths (as given
    and resolved, so a symlinked config is covered both ways)."""
    out = set()
    for file in config_files:
        for path in (Path(posixpath.normpath(str(root / file))), (root / file).resolve()):
            try:
                out.add(path.relative_to(root).as_posix().casefold())
            except ValueError:
                continue
    return frozenset(out)


class RuleSet:
    """The rules of one artifact. Use `from_download` to build one."""

    def __init__(self, rules: list[Rule], excludes: list[str], project_root: Path,
                 protected: frozenset[str] = frozenset()):
        self.project_root = project_root
        self._protected = protected  # casefolded project-relative POSIX paths
        self._order = list(rules)
        self._spelled: dict[str, str] = {}  # remoteSrc -> the helper's spelling of it, when they differ
        self._sort()
        self._excludes_list = list(excludes)
        self._excludes = Excludes(tuple(excludes))

    @classmethod
    def from_download(cls, mappings: list[tuple[str, str]], excludes: list[str], project_root: Path,
                      config_files: list[Path] = ()) -> "RuleSet":
        """Rules from (remoteSrc, localDst) pairs and exclude globs; raises RuleError on bad input.
        `config_files`: the project's configuration (skaffold.yaml and what it requires), never written."""
        root = Path(project_root).resolve()
        if not mappings:
            raise RuleError("download.manual is empty: add at least one {remoteSrc, localDst} pair")
        rules: list[Rule] = []
        seen: dict[str, str] = {}
        for index, pair in enumerate(mappings):
            try:
                remote_src, local_dst = pair
            except (TypeError, ValueError):
                raise RuleError(f"download.manual[{index}] must be a (remoteSrc, localDst) pair, got {pair!r}") from None
            try:
                remote = normalize_remote(remote_src)
            except RuleError as e:
                raise RuleError(f"download.manual[{index}]: {e}") from None
            if remote in seen:
                raise RuleError(f"download.manual[{index}]: remoteSrc {remote_src!r} is already mapped "
                                f"to {seen[remote]!r}; each container folder maps to one local folder")
            if not isinstance(local_dst, str) or not local_dst.strip():
                raise RuleError(f"download.manual[{index}]: localDst is empty: give a folder relative to the project, e.g. 'src'")
            if "\x00" in local_dst:
                raise RuleError(f"download.manual[{index}]: localDst {local_dst!r} contains NUL")
            if Path(local_dst).is_absolute():
                raise RuleError(f"download.manual[{index}]: localDst {local_dst!r} must be relative to the "
                                f"project folder {root}")
            local_dir = Path(posixpath.normpath(str(root / local_dst)))
            if local_dir != root and root not in local_dir.parents:
                raise RuleError(f"download.manual[{index}]: localDst {local_dst!r} leaves the project folder {root}")
            local_rel = local_dir.relative_to(root).as_posix() if local_dir != root else ""
            if folder := reserved_folder(local_rel):
                raise RuleError(f"download.manual[{index}]: localDst {local_dst!r} is inside {folder}, which a "
                                f"container never writes (git's hooks run code, .downstream-sync holds the sync "
                                f"state): choose a folder outside it")
            seen[remote] = local_dst
            rules.append(Rule(remote=remote, local_dir=local_dir, local_dst=local_dst, local_rel=local_rel))
        excludes = list(excludes or [])
        for pattern in excludes:
            try:
                Excludes((pattern,))
            except GlobError as e:
                raise RuleError(f"download.excludes: {e}") from None
        return cls(rules, excludes, root, _protected(root, config_files))

    def _sort(self) -> None:
        """The (prefix, rule) pairs to match wire paths against, most specific first, so the first
        prefix match wins: each rule's remoteSrc and the helper's spelling of it."""
        pairs = {(r.remote, r) for r in self._order} | {(self._spelled[r.remote], r) for r in self._order
                                                         if r.remote in self._spelled}
        self._prefixes = sorted(pairs, key=lambda p: (p[0].count("/") + len(p[0]) / 1e6, p[0]), reverse=True)

    def bind(self, working_dir: str, targets: list[str], target_dirs: list[str]) -> list[Rule]:
        """Learn how the helper spells each rule's folder on the wire, from what it announced (its
        working directory, its targets as given and as absolute folders, pairwise); returns the
        rules whose remoteSrc no target covers (equal to a target or below one, compared as
        absolute folders: `/app/out` and `out` in `/app` are the same folder)."""
        def absolute(path: str) -> str:
            return path if path.startswith("/") or not working_dir else posixpath.join(working_dir, path)

        uncovered = []
        self._spelled = {}
        for rule in self._order:
            folder = absolute(rule.remote)
            best = None
            for target, target_dir in zip(targets, target_dirs or map(absolute, targets)):
                base = target_dir.rstrip("/")
                if folder == target_dir or folder.startswith(base + "/"):
                    if best is None or len(target_dir) > len(best[1]):
                        best = (target, target_dir)
            if best is None:
                uncovered.append(rule)
                continue
            below = folder[len(best[1]):].strip("/")
            spelled = f"{best[0].rstrip('/')}/{below}" if below else best[0]
            if spelled != rule.remote:
                self._spelled[rule.remote] = spelled
        self._sort()
        return uncovered

    def named(self, wire_path: str) -> str:
        """The local path (relative to the project root) that a wire path below a rule's folder
        names, for messages only: unchecked, and "" when no rule's folder holds it."""
        for prefix, rule in self._prefixes:
            if wire_path.startswith(prefix.rstrip("/") + "/"):
                rel = wire_path[len(prefix.rstrip("/")) + 1:]
                return f"{rule.local_rel}/{rel}" if rule.local_rel else rel
        return ""

    def canonical(self, wire_path: str) -> str:
        """A wire path in the rules' own spelling (remoteSrc as written), whichever spelling it came in."""
        found = self.match(wire_path)
        if found is None:
            return wire_path
        rule, rel = found
        return f"{rule.remote}/{rel}" if rel else rule.remote

    @property
    def targets(self) -> list[str]:
        """The normalized remoteSrc values, in the order given: what app-server's --targets gets."""
        return [r.remote for r in self._order]

    @property
    def excludes(self) -> list[str]:
        return list(self._excludes_list)

    @property
    def rules(self) -> list[Rule]:
        return list(self._order)

    def refusal(self, relpath: str) -> str | None:
        """Why the local path `relpath` (POSIX, below the project root) is never written, or None."""
        if relpath.casefold() in self._protected:
            return (f"refused to write {self.project_root / relpath}: it is part of the project's "
                    f"configuration (skaffold.yaml or a file it requires), which a container never "
                    f"changes under any policy; exclude it in the container or move localDst")
        return None

    def match(self, wire_path: str) -> tuple[Rule, str] | None:
        """The rule for a wire path and the path below its remoteSrc ("" for the target itself)."""
        if not isinstance(wire_path, str) or not wire_path or "\x00" in wire_path or "\\" in wire_path:
            return None
        for prefix, rule in self._prefixes:
            if wire_path == prefix:
                return rule, ""
            if wire_path.startswith(prefix.rstrip("/") + "/"):
                rel = wire_path[len(prefix.rstrip("/")) + 1:]
                return (rule, rel) if _check_rel_wire(rel) else None
        return None

    def is_excluded(self, rule: Rule, rel: str) -> bool:
        """Excluded by the meaning both sides share (sync_helper/globs.py): a pattern matches the
        path below the rule's remoteSrc, or that path with the remoteSrc in front, as on the wire."""
        return self._excludes.excludes(rel, rule.remote)

    def local_path(self, wire_path: str) -> Path | None:
        """The local file for a wire path; None when no rule maps it, it is excluded, or it is refused."""
        found = self.match(wire_path)
        if found is None:
            return None
        rule, rel = found
        if self.is_excluded(rule, rel):
            return None
        return rule.local_dir / rel if rel else rule.local_dir

    def __repr__(self) -> str:
        pairs = ", ".join(f"{r.remote}->{r.local_dst}" for r in self._order)
        return f"RuleSet({pairs}; excludes={self._excludes_list})"

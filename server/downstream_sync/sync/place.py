"""Putting the container's version of a file in place, and the one outcome of doing so.

Everything here is disk work without the ledger or events, safe in a worker thread: the inputs are
values (a `Change` carries what the loop knew of the path), and the answer is an `Outcome`, which
the Applier turns into ledger entries and events. A file found changed locally, or a decided
conflict, comes back with its verified temporary file `unplaced`: the Applier keeps it as the
conflict copy (`keep_copy`, which reads the ledger's records of earlier copies).
Must not import pygls, lsprotocol or terminal code.
"""

from __future__ import annotations

import enum
import os
import stat as stat_mod
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .decide import Action, Decision, Policy, decide_change
from .local import Known, Look, md5_now
from .targets import Target
from .writer import (AtomicFile, Expected, LocalChanged, RefusedPath, WriteError, conflict_name, lstat,
                     match_exec_bits, now_ns)

__all__ = ["Result", "Outcome", "Change", "open_temp", "place", "keep_copy", "in_sync", "write_change",
           "in_the_way", "file_above", "expected", "alias", "MAX_COPIES"]

MAX_COPIES = 100  # conflict copies of one file that the user edited, before writes of it stop


class Result(enum.Enum):
    WRITTEN = "written"            # the container's version is in place (created or updated)
    COPY = "copy"                  # a conflict: the container's version is kept beside the local file
    CHANGED = "changed"            # the local file changed meanwhile: the container's version went beside it
    IN_SYNC = "in sync"            # the local file holds the container's version already
    HELD = "held"                  # an open conflict stands, its copy holds this version already
    RENAMED_AWAY = "renamed away"  # an older change of a path renamed away since: not written
    RETYPE = "retype"              # a folder is in the way, or a file where a folder should be
    REFUSED = "refused"            # the local path is not a regular file
    FAILED = "failed"              # `error` says why


@dataclass(frozen=True)
class Outcome:
    result: Result
    decision: Decision | None = None
    before: Expected | None = None  # the local file decided on (None: absent)
    st: os.stat_result | None = None  # the new file's stat, or the local one (IN_SYNC, REFUSED)
    checked: int = 0                # the clock before st was taken
    md5: str = ""                   # of what was put in place
    backup: str | None = None       # remote-wins: the name the local version was kept under
    copy: str | None = None         # the name of the conflict copy
    error: Exception | None = None  # FAILED; IN_SYNC: the exec bits could not be set
    look: Look | None = None        # a local hash taken on the way, to remember
    unplaced: AtomicFile | None = None  # COPY, CHANGED: the verified file still to keep beside (keep_copy)
    made: tuple[str, ...] = ()      # folders made for the write, relative to the project root


@dataclass(frozen=True)
class Change:
    """A change whose content is in hand, with what the loop knew of its path."""
    target: Target
    md5: str
    mode: int
    content: bytes
    known: Known
    conflict_md5: str | None
    policy: Policy
    renamed_away: bool = False   # the path was renamed away after this change


def expected(st: os.stat_result | None, md5: str | None, checked: int) -> Expected | None:
    """What the local file was when it was looked at (None: absent)."""
    return None if st is None else Expected(st, md5, checked)


def open_temp(t: Target, d: Decision, mode: int, made: list[str]) -> AtomicFile:
    """The temporary file for t (for its conflict copy when d is a conflict); folders made are added to `made`."""
    name = conflict_name(t.name) if d.action is Action.CONFLICT else None
    return AtomicFile(t.dir, t.rel, mode, name=name, on_mkdir=made.append)


def place(t: Target, d: Decision, before: Expected | None, af: AtomicFile, md5: str, policy: Policy,
          made: tuple[str, ...] = ()) -> Outcome:
    """Verify a fully written temporary file and put it in place per the decision."""
    if d.action is Action.CONFLICT:
        return Outcome(Result.COPY, d, before, md5=md5, unplaced=af, made=made)
    expect = None if d.action is Action.WRITE_WITH_BACKUP else before  # nothing there is this tool's
    checked = now_ns()
    try:
        new_st, kept = af.commit(md5 or None, expect, policy == "remote-wins")
    except LocalChanged:
        return Outcome(Result.CHANGED, d, before, md5=md5, unplaced=af, made=made)
    return Outcome(Result.WRITTEN, d, before, new_st, checked, af.md5, backup=kept, made=made)


def keep_copy(t: Target, o: Outcome, as_written: Callable[[str], Expected | None]) -> Outcome:
    """Put the unplaced file of `o` beside t as its conflict copy: the first of NAME.downstream-conflict,
    NAME~2.downstream-conflict, ... that is absent or still holds what this tool wrote there
    (`as_written(name)`; a copy the user touched is theirs)."""
    af = o.unplaced
    assert af is not None
    for n in range(1, MAX_COPIES + 1):
        name = conflict_name(t.name, n)
        checked = now_ns()
        try:
            st, _ = af.commit(o.md5 or None, as_written(name), name=name)
        except LocalChanged:
            continue
        return Outcome(o.result, o.decision, o.before, st, checked, af.md5, copy=name, made=o.made)
    af.abort()
    raise WriteError(f"cannot keep the container's version of {t.local}: {MAX_COPIES} conflict copies "
                     f"beside it hold edits; merge or remove them ({conflict_name(t.name)} and the like)")


def in_sync(t: Target, d: Decision, st: os.stat_result, checked: int, mode: int, look: Look | None = None) -> Outcome:
    """The local file holds the container's content: give it the container's exec bits too."""
    try:
        if match_exec_bits(t.dir, t.rel, mode):
            checked, st = now_ns(), lstat(t.local) or st
    except (OSError, WriteError) as e:
        return Outcome(Result.IN_SYNC, d, st=st, checked=checked, error=e, look=look)
    return Outcome(Result.IN_SYNC, d, st=st, checked=checked, look=look)


_CREATED = Decision(Action.WRITE, "created")


def write_change(c: Change) -> Outcome:
    """Look at the local file, decide and write: the whole of a change whose content came with it
    (any thread; the pipeline never hands one path to two workers at once).

    A path this tool has no record of and no open conflict on is first written as a new file
    without a look: when the local file is absent, that is the decision anyway ("created"), and
    RENAME_NOREPLACE proves it absent at the moment the file goes in place. Anything at the name
    (the user's file, a folder, a symlink) fails that, and the file is then looked at and decided
    on as any other, the bytes already written kept for it."""
    t = c.target
    made: list[str] = []
    try:
        if c.renamed_away:
            return Outcome(Result.RENAMED_AWAY)
        af = None
        if c.known.entry is None and c.conflict_md5 is None:
            try:
                af = open_temp(t, _CREATED, c.mode, made)
            except RefusedPath:
                af = None  # a file or symlink on the way: looked at below
            else:
                _write(af, c.content)
                checked = now_ns()
                try:
                    new_st, _ = af.commit(c.md5, None)
                except LocalChanged:
                    pass  # something is there: decide on it, with these bytes in hand
                else:
                    return Outcome(Result.WRITTEN, _CREATED, None, new_st, checked, af.md5, made=tuple(made))
        return _write_looked(c, af, made)
    except Exception as e:
        return Outcome(Result.FAILED, error=e, made=tuple(made))


def _write(af: AtomicFile, content: bytes) -> None:
    try:
        af.write(content)
    except BaseException:
        af.abort()
        raise


def _write_looked(c: Change, af: AtomicFile | None, made: list[str]) -> Outcome:
    """write_change after a look at the local file; `af`: the content written already, or None."""
    t = c.target
    try:
        checked = now_ns()
        st = lstat(t.local)
        if in_the_way(t, st):
            return _drop(af, Outcome(Result.RETYPE, made=tuple(made)))  # on the loop: it may change the ledger
        if st is not None and not stat_mod.S_ISREG(st.st_mode):
            return _drop(af, Outcome(Result.REFUSED, st=st, made=tuple(made)))
        local_md5, look = md5_now(t.local, st, c.known, checked)
        entry = c.known.entry
        d = decide_change(c.md5, local_md5, entry.md5 if entry else None, c.policy, c.conflict_md5)
        if d.action is Action.SKIP:
            o = in_sync(t, d, st, checked, c.mode, look)
            return _drop(af, Outcome(o.result, o.decision, st=o.st, checked=o.checked, error=o.error, look=look,
                                     made=tuple(made)))
        if d.action is Action.HELD:
            return _drop(af, Outcome(Result.HELD, d, look=look, made=tuple(made)))
        if af is None:
            af = open_temp(t, d, c.mode, made)
            _write(af, c.content)
    except BaseException:
        _drop(af, None)
        raise
    o = place(t, d, expected(st, local_md5, checked), af, c.md5, c.policy, tuple(made))
    return Outcome(o.result, o.decision, o.before, o.st, o.checked, o.md5, o.backup, o.copy, look=look,
                   unplaced=o.unplaced, made=o.made)


def _drop(af: AtomicFile | None, o: Outcome | None) -> Outcome | None:
    if af is not None:
        af.abort()
    return o


def in_the_way(t: Target, st: os.stat_result | None) -> bool:
    """Whether t is a local folder, or a folder above it (below localDst) a local file."""
    if st is not None:
        return stat_mod.S_ISDIR(st.st_mode) and bool(t.base != t.relpath)
    parent = t.local.rpartition("/")[0]
    above = lstat(Path(parent))
    return not (above is not None and stat_mod.S_ISDIR(above.st_mode)) and file_above(t) is not None


def file_above(t: Target) -> str | None:
    """The first folder on t's way below localDst that is a regular file locally (a symlink
    there is no type change: the safe walk refuses it)."""
    parts = t.relpath.split("/")
    start = t.base.count("/") + 1 if t.base else 0
    for depth in range(start + 1, len(parts)):
        rel = "/".join(parts[:depth])
        st = lstat(t.dir / rel)
        if st is None or not stat_mod.S_ISDIR(st.st_mode):
            return rel if st is not None and stat_mod.S_ISREG(st.st_mode) else None
    return None


def _fold(name: str) -> str:
    return unicodedata.normalize("NFD", name).casefold()


def alias(t: Target) -> str | None:
    """The name of the local file that t's path reaches when that is not t's own name: on a
    file system that folds case (exFAT, FAT, a casefold folder, macOS) or Unicode forms, `a.js`
    opens `A.js`. None when t's name is its own, or absent. Costs an lstat or two; the folder is
    listed only where a variant of the name exists."""
    folder, _, name = t.local.rpartition("/")
    variants = {name.swapcase(), unicodedata.normalize("NFC", name), unicodedata.normalize("NFD", name)} - {name}
    if not any(lstat(Path(folder, v)) is not None for v in variants):
        return None
    try:
        names = os.listdir(folder)
    except OSError:
        return None
    if name in names:
        return None
    key = _fold(name)
    return next((n for n in names if _fold(n) == key), None)

"""The Applier on a real disk and ledger, without a helper: items whose content is inline."""

from __future__ import annotations

import hashlib

from downstream_sync.sync.apply import Applier, Work
from downstream_sync.sync.events import FileSkipped, FileSynced, SessionStats, SyncError
from downstream_sync.sync.ledger import Ledger
from downstream_sync.sync.rules import RuleSet


def applier(project, events):
    rules = RuleSet.from_download([("src", "out")], [], project)
    a = Applier("web", rules, "safe", SessionStats(), events.append, lambda: None)
    a.ledger = Ledger(project / ".downstream-sync", "web")
    return a


def inline(path, data: bytes, version: int) -> Work:
    return Work("change", path, hashlib.md5(data).hexdigest(), len(data), 0o644, data, "", version)


async def test_an_older_change_of_a_renamed_away_path_is_not_written(project):
    events = []
    a = applier(project, events)
    a.renamed_away("src/tmp.txt", 6)
    await a.handle([inline("src/tmp.txt", b"old", 5), inline("src/new.txt", b"new", 7)])
    assert not (project / "out" / "tmp.txt").exists()
    assert (project / "out" / "new.txt").read_bytes() == b"new"
    assert [e.reason for e in events if isinstance(e, FileSkipped)] == ["renamed in the container since"]
    # A later re-creation of that name is written.
    await a.handle([inline("src/tmp.txt", b"again", 8)])
    assert (project / "out" / "tmp.txt").read_bytes() == b"again"
    assert [e.path for e in events if isinstance(e, FileSynced)] == ["out/new.txt", "out/tmp.txt"]
    a.ledger.close()


async def test_the_ledger_records_what_was_written(project):
    a = applier(project, [])
    await a.handle([inline("src/d/x.txt", b"x", 1)])
    a.ledger.commit()
    entry = Ledger(project / ".downstream-sync", "web").get("out/d/x.txt")
    assert entry is not None and entry.md5 == hashlib.md5(b"x").hexdigest() and entry.remote_path == "src/d/x.txt"
    assert (project / ".downstream-sync" / ".gitignore").read_text() == "*\n"
    a.ledger.close()


async def test_files_named_like_our_own_are_not_synced(project):
    """Skaffold may upload a conflict copy or backup into the container; it must not come back."""
    events = []
    a = applier(project, events)
    names = ["src/config.json.downstream-conflict", "src/config.json.downstream-local", "src/.x.dstmp-0a1b2c3d"]
    await a.handle([inline(n, b"echo", i + 1) for i, n in enumerate(names)])
    assert not (project / "out").exists()
    assert len([e for e in events if isinstance(e, FileSkipped)]) == 3
    a.ledger.close()


async def test_a_file_in_sync_whose_exec_bits_cannot_be_set_is_one_error_on_both_paths(project):
    """The same file, its content in hand (written in a worker thread) or to be downloaded (decided
    on the loop), in sync locally but reached through a symlinked folder: the exec bits cannot be set
    without following it. Both paths report the same error and record nothing."""
    data = b"#!/bin/sh\n"
    (project / "out" / "real").mkdir(parents=True)
    (project / "out" / "real" / "x.sh").write_bytes(data)
    (project / "out" / "d").symlink_to("real")
    md5 = hashlib.md5(data).hexdigest()
    answers = []
    for content in (data, None):
        events = []
        a = applier(project, events)
        w = Work("change", "src/d/x.sh", md5, len(data), 0o755, content, "", 1)
        await a.handle([w, inline("src/other.txt", b"o", 2)])  # two items: a group, as a burst is
        errors = [(e.path, e.message) for e in events if isinstance(e, SyncError)]
        answers.append((errors, a.ledger.get("out/d/x.sh")))
        a.ledger.close()
    assert answers[0] == answers[1]
    [(path, message)] = answers[0][0]
    assert path == "out/d/x.sh" and "symlink" in message
    assert answers[0][1] is None
    assert (project / "out" / "real" / "x.sh").stat().st_mode & 0o111 == 0

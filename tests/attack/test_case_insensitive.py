"""A project on a case-insensitive file system (exFAT, FAT, a casefold ext4 folder: real mounts)
and a container, whose file system tells case apart, sending names that fold together: A.js and
a.js, Src/x and src/x, a folder and a file whose names differ by case, case twins of the user's
own files and folders, .GIT/config, .Downstream-Sync/..., SKAFFOLD.YAML, NFC and NFD forms; then
changing, renaming (by case only) and deleting them. Nothing of the user's may change, nothing may
land outside the project, every version of the container's is at its name or kept as a conflict
copy, and every collision is said. Real app-server, real Session."""

from __future__ import annotations

import asyncio
import hashlib
import os
import pathlib

import pytest

from downstream_sync.sync.events import Conflict, FileSynced, SessionState, SyncError
from downstream_sync.sync.rules import RuleSet
from downstream_sync.sync.session import Session

from engine_support import Recorder, eventually
from mounts import CASE_INSENSITIVE, mounted

NFC, NFD = "caf\u00e9.txt", "cafe\u0301.txt"

USER = {
    "skaffold.yaml": b"apiVersion: skaffold/v4beta11\nkind: Config\n",
    ".git/config": b"[core]\n",
    "mine.txt": b"the user's\n",
    "Lib/keep.txt": b"the user's keep\n",
    "docs": b"the user's file named docs\n",
}

# What the container has first (below src/, synced to the project root): each pair folds together.
CONTAINER = {
    "A.js": b"upper A\n", "a.js": b"lower a\n",
    "Src/x": b"Src x\n", "src/x": b"src x\n",
    "Tool/run": b"a file in a folder Tool\n", "tool": b"a file named tool\n",
    "MINE.txt": b"container MINE\n", "lib/keep.txt": b"container lib keep\n", "DOCS/index": b"container docs\n",
    ".GIT/config": b"[core]\n\thooksPath = /tmp/evil\n", ".Git/hooks/pre-commit": b"#!/bin/sh\necho pwned\n",
    ".Downstream-Sync/ledger.db": b"not a ledger\n", ".DOWNSTREAM-SYNC/locks/x": b"x\n",
    ".down\u017ftream-\u017fync/ledger.db": b"long s\n",
    "SKAFFOLD.YAML": b"kind: Evil\n", "Skaffold.yaml": b"kind: Evil\n",
    NFC: b"nfc\n", NFD: b"nfd\n",
    "plain.txt": b"plain\n",
}


@pytest.fixture(params=CASE_INSENSITIVE)
def fs(request, tmp_path):
    with mounted(request.param, tmp_path / "mnt") as root:
        yield request.param, root


def _md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def _files(root: pathlib.Path) -> dict[str, bytes]:
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            p = pathlib.Path(dirpath, name)
            out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


def _write(src: pathlib.Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        p = src / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def _somewhere(project_files: dict[str, bytes], data: bytes) -> bool:
    return any(v == data for k, v in project_files.items() if not k.startswith(".downstream-sync/"))


async def test_names_that_fold_together_lose_nothing_and_are_said(fs, tmp_path, helper, container):
    kind, root = fs
    project = root / "project"
    for rel, data in USER.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_bytes(data)
    src = container / "src"
    written = {}
    for rel, data in CONTAINER.items():
        try:
            _write(src, {rel: data})
            written[rel] = data
        except OSError:
            pass  # a name the container's own file system refuses
    rules = RuleSet.from_download([("src", ".")], [], project, config_files=[project / "skaffold.yaml"])
    session = Session("web", rules, helper.transport(), project)
    rec = Recorder()
    session.subscribe(rec)
    await session.start()
    try:
        await eventually(lambda: session.state in (SessionState.WATCHING, SessionState.FAILED), "the session")
        assert session.state is SessionState.WATCHING, f"{kind}: {[e.message for e in rec.errors]}"
        await eventually(lambda: rec.of(FileSynced, path="plain.txt"), "plain.txt")
        # Live: each twin changes, one is renamed by case only, one is deleted.
        _write(src, {"A.js": b"upper A 2\n", "a.js": b"lower a 2\n"})
        os.rename(src / "plain.txt", src / "PLAIN.txt")
        (src / "src" / "x").unlink()
        _write(src, {"last.txt": b"last\n"})
        await eventually(lambda: rec.of(FileSynced, path="last.txt"), "last.txt")
        await asyncio.sleep(1.0)
    finally:
        await session.stop()
    now = _files(project)
    for rel, data in USER.items():
        assert now.get(rel) == data, f"{kind}: the user's {rel} changed or went: {now.get(rel)!r}"
    assert sorted(p.name for p in root.iterdir()) == ["project"], f"{kind}: written beside the project"
    assert not any(k.casefold().startswith((".git/", ".downstream-sync/")) and k not in USER
                   and not k.startswith(".downstream-sync/") for k in now), f"{kind}: reserved folders written"
    state = sorted(k for k in now if k.startswith(".downstream-sync/"))
    assert not any(k.endswith("/x") or k.endswith("locks/x") for k in state), f"{kind}: state folder written: {state}"
    # Every version the container has now is at its name, or kept as a conflict copy, or said.
    said = {e.path for e in rec.of(Conflict)} | {e.path for e in rec.of(SyncError)}
    latest = {**written, "A.js": b"upper A 2\n", "a.js": b"lower a 2\n", "PLAIN.txt": b"plain\n", "last.txt": b"last\n"}
    latest.pop("src/x")
    latest.pop("plain.txt")
    for rel, data in latest.items():
        if rel.split("/")[0].casefold() in (".git", ".downstream-sync", ".down\u017ftream-\u017fync".casefold()) \
                or rel.casefold() == "skaffold.yaml":
            continue  # refused: never written
        assert _somewhere(now, data) or rel in said, f"{kind}: the container's {rel} is nowhere and was not said"
    # The case-only rename keeps the file.
    assert _somewhere(now, b"plain\n"), f"{kind}: a rename by case only lost the file: {sorted(now)}"
    # A collision is said as one.
    collisions = [e for e in rec.of(Conflict) if e.path in ("a.js", "A.js")]
    assert collisions, f"{kind}: A.js and a.js collided silently"
    assert all("case" in e.reason for e in collisions), [e.reason for e in collisions]

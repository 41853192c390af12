"""A hostile helper (a real gRPC server in this test, reached through a real app-connect) sends
names aimed at the project itself with localDst "." : the project's skaffold.yaml, .git and the
state folder in every case, names of this tool's own files, over-long names, NFC/NFD twins,
content whose MD5 or size lies, a rename from outside the rules or from skaffold.yaml, and deletes
and changes of a file the user made. Nothing of the project may change but what the rules allow."""

from __future__ import annotations

import asyncio
import hashlib
import os

from sync_helper.wire import filedownload_pb2 as pb
from sync_helper.wire import filedownload_pb2_grpc as pb_grpc

from downstream_sync.cluster.transport import CommandTransport
from downstream_sync.sync.events import FileSynced
from downstream_sync.sync.ledger import Ledger
from downstream_sync.sync.rules import RuleSet
from downstream_sync.sync.session import Session

from engine_support import APP_CONNECT, Recorder, eventually, fake_helper

EVIL = b"evil\n"
GOOD = b"good\n"


def _md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


INLINE = [
    "src/skaffold.yaml", "src/Skaffold.yaml", "src/SKAFFOLD.YAML",
    "src/.git/config", "src/.GIT/config", "src/a/.Git/hooks/pre-commit", "src/.git",
    "src/.downstream-sync/ledger.db", "src/deep/.downstream-sync/x", "src/.Downstream-Sync/locks/x",
    "src/mine.txt.downstream-conflict", "src/mine.txt.downstream-local", "src/.mine.txt.dstmp-1234abcd",
    "src/.mine.txt.dsswap-1234abcd", "src/mine.txt.downstream-local/x", "src/a.downstream-conflict/b/c",
    "src/.d.dstmp-1234abcd/x", "src/.d.dsswap-1234abcd/x",
    "src/" + "n" * 300, "src/" + "é" * 200,
    "src/../skaffold.yaml", "src//skaffold.yaml", "/src/skaffold.yaml", "src/./skaffold.yaml",
    "src\\..\\skaffold.yaml", "src/sk\x00aml",
]


class Service(pb_grpc.FileServiceServicer):
    async def Watch(self, request, context):
        v = 0

        def ev(**kw):
            nonlocal v
            v += 1
            return pb.FileEvent(kind=pb.FileEvent.CHANGE, version=v, **kw)

        yield pb.FileEvent(kind=pb.FileEvent.HELLO, instance_id="evil", version=0)
        yield pb.FileEvent(kind=pb.FileEvent.SNAPSHOT_END, version=0)
        for path in INLINE:
            yield ev(event_type=pb.FileEvent.CREATE, path=path, MD5Hash=_md5(EVIL), size=len(EVIL), content=EVIL)
        # NFC and NFD twins: two different names on Linux, two files
        yield ev(event_type=pb.FileEvent.CREATE, path="src/caf\u00e9.txt", MD5Hash=_md5(b"nfc"), size=3, content=b"nfc")
        yield ev(event_type=pb.FileEvent.CREATE, path="src/cafe\u0301.txt", MD5Hash=_md5(b"nfd"), size=3, content=b"nfd")
        # content whose MD5 lies, inline and downloaded; a size that lies
        yield ev(event_type=pb.FileEvent.CREATE, path="src/liar.txt", MD5Hash=_md5(GOOD), size=len(EVIL), content=EVIL)
        yield ev(event_type=pb.FileEvent.CREATE, path="src/liar2.txt", MD5Hash=_md5(GOOD), size=len(GOOD))
        yield ev(event_type=pb.FileEvent.CREATE, path="src/liar3.txt", MD5Hash=_md5(GOOD), size=len(GOOD))
        # the user's own file: changed, deleted, renamed away, renamed over
        yield ev(event_type=pb.FileEvent.MODIFY, path="src/mine.txt", MD5Hash=_md5(EVIL), size=len(EVIL), content=EVIL)
        yield ev(event_type=pb.FileEvent.DELETE, path="src/mine.txt")
        yield ev(event_type=pb.FileEvent.RENAME, path="src/moved.txt", old_path="src/mine.txt", MD5Hash=_md5(EVIL),
                 size=len(EVIL), content=EVIL)
        yield ev(event_type=pb.FileEvent.RENAME, path="src/mine.txt", old_path="src/other.txt", MD5Hash=_md5(EVIL),
                 size=len(EVIL), content=EVIL)
        # renames from outside the rules and from the config
        for old in ("/etc/passwd", "src/../skaffold.yaml", "src/skaffold.yaml", "other/x", "src/.git/config"):
            yield ev(event_type=pb.FileEvent.RENAME, path=f"src/from-{len(old)}.txt", old_path=old,
                     MD5Hash=_md5(EVIL), size=len(EVIL), content=EVIL)
        for path in ("src/skaffold.yaml", "src/.git/config", "src/.downstream-sync/ledger.db"):
            yield ev(event_type=pb.FileEvent.DELETE, path=path)
        yield ev(event_type=pb.FileEvent.CREATE, path="src/ok.txt", MD5Hash=_md5(GOOD), size=len(GOOD), content=GOOD)
        await asyncio.Event().wait()

    async def DownloadFiles(self, request, context):
        for path in request.paths:
            if path == "src/liar2.txt":  # the bytes do not have the MD5 announced
                yield pb.DownloadResponse(header=pb.FileHeader(path=path, size=len(EVIL), md5=_md5(GOOD)), chunk=EVIL)
            elif path == "src/liar3.txt":  # a size that lies: more bytes than announced
                yield pb.DownloadResponse(header=pb.FileHeader(path=path, size=2, md5=_md5(GOOD)), chunk=EVIL + GOOD)


async def test_a_hostile_helper_changes_nothing_it_must_not(tmp_path):
    project = tmp_path / "project"
    (project / ".git" / "hooks").mkdir(parents=True)
    config = b"apiVersion: skaffold/v4beta11\nkind: Config\n"
    (project / "skaffold.yaml").write_bytes(config)
    (project / ".git" / "config").write_bytes(b"[core]\n")
    (project / "mine.txt").write_bytes(b"the user's\n")
    (project / "other.txt").write_bytes(b"the user's other\n")
    before = {p.relative_to(project).as_posix(): p.read_bytes() for p in project.rglob("*") if p.is_file()}
    rules = RuleSet.from_download([("src", ".")], [], project, config_files=[project / "skaffold.yaml"])
    async with fake_helper(Service(), tmp_path / "evil.sock") as sock:
        session = Session("web", rules, CommandTransport([APP_CONNECT, "--socket", str(sock)]), project)
        rec = Recorder()
        session.subscribe(rec)
        await session.start()
        try:
            await eventually(lambda: rec.of(FileSynced, path="ok.txt"), "the last, legitimate file")
            await asyncio.sleep(0.5)
        finally:
            await session.stop()
    now = {p.relative_to(project).as_posix(): p.read_bytes() for p in project.rglob("*") if p.is_file()
           and ".downstream-sync" not in p.parts}
    for rel, data in before.items():
        assert now.get(rel) == data, f"{rel} changed or went: {now.get(rel)!r}"
    added = sorted(set(now) - set(before))
    allowed = {"ok.txt", "caf\u00e9.txt", "cafe\u0301.txt", "mine.txt.downstream-conflict", "moved.txt",
               "mine.txt~2.downstream-conflict", "n" * 255, "é" * 127}
    allowed |= {f"from-{len(o)}.txt" for o in ("/etc/passwd", "src/../skaffold.yaml", "src/skaffold.yaml",
                                                 "other/x", "src/.git/config")}
    unexpected = [a for a in added if a not in allowed]
    assert not unexpected, f"written: {unexpected}"
    assert not any(a.startswith("liar") for a in added)
    assert not any(".git" in a.lower().split("/")[:-1] for a in added)
    Ledger(project / ".downstream-sync", "web").close()  # still opens
    assert not (tmp_path / "skaffold.yaml").exists()

"""A hostile helper: a real gRPC FileService (in this test) that sends paths escaping localDst,
absolute paths, and paths through a local symlink, inline and through DownloadFiles. Reached
through a real app-connect like any helper. Nothing may be written outside localDst."""

from __future__ import annotations

import asyncio
import hashlib
import os

import pytest
from sync_helper.wire import filedownload_pb2 as pb
from sync_helper.wire import filedownload_pb2_grpc as pb_grpc

from downstream_sync.cluster.transport import CommandTransport
from downstream_sync.sync.events import FileSynced, SyncError

from engine_support import APP_CONNECT, eventually, fake_helper

PAYLOAD = b"pwned\n"
MD5 = hashlib.md5(PAYLOAD).hexdigest()
HOSTILE = [
    "src/../../escaped.txt",
    "src/../escaped2.txt",
    "src/./dot.txt",
    "src//double.txt",
    "/tmp/absolute-escape.txt",
    "src/link/through-dir.txt",      # out/link -> a folder outside
    "src/filelink",                  # out/filelink -> a file outside
    "src/a\\..\\..\\back.txt",
    "src/nul\x00.txt",
    "src/.git/hooks/pre-commit",     # localDst "." would put it in the project's git hooks
]


class HostileService(pb_grpc.FileServiceServicer):
    def __init__(self):
        self.download_requests = []

    async def Watch(self, request, context):
        yield pb.FileEvent(kind=pb.FileEvent.HELLO, instance_id="evil", version=0)
        for i, path in enumerate(HOSTILE):
            yield pb.FileEvent(kind=pb.FileEvent.SNAPSHOT_FILE, path=path, MD5Hash=MD5, size=len(PAYLOAD),
                               content=PAYLOAD, version=i + 1)
        yield pb.FileEvent(kind=pb.FileEvent.SNAPSHOT_END, version=len(HOSTILE))
        v = len(HOSTILE)
        for path in HOSTILE:  # again as live events without content: the engine must download
            v += 1
            yield pb.FileEvent(kind=pb.FileEvent.CHANGE, event_type=pb.FileEvent.CREATE, path=path,
                               MD5Hash=MD5, size=len(PAYLOAD), version=v)
        v += 1
        yield pb.FileEvent(kind=pb.FileEvent.CHANGE, event_type=pb.FileEvent.RENAME, path="src/../../renamed.txt",
                           old_path="src/ok.txt", MD5Hash=MD5, size=len(PAYLOAD), version=v)
        v += 1
        yield pb.FileEvent(kind=pb.FileEvent.CHANGE, event_type=pb.FileEvent.CREATE, path="src/ok.txt",
                           MD5Hash=MD5, size=len(PAYLOAD), content=PAYLOAD, version=v)
        await asyncio.Event().wait()  # keep the stream open, as a helper does

    async def DownloadFiles(self, request, context):
        self.download_requests.append(list(request.paths))
        for path in request.paths:
            # Answer with a header naming a different, escaping path first.
            yield pb.DownloadResponse(header=pb.FileHeader(path="src/../../swapped.txt", size=len(PAYLOAD), md5=MD5),
                                      chunk=PAYLOAD)
            return


@pytest.fixture
async def hostile(tmp_path):
    service = HostileService()
    async with fake_helper(service, tmp_path / "evil.sock") as sock:
        yield sock, service


async def test_nothing_is_written_outside_local_dst(hostile, tmp_path, project, make_session):
    sock, service = hostile
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("precious")
    out = project / "out"
    out.mkdir()
    os.symlink(outside, out / "link")
    os.symlink(outside / "victim.txt", out / "filelink")
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if not p.is_symlink()}

    session, rec = await make_session(CommandTransport([APP_CONNECT, "--socket", str(sock)]))
    # The one legitimate file proves the stream was processed to its end.
    await eventually(lambda: rec.of(FileSynced, path="out/ok.txt"), "the legitimate file")
    await eventually(lambda: any("not asked for" in e.message for e in rec.of(SyncError)),
                     "the swapped download to be refused")

    assert (outside / "victim.txt").read_text() == "precious"
    assert list(outside.iterdir()) == [outside / "victim.txt"]
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")
                     if p not in before and not p.is_symlink() and p.is_file()
                     and ".downstream-sync" not in p.parts and p.suffix != ".sock")
    assert written == ["project/out/ok.txt"], written
    assert not (tmp_path / "escaped.txt").exists() and not (project / "escaped2.txt").exists()
    assert not os.path.exists("/tmp/absolute-escape.txt")
    messages = " | ".join(e.message for e in rec.of(SyncError))
    assert "not safe" in messages
    assert "symlink" in messages

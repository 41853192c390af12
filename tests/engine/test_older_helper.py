"""A helper without DownloadFiles (only the seed's DownloadFile): the engine falls back to one
DownloadFile per path. A real gRPC server in this test, reached through a real app-connect."""

from __future__ import annotations

import asyncio
import hashlib
import os

import grpc
import pytest
from sync_helper.wire import filedownload_pb2 as pb
from sync_helper.wire import filedownload_pb2_grpc as pb_grpc

from downstream_sync.cluster.transport import CommandTransport
from downstream_sync.sync.events import FileSkipped

from engine_support import APP_CONNECT, fake_helper

FILES = {"src/a.bin": os.urandom(300_000), "src/d/b.bin": os.urandom(2_500_000)}


class DownloadFileOnly(pb_grpc.FileServiceServicer):
    async def Watch(self, request, context):
        yield pb.FileEvent(kind=pb.FileEvent.HELLO, instance_id="old", version=2)
        for path, data in FILES.items():
            yield pb.FileEvent(kind=pb.FileEvent.SNAPSHOT_FILE, path=path, size=len(data),
                               MD5Hash=hashlib.md5(data).hexdigest(), mode=0o644, version=1)
        yield pb.FileEvent(kind=pb.FileEvent.SNAPSHOT_FILE, path="src/gone.txt", size=3,
                           MD5Hash=hashlib.md5(b"abc").hexdigest(), version=2)
        yield pb.FileEvent(kind=pb.FileEvent.SNAPSHOT_END, version=2)
        await asyncio.Event().wait()

    async def DownloadFile(self, request, context):
        data = FILES.get(request.path)
        if data is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"{request.path}: no such file")
        yield pb.DownloadResponse(header=pb.FileHeader(path=request.path, size=len(data),
                                                       md5=hashlib.md5(data).hexdigest(), mode=0o644))
        for start in range(0, len(data), 1 << 20):
            yield pb.DownloadResponse(chunk=data[start:start + (1 << 20)])


@pytest.fixture
async def old_helper(tmp_path):
    async with fake_helper(DownloadFileOnly(), tmp_path / "old.sock") as sock:
        yield sock


async def test_falls_back_to_download_file(old_helper, project, make_session):
    session, rec = await make_session(CommandTransport([APP_CONNECT, "--socket", str(old_helper)]), start=False)
    result = await session.pull()
    for path, data in FILES.items():
        assert (project / "out" / path[4:]).read_bytes() == data
    assert not (project / "out" / "gone.txt").exists()
    assert (result.synced, result.errors) == (2, 0)
    assert session.stats.files_synced == 2
    assert not rec.of(FileSkipped, path="out/a.bin")

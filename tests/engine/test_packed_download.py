"""DownloadFiles answers with several small files packed in one message: each is verified and put in
place, in order with the files around it. A real gRPC server in this test, reached through a real
app-connect."""

from __future__ import annotations

import asyncio
import hashlib
import os

import pytest
from sync_helper.wire import filedownload_pb2 as pb
from sync_helper.wire import filedownload_pb2_grpc as pb_grpc

from downstream_sync.cluster.transport import CommandTransport

from engine_support import APP_CONNECT, fake_helper

FILES = {f"src/d/f{i}.txt": os.urandom(1000 + i) for i in range(30)}
FILES["src/big.bin"] = os.urandom(300_000)
TORN = "src/torn.txt"  # its bytes do not have the MD5 the helper announced


def header(path: str, data: bytes, md5: str | None = None) -> pb.FileHeader:
    return pb.FileHeader(path=path, size=len(data), md5=md5 or hashlib.md5(data).hexdigest(), mode=0o644)


class PackingHelper(pb_grpc.FileServiceServicer):
    """Announces every file without inline content, then serves small ones packed."""

    async def Watch(self, request, context):
        assert request.batch
        yield pb.FileEvent(kind=pb.FileEvent.HELLO, instance_id="packing", version=1)
        batch = pb.FileEvent(kind=pb.FileEvent.BATCH)
        for path, data in FILES.items():
            batch.batch.add(kind=pb.FileEvent.SNAPSHOT_FILE, path=path, size=len(data),
                            MD5Hash=hashlib.md5(data).hexdigest(), mode=0o644, version=1)
        batch.batch.add(kind=pb.FileEvent.SNAPSHOT_FILE, path=TORN, size=4, MD5Hash=hashlib.md5(b"good").hexdigest())
        batch.batch.add(kind=pb.FileEvent.SNAPSHOT_END, version=1)
        yield batch
        await asyncio.Event().wait()

    async def DownloadFiles(self, request, context):
        blobs = []
        for path in request.paths:
            if path == TORN:
                blobs.append(pb.FileBlob(header=header(path, b"evil", hashlib.md5(b"good").hexdigest()),
                                         content=b"evil"))
                continue
            data = FILES[path]
            if len(data) > 64 << 10:
                if blobs:
                    yield pb.DownloadResponse(files=blobs)
                    blobs = []
                yield pb.DownloadResponse(header=header(path, data), chunk=data)
                continue
            blobs.append(pb.FileBlob(header=header(path, data), content=data))
        if blobs:
            yield pb.DownloadResponse(files=blobs)


@pytest.fixture
async def packing_helper(tmp_path):
    async with fake_helper(PackingHelper(), tmp_path / "packing.sock") as sock:
        yield sock


async def test_packed_small_files_are_verified_and_written(packing_helper, project, make_session):
    session, rec = await make_session(CommandTransport([APP_CONNECT, "--socket", str(packing_helper)]), start=False)
    result = await session.pull()
    for path, data in FILES.items():
        assert (project / "out" / path[4:]).read_bytes() == data
    assert not (project / "out" / "torn.txt").exists()
    assert (result.synced, result.errors) == (len(FILES), 1)
    assert "MD5" in rec.errors[0].message and "torn.txt" in rec.errors[0].message
    assert not [p for p in (project / "out" / "d").iterdir() if p.name.startswith(".")]


async def test_remote_wins_leaves_a_local_edit_in_place_when_the_download_is_bad(packing_helper, project,
                                                                                  make_session):
    """The local file moves aside only for verified bytes: a torn download changes nothing."""
    (project / "out").mkdir(parents=True, exist_ok=True)
    (project / "out" / "torn.txt").write_text("my edit")
    transport = CommandTransport([APP_CONNECT, "--socket", str(packing_helper)])
    session, rec = await make_session(transport, start=False, policy="remote-wins")
    await session.pull()
    assert (project / "out" / "torn.txt").read_text() == "my edit"
    assert not (project / "out" / "torn.txt.downstream-local").exists()
    assert any("MD5" in e.message for e in rec.errors)

"""Large files through the data lane: real helper, real app-connect processes, real disk."""

from __future__ import annotations

import asyncio
import hashlib
import os

from sync_helper.wire import filedownload_pb2 as pb
from sync_helper.wire import filedownload_pb2_grpc as pb_grpc

from downstream_sync.cluster.bridge import Bridge
from downstream_sync.cluster.transport import CommandTransport
from downstream_sync.sync.client import HelperClient
from downstream_sync.sync.lane import LANE_MIN, Lane
from downstream_sync.sync.writer import TEMP_MARK
from engine_support import APP_CONNECT, APP_SERVER, eventually, md5, fake_helper


class Counting(CommandTransport):
    """A command transport that counts its processes: one per gRPC connection, one per lane transfer."""

    def __init__(self, argv):
        super().__init__(argv)
        self.started = 0

    async def command(self) -> list[str]:
        self.started += 1
        return await super().command()


def temps(root) -> list[str]:
    return [p.name for p in root.rglob("*") if TEMP_MARK in p.name]


async def test_pull_and_live_large_files_take_the_lane(helper, container, project, make_session):
    first = os.urandom(LANE_MIN + 12345)
    (container / "src" / "big.bin").write_bytes(first)
    transport = Counting([APP_CONNECT, "--socket", str(helper.sock)])
    session, rec = await make_session(transport, start=False)
    result = await session.pull()
    assert (result.synced, result.errors) == (1, 0)
    assert (project / "out" / "big.bin").read_bytes() == first
    assert transport.started == 2  # the gRPC connection and one transfer

    live_transport = Counting([APP_CONNECT, "--socket", str(helper.sock)])
    live, rec = await make_session(live_transport)
    await eventually(lambda: live_transport.started == 1, "the live session's connection")
    second = os.urandom(LANE_MIN * 2)
    # Written whole outside the target, then moved in: the helper first sees it at its full size
    # (a file written inside the target could be told, and fetched, while still small).
    (container / "src" / "d").mkdir()
    (container / "staged").write_bytes(second)
    os.chmod(container / "staged", 0o755)
    os.rename(container / "staged", container / "src" / "d" / "next.bin")
    want = hashlib.md5(second).hexdigest()
    await eventually(lambda: md5(project / "out" / "d" / "next.bin") == want, "the live large file")
    assert os.stat(project / "out" / "d" / "next.bin").st_mode & 0o111
    assert live_transport.started >= 2
    assert not temps(project)
    assert not rec.errors


async def test_a_file_changed_after_its_ticket_is_not_kept(helper, container, tmp_path):
    data = os.urandom(LANE_MIN)
    (container / "src" / "big.bin").write_bytes(data)
    transport = helper.transport()
    bridge = Bridge(transport)
    client = HelperClient(await bridge.start())
    try:
        ticket = await client.stub.OpenTransfer(pb.DownloadRequest(path="src/big.bin"))
        assert ticket.header.md5 == hashlib.md5(data).hexdigest()
        with open(container / "src" / "big.bin", "r+b") as f:
            f.write(b"changed")
        with open(tmp_path / "sink", "wb") as sink:
            status, _, _ = await Lane(transport).receive(ticket.token, ticket.header.size, sink.fileno())
        assert status == "changed"
        # The token was used: a second transfer with it is refused.
        with open(tmp_path / "sink", "wb") as sink:
            status, _, _ = await Lane(transport).receive(ticket.token, ticket.header.size, sink.fileno())
        assert status.startswith("refused")
    finally:
        await client.close()
        await bridge.close()


async def test_a_large_file_rewritten_during_the_sync_ends_as_its_last_version(helper, container, project,
                                                                              make_session):
    path = container / "src" / "big.bin"
    versions = [bytes([i]) * (LANE_MIN + 1) for i in range(4)]
    path.write_bytes(versions[0])
    session, rec = await make_session(helper)
    for v in versions[1:]:
        with open(path, "r+b") as f:
            f.write(v)
    want = hashlib.md5(versions[-1]).hexdigest()
    await eventually(lambda: md5(project / "out" / "big.bin") == want, "the last version")
    assert not temps(project)


class NoLane(pb_grpc.FileServiceServicer):
    """An older helper: Watch and DownloadFile only."""

    def __init__(self, data: bytes):
        self.data = data

    async def Watch(self, request, context):
        yield pb.FileEvent(kind=pb.FileEvent.HELLO, instance_id="old", version=1)
        yield pb.FileEvent(kind=pb.FileEvent.SNAPSHOT_FILE, path="src/big.bin", size=len(self.data),
                           MD5Hash=hashlib.md5(self.data).hexdigest(), mode=0o644, version=1)
        yield pb.FileEvent(kind=pb.FileEvent.SNAPSHOT_END, version=1)
        await asyncio.Event().wait()

    async def DownloadFile(self, request, context):
        yield pb.DownloadResponse(header=pb.FileHeader(path=request.path, size=len(self.data),
                                                       md5=hashlib.md5(self.data).hexdigest(), mode=0o644))
        for start in range(0, len(self.data), 1 << 20):
            yield pb.DownloadResponse(chunk=self.data[start:start + (1 << 20)])


async def test_an_older_helper_without_the_lane_gets_download_file(tmp_path, project, make_session):
    data = os.urandom(LANE_MIN + 1)
    async with fake_helper(NoLane(data), tmp_path / "old.sock") as sock:
        transport = Counting([APP_CONNECT, "--socket", str(sock)])
        session, rec = await make_session(transport, start=False)
        result = await session.pull()
        assert (result.synced, result.errors) == (1, 0)
        assert (project / "out" / "big.bin").read_bytes() == data
        assert transport.started == 1  # no lane process was started


async def test_a_transport_without_the_lane_falls_back(container, project, make_session):
    """Each process of this transport is a helper serving gRPC on its stdio: no data lane behind it."""
    data = os.urandom(LANE_MIN + 7)
    (container / "src" / "big.bin").write_bytes(data)
    transport = Counting(["sh", "-c", f'cd "{container}" && exec "{APP_SERVER}" --stdio --targets src'])
    session, rec = await make_session(transport, start=False)
    result = await session.pull()
    assert (result.synced, result.errors) == (1, 0)
    assert (project / "out" / "big.bin").read_bytes() == data
    assert transport.started == 2  # one lane attempt, then DownloadFiles on the gRPC connection
    assert not temps(project)



async def test_a_large_download_reports_its_progress(helper, container, project, make_session):
    """Subscribers hear a large download begin and end, with its byte count, before it is synced."""
    from downstream_sync.sync.events import DownloadProgress, FileSynced

    data = os.urandom(LANE_MIN + 777)
    (container / "src" / "big.bin").write_bytes(data)
    session, rec = await make_session(helper, start=False)
    assert (await session.pull()).synced == 1
    progress = [e for e in rec.events if isinstance(e, DownloadProgress)]
    assert progress[0].bytes_done == 0 and not progress[0].finished
    assert progress[-1].finished and progress[-1].bytes_done == progress[-1].bytes_total == len(data)
    assert {e.path for e in progress} == {"out/big.bin"}
    synced = [e for e in rec.events if isinstance(e, FileSynced)]
    assert rec.events.index(progress[-1]) < rec.events.index(synced[0])

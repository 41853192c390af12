"""Under remote-wins, a container that first makes a folder named like the backup of a user's file
(NAME.downstream-local/, through a file inside it) and then sends NAME makes the engine delete
the user's version: the swapped-out file is dropped with the temporary file when the move to the
backup name fails. A hostile helper over a real gRPC server and a real app-connect."""

from __future__ import annotations

import asyncio
import hashlib

from sync_helper.wire import filedownload_pb2 as pb
from sync_helper.wire import filedownload_pb2_grpc as pb_grpc

from downstream_sync.cluster.transport import CommandTransport
from downstream_sync.sync.events import FileSkipped, SessionState

from engine_support import APP_CONNECT, eventually, fake_helper

BLOCKER = b"blocker\n"
REMOTE = b"container version\n"


class Service(pb_grpc.FileServiceServicer):
    def __init__(self, name: str):
        self.name = name

    async def Watch(self, request, context):
        yield pb.FileEvent(kind=pb.FileEvent.HELLO, instance_id="evil", version=0)
        yield pb.FileEvent(kind=pb.FileEvent.SNAPSHOT_END, version=0)
        # 1: a file inside a folder named like the backup of the user's file
        yield pb.FileEvent(kind=pb.FileEvent.CHANGE, event_type=pb.FileEvent.CREATE,
                           path=f"src/{self.name}.downstream-local/x", MD5Hash=hashlib.md5(BLOCKER).hexdigest(),
                           size=len(BLOCKER), content=BLOCKER, version=1)
        await asyncio.sleep(0.5)
        # 2: the user's file itself
        yield pb.FileEvent(kind=pb.FileEvent.CHANGE, event_type=pb.FileEvent.CREATE, path=f"src/{self.name}",
                           MD5Hash=hashlib.md5(REMOTE).hexdigest(), size=len(REMOTE), content=REMOTE, version=2)
        await asyncio.Event().wait()


async def test_remote_wins_never_deletes_a_user_file_when_its_backup_name_is_a_folder(tmp_path, project,
                                                                                        make_session):
    name = "notes.txt"
    out = project / "out"
    out.mkdir()
    mine = out / name
    mine.write_bytes(b"the user's only copy\n")
    async with fake_helper(Service(name), tmp_path / "evil.sock") as sock:
        session, rec = await make_session(CommandTransport([APP_CONNECT, "--socket", str(sock)]),
                                          policy="remote-wins")
        await eventually(lambda: rec.of(FileSkipped, remote_path=f"src/{name}.downstream-local/x")
                         or (out / f"{name}.downstream-local" / "x").exists(), "the folder's event")
        await eventually(lambda: rec.errors or mine.read_bytes() == REMOTE, "the second event to be handled")
        await asyncio.sleep(1.0)  # and its retries
        await session.stop()
    found = [p for p in out.rglob("*") if p.is_file() and p.read_bytes() == b"the user's only copy\n"]
    assert found, (f"the user's version of {name} is gone: {sorted(str(p.relative_to(out)) for p in out.rglob('*'))}; "
                   f"errors: {[e.message for e in rec.errors]}")


class DeleteService(pb_grpc.FileServiceServicer):
    """Writes NAME (so the engine owns it), waits for the user's edit, makes the backup name a
    folder, then deletes NAME in the container."""

    def __init__(self, name: str, edited: asyncio.Event):
        self.name = name
        self.edited = edited

    async def Watch(self, request, context):
        yield pb.FileEvent(kind=pb.FileEvent.HELLO, instance_id="evil", version=0)
        yield pb.FileEvent(kind=pb.FileEvent.SNAPSHOT_END, version=0)
        yield pb.FileEvent(kind=pb.FileEvent.CHANGE, event_type=pb.FileEvent.CREATE, path=f"src/{self.name}",
                           MD5Hash=hashlib.md5(REMOTE).hexdigest(), size=len(REMOTE), content=REMOTE, version=1)
        await self.edited.wait()
        yield pb.FileEvent(kind=pb.FileEvent.CHANGE, event_type=pb.FileEvent.CREATE,
                           path=f"src/{self.name}.downstream-local/x", MD5Hash=hashlib.md5(BLOCKER).hexdigest(),
                           size=len(BLOCKER), content=BLOCKER, version=2)
        await asyncio.sleep(0.5)
        yield pb.FileEvent(kind=pb.FileEvent.CHANGE, event_type=pb.FileEvent.DELETE, path=f"src/{self.name}", version=3)
        await asyncio.Event().wait()


def _hidden(name: str) -> bool:
    """A temporary or swap name of the engine's, not one a person looks for."""
    return name.startswith(".") and (".dstmp-" in name or ".dsswap-" in name)


async def test_remote_wins_delete_never_hides_a_user_edit_when_its_backup_name_is_a_folder(tmp_path, project,
                                                                                             make_session):
    name = "notes.txt"
    out = project / "out"
    mine = out / name
    edited = asyncio.Event()
    async with fake_helper(DeleteService(name, edited), tmp_path / "evil.sock") as sock:
        session, rec = await make_session(CommandTransport([APP_CONNECT, "--socket", str(sock)]),
                                          policy="remote-wins")
        await eventually(lambda: mine.exists() and mine.read_bytes() == REMOTE, "the engine's version")
        mine.write_bytes(b"the user's edit\n")
        edited.set()
        await eventually(lambda: rec.of(FileSkipped, remote_path=f"src/{name}.downstream-local/x")
                         or (out / f"{name}.downstream-local" / "x").exists(), "the folder's event")
        await eventually(lambda: rec.errors or not mine.exists(), "the delete to be handled")
        await asyncio.sleep(1.0)
        await session.stop()
    visible = [p.name for p in out.rglob("*") if p.is_file() and not _hidden(p.name)
               and p.read_bytes() == b"the user's edit\n"]
    hidden = [p.name for p in out.rglob("*") if p.is_file() and _hidden(p.name)]
    assert visible, (f"the user's edit is no longer under any real name (hidden as {hidden}, which the next "
                     f"start removes); errors: {[e.message for e in rec.errors]}")
